// Node tests (node-red-node-test-helper): audio input, audio output and the mixer — status lights, errors a Catch node sees, close.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { readWav, WavWriter } from '../../runtime/audio/wav';
import { tmpDir } from '../support/xcast-process';
import { until } from '../support/resources';
import { audioMsg, light, loadFlow, nodeContract, nodeModules, statuses, statusOf, streamWhile, useNodeRed } from '../support/node-red';

/** Whether this process holds a file descriptor open on `file`. */
function fileIsOpen(file: string): boolean {
  return fs.readdirSync('/proc/self/fd').some((fd) => {
    try { return fs.readlinkSync(`/proc/self/fd/${fd}`) === file; } catch { return false; }
  });
}

describe('audio input node', function () {
  this.timeout(20000);
  useNodeRed();

  it('shows a green dot while it streams, a grey ring when stopped, and the green dot again when started', async () => {
    const f = await loadFlow([nodeModules.audioIn], [{ id: 'in', type: 'xcast-audio-in', source: 'tone', wires: [['out']] }], { helpers: ['out'] });
    await statusOf('in', light('green', 'dot', /stream/), 'the green dot of streaming');
    await f.receivedAtLeast('out', 3);
    f.node('in').receive({ payload: 'stop' });
    await statusOf('in', light('grey', 'ring', /stop/), 'the grey ring of stopped');
    const n = f.received('out').length;
    f.node('in').receive({ payload: 'start' });
    await f.receivedAtLeast('out', n + 3);
  });

  it('shows a grey ring when a file that does not loop has ended', async () => {
    const dir = tmpDir();
    const file = path.join(dir, 'short.wav');
    // 30 ms of audio: three frames, then the end.
    const w = new WavWriter(file, { sampleRate: 48000, channels: 1, format: 's16' });
    w.write(Buffer.alloc(1440 * 4));
    w.close();
    const f = await loadFlow([nodeModules.audioIn], [{ id: 'in', type: 'xcast-audio-in', source: 'file', file, loop: false, wires: [['out']] }], { helpers: ['out'] });
    await statusOf('in', light('grey', 'ring', /end/), 'the grey ring of the file ended');
    assert.equal(f.received('out').length, 3);
  });

  nodeContract({
    type: 'xcast-audio-in', module: nodeModules.audioIn,
    config: async () => ({ source: 'tone', wires: [['out']] }),
    refused: { config: { source: 'file', file: '/nonexistent/x.wav' }, field: 'file' },
    noBadInput: 'every message is a start or stop command',
    async exercise(f) { await f.receivedAtLeast('out', 3); },
  });
});

describe('audio output node', function () {
  this.timeout(20000);
  useNodeRed();

  it('shows a grey ring until audio comes, a green dot while it records, a yellow ring when its input stopped', async () => {
    const file = path.join(tmpDir(), 'rec.wav');
    const f = await loadFlow([nodeModules.audioOut], [
      { id: 'ao', type: 'xcast-audio-out', output: 'file', path: file, channels: '1', stateIntervalMs: '20', idleMs: '100', wires: [['out']] },
    ], { helpers: ['out'] });
    await statusOf('ao', light('grey', 'ring', /ready/), 'the grey ring of ready');
    // A stream long enough for the status (shown at most twice a second) to say it records; then nothing more.
    await streamWhile(f.node('ao'), (seq) => audioMsg({ seq }), statusOf('ao', light('green', 'dot', /record/), 'the green dot of recording'));
    // After idleMs without input the clock stops and says the input stopped.
    await statusOf('ao', light('yellow', 'ring', /idle/), 'the yellow ring of idle');
    const speaker = await until(() => f.received('out').some((m) => (m.payload as { inputStopped?: boolean }).inputStopped === true));
    assert.ok(speaker, 'a speaker state with inputStopped');
  });

  let recording = '';
  nodeContract({
    type: 'xcast-audio-out', module: nodeModules.audioOut,
    config: async () => {
      recording = path.join(tmpDir(), 'rec.wav');
      return { output: 'file', path: recording, channels: '1', wires: [['out']] };
    },
    refused: { config: { output: 'device', device: '' }, field: 'device' },
    badInput: [{ what: 'an audio packet with no channels', msg: () => audioMsg({ channels: 0 }), error: /channels/ }],
    async exercise(f) {
      for (let seq = 0; seq < 5; seq++) f.node('n1').receive(audioMsg({ seq }));
      await statusOf('n1', light('green', 'dot'), 'recording');
      assert.ok(fileIsOpen(recording), 'the recording is open while it runs');
    },
    async afterClose() {
      assert.ok(!fileIsOpen(recording), 'the recording is closed');
      // Closed properly: the header says how much was written, and it is whole frames of what the clock played.
      const wav = readWav(recording);
      assert.equal(wav.channels, 1);
      assert.ok(wav.samples.length > 0 && wav.samples.length % 480 === 0, `${wav.samples.length} samples`);
    },
  });
});

describe('mixer node', function () {
  this.timeout(20000);
  useNodeRed();

  it('shows a yellow ring with no tracks, a green dot while it mixes one, and the yellow ring again when it timed out', async () => {
    const f = await loadFlow([nodeModules.mixer], [
      { id: 'mx', type: 'xcast-mixer', channels: '1', trackTimeoutMs: '200', stateIntervalMs: '20', wires: [[], [], []] },
    ]);
    await statusOf('mx', light('yellow', 'ring', /track/), 'the yellow ring of no tracks');
    await streamWhile(f.node('mx'), (seq) => audioMsg({ codec: 'pcm_s16le', seq }), statusOf('mx', light('green', 'dot', /track/), 'the green dot of one track'));
    const greenAt = statuses('mx').findIndex(light('green', 'dot'));
    assert.ok(await until(() => statuses('mx').slice(greenAt).some(light('yellow', 'ring', /track/))), 'the yellow ring after the track timed out');
  });

  nodeContract({
    type: 'xcast-mixer', module: nodeModules.mixer,
    config: async () => ({ channels: '1', wires: [['out'], [], []] }),
    refused: { config: { jitterFrames: '3', jitterMaxFrames: '2' }, field: 'jitterMaxFrames' },
    badInput: [
      { what: 'a gain without a userId', msg: () => ({ topic: 'gain', payload: 0.5 }), error: /userId/ },
      { what: 'a pan out of range', msg: () => ({ topic: 'pan', userId: 'alice', payload: 3 }), error: /pan/ },
      { what: 'an audio packet with no channels', msg: () => audioMsg({ codec: 'pcm_s16le', channels: 0 }), error: /channels/ },
    ],
    async exercise(f) {
      for (let seq = 0; seq < 5; seq++) f.node('n1').receive(audioMsg({ codec: 'pcm_s16le', seq }));
      await f.receivedAtLeast('out', 3);
    },
  });
});

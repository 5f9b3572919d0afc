// Node test: the Opus encode node's Channels setting — a stereo mix encoded as mono (for browsers that asked for mono):
// mono packets (TOC stereo bit 0) whose decode is the average of the two input channels.
import assert from 'node:assert/strict';
import { helper } from '../support/node-helper';
import { OpusDecoder } from '../../runtime/audio/opus';
import { estimateFrequency } from '../../runtime/audio/analysis';
const encodeNode = require('../../nodes/opus-encode/opus-encode');

const N = 480;
const FRAMES = 50;

/** Stereo frame f: 440 Hz at 0.4 on the left, silence on the right (mono of it: 440 Hz at 0.2). */
function stereoFrame(f: number): Buffer {
  const b = Buffer.alloc(N * 2 * 4);
  for (let i = 0; i < N; i++) b.writeFloatLE(0.4 * Math.sin((2 * Math.PI * 440 * (f * N + i)) / 48000), i * 8);
  return b;
}

async function encode(channels: string | undefined): Promise<Array<{ payload: Buffer; audio: { channels: number } }>> {
  await helper.load([encodeNode], [
    { id: 't1', type: 'tab', label: 't' },
    { id: 'e1', z: 't1', x: 100, y: 100, type: 'xcast-opus-encode', frameMs: '10', bitrate: '64', complexity: '5', ...(channels === undefined ? {} : { channels }), wires: [['out']] },
    { id: 'out', z: 't1', x: 300, y: 100, type: 'helper' },
  ]);
  const got: Array<{ payload: Buffer; audio: { channels: number } }> = [];
  const all = new Promise<void>((resolve) => helper.getNode('out').on('input', (m: { payload: Buffer; audio: { channels: number } }) => { if (got.push(m) === FRAMES) resolve(); }));
  const e = helper.getNode('e1');
  for (let f = 0; f < FRAMES; f++) {
    e.receive({ topic: 'audio', userId: 'xcast', payload: stereoFrame(f), audio: { codec: 'pcm_f32le', sampleRate: 48000, channels: 2, frameSamples: N, seq: f, captureTime: 0, trackId: 1 } });
  }
  await all;
  return got;
}

describe('opus encode: Channels', function () {
  this.timeout(30000);
  beforeEach((done) => { helper.startServer(done); });
  afterEach((done) => { helper.unload().then(() => helper.stopServer(done)); });

  it('mono: a stereo input is mixed down, the packets are mono, their decode is the average of the channels', async () => {
    const got = await encode('1');
    assert.deepEqual([...new Set(got.map((m) => m.audio.channels))], [1]);
    assert.ok(got.every((m) => (m.payload[0] & 0x04) === 0), 'every TOC says mono');
    const dec = new OpusDecoder({ sampleRate: 48000, channels: 1 });
    const pcm = Buffer.concat(got.map((m) => dec.decode(m.payload)));
    const x = new Float32Array(pcm.buffer, pcm.byteOffset, pcm.length / 4).subarray(N * 10);
    let peak = 0;
    for (const v of x) peak = Math.max(peak, Math.abs(v));
    assert.ok(Math.abs(estimateFrequency(x, 48000) - 440) < 2, 'the tone survives');
    assert.ok(peak > 0.17 && peak < 0.23, `peak ${peak.toFixed(3)}: the mean of 0.4 and 0 is 0.2`);
  });

  it('blank: as the input (stereo packets); a bad value is refused naming channels', async () => {
    const got = await encode(undefined);
    assert.ok(got.every((m) => m.audio.channels === 2 && (m.payload[0] & 0x04) !== 0), 'stereo as the input');
    await helper.unload();
    await helper.load([encodeNode], [
      { id: 't1', type: 'tab', label: 't' },
      { id: 'e1', z: 't1', x: 100, y: 100, type: 'xcast-opus-encode', frameMs: '10', channels: '3', wires: [[]] },
    ]);
    const logged = helper.log().args.filter((a: unknown[]) => (a[0] as { level?: number })?.level === 20).map((a: unknown[]) => String((a[0] as { msg?: unknown }).msg));
    assert.ok(logged.some((m: string) => /channels/.test(m) && /"3"|3/.test(m)), JSON.stringify(logged));
  });
});

describe('opus encode: streams of receivers that left are freed', function () {
  this.timeout(30000);
  beforeEach((done) => { helper.startServer(done); });
  afterEach((done) => { helper.unload().then(() => helper.stopServer(done)); });

  it('a stream with no frame between two sweeps goes (its encoder freed); if it comes back its seq goes on', async () => {
    await helper.load([encodeNode], [
      { id: 't1', type: 'tab', label: 't' },
      { id: 'e1', z: 't1', x: 100, y: 100, type: 'xcast-opus-encode', frameMs: '10', bitrate: '64', complexity: '5', wires: [['out']] },
      { id: 'out', z: 't1', x: 300, y: 100, type: 'helper' },
    ]);
    const seqs: Record<string, number[]> = { ann: [], bob: [] };
    let count = 0;
    const all = new Promise<void>((resolve) => helper.getNode('out').on('input', (m: { targetUserId: string; audio: { seq: number } }) => {
      seqs[m.targetUserId].push(m.audio.seq);
      if (++count === 8) resolve();
    }));
    const e = helper.getNode('e1') as unknown as { receive(m: unknown): void; sweepStreams(): number };
    const frame = (target: string, f: number) => e.receive({ topic: 'audio', userId: 'xcast', targetUserId: target, payload: stereoFrame(f),
      audio: { codec: 'pcm_f32le', sampleRate: 48000, channels: 2, frameSamples: N, seq: f, captureTime: 0, trackId: 1 } });
    for (let f = 0; f < 3; f++) { frame('ann', f); frame('bob', f); }
    assert.equal(e.sweepStreams(), 2, 'both streams had frames since the node started');
    frame('ann', 3);
    assert.equal(e.sweepStreams(), 1, 'bob had none since the last sweep: gone');
    frame('bob', 3);
    await all;
    assert.deepEqual(seqs.bob, [0, 1, 2, 3], 'bob comes back: a new encoder, the seq going on');
    assert.deepEqual(seqs.ann, [0, 1, 2, 3]);
  });
});

// Node tests (node-red-node-test-helper): opus encode, opus decode and resample — status lights, errors a Catch node sees, close.
import assert from 'node:assert/strict';
import { OpusEncoder } from '../../runtime/audio/opus';
import { audioMsg, light, loadFlow, nodeContract, nodeModules, statusOf, useNodeRed } from '../support/node-red';

/** One 10 ms Opus packet of a 48 kHz mono tone, as the decoder's input. */
function opusMsg(seq: number): Record<string, unknown> {
  const enc = new OpusEncoder({ sampleRate: 48000, channels: 1, frameSamples: 480 });
  const pcm = audioMsg({ seq }).payload as Buffer;
  return audioMsg({ codec: 'opus', seq, payload: enc.encode(pcm) });
}

const notAudio = { what: 'a message that is not audio', msg: () => ({ topic: 'audio', payload: 'not a buffer' }), error: /audio message/ };

describe('opus encode node', function () {
  this.timeout(20000);
  useNodeRed();

  it('shows a green dot once it encodes, and a red ring on a stream Opus cannot code', async () => {
    const f = await loadFlow([nodeModules.opusEncode], [{ id: 'enc', type: 'xcast-opus-encode', frameMs: '10', wires: [['out']] }], { helpers: ['out'] });
    f.node('enc').receive(audioMsg());
    await statusOf('enc', light('green', 'dot', /stream/), 'the green dot of encoding');
    const [packet] = await f.receivedAtLeast('out', 1);
    assert.equal((packet.audio as { codec: string }).codec, 'opus');
    // 44.1 kHz is no Opus rate: the message's error, and the node's red ring.
    f.node('enc').receive(audioMsg({ sampleRate: 44100, frameSamples: 441 }));
    const caught = await f.nextCaught();
    assert.match(caught.error.message, /sampleRate|44100/);
    await statusOf('enc', light('red', 'ring', /encode|error/), 'the red ring of an encode error');
  });

  nodeContract({
    type: 'xcast-opus-encode', module: nodeModules.opusEncode,
    // Encoder threads, so that close has threads to end.
    config: async () => ({ frameMs: '10', encodeWorkers: '2', wires: [['out']] }),
    refused: { config: { frameMs: '15' }, field: 'frameMs' },
    badInput: [
      notAudio,
      { what: 'PCM in a codec other than f32', msg: () => audioMsg({ codec: 'pcm_s16le' }), error: /pcm_f32le/ },
    ],
    async exercise(f) {
      for (let seq = 0; seq < 5; seq++) f.node('n1').receive(audioMsg({ seq }));
      await statusOf('n1', light('green', 'dot'), 'encoding');
      await f.receivedAtLeast('out', 5);
    },
  });
});

describe('opus decode node', function () {
  this.timeout(20000);
  useNodeRed();

  it('shows a green dot once it decodes, counting the frames it concealed for a gap in seq', async () => {
    const f = await loadFlow([nodeModules.opusDecode], [{ id: 'dec', type: 'xcast-opus-decode', wires: [['out']] }], { helpers: ['out'] });
    f.node('dec').receive(opusMsg(0));
    await statusOf('dec', light('green', 'dot', /stream/), 'the green dot of decoding');
    f.node('dec').receive(opusMsg(3));
    await statusOf('dec', light('green', 'dot', /conceal/), 'a green dot counting concealed frames');
    await f.receivedAtLeast('out', 4);
    assert.deepEqual(f.received('out').map((m) => [(m.audio as { seq: number }).seq, m.concealed === true]), [[0, false], [1, true], [2, true], [3, false]]);
  });

  nodeContract({
    type: 'xcast-opus-decode', module: nodeModules.opusDecode,
    config: async () => ({ wires: [['out']] }),
    refused: { config: { maxConceal: '99' }, field: 'maxConceal' },
    badInput: [
      notAudio,
      { what: 'PCM where Opus is expected', msg: () => audioMsg(), error: /opus/ },
      { what: 'bytes that are no Opus packet', msg: () => audioMsg({ codec: 'opus', payload: Buffer.from([0xff, 0xff, 0xff]) }), error: /./ },
    ],
    async exercise(f) {
      // Two packets in one status interval: the second leaves a throttled status timer for close to clear.
      f.node('n1').receive(opusMsg(0));
      f.node('n1').receive(opusMsg(1));
      await f.receivedAtLeast('out', 2);
    },
  });
});

describe('resample node', function () {
  this.timeout(20000);
  useNodeRed();

  it('shows a green dot with the rates it converts between', async () => {
    const f = await loadFlow([nodeModules.resample], [{ id: 'rs', type: 'xcast-resample', downsampleRatio: '2', wires: [['out']] }], { helpers: ['out'] });
    for (let seq = 0; seq < 4; seq++) f.node('rs').receive(audioMsg({ seq }));
    await statusOf('rs', light('green', 'dot'), 'the green dot of resampling');
    await f.receivedAtLeast('out', 1);
    assert.ok(f.received('out').every((m) => (m.audio as { sampleRate: number }).sampleRate === 24000));
  });

  nodeContract({
    type: 'xcast-resample', module: nodeModules.resample,
    config: async () => ({ upsampleRatio: '2', wires: [['out']] }),
    refused: { config: { downsampleRatio: '0' }, field: 'downsampleRatio' },
    badInput: [
      notAudio,
      { what: 'Opus where PCM is expected', msg: () => audioMsg({ codec: 'opus', payload: Buffer.from([1, 2, 3]) }), error: /pcm_f32le/ },
    ],
    async exercise(f) {
      f.node('n1').receive(audioMsg({ seq: 0 }));
      f.node('n1').receive(audioMsg({ seq: 1 }));
      await statusOf('n1', light('green', 'dot'), 'resampling');
    },
  });
});

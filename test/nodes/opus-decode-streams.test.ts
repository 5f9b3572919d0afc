// Node test: one Opus decode node fed the mixer's mix-minus streams (all userId 'xcast', one per receiver,
// interleaved) decodes each on its own decoder — no concealment invented from the other stream's seqs, every frame
// the sample-exact output of decoding that stream alone, each stream its own tone.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OpusEncoder, OpusDecoder } from '../../runtime/audio/opus';
import { estimateFrequency } from '../../runtime/audio/analysis';
import { toneFrame, f32 } from '../engine/util';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));
const decodeNode = require('../../nodes/opus-decode/opus-decode');
const audioOutNode = require('../../nodes/audio-out/audio-out');

const N = 480;
const FRAMES = 40;
/** Receiver, tone, and the seq its stream is at: bob's stream started 3 frames before ann's (he joined earlier). */
const STREAMS = [
  { target: 'ann', freq: 440, seq0: 0 },
  { target: 'bob', freq: 1000, seq0: 3 },
];

interface Out { targetUserId: string; payload: Buffer; concealed?: boolean; audio: { seq: number; codec: string } }

describe('opus decode: mix-minus streams into one node', function () {
  this.timeout(20000);
  beforeEach((done) => { helper.startServer(done); });
  afterEach((done) => { helper.unload().then(() => helper.stopServer(done)); });

  it('two receivers\' streams (same userId, different targetUserId, interleaved) each decode as they would alone', async () => {
    await helper.load([decodeNode], [
      { id: 't1', type: 'tab', label: 't' },
      { id: 'd1', z: 't1', x: 100, y: 100, type: 'xcast-opus-decode', maxConceal: '5', wires: [['out']] },
      { id: 'out', z: 't1', x: 300, y: 100, type: 'helper' },
    ]);
    const packets = STREAMS.map((s) => {
      const enc = new OpusEncoder({ sampleRate: 48000, channels: 1, frameSamples: N, bitrate: 64000 });
      return Array.from({ length: FRAMES }, (_, f) => enc.encode(toneFrame(N, 1, f * N, s.freq, 0.4)));
    });
    const got: Out[] = [];
    const all = new Promise<void>((resolve) => {
      helper.getNode('out').on('input', (m: Out) => { got.push(m); if (got.length === STREAMS.length * FRAMES) resolve(); });
    });
    const d = helper.getNode('d1');
    for (let f = 0; f < FRAMES; f++) {
      STREAMS.forEach((s, k) => d.receive({
        topic: 'audio', userId: 'xcast', targetUserId: s.target, payload: packets[k][f],
        audio: { codec: 'opus', sampleRate: 48000, channels: 1, frameSamples: N, seq: s.seq0 + f, captureTime: 0, trackId: 1 },
      }));
    }
    await all;
    assert.equal(got.filter((m) => m.concealed).length, 0, 'no frame concealed: neither stream lost a packet');
    STREAMS.forEach((s, k) => {
      const mine = got.filter((m) => m.targetUserId === s.target);
      assert.deepEqual(mine.map((m) => m.audio.seq), Array.from({ length: FRAMES }, (_, f) => s.seq0 + f), `${s.target}: seq continuous`);
      const alone = new OpusDecoder({ sampleRate: 48000, channels: 1 });
      for (let f = 0; f < FRAMES; f++) {
        assert.equal(mine[f].audio.codec, 'pcm_f32le');
        assert.ok(mine[f].payload.equals(alone.decode(packets[k][f])), `${s.target} frame ${f}: the samples of decoding this stream alone`);
      }
      const pcm = f32(Buffer.concat(mine.slice(5).map((m) => m.payload)));
      const hz = estimateFrequency(pcm, 48000);
      assert.ok(Math.abs(hz - s.freq) < 5, `${s.target}: ${hz.toFixed(1)} Hz, sent ${s.freq} Hz`);
    });
  });
});

describe('audio out: mix-minus streams into one node', function () {
  this.timeout(20000);
  let tmp: string;
  beforeEach((done) => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-aout-')); helper.startServer(done); });
  afterEach((done) => { helper.unload().then(() => { fs.rmSync(tmp, { recursive: true, force: true }); helper.stopServer(done); }); });

  it('plays the first receiver\'s stream and names the other as another stream, rather than filing both in one buffer', async () => {
    await helper.load([audioOutNode], [
      { id: 't1', type: 'tab', label: 't' },
      { id: 'o1', z: 't1', x: 100, y: 100, type: 'xcast-audio-out', output: 'file', path: path.join(tmp, 'o.wav'), channels: '1', wires: [[]] },
    ]);
    const o = helper.getNode('o1');
    const warnings: string[] = [];
    const warn = o.warn.bind(o);
    o.warn = (m: string) => { warnings.push(m); warn(m); };
    for (let f = 0; f < 2; f++) {
      for (const target of ['ann', 'bob']) {
        o.receive({ topic: 'audio', userId: 'xcast', targetUserId: target, payload: toneFrame(N, 1, f * N),
          audio: { codec: 'pcm_f32le', sampleRate: 48000, channels: 1, frameSamples: N, seq: f, captureTime: 0, trackId: 1 } });
      }
    }
    // The input handler runs within receive(): the warning, once, is there by now.
    assert.deepEqual(warnings, ['plays one stream ("xcast"/1 → "ann"); ignoring "xcast"/1 → "bob" — put a mixer in front to hear several']);
  });
});

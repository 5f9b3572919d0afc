// Node test: the Opus encode node shares one encode among mix-minus receivers that hear the room's whole mix (the
// mixer hands them one marked Buffer, runtime/audio/shared-mix.ts) — each gets the packet under its own seq — and a
// receiver that goes back to a frame of its own stays continuous; on encoder threads the packets are the same.
import assert from 'node:assert/strict';
import { toneFrame } from '../engine/util';
import { helper } from '../support/node-helper';
import { markSharedMix } from '../../runtime/audio/shared-mix';
import { OpusDecoder, OpusEncoder } from '../../runtime/audio/opus';
import { countDiscontinuities, estimateFrequency, toneAmplitude } from '../../runtime/audio/analysis';
const encodeNode = require('../../nodes/opus-encode/opus-encode');

const N = 480;
const FRAMES = 60;
/** r1 has a frame of its own (it is heard) in these frames, the room's mix otherwise; r2 and r3 always hear the mix. */
const OWN_FROM = 20;
const OWN_TO = 40;
const RECEIVERS = ['r1', 'r2', 'r3'];

interface Out { targetUserId: string; payload: Buffer; audio: { seq: number; codec: string; channels: number } }

async function run(encodeWorkers: string, channels = ''): Promise<{ got: Out[]; encodes: number }> {
  await helper.load([encodeNode], [
    { id: 't1', type: 'tab', label: 't' },
    { id: 'e1', z: 't1', x: 100, y: 100, type: 'xcast-opus-encode', frameMs: '10', bitrate: '64', complexity: '5', encodeWorkers, channels, wires: [['out']] },
    { id: 'out', z: 't1', x: 300, y: 100, type: 'helper' },
  ]);
  const got: Out[] = [];
  helper.getNode('out').on('input', (m: Out) => got.push(m));
  const e = helper.getNode('e1');
  // Encodes on this thread, counted (the threads' are not seen: the count is taken with encodeWorkers 0).
  const proto = OpusEncoder.prototype as unknown as { encode(pcm: Buffer): Buffer };
  const encode = proto.encode;
  let encodes = 0;
  proto.encode = function (this: OpusEncoder, pcm: Buffer): Buffer { encodes++; return encode.call(this, pcm); };
  try {
    for (let f = 0; f < FRAMES; f++) {
      // The room's mix: a steady 440 Hz tone; r1's own mix-minus in its frames is the same tone (what the others send).
      const mix = markMix(toneFrame(N, 2, f * N, 440, 0.3));
      for (const u of RECEIVERS) {
        const own = u === 'r1' && f >= OWN_FROM && f < OWN_TO;
        e.receive({
          topic: 'audio', userId: 'xcast', targetUserId: u, payload: own ? Buffer.from(mix) : mix,
          audio: { codec: 'pcm_f32le', sampleRate: 48000, channels: 2, frameSamples: N, seq: f, captureTime: 0, trackId: 1 },
        });
      }
      // After the first frame, until the threads are up and it is back: a thread starting slowly would otherwise fall
      // more batches behind than the pool lets it (frames dropped).
      const t1 = Date.now();
      while (f === 0 && got.length < RECEIVERS.length && Date.now() - t1 < 10000) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 2));
    }
    const t0 = Date.now();
    while (got.length < RECEIVERS.length * FRAMES && Date.now() - t0 < 10000) await new Promise((r) => setTimeout(r, 10));
  } finally {
    proto.encode = encode;
  }
  return { got, encodes };
}

function markMix(b: Buffer): Buffer {
  markSharedMix(b);
  return b;
}

function decodeLeft(packets: Buffer[], channels: number): Float64Array {
  const dec = new OpusDecoder({ sampleRate: 48000, channels: channels as 1 | 2 });
  const out = new Float64Array(packets.length * N);
  packets.forEach((p, i) => {
    const f = new Float32Array(dec.decode(p).buffer.slice(0));
    for (let k = 0; k < N; k++) out[i * N + k] = f[k * channels];
  });
  return out;
}

describe('opus encode: one encode shared by the receivers that hear the whole mix', function () {
  this.timeout(60000);
  beforeEach((done) => { helper.startServer(done); });
  afterEach((done) => { helper.unload().then(() => helper.stopServer(done)); });

  it('encodes the shared mix once per frame, each receiver its packet under its own seq; back on its own encoder a receiver stays continuous; threads give the same packets', async () => {
    const inline = await run('0');
    assert.equal(inline.got.length, RECEIVERS.length * FRAMES);
    // One encode per frame for the mix, one more per frame of r1's own, and one to bring r1's encoder up to date.
    const own = OWN_TO - OWN_FROM;
    assert.equal(inline.encodes, FRAMES + own + 1, `${inline.encodes} encodes for ${RECEIVERS.length * FRAMES} packets`);
    const by = (got: Out[], u: string) => got.filter((m) => m.targetUserId === u);
    for (const u of RECEIVERS) {
      const mine = by(inline.got, u);
      assert.deepEqual(mine.map((m) => m.audio.seq), Array.from({ length: FRAMES }, (_, i) => i), `${u}: seq 0, 1, 2 …`);
      assert.ok(mine.every((m) => m.audio.codec === 'opus' && m.audio.channels === 2));
    }
    const [r1, r2, r3] = RECEIVERS.map((u) => by(inline.got, u));
    for (let f = 0; f < FRAMES; f++) {
      assert.ok(r2[f].payload.equals(r3[f].payload), `frame ${f}: r2 and r3 get the one packet`);
      // (in its own frames r1's encoder, brought up to date with the shared frame before them, soon gives the very
      // packets the shared one gives, the same input on the same state: so they are not compared)
      if (f < OWN_FROM || f >= OWN_TO) assert.ok(r1[f].payload.equals(r2[f].payload), `frame ${f}: r1 shares`);
    }
    // What each hears: the tone, at its level, with no click where r1 left the shared stream and came back to it.
    for (const [u, stream] of [['r1', r1], ['r2', r2]] as const) {
      const left = decodeLeft(stream.map((m) => m.payload), 2).subarray(2 * N);
      assert.ok(Math.abs(estimateFrequency(left, 48000) - 440) < 1, `${u}: 440 Hz`);
      assert.ok(Math.abs(toneAmplitude(left, 1, 0, 440, 48000) - 0.3) < 0.03, `${u}: its level`);
      assert.equal(countDiscontinuities(left, 48000, 440, { threshold: 0.2 }), 0, `${u}: continuous`);
    }
    // Where r1 leaves the shared stream its decoder has the shared encoder's last frame: what it hears there is what r2
    // (still on the shared stream, the same audio) hears, but for the coding noise of another encoder taking over.
    const d1 = decodeLeft(r1.map((m) => m.payload), 2);
    const d2 = decodeLeft(r2.map((m) => m.payload), 2);
    let sig = 0, err = 0;
    for (let i = OWN_FROM * N; i < (OWN_FROM + 3) * N; i++) { sig += d2[i] * d2[i]; err += (d1[i] - d2[i]) ** 2; }
    // (16 dB here with r1's encoder first given the shared encoder's last frame; 12 dB without that)
    const switchSnr = 10 * Math.log10(sig / err);
    assert.ok(switchSnr > 14, `r1's first own frames against the shared stream's: ${switchSnr.toFixed(1)} dB`);
    await helper.unload();
    const threaded = await run('2');
    assert.equal(threaded.got.length, RECEIVERS.length * FRAMES);
    for (const u of RECEIVERS) {
      const a = by(inline.got, u);
      const b = by(threaded.got, u);
      assert.deepEqual(b.map((m) => m.audio.seq), a.map((m) => m.audio.seq), `${u}: seqs on threads`);
      for (let f = 0; f < FRAMES; f++) assert.ok(b[f].payload.equals(a[f].payload), `${u} frame ${f}: the same packet on threads`);
    }
  });

  it('mono receivers (channels 1): the shared mix is mixed down once and encoded once per frame', async () => {
    const { got, encodes } = await run('0', '1');
    assert.equal(got.length, RECEIVERS.length * FRAMES);
    assert.equal(encodes, FRAMES + (OWN_TO - OWN_FROM) + 1);
    const r2 = got.filter((m) => m.targetUserId === 'r2');
    const r3 = got.filter((m) => m.targetUserId === 'r3');
    assert.ok(r2.every((m, f) => m.audio.channels === 1 && m.payload.equals(r3[f].payload)));
    const left = decodeLeft(r2.map((m) => m.payload), 1).subarray(2 * N);
    assert.ok(Math.abs(estimateFrequency(left, 48000) - 440) < 1);
  });
});

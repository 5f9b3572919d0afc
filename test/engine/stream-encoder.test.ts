// StreamEncoders (runtime/audio/stream-encoder.ts), the Opus encode node's engine, alone: framing of any chunk size,
// a seq per stream, the same packets from encoder threads as from the calling thread, the shared encode of a room's
// mix, a sink's throw reported as that frame's error, and seqs that go on after a sweep.
import assert from 'node:assert/strict';
import { StreamEncoders, type OpusPacketAudio, type StreamEncodersOptions, type PcmFrameInfo } from '../../runtime/audio/stream-encoder';
import { OpusDecoder } from '../../runtime/audio/opus';
import { markSharedMix } from '../../runtime/audio/shared-mix';
import { estimateFrequency } from '../../runtime/audio/analysis';
import { toneFrame, f32 } from './util';

const OPTS: StreamEncodersOptions = { frameMs: 10, bitrate: 64000, complexity: 5, fec: false, packetLossPercent: 0, application: 'audio', channels: 0, workers: 0 };
const info = (seq: number, channels = 2): PcmFrameInfo => ({ sampleRate: 48000, channels, seq, captureTime: 1000 + seq, trackId: 1 });

interface Got { packet: Buffer; audio: OpusPacketAudio; ctx: string }

function collect(opts: Partial<StreamEncodersOptions> = {}, throwOn?: string) {
  const got: Got[] = [];
  const errors: Array<{ err: Error; ctx: string | null }> = [];
  let wanted = 0;
  let wake: (() => void) | null = null;
  const check = () => { if (wake && got.length + errors.length >= wanted) { wake(); wake = null; } };
  const enc = new StreamEncoders<string>({ ...OPTS, ...opts }, {
    packet: (packet, audio, ctx) => {
      if (ctx === throwOn) throw new Error(`the sink refused ${ctx}`);
      got.push({ packet, audio, ctx });
      check();
    },
    error: (err, ctx) => { errors.push({ err, ctx }); check(); },
  });
  const atLeast = (n: number) => new Promise<void>((resolve) => { wanted = n; if (got.length + errors.length >= n) resolve(); else wake = resolve; });
  return { enc, got, errors, atLeast };
}

/** The packets of one receiver decoded: its seqs, and the 440 Hz estimate of the whole. */
function decodeAll(ps: Got[], channels: number): { seqs: number[]; hz: number } {
  const dec = new OpusDecoder({ sampleRate: 48000, channels: channels as 1 | 2 });
  const pcm = Buffer.concat(ps.map((p) => dec.decode(p.packet)));
  const x = f32(pcm);
  const mono = new Float32Array(x.length / channels);
  for (let i = 0; i < mono.length; i++) mono[i] = x[i * channels];
  return { seqs: ps.map((p) => p.audio.seq), hz: estimateFrequency(mono.subarray(4800), 48000) };
}

describe('engine/stream-encoder: StreamEncoders', () => {
  it('frames chunks of any size into 10 ms packets, a seq per stream from 0, each packet under its own frame\'s context', () => {
    const { enc, got } = collect();
    // 7 ms chunks of two senders, interleaved: 700 ms each
    for (let k = 0; k < 100; k++) {
      for (const u of ['alice', 'bob']) enc.push({ userId: u, trackId: 1 }, info(k), toneFrame(336, 2, k * 336, u === 'alice' ? 440 : 660, 0.5, 48000), `${u}${k}`);
    }
    for (const u of ['alice', 'bob']) {
      const mine = got.filter((g) => g.ctx.startsWith(u));
      assert.equal(mine.length, 70, `${u}: 700 ms is 70 frames`);
      const d = decodeAll(mine, 2);
      assert.deepEqual(d.seqs, [...Array(70).keys()]);
      assert.ok(Math.abs(d.hz - (u === 'alice' ? 440 : 660)) < 2, `${u} decodes to ${d.hz} Hz`);
      assert.ok(mine.every((g) => g.audio.codec === 'opus' && g.audio.frameSamples === 480 && g.audio.channels === 2));
    }
    assert.equal(enc.size, 2);
    enc.close();
  });

  it('gives the same packets, in order, from two encoder threads as on the calling thread', async () => {
    const here = collect();
    const threads = collect({ workers: 2 });
    for (let k = 0; k < 60; k++) {
      for (const u of ['a', 'b', 'c']) {
        const f = toneFrame(480, 2, k * 480, 440, 0.5, 48000);
        here.enc.push({ userId: u, trackId: 1 }, info(k), f, `${u}${k}`);
        threads.enc.push({ userId: u, trackId: 1 }, info(k), f, `${u}${k}`);
      }
    }
    await threads.atLeast(180);
    for (const u of ['a', 'b', 'c']) {
      const a = here.got.filter((g) => g.ctx.startsWith(u)), b = threads.got.filter((g) => g.ctx.startsWith(u));
      assert.deepEqual(b.map((g) => g.audio.seq), [...Array(60).keys()], `${u} in order from the threads`);
      assert.ok(a.every((g, i) => g.packet.equals(b[i].packet)), `${u}: the same bytes`);
    }
    here.enc.close();
    threads.enc.close();
  });

  for (const workers of [0, 2]) {
    it(`encodes a room's mix given to several receivers once a frame, each under its own seq, and a receiver back on its own encode goes on (${workers ? 'threads' : 'calling thread'})`, async () => {
      const { enc, got, atLeast } = collect({ workers });
      for (let k = 0; k < 50; k++) {
        const mix = toneFrame(480, 2, k * 480, 440, 0.5, 48000);
        markSharedMix(mix);
        // frames 20..29: carol spoke, her mix-minus is her own (the same tone here, a fresh Buffer)
        for (const r of ['bob', 'carol', 'dave']) {
          const own = r === 'carol' && k >= 20 && k < 30;
          enc.push({ userId: 'xcast', trackId: 1, targetUserId: r }, info(k), own ? Buffer.from(mix) : mix, `${r}${k}`);
        }
      }
      await atLeast(150);
      for (const r of ['bob', 'carol', 'dave']) {
        const mine = got.filter((g) => g.ctx.startsWith(r));
        const d = decodeAll(mine, 2);
        assert.deepEqual(d.seqs, [...Array(50).keys()], `${r}: seqs`);
        assert.ok(Math.abs(d.hz - 440) < 2, `${r} decodes to ${d.hz} Hz`);
      }
      // bob's and dave's packets are the one shared encode's: the same Buffer each frame
      const bob = got.filter((g) => g.ctx.startsWith('bob')), dave = got.filter((g) => g.ctx.startsWith('dave'));
      assert.ok(bob.every((g, i) => g.packet === dave[i].packet), 'one packet for both');
      const carol = got.filter((g) => g.ctx.startsWith('carol'));
      assert.ok(carol.slice(20, 30).every((g, i) => g.packet !== bob[20 + i].packet), 'carol\'s own frames her own encode\'s');
      enc.close();
    });
  }

  for (const workers of [0, 1]) {
    it(`reports a sink's throw on a ${workers ? 'thread\'s' : 'shared'} packet as that frame's error; the rest go on`, async () => {
      const { enc, got, errors, atLeast } = collect({ workers }, 'bob3');
      for (let k = 0; k < 6; k++) {
        const mix = toneFrame(480, 2, k * 480, 440, 0.5, 48000);
        if (!workers) markSharedMix(mix);
        enc.push({ userId: 'xcast', trackId: 1, targetUserId: workers ? undefined : 'bob' }, info(k), mix, `bob${k}`);
      }
      await atLeast(6);
      assert.deepEqual(errors.map((e) => [e.ctx, e.err.message]), [['bob3', 'the sink refused bob3']]);
      assert.deepEqual(got.map((g) => g.audio.seq), [0, 1, 2, 4, 5]);
      enc.close();
    });
  }

  it('refuses a chunk that is not whole samples, and a rate Opus has not, by throwing; a bad frameMs at construction', () => {
    const { enc } = collect({ channels: 1 });
    assert.throws(() => enc.push({ userId: 'a' }, info(0), Buffer.alloc(10), 'x'), /not a whole number of 2-channel f32 samples/);
    assert.throws(() => enc.push({ userId: 'b' }, { ...info(0), sampleRate: 44100 }, Buffer.alloc(8 * 441), 'x'), /sampleRate/);
    assert.throws(() => new StreamEncoders({ ...OPTS, frameMs: 15 }, { packet: () => undefined, error: () => undefined }), /frameMs must be one of 2\.5, 5, 10, 20, 40, 60/);
    enc.close();
  });

  it('forgets a stream idle for a sweep, and its seqs go on where they stopped when it comes back', () => {
    const { enc, got } = collect();
    for (let k = 0; k < 3; k++) enc.push({ userId: 'a', trackId: 1 }, info(k), toneFrame(480, 2, k * 480, 440, 0.5, 48000), 'a');
    assert.equal(enc.sweep(), 1, 'used since the last sweep: kept');
    assert.equal(enc.sweep(), 0, 'idle for a sweep: gone');
    enc.push({ userId: 'a', trackId: 1 }, info(3), toneFrame(480, 2, 3 * 480, 440, 0.5, 48000), 'a');
    assert.deepEqual(got.map((g) => g.audio.seq), [0, 1, 2, 3]);
    enc.close();
  });
});

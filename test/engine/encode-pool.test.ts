// EncodePool: Opus encoders on worker threads give the very packets an encoder on this thread gives, in order per
// stream; a bad stream or a lost thread is an error for its frames, and the streams go on.
import assert from 'node:assert/strict';
import { EncodePool } from '../../runtime/audio/encode-pool';
import { OpusEncoder, OpusFrameSizeError, type OpusEncoderOptions } from '../../runtime/audio/opus';
import { toneFrame } from './util';

const N = 480;
const OPTS: OpusEncoderOptions = { sampleRate: 48000, channels: 2, frameSamples: N, bitrate: 64000, complexity: 5 };

interface Ctx { stream: number; frame: number }

function collect(): { packets: Map<number, Array<{ frame: number; packet: Buffer }>>; errors: Array<{ ctx: Ctx; err: Error }>; pool: (size: number) => EncodePool<Ctx> } {
  const packets = new Map<number, Array<{ frame: number; packet: Buffer }>>();
  const errors: Array<{ ctx: Ctx; err: Error }> = [];
  return {
    packets,
    errors,
    pool: (size) => new EncodePool<Ctx>(size, {
      onPacket: (ctx, packet) => {
        if (!packets.has(ctx.stream)) packets.set(ctx.stream, []);
        packets.get(ctx.stream)!.push({ frame: ctx.frame, packet });
      },
      onError: (ctx, err) => errors.push({ ctx, err }),
    }),
  };
}

/** Stream k's frame f: a tone of its own pitch. */
const frameOf = (k: number, f: number) => toneFrame(N, 2, f * N, 220 + 110 * k, 0.4);

async function until(what: string, cond: () => boolean, ms = 10000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('engine/encode-pool', function () {
  this.timeout(30000);

  it('encodes 6 streams over 2 threads into exactly the packets one encoder per stream gives here, in order per stream', async () => {
    const c = collect();
    const pool = c.pool(2);
    try {
      const S = 6;
      const F = 50;
      const ids = Array.from({ length: S }, () => pool.open(OPTS));
      for (let f = 0; f < F; f++) {
        // One frame of every stream per turn, as a mix-minus mixer sends them; a turn every few frames.
        for (let k = 0; k < S; k++) pool.encode(ids[k], frameOf(k, f), { stream: k, frame: f });
        if (f % 5 === 4) await new Promise((r) => setImmediate(r));
      }
      await until('every packet', () => [...c.packets.values()].reduce((n, a) => n + a.length, 0) === S * F);
      assert.deepEqual(c.errors, []);
      for (let k = 0; k < S; k++) {
        const ref = new OpusEncoder(OPTS);
        const got = c.packets.get(k)!;
        assert.deepEqual(got.map((g) => g.frame), Array.from({ length: F }, (_, f) => f), `stream ${k} in order`);
        for (let f = 0; f < F; f++) assert.ok(got[f].packet.equals(ref.encode(frameOf(k, f))), `stream ${k} frame ${f}: the same bytes as an encoder here`);
      }
      assert.equal(pool.pending(), 0);
    } finally {
      pool.close();
    }
  });

  it('refuses a wrong frame size at once (libopus never sees it) and reports bad options as the frame\'s error', async () => {
    const c = collect();
    const pool = c.pool(1);
    try {
      const id = pool.open(OPTS);
      assert.throws(() => pool.encode(id, Buffer.alloc(100), { stream: 0, frame: 0 }), OpusFrameSizeError);
      const bad = pool.open({ ...OPTS, bitrate: 1 });
      pool.encode(bad, frameOf(0, 0), { stream: 9, frame: 0 });
      pool.encode(id, frameOf(0, 0), { stream: 0, frame: 0 });
      await until('the answers', () => c.errors.length + (c.packets.get(0)?.length ?? 0) === 2);
      assert.equal(c.errors.length, 1);
      assert.equal(c.errors[0].ctx.stream, 9);
      assert.match(c.errors[0].err.message, /bitrate/);
      assert.equal(c.packets.get(0)!.length, 1, 'the good stream in the same batch is encoded');
    } finally {
      pool.close();
    }
  });

  it('a thread that stops: its frames in flight are errors, a warning says so, and its streams go on encoded here', async () => {
    const c = collect();
    const pool = c.pool(1);
    const warnings: string[] = [];
    pool.on('warning', (m: string) => warnings.push(m));
    try {
      const id = pool.open(OPTS);
      for (let f = 0; f < 5; f++) pool.encode(id, frameOf(0, f), { stream: 0, frame: f });
      await until('the first packets', () => (c.packets.get(0)?.length ?? 0) === 5);
      await pool.killWorker(0);
      await until('the warning', () => warnings.some((w) => /stopped/.test(w)));
      for (let f = 5; f < 10; f++) pool.encode(id, frameOf(0, f), { stream: 0, frame: f });
      await until('the later packets', () => (c.packets.get(0)?.length ?? 0) === 10);
      assert.deepEqual(c.packets.get(0)!.map((p) => p.frame), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      assert.match(warnings.join('\n'), /stream\(s\) are encoded on the event loop/);
      // A fresh encoder from frame 5: its packets are what a new encoder makes of frames 5…9.
      const ref = new OpusEncoder(OPTS);
      for (let f = 5; f < 10; f++) assert.ok(c.packets.get(0)![f].packet.equals(ref.encode(frameOf(0, f))), `frame ${f}`);
    } finally {
      pool.close();
    }
  });
});

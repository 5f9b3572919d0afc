// Opus encoders on worker threads: a mix-minus xcast encodes one stream per receiver every frame (~40–85 µs each at
// 48 kHz stereo), which one core cannot do for a hundred receivers. Each stream is given to one worker for its whole
// life (libopus keeps state between frames, and the worker encodes its frames in order); the frames queued in one
// turn of the event loop go to each worker as one message — the PCM packed into one transferred ArrayBuffer — and
// come back the same way, so a frame of N streams costs two messages per worker, not two per stream.
//
// A worker that dies (an exception escaping it; not a native crash, which takes the process) hands its streams back
// to encoders on the calling thread, started afresh: the frames it held are lost and reported, the streams go on.
import { Worker } from 'node:worker_threads';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import { OpusEncoder, OpusFrameSizeError, type OpusEncoderOptions } from './opus';

/** What the pool tells a worker, and what it answers. */
export interface EncodeBatch {
  batch: number;
  /** Per frame: stream id, byte offset and length in `pcm`, and the stream's options the first time it is seen. */
  items: Array<{ id: number; off: number; len: number; opts?: OpusEncoderOptions }>;
  pcm: ArrayBuffer;
  /** Streams the worker can forget. */
  closed: number[];
}
export interface EncodeResult {
  batch: number;
  /** Per frame, in order: the packet's length in `data`, or -1 and an error message in `errors`. */
  lens: number[];
  errors: Array<string | null>;
  data: ArrayBuffer;
}

/** Frames a worker may hold before new ones for it are dropped (half a second of 10 ms frames). */
const MAX_INFLIGHT_BATCHES = 50;

interface Stream { id: number; worker: number; opts: OpusEncoderOptions; sent: boolean; local: OpusEncoder | null }
interface Pending<T> { stream: Stream; pcm: Buffer; ctx: T }
interface PoolWorker<T> {
  worker: Worker;
  alive: boolean;
  streams: number;
  queue: Array<Pending<T>>;
  inflight: Array<{ batch: number; ctxs: T[] }>;
  closed: number[];
}

export interface EncodePoolEvents<T> {
  /** A frame encoded: its packet (a fresh Buffer) and the caller's context, per stream in the order given. */
  onPacket: (ctx: T, packet: Buffer) => void;
  /** A frame that could not be encoded (bad options, a size libopus would not take, a worker lost). */
  onError: (ctx: T, err: Error) => void;
}

export class EncodePool<T> extends EventEmitter {
  readonly size: number;
  private readonly workers: Array<PoolWorker<T>> = [];
  private readonly streams = new Map<number, Stream>();
  private nextId = 1;
  private nextBatch = 1;
  private flushQueued = false;
  private closedPool = false;
  /** Frames dropped because their worker was more than MAX_INFLIGHT_BATCHES behind. */
  dropped = 0;

  constructor(size: number, private readonly handlers: EncodePoolEvents<T>) {
    super();
    this.size = size;
    for (let i = 0; i < size; i++) this.workers.push(this.spawn(i));
  }

  private spawn(i: number): PoolWorker<T> {
    const worker = new Worker(path.join(__dirname, 'encode-worker.js'));
    worker.unref();
    const pw: PoolWorker<T> = { worker, alive: true, streams: 0, queue: [], inflight: [], closed: [] };
    worker.on('message', (r: EncodeResult) => this.onResult(pw, r));
    worker.on('error', (err) => this.emit('warning', `encode worker ${i} failed: ${err.message}`));
    worker.on('exit', () => {
      if (this.closedPool || !pw.alive) return;
      pw.alive = false;
      // Its streams go on, encoded here from their next frame; the frames it held are lost.
      const lost = pw.inflight.reduce((n, b) => n + b.ctxs.length, 0);
      for (const b of pw.inflight) for (const ctx of b.ctxs) this.handlers.onError(ctx, new Error('opus encode: the encoder thread stopped; frame lost'));
      pw.inflight = [];
      this.emit('warning', `encode worker ${i} stopped (${lost} frame(s) lost); its ${pw.streams} stream(s) are encoded on the event loop from now on`);
    });
    return pw;
  }

  /** A new stream (one encoder): its id. Streams go to the worker with the fewest. */
  open(opts: OpusEncoderOptions): number {
    let w = -1;
    for (let i = 0; i < this.workers.length; i++) {
      if (!this.workers[i].alive) continue;
      if (w < 0 || this.workers[i].streams < this.workers[w].streams) w = i;
    }
    const s: Stream = { id: this.nextId++, worker: w, opts: { ...opts }, sent: false, local: null };
    if (w >= 0) this.workers[w].streams++;
    this.streams.set(s.id, s);
    return s.id;
  }

  /** Forgets a stream (its worker frees the encoder with its next batch). */
  release(id: number): void {
    const s = this.streams.get(id);
    if (!s) return;
    this.streams.delete(id);
    if (s.worker >= 0) {
      const pw = this.workers[s.worker];
      pw.streams--;
      if (s.sent) pw.closed.push(id);
    }
  }

  /**
   * Queues one frame of f32 interleaved PCM for stream `id`; it is copied at the end of this turn of the event loop
   * (a microtask), so it must not change before then — as every Buffer that has been sent. The packet comes to
   * onPacket(ctx) after this call returns, in order per stream.
   */
  encode(id: number, pcmF32: Buffer, ctx: T): void {
    const s = this.streams.get(id);
    if (!s) throw new Error(`opus encode: no stream ${id} in the pool`);
    const expected = s.opts.frameSamples * s.opts.channels * 4;
    if (pcmF32.length !== expected) throw new OpusFrameSizeError(`opus encode: pcm is ${pcmF32.length} bytes, a frame is ${expected}`);
    const pw = s.worker >= 0 ? this.workers[s.worker] : null;
    if (pw === null || !pw.alive) {
      if (s.local === null) s.local = new OpusEncoder(s.opts);
      const packet = s.local.encode(pcmF32);
      queueMicrotask(() => this.handlers.onPacket(ctx, packet));
      return;
    }
    if (pw.inflight.length >= MAX_INFLIGHT_BATCHES) {
      this.dropped++;
      if (this.dropped === 1) this.emit('warning', `encode worker ${s.worker} is ${MAX_INFLIGHT_BATCHES} batches behind: frames dropped until it catches up`);
      this.handlers.onError(ctx, new Error('opus encode: encoder thread behind; frame dropped'));
      return;
    }
    pw.queue.push({ stream: s, pcm: pcmF32, ctx });
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flush);
    }
  }

  /** Sends each worker the frames queued for it, as one message. */
  private readonly flush = (): void => {
    this.flushQueued = false;
    for (const pw of this.workers) {
      if (pw.queue.length === 0) continue;
      const q = pw.queue;
      pw.queue = [];
      if (!pw.alive) {
        for (const p of q) this.encode(p.stream.id, p.pcm, p.ctx);
        continue;
      }
      let bytes = 0;
      for (const p of q) bytes += p.pcm.length;
      const ab = new ArrayBuffer(bytes);
      const dst = new Uint8Array(ab);
      const items: EncodeBatch['items'] = [];
      const ctxs: T[] = [];
      let off = 0;
      for (const p of q) {
        dst.set(p.pcm, off);
        items.push({ id: p.stream.id, off, len: p.pcm.length, ...(p.stream.sent ? {} : { opts: p.stream.opts }) });
        p.stream.sent = true;
        ctxs.push(p.ctx);
        off += p.pcm.length;
      }
      const batch = this.nextBatch++;
      const msg: EncodeBatch = { batch, items, pcm: ab, closed: pw.closed };
      pw.closed = [];
      pw.inflight.push({ batch, ctxs });
      pw.worker.postMessage(msg, [ab]);
    }
  };

  private onResult(pw: PoolWorker<T>, r: EncodeResult): void {
    const b = pw.inflight.shift();
    if (!b || b.batch !== r.batch) {
      this.emit('warning', `encode pool: batch ${r.batch} came back out of order`);
      return;
    }
    let off = 0;
    for (let i = 0; i < b.ctxs.length; i++) {
      const len = r.lens[i];
      if (len < 0) {
        this.handlers.onError(b.ctxs[i], new Error(r.errors[i] ?? 'opus encode failed'));
        continue;
      }
      // Views of the one transferred buffer: each packet is sent as is and never written again.
      this.handlers.onPacket(b.ctxs[i], Buffer.from(r.data, off, len));
      off += len;
    }
  }

  /** Frames sent to workers and not yet back. */
  pending(): number {
    let n = 0;
    for (const pw of this.workers) n += pw.queue.length + pw.inflight.reduce((k, b) => k + b.ctxs.length, 0);
    return n;
  }

  close(): void {
    this.closedPool = true;
    for (const pw of this.workers) void pw.worker.terminate();
    this.streams.clear();
  }

  /** Test hook: stops worker `i` as a crash would. */
  killWorker(i: number): Promise<number> {
    return this.workers[i].worker.terminate();
  }
}

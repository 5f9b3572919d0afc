// The mixer's decode pool: worker threads that own the playout buffers (and Opus decoders) of part of the tracks, so decoding uses every core.
//
// Fork-join per tick, over shared memory: between ticks the main thread appends each packet of a worker's tracks
// to that worker's ring (SharedArrayBuffer, no message per packet); at a tick it posts one 'tick' message per
// worker, pulls its own tracks meanwhile, then waits (Atomics.wait, a fraction of a ms) until every worker has
// filed the packets and written one decoded frame per track into the shared frame area. The mixer then sums
// every track on the main thread in its usual order, so the mix is bit-identical to the single-threaded one:
// each track's playout buffer sees the same pushes and pulls in the same order, only on another thread.
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { PlayoutHeader, PlayoutOptions, PlayoutStats } from './playout';
import { POOL, statsFromSlots } from './decode-pool-layout';

/** A track's place in the pool. */
export interface RemoteSlot {
  worker: number;
  slot: number;
  gen: number;
  /** The slot's decoded frame (shared memory, written by the worker at each tick). */
  frame: Float32Array;
}

interface PoolWorker {
  worker: Worker;
  control: Int32Array;
  ring: Uint8Array;
  ringView: DataView;
  frames: Float32Array;
  info: Float64Array;
  free: number[];
  /** Virtual (never wrapped) write position, and where the last finished tick had read up to. */
  writePos: number;
  readPos: number;
  gen: number;
  active: number;
}

const CODEC_CODE: Record<string, number> = { opus: 0, pcm_f32le: 1, pcm_s16le: 2 };

export class DecodePool {
  readonly size: number;
  private readonly workers: PoolWorker[] = [];
  private readonly frameFloats: number;
  private slotGen = 1;
  private closed = false;
  /** Packets dropped because a worker's ring was full (it would take a ~1 s stall of the mixer). */
  dropped = 0;

  constructor(size: number, frameFloats: number, playout: PlayoutOptions) {
    this.size = size;
    this.frameFloats = frameFloats;
    const entry = path.join(__dirname, 'decode-worker.js');
    for (let i = 0; i < size; i++) {
      const control = new SharedArrayBuffer(POOL.CONTROL_WORDS * 4);
      const ring = new SharedArrayBuffer(POOL.RING_BYTES);
      const frames = new SharedArrayBuffer(POOL.SLOTS * frameFloats * 4);
      const info = new SharedArrayBuffer(POOL.SLOTS * POOL.INFO * 8);
      const worker = new Worker(entry, { workerData: { control, ring, frames, info, frameFloats, playout } });
      // The mixer's clock keeps the process alive while it runs; idle workers must not.
      worker.unref();
      this.workers.push({
        worker, control: new Int32Array(control), ring: new Uint8Array(ring), ringView: new DataView(ring),
        frames: new Float32Array(frames), info: new Float64Array(info),
        free: Array.from({ length: POOL.SLOTS }, (_, k) => POOL.SLOTS - 1 - k),
        writePos: 0, readPos: 0, gen: 0, active: 0,
      });
    }
  }

  /** Number of tracks on worker `w`. */
  load(w: number): number {
    return this.workers[w].active;
  }

  /** Opens a slot on worker `w` for a new track; null when that worker is full. */
  open(w: number): RemoteSlot | null {
    const pw = this.workers[w];
    const slot = pw.free.pop();
    if (slot === undefined) return null;
    const gen = this.slotGen++ >>> 0;
    pw.active++;
    pw.worker.postMessage({ t: 'add', slot, gen });
    return { worker: w, slot, gen, frame: pw.frames.subarray(slot * this.frameFloats, (slot + 1) * this.frameFloats) };
  }

  close(s: RemoteSlot): void {
    const pw = this.workers[s.worker];
    pw.worker.postMessage({ t: 'remove', slot: s.slot });
    pw.free.push(s.slot);
    pw.active--;
  }

  /** Appends one (already checked) packet for the slot's track; false if the ring is full and it was dropped. */
  write(s: RemoteSlot, h: PlayoutHeader, data: Buffer, arrivalMicros: number): boolean {
    const pw = this.workers[s.worker];
    const size = POOL.RING_BYTES;
    const rec = (POOL.RECORD_HEADER + data.length + 7) & ~7;
    let off = pw.writePos % size;
    let skip = 0;
    if (size - off < rec) skip = size - off; // does not fit before the end: wrap
    if (pw.writePos + skip + rec - pw.readPos > size) {
      this.dropped++;
      return false;
    }
    if (skip) {
      if (skip >= POOL.RECORD_HEADER) pw.ringView.setUint32(off, POOL.WRAP, true);
      pw.writePos += skip;
      off = 0;
    }
    const v = pw.ringView;
    v.setUint32(off, s.slot, true);
    v.setUint32(off + 4, h.seq >>> 0, true);
    v.setFloat64(off + 8, arrivalMicros, true);
    v.setUint32(off + 16, h.sampleRate, true);
    v.setUint32(off + 20, data.length, true);
    v.setUint32(off + 24, s.gen, true);
    pw.ring[off + 28] = CODEC_CODE[h.codec];
    pw.ring[off + 29] = h.channels;
    v.setUint16(off + 30, h.frameSamples, true);
    pw.ring.set(data, off + POOL.RECORD_HEADER);
    pw.writePos += rec;
    return true;
  }

  /** Starts a tick on every worker that has tracks (they decode while the main thread pulls its own). */
  begin(): void {
    for (const pw of this.workers) {
      if (pw.active === 0 && pw.writePos === pw.readPos) continue;
      pw.gen = (pw.gen + 1) | 0;
      pw.worker.postMessage({ t: 'tick', gen: pw.gen, start: pw.readPos, end: pw.writePos });
      pw.readPos = pw.writePos;
    }
  }

  /** Waits until every worker started by begin() has written its frames. */
  join(): void {
    for (const pw of this.workers) {
      while (Atomics.load(pw.control, POOL.C_DONE) !== pw.gen) {
        if (this.closed) return;
        Atomics.wait(pw.control, POOL.C_DONE, Atomics.load(pw.control, POOL.C_DONE), 1000);
      }
    }
  }

  /** The PullInfo the worker wrote at the last tick. */
  seq(s: RemoteSlot): number | null {
    const v = this.workers[s.worker].info[s.slot * POOL.INFO];
    return Number.isNaN(v) ? null : v;
  }

  wireSeq(s: RemoteSlot): number | null {
    const v = this.workers[s.worker].info[s.slot * POOL.INFO + 1];
    return Number.isNaN(v) ? null : v;
  }

  concealed(s: RemoteSlot): boolean {
    return this.workers[s.worker].info[s.slot * POOL.INFO + 2] === 1;
  }

  /** The track's playout statistics as of the last tick. */
  stats(s: RemoteSlot): PlayoutStats {
    return statsFromSlots(this.workers[s.worker].info, s.slot * POOL.INFO + 3);
  }

  /** Packets the workers refused (should stay 0: the main thread checks them first). */
  get refused(): number {
    return this.workers.reduce((n, pw) => n + Atomics.load(pw.control, POOL.C_ERRORS), 0);
  }

  /** Ends the worker threads. */
  terminate(): void {
    this.closed = true;
    for (const pw of this.workers) void pw.worker.terminate();
  }
}

// The playout buffer's decoded samples waiting to be pulled, with which packet each run of them came from.
//
// A linear buffer, not a ring: the waiting frames are always contiguous (buf[read·C …]), so the channel map, the
// concealment, the cross-fade and the splice search work on plain offsets. When a write would run past the end the
// waiting frames (less than a packet, normally) move to the front; when none wait, writing starts at the front
// again — with packets as long as output frames nothing ever moves.
import type { PullInfo } from './options';
import { wireSeq } from '../../seq';

export class SampleFifo {
  readonly channels: number;
  /** Interleaved samples; the waiting frames are [read, read + count). */
  buf: Float32Array;
  /** First waiting frame. */
  read = 0;
  /** Frames waiting. */
  count = 0;
  private capFrames: number;
  // Runs of waiting samples by the unwrapped seq of their packet (NaN: concealment), oldest first, as a ring.
  private segSeq = new Float64Array(64);
  private segLen = new Int32Array(64);
  private segHead = 0;
  private segCount = 0;

  constructor(channels: number, capacityFrames: number) {
    this.channels = channels;
    this.capFrames = capacityFrames;
    this.buf = new Float32Array(capacityFrames * channels);
  }

  /** Makes room for `frames` more frames after the waiting ones; returns the sample offset to write them at. */
  reserve(frames: number): number {
    const C = this.channels;
    if (this.read + this.count + frames > this.capFrames) {
      if (this.count + frames <= this.capFrames) {
        this.buf.copyWithin(0, this.read * C, (this.read + this.count) * C);
      } else {
        const cap = (this.count + frames) * 2;
        const next = new Float32Array(cap * C);
        next.set(this.buf.subarray(this.read * C, (this.read + this.count) * C));
        this.buf = next;
        this.capFrames = cap;
      }
      this.read = 0;
    }
    return (this.read + this.count) * C;
  }

  /** The `frames` frames written at reserve()'s offset now wait, from packet `seq` (NaN: concealment). */
  commit(frames: number, seq: number): void {
    if (frames <= 0) return;
    this.count += frames;
    const n = this.segSeq.length;
    const last = (this.segHead + this.segCount - 1) % n;
    if (this.segCount > 0 && Number.isNaN(seq) && Number.isNaN(this.segSeq[last])) {
      this.segLen[last] += frames;
      return;
    }
    if (this.segCount === n) {
      const seqs = new Float64Array(n * 2);
      const lens = new Int32Array(n * 2);
      for (let i = 0; i < this.segCount; i++) {
        const j = (this.segHead + i) % n;
        seqs[i] = this.segSeq[j];
        lens[i] = this.segLen[j];
      }
      this.segSeq = seqs;
      this.segLen = lens;
      this.segHead = 0;
    }
    const j = (this.segHead + this.segCount) % this.segSeq.length;
    this.segSeq[j] = seq;
    this.segLen[j] = frames;
    this.segCount++;
  }

  /** Moves the first `frames` waiting frames into dst[0…] and reports in `info` the first real packet among them and any concealment. */
  readInto(dst: Float32Array, frames: number, info: PullInfo): void {
    const C = this.channels;
    dst.set(this.buf.subarray(this.read * C, (this.read + frames) * C), 0);
    this.advance(frames, info);
  }

  /** Throws away the first `frames` waiting frames. */
  discard(frames: number): void {
    this.advance(frames, null);
  }

  /** Forgets every waiting frame. */
  clear(): void {
    this.read = 0;
    this.count = 0;
    this.segHead = 0;
    this.segCount = 0;
  }

  private advance(frames: number, info: PullInfo | null): void {
    this.read += frames;
    this.count -= frames;
    if (this.count === 0) this.read = 0;
    const n = this.segSeq.length;
    while (frames > 0 && this.segCount > 0) {
      const j = this.segHead;
      const t = Math.min(frames, this.segLen[j]);
      if (info !== null) {
        const s = this.segSeq[j];
        if (Number.isNaN(s)) info.concealed = true;
        else if (info.seq === null) {
          info.seq = s;
          info.wireSeq = wireSeq(s);
        }
      }
      frames -= t;
      this.segLen[j] -= t;
      if (this.segLen[j] === 0) {
        this.segHead = (j + 1) % n;
        this.segCount--;
      }
    }
  }
}

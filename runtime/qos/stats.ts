// Per-stream QoS statistics: RFC 3550 interarrival jitter, sequence-number accounting, sliding-window bitrate.

import { SeqUnwrapper, wireSeq } from '../seq';

// The one RFC 3550 jitter estimator (the playout buffer uses it too).
export { Rfc3550Jitter } from '../jitter';

/** What one push() did, so callers can react without a second lookup. */
export type SeqOutcome = 'first' | 'inOrder' | 'gap' | 'duplicate' | 'outOfOrder' | 'stray' | 'resync';

export interface SeqTrackerOptions {
  /** How many sequence numbers behind the highest a gap can still be filled (and a duplicate recognised); default 1024. */
  window?: number;
}

/**
 * Exact received / lost / duplicate / out-of-order accounting from a stream of u32 sequence numbers.
 *
 * Definitions (each packet counts in `received` exactly once, whatever else it counts as):
 * - seqs are unwrapped to a monotonic extended seq relative to the highest seen (wrap at 2^32 is seamless) by the
 *   one SeqUnwrapper (runtime/seq.ts), whose restart policy (SEQ_RESTART_JUMP) this follows;
 * - a forward jump of d (1 < d ≤ SEQ_RESTART_JUMP) adds d − 1 to `lost`: the skipped seqs are missing;
 * - a missing seq that arrives while within `window` of the highest is `outOfOrder` and leaves `lost`
 *   (lost = gaps never filled); one that arrives before the first seq seen is `outOfOrder` too, and the seqs
 *   between it and the first become missing;
 * - a seq already received while within the window is a `duplicate`;
 * - a seq more than `window` behind or more than SEQ_RESTART_JUMP either way is a `stray`: counted in `stray`, not in
 *   lost / outOfOrder; a second stray that directly follows the first (seq + 1) means the sender restarted
 *   its numbering: `resync` re-anchors there, without counting the jump as loss (RFC 3550 A.1 does the same).
 *   A missing seq older than the window is final: it stays lost even if it shows up later (as a stray).
 */
export class SeqTracker {
  received = 0;
  lost = 0;
  duplicate = 0;
  outOfOrder = 0;
  stray = 0;
  resyncs = 0;
  private readonly seqs = new SeqUnwrapper();
  /** Lowest extended seq received since the last (re)anchor: seqs below it were never expected. */
  private base = NaN;
  private readonly window: number;
  /** slot (ext mod window) is 1 iff that ext seq in (highest − window, highest] was received. */
  private readonly seen: Uint8Array;
  private pendingResync = -1;

  constructor(opts: SeqTrackerOptions = {}) {
    this.window = opts.window ?? 1024;
    if (!Number.isInteger(this.window) || this.window < 2) throw new RangeError(`window must be an integer ≥ 2, got ${this.window}`);
    if ((opts as { maxDropout?: unknown }).maxDropout !== undefined) throw new RangeError('maxDropout is no longer an option: the restart jump is SEQ_RESTART_JUMP (runtime/seq.ts)');
    this.seen = new Uint8Array(this.window);
  }

  /** Highest extended seq (unwrapped), NaN before the first packet. */
  get highest(): number {
    return this.seqs.highest;
  }

  /** The last u32 seq at the head of the stream, or null before the first packet. */
  get lastSeq(): number | null {
    return this.seqs.anchored ? wireSeq(this.seqs.highest) : null;
  }

  /** Packets that should have arrived since the anchor: highest − base + 1 (0 before the first). */
  get expected(): number {
    return Number.isNaN(this.highest) ? 0 : this.highest - this.base + 1;
  }

  push(seq: number): SeqOutcome {
    this.received++;
    seq = seq >>> 0;
    if (!this.seqs.anchored) {
      this.anchor(seq);
      return 'first';
    }
    const ext = this.seqs.extend(seq);
    const highest = this.seqs.highest;
    const d = ext - highest;
    const restart = this.seqs.isRestart(ext);
    if (d > 0 && !restart) {
      this.pendingResync = -1;
      const clear = d < this.window ? d : this.window;
      for (let k = 1; k <= clear; k++) this.seen[this.slot(highest + k)] = 0;
      this.seen[this.slot(ext)] = 1;
      this.lost += d - 1;
      this.seqs.advance(ext);
      return d === 1 ? 'inOrder' : 'gap';
    }
    if (d <= 0 && -d < this.window && !restart) {
      const s = this.slot(ext);
      if (this.seen[s] === 1) { this.duplicate++; return 'duplicate'; }
      this.seen[s] = 1;
      this.outOfOrder++;
      if (ext < this.base) {
        this.lost += this.base - ext - 1;
        this.base = ext;
      } else {
        this.lost--;
      }
      return 'outOfOrder';
    }
    if (seq === this.pendingResync) {
      this.resyncs++;
      this.anchor(seq);
      // the stray just before is part of the new numbering: mark it received, it was counted already
      this.seen[this.slot(this.highest - 1)] = 1;
      this.base = this.highest - 1;
      return 'resync';
    }
    this.stray++;
    this.pendingResync = (seq + 1) >>> 0;
    return 'stray';
  }

  reset(): void {
    this.received = this.lost = this.duplicate = this.outOfOrder = this.stray = this.resyncs = 0;
    this.seqs.reset();
    this.base = NaN;
    this.pendingResync = -1;
    this.seen.fill(0);
  }

  private anchor(seq: number): void {
    this.seen.fill(0);
    this.seqs.anchor(seq);
    this.base = seq;
    this.pendingResync = -1;
    this.seen[this.slot(seq)] = 1;
  }

  private slot(ext: number): number {
    const w = this.window;
    return ((ext % w) + w) % w;
  }
}

/**
 * Bitrate over a sliding window of completed time buckets: steady streams read exactly, and the figure lags
 * the present by at most one bucket. Reads low during the first window after start. Allocation-free.
 */
export class BitrateMeter {
  readonly windowMs: number;
  private readonly bucketMs: number;
  private readonly ids: Float64Array;
  private readonly bytes: Float64Array;

  constructor(windowMs = 2000, buckets = 10) {
    if (!(windowMs > 0) || !Number.isInteger(buckets) || buckets < 1) {
      throw new RangeError(`BitrateMeter needs windowMs > 0 and an integer buckets ≥ 1, got ${windowMs}, ${buckets}`);
    }
    this.windowMs = windowMs;
    this.bucketMs = windowMs / buckets;
    // one spare bucket holds the one being filled, not yet counted
    this.ids = new Float64Array(buckets + 1).fill(-1);
    this.bytes = new Float64Array(buckets + 1);
  }

  /** Records `bytes` of payload that arrived at `atMs`. */
  add(bytes: number, atMs: number): void {
    const b = Math.floor(atMs / this.bucketMs);
    const i = b % this.ids.length;
    if (this.ids[i] !== b) { this.ids[i] = b; this.bytes[i] = 0; }
    this.bytes[i] += bytes;
  }

  /** kbit/s over the last `windowMs` of completed buckets before `nowMs` (bits per ms = kbit/s). */
  kbps(nowMs: number): number {
    const cur = Math.floor(nowMs / this.bucketMs);
    const oldest = cur - (this.ids.length - 1);
    let sum = 0;
    for (let i = 0; i < this.ids.length; i++) {
      const id = this.ids[i];
      if (id >= oldest && id < cur) sum += this.bytes[i];
    }
    return (sum * 8) / this.windowMs;
  }

  reset(): void { this.ids.fill(-1); this.bytes.fill(0); }
}

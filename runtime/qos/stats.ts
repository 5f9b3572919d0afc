// Per-stream QoS statistics: RFC 3550 interarrival jitter, sequence-number accounting, sliding-window bitrate.

const U32 = 0x1_0000_0000;

/**
 * RFC 3550 §6.4.1 interarrival jitter on µs clocks: D = (Rj − Ri) − (Sj − Si), J += (|D| − J) / 16.
 * Only differences of transit times are used, so a constant offset between the sender's and the receiver's
 * clocks cancels out. µs epoch values (~1.8e15) are exact in a double, so are their differences.
 */
export class Rfc3550Jitter {
  private prevTransit = 0;
  private hasPrev = false;
  private j = 0; // µs

  /** Feeds one packet; returns the jitter in ms after it. The first packet only sets the reference (J stays 0). */
  update(arrivalMicros: number, captureMicros: number): number {
    const transit = arrivalMicros - captureMicros;
    if (this.hasPrev) {
      const d = Math.abs(transit - this.prevTransit);
      this.j += (d - this.j) / 16;
    }
    this.prevTransit = transit;
    this.hasPrev = true;
    return this.j / 1000;
  }

  get jitterMs(): number { return this.j / 1000; }

  reset(): void { this.hasPrev = false; this.j = 0; this.prevTransit = 0; }
}

/** What one push() did, so callers can react without a second lookup. */
export type SeqOutcome = 'first' | 'inOrder' | 'gap' | 'duplicate' | 'outOfOrder' | 'stray' | 'resync';

export interface SeqTrackerOptions {
  /** How many sequence numbers behind the highest a gap can still be filled (and a duplicate recognised). */
  window?: number;
  /** Largest forward jump taken as loss; a larger jump (or one further back than the window) is a stray. */
  maxDropout?: number;
}

/**
 * Exact received / lost / duplicate / out-of-order accounting from a stream of u32 sequence numbers.
 *
 * Definitions (each packet counts in `received` exactly once, whatever else it counts as):
 * - seqs are unwrapped to a monotonic extended seq relative to the highest seen (wrap at 2^32 is seamless);
 * - a forward jump of d (1 < d ≤ maxDropout) adds d − 1 to `lost`: the skipped seqs are missing;
 * - a missing seq that arrives while within `window` of the highest is `outOfOrder` and leaves `lost`
 *   (lost = gaps never filled); one that arrives before the first seq seen is `outOfOrder` too, and the seqs
 *   between it and the first become missing;
 * - a seq already received while within the window is a `duplicate`;
 * - a seq more than `window` behind or more than `maxDropout` ahead is a `stray`: counted in `stray`, not in
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
  /** Highest extended seq (unwrapped), NaN before the first packet. */
  highest = NaN;
  /** Lowest extended seq received since the last (re)anchor: seqs below it were never expected. */
  private base = NaN;
  private readonly window: number;
  private readonly maxDropout: number;
  /** slot (ext mod window) is 1 iff that ext seq in (highest − window, highest] was received. */
  private readonly seen: Uint8Array;
  private pendingResync = -1;

  constructor(opts: SeqTrackerOptions = {}) {
    this.window = opts.window ?? 1024;
    this.maxDropout = opts.maxDropout ?? 3000;
    if (!Number.isInteger(this.window) || this.window < 2) throw new RangeError(`window must be an integer ≥ 2, got ${this.window}`);
    if (!Number.isInteger(this.maxDropout) || this.maxDropout < 1) throw new RangeError(`maxDropout must be an integer ≥ 1, got ${this.maxDropout}`);
    this.seen = new Uint8Array(this.window);
  }

  /** The last u32 seq at the head of the stream, or null before the first packet. */
  get lastSeq(): number | null {
    return Number.isNaN(this.highest) ? null : ((this.highest % U32) + U32) % U32;
  }

  /** Packets that should have arrived since the anchor: highest − base + 1 (0 before the first). */
  get expected(): number {
    return Number.isNaN(this.highest) ? 0 : this.highest - this.base + 1;
  }

  push(seq: number): SeqOutcome {
    this.received++;
    seq = seq >>> 0;
    if (Number.isNaN(this.highest)) {
      this.anchor(seq);
      return 'first';
    }
    const lowBits = ((this.highest % U32) + U32) % U32;
    const d = (seq - lowBits) | 0; // signed distance modulo 2^32
    const ext = this.highest + d;
    if (d > 0 && d <= this.maxDropout) {
      this.pendingResync = -1;
      const clear = d < this.window ? d : this.window;
      for (let k = 1; k <= clear; k++) this.seen[this.slot(this.highest + k)] = 0;
      this.seen[this.slot(ext)] = 1;
      this.lost += d - 1;
      this.highest = ext;
      return d === 1 ? 'inOrder' : 'gap';
    }
    if (d <= 0 && -d < this.window) {
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
    this.highest = this.base = NaN;
    this.pendingResync = -1;
    this.seen.fill(0);
  }

  private anchor(seq: number): void {
    this.seen.fill(0);
    this.highest = seq;
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

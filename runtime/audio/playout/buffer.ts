// The playout (jitter) buffer: where a network stream meets a local clock — reorders, decodes, conceals and counts.
//
// One instance per stream (each mixer track, the speaker, the recorder). push() files packets by unwrapped sequence
// number (runtime/seq.ts) into packet slots (slots.ts); pull() is called once per output frame by the local clock and
// never blocks: it always returns a frame, taken from the decoded samples waiting (fifo.ts).
//
// States:
//   prebuffering — nothing is played until the target depth is buffered; silence out, not counted as a miss.
//   playing      — packets are decoded in sequence order; a missing one is concealed (Opus PLC, or a faded repeat
//                  of the last frame for PCM, conceal.ts) and counted lost.
//   rebuffering  — the buffer ran dry: concealment out (counted as misses) until the depth is back at the target.
//                  The time concealed is remembered ("owed"): if the packets of that time never come, their slots
//                  are skipped instead of being concealed a second time. After idleAfterMs of this the stream is
//                  taken as stopped and the buffer goes back to prebuffering (silence, not counted).
//
// Depth is measured in output frames of time: decoded samples waiting plus the span of sequence numbers from the
// next one to play to the highest received (a gap counts: its time will be filled by concealment). The target and
// its adaptation are depth.ts. A standing excess, or any depth above maxDepthFrames, is trimmed as the profile says
// (options.ts): spliced (cut, below) or whole packets dropped (dropFrames), both with crossfade.ts' arithmetic.
//
// Sample rate: Opus streams decode at the output rate whatever rate they were encoded at (libopus does that for
// free), so the output rate must be an Opus rate to play Opus. PCM at another rate is refused with
// PlayoutFormatError — resampling is the resample node's job. Decoding, channels and concealment: decode.ts.
import { Codec, codecOf } from '../../codec';
import { SeqUnwrapper, wireSeq } from '../../seq';
import { Rfc3550Jitter } from '../../jitter';
import { PacketDecoder } from './decode';
import { TRIM_FADE_S, bestCut, crossfade, frameTrimFadeSamples } from './crossfade';
import { DepthControl } from './depth';
import { SampleFifo } from './fifo';
import { PacketSlots } from './slots';
import {
  checkPlayoutPacket, resolvePlayoutOptions, PlayoutConfigError,
  type PlayoutHeader, type PlayoutOptions, type PlayoutProfile, type PlayoutStats, type PullInfo, type PulledFrame, type PushResult,
} from './options';

const S_PREBUFFER = 0, S_PLAYING = 1, S_REBUFFER = 2;
const STATE_NAMES = ['prebuffering', 'playing', 'rebuffering'] as const;

export class PlayoutBuffer {
  readonly sampleRate: number;
  readonly channels: number;
  readonly frameSamples: number;
  readonly minDepthFrames: number;
  readonly maxDepthFrames: number;
  readonly adaptive: boolean;
  readonly profile: PlayoutProfile;
  private readonly trimFrames: boolean;
  private readonly startAtTarget: boolean;
  private readonly idleAfterFrames: number;
  private readonly restartAfterRejected: number;

  private readonly slots: PacketSlots;
  private readonly fifo: SampleFifo;
  private readonly depth: DepthControl;
  /** Unwraps wire seqs; its `highest` is the highest unwrapped seq received (base - 1 when none is waiting yet). */
  private readonly seqs = new SeqUnwrapper();

  private started = false;
  /** Unwrapped seq of the next slot to play. */
  private base = 0;
  private consumedSinceReset = false;
  private state = S_PREBUFFER;
  private owed = 0;
  private underrunFrames = 0;
  private rejectRun = 0;
  private lastRejected = NaN;

  // Last stream format seen (for concealment and depth of gaps), frame size at the output rate.
  private streamCodec: Codec = Codec.OPUS;
  private streamFrameOut: number;

  private readonly decoder: PacketDecoder;
  // Latency trimming splices: 5 ms cross-fade, cut length searched over up to 10 ms.
  private readonly spliceW: number;
  private readonly spliceSearch: number;
  private readonly spliceHead: Float32Array;

  // RFC 3550 jitter against the media clock: seq × frame duration, counted from a reference seq.
  private readonly jitter = new Rfc3550Jitter();
  private jitterRefSeq = 0;

  private received = 0;
  private lost = 0;
  private late = 0;
  private duplicate = 0;
  private outOfOrder = 0;
  private misses = 0;
  private resets = 0;
  private droppedSamples = 0;
  private trimmedSamples = 0;
  private bytesReceived = 0;

  private readonly info: PullInfo = { seq: null, wireSeq: null, concealed: false };

  constructor(opts: PlayoutOptions) {
    const o = resolvePlayoutOptions(opts);
    this.sampleRate = o.sampleRate;
    this.channels = o.channels;
    this.frameSamples = o.frameSamples;
    this.maxDepthFrames = o.maxDepthFrames;
    this.minDepthFrames = o.minDepthFrames;
    this.adaptive = o.adaptive;
    this.profile = o.profile;
    this.trimFrames = o.trim === 'frames';
    this.startAtTarget = o.startAtTarget;
    this.restartAfterRejected = o.restartAfterRejected;
    const frameMs = (this.frameSamples * 1000) / this.sampleRate;
    this.idleAfterFrames = Math.max(1, Math.ceil(o.idleAfterMs / frameMs));
    this.depth = new DepthControl({
      targetDepthFrames: o.targetDepthFrames, minDepthFrames: o.minDepthFrames, maxDepthFrames: o.maxDepthFrames, adaptive: o.adaptive,
      lowerAfterWindows: o.lowerAfterWindows, windowFrames: Math.max(1, Math.round(o.adaptWindowMs / frameMs)), frameMs, trimAll: o.trimAll,
    });

    // Enough slots for maxDepth of the shortest Opus frames (2.5 ms), twice over for late/duplicate memory.
    this.slots = new PacketSlots(Math.ceil((this.maxDepthFrames * this.frameSamples) / Math.max(1, this.sampleRate / 400)) * 2);
    this.streamFrameOut = this.frameSamples;
    this.fifo = new SampleFifo(this.channels, this.frameSamples + Math.ceil((this.sampleRate * 120) / 1000) + 16);
    this.decoder = new PacketDecoder(this.fifo, this.sampleRate, this.channels, this.frameSamples);
    this.spliceW = Math.max(1, Math.round(this.sampleRate * TRIM_FADE_S));
    this.spliceSearch = Math.max(1, Math.round(this.sampleRate * 0.01));
    this.spliceHead = new Float32Array(this.spliceW * this.channels);
  }

  get targetDepthFrames(): number {
    return this.depth.target;
  }

  /**
   * Files one packet. `data` is kept by reference until played and never written. Returns 'late' when its slot
   * was already played, 'duplicate' when that seq is already here or was played. Throws PlayoutPacketError for a
   * malformed header or size, PlayoutFormatError for a stream this buffer cannot play.
   */
  push(header: PlayoutHeader, data: Buffer, arrivalMicros: number): PushResult {
    const framesOut = checkPlayoutPacket(header, data, this.sampleRate);
    const h = header;
    const seq = h.seq;
    const codec = codecOf(h.codec) as Codec;
    const slots = this.slots;

    // Unwrapped against the highest seq seen; a jump past SEQ_RESTART_JUMP is a sender restart (runtime/seq.ts).
    let u: number;
    if (this.started) {
      u = this.seqs.extend(seq);
      if (this.seqs.isRestart(u)) {
        this.restart();
        u = seq;
      }
    } else {
      u = seq;
    }
    if (!this.started) {
      this.started = true;
      this.base = u;
      this.seqs.anchor(u - 1);
    }

    if (u < this.base) {
      if (this.state === S_PREBUFFER && !this.consumedSinceReset && this.seqs.highest - u < slots.cap) {
        // Nothing has been played yet: an earlier packet simply moves the start back.
        this.base = u;
      } else {
        // A sender that restarted its count from a lower number looks like a run of late/duplicate packets.
        this.rejectRun = u === this.lastRejected + 1 ? this.rejectRun + 1 : 1;
        this.lastRejected = u;
        if (this.rejectRun < this.restartAfterRejected) {
          this.depth.event();
          if (slots.seq[slots.index(u)] === u) {
            this.duplicate++;
            return 'duplicate';
          }
          this.late++;
          // Its slot was played without it and counted lost; it came after all, so the gap is filled (late, not lost).
          if (this.lost > 0) this.lost--;
          this.depth.raise();
          return 'late';
        }
        this.restart();
        this.started = true;
        this.base = u;
        this.seqs.anchor(u - 1);
      }
    }
    const idx = slots.index(u);
    if (slots.holds(idx, u)) {
      this.duplicate++;
      return 'duplicate';
    }
    this.rejectRun = 0;
    if (this.state === S_PREBUFFER && this.consumedSinceReset && slots.pending === 0 && u > this.base) {
      // The stream went idle and comes back further on: the seqs in between are gone for good.
      this.lost += u - this.base;
      this.base = u;
    }
    if (u - this.base >= slots.cap) this.advanceBase(u - slots.cap + 1);

    slots.put(idx, u, data, codec, h.channels, framesOut);
    this.received++;
    this.bytesReceived += data.length;
    if (u < this.seqs.highest) this.outOfOrder++;
    if (u >= this.seqs.highest) {
      this.seqs.advance(u);
      this.streamCodec = codec;
      this.streamFrameOut = framesOut;
    }

    // The sender's clock is seq × frame duration, relative to a reference seq so the product stays far inside
    // double precision.
    if (!this.jitter.started) this.jitterRefSeq = u;
    this.jitter.update(arrivalMicros, ((u - this.jitterRefSeq) * h.frameSamples * 1e6) / h.sampleRate);
    return 'ok';
  }

  /** One output frame as a fresh Buffer of f32 interleaved samples (frameSamples × channels); never blocks. */
  pull(): PulledFrame {
    const out = new Float32Array(this.frameSamples * this.channels);
    const i = this.pullInto(out);
    return { pcm: Buffer.from(out.buffer, 0, out.byteLength), seq: i.seq, wireSeq: i.wireSeq, concealed: i.concealed };
  }

  /**
   * Writes one output frame into `dst` (at least frameSamples × channels long) — the allocation-free path.
   * The returned object is reused by the next call.
   */
  pullInto(dst: Float32Array): PullInfo {
    const n = this.frameSamples;
    const need = n * this.channels;
    if (!(dst instanceof Float32Array) || dst.length < need) throw new PlayoutConfigError('dst', `must be a Float32Array of at least ${need} samples`);
    const info = this.info;
    info.seq = null;
    info.wireSeq = null;
    info.concealed = false;
    const depth = this.depth;
    depth.beginPull();

    if (this.state === S_PREBUFFER) {
      if (!this.started || this.depthOut() < depth.target * n) {
        dst.fill(0, 0, need);
        return info;
      }
      this.state = S_PLAYING;
      this.underrunFrames = 0;
      this.skipLeadingGaps();
      if (this.startAtTarget) this.skipLeadingExcess();
    }
    if (this.state === S_REBUFFER) {
      this.skipOwed();
      if (this.depthOut() >= depth.target * n) {
        this.state = S_PLAYING;
        this.underrunFrames = 0;
      }
    }
    if (this.state === S_PLAYING) {
      if (depth.windowDue) {
        const excess = depth.closeWindow(this.jitter.jitterMs);
        if (excess > 0) this.dropSamples(excess * n);
      }
      const frames = this.depthOut() / n;
      depth.observe(frames);
      if (frames > this.maxDepthFrames) this.dropSamples(Math.floor((frames - depth.target) * n));
    }

    const slots = this.slots;
    const fifo = this.fifo;
    while (fifo.count < n) {
      if (this.state === S_PLAYING) {
        if (this.base <= this.seqs.highest) {
          const idx = slots.index(this.base);
          if (slots.holds(idx, this.base)) {
            this.playSlot(idx, this.base);
            this.base++;
            this.owed = 0;
            this.consumedSinceReset = true;
          } else if (this.owed > 0) {
            // Already covered by the concealment played while the buffer was dry.
            this.owed--;
            this.lost++;
            this.base++;
          } else {
            this.conceal(this.streamFrameOut);
            this.lost++;
            this.base++;
            this.consumedSinceReset = true;
          }
          continue;
        }
        this.state = S_REBUFFER;
        this.underrunFrames = 0;
        depth.raise();
      }
      this.conceal(this.streamFrameOut);
      this.owed++;
    }

    fifo.readInto(dst, n, info);
    if (info.concealed) {
      this.misses++;
      depth.event();
    }
    if (this.state !== S_PREBUFFER) depth.counted();
    if (this.state === S_REBUFFER && ++this.underrunFrames >= this.idleAfterFrames) this.goIdle();
    return info;
  }

  /** Statistics snapshot (a fresh object). */
  stats(): PlayoutStats {
    const depth = this.depthOut();
    return {
      received: this.received,
      lost: this.lost,
      late: this.late,
      duplicate: this.duplicate,
      outOfOrder: this.outOfOrder,
      concealedSamples: this.decoder.concealedSamples,
      misses: this.misses,
      depthFrames: depth / this.frameSamples,
      depthSamples: depth * this.channels,
      targetDepthFrames: this.depth.target,
      jitterMs: this.jitter.jitterMs,
      lastSeq: !this.started || this.received === 0 ? -1 : wireSeq(this.seqs.highest),
      resets: this.resets,
      droppedSamples: this.droppedSamples,
      trimmedSamples: this.trimmedSamples,
      decodeErrors: this.decoder.decodeErrors,
      bytesReceived: this.bytesReceived,
      state: STATE_NAMES[this.state],
    };
  }

  /** Forgets every packet and the stream position (e.g. the sender reconnected); counted in `resets`. */
  reset(): void {
    this.restart();
  }

  // ---- internals ----

  /** Samples per channel of time buffered: decoded samples plus the span of seqs still to play. */
  private depthOut(): number {
    const span = this.seqs.highest - this.base + 1;
    return this.fifo.count + (span > 0 ? span * this.streamFrameOut : 0);
  }

  private restart(): void {
    this.resets++;
    this.slots.clear();
    this.started = false;
    this.consumedSinceReset = false;
    this.state = S_PREBUFFER;
    this.owed = 0;
    this.underrunFrames = 0;
    this.rejectRun = 0;
    this.lastRejected = NaN;
    this.fifo.clear();
    this.decoder.reset();
    this.jitter.restartClock();
    this.seqs.reset();
  }

  private goIdle(): void {
    this.state = S_PREBUFFER;
    this.owed = 0;
    this.underrunFrames = 0;
    this.fifo.clear();
  }

  /** Starting to play: seqs missing at the very front while there is more than enough are not worth concealing. */
  private skipLeadingGaps(): void {
    const n = this.frameSamples;
    const slots = this.slots;
    while (this.base < this.seqs.highest && this.depthOut() > this.depth.target * n) {
      if (slots.holds(slots.index(this.base), this.base)) break;
      this.lost++;
      this.base++;
    }
  }

  /**
   * Starting to play with more than the target buffered (packets that queued while the clock was not yet running,
   * or a burst; profile 'mixer'): nothing has been played, so the oldest whole packets are skipped, not decoded, down
   * to the target — latency starts at the target instead of waiting for window-by-window trims. Counted in droppedSamples.
   */
  private skipLeadingExcess(): void {
    const n = this.frameSamples;
    const slots = this.slots;
    if (this.fifo.count !== 0) return;
    while (this.base < this.seqs.highest && this.depthOut() - this.streamFrameOut >= this.depth.target * n) {
      const idx = slots.index(this.base);
      if (slots.holds(idx, this.base)) {
        this.droppedSamples += slots.frames[idx];
        slots.release(idx);
      }
      this.base++;
      this.skipLeadingGaps();
    }
  }

  /** Rebuffering: skip slots whose time the concealment already covered and whose packet is not here. */
  private skipOwed(): void {
    const slots = this.slots;
    while (this.owed > 0 && this.base < this.seqs.highest) {
      if (slots.holds(slots.index(this.base), this.base)) break;
      this.owed--;
      this.lost++;
      this.base++;
    }
  }

  /** Moves `base` forward to `to`, dropping waiting packets (received past capacity) and counting gaps lost. */
  private advanceBase(to: number): void {
    const slots = this.slots;
    while (this.base < to) {
      const idx = slots.index(this.base);
      if (slots.holds(idx, this.base)) {
        this.droppedSamples += slots.frames[idx];
        slots.release(idx);
      } else {
        this.lost++;
      }
      this.base++;
    }
    if (this.seqs.highest < this.base - 1) this.seqs.anchor(this.base - 1);
  }

  /** A latency trim of k samples per channel (counted in trimmedSamples as well as droppedSamples). */
  private dropSamples(k: number): void {
    const before = this.droppedSamples;
    this.cut(k);
    this.trimmedSamples += this.droppedSamples - before;
  }

  /**
   * Shortens the stream by k/2 … k samples per channel (at most 10 ms short of k) without a click: the audio
   * that would have played next is cross-faded into the audio after the cut, at the cut length where the two match
   * best (crossfade.ts). Falls back to a plain cut when too little is decoded or buffered to search.
   */
  private cut(k: number): void {
    // 'frames' needs every packet to be one output frame and the next frame to start at a packet boundary (nothing
    // decoded waiting); otherwise frames do not map to packets, an event stream cannot describe them anyway, and a
    // postponed trim might wait forever: splice.
    const fifo = this.fifo;
    if (this.trimFrames && this.streamFrameOut === this.frameSamples && fifo.count === 0) {
      this.dropFrames(Math.floor(k / this.frameSamples));
      return;
    }
    const W = this.spliceW;
    const C = this.channels;
    this.fillFifo(W);
    if (fifo.count < W) {
      this.dropAbrupt(k);
      return;
    }
    const head = this.spliceHead;
    head.set(fifo.buf.subarray(fifo.read * C, (fifo.read + W) * C));
    // The cut is searched in [k − min(10 ms, k/2), k]: never longer than asked, so the depth never falls below target.
    const bulk = Math.max(0, k - Math.min(this.spliceSearch, Math.floor(k / 2)));
    this.dropAbrupt(bulk);
    const oMax = k - bulk;
    this.fillFifo(oMax + W);
    const oHi = Math.min(oMax, fifo.count - W);
    if (oHi < 0) {
      this.dropAbrupt(k - bulk);
      return;
    }
    const best = bestCut(fifo.buf, fifo.read * C, head, W, C, 0, oHi);
    fifo.discard(best);
    this.droppedSamples += best;
    crossfade(head, 0, fifo.buf, fifo.read * C, W, C);
  }

  /**
   * The 'frames' trim: drops up to `frames` whole packets from the front, and only packets that are here, one output
   * frame long, and followed by one that is too (the next to play) — fewer, or none, otherwise; a later window
   * trims the rest. The dropped packets are decoded (libopus' state stays in order, as in dropAbrupt) and thrown
   * away; the next packet is decoded and the first F = frameTrimFadeSamples() samples of the first dropped packet
   * (the audio that would have played next) fade into it (crossfade.ts) — the splice's arithmetic at a cut fixed by
   * the packets alone, so the frame's seq is all an event stream needs.
   */
  private dropFrames(frames: number): void {
    const n = this.frameSamples;
    let m = 0;
    while (m < frames && this.wholeFrameAt(this.base + m) && this.wholeFrameAt(this.base + m + 1)) m++;
    if (m === 0) return;
    const W = frameTrimFadeSamples(this.sampleRate, n);
    const C = this.channels;
    const head = this.spliceHead;
    const fifo = this.fifo;
    const slots = this.slots;
    for (let j = 0; j < m; j++) {
      this.playSlot(slots.index(this.base), this.base);
      this.base++;
      if (j === 0) head.set(fifo.buf.subarray(fifo.read * C, (fifo.read + Math.min(W, fifo.count)) * C));
      this.droppedSamples += fifo.count;
      fifo.discard(fifo.count);
    }
    this.playSlot(slots.index(this.base), this.base);
    this.base++;
    this.owed = 0;
    this.consumedSinceReset = true;
    crossfade(head, 0, fifo.buf, fifo.read * C, W, C, Math.min(W, fifo.count));
  }

  /** Packet `u` is here and one output frame long. */
  private wholeFrameAt(u: number): boolean {
    if (u > this.seqs.highest) return false;
    const slots = this.slots;
    const idx = slots.index(u);
    return slots.holds(idx, u) && slots.frames[idx] === this.frameSamples;
  }

  /** Decodes waiting packets, in order, until `need` samples per channel are decoded; stops at a gap (never conceals). */
  private fillFifo(need: number): void {
    const slots = this.slots;
    while (this.fifo.count < need && this.base <= this.seqs.highest) {
      const idx = slots.index(this.base);
      if (!slots.holds(idx, this.base)) return;
      this.playSlot(idx, this.base);
      this.base++;
      this.owed = 0;
      this.consumedSinceReset = true;
    }
  }

  /** Throws away `k` samples per channel from the front: decoded first, then packets (Opus decoded, to keep its state in order). */
  private dropAbrupt(k: number): void {
    const fifo = this.fifo;
    const slots = this.slots;
    while (k > 0) {
      if (fifo.count > 0) {
        const t = Math.min(k, fifo.count);
        fifo.discard(t);
        this.droppedSamples += t;
        k -= t;
        continue;
      }
      if (this.base > this.seqs.highest) return;
      const idx = slots.index(this.base);
      if (slots.holds(idx, this.base)) {
        if (slots.codec[idx] !== Codec.OPUS && slots.frames[idx] <= k) {
          this.droppedSamples += slots.frames[idx];
          k -= slots.frames[idx];
          slots.release(idx);
        } else {
          this.playSlot(idx, this.base);
        }
        this.consumedSinceReset = true;
      } else {
        this.lost++;
        k -= this.streamFrameOut;
      }
      this.base++;
    }
  }

  /** Decodes the packet in slot `idx` (seq `u`) into the fifo. */
  private playSlot(idx: number, u: number): void {
    const slots = this.slots;
    const data = slots.data[idx] as Buffer;
    slots.release(idx);
    this.decoder.decode(data, slots.codec[idx], slots.channels[idx], slots.frames[idx], u, this.streamCodec);
  }

  /** Makes up `frames` samples per channel of the current stream. */
  private conceal(frames: number): void {
    this.decoder.conceal(frames, this.streamCodec);
  }
}

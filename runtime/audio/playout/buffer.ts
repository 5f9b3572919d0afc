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
// (options.ts) by trim.ts. The position in the slots is the play head (playhead.ts), which the trims move too.
//
// Sample rate: Opus streams decode at the output rate whatever rate they were encoded at (libopus does that for
// free), so the output rate must be an Opus rate to play Opus. PCM at another rate is refused with
// PlayoutFormatError — resampling is the resample node's job. Decoding, channels and concealment: decode.ts.
import { Codec, codecOf } from '../../codec';
import { SeqUnwrapper, wireSeq } from '../../seq';
import { Rfc3550Jitter } from '../../jitter';
import { PacketDecoder } from './decode';
import { DepthControl } from './depth';
import { SampleFifo } from './fifo';
import { PlayHead } from './playhead';
import { PacketSlots } from './slots';
import { LatencyTrim } from './trim';
import type { PlayoutEventListener } from './events';
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
  private readonly startAtTarget: boolean;
  private readonly idleAfterFrames: number;
  private readonly restartAfterRejected: number;

  private readonly slots: PacketSlots;
  private readonly fifo: SampleFifo;
  private readonly depth: DepthControl;
  /** Unwraps wire seqs; its `highest` is the highest unwrapped seq received (base - 1 when none is waiting yet). */
  private readonly seqs = new SeqUnwrapper();

  private started = false;
  private readonly head: PlayHead;
  private readonly trim: LatencyTrim;
  private state = S_PREBUFFER;
  private underrunFrames = 0;
  private rejectRun = 0;
  private lastRejected = NaN;

  private readonly decoder: PacketDecoder;
  // RFC 3550 jitter against the media clock: seq × frame duration, counted from a reference seq.
  private readonly jitter = new Rfc3550Jitter();
  private jitterRefSeq = 0;

  private received = 0;
  private late = 0;
  private duplicate = 0;
  private outOfOrder = 0;
  private misses = 0;
  private resets = 0;
  private bytesReceived = 0;

  private readonly info: PullInfo = { seq: null, wireSeq: null, concealed: false, arrival: null };

  constructor(opts: PlayoutOptions) {
    const o = resolvePlayoutOptions(opts);
    this.sampleRate = o.sampleRate;
    this.channels = o.channels;
    this.frameSamples = o.frameSamples;
    this.maxDepthFrames = o.maxDepthFrames;
    this.minDepthFrames = o.minDepthFrames;
    this.adaptive = o.adaptive;
    this.profile = o.profile;
    this.startAtTarget = o.startAtTarget;
    this.restartAfterRejected = o.restartAfterRejected;
    const frameMs = (this.frameSamples * 1000) / this.sampleRate;
    this.idleAfterFrames = Math.max(1, Math.ceil(o.idleAfterMs / frameMs));
    this.depth = new DepthControl({
      targetDepthFrames: o.targetDepthFrames, minDepthFrames: o.minDepthFrames, maxDepthFrames: o.maxDepthFrames, adaptive: o.adaptive,
      lowerAfterWindows: o.lowerAfterWindows, windowFrames: Math.max(1, Math.round(o.adaptWindowMs / frameMs)), frameMs, trimAll: o.trimAll,
    });

    // Enough slots for maxDepth of the shortest packets taken — 1 ms (AES67's L24 over RTP; Opus' shortest is
    // 2.5 ms) — twice over for late/duplicate memory.
    this.slots = new PacketSlots(Math.ceil((this.maxDepthFrames * this.frameSamples) / Math.max(1, this.sampleRate / 1000)) * 2);
    this.fifo = new SampleFifo(this.channels, this.frameSamples + Math.ceil((this.sampleRate * 120) / 1000) + 16);
    this.decoder = new PacketDecoder(this.fifo, this.sampleRate, this.channels, this.frameSamples);
    this.head = new PlayHead(this.slots, this.fifo, this.decoder, this.seqs, this.frameSamples);
    this.trim = new LatencyTrim(this.head, this.fifo, this.slots, { sampleRate: this.sampleRate, channels: this.channels, frameSamples: this.frameSamples, wholeFrames: o.trim === 'frames' });
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
      this.head.base = u;
      this.seqs.anchor(u - 1);
    }

    if (u < this.head.base) {
      if (this.state === S_PREBUFFER && !this.head.consumed && this.seqs.highest - u < slots.cap) {
        // Nothing has been played yet: an earlier packet simply moves the start back.
        this.head.base = u;
      } else {
        // A sender that restarted its count from a lower number looks like a run of late/duplicate packets.
        this.rejectRun = u === this.lastRejected + 1 ? this.rejectRun + 1 : 1;
        this.lastRejected = u;
        if (this.rejectRun < this.restartAfterRejected) {
          this.depth.event();
          if (slots.seq[slots.index(u)] === u) {
            this.duplicate++;
            this.head.events.one('duplicate', u);
            return 'duplicate';
          }
          this.late++;
          // Its slot was played without it and counted lost; it came after all, so the gap is filled (late, not lost).
          const filled = this.head.unmiss();
          this.head.events.one('late', u, filled);
          this.depth.raise();
          return 'late';
        }
        this.restart();
        this.started = true;
        this.head.base = u;
        this.seqs.anchor(u - 1);
      }
    }
    const idx = slots.index(u);
    if (slots.holds(idx, u)) {
      this.duplicate++;
      this.head.events.one('duplicate', u);
      return 'duplicate';
    }
    this.rejectRun = 0;
    if (this.state === S_PREBUFFER && this.head.consumed && slots.pending === 0 && u > this.head.base) {
      // The stream went idle and comes back further on: the seqs in between are gone for good.
      this.head.missRange(this.head.base, u - this.head.base);
      this.head.base = u;
    }
    if (u - this.head.base >= slots.cap) this.advanceBase(u - slots.cap + 1);

    slots.put(idx, u, data, codec, h.channels, framesOut, arrivalMicros);
    this.received++;
    this.bytesReceived += data.length;
    if (u < this.seqs.highest) {
      this.outOfOrder++;
      this.head.events.one('out-of-order', u);
    }
    if (u >= this.seqs.highest) {
      this.seqs.advance(u);
      this.head.streamCodec = codec;
      this.head.streamFrameOut = framesOut;
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
    return { pcm: Buffer.from(out.buffer, 0, out.byteLength), seq: i.seq, wireSeq: i.wireSeq, concealed: i.concealed, arrival: i.arrival };
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
    info.arrival = null;
    const depth = this.depth;
    depth.beginPull();
    this.head.events.beginPull();

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
        if (excess > 0) this.trim.trim(excess * n);
      }
      const frames = this.depthOut() / n;
      depth.observe(frames);
      if (frames > this.maxDepthFrames) this.trim.trim(Math.floor((frames - depth.target) * n));
    }

    const slots = this.slots;
    const fifo = this.fifo;
    const head = this.head;
    while (fifo.count < n) {
      if (this.state === S_PLAYING) {
        if (head.base <= this.seqs.highest) {
          const idx = slots.index(head.base);
          if (slots.holds(idx, head.base)) {
            head.playNext(idx);
          } else if (head.owed > 0) {
            // Already covered by the concealment played while the buffer was dry.
            head.owed--;
            head.miss(head.base);
            head.base++;
          } else {
            this.conceal(head.streamFrameOut);
            head.miss(head.base);
            head.base++;
            head.consumed = true;
          }
          continue;
        }
        this.state = S_REBUFFER;
        this.underrunFrames = 0;
        depth.raise();
      }
      this.conceal(head.streamFrameOut);
      head.owed++;
    }

    fifo.readInto(dst, n, info);
    if (info.seq !== null) {
      // The packet's slot keeps its seq and arrival after it is played, until a packet slots.cap later takes it.
      const idx = slots.index(info.seq);
      if (slots.seq[idx] === info.seq) info.arrival = slots.arrival[idx];
    }
    if (info.concealed) {
      this.misses++;
      depth.event();
    }
    if (this.state !== S_PREBUFFER) depth.counted();
    if (this.state === S_REBUFFER && ++this.underrunFrames >= this.idleAfterFrames) this.goIdle();
    this.head.events.endPull();
    return info;
  }

  /** Statistics snapshot (a fresh object). */
  stats(): PlayoutStats {
    const depth = this.depthOut();
    return {
      received: this.received,
      lost: this.head.lost,
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
      droppedSamples: this.head.droppedSamples,
      trimmedSamples: this.trim.trimmedSamples,
      decodeErrors: this.decoder.decodeErrors,
      bytesReceived: this.bytesReceived,
      state: STATE_NAMES[this.state],
    };
  }

  /**
   * Sets the listener of sequence events (events.ts: duplicate, out-of-order, missing, late — each raised where the
   * count it stands for moves), or removes it with null. Without one the buffer does no event work.
   */
  setEventListener(listener: PlayoutEventListener | null): void {
    this.head.events.setListener(listener);
  }

  /** Says a missing run still open (events.ts), so that the events so far add up to stats(). */
  flushEvents(): void {
    this.head.events.flush();
  }

  /** Forgets every packet and the stream position (e.g. the sender reconnected); counted in `resets`. */
  reset(): void {
    this.restart();
  }

  // ---- internals ----

  /** Samples per channel of time buffered: decoded samples plus the span of seqs still to play. */
  private depthOut(): number {
    const span = this.seqs.highest - this.head.base + 1;
    return this.fifo.count + (span > 0 ? span * this.head.streamFrameOut : 0);
  }

  private restart(): void {
    this.head.events.flush();
    this.resets++;
    this.slots.clear();
    this.started = false;
    this.head.consumed = false;
    this.state = S_PREBUFFER;
    this.head.owed = 0;
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
    this.head.owed = 0;
    this.underrunFrames = 0;
    this.fifo.clear();
  }

  /** Starting to play: seqs missing at the very front while there is more than enough are not worth concealing. */
  private skipLeadingGaps(): void {
    const n = this.frameSamples;
    const slots = this.slots;
    while (this.head.base < this.seqs.highest && this.depthOut() > this.depth.target * n) {
      if (slots.holds(slots.index(this.head.base), this.head.base)) break;
      this.head.miss(this.head.base);
      this.head.base++;
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
    while (this.head.base < this.seqs.highest && this.depthOut() - this.head.streamFrameOut >= this.depth.target * n) {
      const idx = slots.index(this.head.base);
      if (slots.holds(idx, this.head.base)) {
        this.head.droppedSamples += slots.frames[idx];
        slots.release(idx);
      }
      this.head.base++;
      this.skipLeadingGaps();
    }
  }

  /** Rebuffering: skip slots whose time the concealment already covered and whose packet is not here. */
  private skipOwed(): void {
    const slots = this.slots;
    while (this.head.owed > 0 && this.head.base < this.seqs.highest) {
      if (slots.holds(slots.index(this.head.base), this.head.base)) break;
      this.head.owed--;
      this.head.miss(this.head.base);
      this.head.base++;
    }
  }

  /** Moves `base` forward to `to`, dropping waiting packets (received past capacity) and counting gaps lost. */
  private advanceBase(to: number): void {
    const slots = this.slots;
    while (this.head.base < to) {
      const idx = slots.index(this.head.base);
      if (slots.holds(idx, this.head.base)) {
        this.head.droppedSamples += slots.frames[idx];
        slots.release(idx);
      } else {
        this.head.miss(this.head.base);
      }
      this.head.base++;
    }
    if (this.seqs.highest < this.head.base - 1) this.seqs.anchor(this.head.base - 1);
  }

  /** Makes up `frames` samples per channel of the current stream. */
  private conceal(frames: number): void {
    this.decoder.conceal(frames, this.head.streamCodec);
  }
}

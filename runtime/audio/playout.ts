// The playout (jitter) buffer: where a network stream meets a local clock — reorders, decodes, conceals and counts.
//
// One instance per stream (each mixer track, the speaker, the recorder). push() files packets by unwrapped sequence
// number; pull() is called once per output frame by the local clock and never blocks: it always returns a frame.
//
// States:
//   prebuffering — nothing is played until targetDepthFrames are buffered; silence out, not counted as a miss.
//   playing      — packets are decoded in sequence order; a missing one is concealed (Opus PLC, or a faded repeat
//                  of the last frame for PCM) and counted lost.
//   rebuffering  — the buffer ran dry: concealment out (counted as misses) until the depth is back at the target.
//                  The time concealed is remembered ("owed"): if the packets of that time never come, their slots
//                  are skipped instead of being concealed a second time. After idleAfterMs of this the stream is
//                  taken as stopped and the buffer goes back to prebuffering (silence, not counted).
//
// Depth is measured in output frames of time: decoded samples waiting plus the span of sequence numbers from the
// next one to play to the highest received (a gap counts: its time will be filled by concealment).
//
// Adaptive depth, after Jamulus' buffer.cpp: the target goes up by one frame on an underrun or a late packet (at most
// once per pulled frame); after lowerAfterWindows windows of adaptWindowMs without a miss or a late packet it comes
// down by one (never below minDepthFrames, nor below twice the measured jitter). Independently of adaptation, when
// the depth stayed above the target for a whole window (sender clock faster, or a burst after a stall), half of the
// excess is dropped, so latency returns to the target; above maxDepthFrames it is dropped at once.
// How it is dropped (option `trim`): 'splice' (default) cuts the length where the audio matches best, with a 5 ms
// cross-fade (dropSamples); 'frames' drops whole packets with a fixed cross-fade, so every output frame still starts at a
// packet boundary and the event stream's one seq per frame describes the trim exactly (dropFrames; the mixer uses it).
//
// Sample rate: Opus streams decode at the output rate whatever rate they were encoded at (libopus does that for
// free), so the output rate must be an Opus rate to play Opus. PCM at another rate is refused with
// PlayoutFormatError — resampling is the resample node's job.
// Channels: a stream's channels are converted to the output's: mono is copied to every output channel, many to
// mono is averaged, otherwise output channel c takes input channel c (silence where there is none).
import { OpusDecoder, OPUS_SAMPLE_RATES } from './opus';
import { Codec, codecBytesPerSample, codecOf, type CodecName } from '../codec';
import { SeqUnwrapper, wireSeq } from '../seq';
import { Rfc3550Jitter } from '../jitter';

export type AudioCodecName = CodecName;

/** What the buffer reads from a packet's header (the flow's msg.audio fits). */
export interface PlayoutHeader {
  /** u32, +1 per frame, wraps at 2^32. */
  seq: number;
  /** µs since epoch at capture; informational here (jitter uses seq × frame duration, the media clock). */
  captureTime?: number;
  codec: AudioCodecName;
  sampleRate: number;
  channels: number;
  /** Samples per channel in this packet, at its sampleRate. */
  frameSamples: number;
  trackId?: number;
}

export interface PlayoutOptions {
  /** Output rate. */
  sampleRate: number;
  /** Output channels (1…8). */
  channels: number;
  /** Samples per channel of every pulled frame. */
  frameSamples: number;
  /** Output frames buffered before play starts, and the adaptive starting point; default 3. */
  targetDepthFrames?: number;
  /** Lowest target adaptation may reach; default 1. */
  minDepthFrames?: number;
  /** Highest target; depth above it is dropped at once; default 50. */
  maxDepthFrames?: number;
  /** Adapt the target to misses and late packets; default true. */
  adaptive?: boolean;
  /** Underrun longer than this means the stream stopped: back to prebuffering, silence not counted; default 300. */
  idleAfterMs?: number;
  /** Length of the window adaptation and latency trimming look at; default 2000. */
  adaptWindowMs?: number;
  /** Calm windows (no miss, no late packet) before the target is lowered by one frame; default 3. */
  lowerAfterWindows?: number;
  /** Consecutive late or duplicate packets with consecutive seqs that mean the sender restarted its count; default 4. */
  restartAfterRejected?: number;
  /**
   * How excess latency is dropped: 'splice' (default) cuts any length, searched for the best match; 'frames' drops
   * whole packets when each is one output frame long and no partial frame is decoded (else it splices), with a
   * cross-fade runtime/events/reconstruct.ts replays bit for bit (see dropFrames).
   */
  trim?: 'splice' | 'frames';
  /**
   * Starting to play (after prebuffering) with more than the target buffered, skip the oldest whole packets down to
   * the target instead of playing them all and trimming window by window; default false. The mixer sets it: a
   * track's packets queue while the mix clock starts, and a burst after a stall should not become seconds of latency.
   */
  startAtTarget?: boolean;
  /**
   * How much of a standing excess (the least depth over a window, above the target) each window drops: 'half'
   * (default, creeping back) or 'all' (the window showed none of it was needed; the mixer's choice — a hub's latency
   * should come back within a window after a burst).
   */
  trimExcess?: 'half' | 'all';
}

export type PushResult = 'ok' | 'late' | 'duplicate';

/** What pullInto() reports about the frame it wrote; the same object is reused by every call. */
export interface PullInfo {
  /** Unwrapped seq of the first packet whose audio is in this frame; null when the frame holds none. */
  seq: number | null;
  /** The same packet's 32-bit wire seq; null likewise. */
  wireSeq: number | null;
  /** Some of the frame was made up (PLC, faded repeat or silence) while playing or rebuffering. */
  concealed: boolean;
}

/** A pulled frame: `pcm` is a fresh Buffer the caller owns (safe to send in a message). */
export interface PulledFrame extends PullInfo {
  pcm: Buffer;
}

/** Counters are cumulative since construction (resets do not clear them). Definitions as in docs/metrics.md. */
export interface PlayoutStats {
  /** Packets accepted into the buffer (not late, not duplicate). */
  received: number;
  /** Sequence gaps never filled: slots played (or skipped) without their packet, less those whose packet came later (counted in `late` instead). */
  lost: number;
  /** Packets that arrived after their slot was played. */
  late: number;
  duplicate: number;
  /** Accepted packets whose seq was below the highest seen. */
  outOfOrder: number;
  /** Samples per channel made up by concealment (PLC, faded repeat or silence while playing). */
  concealedSamples: number;
  /** Pulled frames that contained concealment while playing or rebuffering. */
  misses: number;
  /** Current depth in output frames (may be fractional). */
  depthFrames: number;
  /** Current depth in samples, all channels counted. */
  depthSamples: number;
  targetDepthFrames: number;
  /** RFC 3550 interarrival jitter in ms. */
  jitterMs: number;
  /** Wire seq (u32) of the highest packet received; -1 before any. */
  lastSeq: number;
  /** Sender restarts detected (seq jumps, runs of rejected packets) plus explicit reset() calls. */
  resets: number;
  /** Samples per channel thrown away: latency trims, whole packets skipped at the start of play down to the target
   * (startAtTarget), packets received past capacity. */
  droppedSamples: number;
  /** Of droppedSamples, those the latency trims dropped (the cuts an event stream describes and reconstruct replays). */
  trimmedSamples: number;
  /** Opus packets libopus refused (concealed instead). */
  decodeErrors: number;
  /** Payload bytes of accepted packets. */
  bytesReceived: number;
  state: 'prebuffering' | 'playing' | 'rebuffering';
}

/** A bad option; `field` names it. */
export class PlayoutConfigError extends Error {
  readonly code = 'bad_config';
  constructor(readonly field: string, message: string) {
    super(`playout ${field}: ${message}`);
    this.name = 'PlayoutConfigError';
  }
}

/** A packet whose header or size is malformed; `field` names what is wrong. */
export class PlayoutPacketError extends Error {
  readonly code = 'bad_packet';
  constructor(readonly field: string, message: string) {
    super(`playout packet ${field}: ${message}`);
    this.name = 'PlayoutPacketError';
  }
}

/** A well-formed packet this buffer cannot play (PCM at another sample rate, Opus at a non-Opus output rate). */
export class PlayoutFormatError extends Error {
  readonly code = 'format_mismatch';
  constructor(readonly field: string, message: string) {
    super(`playout ${field}: ${message}`);
    this.name = 'PlayoutFormatError';
  }
}

const TWO32 = 4294967296;
/** 1 / 32768, exactly (2^-15). */
const S16_SCALE = 1 / 32768;
const MAX_CHANNELS = 8;
const S_PREBUFFER = 0, S_PLAYING = 1, S_REBUFFER = 2;
const STATE_NAMES = ['prebuffering', 'playing', 'rebuffering'] as const;
/** Cross-fade of a latency trim, seconds. */
const SPLICE_FADE_S = 0.005;


function intOpt(field: string, v: unknown, def: number, min: number, max: number): number {
  const x = v === undefined ? def : v;
  if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) {
    throw new PlayoutConfigError(field, `must be an integer from ${min} to ${max}, got ${String(x)}`);
  }
  return x;
}

/**
 * Samples of the cross-fade a 'frames' trim makes: 5 ms at `sampleRate`, at most one frame (`frameSamples`). The
 * offline reconstruction (runtime/events/reconstruct.ts) takes it from here, so the two cannot drift apart.
 */
export function frameTrimFadeSamples(sampleRate: number, frameSamples: number): number {
  return Math.min(Math.max(1, Math.round(sampleRate * SPLICE_FADE_S)), frameSamples);
}

function numOpt(field: string, v: unknown, def: number, min: number): number {
  const x = v === undefined ? def : v;
  if (typeof x !== 'number' || !Number.isFinite(x) || x < min) throw new PlayoutConfigError(field, `must be a number ≥ ${min}, got ${String(x)}`);
  return x;
}

/**
 * The checks push() makes on a packet before filing it, for a buffer playing at `outRate`: throws
 * PlayoutPacketError for a malformed header or size, PlayoutFormatError for a stream that cannot play at that rate.
 * Returns the packet's length in samples per channel at the output rate. (The mixer's decode workers check packets
 * on the main thread with it, so errors are thrown where push() would throw them.)
 */
export function checkPlayoutPacket(h: PlayoutHeader, data: Buffer, outRate: number): number {
  if (!h || typeof h !== 'object') throw new PlayoutPacketError('header', 'missing');
  const seq = h.seq;
  if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0 || seq >= TWO32) throw new PlayoutPacketError('seq', `must be a u32, got ${String(seq)}`);
  const codec = codecOf(h.codec);
  if (codec === -1) throw new PlayoutPacketError('codec', `must be opus, pcm_f32le or pcm_s16le, got ${String(h.codec)}`);
  const ch = h.channels;
  if (typeof ch !== 'number' || !Number.isInteger(ch) || ch < 1 || ch > MAX_CHANNELS) throw new PlayoutPacketError('channels', `must be 1…${MAX_CHANNELS}, got ${String(ch)}`);
  const fs = h.frameSamples;
  if (typeof fs !== 'number' || !Number.isInteger(fs) || fs < 1 || fs > 65535) throw new PlayoutPacketError('frameSamples', `must be 1…65535, got ${String(fs)}`);
  const rate = h.sampleRate;
  if (typeof rate !== 'number' || !Number.isInteger(rate) || rate < 1) throw new PlayoutPacketError('sampleRate', `must be a positive integer, got ${String(rate)}`);
  if (!Buffer.isBuffer(data)) throw new PlayoutPacketError('data', 'must be a Buffer');
  if (codec === Codec.OPUS) {
    if (ch > 2) throw new PlayoutPacketError('channels', `Opus carries 1 or 2 channels, got ${ch}`);
    if (data.length === 0) throw new PlayoutPacketError('data', 'empty Opus packet');
    if (!OPUS_SAMPLE_RATES.includes(outRate)) {
      throw new PlayoutFormatError('sampleRate', `cannot decode Opus at ${outRate} Hz (Opus rates: ${OPUS_SAMPLE_RATES.join(', ')}); play at an Opus rate and resample after`);
    }
    const framesOut = (fs * outRate) / rate;
    if (!Number.isInteger(framesOut)) throw new PlayoutPacketError('frameSamples', `${fs} samples at ${rate} Hz is not a whole number of samples at ${outRate} Hz`);
    return framesOut;
  }
  if (rate !== outRate) {
    throw new PlayoutFormatError('sampleRate', `stream is ${rate} Hz, this buffer plays at ${outRate} Hz; put a resample node in front`);
  }
  const expect = fs * ch * codecBytesPerSample(codec);
  if (data.length !== expect) throw new PlayoutPacketError('data', `${h.codec} of ${fs} samples × ${ch} channels is ${expect} bytes, got ${data.length}`);
  return fs;
}

export class PlayoutBuffer {
  readonly sampleRate: number;
  readonly channels: number;
  readonly frameSamples: number;
  readonly minDepthFrames: number;
  readonly maxDepthFrames: number;
  readonly adaptive: boolean;
  readonly trim: 'splice' | 'frames';
  readonly startAtTarget: boolean;
  private readonly trimAll: boolean;
  private readonly idleAfterFrames: number;
  private readonly windowFrames: number;
  private readonly lowerAfterWindows: number;
  private readonly restartAfterRejected: number;
  private readonly frameMs: number;

  // Packet slots, a ring indexed by unwrapped seq mod cap. slotSeq keeps the seq after the packet is played,
  // which is how a packet older than `base` is told apart as duplicate (it was here) or late (it never was).
  private readonly cap: number;
  private readonly slotSeq: Float64Array;
  private readonly slotData: (Buffer | null)[];
  private readonly slotCodec: Uint8Array;
  private readonly slotChannels: Uint8Array;
  private readonly slotFrames: Int32Array;
  private pendingCount = 0;

  private started = false;
  /** Unwrapped seq of the next slot to play. */
  private base = 0;
  /** Unwraps wire seqs; its `highest` is the highest unwrapped seq received (base - 1 when none is waiting yet). */
  private readonly seqs = new SeqUnwrapper();
  private consumedSinceReset = false;
  private state = S_PREBUFFER;
  private owed = 0;
  private underrunFrames = 0;
  private rejectRun = 0;
  private lastRejected = NaN;
  private target: number;

  // Last stream format seen (for concealment and depth of gaps), frame size at the output rate.
  private streamCodec: Codec = Codec.OPUS;
  private streamFrameOut: number;

  // Decoded samples waiting, interleaved at the output channel count; a ring of frames.
  private fifo: Float32Array;
  private fifoCap: number;
  private fifoRead = 0;
  private fifoCount = 0;
  // Which packet each run of samples in the fifo came from (NaN: concealment), for PullInfo.seq.
  private segSeq: Float64Array;
  private segLen: Int32Array;
  private segHead = 0;
  private segCount = 0;

  private decoder: OpusDecoder | null = null;
  // PCM concealment: the last frame played, repeated once with a fade to silence.
  private lastFrame: Float32Array;
  private lastFrameLen = 0;
  private concealRun = 0;
  private readonly tmp = new Float32Array(256);
  // Latency trimming splices: 5 ms cross-fade, cut length searched over up to 10 ms.
  private readonly spliceW: number;
  private readonly spliceSearch: number;
  private readonly spliceHead: Float32Array;

  // RFC 3550 jitter against the media clock: seq × frame duration, counted from a reference seq.
  private readonly jitter = new Rfc3550Jitter();
  private jitterRefSeq = 0;

  // Adaptation window.
  private windowPulls = 0;
  private windowMinDepth = Infinity;
  private windowEvents = 0;
  private calmWindows = 0;
  private raisedThisPull = false;

  private received = 0;
  private lost = 0;
  private late = 0;
  private duplicate = 0;
  private outOfOrder = 0;
  private concealedSamples = 0;
  private misses = 0;
  private resets = 0;
  private droppedSamples = 0;
  private trimmedSamples = 0;
  private decodeErrors = 0;
  private bytesReceived = 0;

  private readonly info: PullInfo = { seq: null, wireSeq: null, concealed: false };

  constructor(opts: PlayoutOptions) {
    const o = opts ?? ({} as PlayoutOptions);
    this.sampleRate = intOpt('sampleRate', o.sampleRate, NaN, 1000, 768000);
    this.channels = intOpt('channels', o.channels, NaN, 1, MAX_CHANNELS);
    this.frameSamples = intOpt('frameSamples', o.frameSamples, NaN, 1, 65535);
    this.maxDepthFrames = intOpt('maxDepthFrames', o.maxDepthFrames, 50, 1, 10000);
    this.minDepthFrames = intOpt('minDepthFrames', o.minDepthFrames, 1, 0, this.maxDepthFrames);
    this.target = intOpt('targetDepthFrames', o.targetDepthFrames, Math.min(3, this.maxDepthFrames), this.minDepthFrames, this.maxDepthFrames);
    this.adaptive = o.adaptive ?? true;
    const trim = o.trim ?? 'splice';
    if (trim !== 'splice' && trim !== 'frames') throw new PlayoutConfigError('trim', `must be 'splice' or 'frames', got ${String(o.trim)}`);
    this.trim = trim;
    this.startAtTarget = o.startAtTarget === true;
    const te = o.trimExcess ?? 'half';
    if (te !== 'half' && te !== 'all') throw new PlayoutConfigError('trimExcess', `must be 'half' or 'all', got ${String(o.trimExcess)}`);
    this.trimAll = te === 'all';
    this.restartAfterRejected = intOpt('restartAfterRejected', o.restartAfterRejected, 4, 1, 1 << 30);
    this.lowerAfterWindows = intOpt('lowerAfterWindows', o.lowerAfterWindows, 3, 1, 1 << 30);
    this.frameMs = (this.frameSamples * 1000) / this.sampleRate;
    this.idleAfterFrames = Math.max(1, Math.ceil(numOpt('idleAfterMs', o.idleAfterMs, 300, 0) / this.frameMs));
    this.windowFrames = Math.max(1, Math.round(numOpt('adaptWindowMs', o.adaptWindowMs, 2000, 1) / this.frameMs));

    // Enough slots for maxDepth of the shortest Opus frames (2.5 ms), twice over for late/duplicate memory.
    const slotsNeeded = Math.ceil((this.maxDepthFrames * this.frameSamples) / Math.max(1, this.sampleRate / 400)) * 2;
    let cap = 256;
    while (cap < slotsNeeded) cap *= 2;
    this.cap = cap;
    this.slotSeq = new Float64Array(cap).fill(NaN);
    this.slotData = new Array<Buffer | null>(cap).fill(null);
    this.slotCodec = new Uint8Array(cap);
    this.slotChannels = new Uint8Array(cap);
    this.slotFrames = new Int32Array(cap);

    this.streamFrameOut = this.frameSamples;
    this.fifoCap = this.frameSamples + Math.ceil((this.sampleRate * 120) / 1000) + 16;
    this.fifo = new Float32Array(this.fifoCap * this.channels);
    this.segSeq = new Float64Array(64);
    this.segLen = new Int32Array(64);
    this.lastFrame = new Float32Array(this.frameSamples * this.channels);
    this.spliceW = Math.max(1, Math.round(this.sampleRate * SPLICE_FADE_S));
    this.spliceSearch = Math.max(1, Math.round(this.sampleRate * 0.01));
    this.spliceHead = new Float32Array(this.spliceW * this.channels);
  }

  get targetDepthFrames(): number {
    return this.target;
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
    const ch = h.channels;
    const fs = h.frameSamples;
    const rate = h.sampleRate;

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
      if (this.state === S_PREBUFFER && !this.consumedSinceReset && this.seqs.highest - u < this.cap) {
        // Nothing has been played yet: an earlier packet simply moves the start back.
        this.base = u;
      } else {
        // A sender that restarted its count from a lower number looks like a run of late/duplicate packets.
        this.rejectRun = u === this.lastRejected + 1 ? this.rejectRun + 1 : 1;
        this.lastRejected = u;
        if (this.rejectRun < this.restartAfterRejected) {
          this.windowEvents++;
          if (this.slotSeq[this.slot(u)] === u) {
            this.duplicate++;
            return 'duplicate';
          }
          this.late++;
          // Its slot was played without it and counted lost; it came after all, so the gap is filled (late, not lost).
          if (this.lost > 0) this.lost--;
          this.raiseTarget();
          return 'late';
        }
        this.restart();
        this.started = true;
        this.base = u;
        this.seqs.anchor(u - 1);
      }
    }
    const idx = this.slot(u);
    if (this.slotSeq[idx] === u && this.slotData[idx] !== null) {
      this.duplicate++;
      return 'duplicate';
    }
    this.rejectRun = 0;
    if (this.state === S_PREBUFFER && this.consumedSinceReset && this.pendingCount === 0 && u > this.base) {
      // The stream went idle and comes back further on: the seqs in between are gone for good.
      this.lost += u - this.base;
      this.base = u;
    }
    if (u - this.base >= this.cap) this.advanceBase(u - this.cap + 1);

    this.slotSeq[idx] = u;
    this.slotData[idx] = data;
    this.slotCodec[idx] = codec;
    this.slotChannels[idx] = ch;
    this.slotFrames[idx] = framesOut;
    this.pendingCount++;
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
    this.jitter.update(arrivalMicros, ((u - this.jitterRefSeq) * fs * 1e6) / rate);
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
    this.raisedThisPull = false;

    if (this.state === S_PREBUFFER) {
      if (!this.started || this.depthOut() < this.target * n) {
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
      if (this.depthOut() >= this.target * n) {
        this.state = S_PLAYING;
        this.underrunFrames = 0;
      }
    }
    if (this.state === S_PLAYING) {
      if (this.windowPulls >= this.windowFrames) this.closeWindow();
      const depth = this.depthOut() / n;
      if (depth < this.windowMinDepth) this.windowMinDepth = depth;
      if (depth > this.maxDepthFrames) this.dropSamples(Math.floor((depth - this.target) * n));
    }

    while (this.fifoCount < n) {
      if (this.state === S_PLAYING) {
        if (this.base <= this.seqs.highest) {
          const idx = this.slot(this.base);
          if (this.slotData[idx] !== null && this.slotSeq[idx] === this.base) {
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
        this.raiseTarget();
      }
      this.conceal(this.streamFrameOut);
      this.owed++;
    }

    this.readFifo(dst, n, info);
    if (info.concealed) {
      this.misses++;
      this.windowEvents++;
    }
    if (this.state !== S_PREBUFFER) this.windowPulls++;
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
      concealedSamples: this.concealedSamples,
      misses: this.misses,
      depthFrames: depth / this.frameSamples,
      depthSamples: depth * this.channels,
      targetDepthFrames: this.target,
      jitterMs: this.jitter.jitterMs,
      lastSeq: !this.started || this.received === 0 ? -1 : wireSeq(this.seqs.highest),
      resets: this.resets,
      droppedSamples: this.droppedSamples,
      trimmedSamples: this.trimmedSamples,
      decodeErrors: this.decodeErrors,
      bytesReceived: this.bytesReceived,
      state: STATE_NAMES[this.state],
    };
  }

  /** Forgets every packet and the stream position (e.g. the sender reconnected); counted in `resets`. */
  reset(): void {
    this.restart();
  }

  // ---- internals ----

  private slot(u: number): number {
    const i = u % this.cap;
    return i < 0 ? i + this.cap : i;
  }

  /** Samples per channel of time buffered: decoded samples plus the span of seqs still to play. */
  private depthOut(): number {
    const span = this.seqs.highest - this.base + 1;
    return this.fifoCount + (span > 0 ? span * this.streamFrameOut : 0);
  }

  private restart(): void {
    this.resets++;
    for (let i = 0; i < this.cap; i++) {
      this.slotData[i] = null;
      this.slotSeq[i] = NaN;
    }
    this.pendingCount = 0;
    this.started = false;
    this.consumedSinceReset = false;
    this.state = S_PREBUFFER;
    this.owed = 0;
    this.underrunFrames = 0;
    this.rejectRun = 0;
    this.lastRejected = NaN;
    this.fifoRead = 0;
    this.fifoCount = 0;
    this.segHead = 0;
    this.segCount = 0;
    this.decoder = null;
    this.lastFrameLen = 0;
    this.concealRun = 0;
    this.jitter.restartClock();
    this.seqs.reset();
  }

  private goIdle(): void {
    this.state = S_PREBUFFER;
    this.owed = 0;
    this.underrunFrames = 0;
    this.fifoRead = 0;
    this.fifoCount = 0;
    this.segHead = 0;
    this.segCount = 0;
  }

  private raiseTarget(): void {
    if (!this.adaptive || this.raisedThisPull || this.target >= this.maxDepthFrames) return;
    this.target++;
    this.raisedThisPull = true;
    this.calmWindows = 0;
  }

  private closeWindow(): void {
    if (this.adaptive) {
      if (this.windowEvents === 0) this.calmWindows++;
      else this.calmWindows = 0;
      if (this.calmWindows >= this.lowerAfterWindows && this.target > this.minDepthFrames && (this.target - 1) * this.frameMs >= 2 * this.jitter.jitterMs) {
        this.target--;
        this.calmWindows = 0;
      }
    }
    const excess = this.windowMinDepth - this.target;
    if (Number.isFinite(excess) && excess >= 1) this.dropSamples((this.trimAll ? Math.floor(excess) : Math.min(Math.floor(excess), Math.ceil(excess / 2))) * this.frameSamples);
    this.windowPulls = 0;
    this.windowEvents = 0;
    this.windowMinDepth = Infinity;
  }

  /** Starting to play: seqs missing at the very front while there is more than enough are not worth concealing. */
  private skipLeadingGaps(): void {
    const n = this.frameSamples;
    while (this.base < this.seqs.highest && this.depthOut() > this.target * n) {
      const idx = this.slot(this.base);
      if (this.slotData[idx] !== null && this.slotSeq[idx] === this.base) break;
      this.lost++;
      this.base++;
    }
  }

  /**
   * Starting to play with more than the target buffered (packets that queued while the clock was not yet running,
   * or a burst): nothing has been played, so the oldest whole packets are skipped, not decoded, down to the target —
   * latency starts at the target instead of waiting for window-by-window trims. Counted in droppedSamples.
   */
  private skipLeadingExcess(): void {
    const n = this.frameSamples;
    if (this.fifoCount !== 0) return;
    while (this.base < this.seqs.highest && this.depthOut() - this.streamFrameOut >= this.target * n) {
      const idx = this.slot(this.base);
      if (this.slotData[idx] !== null && this.slotSeq[idx] === this.base) {
        this.droppedSamples += this.slotFrames[idx];
        this.slotData[idx] = null;
        this.pendingCount--;
      }
      this.base++;
      this.skipLeadingGaps();
    }
  }

  /** Rebuffering: skip slots whose time the concealment already covered and whose packet is not here. */
  private skipOwed(): void {
    while (this.owed > 0 && this.base < this.seqs.highest) {
      const idx = this.slot(this.base);
      if (this.slotData[idx] !== null && this.slotSeq[idx] === this.base) break;
      this.owed--;
      this.lost++;
      this.base++;
    }
  }

  /** Moves `base` forward to `to`, dropping waiting packets (received past capacity) and counting gaps lost. */
  private advanceBase(to: number): void {
    while (this.base < to) {
      const idx = this.slot(this.base);
      if (this.slotData[idx] !== null && this.slotSeq[idx] === this.base) {
        this.droppedSamples += this.slotFrames[idx];
        this.slotData[idx] = null;
        this.pendingCount--;
      } else {
        this.lost++;
      }
      this.base++;
    }
    if (this.seqs.highest < this.base - 1) this.seqs.anchor(this.base - 1);
  }

  /**
   * Shortens the stream by k/2 … k samples per channel (at most 10 ms short of k) without a click: the audio
   * that would have played next is cross-faded into the audio after the cut, at the cut length where the two match
   * best (normalised cross-correlation; for a steady tone that is a whole number of periods — one WSOLA splice).
   * Falls back to a plain cut when too little is decoded or buffered to search.
   */
  private dropSamples(k: number): void {
    const before = this.droppedSamples;
    this.cut(k);
    this.trimmedSamples += this.droppedSamples - before;
  }

  private cut(k: number): void {
    // 'frames' needs every packet to be one output frame and the next frame to start at a packet boundary (nothing
    // decoded waiting); otherwise frames do not map to packets, an event stream cannot describe them anyway, and a
    // postponed trim might wait forever: splice.
    if (this.trim === 'frames' && this.streamFrameOut === this.frameSamples && this.fifoCount === 0) {
      this.dropFrames(Math.floor(k / this.frameSamples));
      return;
    }
    const W = this.spliceW;
    const C = this.channels;
    this.fillFifo(W);
    if (this.fifoCount < W) {
      this.dropAbrupt(k);
      return;
    }
    const head = this.spliceHead;
    for (let i = 0, r = this.fifoRead; i < W; i++) {
      for (let c = 0; c < C; c++) head[i * C + c] = this.fifo[r * C + c];
      if (++r === this.fifoCap) r = 0;
    }
    // The cut is searched in [k − min(10 ms, k/2), k]: never longer than asked, so the depth never falls below target.
    const bulk = Math.max(0, k - Math.min(this.spliceSearch, Math.floor(k / 2)));
    this.dropAbrupt(bulk);
    const oMin = 0;
    const oMax = k - bulk;
    this.fillFifo(oMax + W);
    const oHi = Math.min(oMax, this.fifoCount - W);
    if (oHi < oMin) {
      this.dropAbrupt(k - bulk);
      return;
    }
    // From the longest cut down: among equal matches the one closest to k wins.
    let best = oHi;
    let bestScore = -Infinity;
    for (let o = oHi; o >= oMin; o--) {
      let dot = 0;
      let energy = 1e-12;
      let r = (this.fifoRead + o) % this.fifoCap;
      for (let i = 0; i < W; i++) {
        const base = r * C;
        for (let c = 0; c < C; c++) {
          const b = this.fifo[base + c];
          dot += head[i * C + c] * b;
          energy += b * b;
        }
        if (++r === this.fifoCap) r = 0;
      }
      const score = dot / Math.sqrt(energy);
      if (score > bestScore) {
        bestScore = score;
        best = o;
      }
    }
    this.discardFifo(best);
    this.droppedSamples += best;
    for (let i = 0, r = this.fifoRead; i < W; i++) {
      const g = (i + 0.5) / W;
      const base = r * C;
      for (let c = 0; c < C; c++) this.fifo[base + c] = head[i * C + c] * (1 - g) + this.fifo[base + c] * g;
      if (++r === this.fifoCap) r = 0;
    }
  }

  /**
   * The 'frames' trim: drops up to `frames` whole packets from the front, and only packets that are here, one output
   * frame long, and followed by one that is too (the next to play) — fewer, or none, otherwise; a later window
   * trims the rest. The dropped packets are decoded (libopus' state stays in order, as in dropAbrupt) and thrown
   * away; the next packet is decoded and the first F = frameTrimFadeSamples() samples of the first dropped packet
   * (the audio that would have played next) fade into it: out[i] = head[i]·(1 − g) + next[i]·g, g = (i + ½)/F —
   * the splice's arithmetic at a cut fixed by the packets alone, so the frame's seq is all an event stream needs.
   */
  private dropFrames(frames: number): void {
    const n = this.frameSamples;
    let m = 0;
    while (m < frames && this.wholeFrameAt(this.base + m) && this.wholeFrameAt(this.base + m + 1)) m++;
    if (m === 0) return;
    const W = frameTrimFadeSamples(this.sampleRate, n);
    const C = this.channels;
    const head = this.spliceHead;
    for (let j = 0; j < m; j++) {
      this.playSlot(this.slot(this.base), this.base);
      this.base++;
      if (j === 0) {
        for (let i = 0, r = this.fifoRead; i < W && i < this.fifoCount; i++) {
          for (let c = 0; c < C; c++) head[i * C + c] = this.fifo[r * C + c];
          if (++r === this.fifoCap) r = 0;
        }
      }
      this.droppedSamples += this.fifoCount;
      this.discardFifo(this.fifoCount);
    }
    this.playSlot(this.slot(this.base), this.base);
    this.base++;
    this.owed = 0;
    this.consumedSinceReset = true;
    for (let i = 0, r = this.fifoRead; i < W && i < this.fifoCount; i++) {
      const g = (i + 0.5) / W;
      const base = r * C;
      for (let c = 0; c < C; c++) this.fifo[base + c] = head[i * C + c] * (1 - g) + this.fifo[base + c] * g;
      if (++r === this.fifoCap) r = 0;
    }
  }

  /** Packet `u` is here and one output frame long. */
  private wholeFrameAt(u: number): boolean {
    if (u > this.seqs.highest) return false;
    const idx = this.slot(u);
    return this.slotData[idx] !== null && this.slotSeq[idx] === u && this.slotFrames[idx] === this.frameSamples;
  }

  /** Decodes waiting packets, in order, until `need` samples per channel are decoded; stops at a gap (never conceals). */
  private fillFifo(need: number): void {
    while (this.fifoCount < need && this.base <= this.seqs.highest) {
      const idx = this.slot(this.base);
      if (this.slotData[idx] === null || this.slotSeq[idx] !== this.base) return;
      this.playSlot(idx, this.base);
      this.base++;
      this.owed = 0;
      this.consumedSinceReset = true;
    }
  }

  /** Throws away `k` samples per channel from the front: decoded first, then packets (Opus decoded, to keep its state in order). */
  private dropAbrupt(k: number): void {
    while (k > 0) {
      if (this.fifoCount > 0) {
        const t = Math.min(k, this.fifoCount);
        this.discardFifo(t);
        this.droppedSamples += t;
        k -= t;
        continue;
      }
      if (this.base > this.seqs.highest) return;
      const idx = this.slot(this.base);
      if (this.slotData[idx] !== null && this.slotSeq[idx] === this.base) {
        if (this.slotCodec[idx] !== Codec.OPUS && this.slotFrames[idx] <= k) {
          this.droppedSamples += this.slotFrames[idx];
          k -= this.slotFrames[idx];
          this.slotData[idx] = null;
          this.pendingCount--;
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
    const data = this.slotData[idx] as Buffer;
    const codec = this.slotCodec[idx];
    const ch = this.slotChannels[idx];
    const frames = this.slotFrames[idx];
    this.slotData[idx] = null;
    this.pendingCount--;
    if (codec === Codec.OPUS) {
      let dec = this.decoder;
      if (dec === null || dec.channels !== ch) dec = this.decoder = new OpusDecoder({ sampleRate: this.sampleRate, channels: ch as 1 | 2 });
      let pcm: Buffer;
      try {
        pcm = dec.decodeS16(data);
      } catch {
        this.decodeErrors++;
        this.conceal(frames);
        return;
      }
      this.writeS16(pcm, ch, pcm.length / (2 * ch), u, false);
    } else if (codec === Codec.PCM_S16LE) {
      this.writeS16(data, ch, frames, u, true);
    } else {
      this.writeF32LE(data, ch, frames, u);
    }
    this.concealRun = 0;
  }

  /** Makes up `frames` samples per channel: Opus PLC, a faded repeat of the last PCM frame, or silence. */
  private conceal(frames: number): void {
    this.concealedSamples += frames;
    const dec = this.decoder;
    if (this.streamCodec === Codec.OPUS && dec !== null) {
      let pcm: Buffer | null = null;
      try {
        pcm = dec.concealS16(frames);
      } catch {
        pcm = null;
      }
      if (pcm !== null) {
        this.writeS16(pcm, dec.channels, frames, NaN, false);
        return;
      }
    }
    this.ensureFifo(frames);
    const C = this.channels;
    const fifo = this.fifo;
    let w = (this.fifoRead + this.fifoCount) % this.fifoCap;
    const fade = this.streamCodec !== Codec.OPUS && this.concealRun === 0 ? Math.min(frames, this.lastFrameLen) : 0;
    for (let i = 0; i < frames; i++) {
      const o = w * C;
      if (i < fade) {
        // A linear fade over the repeated frame keeps the edge from clicking and ends in silence.
        const g = 1 - (i + 1) / fade;
        for (let c = 0; c < C; c++) fifo[o + c] = this.lastFrame[i * C + c] * g;
      } else {
        for (let c = 0; c < C; c++) fifo[o + c] = 0;
      }
      if (++w === this.fifoCap) w = 0;
    }
    this.fifoCount += frames;
    this.concealRun++;
    this.pushSeg(NaN, frames);
  }

  private ensureFifo(extra: number): void {
    if (this.fifoCount + extra <= this.fifoCap) return;
    const C = this.channels;
    const cap = (this.fifoCount + extra) * 2;
    const next = new Float32Array(cap * C);
    for (let i = 0, r = this.fifoRead; i < this.fifoCount; i++) {
      next.set(this.fifo.subarray(r * C, r * C + C), i * C);
      if (++r === this.fifoCap) r = 0;
    }
    this.fifo = next;
    this.fifoCap = cap;
    this.fifoRead = 0;
  }

  private ensureLastFrame(frames: number): void {
    if (this.lastFrame.length < frames * this.channels) this.lastFrame = new Float32Array(frames * this.channels);
  }

  /** Writes one frame held in this.tmp (srcCh samples) at fifo frame position w, converting channels. */
  private emitFrame(srcCh: number, w: number, keep: boolean, i: number): void {
    const C = this.channels;
    const fifo = this.fifo;
    const t = this.tmp;
    const o = w * C;
    if (srcCh === C) {
      for (let c = 0; c < C; c++) fifo[o + c] = t[c];
    } else if (srcCh === 1) {
      for (let c = 0; c < C; c++) fifo[o + c] = t[0];
    } else if (C === 1) {
      let s = 0;
      for (let c = 0; c < srcCh; c++) s += t[c];
      fifo[o] = s / srcCh;
    } else {
      for (let c = 0; c < C; c++) fifo[o + c] = c < srcCh ? t[c] : 0;
    }
    if (keep) for (let c = 0; c < C; c++) this.lastFrame[i * C + c] = fifo[o + c];
  }

  private writeS16(src: Buffer, srcCh: number, frames: number, u: number, keep: boolean): void {
    this.ensureFifo(frames);
    if (keep) this.ensureLastFrame(frames);
    let w = (this.fifoRead + this.fifoCount) % this.fifoCap;
    const C = this.channels;
    if ((srcCh === C || (srcCh === 1 && C === 2)) && src.byteOffset % 2 === 0) {
      // The hot path (every decoded Opus frame, and s16 PCM): one pass over an Int16Array view, no per-sample Buffer reads.
      // Same values as the general path below: x × 2^-15 equals x / 32768 exactly (a power of two), and a multiply
      // is half the cost of a divide here.
      const s16 = new Int16Array(src.buffer, src.byteOffset, frames * srcCh);
      const fifo = this.fifo;
      let i = 0;
      while (i < frames) {
        const run = Math.min(frames - i, this.fifoCap - w);
        if (srcCh === C) {
          const n = run * C;
          for (let j = 0, o = w * C, p = i * C; j < n; j++) fifo[o + j] = s16[p + j] * S16_SCALE;
        } else {
          for (let j = 0, o = w * 2, p = i; j < run; j++, o += 2) {
            const x = s16[p + j] * S16_SCALE;
            fifo[o] = x;
            fifo[o + 1] = x;
          }
        }
        i += run;
        w += run;
        if (w === this.fifoCap) w = 0;
      }
      this.fifoCount += frames;
      if (keep) {
        // PCM keeps its last frame for concealment (emitFrame's `keep`): the same values, copied in one pass.
        const last = this.lastFrame;
        const start = (this.fifoRead + this.fifoCount - frames) % this.fifoCap;
        for (let k = 0, r = start; k < frames; k++) {
          for (let c = 0; c < C; c++) last[k * C + c] = fifo[r * C + c];
          if (++r === this.fifoCap) r = 0;
        }
        this.lastFrameLen = frames;
      }
      this.pushSeg(u, frames);
      return;
    }
    const t = this.tmp;
    for (let i = 0, p = 0; i < frames; i++) {
      for (let c = 0; c < srcCh; c++, p += 2) t[c] = src.readInt16LE(p) / 32768;
      this.emitFrame(srcCh, w, keep, i);
      if (++w === this.fifoCap) w = 0;
    }
    this.fifoCount += frames;
    if (keep) this.lastFrameLen = frames;
    this.pushSeg(u, frames);
  }

  private writeF32LE(src: Buffer, srcCh: number, frames: number, u: number): void {
    this.ensureFifo(frames);
    this.ensureLastFrame(frames);
    let w = (this.fifoRead + this.fifoCount) % this.fifoCap;
    const t = this.tmp;
    for (let i = 0, p = 0; i < frames; i++) {
      for (let c = 0; c < srcCh; c++, p += 4) t[c] = src.readFloatLE(p);
      this.emitFrame(srcCh, w, true, i);
      if (++w === this.fifoCap) w = 0;
    }
    this.fifoCount += frames;
    this.lastFrameLen = frames;
    this.pushSeg(u, frames);
  }

  private pushSeg(u: number, frames: number): void {
    if (frames <= 0) return;
    const last = (this.segHead + this.segCount - 1) % this.segSeq.length;
    if (this.segCount > 0 && Number.isNaN(u) && Number.isNaN(this.segSeq[last])) {
      this.segLen[last] += frames;
      return;
    }
    if (this.segCount === this.segSeq.length) {
      const size = this.segSeq.length * 2;
      const seqs = new Float64Array(size);
      const lens = new Int32Array(size);
      for (let i = 0; i < this.segCount; i++) {
        const j = (this.segHead + i) % this.segSeq.length;
        seqs[i] = this.segSeq[j];
        lens[i] = this.segLen[j];
      }
      this.segSeq = seqs;
      this.segLen = lens;
      this.segHead = 0;
    }
    const j = (this.segHead + this.segCount) % this.segSeq.length;
    this.segSeq[j] = u;
    this.segLen[j] = frames;
    this.segCount++;
  }

  /** Consumes `frames` samples' worth of segments; reports the first real packet and whether any was concealment. */
  private takeSegs(frames: number, info: PullInfo | null): void {
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
        this.segHead = (j + 1) % this.segSeq.length;
        this.segCount--;
      }
    }
  }

  private readFifo(dst: Float32Array, frames: number, info: PullInfo): void {
    const C = this.channels;
    let r = this.fifoRead;
    const first = Math.min(frames, this.fifoCap - r);
    dst.set(this.fifo.subarray(r * C, (r + first) * C), 0);
    if (first < frames) dst.set(this.fifo.subarray(0, (frames - first) * C), first * C);
    r += frames;
    if (r >= this.fifoCap) r -= this.fifoCap;
    this.fifoRead = r;
    this.fifoCount -= frames;
    this.takeSegs(frames, info);
  }

  private discardFifo(frames: number): void {
    this.fifoRead = (this.fifoRead + frames) % this.fifoCap;
    this.fifoCount -= frames;
    this.takeSegs(frames, null);
  }
}

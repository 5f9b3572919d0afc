// The playout buffer's options, profiles, result types and errors, and the option checks.
import { Codec, codecBytesPerSample, codecOf, type CodecName } from '../../codec';
import { OPUS_SAMPLE_RATES } from '../opus';

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
  /** Length of the window adaptation and latency trimming look at; default from the profile (2000 listener, 1000 mixer). */
  adaptWindowMs?: number;
  /** Calm windows (no miss, no late packet) before the target is lowered by one frame; default 3. */
  lowerAfterWindows?: number;
  /** Consecutive late or duplicate packets with consecutive seqs that mean the sender restarted its count; default 4. */
  restartAfterRejected?: number;
  /**
   * How latency is trimmed and play starts; default 'listener'. See PLAYOUT_PROFILES. (The options `trim`,
   * `trimExcess` and `startAtTarget` this replaces are refused by name.)
   */
  profile?: PlayoutProfile;
}

/**
 * The two ways a buffer trims latency, each used by a kind of consumer:
 * - 'listener' (the speaker, the recorder): excess latency is spliced out — any length, cut where the audio matches
 *   best, 5 ms cross-fade — half of a standing excess per window (creeping back), and play starts with everything
 *   buffered; adaptWindowMs defaults to 2000.
 * - 'mixer' (each mixer track): whole packets are dropped with a fixed cross-fade (when each packet is one output
 *   frame and no partial frame is decoded; else it splices), so each output frame starts at a packet boundary and the
 *   event stream's one seq per frame describes the trim exactly — runtime/events/reconstruct.ts replays it bit for
 *   bit; all of a standing excess goes in one window (a hub's latency should come back within a window after a
 *   burst); play starts at the target, skipping the oldest whole packets (a track's packets queue while the mix
 *   clock starts); adaptWindowMs defaults to 1000 (a raised target comes down a frame every 3 calm seconds).
 */
export type PlayoutProfile = 'listener' | 'mixer';

export interface ProfileSettings {
  /** 'splice' cuts any length; 'frames' drops whole packets (see the profile). */
  trim: 'splice' | 'frames';
  /** Each window drops all of a standing excess (else half, rounded up). */
  trimAll: boolean;
  /** Starting to play with more than the target buffered, skip the oldest whole packets down to it. */
  startAtTarget: boolean;
  adaptWindowMs: number;
}

export const PLAYOUT_PROFILES: Readonly<Record<PlayoutProfile, Readonly<ProfileSettings>>> = {
  listener: { trim: 'splice', trimAll: false, startAtTarget: false, adaptWindowMs: 2000 },
  mixer: { trim: 'frames', trimAll: true, startAtTarget: true, adaptWindowMs: 1000 },
};

/** Options that left for the profiles (or the seq policy), refused by name rather than ignored. */
const REMOVED_OPTIONS: Record<string, string> = {
  trim: "is no longer an option: profile 'mixer' trims whole frames, 'listener' splices",
  trimExcess: "is no longer an option: profile 'mixer' trims all of an excess, 'listener' half",
  startAtTarget: "is no longer an option: profile 'mixer' starts at the target",
  resetThresholdFrames: 'is no longer an option: a sender restart is a jump past SEQ_RESTART_JUMP (runtime/seq.ts)',
};

export type PushResult = 'ok' | 'late' | 'duplicate';

/** What pullInto() reports about the frame it wrote; the same object is reused by every call. */
export interface PullInfo {
  /** Unwrapped seq of the first packet whose audio is in this frame; null when the frame holds none. */
  seq: number | null;
  /** The same packet's 32-bit wire seq; null likewise. */
  wireSeq: number | null;
  /** Some of the frame was made up (PLC, faded repeat or silence) while playing or rebuffering. */
  concealed: boolean;
  /** When that packet arrived (push()'s arrivalMicros, µs since epoch); null likewise. */
  arrival: number | null;
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
   * (profile 'mixer'), packets received past capacity. */
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

export const MAX_CHANNELS = 8;
const TWO32 = 4294967296;

function intOpt(field: string, v: unknown, def: number, min: number, max: number): number {
  const x = v === undefined ? def : v;
  if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) {
    throw new PlayoutConfigError(field, `must be an integer from ${min} to ${max}, got ${String(x)}`);
  }
  return x;
}

function numOpt(field: string, v: unknown, def: number, min: number): number {
  const x = v === undefined ? def : v;
  if (typeof x !== 'number' || !Number.isFinite(x) || x < min) throw new PlayoutConfigError(field, `must be a number ≥ ${min}, got ${String(x)}`);
  return x;
}

/** Every option checked and defaulted; throws PlayoutConfigError naming the field. */
export interface ResolvedPlayoutOptions extends ProfileSettings {
  sampleRate: number;
  channels: number;
  frameSamples: number;
  targetDepthFrames: number;
  minDepthFrames: number;
  maxDepthFrames: number;
  adaptive: boolean;
  idleAfterMs: number;
  lowerAfterWindows: number;
  restartAfterRejected: number;
  profile: PlayoutProfile;
}

export function resolvePlayoutOptions(opts: PlayoutOptions): ResolvedPlayoutOptions {
  const o = opts ?? ({} as PlayoutOptions);
  for (const f of Object.keys(REMOVED_OPTIONS)) {
    if ((o as unknown as Record<string, unknown>)[f] !== undefined) throw new PlayoutConfigError(f, REMOVED_OPTIONS[f]);
  }
  const profile = o.profile ?? 'listener';
  if (!Object.prototype.hasOwnProperty.call(PLAYOUT_PROFILES, profile)) throw new PlayoutConfigError('profile', `must be 'listener' or 'mixer', got ${String(o.profile)}`);
  const p = PLAYOUT_PROFILES[profile];
  const maxDepthFrames = intOpt('maxDepthFrames', o.maxDepthFrames, 50, 1, 10000);
  const minDepthFrames = intOpt('minDepthFrames', o.minDepthFrames, 1, 0, maxDepthFrames);
  return {
    ...p,
    profile,
    sampleRate: intOpt('sampleRate', o.sampleRate, NaN, 1000, 768000),
    channels: intOpt('channels', o.channels, NaN, 1, MAX_CHANNELS),
    frameSamples: intOpt('frameSamples', o.frameSamples, NaN, 1, 65535),
    maxDepthFrames,
    minDepthFrames,
    targetDepthFrames: intOpt('targetDepthFrames', o.targetDepthFrames, Math.min(3, maxDepthFrames), minDepthFrames, maxDepthFrames),
    adaptive: o.adaptive ?? true,
    restartAfterRejected: intOpt('restartAfterRejected', o.restartAfterRejected, 4, 1, 1 << 30),
    lowerAfterWindows: intOpt('lowerAfterWindows', o.lowerAfterWindows, 3, 1, 1 << 30),
    idleAfterMs: numOpt('idleAfterMs', o.idleAfterMs, 300, 0),
    adaptWindowMs: numOpt('adaptWindowMs', o.adaptWindowMs, p.adaptWindowMs, 1),
  };
}

/**
 * The checks push() makes on a packet before filing it, for a buffer playing at `outRate`: throws
 * PlayoutPacketError for a malformed header or size, PlayoutFormatError for a stream that cannot play at that rate.
 * Returns the packet's length in samples per channel at the output rate. (The mix engine checks packets on the
 * event loop with it, so errors are thrown where push() would throw them, not on the mix thread.)
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


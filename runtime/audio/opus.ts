// Opus encoder, decoder and framer over @discordjs/opus: f32 PCM in and out, every size checked before native code sees it.
import { f32Buffer, f32View, f32ToS16, s16ToF32 } from './pcm';
import { opusPacketSamples } from '../protocol/opus-toc';

// @discordjs/opus ships typings, but its native class does encode and decode in one object; we type only what we call.
interface NativeOpus {
  encode(pcm: Buffer): Buffer;
  decode(packet: Buffer): Buffer;
  applyEncoderCTL(ctl: number, value: number): void;
  setBitrate(bps: number): void;
}
// eslint-disable-next-line @typescript-eslint/no-var-requires
const NativeOpusClass: new (rate: number, channels: number) => NativeOpus = require('@discordjs/opus').OpusEncoder;

/**
 * native/ (xcast_opus, built by `npm run build` against the system's libopus): libopus's float decoder writing
 * straight into the caller's Float32Array. The mix thread decodes every track every frame; @discordjs/opus answers
 * each packet with a fresh s16 Buffer, which at 250 tracks is 25,000 Buffers a second and a full GC of the mix
 * thread's heap every ~2 s ("external memory pressure", 20–130 ms: a missed tick each). Null when it is not built
 * (or XCAST_OPUS_DECODER=discordjs): the decoders then go through @discordjs/opus, as before.
 */
interface FloatOpus {
  create(sampleRate: number, channels: number): object;
  decode(handle: object, packet: Uint8Array | null, out: Float32Array, offset: number, frames: number): number;
  reset(handle: object): void;
  libopus: string;
}
function loadFloatOpus(): FloatOpus | null {
  if (process.env.XCAST_OPUS_DECODER === 'discordjs') return null;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return require(require('node:path').join(__dirname, '..', '..', '..', 'native', 'build', 'Release', 'xcast_opus.node')) as FloatOpus;
  } catch {
    return null;
  }
}
const floatOpus = loadFloatOpus();

/** Which Opus decoder this process uses: libopus's float decoder (native/, with its libopus version) or @discordjs/opus's s16 one. */
export const OPUS_DECODER: { kind: 'float' | 's16'; libopus: string | null } = floatOpus ? { kind: 'float', libopus: floatOpus.libopus } : { kind: 's16', libopus: null };

/** Sample rates libopus accepts. */
export const OPUS_SAMPLE_RATES: readonly number[] = [8000, 12000, 16000, 24000, 48000];

// SET requests only: a GET request makes the native binding write through a pointer it never passed, and crashes.
const OPUS_SET_APPLICATION = 4000;
const OPUS_SET_COMPLEXITY = 4010;
const OPUS_SET_INBAND_FEC = 4012;
const OPUS_SET_PACKET_LOSS_PERC = 4014;
const OPUS_SET_SIGNAL = 4024;
const APPLICATIONS = { voip: 2048, audio: 2049, lowdelay: 2051 } as const;
const SIGNALS = { auto: -1000, voice: 3001, music: 3002 } as const;

/** The largest duration one Opus packet may carry (RFC 6716 §3.2.5): 120 ms. */
const MAX_PACKET_MS = 120;

export type OpusApplication = keyof typeof APPLICATIONS;
export type OpusSignal = keyof typeof SIGNALS;

/** A bad encoder/decoder/framer option; `field` names it. */
export class OpusConfigError extends Error {
  readonly code = 'bad_config';
  constructor(readonly field: string, message: string) {
    super(`opus ${field}: ${message}`);
    this.name = 'OpusConfigError';
  }
}

/** PCM handed to the encoder or framer whose size does not fit the configured frame. */
export class OpusFrameSizeError extends Error {
  readonly code = 'bad_frame_size';
  constructor(message: string) {
    super(message);
    this.name = 'OpusFrameSizeError';
  }
}

/** libopus refused a packet (corrupt, truncated, or not Opus). The decoder stays usable. */
export class OpusDecodeError extends Error {
  readonly code = 'decode_failed';
  constructor(message: string) {
    super(message);
    this.name = 'OpusDecodeError';
  }
}

/** Frame sizes (samples per channel) Opus can encode at `sampleRate`: 2.5, 5, 10, 20, 40 and 60 ms. */
export function validOpusFrameSamples(sampleRate: number): number[] {
  checkRate('sampleRate', sampleRate);
  return [sampleRate / 400, sampleRate / 200, sampleRate / 100, sampleRate / 50, sampleRate / 25, (sampleRate * 3) / 50];
}

function checkRate(field: string, sampleRate: unknown): asserts sampleRate is number {
  if (!OPUS_SAMPLE_RATES.includes(sampleRate as number)) {
    throw new OpusConfigError(field, `${String(sampleRate)} Hz is not an Opus rate (${OPUS_SAMPLE_RATES.join(', ')})`);
  }
}

function checkChannels(channels: unknown): asserts channels is 1 | 2 {
  if (channels !== 1 && channels !== 2) throw new OpusConfigError('channels', `must be 1 or 2, got ${String(channels)}`);
}

function checkIntRange(field: string, v: unknown, min: number, max: number): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new OpusConfigError(field, `must be an integer from ${min} to ${max}, got ${String(v)}`);
  }
}

export interface OpusEncoderOptions {
  /** 8000, 12000, 16000, 24000 or 48000; default 48000. */
  sampleRate?: number;
  /** 1 or 2 (checked at run time). */
  channels: number;
  /** Samples per channel in one frame; one of validOpusFrameSamples(sampleRate). */
  frameSamples: number;
  /** bits/s, 6000…510000; default 64000. */
  bitrate?: number;
  /** 0…10; default 10. */
  complexity?: number;
  /** In-band forward error correction (takes effect with packetLossPercent > 0 and SILK/hybrid modes). */
  fec?: boolean;
  /** Expected loss 0…100, tells the encoder how much redundancy to spend. */
  packetLossPercent?: number;
  /** Default 'audio'. */
  application?: OpusApplication;
  /** Default 'auto'. */
  signal?: OpusSignal;
}

/**
 * Checks encoder options and fills in the defaults, naming the field that is wrong (OpusConfigError) — what the
 * OpusEncoder constructor does before it creates the native encoder, for callers that encode elsewhere (a thread).
 */
export function checkOpusEncoderOptions(opts: OpusEncoderOptions): Required<Omit<OpusEncoderOptions, 'channels'>> & { channels: 1 | 2 } {
  const o = opts ?? ({} as OpusEncoderOptions);
  const sampleRate = o.sampleRate ?? 48000;
  checkRate('sampleRate', sampleRate);
  checkChannels(o.channels);
  const valid = validOpusFrameSamples(sampleRate);
  if (!valid.includes(o.frameSamples)) {
    throw new OpusConfigError('frameSamples', `${String(o.frameSamples)} is not an Opus frame size at ${sampleRate} Hz (${valid.join(', ')})`);
  }
  const bitrate = Math.round(o.bitrate ?? 64000);
  checkIntRange('bitrate', bitrate, 6000, 510000);
  const complexity = o.complexity ?? 10;
  checkIntRange('complexity', complexity, 0, 10);
  const packetLossPercent = o.packetLossPercent ?? 0;
  checkIntRange('packetLossPercent', packetLossPercent, 0, 100);
  const application = o.application ?? 'audio';
  if (!(application in APPLICATIONS)) throw new OpusConfigError('application', `must be one of ${Object.keys(APPLICATIONS).join(', ')}, got ${String(application)}`);
  const signal = o.signal ?? 'auto';
  if (!(signal in SIGNALS)) throw new OpusConfigError('signal', `must be one of ${Object.keys(SIGNALS).join(', ')}, got ${String(signal)}`);
  return { sampleRate, channels: o.channels, frameSamples: o.frameSamples, bitrate, complexity, fec: o.fec === true, packetLossPercent, application, signal };
}

/** One Opus encoder: exactly one frame of f32 interleaved PCM in, one packet out. */
export class OpusEncoder {
  readonly sampleRate: number;
  readonly channels: 1 | 2;
  readonly frameSamples: number;
  /** Bytes one call to encode() takes: frameSamples × channels × 4. */
  readonly frameBytes: number;
  private readonly native: NativeOpus;
  // The native encode copies the packet out and reads the PCM synchronously, so one s16 scratch serves every call.
  private readonly s16: Buffer;

  constructor(opts: OpusEncoderOptions) {
    const { sampleRate, channels, frameSamples, bitrate, complexity, fec, packetLossPercent, application, signal } = checkOpusEncoderOptions(opts);
    this.sampleRate = sampleRate;
    this.channels = channels;
    this.frameSamples = frameSamples;
    this.frameBytes = frameSamples * channels * 4;
    this.s16 = Buffer.alloc(frameSamples * channels * 2);
    this.native = new NativeOpusClass(sampleRate, channels);
    // The application can only change before the first encoded frame, so it goes first.
    this.native.applyEncoderCTL(OPUS_SET_APPLICATION, APPLICATIONS[application]);
    this.native.setBitrate(bitrate);
    this.native.applyEncoderCTL(OPUS_SET_COMPLEXITY, complexity);
    this.native.applyEncoderCTL(OPUS_SET_INBAND_FEC, fec ? 1 : 0);
    this.native.applyEncoderCTL(OPUS_SET_PACKET_LOSS_PERC, packetLossPercent);
    this.native.applyEncoderCTL(OPUS_SET_SIGNAL, SIGNALS[signal]);
  }

  /**
   * Encodes one frame of f32 interleaved PCM (values beyond ±1 are clipped) and returns a fresh packet Buffer.
   * A wrong size throws OpusFrameSizeError: libopus would otherwise abort the whole process.
   */
  encode(pcmF32: Buffer): Buffer {
    if (!Buffer.isBuffer(pcmF32)) throw new OpusFrameSizeError('opus encode: pcm must be a Buffer of f32 samples');
    if (pcmF32.length !== this.frameBytes) {
      throw new OpusFrameSizeError(
        `opus encode: pcm is ${pcmF32.length} bytes, a frame is ${this.frameBytes} ` +
          `(${this.frameSamples} samples × ${this.channels} channels × 4 bytes)`,
      );
    }
    f32ToS16(f32View(pcmF32), this.s16);
    return this.native.encode(this.s16);
  }

  /** Changes the bitrate between frames (bits/s, 6000…510000). */
  setBitrate(bps: number): void {
    const rounded = Math.round(bps);
    checkIntRange('bitrate', rounded, 6000, 510000);
    this.native.setBitrate(rounded);
  }

  /** Changes the expected loss between frames (0…100). */
  setPacketLossPercent(percent: number): void {
    checkIntRange('packetLossPercent', percent, 0, 100);
    this.native.applyEncoderCTL(OPUS_SET_PACKET_LOSS_PERC, percent);
  }
}

export interface OpusFramerOptions {
  channels: number;
  frameSamples: number;
}

/**
 * Cuts f32 interleaved PCM of any length into frames of exactly frameSamples, keeping the remainder for the next push.
 * Whole frames inside one input are returned as views of that input (no copy; the input is never written);
 * a frame that joins the previous remainder with new input is a fresh Buffer. Nothing returned is mutated later.
 */
export class OpusFramer {
  readonly channels: number;
  readonly frameSamples: number;
  private readonly frameBytes: number;
  private readonly pending: Buffer;
  private pendingBytes = 0;

  constructor(opts: OpusFramerOptions) {
    const o = opts ?? ({} as OpusFramerOptions);
    if (!Number.isInteger(o.channels) || o.channels < 1) throw new OpusConfigError('channels', `must be a positive integer, got ${String(o.channels)}`);
    if (!Number.isInteger(o.frameSamples) || o.frameSamples < 1) throw new OpusConfigError('frameSamples', `must be a positive integer, got ${String(o.frameSamples)}`);
    this.channels = o.channels;
    this.frameSamples = o.frameSamples;
    this.frameBytes = o.frameSamples * o.channels * 4;
    this.pending = Buffer.alloc(this.frameBytes);
  }

  /** Samples per channel held back, waiting for the rest of a frame. */
  get bufferedSamples(): number {
    return this.pendingBytes / (this.channels * 4);
  }

  /** Returns every whole frame the input completes, in order. */
  push(pcmF32: Buffer): Buffer[] {
    if (!Buffer.isBuffer(pcmF32)) throw new OpusFrameSizeError('opus framer: pcm must be a Buffer of f32 samples');
    const step = this.channels * 4;
    if (pcmF32.length % step !== 0) {
      throw new OpusFrameSizeError(`opus framer: pcm is ${pcmF32.length} bytes, not a whole number of ${this.channels}-channel f32 samples (${step} bytes each)`);
    }
    const out: Buffer[] = [];
    let off = 0;
    if (this.pendingBytes > 0) {
      const need = this.frameBytes - this.pendingBytes;
      if (pcmF32.length < need) {
        pcmF32.copy(this.pending, this.pendingBytes);
        this.pendingBytes += pcmF32.length;
        return out;
      }
      const frame = Buffer.allocUnsafe(this.frameBytes);
      this.pending.copy(frame, 0, 0, this.pendingBytes);
      pcmF32.copy(frame, this.pendingBytes, 0, need);
      out.push(frame);
      off = need;
      this.pendingBytes = 0;
    }
    while (pcmF32.length - off >= this.frameBytes) {
      out.push(pcmF32.subarray(off, off + this.frameBytes));
      off += this.frameBytes;
    }
    if (off < pcmF32.length) {
      pcmF32.copy(this.pending, 0, off);
      this.pendingBytes = pcmF32.length - off;
    }
    return out;
  }

  /** Forgets the held-back remainder (e.g. when a stream restarts). */
  reset(): void {
    this.pendingBytes = 0;
  }
}

export interface OpusDecoderOptions {
  /** The rate to decode at (any Opus stream decodes at any Opus rate); default 48000. */
  sampleRate?: number;
  /** 1 or 2 (checked at run time). */
  channels: number;
}

// TOC configurations (RFC 6716 §3.1) by mode: which frame durations, in units of 2.5 ms, each mode can carry.
const SILK_UNITS = [4, 8, 16, 24];
const HYBRID_UNITS = [4, 8];
const CELT_UNITS = [1, 2, 4, 8];
/** Durations one code-0 packet can announce: 2.5, 5, 10, 20, 40, 60 ms. */
const SINGLE_FRAME_UNITS = [1, 2, 4, 8, 16, 24];

/** The TOC byte of a code-0 packet announcing `units` × 2.5 ms, keeping the mode and bandwidth of `lastToc` where it can. */
function tocFor(lastToc: number, units: number): number {
  const config = lastToc >> 3;
  const stereo = lastToc & 0x04;
  let i: number;
  if (config < 12 && (i = SILK_UNITS.indexOf(units)) >= 0) return (((config & ~3) | i) << 3) | stereo;
  if (config >= 12 && config < 16 && (i = HYBRID_UNITS.indexOf(units)) >= 0) return (((config & ~1) | i) << 3) | stereo;
  if (config >= 16 && (i = CELT_UNITS.indexOf(units)) >= 0) return (((config & ~3) | i) << 3) | stereo;
  // The mode cannot carry that duration: CELT fullband for the short ones, SILK wideband for 40/60 ms.
  if ((i = CELT_UNITS.indexOf(units)) >= 0) return ((28 | i) << 3) | stereo;
  return ((8 | SILK_UNITS.indexOf(units)) << 3) | stereo;
}

/** One Opus decoder: packets in (in sequence order), f32 interleaved PCM out; conceal() fills a lost packet. */
export class OpusDecoder {
  readonly sampleRate: number;
  readonly channels: 1 | 2;
  private readonly native: NativeOpus | null;
  private readonly float: object | null;
  private lastToc = -1;
  private readonly tocPacket = Buffer.alloc(1);
  private static readonly EMPTY = Buffer.alloc(0);

  constructor(opts: OpusDecoderOptions) {
    const o = opts ?? ({} as OpusDecoderOptions);
    const sampleRate = o.sampleRate ?? 48000;
    checkRate('sampleRate', sampleRate);
    checkChannels(o.channels);
    this.sampleRate = sampleRate;
    this.channels = o.channels;
    this.float = floatOpus ? floatOpus.create(sampleRate, o.channels) : null;
    this.native = this.float ? null : new NativeOpusClass(sampleRate, o.channels);
  }

  /**
   * Decodes one packet of at most `maxFrames` samples per channel into `out` (f32 interleaved) from sample index
   * `offset`, allocating nothing on the float decoder; returns the samples per channel written. Throws
   * OpusDecodeError on a bad packet (or one longer than maxFrames), RangeError when `out` is too small.
   */
  decodeInto(packet: Buffer, out: Float32Array, offset: number, maxFrames: number): number {
    if (!Buffer.isBuffer(packet) || packet.length === 0) {
      throw new OpusDecodeError('opus decode: packet must be a non-empty Buffer (use conceal() for a lost packet)');
    }
    if (!Number.isInteger(offset) || !Number.isInteger(maxFrames) || offset < 0 || maxFrames <= 0 || offset + maxFrames * this.channels > out.length) {
      throw new RangeError(`opus decode: ${maxFrames} frames at ${offset} do not fit an output of ${out.length} samples`);
    }
    let n: number;
    if (this.float !== null) {
      n = floatOpus!.decode(this.float, packet, out, offset, maxFrames);
      if (n < 0) throw new OpusDecodeError(`opus decode: ${OPUS_ERRORS[-n] ?? `libopus error ${n}`} (${packet.length}-byte packet, TOC 0x${packet[0].toString(16).padStart(2, '0')})`);
    } else {
      const pcm = this.decodeS16(packet);
      n = pcm.length / (2 * this.channels);
      if (n > maxFrames) throw new OpusDecodeError(`opus decode: the packet carries ${n} samples, more than the ${maxFrames} expected`);
      s16ToF32(pcm, out, offset, n * this.channels);
    }
    this.lastToc = packet[0];
    return n;
  }

  /** conceal() into `out` from sample index `offset` (allocating nothing on the float decoder). */
  concealInto(frameSamples: number, out: Float32Array, offset: number): void {
    this.checkConceal(frameSamples);
    const n = frameSamples * this.channels;
    if (!Number.isInteger(offset) || offset < 0 || offset + n > out.length) throw new RangeError(`opus conceal: ${frameSamples} frames at ${offset} do not fit an output of ${out.length} samples`);
    if (this.float === null) {
      s16ToF32(this.concealS16(frameSamples), out, offset, n);
      return;
    }
    // Before any packet the decoder has nothing to extend: silence (as libopus itself answers).
    if (this.lastToc < 0 || floatOpus!.decode(this.float, null, out, offset, frameSamples) !== frameSamples) out.fill(0, offset, offset + n);
  }

  /** Decodes one packet to s16le interleaved (a fresh Buffer). Throws OpusDecodeError on a bad packet. */
  decodeS16(packet: Buffer): Buffer {
    if (!Buffer.isBuffer(packet) || packet.length === 0) {
      throw new OpusDecodeError('opus decode: packet must be a non-empty Buffer (use conceal() for a lost packet)');
    }
    if (this.native === null) return f32ToS16(this.decodeFloat(packet));
    let pcm: Buffer;
    try {
      pcm = this.native.decode(packet);
    } catch (err) {
      throw new OpusDecodeError(`opus decode: ${(err as Error).message} (${packet.length}-byte packet, TOC 0x${packet[0].toString(16).padStart(2, '0')})`);
    }
    this.lastToc = packet[0];
    return pcm;
  }

  /** Decodes one packet to f32 interleaved (a fresh Buffer). Throws OpusDecodeError on a bad packet. */
  decode(packet: Buffer): Buffer {
    return this.native === null ? f32Buffer(this.decodeFloat(packet)) : s16ToF32Buffer(this.decodeS16(packet));
  }

  /** The float decoder's answer for one packet, in a fresh array of exactly its samples. */
  private decodeFloat(packet: Buffer): Float32Array {
    const frames = Buffer.isBuffer(packet) && packet.length > 0 ? opusPacketSamples(packet, this.sampleRate) : 1;
    if (frames <= 0) throw new OpusDecodeError(`opus decode: corrupted stream (${packet.length}-byte packet, TOC 0x${packet[0].toString(16).padStart(2, '0')})`);
    const out = new Float32Array(frames * this.channels);
    const n = this.decodeInto(packet, out, 0, frames);
    return n === frames ? out : out.subarray(0, n * this.channels);
  }

  private checkConceal(frameSamples: number): void {
    const unit = this.sampleRate / 400;
    if (!Number.isInteger(frameSamples) || frameSamples <= 0 || frameSamples % unit !== 0 || frameSamples > (this.sampleRate * MAX_PACKET_MS) / 1000) {
      throw new OpusFrameSizeError(`opus conceal: frameSamples ${String(frameSamples)} is not a multiple of 2.5 ms (${unit} samples) up to 120 ms at ${this.sampleRate} Hz`);
    }
  }

  /**
   * Packet-loss concealment for one lost packet of `frameSamples` (a multiple of 2.5 ms, at most 120 ms), s16le.
   * libopus conceals 120 ms for an empty packet and would age its state by that much; a TOC-only packet
   * (a zero-length frame, RFC 6716 §3.2.1) makes it conceal exactly one frame instead, as DTX does.
   */
  concealS16(frameSamples: number): Buffer {
    this.checkConceal(frameSamples);
    const unit = this.sampleRate / 400;
    const bytes = frameSamples * this.channels * 2;
    if (this.native === null) {
      const f = new Float32Array(frameSamples * this.channels);
      this.concealInto(frameSamples, f, 0);
      return f32ToS16(f);
    }
    // Before any packet the decoder has nothing to extend: libopus itself answers zeros.
    if (this.lastToc < 0) return Buffer.alloc(bytes);
    let units = frameSamples / unit;
    if (SINGLE_FRAME_UNITS.includes(units)) return this.concealPiece(units, bytes);
    const out = Buffer.alloc(bytes);
    let off = 0;
    while (units > 0) {
      const piece = units >= 24 ? 24 : units >= 16 ? 16 : units >= 8 ? 8 : units >= 4 ? 4 : units >= 2 ? 2 : 1;
      const pcm = this.concealPiece(piece, piece * unit * this.channels * 2);
      pcm.copy(out, off);
      off += pcm.length;
      units -= piece;
    }
    return out;
  }

  /** concealS16 as f32 interleaved (a fresh Buffer). */
  conceal(frameSamples: number): Buffer {
    if (this.native !== null) return s16ToF32Buffer(this.concealS16(frameSamples));
    const f = new Float32Array(frameSamples * this.channels);
    this.concealInto(frameSamples, f, 0);
    return f32Buffer(f);
  }

  private concealPiece(units: number, bytes: number): Buffer {
    this.tocPacket[0] = tocFor(this.lastToc, units);
    const native = this.native!;
    let pcm: Buffer;
    try {
      pcm = native.decode(this.tocPacket);
    } catch {
      // Should not happen for a well-formed TOC; the classic empty-packet PLC still gives one frame's worth.
      pcm = native.decode(OpusDecoder.EMPTY);
    }
    if (pcm.length === bytes) return pcm;
    const fixed = Buffer.alloc(bytes);
    pcm.copy(fixed, 0, 0, Math.min(bytes, pcm.length));
    return fixed;
  }
}

/** libopus's error codes (opus_defines.h), by their negation. */
const OPUS_ERRORS: Record<number, string> = { 1: 'invalid argument', 2: 'buffer too small', 3: 'internal error', 4: 'corrupted stream', 5: 'request not implemented', 6: 'invalid state', 7: 'memory allocation failed' };

function s16ToF32Buffer(s16: Buffer): Buffer {
  // Its own ArrayBuffer: aligned for Float32Array, and not shared with the Buffer pool.
  return f32Buffer(s16ToF32(s16));
}

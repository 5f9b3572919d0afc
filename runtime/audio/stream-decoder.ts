// Opus streams to PCM: one decoder per stream, a gap in seq filled with packet-loss concealment — the Opus decode node's engine.
import { OpusDecoder, OpusFrameSizeError } from './opus';
import { performance } from 'node:perf_hooks';
import { opusPacketSamples } from '../protocol/opus-toc';

/** What the decoder reads of msg.audio. */
export interface OpusPacketInfo {
  seq: number;
  sampleRate: number;
  channels: number;
  /** Samples per channel the packet carries (the TOC must say the same). */
  frameSamples: number;
}

/** One decoded or concealed frame, f32 interleaved; `seq` is the frame's own (u32) sequence number. */
export type DecodedFrameSink = (pcm: Buffer, seq: number, concealed: boolean) => void;

export interface StreamDecodersOptions {
  /** The longest gap (in frames) filled with concealment; a longer one — a restart, a stall — is not. Default 5. */
  maxConceal?: number;
}

/** A stream with no packet for this long is forgotten (its decoder freed), looked for every SWEEP_EVERY packets. */
const STREAM_IDLE_MS = 30_000;
const SWEEP_EVERY = 1000;

/** The state of one stream. */
class Stream {
  readonly dec: OpusDecoder;
  nextSeq: number;
  /** performance.now() of its last packet. */
  lastAt = 0;
  constructor(readonly sampleRate: number, readonly channels: number, seq: number) {
    this.dec = new OpusDecoder({ sampleRate, channels: channels as 1 | 2 });
    this.nextSeq = seq;
  }
}

/**
 * Decodes many Opus streams, each keyed by its streamKey (runtime/audio/stream-key.ts). A stream's decoder is made
 * with its first packet and made again when its rate or channel count changes. Packets after a gap of up to
 * `maxConceal` frames are preceded by one concealed frame per missing seq (OpusDecoder.conceal: libopus's PLC, so the
 * sound fades rather than clicks); a packet that goes back in seq is decoded as it comes.
 */
export class StreamDecoders {
  readonly maxConceal: number;
  /** Frames concealed, over every stream. */
  concealed = 0;
  private readonly streams = new Map<string, Stream>();
  private decodes = 0;

  constructor(opts: StreamDecodersOptions = {}) {
    const m = opts.maxConceal ?? 5;
    if (!Number.isInteger(m) || m < 0) throw new RangeError(`maxConceal must be a non-negative integer, got ${String(m)}`);
    this.maxConceal = m;
  }

  /** Streams seen. */
  get size(): number {
    return this.streams.size;
  }

  /**
   * Decodes one packet of stream `key`: `out` gets the concealed frames of a gap first, then the decoded one.
   * Throws — before libopus sees anything — when the packet's TOC does not carry `a.frameSamples` at `a.sampleRate`
   * (OpusFrameSizeError), when the rate or channels are not Opus's (OpusConfigError), and OpusDecodeError when libopus
   * refuses the packet; the stream's next expected seq is then unchanged.
   */
  decode(key: string, a: OpusPacketInfo, packet: Buffer, out: DecodedFrameSink): void {
    let s = this.streams.get(key);
    if (!s || s.sampleRate !== a.sampleRate || s.channels !== a.channels) {
      s = new Stream(a.sampleRate, a.channels, a.seq);
      this.streams.set(key, s);
    }
    // Streams are keyed by connection too, so every reconnect is a new one: those silent for a while are let go.
    s.lastAt = performance.now();
    if (++this.decodes % SWEEP_EVERY === 0) this.sweep(s.lastAt);
    const samples = opusPacketSamples(packet, a.sampleRate);
    if (samples !== a.frameSamples) {
      throw new OpusFrameSizeError(samples < 0
        ? `opus decode: the ${packet.length}-byte packet is not a valid Opus packet (RFC 6716 §3.4)`
        : `opus decode: frameSamples ${String(a.frameSamples)} does not match the packet, whose TOC says ${samples} samples at ${a.sampleRate} Hz`);
    }
    const gap = (a.seq - s.nextSeq) >>> 0;
    if (gap > 0 && gap <= this.maxConceal) {
      for (let i = 0; i < gap; i++) {
        out(s.dec.conceal(a.frameSamples), (s.nextSeq + i) >>> 0, true);
        this.concealed++;
      }
    }
    const pcm = s.dec.decode(packet);
    s.nextSeq = (a.seq + 1) >>> 0;
    out(pcm, a.seq, false);
  }

  private sweep(now: number): void {
    for (const [k, st] of this.streams) if (now - st.lastAt > STREAM_IDLE_MS) this.streams.delete(k);
  }

  /** Forgets every stream (their decoders go with them). */
  clear(): void {
    this.streams.clear();
  }
}

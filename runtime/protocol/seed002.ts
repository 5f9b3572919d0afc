// Seed 002's raw UDP formats (its audiostreamer → audionode → audiorecorder), so those tools work with an xcast:
//   in:  "mono with sequence numbers"   [seq u32 big-endian][raw audio]        (audiostreamer → audionode)
//   out: "stereo without sequence numbers"  [raw interleaved s16le PCM]         (audionode → audiorecorder)
// Neither carries a rate or a channel count: they are settings (the seed's audionode defaults to 44100 Hz).
// Every size is checked: a datagram that is not a whole number of samples is dropped with a reason, never guessed at.

import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { PlayoutHeader } from '../audio/playout';
import { ActivityMap, MAX_UDP_DATAGRAM_BYTES } from './udp-sessions';
import { AddressCounts } from './auth';
import { f32ToS16, f32View } from '../audio/pcm';

/** Sample formats of the raw audio in a "mono with sequence numbers" datagram. */
export type Seed002SampleFormat = 's16le' | 's16be' | 'f32le';
/** What the decoded payload is handed to the playout buffer as. */
export type Seed002Output = 'pcm_s16le' | 'pcm_f32le';

export const SEED002_SEQ_BYTES = 4;
/** The seed's audionode default (`--sample-rate`). */
export const SEED002_DEFAULT_SAMPLE_RATE = 44100;

const FORMAT_BYTES: Record<Seed002SampleFormat, number> = { s16le: 2, s16be: 2, f32le: 4 };

export interface Seed002InOptions {
  /** Default 44100 (the seed's). 8000 … 192000. */
  sampleRate?: number;
  /** Interleaved channels in the raw audio; default 1 (the format's name says mono; more is allowed). 1 … 8. */
  channels?: number;
  /** Default 's16le'. */
  format?: Seed002SampleFormat;
  /** Default: the format's own ('pcm_s16le' for s16le/s16be, 'pcm_f32le' for f32le). */
  output?: Seed002Output;
  /** The header's trackId (default 0). */
  trackId?: number;
}

export type Seed002Decoded =
  | { ok: true; header: PlayoutHeader & { trackId: number }; data: Buffer }
  | { ok: false; reason: 'short' | 'partial_sample' | 'too_many_samples'; message: string };

/** Throws an Error naming the field for a bad option (the node turns it into a ConfigError). */
export function checkSeed002InOptions(o: Seed002InOptions = {}): Required<Seed002InOptions> {
  const sampleRate = o.sampleRate ?? SEED002_DEFAULT_SAMPLE_RATE;
  if (!(Number.isInteger(sampleRate) && sampleRate >= 8000 && sampleRate <= 192000)) throw new Error(`sampleRate: must be an integer 8000 … 192000, got ${String(sampleRate)}`);
  const channels = o.channels ?? 1;
  if (!(Number.isInteger(channels) && channels >= 1 && channels <= 8)) throw new Error(`channels: must be an integer 1 … 8, got ${String(channels)}`);
  const format = o.format ?? 's16le';
  if (!(format in FORMAT_BYTES)) throw new Error(`format: must be one of ${Object.keys(FORMAT_BYTES).join(', ')}, got ${String(format).slice(0, 40)}`);
  const output = o.output ?? (format === 'f32le' ? 'pcm_f32le' : 'pcm_s16le');
  if (output !== 'pcm_s16le' && output !== 'pcm_f32le') throw new Error(`output: must be pcm_s16le or pcm_f32le, got ${String(output).slice(0, 40)}`);
  const trackId = o.trackId ?? 0;
  if (!(Number.isInteger(trackId) && trackId >= 0 && trackId <= 0xffffffff)) throw new Error(`trackId: must be an unsigned 32-bit integer, got ${String(trackId)}`);
  return { sampleRate, channels, format, output, trackId };
}

/**
 * Decodes "mono with sequence numbers" datagrams of one configured format. The payload is a subarray of the
 * datagram when no conversion is needed (s16le → pcm_s16le, f32le → pcm_f32le), else a fresh Buffer.
 */
export class Seed002MonoIn {
  readonly options: Readonly<Required<Seed002InOptions>>;
  private readonly frameBytes: number;

  constructor(opts: Seed002InOptions = {}) {
    this.options = Object.freeze(checkSeed002InOptions(opts));
    this.frameBytes = FORMAT_BYTES[this.options.format] * this.options.channels;
  }

  decode(datagram: Buffer): Seed002Decoded {
    const o = this.options;
    const audioBytes = datagram.length - SEED002_SEQ_BYTES;
    if (audioBytes <= 0) {
      return { ok: false, reason: 'short', message: `datagram of ${datagram.length} bytes has no audio after its 4-byte sequence number` };
    }
    if (audioBytes % this.frameBytes !== 0) {
      return {
        ok: false, reason: 'partial_sample',
        message: `${audioBytes} bytes of audio is not a whole number of ${o.format} × ${o.channels}-channel samples (${this.frameBytes} bytes each)`,
      };
    }
    const frameSamples = audioBytes / this.frameBytes;
    if (frameSamples > 0xffff) {
      return { ok: false, reason: 'too_many_samples', message: `${frameSamples} samples per channel in one datagram, more than 65535` };
    }
    const raw = datagram.subarray(SEED002_SEQ_BYTES);
    const header = {
      seq: datagram.readUInt32BE(0), codec: o.output, sampleRate: o.sampleRate, channels: o.channels, frameSamples, trackId: o.trackId,
    };
    return { ok: true, header, data: convert(raw, o.format, o.output) };
  }
}

function convert(raw: Buffer, from: Seed002SampleFormat, to: Seed002Output): Buffer {
  if (from === 's16le' && to === 'pcm_s16le') return raw;
  if (from === 'f32le' && to === 'pcm_f32le') return raw;
  if (from === 's16be' && to === 'pcm_s16le') {
    const out = Buffer.allocUnsafe(raw.length);
    for (let i = 0; i < raw.length; i += 2) { out[i] = raw[i + 1]; out[i + 1] = raw[i]; }
    return out;
  }
  if (to === 'pcm_f32le') {
    const n = raw.length / 2;
    const out = Buffer.allocUnsafe(n * 4);
    for (let i = 0; i < n; i++) out.writeFloatLE((from === 's16le' ? raw.readInt16LE(2 * i) : raw.readInt16BE(2 * i)) / 32768, 4 * i);
    return out;
  }
  // f32le → pcm_s16le
  const n = raw.length / 4;
  const out = Buffer.allocUnsafe(n * 2);
  for (let i = 0; i < n; i++) out.writeInt16LE(floatToS16(raw.readFloatLE(4 * i)), 2 * i);
  return out;
}

function floatToS16(v: number): number {
  if (!(v === v)) return 0;                      // NaN
  const s = Math.round(v * 32768);
  return s > 32767 ? 32767 : s < -32768 ? -32768 : s;
}

/**
 * One "mono with sequence numbers" datagram (what the seed's audiostreamer sends): `[seq u32 BE][samples]`. `samples`
 * is the raw audio as it goes on the wire (s16le for the seed). A fresh Buffer.
 */
export function encodeSeed002Mono(seq: number, samples: Buffer): Buffer {
  if (!(Number.isInteger(seq) && seq >= 0 && seq <= 0xffffffff)) throw new RangeError(`seq ${seq} is not an unsigned 32-bit integer (wrap it with >>> 0)`);
  if (SEED002_SEQ_BYTES + samples.length > MAX_UDP_DATAGRAM_BYTES) throw new RangeError(`${samples.length} bytes of audio do not fit one UDP datagram`);
  const out = Buffer.allocUnsafe(SEED002_SEQ_BYTES + samples.length);
  out.writeUInt32BE(seq, 0);
  samples.copy(out, SEED002_SEQ_BYTES);
  return out;
}

/**
 * One "stereo without sequence numbers" datagram from interleaved PCM of `channels` (1 or 2) as `codec`: interleaved
 * s16le, 2 channels (mono is copied to both, as the seed's streamer does; f32 is clipped and rounded). A fresh Buffer
 * per call: never mutate one after sending. Throws RangeError for a payload that is not whole samples, more than two
 * channels, or more than one datagram holds.
 */
export function encodeSeed002Stereo(pcm: Buffer, channels: number, codec: Seed002Output): Buffer {
  if (channels !== 1 && channels !== 2) throw new RangeError(`channels ${channels}: the stereo format takes 1 or 2 channels (mix or map down first)`);
  const bps = codec === 'pcm_s16le' ? 2 : codec === 'pcm_f32le' ? 4 : 0;
  if (bps === 0) throw new RangeError(`codec ${String(codec)} is not pcm_s16le or pcm_f32le`);
  if (pcm.length % (bps * channels) !== 0) throw new RangeError(`${pcm.length} bytes is not a whole number of ${codec} × ${channels}-channel samples`);
  const frames = pcm.length / (bps * channels);
  if (frames * 4 > MAX_UDP_DATAGRAM_BYTES) throw new RangeError(`${frames} stereo s16 samples (${frames * 4} bytes) do not fit one UDP datagram`);
  const out = Buffer.allocUnsafe(frames * 4);
  if (codec === 'pcm_s16le' && channels === 2) {
    pcm.copy(out);
    return out;
  }
  // f32 → s16 is the project's one conversion (pcm.ts f32ToS16: rounded, clipped).
  if (codec === 'pcm_f32le' && channels === 2) return f32ToS16(f32View(pcm), out);
  const mono = codec === 'pcm_f32le' ? f32ToS16(f32View(pcm)) : pcm;
  for (let i = 0; i < frames; i++) {
    const v = mono.readInt16LE(2 * i);
    out.writeInt16LE(v, 4 * i);
    out.writeInt16LE(v, 4 * i + 2);
  }
  return out;
}

/** Splits a stereo datagram (what the seed's audiorecorder receives) into its left and right s16 samples; checks its size. */
export function decodeSeed002Stereo(datagram: Buffer): { left: Int16Array; right: Int16Array } {
  if (datagram.length % 4 !== 0) throw new RangeError(`${datagram.length} bytes is not a whole number of stereo s16le samples (4 bytes each)`);
  const n = datagram.length / 4;
  const left = new Int16Array(n);
  const right = new Int16Array(n);
  for (let i = 0; i < n; i++) { left[i] = datagram.readInt16LE(4 * i); right[i] = datagram.readInt16LE(4 * i + 2); }
  return { left, right };
}

// ---- one stream per source ----

/** Why a seed 002 source ended ('close' event). */
export type Seed002CloseReason = 'idle_timeout' | 'evicted' | 'closed';

/**
 * One seed 002 streamer, told apart by source address and port (several on one host are several streams; a streamer
 * restarted on a new port is a new one, the old ending by idle timeout). Its fields are a connection event's, as a
 * UdpSession's are: `id` / `connectionId`, `remote`, `userId` (from `userIdOf`, default "seed002-<address>:<port>"), role 'peer',
 * no HELLO, not authenticated (the format has no credentials: bind it to an address only trusted senders reach).
 */
export class Seed002Source {
  readonly id: string = randomUUID();
  readonly remote: string;
  readonly role = 'peer' as const;
  readonly hello = undefined;
  readonly authenticated = false;
  readonly secure = false;
  readonly transport = 'seed002' as const;
  lastRxMs: number;
  readonly openedMs: number;
  packets = 0;

  constructor(readonly key: string, readonly address: string, readonly port: number, readonly userId: string, nowMs: number) {
    this.remote = `${address.includes(':') ? `[${address}]` : address}:${port}`;
    this.lastRxMs = nowMs;
    this.openedMs = nowMs;
  }

  get connectionId(): string {
    return this.id;
  }
}

export interface Seed002IngestOptions extends Seed002InOptions {
  /** A source with nothing for this long ends (default 5000 ms: the seed's streamer sends every 10–200 ms; 0 = never). */
  idleTimeoutMs?: number;
  /** Sources kept; a new one when full evicts the most idle (default 1024). */
  maxSources?: number;
  /**
   * Sources from one IP (an IPv6 /64), any ports (default 16): a new one past it is dropped ('too_many_sources'),
   * evicting no one, so one host spraying ports can neither fill the mixer with tracks nor push the others out.
   */
  maxSourcesPerAddress?: number;
  /** The userId of a new source (default "seed002-<address>:<port>"); must return a non-empty string. */
  userIdOf?: (address: string, port: number) => string;
}

export interface Seed002IngestEvents {
  open: [source: Seed002Source];
  close: [source: Seed002Source, reason: Seed002CloseReason];
}

/** What one datagram did; the same object for every call (read it before the next). */
export interface Seed002IngestResult {
  kind: 'audio' | 'drop';
  source: Seed002Source | undefined;
  header: (PlayoutHeader & { trackId: number }) | undefined;
  data: Buffer | undefined;
  reason: 'short' | 'partial_sample' | 'too_many_samples' | 'too_many_sources' | undefined;
  message: string | undefined;
}

/**
 * Seed 002's "mono with sequence numbers" ingest, socket-free like UdpSessionTable: `handle(datagram, from, nowMs)`.
 * A datagram that is not whole samples is dropped (counted by reason) and opens no source; a good one opens its
 * source ('open') or refreshes it.
 */
export class Seed002Ingest extends EventEmitter<Seed002IngestEvents> {
  readonly decoder: Seed002MonoIn;
  readonly idleTimeoutMs: number;
  readonly maxSources: number;
  readonly maxSourcesPerAddress: number;
  readonly stats = { datagrams: 0, packets: 0, dropped: 0, drops: {} as Record<string, number>, ended: {} as Record<string, number>, opened: 0 };
  private readonly sources = new ActivityMap<Seed002Source>();
  private readonly perAddress = new AddressCounts();
  private readonly userIdOf: (address: string, port: number) => string;
  private readonly result: Seed002IngestResult = { kind: 'drop', source: undefined, header: undefined, data: undefined, reason: undefined, message: undefined };

  /** Throws an Error naming the option for a bad value. */
  constructor(opts: Seed002IngestOptions = {}) {
    super();
    this.decoder = new Seed002MonoIn(opts);
    const idle = opts.idleTimeoutMs ?? 5000;
    if (!(typeof idle === 'number' && Number.isFinite(idle) && idle >= 0)) throw new Error(`idleTimeoutMs: must be a number ≥ 0, got ${String(idle)}`);
    this.idleTimeoutMs = idle;
    const max = opts.maxSources ?? 1024;
    if (!(Number.isInteger(max) && max >= 1 && max <= 1_000_000)) throw new Error(`maxSources: must be an integer 1 … 1000000, got ${String(max)}`);
    this.maxSources = max;
    const per = opts.maxSourcesPerAddress ?? 16;
    if (!(Number.isInteger(per) && per >= 1 && per <= 1_000_000)) throw new Error(`maxSourcesPerAddress: must be an integer 1 … 1000000, got ${String(per)}`);
    this.maxSourcesPerAddress = per;
    if (opts.userIdOf !== undefined && typeof opts.userIdOf !== 'function') throw new Error('userIdOf: must be a function (address, port) => userId');
    this.userIdOf = opts.userIdOf ?? ((a, p) => `seed002-${a}:${p}`);
  }

  get size(): number {
    return this.sources.size;
  }

  /** Most idle first. */
  list(): Seed002Source[] {
    return [...this.sources.values()];
  }

  handle(datagram: Buffer, from: { address: string; port: number }, nowMs: number): Seed002IngestResult {
    this.sweep(nowMs);
    this.stats.datagrams++;
    const r = this.result;
    const key = `${from.address}:${from.port}`;
    let src = this.sources.get(key);
    r.source = src;
    const d = this.decoder.decode(datagram);
    if (!d.ok) return this.drop(d.reason, d.message);
    if (src === undefined) {
      if (this.perAddress.of(from.address) >= this.maxSourcesPerAddress) return this.drop('too_many_sources', `${from.address} has ${this.maxSourcesPerAddress} sources already (maxSourcesPerAddress)`);
      this.perAddress.add(from.address);
      if (this.sources.size >= this.maxSources) this.end(this.sources.oldest() as Seed002Source, 'evicted');
      const userId = this.userIdOf(from.address, from.port);
      if (typeof userId !== 'string' || userId === '') throw new Error('userIdOf: returned no userId');
      src = new Seed002Source(key, from.address, from.port, userId, nowMs);
      this.sources.add(src);
      this.stats.opened++;
      r.source = src;
      this.emit('open', src);
    } else {
      this.sources.touch(src, nowMs);
    }
    src.packets++;
    this.stats.packets++;
    r.kind = 'audio'; r.header = d.header; r.data = d.data; r.reason = undefined; r.message = undefined;
    return r;
  }

  /** Ends the sources idle for idleTimeoutMs ('close' with 'idle_timeout'); returns how many. */
  sweep(nowMs: number): number {
    const oldest = this.sources.oldest();
    if (this.idleTimeoutMs <= 0 || oldest === undefined || nowMs - oldest.lastRxMs < this.idleTimeoutMs) return 0;
    const ended = this.sources.idle(nowMs, this.idleTimeoutMs);
    for (const s of ended) this.end(s, 'idle_timeout');
    return ended.length;
  }

  closeAll(): void {
    for (const s of [...this.sources.values()]) this.end(s, 'closed');
  }

  private drop(reason: NonNullable<Seed002IngestResult['reason']>, message: string): Seed002IngestResult {
    const r = this.result;
    r.kind = 'drop'; r.header = undefined; r.data = undefined; r.reason = reason; r.message = message;
    this.stats.dropped++;
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
    return r;
  }

  private end(s: Seed002Source, reason: Seed002CloseReason): void {
    if (!this.sources.delete(s)) return;
    this.perAddress.remove(s.address);
    this.stats.ended[reason] = (this.stats.ended[reason] ?? 0) + 1;
    this.emit('close', s, reason);
  }
}

// WAV files: a tolerant RIFF/WAVE reader (int, float, extensible; crash-truncated files) and a crash-safe streaming writer.

import * as fs from 'node:fs';
import { ConfigError, Resampler } from './resampler';
import { mapChannels } from './playout/channel-map';
import { s16ToF32 } from './pcm';

export type WavErrorCode =
  | 'not_riff'
  | 'not_wave'
  | 'truncated_chunk'
  | 'bad_fmt'
  | 'unsupported_format'
  | 'no_fmt'
  | 'no_data'
  | 'partial_frame'
  | 'closed';

/** A WAV file cannot be read or written; the message says what and at which byte offset. */
export class WavError extends Error {
  constructor(readonly code: WavErrorCode, message: string) {
    super(message);
    this.name = 'WavError';
  }
}

export const WAVE_FORMAT_PCM = 1;
export const WAVE_FORMAT_IEEE_FLOAT = 3;
export const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

export interface WavData {
  sampleRate: number;
  channels: number;
  /** Container bits per sample (for extensible files, not the valid bits). */
  bitsPerSample: number;
  format: 'pcm' | 'float';
  /** Interleaved samples scaled to −1..1 (ints divided by 2^(bits−1); floats as stored). */
  samples: Float32Array;
  /** Samples per channel. */
  frames: number;
}

interface Fmt {
  tag: number;
  channels: number;
  sampleRate: number;
  blockAlign: number;
  bits: number;
}

/** Parses the fmt chunk whose header starts at `chunkAt`; messages name that offset. */
function parseFmt(buf: Buffer, chunkAt: number, size: number): Fmt {
  const at = chunkAt + 8;
  if (size < 16) throw new WavError('bad_fmt', `fmt chunk at offset ${chunkAt} is ${size} bytes; at least 16 are required`);
  let tag = buf.readUInt16LE(at);
  const channels = buf.readUInt16LE(at + 2);
  const sampleRate = buf.readUInt32LE(at + 4);
  const blockAlign = buf.readUInt16LE(at + 12);
  const bits = buf.readUInt16LE(at + 14);
  if (tag === WAVE_FORMAT_EXTENSIBLE) {
    // cbSize ≥ 22: validBits(2) channelMask(4) then the SubFormat GUID, whose first two bytes are the real format tag.
    if (size < 40) throw new WavError('bad_fmt', `WAVE_FORMAT_EXTENSIBLE fmt chunk at offset ${chunkAt} is ${size} bytes; 40 are required`);
    tag = buf.readUInt16LE(at + 24);
  }
  if (channels === 0) throw new WavError('bad_fmt', `fmt chunk at offset ${chunkAt}: channels is 0`);
  if (sampleRate === 0) throw new WavError('bad_fmt', `fmt chunk at offset ${chunkAt}: sampleRate is 0`);
  const supported =
    (tag === WAVE_FORMAT_PCM && (bits === 8 || bits === 16 || bits === 24 || bits === 32)) ||
    (tag === WAVE_FORMAT_IEEE_FLOAT && (bits === 32 || bits === 64));
  if (!supported) {
    throw new WavError('unsupported_format', `fmt chunk at offset ${chunkAt}: format tag 0x${tag.toString(16)} with ${bits} bits per sample is not supported (PCM 8/16/24/32, IEEE float 32/64)`);
  }
  if (blockAlign !== channels * (bits / 8)) {
    throw new WavError('bad_fmt', `fmt chunk at offset ${chunkAt}: blockAlign is ${blockAlign}, expected ${channels} channels × ${bits / 8} bytes = ${channels * (bits / 8)}`);
  }
  return { tag, channels, sampleRate, blockAlign, bits };
}

function decode(buf: Buffer, at: number, count: number, fmt: Fmt): Float32Array {
  const out = new Float32Array(count);
  if (fmt.tag === WAVE_FORMAT_IEEE_FLOAT) {
    if (fmt.bits === 32) for (let i = 0; i < count; i++) out[i] = buf.readFloatLE(at + i * 4);
    else for (let i = 0; i < count; i++) out[i] = buf.readDoubleLE(at + i * 8);
    return out;
  }
  switch (fmt.bits) {
    case 8: // unsigned, 128 = silence
      for (let i = 0; i < count; i++) out[i] = (buf[at + i] - 128) / 128;
      break;
    case 16:
      s16ToF32(buf.subarray(at, at + count * 2), out);
      break;
    case 24:
      for (let i = 0, p = at; i < count; i++, p += 3) out[i] = (buf[p] | (buf[p + 1] << 8) | ((buf[p + 2] << 24) >> 8)) / 8388608;
      break;
    case 32:
      for (let i = 0; i < count; i++) out[i] = buf.readInt32LE(at + i * 4) / 2147483648;
      break;
  }
  return out;
}

/**
 * Reads a RIFF/WAVE file or buffer. Unknown chunks are skipped (with their pad
 * byte when odd-sized). A data chunk whose size is 0, 0xFFFFFFFF or runs past
 * the end of the file — what a writer that was killed leaves — is read up to
 * the last whole frame present.
 */
export function readWav(src: string | Buffer): WavData {
  const buf = typeof src === 'string' ? fs.readFileSync(src) : src;
  if (buf.length < 12 || buf.toString('latin1', 0, 4) !== 'RIFF') {
    throw new WavError('not_riff', `offset 0: expected "RIFF", found ${JSON.stringify(buf.toString('latin1', 0, Math.min(4, buf.length)))}`);
  }
  if (buf.toString('latin1', 8, 12) !== 'WAVE') {
    throw new WavError('not_wave', `offset 8: expected "WAVE", found ${JSON.stringify(buf.toString('latin1', 8, 12))}`);
  }
  let fmt: Fmt | undefined;
  let dataAt = -1;
  let dataLen = 0;
  // The RIFF size is not trusted: a crashed writer leaves it stale, so walk to the end of the buffer.
  let off = 12;
  while (off + 8 <= buf.length) {
    const id = buf.toString('latin1', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'data') {
      const avail = buf.length - body;
      const tolerant = size === 0 || size === 0xffffffff || size > avail;
      dataAt = body;
      dataLen = tolerant ? avail : size;
      // Past a truncated or streaming data chunk there is nothing more to walk.
      if (tolerant || fmt) break;
    } else if (id === 'fmt ') {
      if (body + size > buf.length) throw new WavError('truncated_chunk', `fmt chunk at offset ${off} claims ${size} bytes but the file ends at ${buf.length}`);
      fmt = parseFmt(buf, off, size);
      if (dataAt >= 0) break;
    }
    off = body + size + (size & 1);
  }
  if (!fmt) throw new WavError('no_fmt', `no "fmt " chunk before offset ${Math.min(off, buf.length)}`);
  if (dataAt < 0) throw new WavError('no_data', `no "data" chunk before offset ${Math.min(off, buf.length)}`);
  const frames = Math.floor(dataLen / fmt.blockAlign);
  return {
    sampleRate: fmt.sampleRate,
    channels: fmt.channels,
    bitsPerSample: fmt.bits,
    format: fmt.tag === WAVE_FORMAT_IEEE_FLOAT ? 'float' : 'pcm',
    samples: decode(buf, dataAt, frames * fmt.channels, fmt),
    frames,
  };
}

/**
 * A WAV file's samples (interleaved f32) at `channels` and `sampleRate`: its channels converted by the engine's
 * channel map (runtime/audio/playout/channel-map.ts, as a stream's in the playout buffer), then resampled.
 */
export function readWavAs(src: string | Buffer, sampleRate: number, channels: number): Float32Array {
  const wav = readWav(src);
  let s = wav.samples;
  if (wav.channels !== channels) {
    const out = new Float32Array(wav.frames * channels);
    mapChannels(s, 0, wav.channels, out, 0, channels, wav.frames);
    s = out;
  }
  if (wav.sampleRate !== sampleRate) {
    const r = new Resampler(wav.sampleRate, sampleRate, channels);
    const a = r.process(Buffer.from(s.buffer, s.byteOffset, s.byteLength));
    const b = r.flush();
    const joined = Buffer.concat([a, b]);
    s = new Float32Array(joined.buffer, joined.byteOffset, joined.length >> 2);
  }
  return s;
}

export interface WavWriterOptions {
  sampleRate: number;
  channels: number;
  /** Sample format on disk: 16-bit int (default) or 32-bit IEEE float. */
  format?: 's16' | 'f32';
  /** The RIFF and data sizes in the header are rewritten whenever this much audio has been written since the last time. */
  patchIntervalMs?: number;
}

/**
 * Streams f32 audio into a WAV file that stays playable if the process dies:
 * the header's sizes are rewritten in place at least every `patchIntervalMs`
 * of audio, so a SIGKILL loses at most that much from the header's account
 * (tolerant readers, `readWav` among them when sizes are 0, get even that).
 *
 * I/O is synchronous on purpose: each write is one small frame (a 20 ms
 * stereo f32 frame is 7.7 KB) that lands in the kernel's page cache in
 * microseconds, so it never stalls the audio clock; in exchange, everything a
 * `write()` returned from is in the kernel and survives the process being
 * killed, and the header patch can never race queued data as it could
 * behind a write stream.
 */
export class WavWriter {
  readonly path: string;
  readonly sampleRate: number;
  readonly channels: number;
  readonly format: 's16' | 'f32';
  /** Byte offset of the data chunk's size field (40 for s16; 54 for f32, which has an 18-byte fmt and a fact chunk). */
  readonly dataSizeOffset: number;
  /** Byte offset of the first sample. */
  readonly dataOffset: number;

  private fd: number | undefined;
  private readonly bytesPerSample: number;
  private readonly patchEveryFrames: number;
  private frames = 0;
  private framesAtPatch = 0;
  /** Conversion output, grown to the largest write seen and then reused. */
  private scratch: Buffer = Buffer.alloc(0);
  private readonly field = Buffer.alloc(4);

  constructor(path: string, opts: WavWriterOptions) {
    const check = (field: string, v: unknown): number => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new ConfigError(field, `must be a positive integer, got ${JSON.stringify(v)}`);
      return v;
    };
    this.path = path;
    this.sampleRate = check('sampleRate', opts.sampleRate);
    this.channels = check('channels', opts.channels);
    if (this.channels > 0xffff) throw new ConfigError('channels', `must be at most 65535, got ${this.channels}`);
    const format = opts.format ?? 's16';
    if (format !== 's16' && format !== 'f32') throw new ConfigError('format', `must be 's16' or 'f32', got ${JSON.stringify(format)}`);
    this.format = format;
    const patchIntervalMs = opts.patchIntervalMs ?? 500;
    if (typeof patchIntervalMs !== 'number' || !(patchIntervalMs >= 0)) {
      throw new ConfigError('patchIntervalMs', `must be a number ≥ 0, got ${JSON.stringify(opts.patchIntervalMs)}`);
    }
    this.patchEveryFrames = Math.max(1, Math.floor((patchIntervalMs * this.sampleRate) / 1000));
    this.bytesPerSample = format === 's16' ? 2 : 4;

    const header = this.header();
    this.dataOffset = header.length;
    this.dataSizeOffset = header.length - 4;
    this.fd = fs.openSync(path, 'w');
    try {
      fs.writeSync(this.fd, header, 0, header.length, 0);
    } catch (err) {
      fs.closeSync(this.fd);
      this.fd = undefined;
      throw err;
    }
  }

  /** Header for zero frames of audio: sizes are then patched in as audio arrives. */
  private header(): Buffer {
    const ch = this.channels;
    const blockAlign = ch * this.bytesPerSample;
    const isFloat = this.format === 'f32';
    // Non-PCM formats carry cbSize and a fact chunk (frames per channel), as the WAVE spec asks and sox/ffmpeg accept.
    const fmtSize = isFloat ? 18 : 16;
    const size = 12 + 8 + fmtSize + (isFloat ? 12 : 0) + 8;
    const h = Buffer.alloc(size);
    h.write('RIFF', 0, 'latin1');
    h.writeUInt32LE(size - 8, 4);
    h.write('WAVE', 8, 'latin1');
    h.write('fmt ', 12, 'latin1');
    h.writeUInt32LE(fmtSize, 16);
    h.writeUInt16LE(isFloat ? WAVE_FORMAT_IEEE_FLOAT : WAVE_FORMAT_PCM, 20);
    h.writeUInt16LE(ch, 22);
    h.writeUInt32LE(this.sampleRate, 24);
    h.writeUInt32LE(this.sampleRate * blockAlign, 28);
    h.writeUInt16LE(blockAlign, 32);
    h.writeUInt16LE(this.bytesPerSample * 8, 34);
    let at = 36;
    if (isFloat) {
      h.writeUInt16LE(0, at); // cbSize
      at += 2;
      h.write('fact', at, 'latin1');
      h.writeUInt32LE(4, at + 4);
      h.writeUInt32LE(0, at + 8);
      at += 12;
    }
    h.write('data', at, 'latin1');
    h.writeUInt32LE(0, at + 4);
    return h;
  }

  /** Frames (samples per channel) written so far. */
  get framesWritten(): number {
    return this.frames;
  }

  /** Appends interleaved f32 frames (a Buffer of f32le or a Float32Array); s16 files get them rounded and clipped. */
  write(pcmF32: Buffer | Float32Array): void {
    if (this.fd === undefined) throw new WavError('closed', `write to ${this.path} after close()`);
    const ch = this.channels;
    const isBuf = Buffer.isBuffer(pcmF32);
    const byteLength = pcmF32.byteLength;
    if (byteLength % (4 * ch) !== 0) {
      throw new WavError('partial_frame', `write of ${byteLength} bytes is not a whole number of ${ch}-channel f32 frames (${4 * ch} bytes each)`);
    }
    const n = byteLength >> 2;
    if (n === 0) return;
    const pos = this.dataOffset + this.frames * ch * this.bytesPerSample;
    if (this.format === 'f32') {
      fs.writeSync(this.fd, pcmF32, 0, byteLength, pos);
    } else {
      if (this.scratch.length < n * 2) this.scratch = Buffer.allocUnsafe(n * 2);
      const dst = this.scratch;
      // Same rounding and clipping as pcm.f32ToS16, inlined to read a Buffer without a view allocation.
      for (let i = 0; i < n; i++) {
        let v = Math.round((isBuf ? (pcmF32 as Buffer).readFloatLE(i * 4) : (pcmF32 as Float32Array)[i]) * 32768);
        if (v > 32767) v = 32767;
        else if (v < -32768) v = -32768;
        else if (Number.isNaN(v)) v = 0;
        dst.writeInt16LE(v, i * 2);
      }
      fs.writeSync(this.fd, dst, 0, n * 2, pos);
    }
    this.frames += n / ch;
    if (this.frames - this.framesAtPatch >= this.patchEveryFrames) this.patch();
  }

  /** Rewrites the size fields for the audio written so far. */
  private patch(): void {
    if (this.fd === undefined) return;
    const data = this.frames * this.channels * this.bytesPerSample;
    // Past 4 GiB the fields cannot hold the size; 0xFFFFFFFF is what tolerant readers take as "to the end of the file".
    const dataSize = Math.min(data, 0xffffffff);
    const riffSize = Math.min(this.dataOffset - 8 + data, 0xffffffff);
    this.writeField(riffSize, 4);
    // fact's dwSampleLength sits 8 bytes before the data chunk's size (fact body, then the "data" id).
    if (this.format === 'f32') this.writeField(Math.min(this.frames, 0xffffffff), this.dataSizeOffset - 8);
    this.writeField(dataSize, this.dataSizeOffset);
    this.framesAtPatch = this.frames;
  }

  private writeField(v: number, at: number): void {
    this.field.writeUInt32LE(v, 0);
    fs.writeSync(this.fd!, this.field, 0, 4, at);
  }

  /** Writes the final sizes and closes the file; later calls do nothing. (Samples are 2 or 4 bytes, so data never needs a pad byte.) */
  close(): void {
    if (this.fd === undefined) return;
    try {
      this.patch();
    } finally {
      fs.closeSync(this.fd);
      this.fd = undefined;
    }
  }
}

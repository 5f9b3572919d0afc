// The operator console's meter frame: every track's and every room master's peak and level, as the mix engine
// measures them (runtime/audio/mixer.ts, Mixer.setMetering), in 16 + 4 × (N + R) bytes.
//
// Meter law: peak = the sample peak in dBFS (20·log10 max |x|); level = RMS in dBFS, AES17 sine-referenced,
// 20·log10(sqrt(mean x²)) + 3.0103, so a −12 dBFS sine reads −12 on both. Silence (0) is −∞.
//
// Layout, little-endian: u8 0x4d ('M'), u8 version 1, u16 N tracks, u16 R rooms, u16 0, u32 layoutId,
// u32 frameSeq (low 32 bits); then (N + R) × (i16 peak, i16 level) in centi-dBFS (dB × 100, rounded, clamped to
// −12000…+2400; −32768 = −∞): the N tracks in layout order, then the R room masters in layout order.

export const METER_FRAME_MAGIC = 0x4d;
export const METER_FRAME_VERSION = 1;
export const METER_FRAME_HEADER_BYTES = 16;
/** The i16 that means −∞ (silence). */
export const METER_NEG_INF = -32768;
/** The range a finite value is clamped to, in centi-dBFS. */
export const METER_MIN_CDB = -12000;
export const METER_MAX_CDB = 2400;
/** AES17: a sine's RMS is 3.0103 dB below its peak; added so a sine's level equals its peak level. */
export const SINE_RMS_OFFSET_DB = 10 * Math.log10(2);
/** What the page states as its meter law. */
export const METER_LAW = 'peak: sample peak, dBFS; level: RMS, dBFS, AES17 (sine-referenced: 20·log10(sqrt(mean x²)) + 3.0103, so a −12 dBFS sine reads −12); −∞ for silence';

/** One track in the meter layout (its key is streamKey({ userId, trackId, connectionId })). */
export interface MeterTrack {
  key: string;
  userId: string;
  trackId: number;
  connectionId: string;
  room: string;
}

/** What a meter frame's values are of; `layoutId` (u32) changes whenever the track or the room list changes. */
export interface MeterLayout {
  layoutId: number;
  tracks: MeterTrack[];
  /** 'main' first, always present; then every other room with a track, in the order they appeared. */
  rooms: string[];
}

/** One meter reading, dBFS (−Infinity: silence). */
export interface MeterValue {
  peak: number;
  level: number;
}

export interface MeterFrame {
  layoutId: number;
  /** The mixer's frame seq (low 32 bits) of the last tick the frame measured. */
  frameSeq: number;
  tracks: MeterValue[];
  rooms: MeterValue[];
}

/** Why a meter frame could not be decoded (or encoded); the message names the field or byte offset. */
export class MeterFrameError extends Error {
  override readonly name = 'MeterFrameError';
  readonly code = 'bad_meter_frame';
}

/** dBFS of a sample peak (linear, ≥ 0); 0 → −∞. */
export function peakDb(peak: number): number {
  return 20 * Math.log10(peak);
}

/** Level (RMS, AES17 sine-referenced) in dBFS of a mean square; 0 → −∞. */
export function levelDb(meanSquare: number): number {
  return 10 * Math.log10(meanSquare) + SINE_RMS_OFFSET_DB;
}

/** dBFS → the frame's i16: centi-dB rounded and clamped; −∞ and NaN → METER_NEG_INF. */
export function toCentiDb(db: number): number {
  if (db === -Infinity || Number.isNaN(db)) return METER_NEG_INF;
  const c = Math.round(db * 100);
  return c < METER_MIN_CDB ? METER_MIN_CDB : c > METER_MAX_CDB ? METER_MAX_CDB : c;
}

/** The frame's i16 → dBFS (METER_NEG_INF → −∞). */
export function fromCentiDb(c: number): number {
  return c === METER_NEG_INF ? -Infinity : c / 100;
}

function checkCount(field: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new MeterFrameError(`meter frame ${field}: must be an integer 0…65535, got ${String(n)}`);
}

/**
 * Encodes from linear measurements, as the mixer keeps them: per entry (N tracks then R rooms) the sample peak and
 * the mean square. The hot path's encoder: no object per entry.
 */
export function encodeMeterMeasurements(layoutId: number, frameSeq: number, nTracks: number, nRooms: number, peaks: ArrayLike<number>, meanSquares: ArrayLike<number>): Buffer {
  checkCount('tracks', nTracks);
  checkCount('rooms', nRooms);
  const n = nTracks + nRooms;
  // A buffer of its own (not a slice of Node's pool): the mix thread transfers it.
  const b = Buffer.from(new ArrayBuffer(METER_FRAME_HEADER_BYTES + 4 * n));
  writeHeader(b, layoutId, frameSeq, nTracks, nRooms);
  for (let i = 0, o = METER_FRAME_HEADER_BYTES; i < n; i++, o += 4) {
    b.writeInt16LE(toCentiDb(peakDb(peaks[i])), o);
    b.writeInt16LE(toCentiDb(levelDb(meanSquares[i])), o + 2);
  }
  return b;
}

function writeHeader(b: Buffer, layoutId: number, frameSeq: number, nTracks: number, nRooms: number): void {
  b[0] = METER_FRAME_MAGIC;
  b[1] = METER_FRAME_VERSION;
  b.writeUInt16LE(nTracks, 2);
  b.writeUInt16LE(nRooms, 4);
  b.writeUInt16LE(0, 6);
  b.writeUInt32LE(layoutId >>> 0, 8);
  b.writeUInt32LE(frameSeq >>> 0, 12);
}

/** Encodes a frame of dBFS values (−Infinity for silence). */
export function encodeMeterFrame(f: MeterFrame): Buffer {
  checkCount('tracks', f.tracks.length);
  checkCount('rooms', f.rooms.length);
  if (!Number.isInteger(f.layoutId) || f.layoutId < 0 || f.layoutId > 0xffffffff) throw new MeterFrameError(`meter frame layoutId: must be a u32, got ${String(f.layoutId)}`);
  const all = f.tracks.concat(f.rooms);
  const b = Buffer.from(new ArrayBuffer(METER_FRAME_HEADER_BYTES + 4 * all.length));
  writeHeader(b, f.layoutId, f.frameSeq, f.tracks.length, f.rooms.length);
  for (let i = 0, o = METER_FRAME_HEADER_BYTES; i < all.length; i++, o += 4) {
    b.writeInt16LE(toCentiDb(all[i].peak), o);
    b.writeInt16LE(toCentiDb(all[i].level), o + 2);
  }
  return b;
}

/** Decodes a meter frame (a Buffer or any byte view); throws MeterFrameError naming what is wrong. */
export function decodeMeterFrame(buf: Uint8Array): MeterFrame {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < METER_FRAME_HEADER_BYTES) throw new MeterFrameError(`meter frame: ${b.length} bytes, shorter than its ${METER_FRAME_HEADER_BYTES}-byte header`);
  if (b[0] !== METER_FRAME_MAGIC) throw new MeterFrameError(`meter frame: byte 0 is 0x${b[0].toString(16).padStart(2, '0')}, not 0x4d ('M')`);
  if (b[1] !== METER_FRAME_VERSION) throw new MeterFrameError(`meter frame: version ${b[1]} at byte 1, only ${METER_FRAME_VERSION} is known`);
  const nTracks = b.readUInt16LE(2);
  const nRooms = b.readUInt16LE(4);
  const want = METER_FRAME_HEADER_BYTES + 4 * (nTracks + nRooms);
  if (b.length !== want) throw new MeterFrameError(`meter frame: ${b.length} bytes, ${nTracks} tracks and ${nRooms} rooms take ${want}`);
  const read = (o: number): MeterValue => ({ peak: fromCentiDb(b.readInt16LE(o)), level: fromCentiDb(b.readInt16LE(o + 2)) });
  const tracks: MeterValue[] = new Array(nTracks);
  const rooms: MeterValue[] = new Array(nRooms);
  let o = METER_FRAME_HEADER_BYTES;
  for (let i = 0; i < nTracks; i++, o += 4) tracks[i] = read(o);
  for (let i = 0; i < nRooms; i++, o += 4) rooms[i] = read(o);
  return { layoutId: b.readUInt32LE(8), frameSeq: b.readUInt32LE(12), tracks, rooms };
}

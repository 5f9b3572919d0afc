// Byte codec of the audio event stream (docs/event-stream.md): Jamulus RFC events 0x01/0x02 plus this project's 0x10–0x14, little-endian.
import { Codec } from '../codec';

/** Event type byte. 0x01 and 0x02 are the Jamulus RFC's; 0x10 and up are this project's extensions. */
export enum EventType {
  OPUS_PACKET_RECEIVED = 0x01,
  AUDIO_FRAME_MIXED = 0x02,
  STREAM_INFO = 0x10,
  MIX_PARAMETERS = 0x11,
  PCM_PACKET_RECEIVED = 0x12,
  /** A room's Audio Frame Mixed (a room other than 'main'): u8 room length, the room, then 0x02's data. */
  ROOM_FRAME_MIXED = 0x13,
  /** The masters of rooms other than 'main' (issue 12): u64 from frame, u16 K, K × (u8 room length, room, f32 master). */
  ROOM_MASTERS = 0x14,
}

/** Size of the common event header: u64 timestamp, u8 type, u32 data length. */
export const EVENT_HEADER_BYTES = 13;
/** Format version carried by Stream Info (0x10). */
export const FORMAT_VERSION = 1;
/** Audio compression type of the RFC: standard Opus. */
export const CT_OPUS = 0;
/** Audio compression type of the RFC: Jamulus' 64-sample Opus. */
export const CT_OPUS64 = 1;
/**
 * Compression type this project writes in an Audio Frame Mixed entry for a PCM track
 * (the RFC only knows Opus; a value with the top bit set cannot collide with a future CT_ value
 * for long, and the track's own 0x12 events say which PCM codec it is).
 */
export const CT_PCM = 0x80;
/** PCM codec numbers of 0x12, the same numbering as streamproto1's AUDIO codec byte. */
export const PCM_S16LE = Codec.PCM_S16LE;
export const PCM_F32LE = Codec.PCM_F32LE;

/** The u64 sequence number an Audio Frame Mixed entry carries where the frame was concealed. */
export const CONCEALED_SEQ = 0xffffffffffffffffn;

const TWO_32 = 4294967296;
const FIXED_OPUS = 16; // channel id, seq, compression, channels, byte count
const FIXED_MIXED = 16; // frame seq, frame size, sample rate, channel count
const FIXED_ENTRY = 16; // channel id, seq, compression, channels, frame size (profile follows)
const FIXED_STREAM_INFO = 15;
const FIXED_MIX_PARAMS = 14;
const MIX_PARAM_ENTRY = 13;
const FIXED_PCM = 24;
const FIXED_ROOM_MASTERS = 10;

/** Why an event could not be encoded or decoded; `offset` is the byte offset of the event in its stream or file, when known. */
export class EventFormatError extends Error {
  override readonly name = 'EventFormatError';
  constructor(
    readonly code: 'out_of_range' | 'bad_length' | 'event_too_large' | 'bad_value' | 'truncated',
    message: string,
    readonly offset?: number,
  ) {
    super(offset === undefined ? message : `at byte ${offset}: ${message}`);
  }
}

/** A musician profile as the peer's HELLO `profile` object carries it. */
export interface Profile {
  name?: string;
  city?: string;
  /** QLocale::Country numbering; 0 = unknown. */
  countryCode?: number;
  /** 0 = not set. */
  skillLevel?: number;
  /** Jamulus instrument id; 0 = not set. */
  instrument?: number;
}

/** A profile as decoded: every field present. */
export interface DecodedProfile {
  name: string;
  city: string;
  countryCode: number;
  skillLevel: number;
  instrument: number;
}

export type U64 = number | bigint;

export interface OpusPacketReceived {
  channelId: number;
  seq: U64;
  compression: number;
  channels: number;
  packet: Buffer;
}

export interface MixedEntry {
  channelId: number;
  /** The packet used for this frame, or null where the frame was concealed. */
  seq: U64 | null;
  compression: number;
  channels: number;
  frameSamples: number;
  /** A profile object, or the bytes `encodeProfile` made of one (the hot path encodes each profile once). */
  profile: Profile | Buffer;
}

export interface AudioFrameMixed {
  frameSeq: U64;
  frameSamples: number;
  sampleRate: number;
  entries: readonly MixedEntry[];
}

export interface StreamInfo {
  /** µs since the Unix epoch when the event server started; event timestamps count from here. */
  serverStartMicros: number;
  sampleRate: number;
  frameSamples: number;
  /** Defaults to FORMAT_VERSION. */
  version?: number;
}

export interface ChannelMixParameters {
  channelId: number;
  gain: number;
  /** −1 (left) … +1 (right). */
  pan: number;
  muted: boolean;
}

export interface MixParameters {
  /** First frame sequence number these parameters hold for. */
  fromFrameSeq: U64;
  master: number;
  channels: readonly ChannelMixParameters[];
}

/** 0x14: every room master set (rooms other than 'main'), in force from `fromFrameSeq`; a room not listed follows 0x11's master. */
export interface RoomMasters {
  fromFrameSeq: U64;
  rooms: ReadonlyArray<{ room: string; master: number }>;
}

export interface RoomMastersEvent extends EventBase {
  type: EventType.ROOM_MASTERS;
  fromFrameSeq: bigint;
  rooms: Array<{ room: string; master: number }>;
}

export interface PcmPacketReceived {
  channelId: number;
  seq: U64;
  /** PCM_S16LE (0) or PCM_F32LE (1). */
  codec: number;
  channels: number;
  frameSamples: number;
  sampleRate: number;
  data: Buffer;
}

/** Fields every decoded event has. `offset` is where the event starts in its stream or file. */
export interface EventBase {
  /** µs since the event server started. */
  timestamp: number;
  offset: number;
}

export interface OpusPacketReceivedEvent extends EventBase {
  type: EventType.OPUS_PACKET_RECEIVED;
  channelId: number;
  seq: bigint;
  compression: number;
  channels: number;
  /** A view into the bytes the parser was given, not a copy. */
  packet: Buffer;
}

export interface DecodedMixedEntry {
  channelId: number;
  /** null: the concealment marker 0xFFFFFFFFFFFFFFFF. */
  seq: bigint | null;
  compression: number;
  channels: number;
  frameSamples: number;
  profile: DecodedProfile;
}

export interface AudioFrameMixedEvent extends EventBase {
  type: EventType.AUDIO_FRAME_MIXED;
  frameSeq: bigint;
  frameSamples: number;
  sampleRate: number;
  entries: DecodedMixedEntry[];
}

/** 0x13: one frame of a room's mix (a room other than 'main', whose frames are 0x02), with 0x02's fields. */
export interface RoomFrameMixedEvent extends EventBase {
  type: EventType.ROOM_FRAME_MIXED;
  room: string;
  frameSeq: bigint;
  frameSamples: number;
  sampleRate: number;
  entries: DecodedMixedEntry[];
}

export interface StreamInfoEvent extends EventBase {
  type: EventType.STREAM_INFO;
  serverStartMicros: number;
  sampleRate: number;
  frameSamples: number;
  version: number;
}

export interface MixParametersEvent extends EventBase {
  type: EventType.MIX_PARAMETERS;
  fromFrameSeq: bigint;
  master: number;
  channels: ChannelMixParameters[];
}

export interface PcmPacketReceivedEvent extends EventBase {
  type: EventType.PCM_PACKET_RECEIVED;
  channelId: number;
  seq: bigint;
  codec: number;
  channels: number;
  frameSamples: number;
  sampleRate: number;
  /** A view into the bytes the parser was given, not a copy. */
  data: Buffer;
}

export type AudioEvent =
  | OpusPacketReceivedEvent
  | AudioFrameMixedEvent
  | RoomFrameMixedEvent
  | StreamInfoEvent
  | MixParametersEvent
  | PcmPacketReceivedEvent
  | RoomMastersEvent;

/** Whether this module can decode events of this type (others are skipped by their length). */
export function isKnownEventType(type: number): type is EventType {
  return (
    type === EventType.OPUS_PACKET_RECEIVED ||
    type === EventType.AUDIO_FRAME_MIXED ||
    type === EventType.STREAM_INFO ||
    type === EventType.MIX_PARAMETERS ||
    type === EventType.PCM_PACKET_RECEIVED ||
    type === EventType.ROOM_FRAME_MIXED ||
    type === EventType.ROOM_MASTERS
  );
}

// ---------------------------------------------------------------------------
// Encoding

function checkUint(field: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new EventFormatError('out_of_range', `${field} must be an integer 0…${max}, got ${v}`);
  }
}

function checkU64(field: string, v: U64): void {
  if (typeof v === 'bigint') {
    if (v < 0n || v > 0xffffffffffffffffn) throw new EventFormatError('out_of_range', `${field} must fit in a u64, got ${v}`);
  } else if (!Number.isSafeInteger(v) || v < 0) {
    throw new EventFormatError('out_of_range', `${field} must be a non-negative safe integer or a bigint, got ${v}`);
  }
}

function checkFinite(field: string, v: number): void {
  if (!Number.isFinite(v)) throw new EventFormatError('out_of_range', `${field} must be a finite number, got ${v}`);
}

/** Writes a u64 without allocating a bigint when given a number (the hot path passes numbers). */
function writeU64(buf: Buffer, off: number, v: U64): void {
  if (typeof v === 'bigint') {
    buf.writeBigUInt64LE(v, off);
  } else {
    buf.writeUInt32LE(v >>> 0, off);
    buf.writeUInt32LE(Math.floor(v / TWO_32), off + 4);
  }
}

function writeHeader(buf: Buffer, ts: U64, type: EventType, dataLength: number): void {
  writeU64(buf, 0, ts);
  buf.writeUInt8(type, 8);
  buf.writeUInt32LE(dataLength, 9);
}

/** UTF-8 bytes of `s`, cut to at most 255 bytes without splitting a character. */
export function utf8Cut255(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  if (b.length <= 255) return b;
  let end = 255;
  // Back off over continuation bytes (10xxxxxx) so the cut lands before a character's lead byte.
  while (end > 0 && (b[end] & 0xc0) === 0x80) end--;
  return b.subarray(0, end);
}

/**
 * The profile block of an Audio Frame Mixed entry (name, city, country, skill, instrument).
 * Encode a channel's profile once and pass the Buffer as the entry's `profile` on every frame.
 */
export function encodeProfile(p: Profile | undefined): Buffer {
  const name = utf8Cut255(typeof p?.name === 'string' ? p.name : '');
  const city = utf8Cut255(typeof p?.city === 'string' ? p.city : '');
  const countryCode = p?.countryCode ?? 0;
  const skillLevel = p?.skillLevel ?? 0;
  const instrument = p?.instrument ?? 0;
  checkUint('profile.countryCode', countryCode, 0xffff);
  checkUint('profile.skillLevel', skillLevel, 0xff);
  checkUint('profile.instrument', instrument, 0xff);
  const out = Buffer.allocUnsafe(2 + name.length + city.length + 4);
  let o = 0;
  out[o++] = name.length;
  o += name.copy(out, o);
  out[o++] = city.length;
  o += city.copy(out, o);
  out.writeUInt16LE(countryCode, o);
  out[o + 2] = skillLevel;
  out[o + 3] = instrument;
  return out;
}

/** 0x01: one Opus packet as the xcast received it. */
export function encodeOpusPacketReceived(ts: U64, e: OpusPacketReceived): Buffer {
  checkU64('timestamp', ts);
  checkUint('channelId', e.channelId, 0xffffffff);
  checkU64('seq', e.seq);
  checkUint('compression', e.compression, 0xff);
  checkUint('channels', e.channels, 0xff);
  const b = e.packet.length;
  if (b > 0xffff) throw new EventFormatError('out_of_range', `packet must be at most 65535 bytes, got ${b}`);
  const len = FIXED_OPUS + b;
  const buf = Buffer.allocUnsafe(EVENT_HEADER_BYTES + len);
  writeHeader(buf, ts, EventType.OPUS_PACKET_RECEIVED, len);
  const o = EVENT_HEADER_BYTES;
  buf.writeUInt32LE(e.channelId, o);
  writeU64(buf, o + 4, e.seq);
  buf[o + 12] = e.compression;
  buf[o + 13] = e.channels;
  buf.writeUInt16LE(b, o + 14);
  e.packet.copy(buf, o + FIXED_OPUS);
  return buf;
}

/** 0x02: which packet of each channel went into one mixed frame. */
export function encodeAudioFrameMixed(ts: U64, e: AudioFrameMixed): Buffer {
  return encodeMixed(ts, e, null);
}

/** A room name as 0x13 carries it (1…255 bytes of UTF-8); encode it once per room, not per frame. */
export function encodeRoomName(room: string): Buffer {
  const b = Buffer.from(typeof room === 'string' ? room : '', 'utf8');
  if (b.length < 1 || b.length > 255) throw new EventFormatError('out_of_range', `room must be 1…255 bytes of UTF-8, got ${b.length}`);
  return b;
}

/** 0x13: one frame of room `room`'s mix (a string, or the bytes encodeRoomName made of it); the rest as 0x02. */
export function encodeRoomFrameMixed(ts: U64, room: string | Buffer, e: AudioFrameMixed): Buffer {
  const r = Buffer.isBuffer(room) ? room : encodeRoomName(room);
  if (r.length < 1 || r.length > 255) throw new EventFormatError('out_of_range', `room must be 1…255 bytes of UTF-8, got ${r.length}`);
  return encodeMixed(ts, e, r);
}

function encodeMixed(ts: U64, e: AudioFrameMixed, room: Buffer | null): Buffer {
  checkU64('timestamp', ts);
  checkU64('frameSeq', e.frameSeq);
  checkUint('frameSamples', e.frameSamples, 0xffff);
  checkUint('sampleRate', e.sampleRate, 0xffffffff);
  const n = e.entries.length;
  checkUint('entries.length', n, 0xffff);
  // Profiles given as objects are encoded here; Buffers (the hot path) are used as they are.
  let profiles: Buffer[] | null = null;
  let len = FIXED_MIXED;
  for (let i = 0; i < n; i++) {
    const en = e.entries[i];
    checkUint(`entries[${i}].channelId`, en.channelId, 0xffffffff);
    if (en.seq !== null) checkU64(`entries[${i}].seq`, en.seq);
    checkUint(`entries[${i}].compression`, en.compression, 0xff);
    checkUint(`entries[${i}].channels`, en.channels, 0xff);
    checkUint(`entries[${i}].frameSamples`, en.frameSamples, 0xffff);
    let p: Buffer;
    if (Buffer.isBuffer(en.profile)) {
      p = en.profile;
    } else {
      profiles ??= new Array<Buffer>(n);
      p = profiles[i] = encodeProfile(en.profile);
    }
    len += FIXED_ENTRY + p.length;
  }
  const prefix = room === null ? 0 : 1 + room.length;
  const buf = Buffer.allocUnsafe(EVENT_HEADER_BYTES + prefix + len);
  writeHeader(buf, ts, room === null ? EventType.AUDIO_FRAME_MIXED : EventType.ROOM_FRAME_MIXED, prefix + len);
  let o = EVENT_HEADER_BYTES;
  if (room !== null) {
    buf[o] = room.length;
    room.copy(buf, o + 1);
    o += prefix;
  }
  writeU64(buf, o, e.frameSeq);
  buf.writeUInt16LE(e.frameSamples, o + 8);
  buf.writeUInt32LE(e.sampleRate, o + 10);
  buf.writeUInt16LE(n, o + 14);
  o += FIXED_MIXED;
  for (let i = 0; i < n; i++) {
    const en = e.entries[i];
    buf.writeUInt32LE(en.channelId, o);
    if (en.seq === null) {
      buf.writeUInt32LE(0xffffffff, o + 4);
      buf.writeUInt32LE(0xffffffff, o + 8);
    } else {
      writeU64(buf, o + 4, en.seq);
    }
    buf[o + 12] = en.compression;
    buf[o + 13] = en.channels;
    buf.writeUInt16LE(en.frameSamples, o + 14);
    o += FIXED_ENTRY;
    const p = Buffer.isBuffer(en.profile) ? en.profile : profiles![i];
    o += p.copy(buf, o);
  }
  return buf;
}

/** 0x10: what a reader needs before anything else. */
export function encodeStreamInfo(ts: U64, e: StreamInfo): Buffer {
  checkU64('timestamp', ts);
  checkU64('serverStartMicros', e.serverStartMicros);
  checkUint('sampleRate', e.sampleRate, 0xffffffff);
  checkUint('frameSamples', e.frameSamples, 0xffff);
  const version = e.version ?? FORMAT_VERSION;
  checkUint('version', version, 0xff);
  const buf = Buffer.allocUnsafe(EVENT_HEADER_BYTES + FIXED_STREAM_INFO);
  writeHeader(buf, ts, EventType.STREAM_INFO, FIXED_STREAM_INFO);
  const o = EVENT_HEADER_BYTES;
  writeU64(buf, o, e.serverStartMicros);
  buf.writeUInt32LE(e.sampleRate, o + 8);
  buf.writeUInt16LE(e.frameSamples, o + 12);
  buf[o + 14] = version;
  return buf;
}

/** 0x11: a complete snapshot of the mix parameters, in force from `fromFrameSeq` on. */
export function encodeMixParameters(ts: U64, e: MixParameters): Buffer {
  checkU64('timestamp', ts);
  checkU64('fromFrameSeq', e.fromFrameSeq);
  checkFinite('master', e.master);
  const k = e.channels.length;
  checkUint('channels.length', k, 0xffff);
  const len = FIXED_MIX_PARAMS + k * MIX_PARAM_ENTRY;
  const buf = Buffer.allocUnsafe(EVENT_HEADER_BYTES + len);
  writeHeader(buf, ts, EventType.MIX_PARAMETERS, len);
  let o = EVENT_HEADER_BYTES;
  writeU64(buf, o, e.fromFrameSeq);
  buf.writeFloatLE(e.master, o + 8);
  buf.writeUInt16LE(k, o + 12);
  o += FIXED_MIX_PARAMS;
  for (let i = 0; i < k; i++) {
    const c = e.channels[i];
    checkUint(`channels[${i}].channelId`, c.channelId, 0xffffffff);
    checkFinite(`channels[${i}].gain`, c.gain);
    checkFinite(`channels[${i}].pan`, c.pan);
    if (c.pan < -1 || c.pan > 1) throw new EventFormatError('out_of_range', `channels[${i}].pan must be within −1…+1, got ${c.pan}`);
    buf.writeUInt32LE(c.channelId, o);
    buf.writeFloatLE(c.gain, o + 4);
    buf.writeFloatLE(c.pan, o + 8);
    buf[o + 12] = c.muted ? 1 : 0;
    o += MIX_PARAM_ENTRY;
  }
  return buf;
}

/** 0x14: the masters of the rooms other than 'main' that were set, a complete snapshot in force from `fromFrameSeq`. */
export function encodeRoomMasters(ts: U64, e: RoomMasters): Buffer {
  checkU64('timestamp', ts);
  checkU64('fromFrameSeq', e.fromFrameSeq);
  const k = e.rooms.length;
  checkUint('rooms.length', k, 0xffff);
  const names = e.rooms.map((r, i) => {
    checkFinite(`rooms[${i}].master`, r.master);
    try {
      return encodeRoomName(r.room);
    } catch (err) {
      throw new EventFormatError('out_of_range', `rooms[${i}].${(err as Error).message}`);
    }
  });
  let len = FIXED_ROOM_MASTERS;
  for (const n of names) len += 1 + n.length + 4;
  const buf = Buffer.allocUnsafe(EVENT_HEADER_BYTES + len);
  writeHeader(buf, ts, EventType.ROOM_MASTERS, len);
  let o = EVENT_HEADER_BYTES;
  writeU64(buf, o, e.fromFrameSeq);
  buf.writeUInt16LE(k, o + 8);
  o += FIXED_ROOM_MASTERS;
  for (let i = 0; i < k; i++) {
    buf[o] = names[i].length;
    o += 1 + names[i].copy(buf, o + 1);
    buf.writeFloatLE(e.rooms[i].master, o);
    o += 4;
  }
  return buf;
}

/** 0x12: one PCM AUDIO frame as the xcast received it. */
export function encodePcmPacketReceived(ts: U64, e: PcmPacketReceived): Buffer {
  checkU64('timestamp', ts);
  checkUint('channelId', e.channelId, 0xffffffff);
  checkU64('seq', e.seq);
  checkUint('codec', e.codec, 0xff);
  checkUint('channels', e.channels, 0xff);
  checkUint('frameSamples', e.frameSamples, 0xffff);
  checkUint('sampleRate', e.sampleRate, 0xffffffff);
  const d = e.data.length;
  const len = FIXED_PCM + d;
  if (len > 0xffffffff) throw new EventFormatError('out_of_range', `data is too long for one event: ${d} bytes`);
  const buf = Buffer.allocUnsafe(EVENT_HEADER_BYTES + len);
  writeHeader(buf, ts, EventType.PCM_PACKET_RECEIVED, len);
  const o = EVENT_HEADER_BYTES;
  buf.writeUInt32LE(e.channelId, o);
  writeU64(buf, o + 4, e.seq);
  buf[o + 12] = e.codec;
  buf[o + 13] = e.channels;
  buf.writeUInt16LE(e.frameSamples, o + 14);
  buf.writeUInt32LE(e.sampleRate, o + 16);
  buf.writeUInt32LE(d, o + 20);
  e.data.copy(buf, o + FIXED_PCM);
  return buf;
}

// ---------------------------------------------------------------------------
// Decoding

/** u64 → number; timestamps and epoch times fit a double exactly for the next 285 years. */
function readU64Number(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * TWO_32;
}

function need(data: Buffer, at: number, n: number, what: string, offset: number): void {
  if (at + n > data.length) {
    throw new EventFormatError('bad_length', `event data is ${data.length} bytes, too short for ${what}`, offset);
  }
}

/**
 * Decodes the data part of one event of a known type. `offset` is where the event
 * starts (used in error messages and kept on the event).
 */
export function decodeEventData(type: EventType, timestamp: number, data: Buffer, offset: number): AudioEvent {
  const L = data.length;
  const exact = (n: number, what: string): void => {
    if (L !== n) throw new EventFormatError('bad_length', `${what}: event data length is ${L}, expected ${n}`, offset);
  };
  switch (type) {
    case EventType.OPUS_PACKET_RECEIVED: {
      need(data, 0, FIXED_OPUS, 'Opus Packet Received', offset);
      const b = data.readUInt16LE(14);
      exact(FIXED_OPUS + b, `Opus Packet Received with ${b} Opus bytes`);
      return {
        type, timestamp, offset,
        channelId: data.readUInt32LE(0),
        seq: data.readBigUInt64LE(4),
        compression: data[12],
        channels: data[13],
        packet: data.subarray(FIXED_OPUS, FIXED_OPUS + b),
      };
    }
    case EventType.ROOM_FRAME_MIXED: {
      need(data, 0, 1, 'Room Frame Mixed', offset);
      const n = data[0];
      if (n === 0) throw new EventFormatError('bad_value', 'Room Frame Mixed: the room name is empty', offset);
      need(data, 1, n, 'the room of Room Frame Mixed', offset);
      const room = data.toString('utf8', 1, 1 + n);
      const f = decodeEventData(EventType.AUDIO_FRAME_MIXED, timestamp, data.subarray(1 + n), offset) as AudioFrameMixedEvent;
      return { type, timestamp, offset, room, frameSeq: f.frameSeq, frameSamples: f.frameSamples, sampleRate: f.sampleRate, entries: f.entries };
    }
    case EventType.AUDIO_FRAME_MIXED: {
      need(data, 0, FIXED_MIXED, 'Audio Frame Mixed', offset);
      const n = data.readUInt16LE(14);
      const entries: DecodedMixedEntry[] = new Array(n);
      let o = FIXED_MIXED;
      for (let i = 0; i < n; i++) {
        need(data, o, FIXED_ENTRY + 1, `Audio Frame Mixed entry ${i} of ${n}`, offset);
        const seq = data.readBigUInt64LE(o + 4);
        const channelId = data.readUInt32LE(o);
        const compression = data[o + 12];
        const channels = data[o + 13];
        const frameSamples = data.readUInt16LE(o + 14);
        o += FIXED_ENTRY;
        const nameLen = data[o];
        need(data, o + 1, nameLen + 1, `the name of Audio Frame Mixed entry ${i}`, offset);
        const name = data.toString('utf8', o + 1, o + 1 + nameLen);
        o += 1 + nameLen;
        const cityLen = data[o];
        need(data, o + 1, cityLen + 4, `the city and profile of Audio Frame Mixed entry ${i}`, offset);
        const city = data.toString('utf8', o + 1, o + 1 + cityLen);
        o += 1 + cityLen;
        const profile: DecodedProfile = {
          name, city,
          countryCode: data.readUInt16LE(o),
          skillLevel: data[o + 2],
          instrument: data[o + 3],
        };
        o += 4;
        entries[i] = { channelId, seq: seq === CONCEALED_SEQ ? null : seq, compression, channels, frameSamples, profile };
      }
      if (o !== L) throw new EventFormatError('bad_length', `Audio Frame Mixed: ${L - o} bytes left over after ${n} entries`, offset);
      return {
        type, timestamp, offset,
        frameSeq: data.readBigUInt64LE(0),
        frameSamples: data.readUInt16LE(8),
        sampleRate: data.readUInt32LE(10),
        entries,
      };
    }
    case EventType.STREAM_INFO: {
      // Later format versions may append fields; version 1 readers use the first 15 bytes.
      need(data, 0, FIXED_STREAM_INFO, 'Stream Info', offset);
      return {
        type, timestamp, offset,
        serverStartMicros: readU64Number(data, 0),
        sampleRate: data.readUInt32LE(8),
        frameSamples: data.readUInt16LE(12),
        version: data[14],
      };
    }
    case EventType.MIX_PARAMETERS: {
      need(data, 0, FIXED_MIX_PARAMS, 'Mix Parameters', offset);
      const k = data.readUInt16LE(12);
      exact(FIXED_MIX_PARAMS + k * MIX_PARAM_ENTRY, `Mix Parameters with ${k} channels`);
      const channels: ChannelMixParameters[] = new Array(k);
      let o = FIXED_MIX_PARAMS;
      for (let i = 0; i < k; i++) {
        channels[i] = {
          channelId: data.readUInt32LE(o),
          gain: data.readFloatLE(o + 4),
          pan: data.readFloatLE(o + 8),
          muted: data[o + 12] !== 0,
        };
        o += MIX_PARAM_ENTRY;
      }
      return { type, timestamp, offset, fromFrameSeq: data.readBigUInt64LE(0), master: data.readFloatLE(8), channels };
    }
    case EventType.ROOM_MASTERS: {
      need(data, 0, FIXED_ROOM_MASTERS, 'Room Masters', offset);
      const k = data.readUInt16LE(8);
      const rooms: Array<{ room: string; master: number }> = new Array(k);
      let o = FIXED_ROOM_MASTERS;
      for (let i = 0; i < k; i++) {
        need(data, o, 1, `Room Masters entry ${i} of ${k}`, offset);
        const n = data[o];
        if (n === 0) throw new EventFormatError('bad_value', `Room Masters entry ${i}: the room name is empty`, offset);
        need(data, o + 1, n + 4, `Room Masters entry ${i} of ${k}`, offset);
        rooms[i] = { room: data.toString('utf8', o + 1, o + 1 + n), master: data.readFloatLE(o + 1 + n) };
        o += 1 + n + 4;
      }
      if (o !== L) throw new EventFormatError('bad_length', `Room Masters: ${L - o} bytes left over after ${k} rooms`, offset);
      return { type, timestamp, offset, fromFrameSeq: data.readBigUInt64LE(0), rooms };
    }
    case EventType.PCM_PACKET_RECEIVED: {
      need(data, 0, FIXED_PCM, 'PCM Packet Received', offset);
      const d = data.readUInt32LE(20);
      exact(FIXED_PCM + d, `PCM Packet Received with ${d} data bytes`);
      return {
        type, timestamp, offset,
        channelId: data.readUInt32LE(0),
        seq: data.readBigUInt64LE(4),
        codec: data[12],
        channels: data[13],
        frameSamples: data.readUInt16LE(14),
        sampleRate: data.readUInt32LE(16),
        data: data.subarray(FIXED_PCM, FIXED_PCM + d),
      };
    }
  }
}

/**
 * Decodes the one event that `buf` holds from `offset` to its end. Returns null for an
 * event type this module does not know (a reader skips those by their length).
 * Buffers in the result are views into `buf`.
 */
export function decodeEvent(buf: Buffer, offset = 0): AudioEvent | null {
  if (buf.length - offset < EVENT_HEADER_BYTES) {
    throw new EventFormatError('truncated', `an event header is ${EVENT_HEADER_BYTES} bytes, only ${buf.length - offset} given`, offset);
  }
  const timestamp = readU64Number(buf, offset);
  const type = buf[offset + 8];
  const len = buf.readUInt32LE(offset + 9);
  const have = buf.length - offset - EVENT_HEADER_BYTES;
  if (have !== len) {
    throw new EventFormatError(have < len ? 'truncated' : 'bad_length',
      `event type 0x${type.toString(16).padStart(2, '0')} declares ${len} data bytes, ${have} given`, offset);
  }
  if (!isKnownEventType(type)) return null;
  return decodeEventData(type, timestamp, buf.subarray(offset + EVENT_HEADER_BYTES), offset);
}

/** Where a stream ended in the middle of an event. */
export interface TruncatedEvent {
  /** Byte offset where the incomplete event starts. */
  offset: number;
  /** Its type, when the header was complete. */
  type: number | null;
  /** Bytes of the event that were there (header included). */
  receivedBytes: number;
  /** Bytes the whole event needs, when the header was complete. */
  expectedBytes: number | null;
}

export interface EventParserOptions {
  /** Largest event of a known type the parser buffers (header included); default 64 MiB. Unknown types are skipped without buffering. */
  maxEventBytes?: number;
}

const enum ParseState { HEADER, BODY, SKIP }

/**
 * Incremental parser of an event byte stream (TCP reads or file chunks): events split
 * across chunks or many in one chunk come out the same. Unknown types are skipped by
 * their length. Decoded Buffers are views into the pushed chunks where an event lay
 * inside one chunk, so do not reuse a chunk after pushing it.
 */
export class EventParser {
  private readonly maxEventBytes: number;
  private state = ParseState.HEADER;
  private readonly header = Buffer.alloc(EVENT_HEADER_BYTES);
  private headerFill = 0;
  private body: Buffer | null = null;
  private bodyFill = 0;
  private skipLeft = 0;
  private curType = 0;
  private curTimestamp = 0;
  private curLength = 0;
  private eventStart = 0;
  private failed: EventFormatError | null = null;
  /** Bytes pushed so far. */
  bytes = 0;
  /** Events of unknown types skipped. */
  skipped = 0;

  constructor(opts: EventParserOptions = {}) {
    this.maxEventBytes = opts.maxEventBytes ?? 64 * 1024 * 1024;
  }

  /** Parses `chunk`; returns the events completed by it, in order. Throws EventFormatError (with the event's offset) on malformed data; the parser then stays failed. */
  push(chunk: Buffer): AudioEvent[] {
    const out: AudioEvent[] = [];
    this.pushTo(chunk, out);
    return out;
  }

  /** Like push, appending to `out` (lets a reader reuse one array). */
  pushTo(chunk: Buffer, out: AudioEvent[]): void {
    if (this.failed) throw this.failed;
    try {
      this.parse(chunk, out);
    } catch (err) {
      if (err instanceof EventFormatError) this.failed = err;
      throw err;
    }
  }

  private parse(chunk: Buffer, out: AudioEvent[]): void {
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      if (this.state === ParseState.HEADER) {
        let h: Buffer;
        let ho: number;
        if (this.headerFill === 0 && n - pos >= EVENT_HEADER_BYTES) {
          h = chunk; ho = pos;
          pos += EVENT_HEADER_BYTES;
          this.bytes += EVENT_HEADER_BYTES;
        } else {
          const take = Math.min(EVENT_HEADER_BYTES - this.headerFill, n - pos);
          chunk.copy(this.header, this.headerFill, pos, pos + take);
          this.headerFill += take;
          pos += take;
          this.bytes += take;
          if (this.headerFill < EVENT_HEADER_BYTES) return;
          h = this.header; ho = 0;
        }
        this.headerFill = 0;
        this.eventStart = this.bytes - EVENT_HEADER_BYTES;
        this.curTimestamp = readU64Number(h, ho);
        this.curType = h[ho + 8];
        this.curLength = h.readUInt32LE(ho + 9);
        if (!isKnownEventType(this.curType)) {
          this.skipped++;
          this.skipLeft = this.curLength;
          this.state = ParseState.SKIP;
          continue;
        }
        if (EVENT_HEADER_BYTES + this.curLength > this.maxEventBytes) {
          throw new EventFormatError('event_too_large',
            `event type 0x${this.curType.toString(16).padStart(2, '0')} declares ${this.curLength} data bytes, more than the ${this.maxEventBytes}-byte limit`,
            this.eventStart);
        }
        if (n - pos >= this.curLength) {
          // Whole event inside this chunk: decode in place, no copy.
          const data = chunk.subarray(pos, pos + this.curLength);
          pos += this.curLength;
          this.bytes += this.curLength;
          out.push(decodeEventData(this.curType, this.curTimestamp, data, this.eventStart));
          continue;
        }
        this.body = Buffer.allocUnsafe(this.curLength);
        this.bodyFill = 0;
        this.state = ParseState.BODY;
      } else if (this.state === ParseState.BODY) {
        const body = this.body!;
        const take = Math.min(body.length - this.bodyFill, n - pos);
        chunk.copy(body, this.bodyFill, pos, pos + take);
        this.bodyFill += take;
        pos += take;
        this.bytes += take;
        if (this.bodyFill === body.length) {
          this.body = null;
          this.state = ParseState.HEADER;
          out.push(decodeEventData(this.curType, this.curTimestamp, body, this.eventStart));
        }
      } else {
        const take = Math.min(this.skipLeft, n - pos);
        this.skipLeft -= take;
        pos += take;
        this.bytes += take;
        if (this.skipLeft === 0) this.state = ParseState.HEADER;
      }
    }
  }

  /** Call at the end of the stream: null if it ended between events, else where the incomplete last event starts. */
  end(): TruncatedEvent | null {
    if (this.state === ParseState.HEADER) {
      if (this.headerFill === 0) return null;
      return { offset: this.bytes - this.headerFill, type: null, receivedBytes: this.headerFill, expectedBytes: null };
    }
    const expected = EVENT_HEADER_BYTES + this.curLength;
    const received = this.state === ParseState.BODY
      ? EVENT_HEADER_BYTES + this.bodyFill
      : EVENT_HEADER_BYTES + this.curLength - this.skipLeft;
    return { offset: this.eventStart, type: this.curType, receivedBytes: received, expectedBytes: expected };
  }
}

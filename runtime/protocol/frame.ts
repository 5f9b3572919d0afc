// streamproto1 frames: constants, error class, and the encoders/decoders for every frame type (docs/streamproto1.md).

import { OPUS_MAX_PACKET_BYTES, opusPacketSamples } from './opus-toc';
import { Codec, codecBytesPerSample, codecNameOf, codecOf, type CodecName } from '../codec';
import { wireText } from '../log-text';

export const MAGIC = 0x5350;                 // "SP"
export const MAGIC_0 = 0x53;
export const MAGIC_1 = 0x50;
export const VERSION = 1;
export const PROTOCOL_NAME = 'streamproto1';
export const FRAME_HEADER_BYTES = 8;
export const AUDIO_HEADER_BYTES = 24;
/** Default limit on a frame's payload length N that a receiver accepts. */
export const DEFAULT_MAX_FRAME_BYTES = 1 << 20;
export const PING_PAYLOAD_BYTES = 8;
export const PONG_PAYLOAD_BYTES = 24;

export enum FrameType {
  HELLO = 0x01,
  METADATA = 0x02,
  AUDIO = 0x03,
  QOS = 0x04,
  ERROR = 0x05,
  PING = 0x06,
  PONG = 0x07,
}

const FRAME_TYPE_NAMES = ['', 'HELLO', 'METADATA', 'AUDIO', 'QOS', 'ERROR', 'PING', 'PONG'];

/** True for the seven frame types of version 1. */
export function isFrameType(type: number): type is FrameType {
  return type >= FrameType.HELLO && type <= FrameType.PONG;
}

/** "HELLO", "AUDIO", … or "0x1f" for an unknown type (for messages). */
export function frameTypeName(type: number): string {
  return isFrameType(type) ? FRAME_TYPE_NAMES[type] : `0x${type.toString(16).padStart(2, '0')}`;
}

// The codec table is runtime/codec.ts; re-exported here, where the wire's users look for it.
export { Codec, codecBytesPerSample, type CodecName };

/**
 * The codes a streamproto1 ERROR frame carries and a `ProtocolError` has.
 * docs/streamproto1.md, "Choices this project made", says when each is sent.
 */
export type ProtocolErrorCode =
  | 'bad_magic' | 'bad_version' | 'unknown_type' | 'frame_too_large'
  | 'bad_audio' | 'bad_opus_frame' | 'bad_json'
  | 'bad_hello' | 'unauthorized' | 'hello_timeout' | 'idle_timeout'
  | 'too_many_connections' | 'user_in_use' | 'replaced'
  | 'protocol';

/** A frame or stream that breaks streamproto1; `code` is what goes into the ERROR frame. */
export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;
  constructor(code: ProtocolErrorCode, message: string) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
  }
}

/** The flow's name of a wire codec id; throws ProtocolError 'bad_audio' for an id that is none. */
export function codecName(id: Codec): CodecName {
  const name = codecNameOf(id);
  if (name === undefined) throw new ProtocolError('bad_audio', `codec id ${id} is not one of 0 (pcm_s16le), 1 (pcm_f32le), 2 (opus)`);
  return name;
}

/** The wire id of a flow codec name; throws ProtocolError 'bad_audio' for a name that is none. */
export function codecId(name: CodecName | string): Codec {
  const id = codecOf(name);
  if (id === -1) throw new ProtocolError('bad_audio', `codec ${wireText(name)} is not one of pcm_s16le, pcm_f32le, opus`);
  return id;
}

/** The binary header at the start of an AUDIO payload. `captureTime` is µs since the Unix epoch. */
export interface AudioHeader {
  trackId: number;
  seq: number;
  captureTime: number;
  sampleRate: number;
  channels: number;
  codec: Codec;
  frameSamples: number;
}

/** Sample rates an Opus stream can run at (RFC 6716 §2). */
export const OPUS_SAMPLE_RATES: readonly number[] = [8000, 12000, 16000, 24000, 48000];
/** Legal Opus frame durations in tenths of a millisecond: 2.5, 5, 10, 20, 40, 60 ms. */
const OPUS_DURATIONS_TENTH_MS: readonly number[] = [25, 50, 100, 200, 400, 600];

/** True when `frameSamples` is 2.5, 5, 10, 20, 40 or 60 ms at `sampleRate`. */
export function isLegalOpusFrameSamples(frameSamples: number, sampleRate: number): boolean {
  for (const d of OPUS_DURATIONS_TENTH_MS) if (frameSamples * 10000 === d * sampleRate) return true;
  return false;
}

const TWO_32 = 4294967296;

function writeU64(buf: Buffer, value: number, offset: number, field: string): void {
  if (!(value >= 0) || value >= 2 ** 64) throw new RangeError(`${field} = ${value} is not an unsigned 64-bit µs time`);
  const v = Math.floor(value);                // sub-µs clock readings are truncated
  const hi = Math.floor(v / TWO_32);
  buf.writeUInt32BE(hi >>> 0, offset);
  buf.writeUInt32BE(v - hi * TWO_32, offset + 4);
}

/** Exact for values below 2^53 (year 2255 in µs); above, the nearest double. */
function readU64(buf: Buffer, offset: number): number {
  return buf.readUInt32BE(offset) * TWO_32 + buf.readUInt32BE(offset + 4);
}

function isU32(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

function writeFrameHeader(buf: Buffer, type: FrameType, length: number): void {
  buf[0] = MAGIC_0;
  buf[1] = MAGIC_1;
  buf[2] = VERSION;
  buf[3] = type;
  buf.writeUInt32BE(length, 4);
}

/** One frame: the 8-byte header followed by a copy of `payload`. */
export function encodeFrame(type: FrameType, payload: Buffer): Buffer {
  if (!isFrameType(type)) throw new ProtocolError('unknown_type', `frame type ${frameTypeName(type)} is not a streamproto1 type`);
  if (payload.length > 0xffffffff) throw new ProtocolError('frame_too_large', `payload of ${payload.length} bytes does not fit the 32-bit length field`);
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  writeFrameHeader(buf, type, payload.length);
  payload.copy(buf, FRAME_HEADER_BYTES);
  return buf;
}

/**
 * Checks an audio header against its data by the rules of the AUDIO section; throws `ProtocolError`
 * ('bad_audio' for header/PCM problems, 'bad_opus_frame' for Opus ones) naming the field.
 */
export function validateAudio(h: AudioHeader, data: Buffer): void {
  if (!(h.sampleRate >= 8000 && h.sampleRate <= 192000) || !Number.isInteger(h.sampleRate)) {
    throw new ProtocolError('bad_audio', `AUDIO sampleRate ${h.sampleRate} is outside 8000…192000`);
  }
  if (!(h.channels >= 1 && h.channels <= 8) || !Number.isInteger(h.channels)) {
    throw new ProtocolError('bad_audio', `AUDIO channels ${h.channels} is outside 1…8`);
  }
  if (!(h.frameSamples >= 1 && h.frameSamples <= 0xffff) || !Number.isInteger(h.frameSamples)) {
    throw new ProtocolError('bad_audio', `AUDIO frameSamples ${h.frameSamples} is outside 1…65535`);
  }
  switch (h.codec) {
    case Codec.PCM_S16LE:
    case Codec.PCM_F32LE: {
      const expected = h.frameSamples * h.channels * codecBytesPerSample(h.codec);
      if (data.length !== expected) {
        throw new ProtocolError('bad_audio',
          `AUDIO data is ${data.length} bytes but frameSamples ${h.frameSamples} × channels ${h.channels} of ${codecNameOf(h.codec)} needs ${expected}`);
      }
      return;
    }
    case Codec.OPUS: {
      if (!OPUS_SAMPLE_RATES.includes(h.sampleRate)) {
        throw new ProtocolError('bad_opus_frame', `AUDIO sampleRate ${h.sampleRate} is not an Opus rate (8000, 12000, 16000, 24000, 48000)`);
      }
      if (h.channels > 2) {
        throw new ProtocolError('bad_opus_frame', `AUDIO channels ${h.channels}: one Opus packet carries 1 or 2 channels`);
      }
      if (!isLegalOpusFrameSamples(h.frameSamples, h.sampleRate)) {
        throw new ProtocolError('bad_opus_frame',
          `AUDIO frameSamples ${h.frameSamples} is not 2.5, 5, 10, 20, 40 or 60 ms at ${h.sampleRate} Hz`);
      }
      if (data.length < 1 || data.length > OPUS_MAX_PACKET_BYTES) {
        throw new ProtocolError('bad_opus_frame', `AUDIO Opus packet is ${data.length} bytes, outside 1…${OPUS_MAX_PACKET_BYTES}`);
      }
      const samples = opusPacketSamples(data, h.sampleRate);
      if (samples < 0) throw new ProtocolError('bad_opus_frame', `AUDIO Opus packet (TOC 0x${data[0].toString(16)}, ${data.length} bytes) is malformed (RFC 6716 §3.4)`);
      if (samples !== h.frameSamples) {
        throw new ProtocolError('bad_opus_frame', `AUDIO frameSamples ${h.frameSamples} but the Opus packet holds ${samples} samples`);
      }
      return;
    }
    default:
      throw new ProtocolError('bad_audio', `AUDIO codec ${h.codec} is not one of 0 (pcm_s16le), 1 (pcm_f32le), 2 (opus)`);
  }
}

/**
 * One AUDIO frame in a single allocation: frame header, audio header, then a copy of `data`.
 * Validates like the receiver will (so a bad frame fails here, not by closing the connection).
 */
export function encodeAudioFrame(h: AudioHeader, data: Buffer): Buffer {
  if (!isU32(h.trackId)) throw new ProtocolError('bad_audio', `AUDIO trackId ${h.trackId} is not an unsigned 32-bit integer`);
  if (!isU32(h.seq)) throw new ProtocolError('bad_audio', `AUDIO seq ${h.seq} is not an unsigned 32-bit integer (wrap it with >>> 0)`);
  validateAudio(h, data);
  const n = AUDIO_HEADER_BYTES + data.length;
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + n);
  writeFrameHeader(buf, FrameType.AUDIO, n);
  const o = FRAME_HEADER_BYTES;
  buf.writeUInt32BE(h.trackId, o);
  buf.writeUInt32BE(h.seq, o + 4);
  writeU64(buf, h.captureTime, o + 8, 'AUDIO captureTime');
  buf.writeUInt32BE(h.sampleRate, o + 16);
  buf[o + 20] = h.channels;
  buf[o + 21] = h.codec;
  buf.writeUInt16BE(h.frameSamples, o + 22);
  data.copy(buf, o + AUDIO_HEADER_BYTES);
  return buf;
}

/**
 * Splits and validates an AUDIO payload. `data` is a subarray of `payload` (no copy):
 * it shares memory with whatever `payload` shares memory with.
 */
export function decodeAudioPayload(payload: Buffer): { header: AudioHeader; data: Buffer } {
  if (payload.length < AUDIO_HEADER_BYTES) {
    throw new ProtocolError('bad_audio', `AUDIO payload is ${payload.length} bytes, shorter than the ${AUDIO_HEADER_BYTES}-byte audio header`);
  }
  const header: AudioHeader = {
    trackId: payload.readUInt32BE(0),
    seq: payload.readUInt32BE(4),
    captureTime: readU64(payload, 8),
    sampleRate: payload.readUInt32BE(16),
    channels: payload[20],
    codec: payload[21],
    frameSamples: payload.readUInt16BE(22),
  };
  const data = payload.subarray(AUDIO_HEADER_BYTES);
  validateAudio(header, data);
  return { header, data };
}

// ---- JSON frames (HELLO, METADATA, QOS, ERROR) ----

export type JsonObject = Record<string, unknown>;

function isPlainObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A JSON frame in one allocation. HELLO, METADATA and ERROR take an object; QOS an object or
 * an array of objects (a batch).
 */
export function encodeJsonFrame(type: FrameType, obj: JsonObject | JsonObject[]): Buffer {
  if (type !== FrameType.HELLO && type !== FrameType.METADATA && type !== FrameType.QOS && type !== FrameType.ERROR) {
    throw new ProtocolError('bad_json', `frame type ${frameTypeName(type)} does not carry JSON`);
  }
  if (!isPlainObject(obj) && !(type === FrameType.QOS && Array.isArray(obj) && obj.every(isPlainObject))) {
    throw new ProtocolError('bad_json', `${frameTypeName(type)} payload must be a JSON object${type === FrameType.QOS ? ' or an array of objects' : ''}`);
  }
  return jsonTextFrame(type, JSON.stringify(obj));
}

/**
 * A METADATA frame from the JSON text of an object the caller has just serialised itself (the socket writer compares
 * that text with the last one sent): saves parsing it back only to serialise it again.
 */
export function encodeMetadataText(text: string): Buffer {
  if (text.charCodeAt(0) !== 0x7b /* { */) throw new ProtocolError('bad_json', 'METADATA payload must be a JSON object');
  return jsonTextFrame(FrameType.METADATA, text);
}

function jsonTextFrame(type: FrameType, text: string): Buffer {
  const n = Buffer.byteLength(text, 'utf8');
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + n);
  writeFrameHeader(buf, type, n);
  buf.write(text, FRAME_HEADER_BYTES, 'utf8');
  return buf;
}

// fatal: invalid UTF-8 is a malformed frame, not something to paper over with U+FFFD.
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses a JSON frame's payload: strict UTF-8, then JSON, which must be an object (for QOS, an
 * object or an array of objects). Throws `ProtocolError('bad_json')` naming the frame type.
 */
export function decodeJsonPayload(payload: Buffer, what: FrameType): JsonObject | JsonObject[] {
  const name = frameTypeName(what);
  let value: unknown;
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    throw new ProtocolError('bad_json', `${name} payload (${payload.length} bytes) is not valid UTF-8`);
  }
  try {
    value = JSON.parse(text);
  } catch (err) {
    // V8's message quotes the input ("Unexpected token 'x', \"…\" is not valid JSON"): keep only the position.
    const m = /position (\d+)/.exec((err as Error).message);
    throw new ProtocolError('bad_json', `${name} payload (${payload.length} bytes) is not JSON${m ? ` (error at position ${m[1]})` : ''}`);
  }
  if (isPlainObject(value)) return value;
  if (what === FrameType.QOS && Array.isArray(value) && value.every(isPlainObject)) return value;
  throw new ProtocolError('bad_json', `${name} payload must be a JSON object${what === FrameType.QOS ? ' or an array of objects' : ''}`);
}

export type PeerRole = 'peer' | 'monitor' | 'xcast';
export const PEER_ROLES: readonly PeerRole[] = ['peer', 'monitor', 'xcast'];

/** HELLO from client to server. Unknown extra fields are kept. */
export interface ClientHello {
  protocol: 'streamproto1';
  userId: string;
  role: PeerRole;
  name?: string;
  token?: string;
  capabilities?: string[];
  profile?: JsonObject;
  [extra: string]: unknown;
}

/** HELLO from server to client. `name` is this project's optional extra (the server's name). */
export interface ServerHello {
  protocol: 'streamproto1';
  sessionId: string;
  serverTime: number;
  name?: string;
  [extra: string]: unknown;
}

/** Bounds on a client HELLO's identity fields (docs/streamproto1.md, "Handshake"). */
export const HELLO_LIMITS = Object.freeze({
  userIdChars: 128,
  nameChars: 128,
  tokenChars: 1024,
  capabilities: 32,
  capabilityChars: 64,
  profileBytes: 4096,
  profileDepth: 4,
  /** Fields a HELLO may carry beyond the spec's: kept, so bounded like the profile (count, depth, bytes as JSON together). */
  extraFields: 16,
  extraDepth: 4,
  extraBytes: 4096,
});

const CLIENT_HELLO_FIELDS = new Set(['protocol', 'userId', 'role', 'name', 'token', 'capabilities', 'profile']);
const SERVER_HELLO_FIELDS = new Set(['protocol', 'sessionId', 'serverTime', 'name']);

/** The fields of a HELLO beyond `known`: at most extraFields, each nested ≤ extraDepth, ≤ extraBytes as JSON together. */
function checkHelloExtras(obj: JsonObject, known: ReadonlySet<string>): void {
  const L = HELLO_LIMITS;
  let count = 0;
  let bytes = 0;
  for (const k of Object.keys(obj)) {
    if (known.has(k)) continue;
    if (++count > L.extraFields) throw new ProtocolError('bad_hello', `HELLO has more than ${L.extraFields} fields beyond the spec's`);
    const v = obj[k];
    if (jsonDepth(v, L.extraDepth) > L.extraDepth) throw new ProtocolError('bad_hello', `HELLO ${wireText(k, 40)} is nested deeper than ${L.extraDepth} levels`);
    bytes += Buffer.byteLength(k, 'utf8') + Buffer.byteLength(JSON.stringify(v) ?? '', 'utf8');
    if (bytes > L.extraBytes) throw new ProtocolError('bad_hello', `HELLO fields beyond the spec's are more than ${L.extraBytes} bytes as JSON`);
  }
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Length in code points, without allocating for the common short string. */
function charCount(s: string, max: number): number {
  if (s.length <= max) return s.length;
  if (s.length > 2 * max) return s.length;   // surely too long, however it is counted
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Nesting depth of a JSON value (a scalar 0, {} or [] 1, …), giving up once past `max`. */
/** Nesting depth of a JSON value (a scalar is 0, `{}` is 1), counted no further than `max` + 1: bounded work for any input. */
export function jsonDepth(v: unknown, max: number): number {
  if (typeof v !== 'object' || v === null) return 0;
  if (max <= 0) return 1;
  let deepest = 0;
  for (const x of Array.isArray(v) ? v : Object.values(v)) {
    const d = jsonDepth(x, max - 1);
    if (d > deepest) deepest = d;
    if (deepest >= max) break;
  }
  return 1 + deepest;
}

/**
 * Checks a client's HELLO object; throws `ProtocolError('bad_hello')` naming the field. Besides the types, the
 * identity fields are bounded (HELLO_LIMITS): userId 1…128 characters without control characters, name ≤ 128,
 * token ≤ 1024, capabilities ≤ 32 strings of ≤ 64, profile ≤ 4096 bytes as JSON and nested ≤ 4 deep.
 */
export function validateClientHello(obj: JsonObject): ClientHello {
  const L = HELLO_LIMITS;
  if (obj.protocol !== PROTOCOL_NAME) throw new ProtocolError('bad_hello', `HELLO protocol is ${wireText(obj.protocol, 40)}, expected "streamproto1"`);
  const userId = obj.userId;
  if (typeof userId !== 'string' || userId.length === 0) throw new ProtocolError('bad_hello', 'HELLO userId must be a non-empty string');
  if (charCount(userId, L.userIdChars) > L.userIdChars) {
    throw new ProtocolError('bad_hello', `HELLO userId is longer than ${L.userIdChars} characters (${Buffer.byteLength(userId)} bytes)`);
  }
  if (CONTROL_CHARS.test(userId)) throw new ProtocolError('bad_hello', `HELLO userId ${wireText(userId)} contains a control character`);
  if (!PEER_ROLES.includes(obj.role as PeerRole)) throw new ProtocolError('bad_hello', `HELLO role ${wireText(obj.role, 40)} is not one of peer, monitor, xcast`);
  if (obj.name !== undefined) {
    if (typeof obj.name !== 'string') throw new ProtocolError('bad_hello', 'HELLO name must be a string');
    if (charCount(obj.name, L.nameChars) > L.nameChars) throw new ProtocolError('bad_hello', `HELLO name is longer than ${L.nameChars} characters`);
  }
  if (obj.token !== undefined) {
    if (typeof obj.token !== 'string') throw new ProtocolError('bad_hello', 'HELLO token must be a string');
    if (obj.token.length > L.tokenChars) throw new ProtocolError('bad_hello', `HELLO token is longer than ${L.tokenChars} characters`);
  }
  if (obj.capabilities !== undefined) {
    const caps = obj.capabilities;
    if (!(Array.isArray(caps) && caps.every((c) => typeof c === 'string'))) throw new ProtocolError('bad_hello', 'HELLO capabilities must be an array of strings');
    if (caps.length > L.capabilities) throw new ProtocolError('bad_hello', `HELLO capabilities has ${caps.length} entries, more than ${L.capabilities}`);
    const i = caps.findIndex((c: string) => charCount(c, L.capabilityChars) > L.capabilityChars);
    if (i >= 0) throw new ProtocolError('bad_hello', `HELLO capabilities[${i}] is longer than ${L.capabilityChars} characters`);
  }
  if (obj.profile !== undefined) {
    if (!isPlainObject(obj.profile)) throw new ProtocolError('bad_hello', 'HELLO profile must be an object');
    if (jsonDepth(obj.profile, L.profileDepth) > L.profileDepth) throw new ProtocolError('bad_hello', `HELLO profile is nested deeper than ${L.profileDepth} levels`);
    const bytes = Buffer.byteLength(JSON.stringify(obj.profile), 'utf8');
    if (bytes > L.profileBytes) throw new ProtocolError('bad_hello', `HELLO profile is ${bytes} bytes as JSON, more than ${L.profileBytes}`);
  }
  checkHelloExtras(obj, CLIENT_HELLO_FIELDS);
  return obj as ClientHello;
}

/** A HELLO as it may travel on in a flow message or a log: without its `token` (a credential). */
export function helloWithoutToken<T extends ClientHello | ServerHello | undefined>(hello: T): T {
  if (!hello || !('token' in hello)) return hello;
  const { token: _token, ...rest } = hello as ClientHello;
  return rest as T;
}

/** Checks a server's HELLO object; throws `ProtocolError('bad_hello')` naming the field. */
export function validateServerHello(obj: JsonObject): ServerHello {
  if (obj.protocol !== PROTOCOL_NAME) throw new ProtocolError('bad_hello', `HELLO protocol is ${wireText(obj.protocol, 40)}, expected "streamproto1"`);
  if (typeof obj.sessionId !== 'string' || obj.sessionId.length === 0) throw new ProtocolError('bad_hello', 'HELLO sessionId must be a non-empty string');
  if (typeof obj.serverTime !== 'number' || !Number.isFinite(obj.serverTime)) throw new ProtocolError('bad_hello', 'HELLO serverTime must be a number (µs)');
  if (obj.name !== undefined && typeof obj.name !== 'string') throw new ProtocolError('bad_hello', 'HELLO name must be a string');
  checkHelloExtras(obj, SERVER_HELLO_FIELDS);
  return obj as ServerHello;
}

/** Payload of an ERROR frame. */
export interface ErrorPayload {
  code: string;
  message: string;
}

export function encodeErrorFrame(code: string, message: string): Buffer {
  return encodeJsonFrame(FrameType.ERROR, { code, message });
}

/** Parses an ERROR payload; `code` must be a string, a missing `message` reads as "". */
export function decodeErrorPayload(payload: Buffer): ErrorPayload {
  const obj = decodeJsonPayload(payload, FrameType.ERROR) as JsonObject;
  if (typeof obj.code !== 'string') throw new ProtocolError('bad_json', 'ERROR code must be a string');
  if (obj.message !== undefined && typeof obj.message !== 'string') throw new ProtocolError('bad_json', 'ERROR message must be a string');
  return { code: obj.code, message: (obj.message as string | undefined) ?? '' };
}

/** QOSMetrics as the spec shows it; receivers may add fields. */
export interface QOSMetrics {
  head: AudioHeader;
  qosTimestamp: number;
  userId?: string;
  bufferDepthSamples?: number;
  misses?: number;
  [extra: string]: unknown;
}

// ---- PING / PONG ----

/** PING frame carrying t0 (µs since epoch, sender clock). */
export function encodePing(t0: number): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + PING_PAYLOAD_BYTES);
  writeFrameHeader(buf, FrameType.PING, PING_PAYLOAD_BYTES);
  writeU64(buf, t0, FRAME_HEADER_BYTES, 'PING t0');
  return buf;
}

export function decodePing(payload: Buffer): number {
  if (payload.length !== PING_PAYLOAD_BYTES) throw new ProtocolError('protocol', `PING payload is ${payload.length} bytes, expected ${PING_PAYLOAD_BYTES}`);
  const t0 = readU64(payload, 0);
  // Past 2^53 µs (the year 2255) a t0 is no clock's and cannot be echoed exactly: near 2^64 it rounds up to 2^64,
  // which the PONG's encoder refuses (an uncaught RangeError on the socket's data handler).
  if (t0 > Number.MAX_SAFE_INTEGER) throw new ProtocolError('protocol', `PING t0 ${payload.toString('hex')} is past 2^53 µs`);
  return t0;
}

/** PONG frame: t0 echoed from the PING, t1 when the PING arrived, t2 when this PONG leaves (µs). */
export function encodePong(t0: number, t1: number, t2: number): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + PONG_PAYLOAD_BYTES);
  writeFrameHeader(buf, FrameType.PONG, PONG_PAYLOAD_BYTES);
  writeU64(buf, t0, FRAME_HEADER_BYTES, 'PONG t0');
  writeU64(buf, t1, FRAME_HEADER_BYTES + 8, 'PONG t1');
  writeU64(buf, t2, FRAME_HEADER_BYTES + 16, 'PONG t2');
  return buf;
}

export function decodePong(payload: Buffer): { t0: number; t1: number; t2: number } {
  if (payload.length !== PONG_PAYLOAD_BYTES) throw new ProtocolError('protocol', `PONG payload is ${payload.length} bytes, expected ${PONG_PAYLOAD_BYTES}`);
  return { t0: readU64(payload, 0), t1: readU64(payload, 8), t2: readU64(payload, 16) };
}

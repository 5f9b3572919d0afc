// The xcast mixer: one playout buffer per incoming track (a track: connection, user, trackId), one mixed frame per clock tick, optional mix-minus per user.
//
// Gain law: each track is scaled by its user's gain, a balance pan and mute, the sum by the master gain:
//   out[L] = master × Σ gain × min(1, 1 − pan) × x[L],   out[R] = master × Σ gain × min(1, 1 + pan) × x[R]
// Pan 0 is unity on both channels, so one source at unity gain, centre pan and master 1 passes bit-exact.
// Pan applies to stereo output only; a mono output or one with more than two channels ignores it.
// A mono track reaches a stereo mix on both channels (its playout buffer converts channels to the mix's).
// Sums are accumulated in float64 and stored as float32; nothing is clipped here — the mix may exceed ±1
// and is clipped where it becomes integer PCM (the Opus encoder, s16 WAV, the sound device).
// Rooms (runtime/rooms.ts): every track belongs to the room of its first packet, and each room is its own mix, made in
// the same tick from an accumulator of its own (the tracks of a room in their creation order). The DEFAULT_ROOM's mix is
// MixResult.mix, every tick, as before rooms; every other room's is in MixResult.rooms while it has a track. Mix-minus
// is per user within the user's room: for every user when the mixMinus option is on, else for the users whose packets
// asked for one (push()'s `mixMinus`).
// mixFrame() is the reference of this arithmetic; the live tick() runs the same addTrack()/writeMix() in the order
// of MixResult.used, so an offline tool reproduces the live mix sample for sample from the same decoded frames.
// Per-room masters (issue 12): setMaster(gain, room) scales that room's mix and its mix-minus frames; a room whose
// master was never set follows the 'main' room's (the one master of before), so a flow that never names a room's
// master mixes bit for bit as it did.
// The operator console (issue 12): meters (setMetering) and monitor feeds (setMonitor) are made in the same tick,
// after the mix, from the frames pulled for it; with both off the tick does nothing more than one boolean test.
import { EventEmitter } from 'node:events';
import { nowMicros } from '../clock';
import { PlayoutBuffer, PlayoutHeader, PlayoutOptions, PlayoutStats, PushResult, AudioCodecName } from './playout';
import { streamKey } from './stream-key';
import { DEFAULT_ROOM, roomOf, isRoomName } from '../rooms';
import { encodeMeterMeasurements, MeterLayout } from '../console/meter-frame';
import { markSharedMix } from './shared-mix';
import type { PlayoutEventKind } from './playout';
import type { StreamEvent, StreamEventKind } from '../streamlog/event';
import { UsedFrame, UsedTrack, USED_STRIDE, writeUsedRow } from './used';

export interface MixerOptions {
  sampleRate?: number;
  channels?: number;
  frameSamples?: number;
  masterGain?: number;
  /** Also produce, per user with a track, the mix of everyone else in its room (else only for users asking, push()). */
  mixMinus?: boolean;
  /** A track with no packet for this long is removed; default 2000. */
  trackTimeoutMs?: number;
  /** TrackState.connected is false after this long without a packet; default 500 (docs/metrics.md). */
  connectedThresholdMs?: number;
  /**
   * Options for every track's playout buffer (rate, channels and frame size are the mixer's). The profile defaults to
   * 'mixer' here (runtime/audio/playout/options.ts): latency is trimmed by whole packets, which the audio event
   * stream (one packet seq per track per mixed frame) describes exactly, so runtime/events/reconstruct.ts rebuilds
   * the mix sample for sample across trims; packets that queued before a track's first frame do not become latency;
   * after a burst, latency is back at the target within a second.
   */
  playout?: Partial<Omit<PlayoutOptions, 'sampleRate' | 'channels' | 'frameSamples'>>;
}

export type { UsedEntry, UsedTrack } from './used';

export interface MixResult {
  /** Frame counter, 0, 1, 2, … (one counter for every room's mix). */
  seq: number;
  /** The DEFAULT_ROOM's mix: f32 interleaved, frameSamples × channels; a fresh Buffer, the caller owns it. */
  mix: Buffer;
  /**
   * Mix-minus in the DEFAULT_ROOM: per user, everyone in the room but that user (fresh Buffers); present when mixMinus
   * is on (every user with a track) or a user of the room asked for one. A user that added nothing to this frame
   * (muted, gain 0, prebuffering, digital silence) gets the room's mix itself — `mix` here, RoomMix.mix in another
   * room — the same Buffer for all of them (runtime/audio/shared-mix.ts), so its encode can be shared.
   */
  perUser?: Map<string, Buffer>;
  /** The DEFAULT_ROOM's tracks, in mixing order, and which packet of each went into the frame (runtime/audio/used.ts). */
  used: UsedFrame;
  /** Every other room that has a track, in the order the rooms appeared; absent when there is none. */
  rooms?: RoomMix[];
  // --- operator console (issue 12) ---
  /** A meter frame (runtime/console/meter-frame.ts), every meterEveryTicks ticks while metering is on; a fresh Buffer. */
  meters?: Buffer;
  /** The layout the meter frame is of (with `meters`; the same object until the track or room list changes). */
  meterLayout?: MeterLayout;
  /** One frame per monitor listener (setMonitor), f32 interleaved at the mix's channels, fresh Buffers. */
  monitors?: MonitorFrame[];
}

/** One monitor listener's frame of a tick. */
export interface MonitorFrame {
  listener: string;
  pcm: Buffer;
}

/**
 * What a console monitor listener hears: `solo` non-empty, the sum of those tracks (keys, runtime/audio/stream-key.ts)
 * as pulled, pre-fader (unity gain, centre, mute ignored); empty, the room's mix as output (post-master).
 */
export interface MonitorSpec {
  room: string;
  solo: string[];
}

/** Monitor listeners a mixer feeds at most. */
export const MAX_MONITORS = 16;
/** Rooms whose master can be set at most (a flood of room names cannot grow the mixer without bound). */
export const MAX_ROOM_MASTERS = 1024;
/** A meter frame at least every this many ms (meterEveryTicks = ceil(METER_INTERVAL_MS / period)). */
export const METER_INTERVAL_MS = 40;

/** One room's mix in a tick (a room other than the DEFAULT_ROOM). */
export interface RoomMix {
  room: string;
  /** f32 interleaved, a fresh Buffer. */
  mix: Buffer;
  /** Mix-minus per user of this room (as MixResult.perUser). */
  perUser?: Map<string, Buffer>;
  /** The room's tracks, in mixing order (as MixResult.used). */
  used: UsedFrame;
}

/** Per-track state for the admin aggregator (the seed's audioInputMetadata); lastPacketAt in ms since epoch. */
export interface TrackState extends PlayoutStats {
  userId: string;
  trackId: number;
  /**
   * The connection the track's packets came on ('' for a stream made in the flow). Two connections claiming one
   * userId and trackId are two tracks, told apart by this.
   */
  connectionId: string;
  /** The room of the track's first packet (runtime/rooms.ts). */
  room: string;
  /** Packets of this stream the mixer refused (a rate or format it cannot play, a malformed header), counted; said once. */
  refused: number;
  /** Why the last one was refused (the field and the check), or null. */
  refusedReason: string | null;
  codec: AudioCodecName;
  sampleRate: number;
  channels: number;
  frameSamples: number;
  gain: number;
  pan: number;
  muted: boolean;
  lastPacketAt: number;
  connected: boolean;
  /** On 'track-removed' only: why it left (its timeout, its connection's close, removeUser). */
  removedReason?: 'timeout' | 'closed' | 'removed';
}

/** One input of mixFrame(): a decoded frame at the mix's channel count and its user's settings. */
export interface MixInput {
  pcm: Float32Array;
  gain: number;
  pan: number;
  muted: boolean;
}

/** The full mix parameters and the frame they apply from (the event stream's 0x11 Mix Parameters). */
export interface MixParameters {
  fromFrameSeq: number;
  /** The 'main' room's master (and that of every room whose own was never set). */
  master: number;
  /** Every room whose master was set (setMaster(gain, room)), 'main' excluded; absent when none was. */
  rooms?: Record<string, number>;
  tracks: Array<{ userId: string; trackId: number; connectionId: string; room: string; gain: number; pan: number; muted: boolean }>;
}

/** A bad mixer option or control value; `field` names it. */
export class MixerConfigError extends Error {
  readonly code = 'bad_config';
  constructor(readonly field: string, message: string) {
    super(`mixer ${field}: ${message}`);
    this.name = 'MixerConfigError';
  }
}

/** Adds one track's frame into the float64 accumulator with gain, pan and mute applied (see the header). */
export function addTrack(acc: Float64Array, pcm: Float32Array, gain: number, pan: number, muted: boolean, channels: number, frameSamples: number): void {
  if (muted || gain === 0) return;
  const len = frameSamples * channels;
  if (channels === 2) {
    const gl = gain * (pan > 0 ? 1 - pan : 1);
    const gr = gain * (pan < 0 ? 1 + pan : 1);
    for (let i = 0; i < len; i += 2) {
      acc[i] += pcm[i] * gl;
      acc[i + 1] += pcm[i + 1] * gr;
    }
  } else {
    for (let i = 0; i < len; i++) acc[i] += pcm[i] * gain;
  }
}

/**
 * addTrack (gain, pan; not muted, gain > 0) that also measures the frame for the console's meters, pre-fader: its
 * sample peak and Σx² into `m`, in the same pass over the pulled frame. The mix it makes is addTrack's, bit for bit
 * (the same operations on `acc` in the same order).
 */
function addTrackMetered(acc: Float64Array, pcm: Float32Array, gain: number, pan: number, channels: number, frameSamples: number, m: { mPeak: number; mSum: number; mN: number }): void {
  const len = frameSamples * channels;
  let p0 = m.mPeak, p1 = 0, s0 = 0, s1 = 0;
  if (channels === 2) {
    const gl = gain * (pan > 0 ? 1 - pan : 1);
    const gr = gain * (pan < 0 ? 1 + pan : 1);
    for (let i = 0; i < len; i += 2) {
      const l = pcm[i], r = pcm[i + 1];
      acc[i] += l * gl;
      acc[i + 1] += r * gr;
      s0 += l * l; s1 += r * r;
      p0 = Math.max(p0, Math.abs(l)); p1 = Math.max(p1, Math.abs(r));
    }
  } else {
    let i = 0;
    for (; i + 1 < len; i += 2) {
      const a = pcm[i], b = pcm[i + 1];
      acc[i] += a * gain;
      acc[i + 1] += b * gain;
      s0 += a * a; s1 += b * b;
      p0 = Math.max(p0, Math.abs(a)); p1 = Math.max(p1, Math.abs(b));
    }
    if (i < len) {
      const a = pcm[i];
      acc[i] += a * gain;
      s0 += a * a;
      p0 = Math.max(p0, Math.abs(a));
    }
  }
  m.mPeak = Math.max(p0, p1);
  m.mSum += s0 + s1;
  m.mN += len;
}

/** Writes master × (acc − minus) into `out` as float32 (minus: a user's own contribution, for mix-minus). */
/** Whether the first `len` values of `a` are all zero (exits at the first that is not: a talking user's is early). */
function allZero(a: Float64Array, len: number): boolean {
  for (let i = 0; i < len; i++) if (a[i] !== 0) return false;
  return true;
}

export function writeMix(acc: Float64Array, masterGain: number, out: Float32Array, len: number, minus?: Float64Array): void {
  if (minus) for (let i = 0; i < len; i++) out[i] = masterGain * (acc[i] - minus[i]);
  else for (let i = 0; i < len; i++) out[i] = masterGain * acc[i];
}

/** The mixing step, pure: inputs in order → one f32 interleaved frame (written into `out` when given). */
export function mixFrame(inputs: readonly MixInput[], channels: number, frameSamples: number, masterGain: number, out?: Float32Array): Float32Array {
  const len = frameSamples * channels;
  const acc = new Float64Array(len);
  for (const x of inputs) addTrack(acc, x.pcm, x.gain, x.pan, x.muted, channels, frameSamples);
  const dst = out ?? new Float32Array(len);
  writeMix(acc, masterGain, dst, len);
  return dst;
}

interface UserSettings {
  gain: number;
  pan: number;
  muted: boolean;
}

/** A room's accumulator and users; the DEFAULT_ROOM's is always there, any other exists while it has a track. */
interface Room {
  name: string;
  acc: Float64Array;
  tracks: number;
  users: Map<string, RoomUser>;
  /** Its tracks in mixing order (UsedFrame.tracks): the same frozen array until one comes or goes; null: to be made. */
  table: readonly UsedTrack[] | null;
  /** This tick's rows (UsedFrame.rows, a fresh array each tick: it leaves with the frame) and the next one to write. */
  rows: Float64Array;
  cursor: number;
  /** This tick's mix-minus frames, when the room has some. */
  perUser: Map<string, Buffer> | undefined;
  /** Meters (console): the peak and Σx² of its output since the last meter frame, and the samples counted. */
  mPeak: number;
  mSum: number;
  mN: number;
}

/** A user in a room: its own contribution there (for its mix-minus) and whether it asked for a mix-minus. */
interface RoomUser {
  userId: string;
  tracks: number;
  /** Its tracks whose last packet said mixMinus: true. */
  asking: number;
  own: Float64Array | null;
  /** The last frame seq a mix-minus was written for it (one per user per tick). */
  stamp: number;
}

interface Track {
  key: string;
  userId: string;
  trackId: number;
  connectionId: string;
  room: Room;
  /** Its row of the used frames' track table (frozen). */
  usedTrack: UsedTrack;
  roomUser: RoomUser;
  /** Its last packet asked for a mix-minus. */
  minus: boolean;
  refused: number;
  refusedReason: string | null;
  playout: PlayoutBuffer;
  frame: Float32Array;
  user: UserSettings;
  codec: AudioCodecName;
  sampleRate: number;
  channels: number;
  frameSamples: number;
  lastPacketAtUs: number;
  /** Meters (console): the peak and Σx² of its pulled frames (pre-fader) since the last meter frame, samples counted. */
  mPeak: number;
  mSum: number;
  mN: number;
}

/** A balance pan −1 (left) … +1 (right); throws MixerConfigError naming `field` otherwise. The one pan check. */
export function checkPan(field: string, pan: unknown): number {
  if (typeof pan !== 'number' || !(pan >= -1 && pan <= 1)) throw new MixerConfigError(field, `must be from -1 to +1, got ${String(pan)}`);
  return pan;
}

export function checkGain(field: string, g: unknown): number {
  if (typeof g !== 'number' || !Number.isFinite(g) || g < 0) throw new MixerConfigError(field, `must be a finite number ≥ 0 (linear), got ${String(g)}`);
  return g;
}

/** A room a control names: absent is 'main'; otherwise a room name (runtime/rooms.ts), else MixerConfigError('room'). */
export function checkRoom(room: unknown): string {
  if (room === undefined || room === DEFAULT_ROOM) return DEFAULT_ROOM;
  if (!isRoomName(room)) throw new MixerConfigError('room', `must be 1…64 letters, digits, "_" or "-", got ${JSON.stringify(String(room)).slice(0, 80)}`);
  return room;
}

/** A monitor listener's id and spec (null: remove), checked; throws MixerConfigError naming the field. */
export function checkMonitor(listener: unknown, spec: unknown): MonitorSpec | null {
  if (typeof listener !== 'string' || listener.length < 1 || listener.length > 256) throw new MixerConfigError('listener', `must be a string of 1…256 characters, got ${typeof listener === 'string' ? `${listener.length} characters` : String(listener)}`);
  if (spec === null) return null;
  if (!spec || typeof spec !== 'object') throw new MixerConfigError('monitor', `must be { room, solo } or null, got ${String(spec)}`);
  const o = spec as { room?: unknown; solo?: unknown };
  const room = checkRoom(o.room);
  const solo = o.solo === undefined ? [] : o.solo;
  if (!Array.isArray(solo) || solo.length > 256) throw new MixerConfigError('solo', 'must be an array of at most 256 track keys');
  for (let i = 0; i < solo.length; i++) {
    const k = solo[i] as unknown;
    if (typeof k !== 'string' || k.length < 1 || k.length > 1024) throw new MixerConfigError(`solo[${i}]`, 'must be a track key (a non-empty string)');
  }
  return { room, solo: [...new Set(solo as string[])] };
}

/**
 * Adds one frame's sample peak and Σx² into a meter's accumulators: one pass, nothing allocated. Four independent
 * sums and peaks (the loop is bound by the latency of one float add chain otherwise: 50 tracks took ~60 µs a tick
 * with one, measured in bench/console-tick.ts).
 */
function meterInto(m: { mPeak: number; mSum: number; mN: number }, x: Float32Array, len: number): void {
  let p0 = m.mPeak, p1 = 0, p2 = 0, p3 = 0;
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const end = len - (len & 3);
  let i = 0;
  for (; i < end; i += 4) {
    const a = x[i], b = x[i + 1], c = x[i + 2], d = x[i + 3];
    s0 += a * a; s1 += b * b; s2 += c * c; s3 += d * d;
    p0 = Math.max(p0, Math.abs(a)); p1 = Math.max(p1, Math.abs(b)); p2 = Math.max(p2, Math.abs(c)); p3 = Math.max(p3, Math.abs(d));
  }
  for (; i < len; i++) {
    const a = x[i];
    s0 += a * a;
    p0 = Math.max(p0, Math.abs(a));
  }
  m.mPeak = Math.max(Math.max(p0, p1), Math.max(p2, p3));
  m.mSum += (s0 + s1) + (s2 + s3);
  m.mN += len;
}

/** The rows of a room with no track. */
const NO_ROWS = new Float64Array(0);

/** How many ended connections the mixer remembers, so packets of theirs still on the way make no track again. */
const ENDED_CONNECTIONS = 1024;

export class Mixer extends EventEmitter {
  readonly sampleRate: number;
  readonly channels: number;
  readonly frameSamples: number;
  readonly mixMinus: boolean;
  private readonly trackTimeoutUs: number;
  private readonly connectedUs: number;
  private readonly playoutOpts: MixerOptions['playout'];
  private master: number;
  private frameSeq = 0;
  private readonly tracksByKey = new Map<string, Track>();
  /**
   * The same tracks by connection, user, then trackId: push() finds a packet's track without building its key string.
   * The connection is part of the track: two connections claiming one userId never share a playout buffer.
   */
  private readonly tracksByConn = new Map<string, Map<string, Map<number, Track>>>();
  private readonly users = new Map<string, UserSettings>();
  /** Connections removeConnection() ended, oldest first (bounded): their stragglers make no track. */
  private readonly ended = new Set<string>();
  private readonly acc: Float64Array;
  /** Every room by name, the DEFAULT_ROOM first; a user's own contribution (mix-minus) is kept per room and user. */
  private readonly rooms = new Map<string, Room>();
  private readonly main: Room;
  /** Tracks whose last packet asked for a mix-minus (over every room): none and the option off, no mix-minus work. */
  private asking = 0;
  // --- operator console (issue 12): room masters, meters, monitor feeds ---
  /** Masters of the rooms other than 'main' that were set (kept while the room has no track). */
  private readonly roomMasters = new Map<string, number>();
  private metering = false;
  private readonly monitors = new Map<string, MonitorSpec>();
  /** metering || a monitor listener: the one test the tick makes for the console. */
  private consoleOn = false;
  /** Ticks between two meter frames: ceil(METER_INTERVAL_MS / period). */
  readonly meterEveryTicks: number;
  private meterTicks = 0;
  /** Starts anywhere (a mix thread started again makes new layouts, never one a page still holds by its id). */
  private layoutId = Math.floor(Math.random() * 0x100000000);
  private layout: MeterLayout | null = null;
  /** This tick's mixes of rooms other than the DEFAULT_ROOM made for users who hear the whole room (finishTick). */
  private roomMixes: Map<Room, Buffer> | null = null;
  /** Scratch of the meter frame (grown, never per tick) and of a monitor's PFL sum. */
  private meterPeaks = new Float64Array(16);
  private meterSquares = new Float64Array(16);
  private monitorAcc: Float64Array | null = null;

  constructor(opts: MixerOptions = {}) {
    super();
    const o = opts ?? {};
    this.sampleRate = o.sampleRate ?? 48000;
    this.channels = o.channels ?? 2;
    this.frameSamples = o.frameSamples ?? 480;
    if (!Number.isInteger(this.channels) || this.channels < 1 || this.channels > 8) throw new MixerConfigError('channels', `must be 1…8, got ${String(this.channels)}`);
    if (!Number.isInteger(this.sampleRate) || this.sampleRate < 1000) throw new MixerConfigError('sampleRate', `must be an integer ≥ 1000, got ${String(this.sampleRate)}`);
    if (!Number.isInteger(this.frameSamples) || this.frameSamples < 1) throw new MixerConfigError('frameSamples', `must be a positive integer, got ${String(this.frameSamples)}`);
    this.master = checkGain('masterGain', o.masterGain ?? 1);
    this.mixMinus = o.mixMinus ?? false;
    const timeout = o.trackTimeoutMs ?? 2000;
    if (typeof timeout !== 'number' || !(timeout > 0)) throw new MixerConfigError('trackTimeoutMs', `must be > 0, got ${String(timeout)}`);
    const connected = o.connectedThresholdMs ?? 500;
    if (typeof connected !== 'number' || !(connected > 0)) throw new MixerConfigError('connectedThresholdMs', `must be > 0, got ${String(connected)}`);
    this.trackTimeoutUs = timeout * 1000;
    this.connectedUs = connected * 1000;
    this.playoutOpts = { ...o.playout, profile: o.playout?.profile ?? 'mixer' };
    this.acc = new Float64Array(this.frameSamples * this.channels);
    this.main = { name: DEFAULT_ROOM, acc: this.acc, tracks: 0, users: new Map(), table: null, rows: NO_ROWS, cursor: 0, perUser: undefined, mPeak: 0, mSum: 0, mN: 0 };
    this.meterEveryTicks = Math.max(1, Math.ceil(METER_INTERVAL_MS / ((this.frameSamples * 1000) / this.sampleRate) - 1e-9));
    this.rooms.set(DEFAULT_ROOM, this.main);
    // Fail at construction, not on the first packet, when the playout options are wrong.
    this.newPlayout();
    // The decode pool (worker threads decoding part of the tracks) left the product: refused by name, not ignored.
    if ((o as { decodeWorkers?: unknown }).decodeWorkers !== undefined) throw new MixerConfigError('decodeWorkers', 'is no longer an option: the decode pool left the product (the mix engine mixes on a thread of its own)');
  }

  get masterGain(): number {
    return this.master;
  }

  /**
   * Files one packet of user `userId` on connection `connectionId` ('' for a stream made in the flow) into its
   * track's playout buffer (creating the track, 'track-added'). `header.trackId` (default 0) tells a user's tracks
   * apart. Throws what PlayoutBuffer.push throws, after counting it on the track (TrackState.refused).
   * `room` (runtime/rooms.ts; not a room name: the DEFAULT_ROOM) is the track's room when the packet makes it; later
   * packets do not move it. `mixMinus` true: this user wants a mix-minus in its room even with the option off.
   */
  push(userId: string, header: PlayoutHeader, data: Buffer, arrivalMicros: number, connectionId = '', room?: string, mixMinus = false): PushResult {
    if (this.ended.size !== 0 && this.ended.has(connectionId)) return 'late';
    this.eventAtUs = arrivalMicros;
    const t = this.track(userId, header, arrivalMicros, connectionId, room);
    if (t.minus !== mixMinus) this.setAsking(t, mixMinus);
    let r: PushResult;
    try {
      r = t.playout.push(header, data, arrivalMicros);
    } catch (err) {
      this.countRefused(t, (err as Error).message);
      throw err;
    }
    t.codec = header.codec;
    t.sampleRate = header.sampleRate;
    t.channels = header.channels;
    t.frameSamples = header.frameSamples;
    return r;
  }

  /**
   * Counts a packet refused before it reached the mixer (the mix engine checks packets on the event loop and hands
   * the thread only the refusal): the track is made if it is new, so its state shows the stream and the count.
   */
  refused(userId: string, header: PlayoutHeader, arrivalMicros: number, connectionId: string, reason: string, room?: string): void {
    if (this.ended.size !== 0 && this.ended.has(connectionId)) return;
    const t = this.track(userId, header, arrivalMicros, connectionId, room);
    this.countRefused(t, reason);
  }

  private countRefused(t: Track, reason: string): void {
    t.refused++;
    t.refusedReason = reason;
  }

  /** The packet's track (made, 'track-added', when new); its last packet time moved on. */
  private setAsking(t: Track, minus: boolean): void {
    t.minus = minus;
    const d = minus ? 1 : -1;
    t.roomUser.asking += d;
    this.asking += d;
  }

  private track(userId: string, header: PlayoutHeader, arrivalMicros: number, connectionId: string, roomName?: string): Track {
    const trackId = header?.trackId ?? 0;
    let byUser = this.tracksByConn.get(connectionId);
    let t = byUser?.get(userId)?.get(trackId);
    if (t !== undefined) {
      if (arrivalMicros > t.lastPacketAtUs) t.lastPacketAtUs = arrivalMicros;
      return t;
    }
    const key = streamKey({ userId, trackId, connectionId });
    const name = roomName === undefined || roomName === DEFAULT_ROOM ? DEFAULT_ROOM : roomOf(roomName);
    let room = this.rooms.get(name);
    if (room === undefined) {
      room = { name, acc: new Float64Array(this.frameSamples * this.channels), tracks: 0, users: new Map(), table: null, rows: NO_ROWS, cursor: 0, perUser: undefined, mPeak: 0, mSum: 0, mN: 0 };
      this.rooms.set(name, room);
    }
    room.tracks++;
    room.table = null;
    this.tablesDirty = true;
    let roomUser = room.users.get(userId);
    if (roomUser === undefined) room.users.set(userId, (roomUser = { userId, tracks: 0, asking: 0, own: null, stamp: -1 }));
    roomUser.tracks++;
    t = {
      key, userId, trackId, connectionId, room, usedTrack: Object.freeze({ userId, trackId, connectionId, room: room.name }), roomUser, minus: false, refused: 0, refusedReason: null,
      playout: this.newPlayout(),
      frame: new Float32Array(this.frameSamples * this.channels),
      user: this.settings(userId),
      codec: header?.codec, sampleRate: header?.sampleRate, channels: header?.channels, frameSamples: header?.frameSamples,
      lastPacketAtUs: arrivalMicros,
      mPeak: 0, mSum: 0, mN: 0,
    };
    this.tracksByKey.set(key, t);
    this.layout = null;
    if (byUser === undefined) this.tracksByConn.set(connectionId, (byUser = new Map()));
    let mine = byUser.get(userId);
    if (mine === undefined) byUser.set(userId, (mine = new Map()));
    mine.set(trackId, t);
    this.emit('track-added', this.stateOf(t, arrivalMicros));
    this.trackEvents(t, header, arrivalMicros);
    return t;
  }

  /** Linear gain ≥ 0 for every track of the user (kept for tracks the user opens later). */
  setGain(userId: string, gain: number): void {
    this.settings(userId).gain = checkGain('gain', gain);
  }

  /** Balance pan −1 (left) … +1 (right). */
  setPan(userId: string, pan: number): void {
    this.settings(userId).pan = checkPan('pan', pan);
  }

  setMute(userId: string, muted: boolean): void {
    this.settings(userId).muted = !!muted;
  }

  /** The master gain of `room` (default 'main'): it scales the room's mix and its mix-minus frames. */
  setMaster(gain: number, room: string = DEFAULT_ROOM): void {
    const g = checkGain('masterGain', gain);
    const r = checkRoom(room);
    if (r === DEFAULT_ROOM) {
      this.master = g;
      return;
    }
    if (!this.roomMasters.has(r) && this.roomMasters.size >= MAX_ROOM_MASTERS) throw new MixerConfigError('room', `at most ${MAX_ROOM_MASTERS} rooms can have a master of their own`);
    this.roomMasters.set(r, g);
  }

  /** The master gain `room`'s mix is made with (its own, else the 'main' room's). */
  roomMaster(room: string = DEFAULT_ROOM): number {
    return room === DEFAULT_ROOM ? this.master : this.roomMasters.get(room) ?? this.master;
  }

  private masterOf(room: Room): number {
    return room === this.main || this.roomMasters.size === 0 ? this.master : this.roomMasters.get(room.name) ?? this.master;
  }

  // --- operator console (issue 12) ---
  /** Meters on or off: while on, a meter frame (MixResult.meters) every meterEveryTicks ticks. */
  setMetering(on: boolean): void {
    const v = !!on;
    if (v && !this.metering) this.resetMeters();
    this.metering = v;
    this.consoleOn = this.metering || this.monitors.size > 0;
  }

  get meteringOn(): boolean {
    return this.metering;
  }

  /** A console monitor listener's feed (MixResult.monitors), or null to remove it; at most MAX_MONITORS listeners. */
  setMonitor(listener: string, spec: MonitorSpec | null): void {
    const s = checkMonitor(listener, spec);
    if (s === null) this.monitors.delete(listener);
    else {
      if (!this.monitors.has(listener) && this.monitors.size >= MAX_MONITORS) throw new MixerConfigError('listener', `at most ${MAX_MONITORS} monitor listeners, and "${listener.slice(0, 64)}" would be one more`);
      this.monitors.set(listener, s);
    }
    this.consoleOn = this.metering || this.monitors.size > 0;
  }

  /** The meter layout of the current tracks and rooms (a new layoutId whenever either list changed). */
  meterLayout(): MeterLayout {
    if (this.layout !== null) return this.layout;
    const tracks: MeterLayout['tracks'] = [];
    for (const t of this.tracksByKey.values()) tracks.push({ key: t.key, userId: t.userId, trackId: t.trackId, connectionId: t.connectionId, room: t.room.name });
    this.layoutId = (this.layoutId + 1) >>> 0;
    return (this.layout = { layoutId: this.layoutId, tracks, rooms: [...this.rooms.keys()] });
  }

  private resetMeters(): void {
    this.meterTicks = 0;
    for (const t of this.tracksByKey.values()) t.mPeak = t.mSum = t.mN = 0;
    for (const r of this.rooms.values()) r.mPeak = r.mSum = r.mN = 0;
  }

  /** After the mix: meters and monitor frames, from the frames pulled this tick (t.frame) and the rooms' mixes. */
  private consoleTick(result: MixResult): void {
    const len = this.frameSamples * this.channels;
    if (this.metering) {
      // (The tracks were measured as they were mixed: addTrackMetered.)
      meterInto(this.main, new Float32Array(result.mix.buffer, result.mix.byteOffset, len), len);
      if (result.rooms) {
        for (const m of result.rooms) {
          const room = this.rooms.get(m.room);
          if (room !== undefined) meterInto(room, new Float32Array(m.mix.buffer, m.mix.byteOffset, len), len);
        }
      }
      if (++this.meterTicks >= this.meterEveryTicks) {
        const layout = this.meterLayout();
        const n = this.tracksByKey.size + this.rooms.size;
        if (this.meterPeaks.length < n) {
          this.meterPeaks = new Float64Array(n * 2);
          this.meterSquares = new Float64Array(n * 2);
        }
        const P = this.meterPeaks;
        const S = this.meterSquares;
        let i = 0;
        for (const t of this.tracksByKey.values()) {
          P[i] = t.mPeak; S[i++] = t.mN > 0 ? t.mSum / t.mN : 0;
          t.mPeak = t.mSum = t.mN = 0;
        }
        for (const r of this.rooms.values()) {
          P[i] = r.mPeak; S[i++] = r.mN > 0 ? r.mSum / r.mN : 0;
          r.mPeak = r.mSum = r.mN = 0;
        }
        result.meters = encodeMeterMeasurements(layout.layoutId, result.seq, this.tracksByKey.size, this.rooms.size, P, S);
        result.meterLayout = layout;
        this.meterTicks = 0;
      }
    }
    if (this.monitors.size > 0) {
      const out: MonitorFrame[] = [];
      for (const [listener, spec] of this.monitors) {
        const f = new Float32Array(len);
        if (spec.solo.length > 0) {
          // PFL: the soloed tracks as pulled, at unity and centre, mute ignored (summed in float64 as the mix is).
          const acc = (this.monitorAcc ??= new Float64Array(len));
          acc.fill(0);
          for (const key of spec.solo) {
            const t = this.tracksByKey.get(key);
            if (t === undefined) continue;
            const x = t.frame;
            for (let j = 0; j < len; j++) acc[j] += x[j];
          }
          for (let j = 0; j < len; j++) f[j] = acc[j];
        } else {
          let mix: Buffer | null = null;
          if (spec.room === DEFAULT_ROOM) mix = result.mix;
          else if (result.rooms) for (const m of result.rooms) if (m.room === spec.room) mix = m.mix;
          if (mix !== null) f.set(new Float32Array(mix.buffer, mix.byteOffset, len));
        }
        out.push({ listener, pcm: Buffer.from(f.buffer, 0, f.byteLength) });
      }
      result.monitors = out;
    }
  }
  // --- end operator console ---

  /** The user's gain, pan and mute (defaults 1, 0, false). */
  userSettings(userId: string): Readonly<UserSettings> {
    // Read without making an entry: asking about a user is not a reason to keep one.
    const s = this.users.get(userId);
    return s !== undefined ? { ...s } : { gain: 1, pan: 0, muted: false };
  }

  /** Every track's gain, pan and mute and the master, as they apply from the next frame this mixer makes. */
  parameters(): MixParameters {
    const tracks: MixParameters['tracks'] = [];
    for (const t of this.tracksByKey.values()) tracks.push({ userId: t.userId, trackId: t.trackId, connectionId: t.connectionId, room: t.room.name, gain: t.user.gain, pan: t.user.pan, muted: t.user.muted });
    const p: MixParameters = { fromFrameSeq: this.frameSeq, master: this.master, tracks };
    if (this.roomMasters.size > 0) p.rooms = Object.fromEntries(this.roomMasters);
    return p;
  }

  /** Removes every track of the user now ('track-removed' each); the user's gain/pan/mute are kept. */
  removeUser(userId: string): void {
    const now = nowMicros();
    for (const t of [...this.tracksByKey.values()]) if (t.userId === userId) this.removeTrack(t, now, 'removed');
  }

  /**
   * A connection ended (its close event): its tracks leave the mix now ('track-removed' each) instead of after
   * trackTimeoutMs of concealment, and a packet of it still on its way ('' is never one) is 'late', making no track
   * again. The last ENDED_CONNECTIONS ended connections are remembered.
   */
  removeConnection(connectionId: string): void {
    if (connectionId === '') return;
    const now = nowMicros();
    const byUser = this.tracksByConn.get(connectionId);
    if (byUser !== undefined) for (const mine of [...byUser.values()]) for (const t of [...mine.values()]) this.removeTrack(t, now, 'closed');
    this.ended.add(connectionId);
    if (this.ended.size > ENDED_CONNECTIONS) this.ended.delete(this.ended.values().next().value as string);
  }

  /**
   * Mixes one frame. `now` (µs since epoch, default nowMicros()) is compared with packet arrival times to remove
   * tracks silent for trackTimeoutMs. Pulls one frame from every track (in track creation order).
   */
  tick(now: number = nowMicros()): MixResult {
    this.eventAtUs = now;
    for (const t of this.tracksByKey.values()) {
      if (now - t.lastPacketAtUs > this.trackTimeoutUs) this.removeTrack(t, now, 'timeout');
    }
    if (this.tablesDirty) this.makeTables();
    const minus = this.mixMinus || this.asking > 0;
    this.acc.fill(0);
    const main = this.main;
    main.rows = this.rowsFor(main);
    if (this.rooms.size > 1 || minus) {
      for (const room of this.rooms.values()) {
        if (room !== main) {
          room.acc.fill(0);
          room.rows = this.rowsFor(room);
        }
        if (minus) for (const u of room.users.values()) if (u.own !== null && (this.mixMinus || u.asking > 0)) u.own.fill(0);
      }
    }
    if (this.metering) {
      // Console meters: each track's pre-fader peak and Σx² measured in the loop that adds it to the mix.
      for (const t of this.tracksByKey.values()) {
        const info = t.playout.pullInto(t.frame);
        this.addToMix(t, info.seq, info.wireSeq, info.concealed, info.arrival, true);
      }
    } else {
      for (const t of this.tracksByKey.values()) {
        const info = t.playout.pullInto(t.frame);
        this.addToMix(t, info.seq, info.wireSeq, info.concealed, info.arrival);
      }
    }
    const result = this.finishTick(new UsedFrame(main.table as readonly UsedTrack[], main.rows));
    if (this.consoleOn) this.consoleTick(result);
    return result;
  }

  /** Some room's track list changed since the last tick: its table (UsedFrame.tracks) is made again. */
  private tablesDirty = true;

  /** Makes the table of every room whose tracks changed: its tracks in creation (mixing) order, frozen. */
  private makeTables(): void {
    this.tablesDirty = false;
    const made = new Map<Room, UsedTrack[]>();
    for (const room of this.rooms.values()) if (room.table === null) made.set(room, []);
    for (const t of this.tracksByKey.values()) made.get(t.room)?.push(t.usedTrack);
    for (const [room, table] of made) room.table = Object.freeze(table);
  }

  /** A room's rows for this tick (one allocation for the room, however many tracks; none for a room with none). */
  private rowsFor(room: Room): Float64Array {
    room.cursor = 0;
    const n = (room.table as readonly UsedTrack[]).length;
    return n === 0 ? NO_ROWS : new Float64Array(n * USED_STRIDE);
  }

  /** The mix (and mix-minus frames) from the accumulators tick() filled. */
  private finishTick(used: UsedFrame): MixResult {
    const len = this.frameSamples * this.channels;
    const acc = this.acc;
    const mix = new Float32Array(len);
    writeMix(acc, this.master, mix, len);
    const seq = this.frameSeq++;
    const result: MixResult = { seq, mix: Buffer.from(mix.buffer, 0, mix.byteLength), used };
    const main = this.main;
    this.roomMixes = null;
    main.perUser = this.mixMinus ? new Map<string, Buffer>() : undefined;
    if (this.mixMinus || this.asking > 0) {
      for (const room of this.rooms.values()) if (room !== main) room.perUser = undefined;
      // Mix-minus frames in track order, one per user and room (the first track of each), each from its room's sums.
      // A user that added nothing to this frame (muted, gain 0, prebuffering, digital silence) hears exactly the
      // room's mix: it gets that very Buffer, so an encoder can encode it once for all of them (sharedMixes).
      let roomMixes: Map<Room, Buffer> | null = null;
      for (const t of this.tracksByKey.values()) {
        const u = t.roomUser;
        if (u.stamp === seq || !(this.mixMinus || u.asking > 0)) continue;
        u.stamp = seq;
        const room = t.room;
        let frame: Buffer;
        if (u.own === null || allZero(u.own, len)) {
          if (room === main) frame = result.mix;
          else {
            let m = (roomMixes ??= new Map<Room, Buffer>()).get(room);
            if (m === undefined) {
              const f = new Float32Array(len);
              writeMix(room.acc, this.masterOf(room), f, len);
              roomMixes.set(room, (m = Buffer.from(f.buffer, 0, f.byteLength)));
            }
            frame = m;
          }
          markSharedMix(frame);
        } else {
          const out = new Float32Array(len);
          writeMix(room.acc, this.masterOf(room), out, len, u.own);
          frame = Buffer.from(out.buffer, 0, out.byteLength);
        }
        (room.perUser ??= new Map<string, Buffer>()).set(t.userId, frame);
      }
      this.roomMixes = roomMixes;
    } else if (this.rooms.size > 1) {
      for (const room of this.rooms.values()) room.perUser = undefined;
    }
    if (main.perUser !== undefined) result.perUser = main.perUser;
    if (this.rooms.size > 1) {
      const rooms: RoomMix[] = [];
      for (const room of this.rooms.values()) {
        if (room === main) continue;
        let mix = this.roomMixes?.get(room);
        if (mix === undefined) {
          const m = new Float32Array(len);
          writeMix(room.acc, this.masterOf(room), m, len);
          mix = Buffer.from(m.buffer, 0, m.byteLength);
        }
        const r: RoomMix = { room: room.name, mix, used: new UsedFrame(room.table as readonly UsedTrack[], room.rows) };
        if (room.perUser !== undefined) r.perUser = room.perUser;
        rooms.push(r);
      }
      result.rooms = rooms;
    }
    return result;
  }

  /** One track's pulled frame (in t.frame) into its room's used rows and the sums, the user's own sum for mix-minus. */
  private addToMix(t: Track, seq: number | null, wireSeq: number | null, concealed: boolean, arrival: number | null, metered = false): void {
    const room = t.room;
    writeUsedRow(room.rows, room.cursor++, seq, wireSeq, concealed, t.codec, t.channels, t.frameSamples, arrival);
    const C = this.channels;
    const n = this.frameSamples;
    // A prebuffering track gives silence: adding zeros would not change a bit, so skip the work (its meter counts zeros).
    if (seq === null && !concealed) {
      if (metered) t.mN += n * C;
      return;
    }
    const u = t.user;
    if (!metered) addTrack(t.room.acc, t.frame, u.gain, u.pan, u.muted, C, n);
    else if (u.muted || u.gain === 0) meterInto(t, t.frame, n * C);
    else addTrackMetered(t.room.acc, t.frame, u.gain, u.pan, C, n, t);
    const ru = t.roomUser;
    if (this.mixMinus || ru.asking > 0) {
      // Made zeroed on first use (tick() zeroes it from the next frame on).
      if (ru.own === null) ru.own = new Float64Array(n * C);
      addTrack(ru.own, t.frame, u.gain, u.pan, u.muted, C, n);
    }
  }

  /** State of every track (fresh objects); `now` in µs decides `connected`. */
  tracks(now: number = nowMicros()): TrackState[] {
    const out: TrackState[] = [];
    for (const t of this.tracksByKey.values()) out.push(this.stateOf(t, now));
    return out;
  }

  private settings(userId: string): UserSettings {
    let s = this.users.get(userId);
    if (s === undefined) this.users.set(userId, (s = { gain: 1, pan: 0, muted: false }));
    return s;
  }

  private newPlayout(): PlayoutBuffer {
    return new PlayoutBuffer({ ...this.playoutOpts, sampleRate: this.sampleRate, channels: this.channels, frameSamples: this.frameSamples });
  }

  private removeTrack(t: Track, now: number, reason: NonNullable<TrackState['removedReason']>): void {
    if (this.tracksByKey.get(t.key) !== t) return;
    this.trackGone(t, now, reason);
    this.tracksByKey.delete(t.key);
    const byUser = this.tracksByConn.get(t.connectionId);
    const mine = byUser?.get(t.userId);
    if (byUser !== undefined && mine !== undefined && mine.get(t.trackId) === t) {
      mine.delete(t.trackId);
      if (mine.size === 0) byUser.delete(t.userId);
      if (byUser.size === 0) this.tracksByConn.delete(t.connectionId);
    }
    const room = t.room;
    const ru = t.roomUser;
    if (t.minus) {
      ru.asking--;
      this.asking--;
    }
    if (--ru.tracks === 0) room.users.delete(t.userId);
    if (--room.tracks === 0 && room !== this.main) this.rooms.delete(room.name);
    room.table = null;
    this.tablesDirty = true;
    this.layout = null;
    let others = false;
    for (const o of this.tracksByKey.values()) if (o.userId === t.userId) others = true;
    if (!others) {
      // A user whose settings are the defaults is forgotten with its last track (its next track gets the defaults
      // anyway): every userId that ever sent audio was kept (~200 B each, one more per join in the soak).
      const u = this.users.get(t.userId);
      if (u !== undefined && u.gain === 1 && u.pan === 0 && !u.muted) this.users.delete(t.userId);
    }
    const st = this.stateOf(t, now);
    st.connected = false;
    st.removedReason = reason;
    this.emit('track-removed', st);
  }

  // ---- stream events (the stream event log, runtime/streamlog/; owner: log) ----
  // 'stream-event' (StreamEvent): 'new' at a track's making, the playout buffer's sequence events as they are counted
  // (runtime/audio/playout/events.ts), 'dropped' / 'closed' at its removal. One object per event, made only while
  // someone listens; a stream with no losses costs nothing per packet.

  /** When the events being raised happen (µs): the packet's arrival in push(), the tick's time in tick(). */
  private eventAtUs = 0;

  private trackEvents(t: Track, header: PlayoutHeader, arrivalMicros: number): void {
    t.playout.setEventListener((kind: PlayoutEventKind, seq: number, count: number, filled: boolean) => {
      if (this.listenerCount('stream-event') === 0) return;
      const e = this.streamEvent(t, kind === 'duplicate' ? 'repeated' : kind, seq, count, this.eventAtUs);
      if (kind === 'late') e.filled = filled;
      this.emit('stream-event', e);
    });
    if (this.listenerCount('stream-event') === 0) return;
    const seq = typeof header?.seq === 'number' && Number.isInteger(header.seq) ? header.seq : null;
    this.emit('stream-event', this.streamEvent(t, 'new', seq, 0, arrivalMicros));
  }

  private trackGone(t: Track, now: number, reason: NonNullable<TrackState['removedReason']>): void {
    this.eventAtUs = now;
    t.playout.flushEvents();
    t.playout.setEventListener(null);
    if (this.listenerCount('stream-event') === 0) return;
    const e = this.streamEvent(t, reason === 'timeout' ? 'dropped' : 'closed', null, 0, now);
    if (reason === 'timeout') e.timeoutMs = this.trackTimeoutUs / 1000;
    this.emit('stream-event', e);
  }

  private streamEvent(t: Track, kind: StreamEventKind, seq: number | null, count: number, atUs: number): StreamEvent {
    return { kind, userId: t.userId, trackId: t.trackId, connectionId: t.connectionId, room: t.room.name, seq, count, at: atUs / 1000 };
  }

  private stateOf(t: Track, now: number): TrackState {
    const s = t.playout.stats();
    // Field by field, not `{ ...s, … }`: spreading then adding a dozen fields took ~40 µs per track in V8 (the bench
    // profile showed it at 2 % of a core for 80 tracks at 10 states/s); a literal of known shape takes ~0.1 µs.
    // TypeScript checks that every PlayoutStats field is here.
    return {
      received: s.received, lost: s.lost, late: s.late, duplicate: s.duplicate, outOfOrder: s.outOfOrder,
      concealedSamples: s.concealedSamples, misses: s.misses, depthFrames: s.depthFrames, depthSamples: s.depthSamples,
      targetDepthFrames: s.targetDepthFrames, jitterMs: s.jitterMs, lastSeq: s.lastSeq, resets: s.resets,
      droppedSamples: s.droppedSamples, trimmedSamples: s.trimmedSamples, decodeErrors: s.decodeErrors, bytesReceived: s.bytesReceived, state: s.state,
      userId: t.userId,
      trackId: t.trackId,
      connectionId: t.connectionId,
      room: t.room.name,
      refused: t.refused,
      refusedReason: t.refusedReason,
      codec: t.codec,
      sampleRate: t.sampleRate,
      channels: t.channels,
      frameSamples: t.frameSamples,
      gain: t.user.gain,
      pan: t.user.pan,
      muted: t.user.muted,
      lastPacketAt: t.lastPacketAtUs / 1000,
      connected: now - t.lastPacketAtUs <= this.connectedUs,
    };
  }
}

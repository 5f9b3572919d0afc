// The console's controls: what a page or an HTTP client may ask of the mixer, checked field by field (a refusal names
// the field), and the dB ⇄ linear conversions. docs/console.md is the contract.
import { isRoomName, DEFAULT_ROOM } from '../rooms';
import { wireText } from '../log-text';

/** The top of every gain fader: +12 dB (linear ≈ 3.98). */
export const MAX_GAIN_DB = 12;
export const MAX_USER_ID_CHARS = 128;
/** A monitor's solo list: at most this many track keys, each at most MAX_KEY_CHARS. */
export const MAX_SOLO = 64;
export const MAX_KEY_CHARS = 512;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** A refused control: `field` names what is wrong (the API's `{ error: { code: 'bad_request', field, message } }`). */
export class ControlError extends Error {
  readonly code = 'bad_request';
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'ControlError';
  }

  /** The HTTP body / the websocket's error message fields. */
  toJSON(): { code: 'bad_request'; field: string; message: string } {
    return { code: this.code, field: this.field, message: this.message };
  }
}

/** One change for the mixer: a user's gain (linear), pan or mute, or a room's master gain (linear). */
export type MixerControl =
  | { kind: 'gain'; userId: string; gain: number }
  | { kind: 'pan'; userId: string; pan: number }
  | { kind: 'mute'; userId: string; mute: boolean }
  | { kind: 'master'; room: string; gain: number };

/** dB → linear; null and −∞ are off (0). */
export function dbToGain(db: number | null): number {
  if (db === null || db === -Infinity) return 0;
  return Math.pow(10, db / 20);
}

/** linear → dB, null for 0 (−∞), rounded to 0.001 dB (so −6 set is −6 read back, not −6.000000000000001). */
export function gainToDb(g: number): number | null {
  if (!(g > 0)) return null;
  return Math.round(20 * Math.log10(g) * 1000) / 1000;
}

/** dBFS for a level, null for −∞ (JSON has no −∞). */
export function dbOrNull(db: number): number | null {
  return Number.isFinite(db) ? db : null;
}

function userIdOf(o: Record<string, unknown>): string {
  const v = o.userId;
  if (v === undefined || v === null) throw new ControlError('userId', 'required');
  if (typeof v !== 'string') throw new ControlError('userId', `must be a string, got ${typeof v}`);
  if (v === '') throw new ControlError('userId', 'must not be empty');
  if (v.length > MAX_USER_ID_CHARS) throw new ControlError('userId', `longer than ${MAX_USER_ID_CHARS} characters`);
  if (CONTROL_CHARS.test(v)) throw new ControlError('userId', 'contains a control character');
  return v;
}

/** A gain in dB: a number ≤ +12, or null / −∞ for off. */
export function readGainDb(v: unknown, field: string): number | null {
  if (v === null || v === -Infinity) return null;
  if (typeof v !== 'number') throw new ControlError(field, `must be a number of dB ≤ ${MAX_GAIN_DB}, or null for −∞ (off), got ${wireText(v, 30)}`);
  if (Number.isNaN(v) || v === Infinity) throw new ControlError(field, `must be a number of dB ≤ ${MAX_GAIN_DB}, or null for −∞ (off), got ${String(v)}`);
  if (v > MAX_GAIN_DB) throw new ControlError(field, `must be ≤ ${MAX_GAIN_DB} dB, got ${v}`);
  return v;
}

function readPan(v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ControlError('pan', `must be a number from −1 (left) to 1 (right), got ${wireText(v, 30)}`);
  if (v < -1 || v > 1) throw new ControlError('pan', `must be from −1 (left) to 1 (right), got ${v}`);
  return v;
}

function readMute(v: unknown): boolean {
  if (typeof v !== 'boolean') throw new ControlError('mute', `must be true or false, got ${wireText(v, 30)}`);
  return v;
}

export function readRoom(v: unknown, field = 'room', optional = false): string {
  if ((v === undefined || v === null) && optional) return DEFAULT_ROOM;
  if (v === undefined || v === null) throw new ControlError(field, 'required');
  if (!isRoomName(v)) throw new ControlError(field, `${wireText(v, 70)} is not a room name (1–64 of letters, digits, "-", "_")`);
  return v;
}

function noOthers(o: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new ControlError(k, `unknown field (expected ${allowed.join(', ')})`);
}

function asObject(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new ControlError(what, `expected a JSON object, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
  }
  return v as Record<string, unknown>;
}

/**
 * POST /control's body: `{ userId, gainDb?, pan?, mute? }` (at least one of the three) or `{ room?, masterGainDb }`
 * (room: 'main' when absent). Every field checked; the first bad one refused by name.
 */
export function readControlBody(body: unknown): MixerControl[] {
  const o = asObject(body, 'body');
  if ('masterGainDb' in o) {
    noOthers(o, ['room', 'masterGainDb']);
    const room = readRoom(o.room, 'room', true);
    return [{ kind: 'master', room, gain: dbToGain(readGainDb(o.masterGainDb, 'masterGainDb')) }];
  }
  noOthers(o, ['userId', 'gainDb', 'pan', 'mute']);
  return userControls(o);
}

function userControls(o: Record<string, unknown>): MixerControl[] {
  const userId = userIdOf(o);
  const out: MixerControl[] = [];
  if (o.gainDb !== undefined) out.push({ kind: 'gain', userId, gain: dbToGain(readGainDb(o.gainDb, 'gainDb')) });
  if (o.pan !== undefined) out.push({ kind: 'pan', userId, pan: readPan(o.pan) });
  if (o.mute !== undefined) out.push({ kind: 'mute', userId, mute: readMute(o.mute) });
  if (out.length === 0) throw new ControlError('gainDb', 'one of gainDb, pan, mute is required (or masterGainDb)');
  return out;
}

/** What a page sends over the websocket. */
export type PageMessage =
  | { t: 'control'; controls: MixerControl[] }
  | { t: 'monitor'; on: boolean; room: string; solo: string[] };

/** One text message of a page (docs/console.md), parsed and checked; a bad one is refused naming the field. */
export function readPageMessage(text: string): PageMessage {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ControlError('message', `not JSON (${text.length} characters)`);
  }
  const o = asObject(v, 'message');
  switch (o.t) {
    case 'control': {
      noOthers(o, ['t', 'userId', 'gainDb', 'pan', 'mute']);
      return { t: 'control', controls: userControls(o) };
    }
    case 'master': {
      noOthers(o, ['t', 'room', 'gainDb']);
      const room = readRoom(o.room, 'room', true);
      if (o.gainDb === undefined) throw new ControlError('gainDb', 'required (a number of dB, or null for −∞)');
      return { t: 'control', controls: [{ kind: 'master', room, gain: dbToGain(readGainDb(o.gainDb, 'gainDb')) }] };
    }
    case 'monitor': {
      noOthers(o, ['t', 'on', 'room', 'solo']);
      if (typeof o.on !== 'boolean') throw new ControlError('on', `must be true or false, got ${wireText(o.on, 30)}`);
      const room = readRoom(o.room, 'room', true);
      const solo = o.solo === undefined || o.solo === null ? [] : o.solo;
      if (!Array.isArray(solo)) throw new ControlError('solo', `must be a list of track keys, got ${typeof solo}`);
      if (solo.length > MAX_SOLO) throw new ControlError('solo', `at most ${MAX_SOLO} track keys, got ${solo.length}`);
      solo.forEach((k, i) => {
        if (typeof k !== 'string' || k === '' || k.length > MAX_KEY_CHARS) throw new ControlError(`solo[${i}]`, `must be a track key (a non-empty string of at most ${MAX_KEY_CHARS} characters), got ${wireText(k, 30)}`);
      });
      return { t: 'monitor', on: o.on, room, solo: [...new Set(solo as string[])] };
    }
    default:
      throw new ControlError('t', `${wireText(o.t, 30)} is not a message type (control, master, monitor)`);
  }
}

/** The key a control is coalesced under: one pending value per user and parameter, per room master. */
export function controlTarget(c: MixerControl): string {
  return c.kind === 'master' ? `master\u0000${c.room}` : `${c.kind}\u0000${c.userId}`;
}

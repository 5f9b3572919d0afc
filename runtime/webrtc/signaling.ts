// The signaling requests of docs/webrtc.md: their bodies checked field by field, and the refusals in the contract's
// shape. Every refusal names the field at fault; a wire value shown in a message goes through wireText.
import { isRoomName } from '../rooms';
import { wireText } from '../log-text';

export type ErrorCode = 'bad_request' | 'bad_sdp' | 'unauthorized' | 'forbidden_origin' | 'no_such_room' | 'no_such_client'
  | 'full' | 'not_found' | 'method_not_allowed' | 'internal';

export interface RtcAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** A refusal: `{ error: { code, message } }` with its status. */
export class SignalingError extends Error {
  constructor(readonly status: number, readonly code: ErrorCode, message: string) {
    super(message);
    this.name = 'SignalingError';
  }

  answer(): RtcAnswer {
    return { status: this.status, body: { error: { code: this.code, message: this.message } } };
  }
}

const bad = (message: string) => new SignalingError(400, 'bad_request', message);

/** The longest body read (an offer is a few KiB). */
export const MAX_BODY_BYTES = 128 * 1024;
export const MAX_USER_ID_CHARS = 64;
export const MAX_NAME_CHARS = 64;
export const MAX_TOKEN_CHARS = 1024;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

const chars = (s: string) => [...s].length;

/** A body parsed as one JSON object; `what` names it in the message. */
export function parseBody(body: string | undefined): Record<string, unknown> {
  const text = body ?? '';
  if (text.length > MAX_BODY_BYTES) throw bad(`body: longer than ${MAX_BODY_BYTES} bytes`);
  if (text.trim() === '') throw bad('body: empty (expected a JSON object)');
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    // V8's message quotes the input: give the position only.
    const m = /position (\d+)/.exec((err as Error).message);
    throw bad(`body: not JSON (${m ? `at position ${m[1]}` : `${text.length} characters`})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(`body: expected a JSON object, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
  return v as Record<string, unknown>;
}

function text(o: Record<string, unknown>, field: string, max: number, opts: { optional?: boolean } = {}): string | undefined {
  const v = o[field];
  if (v === undefined || v === null) {
    if (opts.optional) return undefined;
    throw bad(`${field}: required`);
  }
  if (typeof v !== 'string') throw bad(`${field}: must be a string, got ${typeof v}`);
  if (v === '') throw bad(`${field}: must not be empty`);
  if (chars(v) > max) throw bad(`${field}: longer than ${max} characters`);
  if (CONTROL.test(v)) throw bad(`${field}: contains a control character`);
  return v;
}

function flag(o: Record<string, unknown>, field: string): boolean {
  const v = o[field];
  if (v === undefined || v === null) throw bad(`${field}: required (true or false)`);
  if (typeof v !== 'boolean') throw bad(`${field}: must be true or false, got ${wireText(v, 20)}`);
  return v;
}

export interface OfferRequest {
  sdp: string;
  room: string;
  userId: string;
  name: string;
  publish: boolean;
  listen: boolean;
  token?: string;
}

/** POST /offer's body. */
export function readOfferRequest(o: Record<string, unknown>): OfferRequest {
  if (o.type !== 'offer') throw bad(o.type === undefined ? 'type: required ("offer")' : `type: must be "offer", got ${wireText(o.type, 20)}`);
  if (typeof o.sdp !== 'string') throw bad(o.sdp === undefined || o.sdp === null ? 'sdp: required' : `sdp: must be a string, got ${typeof o.sdp}`);
  if (o.sdp.trim() === '') throw bad('sdp: must not be empty');
  if (o.room === undefined || o.room === null) throw bad('room: required');
  if (!isRoomName(o.room)) throw bad(`room: ${wireText(o.room, 70)} is not a room name (1–64 of letters, digits, "-", "_")`);
  const userId = text(o, 'userId', MAX_USER_ID_CHARS) as string;
  const name = text(o, 'name', MAX_NAME_CHARS, { optional: true }) ?? userId;
  const publish = flag(o, 'publish');
  const listen = flag(o, 'listen');
  if (!publish && !listen) throw bad('publish: publish or listen must be true');
  let token: string | undefined;
  if (o.token !== undefined && o.token !== null) {
    if (typeof o.token !== 'string') throw bad(`token: must be a string, got ${typeof o.token}`);
    if (o.token.length > MAX_TOKEN_CHARS) throw bad(`token: longer than ${MAX_TOKEN_CHARS} characters`);
    token = o.token;
  }
  return { sdp: o.sdp, room: o.room, userId, name, publish, listen, token };
}

export interface CandidateRequest {
  clientId: string;
  /** null: no more candidates. */
  candidate: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null; usernameFragment?: string | null } | null;
}

/** POST /ice-candidate's body. */
export function readCandidateRequest(o: Record<string, unknown>): CandidateRequest {
  const clientId = text(o, 'clientId', 100) as string;
  if (!('candidate' in o)) throw bad('candidate: required (an RTCIceCandidateInit, or null for "no more candidates")');
  const c = o.candidate;
  if (c === null) return { clientId, candidate: null };
  if (typeof c !== 'object' || Array.isArray(c)) throw bad(`candidate: must be an object or null, got ${Array.isArray(c) ? 'an array' : typeof c}`);
  const init = c as Record<string, unknown>;
  const cand = init.candidate;
  if (cand === undefined || cand === null || cand === '') return { clientId, candidate: null };
  if (typeof cand !== 'string') throw bad(`candidate.candidate: must be a string, got ${typeof cand}`);
  if (cand.length > 1024) throw bad('candidate.candidate: longer than 1024 characters');
  if (!/^(candidate:)?\S+ \d+ (udp|tcp) \d+ \S+ \d+ typ \S+/i.test(cand)) throw bad(`candidate.candidate: ${wireText(cand, 80)} is not an ICE candidate line`);
  const sdpMid = init.sdpMid;
  if (sdpMid !== undefined && sdpMid !== null && typeof sdpMid !== 'string') throw bad(`candidate.sdpMid: must be a string or null, got ${typeof sdpMid}`);
  const idx = init.sdpMLineIndex;
  if (idx !== undefined && idx !== null && !(Number.isInteger(idx) && (idx as number) >= 0 && (idx as number) < 64)) throw bad(`candidate.sdpMLineIndex: must be an m-line index or null, got ${wireText(idx, 20)}`);
  const uf = init.usernameFragment;
  if (uf !== undefined && uf !== null && typeof uf !== 'string') throw bad(`candidate.usernameFragment: must be a string or null, got ${typeof uf}`);
  return { clientId, candidate: { candidate: cand, sdpMid: sdpMid as string | null | undefined, sdpMLineIndex: idx as number | null | undefined, usernameFragment: uf as string | null | undefined } };
}

/** A header's one value (Node gives arrays for repeated ones). */
export function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name] ?? headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** The token of `Authorization: Bearer TOKEN`, if there is one. */
export function bearerToken(headers: Record<string, string | string[] | undefined>): string | undefined {
  const a = header(headers, 'authorization');
  const m = a ? /^Bearer\s+(\S+)\s*$/i.exec(a) : null;
  return m ? m[1] : undefined;
}

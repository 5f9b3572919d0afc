// The xcast's admin aggregator: folds mixer track state, QOS reports, connection events and PING/PONG into mixeradminSharedState.

import { BitrateMeter, Rfc3550Jitter, SeqTracker } from './stats';
import { wireText } from '../log-text';
import { isRoomName } from '../rooms';
import type {
  ConnectionEntry, ConnectionEvent, DownstreamState, IncomingTrack, MixerAdminSharedState, OutgoingTrack,
  PongResult, QOSMetrics, QosHead, TrackState,
} from './types';

export type { MixerAdminSharedState, QOSMetrics, TrackState, ConnectionEvent, PongResult } from './types';

/** A QOS report that does not have the streamproto1 shape; `field` is the JSON path of the first bad field. */
export class QosValidationError extends Error {
  readonly code = 'bad_qos';
  constructor(readonly field: string, detail: string) {
    super(`invalid QOSMetrics: ${field} ${detail}`);
    this.name = 'QosValidationError';
  }
}

/** A constructor option out of range. */
export class AggregatorConfigError extends Error {
  readonly code = 'bad_config';
  constructor(readonly field: string, detail: string) {
    super(`AdminAggregator option ${field} ${detail}`);
    this.name = 'AggregatorConfigError';
  }
}

const U32_MAX = 0xffff_ffff;
const MAX_QOS_KEYS = 32;
const MAX_HEAD_KEYS = 16;
const MAX_STRING = 256;
/** Largest QOS batch accepted in one frame; streamproto1 allows batching, not floods. */
export const MAX_QOS_BATCH = 256;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkInt(obj: Record<string, unknown>, key: string, path: string, min: number, max: number, optional: boolean): void {
  const v = obj[key];
  if (v === undefined && optional) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new QosValidationError(`${path}${key}`, `must be an integer in ${min}…${max}, got ${wireText(v, 40)}`);
  }
}

function checkNum(obj: Record<string, unknown>, key: string, path: string, min: number, max: number, optional: boolean): void {
  const v = obj[key];
  if (v === undefined && optional) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new QosValidationError(`${path}${key}`, `must be a number in ${min}…${max}, got ${wireText(v, 40)}`);
  }
}

function checkExtras(obj: Record<string, unknown>, known: ReadonlySet<string>, path: string): void {
  for (const k of Object.keys(obj)) {
    if (known.has(k)) continue;
    if (k.length > MAX_STRING) throw new QosValidationError(`${path}${k.slice(0, 32)}…`, 'field name is too long');
    const v = obj[k];
    const ok = typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)) ||
      (typeof v === 'string' && v.length <= MAX_STRING) || v === null;
    if (!ok) throw new QosValidationError(`${path}${k}`, 'extra fields must be a finite number, boolean, null or a string of at most 256 characters');
  }
}

const HEAD_KEYS = new Set(['trackId', 'seq', 'captureTime', 'sampleRate', 'channels', 'codec', 'frameSamples']);
const QOS_KEYS = new Set(['head', 'qosTimestamp', 'userId', 'bufferDepthSamples', 'misses', 'payloadBytes']);

/**
 * Strict shape check of one QOSMetrics object (streamproto1 "QOS"); returns a fresh copy holding only checked
 * values, so the caller's object can change afterwards without touching the aggregate. Extra receiver fields
 * are kept when they are scalars; nested extras are refused (they would be re-sent in every metadata packet).
 */
export function validateQos(obj: unknown): QOSMetrics {
  if (!isPlainObject(obj)) throw new QosValidationError('(root)', 'must be a JSON object');
  if (Object.keys(obj).length > MAX_QOS_KEYS) throw new QosValidationError('(root)', `has more than ${MAX_QOS_KEYS} fields`);
  const head = obj.head;
  if (!isPlainObject(head)) throw new QosValidationError('head', 'must be an object');
  if (Object.keys(head).length > MAX_HEAD_KEYS) throw new QosValidationError('head', `has more than ${MAX_HEAD_KEYS} fields`);
  checkInt(head, 'trackId', 'head.', 0, U32_MAX, false);
  checkInt(head, 'seq', 'head.', 0, U32_MAX, false);
  checkNum(head, 'captureTime', 'head.', 0, Number.MAX_SAFE_INTEGER, false);
  checkInt(head, 'sampleRate', 'head.', 8000, 192000, true);
  checkInt(head, 'channels', 'head.', 1, 8, true);
  checkInt(head, 'codec', 'head.', 0, 2, true);
  checkInt(head, 'frameSamples', 'head.', 1, 0xffff, true);
  checkExtras(head, HEAD_KEYS, 'head.');
  checkNum(obj, 'qosTimestamp', '', 0, Number.MAX_SAFE_INTEGER, false);
  if (obj.userId !== undefined && (typeof obj.userId !== 'string' || obj.userId.length > MAX_STRING)) {
    throw new QosValidationError('userId', `must be a string of at most ${MAX_STRING} characters`);
  }
  checkNum(obj, 'bufferDepthSamples', '', 0, 1e9, true);
  checkInt(obj, 'misses', '', 0, Number.MAX_SAFE_INTEGER, true);
  checkInt(obj, 'payloadBytes', '', 0, 1 << 20, true);
  checkExtras(obj, QOS_KEYS, '');
  return { ...obj, head: { ...head } } as unknown as QOSMetrics;
}

/**
 * A QOS frame's payload — one report or a batch — as validated reports; throws the QosValidationError of the first
 * malformed one, so a batch is taken whole or not at all (the socket writer refuses the receiver that sent it).
 */
export function validateQosBatch(q: unknown): QOSMetrics[] {
  if (!Array.isArray(q)) return [validateQos(q)];
  if (q.length > MAX_QOS_BATCH) throw new QosValidationError('(root)', `batch of ${q.length} reports exceeds ${MAX_QOS_BATCH}`);
  const out: QOSMetrics[] = new Array(q.length);
  for (let i = 0; i < q.length; i++) out[i] = validateQos(q[i]);
  return out;
}

/** What onQos did with a report or batch. Shared constant objects for the common cases: do not mutate. */
export interface QosResult {
  readonly accepted: number;
  readonly rejected: readonly QosValidationError[];
}
const NO_ERRORS: readonly QosValidationError[] = Object.freeze([]);
const ACCEPTED_ONE: QosResult = Object.freeze({ accepted: 1, rejected: NO_ERRORS });
const ACCEPTED_NONE: QosResult = Object.freeze({ accepted: 0, rejected: NO_ERRORS });

export interface AdminAggregatorOptions {
  /** isIncomingAudioTrackConnected turns false when a track's seq has not moved for longer than this (ms). */
  connectedThresholdMs?: number;
  /** ms clock; injectable for tests. */
  now?: () => number;
  /** A user with no open connection and no activity is dropped from the state after this long (ms). */
  retainDisconnectedMs?: number;
  /** Without connection events, a receiver counts as an outgoing track while its QOS reports are this fresh (ms). */
  qosStaleMs?: number;
  /** trackId listed for a receiver whose outgoing connection is open but which has sent no QOS yet. */
  outgoingTrackId?: number;
  /**
   * Bound on user records (the state's `connections`): only users with a mixer track, QOS reports as receivers or an
   * authenticated connection get one. When full, the stalest user without a present track makes room; a user who
   * sends audio is never kept out (the mixer bounds its tracks). Default 1024.
   */
  maxUsers?: number;
  /** A user seen only in connection events (not authenticated, no audio, no QOS) is forgotten this long after its last connection closed (ms); default 10 s. */
  retainUnconfirmedMs?: number;
  /** Bound on such users remembered at once (the oldest, disconnected first, make room); default 256. */
  maxUnconfirmedUsers?: number;
  /** Bound on open connections followed (a lost close event cannot grow the map); default 4096. */
  maxConnections?: number;
}

/** Sizes of the aggregator's maps, for tests and status: each is bounded by an option. */
export interface AggregatorSizes {
  users: number;
  unconfirmedUsers: number;
  connections: number;
}

interface TrackRec {
  state: TrackState;
  lastSeq: number;
  seqMovedAt: number;
  present: boolean;
  /** The onTrackState call that last listed it. */
  listedIn: number;
  prevBytes: number;
  meter: BitrateMeter;
}

interface DownRec {
  seq: SeqTracker;
  jitter: Rfc3550Jitter;
  rawLatencyMs: number;
  loopMs: number;
  bufferDepthSamples: number | null;
  misses: number | null;
  meter: BitrateMeter;
  hasBytes: boolean;
  lastQosAt: number;
}

interface ConnRec { id: string; userId?: string; at: number; direction?: 'incoming' | 'outgoing'; remote?: string; role?: string; room?: string }

/** A user seen only in connection events: remembered apart from the state, in a small bounded table. */
interface UnconfirmedRec {
  remote: string | null;
  role: string | null;
  room: string | null;
  firstSeenAt: number;
  lastSeenAt: number;
  disconnectedAt: number | null;
  rttMs: number | null;
  offsetMs: number | null;
}

/** Why a user record is made: a mixer track (never refused), QOS reports, an authenticated connection. */
type Claim = 'audio' | 'qos' | 'authenticated';

interface UserRec {
  userId: string;
  firstSeenAt: number;
  lastActivityAt: number;
  remote: string | null;
  role: string | null;
  /** Its room (runtime/rooms.ts): from its connection events, else from its mixer tracks; null while unknown. */
  room: string | null;
  hadConnectionEvents: boolean;
  disconnectedAt: number | null;
  /** Keyed by trackKey(connectionId, trackId): two connections of one user never share a record (the mixer keeps them apart too). */
  tracks: Map<string, TrackRec>;
  /** Counters of track records that made room for newer ones (a user reconnecting many times): totals stay exact. */
  retired: RetiredTotals;
  down: Map<number, DownRec>;
  rttMs: number | null;
  offsetMs: number | null;
  protocolErrors: number;
  lastQOS: QOSMetrics | null;
  lastQosTrack: number;
  /** It sent audio (had a mixer track) or came on an authenticated connection: kept retainDisconnectedMs after it left. */
  vouched: boolean;
}

const MAX_TRACKS_PER_USER = 16;

interface RetiredTotals { received: number; lost: number; late: number; duplicate: number; outOfOrder: number; concealed: number }

/** A track record's key: the connection it came on (TrackState.connectionId, '' when none) and its trackId. */
function trackKey(s: { connectionId?: unknown; trackId: number }): string {
  const c = typeof s.connectionId === 'string' || typeof s.connectionId === 'number' ? String(s.connectionId) : '';
  return `${s.trackId}@${c}`;
}
const MAX_ERROR_CODES = 32;

/**
 * The fields of a track state the records are read for (the snapshot, a retired track's totals, the upstream
 * bitrate), copied one by one into the record's own state — a field a state leaves out keeps its value, as with
 * Object.assign, whose generic copy of every field was four fifths of onTrackState at 300 tracks (0.25 of 0.3 ms).
 * A field read from records must be listed here.
 */
function copyState(to: TrackState, s: TrackState): void {
  const d = to as unknown as Record<string, unknown>;
  if (s.trackId !== undefined) d.trackId = s.trackId;
  if (s.received !== undefined) d.received = s.received;
  if (s.lost !== undefined) d.lost = s.lost;
  if (s.late !== undefined) d.late = s.late;
  if (s.duplicate !== undefined) d.duplicate = s.duplicate;
  if (s.outOfOrder !== undefined) d.outOfOrder = s.outOfOrder;
  if (s.concealedSamples !== undefined) d.concealedSamples = s.concealedSamples;
  if (s.connected !== undefined) d.connected = s.connected;
  if (s.jitterMs !== undefined) d.jitterMs = s.jitterMs;
  if (s.depthSamples !== undefined) d.depthSamples = s.depthSamples;
  if (s.bytesReceived !== undefined) d.bytesReceived = s.bytesReceived;
  if (s.sampleRate !== undefined) d.sampleRate = s.sampleRate;
  if (s.channels !== undefined) d.channels = s.channels;
  if (s.codec !== undefined) d.codec = s.codec;
}

function isU32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= U32_MAX;
}

function finiteOr(v: unknown, dflt: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : dflt;
}

/** Sets obj[key] as an own data property even for keys like "__proto__" (user ids and codes come off the wire). */
function defineEntry<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function toRecord(m: Map<string, number>): Record<string, number> {
  const r: Record<string, number> = {};
  for (const [k, v] of m) defineEntry(r, k, v);
  return r;
}

/** Bytes of one PCM frame described by a QOS head, or null when the codec is Opus / unknown. */
function pcmFrameBytes(h: QosHead): number | null {
  if (h.frameSamples === undefined || h.channels === undefined) return null;
  if (h.codec === 0) return h.frameSamples * h.channels * 2;
  if (h.codec === 1) return h.frameSamples * h.channels * 4;
  return null;
}

/**
 * Builds mixeradminSharedState. Which path each number describes (see docs/metrics.md, "This project's
 * choices"): the top-level counters, jitterMs, bufferDepthSamples, bitrateKbps and lastSeq of a connection
 * entry are the xcast's own receive side (the mixer's tracks of that user: user → xcast); latencyMs comes
 * from the QOS reports of that user as a receiver (xcast → user), rttMs from PING/PONG, and `downstream`
 * holds everything else the user reported as a receiver.
 */
export class AdminAggregator {
  private readonly thresholdMs: number;
  private readonly now: () => number;
  private readonly retainMs: number;
  private readonly qosStaleMs: number;
  private readonly outgoingTrackId: number;
  private readonly maxUsers: number;
  private readonly retainUnconfirmedMs: number;
  private readonly maxUnconfirmed: number;
  private readonly maxConns: number;
  private readonly users = new Map<string, UserRec>();
  /** Keyed by userId: users seen only in connection events. Never in the state. */
  private readonly unconfirmed = new Map<string, UnconfirmedRec>();
  private readonly conns = new Map<string, ConnRec>();
  /** The open connections of each userId (confirmed or not), so per-user questions do not walk every connection. */
  private readonly connsByUser = new Map<string, Set<ConnRec>>();
  private trackCall = 0;
  private refusedFrames = 0;
  private refusedQos = 0;
  /** Keyed by wire-supplied codes: a Map, so a code such as "__proto__" is just a key. */
  private readonly refusedByCode = new Map<string, number>();

  constructor(opts: AdminAggregatorOptions = {}) {
    this.thresholdMs = opts.connectedThresholdMs ?? 500;
    this.now = opts.now ?? Date.now;
    this.retainMs = opts.retainDisconnectedMs ?? 300_000;
    this.qosStaleMs = opts.qosStaleMs ?? 2000;
    this.outgoingTrackId = opts.outgoingTrackId ?? 1;
    this.maxUsers = opts.maxUsers ?? 1024;
    this.retainUnconfirmedMs = opts.retainUnconfirmedMs ?? 10_000;
    this.maxUnconfirmed = opts.maxUnconfirmedUsers ?? 256;
    this.maxConns = opts.maxConnections ?? 4096;
    if (!(this.thresholdMs > 0)) throw new AggregatorConfigError('connectedThresholdMs', `must be > 0, got ${this.thresholdMs}`);
    if (!(this.retainMs >= 0)) throw new AggregatorConfigError('retainDisconnectedMs', `must be ≥ 0, got ${this.retainMs}`);
    if (!(this.qosStaleMs > 0)) throw new AggregatorConfigError('qosStaleMs', `must be > 0, got ${this.qosStaleMs}`);
    if (!(this.maxUsers >= 1)) throw new AggregatorConfigError('maxUsers', `must be ≥ 1, got ${this.maxUsers}`);
    if (!(this.retainUnconfirmedMs >= 0)) throw new AggregatorConfigError('retainUnconfirmedMs', `must be ≥ 0, got ${this.retainUnconfirmedMs}`);
    if (!(this.maxUnconfirmed >= 0)) throw new AggregatorConfigError('maxUnconfirmedUsers', `must be ≥ 0, got ${this.maxUnconfirmed}`);
    if (!(this.maxConns >= 1)) throw new AggregatorConfigError('maxConnections', `must be ≥ 1, got ${this.maxConns}`);
  }

  /** The mixer's full current track list: tracks missing from it are no longer incoming (their counters are kept). */
  onTrackState(states: readonly TrackState[]): void {
    const now = this.now();
    const call = ++this.trackCall;
    for (const s of states) {
      if (typeof s?.userId !== 'string' || typeof s.trackId !== 'number') continue;
      const u = this.user(s.userId, now, 'audio');
      if (!u) continue;
      u.vouched = true;
      // The track's room when no connection event said one (a connection event's room wins).
      if (u.room === null && isRoomName(s.room)) u.room = s.room;
      const key = trackKey(s);
      let t = u.tracks.get(key);
      if (!t) {
        if (u.tracks.size >= MAX_TRACKS_PER_USER && !this.retireOldestTrack(u, call)) continue;
        const lp = typeof s.lastPacketAt === 'number' ? s.lastPacketAt : now;
        t = { state: { ...s }, lastSeq: s.lastSeq, seqMovedAt: Math.min(lp, now), present: true, listedIn: call, prevBytes: 0, meter: new BitrateMeter() };
        u.tracks.set(key, t);
      } else if (s.lastSeq !== t.lastSeq) {
        t.lastSeq = s.lastSeq;
        t.seqMovedAt = now;
      }
      if (typeof s.bytesReceived === 'number' && Number.isFinite(s.bytesReceived)) {
        // a smaller total means the mixer recreated the track: its whole total is new
        const delta = s.bytesReceived >= t.prevBytes ? s.bytesReceived - t.prevBytes : s.bytesReceived;
        if (delta > 0) t.meter.add(delta, now);
        t.prevBytes = s.bytesReceived;
      }
      // copied into the record's own object: the mixer may reuse its state objects between calls
      copyState(t.state, s);
      t.present = true;
      t.listedIn = call;
      u.lastActivityAt = now;
    }
    // Afterwards, so a user making room for a newcomer above is chosen by the previous list, not a half-read one.
    for (const u of this.users.values()) for (const t of u.tracks.values()) if (t.listedIn !== call) t.present = false;
  }

  /** Payload bytes of one incoming AUDIO frame, for the upstream bitrate when the mixer state has no byte count. */
  onIncomingAudio(userId: string, trackId: number, payloadBytes: number, connectionId?: string): void {
    const u = this.users.get(userId);
    if (!u) return;
    let t = connectionId !== undefined ? u.tracks.get(trackKey({ connectionId, trackId })) : undefined;
    if (!t) {
      // no connection given: the present record of that trackId whose seq moved last
      for (const r of u.tracks.values()) {
        if (r.state.trackId === trackId && r.present && (!t || r.seqMovedAt > t.seqMovedAt)) t = r;
      }
    }
    if (t && typeof t.state.bytesReceived !== 'number') t.meter.add(payloadBytes, this.now());
  }

  /**
   * Makes room in a user's full track table: the record not in the mixer's list for longest goes, its counters
   * folded into the user's retired totals. False when every record is a current track.
   */
  private retireOldestTrack(u: UserRec, call: number): boolean {
    let oldestKey: string | undefined;
    let oldest: TrackRec | undefined;
    for (const [k, r] of u.tracks) {
      if (r.present && r.listedIn === call) continue;
      if (r.present && r.listedIn === call - 1) continue;   // still in the previous list: a current track
      if (!oldest || r.seqMovedAt < oldest.seqMovedAt) { oldest = r; oldestKey = k; }
    }
    if (!oldest || oldestKey === undefined) return false;
    const s = oldest.state, x = u.retired;
    x.received += finiteOr(s.received, 0);
    x.lost += finiteOr(s.lost, 0);
    x.late += finiteOr(s.late, 0);
    x.duplicate += finiteOr(s.duplicate, 0);
    x.outOfOrder += finiteOr(s.outOfOrder, 0);
    x.concealed += finiteOr(s.concealedSamples, 0);
    u.tracks.delete(oldestKey);
    return true;
  }

  /**
   * QOS report(s) from receiver `userId` (the identity of the connection it came on), arrived at
   * `arrivalMicros` on the xcast's clock. Malformed reports are counted and returned, never stored.
   */
  onQos(userId: string, qos: unknown, arrivalMicros: number): QosResult {
    if (!Array.isArray(qos)) {
      // the common case, one report per AUDIO frame: no result allocation when it is accepted
      const err = this.acceptOne(userId, qos, arrivalMicros);
      if (err === null) return ACCEPTED_ONE;
      if (err === undefined) return ACCEPTED_NONE;
      this.countRefusedQos(userId, 1);
      return { accepted: 0, rejected: [err] };
    }
    if (qos.length > MAX_QOS_BATCH) {
      this.countRefusedQos(userId, 1);
      return { accepted: 0, rejected: [new QosValidationError('(root)', `batch of ${qos.length} reports exceeds ${MAX_QOS_BATCH}`)] };
    }
    let accepted = 0;
    let rejected: QosValidationError[] | undefined;
    for (const item of qos) {
      const err = this.acceptOne(userId, item, arrivalMicros);
      if (err === null) accepted++;
      else if (err) (rejected ??= []).push(err);
    }
    if (rejected) this.countRefusedQos(userId, rejected.length);
    return { accepted, rejected: rejected ?? NO_ERRORS };
  }

  /** null: accepted; undefined: valid but not kept (a bound was reached); else why it was refused. */
  private acceptOne(userId: string, item: unknown, arrivalMicros: number): QosValidationError | null | undefined {
    let q: QOSMetrics;
    try {
      q = validateQos(item);
    } catch (err) {
      if (err instanceof QosValidationError) return err;
      throw err;
    }
    return this.applyQos(userId, q, arrivalMicros) ? null : undefined;
  }

  /**
   * A connection event. It makes a user record only when `authenticated` is true; a user seen only here is kept in a
   * small side table (remote, role, times, PING figures) and joins the state when it sends audio or QOS.
   */
  onConnection(ev: ConnectionEvent): void {
    if (!ev || typeof ev !== 'object') return;
    const now = this.now();
    const at = finiteOr(ev.at, now);
    const key = `${ev.direction ?? '?'}:${String(ev.connectionId)}`;
    if (ev.event === 'open' || ev.event === 'hello') {
      let c = this.conns.get(key);
      if (!c) {
        if (this.conns.size >= this.maxConns) this.dropOldestConnection();
        c = { id: String(ev.connectionId), at, direction: ev.direction };
        this.conns.set(key, c);
      }
      if (typeof ev.userId === 'string') this.setConnUser(c, ev.userId);
      if (typeof ev.remote === 'string') c.remote = ev.remote;
      if (typeof ev.role === 'string') c.role = ev.role;
      if (isRoomName(ev.room)) c.room = ev.room;
      if (c.userId === undefined) return;
      const u = ev.authenticated === true ? this.user(c.userId, now, 'authenticated') : this.users.get(c.userId);
      if (u) {
        if (ev.authenticated === true) u.vouched = true;
        u.hadConnectionEvents = true;
        u.disconnectedAt = null;
        if (c.remote !== undefined) u.remote = c.remote;
        if (c.role !== undefined) u.role = c.role;
        if (c.room !== undefined) u.room = c.room;
        u.lastActivityAt = now;
        return;
      }
      const x = this.unconfirmedRec(c.userId, now);
      if (!x) return;
      x.disconnectedAt = null;
      x.lastSeenAt = now;
      if (c.remote !== undefined) x.remote = c.remote;
      if (c.role !== undefined) x.role = c.role;
      if (c.room !== undefined) x.room = c.room;
    } else if (ev.event === 'close') {
      const found = this.findConnection(key, ev);
      const c = found ? this.conns.get(found) : undefined;
      if (found) this.conns.delete(found);
      if (c) this.setConnUser(c, undefined);
      const userId = c?.userId ?? ev.userId;
      if (userId === undefined) return;
      const u = this.users.get(userId);
      const open = this.openConnections(userId) > 0;
      if (u) {
        u.hadConnectionEvents = true;
        u.lastActivityAt = now;
        if (!open) u.disconnectedAt = at;
        return;
      }
      const x = this.unconfirmed.get(userId);
      if (x) {
        x.lastSeenAt = now;
        if (!open) x.disconnectedAt = at;
      }
    }
  }

  /**
   * The key of the connection a close event is about: the exact (direction, id) when the open/hello carried the
   * same direction, else the one connection with that id (and that user, when the event names one).
   */
  private findConnection(key: string, ev: ConnectionEvent): string | undefined {
    if (this.conns.has(key)) return key;
    const id = String(ev.connectionId);
    for (const [k, c] of this.conns) {
      if (c.id !== id) continue;
      if (ev.direction !== undefined && c.direction !== undefined && c.direction !== ev.direction) continue;
      if (typeof ev.userId === 'string' && c.userId !== undefined && c.userId !== ev.userId) continue;
      return k;
    }
    return undefined;
  }

  /**
   * A PING/PONG result with `userId`: offsetMs is the user's clock minus the xcast's clock. A WebRTC peer's RTT (from
   * RTCP) comes without offsetMs: it sets rttMs and leaves the offset as it was.
   */
  onPong(userId: string, r: PongResult): void {
    if (!r || typeof r !== 'object' || typeof r.rttMs !== 'number' || !(r.rttMs >= 0) || !Number.isFinite(r.rttMs)) return;
    const hasOffset = r.offsetMs !== undefined;
    if (hasOffset && !Number.isFinite(r.offsetMs)) return;
    // A PONG makes no user record (any connection answers PINGs): an unknown user's goes to the side table.
    const now = this.now();
    const u = this.users.get(userId) ?? this.unconfirmedRec(userId, now);
    if (!u) return;
    if (!this.users.has(userId)) (u as UnconfirmedRec).lastSeenAt = now;
    u.rttMs = r.rttMs;
    if (hasOffset) u.offsetMs = r.offsetMs as number;
  }

  /** A frame refused by a transport (ProtocolError code), optionally attributed to a user. */
  onProtocolError(userId: string | undefined, code: string): void {
    this.refusedFrames++;
    this.countCode(typeof code === 'string' && code.length <= 64 ? code : 'other');
    if (userId !== undefined) {
      const u = this.users.get(userId);
      if (u) u.protocolErrors++;
    }
  }

  snapshot(): MixerAdminSharedState {
    const now = this.now();
    this.prune(now);
    const incoming: IncomingTrack[] = [];
    const outgoing: OutgoingTrack[] = [];
    const connections: Record<string, ConnectionEntry> = {};
    const ids = [...this.users.keys()].sort();
    for (const id of ids) {
      const u = this.users.get(id)!;
      const open = this.openConnections(id);
      const openOut = this.openConnections(id, 'outgoing');
      const x = u.retired;
      let received = x.received, lost = x.lost, late = x.late, dup = x.duplicate, ooo = x.outOfOrder, concealed = x.concealed;
      let jitter = 0, depth = 0, kbps = 0;
      let lastSeq: number | null = null, lastMoved = -Infinity, anyConnected = false, anyPresent = false;
      // One entry per trackId in incomingAudioTracks, connected when any connection's record of it is.
      const listed = new Map<number, IncomingTrack>();
      const recs = [...u.tracks.values()].sort((a, b) => a.state.trackId - b.state.trackId);
      for (const t of recs) {
        const s = t.state;
        const tid = s.trackId;
        received += finiteOr(s.received, 0);
        lost += finiteOr(s.lost, 0);
        late += finiteOr(s.late, 0);
        dup += finiteOr(s.duplicate, 0);
        ooo += finiteOr(s.outOfOrder, 0);
        concealed += finiteOr(s.concealedSamples, 0);
        if (t.seqMovedAt > lastMoved) { lastMoved = t.seqMovedAt; lastSeq = isU32(t.lastSeq) ? t.lastSeq : null; }
        if (!t.present) continue;
        anyPresent = true;
        const connected = s.connected !== false && now - t.seqMovedAt <= this.thresholdMs;
        anyConnected ||= connected;
        const entry = listed.get(tid);
        if (entry) entry.connected ||= connected;
        else { const e = { userId: id, trackId: tid, connected }; listed.set(tid, e); incoming.push(e); }
        jitter = Math.max(jitter, finiteOr(s.jitterMs, 0));
        depth += finiteOr(s.depthSamples, 0);
        kbps += this.upstreamKbps(t, now, connected);
      }
      const connected = u.hadConnectionEvents ? open > 0 : anyPresent || this.freshQos(u, now);
      const downstream = this.downstream(u, now);
      const downIds = [...u.down.keys()].sort((a, b) => a - b);
      const outIds = new Set<number>();
      for (const tid of downIds) {
        const d = u.down.get(tid)!;
        if (openOut > 0 || (!u.hadConnectionEvents && now - d.lastQosAt <= this.qosStaleMs)) outIds.add(tid);
      }
      if (openOut > 0 && outIds.size === 0) outIds.add(this.outgoingTrackId);
      for (const tid of outIds) outgoing.push({ userId: id, trackId: tid });
      defineEntry(connections, id, {
        remote: u.remote,
        role: u.role,
        ...(u.room !== null ? { room: u.room } : {}),
        connectedAt: this.connectedAt(u),
        isIncomingAudioTrackConnected: anyConnected,
        packetsReceived: received,
        packetsLost: lost,
        packetsLate: late,
        packetsDuplicate: dup,
        packetsOutOfOrder: ooo,
        concealedSamples: concealed,
        jitterMs: jitter,
        latencyMs: downstream ? downstream.latencyMs : null,
        rttMs: u.rttMs,
        bufferDepthSamples: depth,
        bitrateKbps: kbps,
        lastSeq,
        lastQOS: u.lastQOS ? { ...u.lastQOS, head: { ...u.lastQOS.head } } : null,
        connected,
        disconnectedAt: connected ? null : u.disconnectedAt,
        clockOffsetMs: u.offsetMs,
        protocolErrors: u.protocolErrors,
        downstream,
      });
    }
    let unconfirmedConns = 0;
    for (const c of this.conns.values()) if (c.userId === undefined || !this.users.has(c.userId)) unconfirmedConns++;
    return {
      at: now,
      incomingAudioTracks: incoming,
      outgoingAudioTracks: outgoing,
      connections,
      refused: { frames: this.refusedFrames, byCode: toRecord(this.refusedByCode), qos: this.refusedQos },
      unconfirmed: { users: this.unconfirmed.size, connections: unconfirmedConns },
    };
  }

  /** Sizes of the maps (each bounded by an option). */
  sizes(): AggregatorSizes {
    return { users: this.users.size, unconfirmedUsers: this.unconfirmed.size, connections: this.conns.size };
  }

  private applyQos(userId: string, q: QOSMetrics, arrivalMicros: number): boolean {
    const u = this.user(userId, this.now(), 'qos');
    if (!u) return false;
    const tid = q.head.trackId;
    let d = u.down.get(tid);
    if (!d) {
      if (u.down.size >= MAX_TRACKS_PER_USER) return false;
      d = {
        seq: new SeqTracker(), jitter: new Rfc3550Jitter(), rawLatencyMs: 0, loopMs: 0,
        bufferDepthSamples: null, misses: null, meter: new BitrateMeter(), hasBytes: false, lastQosAt: 0,
      };
      u.down.set(tid, d);
    }
    const arrivalMs = arrivalMicros / 1000;
    d.seq.push(q.head.seq);
    d.jitter.update(q.qosTimestamp, q.head.captureTime);
    d.rawLatencyMs = (q.qosTimestamp - q.head.captureTime) / 1000;
    d.loopMs = (arrivalMicros - q.head.captureTime) / 1000;
    if (q.bufferDepthSamples !== undefined) d.bufferDepthSamples = q.bufferDepthSamples;
    if (q.misses !== undefined) d.misses = q.misses;
    const bytes = q.payloadBytes ?? pcmFrameBytes(q.head);
    if (bytes !== null) { d.meter.add(bytes, arrivalMs); d.hasBytes = true; }
    d.lastQosAt = arrivalMs;
    u.lastQOS = q;
    u.lastQosTrack = tid;
    u.lastActivityAt = this.now();
    return true;
  }

  private downstream(u: UserRec, now: number): DownstreamState | null {
    const d = u.down.get(u.lastQosTrack);
    if (!d) return null;
    return {
      trackId: u.lastQosTrack,
      reportsReceived: d.seq.received,
      packetsLost: d.seq.lost,
      packetsDuplicate: d.seq.duplicate,
      packetsOutOfOrder: d.seq.outOfOrder,
      jitterMs: d.jitter.jitterMs,
      // offsetMs = receiver clock − xcast clock, so the receiver's qosTimestamp reads offsetMs too high
      latencyMs: d.rawLatencyMs - (u.offsetMs ?? 0),
      loopMs: d.loopMs,
      bufferDepthSamples: d.bufferDepthSamples,
      misses: d.misses,
      bitrateKbps: d.hasBytes ? d.meter.kbps(now) : null,
      lastQosAt: d.lastQosAt,
    };
  }

  private upstreamKbps(t: TrackRec, now: number, connected: boolean): number {
    const s = t.state;
    const measured = t.meter.kbps(now);
    if (measured > 0 || typeof s.bytesReceived === 'number') return measured;
    // PCM is constant-bitrate: its nominal rate is exact while the track flows
    if (!connected || typeof s.sampleRate !== 'number' || typeof s.channels !== 'number') return measured;
    if (s.codec === 'pcm_s16le') return (s.sampleRate * s.channels * 16) / 1000;
    if (s.codec === 'pcm_f32le') return (s.sampleRate * s.channels * 32) / 1000;
    return measured;
  }

  private freshQos(u: UserRec, now: number): boolean {
    for (const d of u.down.values()) if (now - d.lastQosAt <= this.qosStaleMs) return true;
    return false;
  }

  private connectedAt(u: UserRec): number {
    let at = Infinity;
    const cs = this.connsByUser.get(u.userId);
    if (cs) for (const c of cs) if (c.at < at) at = c.at;
    return at === Infinity ? u.firstSeenAt : at;
  }

  private openConnections(userId: string, direction?: 'incoming' | 'outgoing'): number {
    const cs = this.connsByUser.get(userId);
    if (!cs) return 0;
    if (direction === undefined) return cs.size;
    let n = 0;
    for (const c of cs) if (c.direction === direction) n++;
    return n;
  }

  /** Moves connection c to `userId`'s set (undefined: out of every set, as when it closes). */
  private setConnUser(c: ConnRec, userId: string | undefined): void {
    if (c.userId !== undefined) {
      const old = this.connsByUser.get(c.userId);
      if (old) {
        old.delete(c);
        if (old.size === 0) this.connsByUser.delete(c.userId);
      }
    }
    if (userId === undefined) return;   // c.userId stays, for the close event that names it
    c.userId = userId;
    let set = this.connsByUser.get(userId);
    if (!set) this.connsByUser.set(userId, (set = new Set()));
    set.add(c);
  }

  /** The connections map is full (close events were lost): the oldest connection of an unconfirmed user goes first. */
  private dropOldestConnection(): void {
    let victim: string | undefined;
    for (const [k, c] of this.conns) {
      if (c.userId === undefined || !this.users.has(c.userId)) { victim = k; break; }
      victim ??= k;
    }
    if (victim === undefined) return;
    const c = this.conns.get(victim)!;
    this.conns.delete(victim);
    this.setConnUser(c, undefined);
  }

  /** The user's record, made if `claim` allows one (see maxUsers); what the side table knew of it moves in. */
  private user(userId: string, now: number, claim: Claim): UserRec | undefined {
    let u = this.users.get(userId);
    if (u) return u;
    if (this.users.size >= this.maxUsers && !this.makeRoom() && claim !== 'audio') return undefined;
    u = {
      userId, firstSeenAt: now, lastActivityAt: now, remote: null, role: null, room: null, hadConnectionEvents: false,
      disconnectedAt: null, tracks: new Map(), retired: { received: 0, lost: 0, late: 0, duplicate: 0, outOfOrder: 0, concealed: 0 }, down: new Map(), rttMs: null, offsetMs: null, protocolErrors: 0,
      lastQOS: null, lastQosTrack: -1, vouched: false,
    };
    const x = this.unconfirmed.get(userId);
    if (x) {
      this.unconfirmed.delete(userId);
      u.firstSeenAt = x.firstSeenAt;
      u.remote = x.remote;
      u.role = x.role;
      u.room = x.room;
      u.rttMs = x.rttMs;
      u.offsetMs = x.offsetMs;
      u.hadConnectionEvents = true;
      u.disconnectedAt = x.disconnectedAt;
    }
    if (this.openConnections(userId) > 0) u.hadConnectionEvents = true;
    this.users.set(userId, u);
    return u;
  }

  /**
   * Drops the stalest user without a present track — one neither authenticated nor ever a sender first, then one
   * with no open connection; false when every user sends audio.
   */
  private makeRoom(): boolean {
    let best: UserRec | undefined;
    let bestRank = Infinity;
    for (const u of this.users.values()) {
      let present = false;
      for (const t of u.tracks.values()) if (t.present) { present = true; break; }
      if (present) continue;
      const rank = (u.vouched ? 2 : 0) + (this.openConnections(u.userId) > 0 ? 1 : 0);
      if (rank < bestRank || (rank === bestRank && u.lastActivityAt < best!.lastActivityAt)) {
        best = u;
        bestRank = rank;
      }
    }
    if (!best) return false;
    this.users.delete(best.userId);
    return true;
  }

  /** The side-table entry of a user seen only in connection events; undefined when the table cannot take it. */
  private unconfirmedRec(userId: string, now: number): UnconfirmedRec | undefined {
    let x = this.unconfirmed.get(userId);
    if (x) return x;
    if (this.maxUnconfirmed === 0) return undefined;
    if (this.unconfirmed.size >= this.maxUnconfirmed) {
      this.pruneUnconfirmed(now);
      if (this.unconfirmed.size >= this.maxUnconfirmed) {
        // the oldest without an open connection, else the oldest (Map order is insertion order)
        let victim: string | undefined;
        for (const [id] of this.unconfirmed) {
          if (this.openConnections(id) === 0) { victim = id; break; }
          victim ??= id;
        }
        this.unconfirmed.delete(victim!);
      }
    }
    x = { remote: null, role: null, room: null, firstSeenAt: now, lastSeenAt: now, disconnectedAt: null, rttMs: null, offsetMs: null };
    this.unconfirmed.set(userId, x);
    return x;
  }

  private pruneUnconfirmed(now: number): void {
    for (const [id, x] of this.unconfirmed) {
      if (this.openConnections(id) > 0) continue;
      if (now - x.lastSeenAt > this.retainUnconfirmedMs) this.unconfirmed.delete(id);   // lastSeenAt: its last close
    }
  }

  private prune(now: number): void {
    for (const [id, u] of this.users) {
      if (this.openConnections(id) > 0) continue;
      let present = false;
      for (const t of u.tracks.values()) present ||= t.present;
      // A receiver known only by its QOS reports (no audio, no credentials) is forgotten as soon as an unconfirmed
      // user: a churn of report-sending identities does not fill the state for five minutes.
      const retain = u.vouched ? this.retainMs : Math.min(this.retainMs, this.retainUnconfirmedMs);
      if (!present && now - u.lastActivityAt > retain) this.users.delete(id);
    }
    this.pruneUnconfirmed(now);
  }

  private countRefusedQos(userId: string, n: number): void {
    this.refusedQos += n;
    for (let i = 0; i < n; i++) this.countCode('bad_qos');
    const u = this.users.get(userId);
    if (u) u.protocolErrors += n;
  }

  private countCode(code: string): void {
    const byCode = this.refusedByCode;
    if (!byCode.has(code) && byCode.size >= MAX_ERROR_CODES) code = 'other';
    byCode.set(code, (byCode.get(code) ?? 0) + 1);
  }
}

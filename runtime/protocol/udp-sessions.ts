// streamproto1 over UDP (docs/streamproto1.md, "Transports"): the receiver's session table, framework-free and
// socket-free. One datagram is exactly one frame; sessions are keyed by source address and port; a sender HELLOs at
// start and at least every 5 s. Whoever owns the socket (the event loop today, a worker thread later) calls
// `handle(datagram, from, nowMs)` per datagram and sends `result.reply` (if any) back to `from`.
//
// Reused, not rewritten: the frame header checks (FrameParser), the AUDIO and HELLO validation (frame.ts), the
// credentials check (auth.ts credentialRefusal, the same as the TCP StreamServer's) and the limits (limits.ts).

import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import {
  FrameType, PROTOCOL_NAME, ProtocolError, decodeAudioPayload, decodeErrorPayload, decodeJsonPayload, decodePing,
  decodePong, encodeErrorFrame, encodeJsonFrame, encodePing, encodePong, frameTypeName, validateClientHello,
  validateServerHello,
  type AudioHeader, type ClientHello, type ErrorPayload, type JsonObject, type PeerRole, type ServerHello,
} from './frame';
import type { PongInfo, StreamClientHello } from './transport';
import { FrameParser } from './parser';
import { AddressCounts, AuthSlowdown, UsersList, addressKey, credentialRefusal, tokenDigest } from './auth';
import {
  AUTH_FAILURE_WINDOW_MS, AUTH_SLOWDOWN_MAX_MS, AUTH_SLOWDOWN_MIN_MS, AUTH_SLOWDOWN_TABLE_SIZE, checkServerLimits,
  type ServerLimits,
} from './limits';

/** A HELLO refreshes a UDP session; the spec has senders send one at least this often. */
export const UDP_HELLO_INTERVAL_MS = 5000;
/** A session that receives nothing for this long ends (three missed HELLO refreshes). */
export const DEFAULT_UDP_IDLE_TIMEOUT_MS = 15_000;
/** The largest UDP payload over IPv4 (65535 − 8 − 20): no frame can be longer. */
export const MAX_UDP_DATAGRAM_BYTES = 65_507;

export interface UdpFrom {
  address: string;
  port: number;
}

/**
 * Why a datagram was dropped (each counted in `stats.drops`): the frame-level ProtocolError codes ('bad_magic',
 * 'bad_version', 'unknown_type', 'frame_too_large', 'bad_audio', 'bad_opus_frame', 'bad_json', 'bad_hello',
 * 'protocol'), 'truncated' (the datagram ends inside the frame), 'trailing' (bytes after the one frame),
 * 'unauthorized' (HELLO with a missing or wrong token), 'auth_slowdown' (a HELLO from an address with recent failures,
 * sooner than its hold allows: unanswered and unchecked), 'no_session' (anything but HELLO from an address without an
 * accepted HELLO), 'tracks_per_connection', 'metadata_size', 'metadata_rate', 'unexpected_type' (a frame type only a receiver sends, e.g. a HELLO-ack).
 */
export type UdpDropReason = string;

/** Why a session ended ('close' event). */
export type UdpCloseReason = 'idle_timeout' | 'evicted' | 'replaced' | 'unauthorized' | 'error-frame' | 'closed';

/**
 * Sources of datagrams by key ("address:port"), kept in activity order: `touch` moves one to the end, so the head is
 * the most idle — `idle()` finds the expired in O(expired), and the head is what a full table evicts. Shared by the
 * streamproto1 session table and the seed 002 ingest.
 */
export class ActivityMap<S extends { readonly key: string; lastRxMs: number }> {
  private readonly map = new Map<string, S>();

  get size(): number {
    return this.map.size;
  }

  get(key: string): S | undefined {
    return this.map.get(key);
  }

  /** Most idle first. */
  values(): IterableIterator<S> {
    return this.map.values();
  }

  /** The most idle one, if any. */
  oldest(): S | undefined {
    return this.map.values().next().value as S | undefined;
  }

  add(s: S): void {
    this.map.delete(s.key);
    this.map.set(s.key, s);
  }

  touch(s: S, nowMs: number): void {
    s.lastRxMs = nowMs;
    this.map.delete(s.key);
    this.map.set(s.key, s);
  }

  /** Removes `s` if it is the one held under its key; true when it was. */
  delete(s: S): boolean {
    if (this.map.get(s.key) !== s) return false;
    this.map.delete(s.key);
    return true;
  }

  /** The entries idle for `idleMs` or more at `nowMs`, most idle first (a new array; empty when none). */
  idle(nowMs: number, idleMs: number): S[] {
    const out: S[] = [];
    if (idleMs <= 0) return out;
    for (const x of this.map.values()) {
      if (nowMs - x.lastRxMs < idleMs) break;     // activity order: the rest are fresher
      out.push(x);
    }
    return out;
  }
}

/**
 * One UDP sender. The fields a connection event needs have the TCP StreamConnection's names (connectionId is `id`,
 * `remote` is "address:port", IPv6 in brackets), so the mixer, aggregator and event stream take UDP peers unchanged.
 */
export class UdpSession {
  /** The connectionId (also the sessionId sent in the HELLO-ack). */
  readonly id: string = randomUUID();
  readonly remote: string;
  readonly secure = false;
  readonly transport = 'udp' as const;
  hello: ClientHello;
  /** The HELLO passed a token or users-list check. */
  authenticated: boolean;
  /** nowMs of the latest datagram accepted from this address (any type). */
  lastRxMs: number;
  /** nowMs of the latest accepted HELLO. */
  lastHelloMs: number;
  readonly openedMs: number;
  framesIn = 0;
  bytesIn = 0;
  audioFrames = 0;
  /** @internal distinct trackIds seen (bounded by maxTracksPerConnection). */
  readonly tracks = new Set<number>();
  /** @internal the table's key. */
  readonly key: string;
  /** @internal METADATA token bucket (limits.metadataPerSecond, burst twice it), as on TCP. */
  metaTokens = 0;
  metaRefillMs = 0;

  constructor(readonly address: string, readonly port: number, key: string, hello: ClientHello, authenticated: boolean, nowMs: number) {
    this.key = key;
    this.remote = `${address.includes(':') ? `[${address}]` : address}:${port}`;
    this.hello = hello;
    this.authenticated = authenticated;
    this.lastRxMs = nowMs;
    this.lastHelloMs = nowMs;
    this.openedMs = nowMs;
    this.metaRefillMs = nowMs;
  }

  get connectionId(): string {
    return this.id;
  }

  get userId(): string {
    return this.hello.userId;
  }

  get role(): PeerRole {
    return this.hello.role;
  }
}

/**
 * What one datagram did. The same object is reused for every call of `handle()` (the hot path allocates no result):
 * read it before the next call. `reply`, when set, is a fresh Buffer to send to the datagram's source (never reused
 * after it is returned).
 */
export interface UdpResult {
  kind: 'audio' | 'hello' | 'metadata' | 'qos' | 'ping' | 'pong' | 'error-frame' | 'drop';
  /** The sender's session (undefined for a drop from an address without one, and for a refused HELLO). */
  session: UdpSession | undefined;
  /** kind 'audio': the validated header, and its data — a subarray of the datagram (no copy). */
  header: AudioHeader | undefined;
  data: Buffer | undefined;
  /** kind 'metadata' (an object), 'qos' (an object or a batch), 'error-frame' ({ code, message }). */
  json: JsonObject | JsonObject[] | undefined;
  /** kind 'pong': the answer to a PING the receiver sent (t0 ours, t1 and t2 the sender's; t3 is when it came). */
  pong: PongInfo | undefined;
  /** kind 'hello': true when this HELLO opened the session (false: a refresh). */
  opened: boolean;
  /** kind 'drop': why (counted in stats.drops), and a message for a log line (wire values through wireText). */
  reason: UdpDropReason | undefined;
  message: string | undefined;
  /** A frame to send back to `from`: the HELLO-ack, a PONG, or ERROR unauthorized. */
  reply: Buffer | undefined;
}

export interface UdpSessionTableOptions {
  /** When set, a HELLO carrying this token is accepted (whatever its userId). */
  token?: string;
  /** Per-user tokens (auth.ts UsersList), as on TCP. */
  users?: UsersList;
  /**
   * ServerLimits fields that apply to UDP: maxConnections (the table bound; when full, the least recently active
   * session is evicted for a new HELLO), maxConnectionsPerAddress (sessions of one IP, any port: a new HELLO over it is
   * answered with ERROR too_many_connections, as on TCP, so one host cannot evict everyone else), maxTracksPerConnection,
   * maxMetadataBytes, metadataPerSecond and authFailuresBeforeSlowdown. The others are accepted and unused.
   */
  limits?: Partial<ServerLimits>;
  /** Largest payload N accepted (default and most MAX_UDP_DATAGRAM_BYTES − 8). */
  maxFrameBytes?: number;
  /** A session with nothing received for this long ends (default 15000; 0 = never). */
  idleTimeoutMs?: number;
  /** µs since the Unix epoch, for the HELLO-ack's serverTime and PONG's t1/t2 (default Date.now() × 1000). */
  clock?: () => number;
  /** Our HELLO-ack's optional `name`. */
  serverName?: string;
}

export interface UdpSessionTableEvents {
  /** A HELLO opened a session (like a TCP 'connection'). */
  open: [session: UdpSession];
  /** A session ended (like a TCP 'disconnect'): its tracks leave the mix. */
  close: [session: UdpSession, reason: UdpCloseReason];
}

export interface UdpStats {
  datagrams: number;
  audioFrames: number;
  /** Dropped datagrams by reason. */
  drops: Record<string, number>;
  dropped: number;
  /** Sessions ended by reason. */
  ended: Record<string, number>;
  opened: number;
}

/** A datagram that must hold exactly one streamproto1 frame: FrameParser's checks, one bound callback, no closure per datagram. */
class DatagramFrame {
  type = 0;
  payload: Buffer = Buffer.alloc(0);
  private count = 0;
  private readonly parser: FrameParser;
  private readonly onFrame = (type: number, payload: Buffer): void => {
    this.count++;
    this.type = type;
    this.payload = payload;
  };

  constructor(maxFrameBytes: number) {
    this.parser = new FrameParser(maxFrameBytes);
  }

  /** null when `datagram` is exactly one frame (then `type` and `payload` are its), else why not (the drop's reason). */
  read(datagram: Buffer): { reason: string; message: string } | null {
    this.count = 0;
    try {
      this.parser.push(datagram, this.onFrame);
    } catch (err) {
      this.parser.reset();
      return { reason: err instanceof ProtocolError ? err.code : 'protocol', message: (err as Error).message };
    }
    if (this.count === 1 && this.parser.idle) return null;
    const truncated = this.count === 0;
    this.parser.reset();
    return truncated
      ? { reason: 'truncated', message: `datagram of ${datagram.length} bytes ends inside its frame` }
      : { reason: 'trailing', message: `datagram of ${datagram.length} bytes holds more than one frame` };
  }
}

/** The receiver side of streamproto1 over UDP: sessions by source address:port. Listeners must not throw. */
export class UdpSessionTable extends EventEmitter<UdpSessionTableEvents> {
  readonly limits: Readonly<ServerLimits>;
  readonly maxFrameBytes: number;
  readonly idleTimeoutMs: number;
  readonly stats: UdpStats = { datagrams: 0, audioFrames: 0, drops: {}, dropped: 0, ended: {}, opened: 0 };
  /** Open sessions per remote IP (maxConnectionsPerAddress). */
  private readonly perAddress = new AddressCounts();
  /** Insertion order = activity order: a session is moved to the end on every datagram, so the head is the most idle. */
  private readonly sessions = new ActivityMap<UdpSession>();
  private readonly frame: DatagramFrame;
  private readonly singleDigest: Buffer | undefined;
  private readonly users: UsersList | undefined;
  private readonly clock: () => number;
  private readonly serverName: string | undefined;
  /** Failed HELLOs per address (auth.ts AuthSlowdown, on this table's nowMs). */
  private readonly slowdown: AuthSlowdown;
  /** nowMs of the last HELLO checked, per slowed-down address key (bounded like the slow-down's table). */
  private readonly lastChecked = new Map<string, number>();
  private nowMs = 0;
  private readonly result: UdpResult = {
    kind: 'drop', session: undefined, header: undefined, data: undefined, json: undefined, pong: undefined, opened: false,
    reason: undefined, message: undefined, reply: undefined,
  };

  /** Throws an Error naming the option for a bad value. */
  constructor(opts: UdpSessionTableOptions = {}) {
    super();
    this.limits = Object.freeze(checkServerLimits(opts.limits));
    if (opts.users !== undefined && !(opts.users instanceof UsersList)) throw new Error('users: must be a UsersList (UsersList.parse or UsersList.fromFile)');
    if (opts.token !== undefined && (typeof opts.token !== 'string' || opts.token === '')) throw new Error('token: must be a non-empty string');
    const maxN = MAX_UDP_DATAGRAM_BYTES - 8;
    const m = opts.maxFrameBytes ?? maxN;
    if (!(Number.isInteger(m) && m >= 0)) throw new Error(`maxFrameBytes: must be an integer ≥ 0, got ${String(m)}`);
    this.maxFrameBytes = Math.min(m, maxN);
    const idle = opts.idleTimeoutMs ?? DEFAULT_UDP_IDLE_TIMEOUT_MS;
    if (!(typeof idle === 'number' && Number.isFinite(idle) && idle >= 0)) throw new Error(`idleTimeoutMs: must be a number ≥ 0, got ${String(idle)}`);
    this.idleTimeoutMs = idle;
    this.frame = new DatagramFrame(this.maxFrameBytes);
    this.singleDigest = opts.token !== undefined ? tokenDigest(opts.token) : undefined;
    this.users = opts.users;
    this.clock = opts.clock ?? (() => Date.now() * 1000);
    this.serverName = opts.serverName;
    this.slowdown = new AuthSlowdown({
      failuresBeforeSlowdown: this.limits.authFailuresBeforeSlowdown, windowMs: AUTH_FAILURE_WINDOW_MS,
      minDelayMs: AUTH_SLOWDOWN_MIN_MS, maxDelayMs: AUTH_SLOWDOWN_MAX_MS, tableSize: AUTH_SLOWDOWN_TABLE_SIZE,
      now: () => this.nowMs,
    });
  }

  /** Open sessions. */
  get size(): number {
    return this.sessions.size;
  }

  /** The session of a source, if it has one. */
  get(from: UdpFrom): UdpSession | undefined {
    return this.sessions.get(keyOf(from));
  }

  /** The open sessions, most idle first. */
  list(): UdpSession[] {
    return [...this.sessions.values()];
  }

  /**
   * Handles one datagram from `from` at `nowMs` (ms, any monotonic origin; only differences are used). Ends idle
   * sessions first. Never throws for what the datagram holds: a bad one is a 'drop' (counted), never a close.
   */
  handle(datagram: Buffer, from: UdpFrom, nowMs: number): UdpResult {
    this.nowMs = nowMs;
    this.sweep(nowMs);
    this.stats.datagrams++;
    const r = this.result;
    r.session = undefined; r.header = undefined; r.data = undefined; r.json = undefined; r.pong = undefined;
    r.opened = false; r.reason = undefined; r.message = undefined; r.reply = undefined;

    // Exactly one frame: FrameParser checks magic, version, type and N ≤ maxFrameBytes; the datagram must end with it.
    const bad = this.frame.read(datagram);
    if (bad !== null) return this.drop(bad.reason, bad.message);
    const type = this.frame.type;
    const payload = this.frame.payload;
    const key = keyOf(from);
    const session = this.sessions.get(key);

    if (type === FrameType.HELLO) return this.onHello(payload, from, key, session, nowMs, datagram.length);
    if (session === undefined) return this.drop('no_session', `${frameTypeName(type)} from ${from.address}:${from.port}, which has no accepted HELLO`);
    r.session = session;
    try {
      switch (type) {
        case FrameType.AUDIO: {
          const { header, data } = decodeAudioPayload(payload);
          if (!session.tracks.has(header.trackId)) {
            if (session.tracks.size >= this.limits.maxTracksPerConnection) {
              return this.drop('tracks_per_connection', `AUDIO track ${header.trackId}: this sender already has ${session.tracks.size} tracks`);
            }
            session.tracks.add(header.trackId);
          }
          this.touch(session, nowMs, datagram.length);
          session.audioFrames++;
          this.stats.audioFrames++;
          r.kind = 'audio'; r.header = header; r.data = data;
          return r;
        }
        case FrameType.METADATA: {
          const l = this.limits;
          if (payload.length > l.maxMetadataBytes) {
            return this.drop('metadata_size', `METADATA of ${payload.length} bytes, more than ${l.maxMetadataBytes}`);
          }
          session.metaTokens = Math.min(2 * l.metadataPerSecond, session.metaTokens + ((nowMs - session.metaRefillMs) / 1000) * l.metadataPerSecond);
          session.metaRefillMs = nowMs;
          if (session.metaTokens < 1) return this.drop('metadata_rate', `METADATA more often than ${l.metadataPerSecond} a second`);
          session.metaTokens -= 1;
          r.json = decodeJsonPayload(payload, FrameType.METADATA);
          this.touch(session, nowMs, datagram.length);
          r.kind = 'metadata';
          return r;
        }
        case FrameType.QOS: {
          r.json = decodeJsonPayload(payload, FrameType.QOS);
          this.touch(session, nowMs, datagram.length);
          r.kind = 'qos';
          return r;
        }
        case FrameType.PING: {
          const t0 = decodePing(payload);
          this.touch(session, nowMs, datagram.length);
          const t1 = this.clock();
          r.kind = 'ping';
          r.reply = encodePong(t0, t1, this.clock());
          return r;
        }
        case FrameType.PONG: {
          // The answer to the receiver's own PING (a server-side link pings its senders, as on TCP).
          const t3 = this.clock();
          const p = decodePong(payload);
          this.touch(session, nowMs, datagram.length);
          const rttMs = Math.max(0, (t3 - p.t0) - (p.t2 - p.t1)) / 1000;
          const offsetMs = ((p.t1 - p.t0) + (p.t2 - t3)) / 2 / 1000;
          r.kind = 'pong';
          r.pong = { rttMs, offsetMs, t0: p.t0, t1: p.t1, t2: p.t2, t3 };
          return r;
        }
        case FrameType.ERROR: {
          // The sender says it stops (on TCP it then closes): the session ends.
          r.json = decodeErrorPayload(payload) as unknown as JsonObject;
          r.kind = 'error-frame';
          this.end(session, 'error-frame');
          return r;
        }
        default:
          return this.drop('unexpected_type', `${frameTypeName(type)} is not sent to a receiver`);
      }
    } catch (err) {
      if (err instanceof ProtocolError) return this.drop(err.code, err.message);
      throw err;
    }
  }

  /**
   * Ends every session idle for idleTimeoutMs at `nowMs` ('close' with 'idle_timeout'); returns how many. `handle()`
   * calls it; the socket's owner also calls it on a timer, so a silent table still ends its sessions.
   */
  sweep(nowMs: number): number {
    if (this.idleTimeoutMs <= 0 || this.sessions.size === 0) return 0;
    const oldest = this.sessions.oldest() as UdpSession;
    if (nowMs - oldest.lastRxMs < this.idleTimeoutMs) return 0;    // the common case: nothing to do, nothing allocated
    const ended = this.sessions.idle(nowMs, this.idleTimeoutMs);
    for (const s of ended) this.end(s, 'idle_timeout');
    return ended.length;
  }

  /** Ends one session (e.g. the node closing): 'close' with `reason`. */
  close(session: UdpSession, reason: UdpCloseReason = 'closed'): void {
    this.end(session, reason);
  }

  /** Ends every session ('close' with 'closed'). */
  closeAll(): void {
    for (const s of [...this.sessions.values()]) this.end(s, 'closed');
  }

  private onHello(payload: Buffer, from: UdpFrom, key: string, session: UdpSession | undefined, nowMs: number, bytes: number): UdpResult {
    const r = this.result;
    let hello: ClientHello;
    try {
      const obj = decodeJsonPayload(payload, FrameType.HELLO) as JsonObject;
      hello = validateClientHello(obj);
    } catch (err) {
      if (err instanceof ProtocolError) return this.drop('bad_hello', err.message);
      throw err;
    }
    const credentials = this.singleDigest !== undefined || this.users !== undefined;
    if (credentials) {
      const ip = addressKey(from.address);
      // The slow-down (TCP holds such a HELLO; a datagram cannot be held): an address past its failures has one HELLO
      // checked per hold, the rest dropped unanswered. A session's own refresh (same userId and role from its address and
      // port) is not held — it is still checked — so failures of others at the same IP never stall a working sender.
      const refresh = session !== undefined && session.hello.userId === hello.userId && session.hello.role === hello.role;
      const hold = refresh ? 0 : this.slowdown.delayMs(ip);
      if (hold > 0) {
        const last = this.lastChecked.get(ip);
        if (last !== undefined && nowMs - last < hold) return this.drop('auth_slowdown', `HELLO from ${from.address} held: recent failed HELLOs`);
        this.lastChecked.delete(ip);
        this.lastChecked.set(ip, nowMs);
        if (this.lastChecked.size > AUTH_SLOWDOWN_TABLE_SIZE) this.lastChecked.delete(this.lastChecked.keys().next().value as string);
      }
      const refusal = credentialRefusal(hello, this.singleDigest, this.users);
      if (refusal === undefined) {
        this.slowdown.succeeded(ip);
        this.lastChecked.delete(ip);
      } else {
        this.slowdown.failed(ip);
        // A refused HELLO ends a session the address had: it no longer proves who it is.
        if (session !== undefined) this.end(session, 'unauthorized');
        this.drop('unauthorized', refusal);
        r.reply = encodeErrorFrame('unauthorized', refusal);
        return r;
      }
    }
    if (session !== undefined && (session.hello.userId !== hello.userId || session.hello.role !== hello.role)) {
      // Another identity from the same address and port: a new session (the old one's tracks leave).
      this.end(session, 'replaced');
      session = undefined;
    }
    r.kind = 'hello';
    if (session === undefined) {
      if (this.perAddress.of(from.address) >= this.limits.maxConnectionsPerAddress) {
        // Short (no larger than the HELLO plus ~30 bytes: it amplifies nothing), and the same code as on TCP.
        const why = `over limits.maxConnectionsPerAddress (${this.limits.maxConnectionsPerAddress})`;
        this.drop('too_many_connections', why);
        r.reply = encodeErrorFrame('too_many_connections', why);
        return r;
      }
      if (this.sessions.size >= this.limits.maxConnections) {
        this.end(this.sessions.oldest() as UdpSession, 'evicted');
      }
      session = new UdpSession(from.address, from.port, key, hello, credentials, nowMs);
      this.perAddress.add(from.address);
      session.metaTokens = 2 * this.limits.metadataPerSecond;
      this.sessions.add(session);
      this.stats.opened++;
      r.opened = true;
      this.touch(session, nowMs, bytes);
      r.session = session;
      r.reply = this.ack(session);
      this.emit('open', session);
      return r;
    }
    session.hello = hello;
    session.authenticated = credentials;
    session.lastHelloMs = nowMs;
    this.touch(session, nowMs, bytes);
    r.session = session;
    r.reply = this.ack(session);
    return r;
  }


  private ack(session: UdpSession): Buffer {
    const hello: ServerHello = { protocol: PROTOCOL_NAME, sessionId: session.id, serverTime: Math.floor(this.clock()) };
    if (this.serverName !== undefined) hello.name = this.serverName;
    return encodeJsonFrame(FrameType.HELLO, hello);
  }

  private touch(session: UdpSession, nowMs: number, bytes: number): void {
    session.framesIn++;
    session.bytesIn += bytes;
    this.sessions.touch(session, nowMs);
  }

  private end(session: UdpSession, reason: UdpCloseReason): void {
    if (!this.sessions.delete(session)) return;
    this.perAddress.remove(session.address);
    this.stats.ended[reason] = (this.stats.ended[reason] ?? 0) + 1;
    this.emit('close', session, reason);
  }

  private drop(reason: UdpDropReason, message: string): UdpResult {
    const r = this.result;
    r.kind = 'drop';
    r.reason = reason;
    r.message = message;
    this.stats.dropped++;
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
    return r;
  }
}

function keyOf(from: UdpFrom): string {
  return `${from.address}:${from.port}`;
}


// ---- the sender's side ----

/** A sender refreshes its HELLO this often by default: well inside the spec's 5 s, so one lost HELLO costs nothing. */
export const DEFAULT_UDP_CLIENT_HELLO_INTERVAL_MS = 2000;

export interface UdpClientOptions {
  hello: StreamClientHello;
  /** HELLO refresh period, 100 … 5000 ms (the spec's "at least every 5 s"); default 2000. */
  helloIntervalMs?: number;
  /** µs since the Unix epoch, for PING t0 and PONG times (default Date.now() × 1000). */
  clock?: () => number;
}

/** What one datagram from the receiver did (the same object for every call; read it before the next). */
export interface UdpClientResult {
  kind: 'hello-ack' | 'error-frame' | 'audio' | 'qos' | 'metadata' | 'pong' | 'ping' | 'drop';
  /** kind 'audio' (a receiver that is sent the mix, e.g. a monitor): the validated header, and its data — a subarray of the datagram (no copy). */
  header: AudioHeader | undefined;
  data: Buffer | undefined;
  /** kind 'hello-ack': the receiver's HELLO. */
  hello: ServerHello | undefined;
  /** kind 'error-frame' (code, message), 'qos' (an object or a batch), 'metadata'. */
  json: JsonObject | JsonObject[] | undefined;
  /** kind 'pong'. */
  pong: PongInfo | undefined;
  /** kind 'drop': why, and a message. */
  reason: string | undefined;
  message: string | undefined;
  /** A frame to send back (PONG to a PING). */
  reply: Buffer | undefined;
}

/**
 * The sender side of streamproto1 over UDP, socket-free: `poll(nowMs)` says when a HELLO is due (at once, then every
 * helloIntervalMs — the refreshes that keep the receiver's session), `handle(datagram)` reads what the receiver sent
 * back (HELLO-ack, ERROR, QOS, PONG, PING, and AUDIO to a receiver of the mix). AUDIO frames are `encodeAudioFrame`s sent as they are (one per datagram).
 */
export class UdpClientSession {
  readonly helloIntervalMs: number;
  /** From the latest HELLO-ack; undefined until one arrives. */
  sessionId: string | undefined;
  serverHello: ServerHello | undefined;
  /** The receiver's ERROR (e.g. unauthorized), until a HELLO-ack comes. */
  refused: ErrorPayload | undefined;
  rttMs: number | undefined;
  clockOffsetMs: number | undefined;
  helloesSent = 0;
  private readonly helloFrame: Buffer;
  private readonly clock: () => number;
  private nextHelloMs = -Infinity;
  private readonly frame = new DatagramFrame(MAX_UDP_DATAGRAM_BYTES - 8);
  private readonly result: UdpClientResult = { kind: 'drop', header: undefined, data: undefined, hello: undefined, json: undefined, pong: undefined, reason: undefined, message: undefined, reply: undefined };

  /** Throws for a bad option, naming it (the HELLO is checked as the receiver will: validateClientHello). */
  constructor(opts: UdpClientOptions) {
    const ms = opts.helloIntervalMs ?? DEFAULT_UDP_CLIENT_HELLO_INTERVAL_MS;
    if (!(typeof ms === 'number' && ms >= 100 && ms <= UDP_HELLO_INTERVAL_MS)) throw new Error(`helloIntervalMs: must be 100 … ${UDP_HELLO_INTERVAL_MS}, got ${String(ms)}`);
    this.helloIntervalMs = ms;
    const h = opts.hello;
    const hello: ClientHello = { protocol: PROTOCOL_NAME, userId: h?.userId, role: h?.role };
    if (h?.name !== undefined) hello.name = h.name;
    if (h?.token !== undefined) hello.token = h.token;
    if (h?.capabilities !== undefined) hello.capabilities = h.capabilities;
    if (h?.profile !== undefined) hello.profile = h.profile;
    try {
      validateClientHello(hello);
    } catch (err) {
      throw new Error(`hello: ${(err as Error).message}`);
    }
    // Encoded once; the same bytes go out on every refresh (never changed after the first send).
    this.helloFrame = encodeJsonFrame(FrameType.HELLO, hello);
    this.clock = opts.clock ?? (() => Date.now() * 1000);
  }

  /** The HELLO frame when one is due at `nowMs` (ms, monotonic), else undefined. */
  poll(nowMs: number): Buffer | undefined {
    if (nowMs < this.nextHelloMs) return undefined;
    this.nextHelloMs = nowMs + this.helloIntervalMs;
    this.helloesSent++;
    return this.helloFrame;
  }

  /** Makes the next poll() return the HELLO whatever the schedule (a retry before the first HELLO-ack). */
  helloDueNow(): void {
    this.nextHelloMs = -Infinity;
  }

  /** A PING frame carrying this side's clock. */
  ping(): Buffer {
    return encodePing(this.clock());
  }

  /** Reads one datagram from the receiver; never throws for what it holds. */
  handle(datagram: Buffer): UdpClientResult {
    const r = this.result;
    r.header = undefined; r.data = undefined;
    r.hello = undefined; r.json = undefined; r.pong = undefined; r.reason = undefined; r.message = undefined; r.reply = undefined;
    const bad = this.frame.read(datagram);
    if (bad !== null) return this.drop(bad.reason, bad.message);
    const payload = this.frame.payload;
    try {
      switch (this.frame.type) {
        case FrameType.HELLO: {
          const hello = validateServerHello(decodeJsonPayload(payload, FrameType.HELLO) as JsonObject);
          this.serverHello = hello;
          this.sessionId = hello.sessionId;
          this.refused = undefined;
          r.kind = 'hello-ack'; r.hello = hello;
          return r;
        }
        case FrameType.ERROR: {
          const e = decodeErrorPayload(payload);
          this.refused = e;
          r.kind = 'error-frame'; r.json = e as unknown as JsonObject;
          return r;
        }
        case FrameType.AUDIO: {
          const { header, data } = decodeAudioPayload(payload);
          r.kind = 'audio'; r.header = header; r.data = data;
          return r;
        }
        case FrameType.QOS:
          r.json = decodeJsonPayload(payload, FrameType.QOS);
          r.kind = 'qos';
          return r;
        case FrameType.METADATA:
          r.json = decodeJsonPayload(payload, FrameType.METADATA);
          r.kind = 'metadata';
          return r;
        case FrameType.PONG: {
          const t3 = this.clock();
          const p = decodePong(payload);
          // NTP-style, as on TCP: the remote's processing time (t2 − t1) is not part of the round trip.
          const rttMs = Math.max(0, (t3 - p.t0) - (p.t2 - p.t1)) / 1000;
          const offsetMs = ((p.t1 - p.t0) + (p.t2 - t3)) / 2 / 1000;
          this.rttMs = rttMs;
          this.clockOffsetMs = offsetMs;
          r.kind = 'pong'; r.pong = { rttMs, offsetMs, t0: p.t0, t1: p.t1, t2: p.t2, t3 };
          return r;
        }
        case FrameType.PING: {
          const t0 = decodePing(payload);
          const t1 = this.clock();
          r.kind = 'ping'; r.reply = encodePong(t0, t1, this.clock());
          return r;
        }
        default:
          return this.drop('unexpected_type', `${frameTypeName(this.frame.type)} is not sent to a sender`);
      }
    } catch (err) {
      if (err instanceof ProtocolError) return this.drop(err.code, err.message);
      throw err;
    }
  }


  private drop(reason: string, message: string): UdpClientResult {
    const r = this.result;
    r.kind = 'drop'; r.reason = reason; r.message = message;
    return r;
  }
}

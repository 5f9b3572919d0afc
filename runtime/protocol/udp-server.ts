// streamproto1 over UDP, the receiving end: a UdpStreamServer whose socket and session table live on a worker thread
// (udp-worker.ts), and one UdpLink per session on the main side with a StreamConnection's surface (link.ts).
//
// Why a thread: on TCP every packet is socket work on the event loop — a read, a parse, an event, a message — the
// bound on how many peers one xcast takes (docs/performance.md). Here the worker reads every datagram, answers
// HELLO/PING itself and, with a ring attached (attachRing: a MixEngine's, via the mixer node), writes AUDIO straight
// into the mix thread's shared memory: the event loop never touches an audio packet. Without a ring the worker posts
// audio in batches (one ArrayBuffer of many records per turn of its loop) and each UdpLink emits 'audio' as a
// StreamConnection does, so a reader wired to anything still works. Sessions opening and ending, METADATA, QOS,
// PONG and ERROR come as small messages; frames the main side sends (QOS, METADATA, a socket writer's mix) are
// gathered per event-loop turn into one message to the worker, which sends them.
//
// A worker that dies is an 'error' and is started again on the same port (its sessions end: 'close' on each link,
// and the senders' next HELLO — every 2 s by default — opens new ones).
import path from 'node:path';
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import {
  FRAME_HEADER_BYTES, AUDIO_HEADER_BYTES, FrameType, decodeAudioPayload, encodeAudioFrame, encodeJsonFrame, encodePing,
  type AudioHeader, type ClientHello, type JsonObject, type PeerRole, type QOSMetrics,
} from './frame';
import type { ConnectionCounters, PongInfo, StreamConnectionEvents } from './transport';
import type { StreamLink } from './link';
import { UsersList, type UserDigest } from './auth';
import { checkServerLimits, type ServerLimits } from './limits';
import { DEFAULT_UDP_IDLE_TIMEOUT_MS, MAX_UDP_DATAGRAM_BYTES, type UdpStats } from './udp-sessions';
import type { PacketRingShared } from '../audio/packet-ring';
import { nowMicros } from '../clock';

export interface UdpStreamServerOptions {
  /** Bind address (default 127.0.0.1); an IP literal or a name. */
  host?: string;
  /** UDP port (0 = any free port; listen() says which). */
  port?: number;
  /** When set, a HELLO carrying this token is accepted (whatever its userId). */
  token?: string;
  /** Per-user tokens, as on TCP. */
  users?: UsersList;
  /** The ServerLimits fields that apply to UDP (udp-sessions.ts UdpSessionTableOptions.limits). */
  limits?: Partial<ServerLimits>;
  /** Largest payload N accepted (default and most 65499). */
  maxFrameBytes?: number;
  /** A session with nothing received for this long ends (default 15000; 0 = never). */
  idleTimeoutMs?: number;
  /** `name` in the HELLO-ack. */
  serverName?: string;
  /** µs since the Unix epoch, for PING t0 sent from the main side (default nowMicros). */
  clock?: () => number;
  /** PING every session this often (default 1000, as the TCP server; 0 = off): 'pong' on each link. */
  pingIntervalMs?: number;
  /** How often the worker posts its stats (default 250 ms when they changed; at least once a second). */
  statsIntervalMs?: number;
  /** The socket's receive buffer (SO_RCVBUF); default 4 MiB where the system allows. */
  recvBufferBytes?: number;
  sendBufferBytes?: number;
}

/** UdpSessionTable's stats, the sessions open and the worker's own counters. */
export interface UdpServerStats extends UdpStats {
  sessions: number;
  /** Audio batches and event messages the worker posted to the main side. */
  batches: number;
  eventMessages: number;
  /** AUDIO records posted to the main side (no ring attached). */
  audioPosted: number;
  /** AUDIO written into the ring, refused by the playout checks (told to the track), dropped with the ring full. */
  ringWritten: number;
  ringRefused: number;
  ringFull: number;
  ringDropped: number;
  /** Datagrams the worker sent (replies, and frames from the main side), and send errors. */
  sent: number;
  sendErrors: number;
  /** Worker threads started again after dying. */
  restarts: number;
  /** ms the thread's loop was busy (its event-loop utilisation's active time): busyMs / datagrams is its cost per datagram. */
  busyMs: number;
  /** CPU time the thread used (ms, Linux; -1 where unknown): cpuMs / datagrams is what a datagram costs it. */
  cpuMs: number;
}

export interface UdpStreamServerEvents {
  /** A HELLO opened a session. */
  connection: [link: UdpLink];
  listening: [address: { host: string; port: number }];
  /** The worker failed (or died and is being started again). */
  error: [err: Error];
  /** A session ended (its link emitted 'close'). */
  disconnect: [link: UdpLink, reason: string];
  /** A HELLO was refused (a missing or wrong token): told at most 20 a second, every one counted in stats.drops. */
  refused: [info: { code: string; remote: string; message: string }];
  /** The ring path refused a session's AUDIO (a rate or format the mix cannot play): once per session and reason; counted on its track. */
  audioRefused: [link: UdpLink, message: string];
}

// ---- the messages between the two sides (udp-worker.ts) ----

/** @internal */
export interface UdpWorkerInit {
  host: string;
  port: number;
  token?: string;
  users?: UserDigest[];
  limits?: Partial<ServerLimits>;
  maxFrameBytes?: number;
  idleTimeoutMs: number;
  serverName?: string;
  statsIntervalMs: number;
  recvBufferBytes?: number;
  sendBufferBytes?: number;
}

/** @internal */
export interface UdpSessionInfo {
  handle: number;
  id: string;
  address: string;
  port: number;
  remote: string;
  hello: JsonObject;
  authenticated: boolean;
}

/** @internal */
export type UdpWorkerEvent =
  | { t: 'open'; session: UdpSessionInfo }
  | { t: 'close'; handle: number; reason: string }
  | { t: 'metadata' | 'qos' | 'error-frame'; handle: number; json: JsonObject | JsonObject[] }
  | { t: 'pong'; handle: number; pong: PongInfo }
  | { t: 'refused'; code: string; remote: string; message: string }
  | { t: 'audio-refused'; handle: number; message: string };

/** @internal */
export type UdpWorkerOut =
  | { t: 'listening'; host: string; port: number }
  | { t: 'error'; message: string }
  | { t: 'events'; events: UdpWorkerEvent[] }
  | { t: 'audio'; data: ArrayBuffer; records: number }
  | { t: 'stats'; stats: Omit<UdpServerStats, 'restarts'>; perSession: number[] };

/** @internal */
export type UdpWorkerIn =
  | { t: 'send'; data: ArrayBuffer; frames: Uint32Array; to: Uint32Array }
  | { t: 'ping' }
  | { t: 'close'; handle: number; code?: string; message?: string }
  | { t: 'ring'; ring: PacketRingShared | null; sampleRate: number; alsoAudio: boolean }
  | { t: 'stop' };

/** The UDP ingest's counters of every UdpStreamServer in the process, for /metrics (runtime/qos/prometheus.ts createUdpMetrics). */
export interface UdpTotals {
  datagrams: number;
  /** Dropped datagrams by reason (udp-sessions.ts UdpDropReason). */
  drops: Record<string, number>;
  sessionsOpened: number;
  /** Sessions ended by reason (idle_timeout, evicted, replaced, unauthorized, error-frame, closed). */
  sessionsEnded: Record<string, number>;
}

/** Process-wide: each server adds what its thread counted since its last report. */
export const udpTotals: UdpTotals = { datagrams: 0, drops: {}, sessionsOpened: 0, sessionsEnded: {} };

function addDelta(into: Record<string, number>, now: Record<string, number>, before: Record<string, number>): void {
  for (const k of Object.keys(now)) {
    const d = now[k] - (before[k] ?? 0);
    if (d > 0) into[k] = (into[k] ?? 0) + d;
  }
}


/**
 * One UDP session on the main side: a StreamConnection's fields and events (link.ts StreamLink). Audio arrives as
 * 'audio' only while no ring is attached to the server; `arrivalMicros` is when the worker read the frame being
 * emitted. Sends go out through the worker, gathered per event-loop turn.
 */
export class UdpLink extends EventEmitter<StreamConnectionEvents> implements StreamLink {
  readonly transport = 'udp' as const;
  readonly secure = false;
  readonly id: string;
  readonly remote: string;
  readonly address: string;
  readonly port: number;
  readonly hello: ClientHello;
  readonly authenticated: boolean;
  readonly connectedAt = Date.now();
  readonly counters: ConnectionCounters = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, audioDropped: 0, qosDropped: 0, protocolErrors: 0 };
  rttMs: number | undefined;
  clockOffsetMs: number | undefined;
  closeReason: string | undefined;
  /** µs since the epoch when the worker read the audio frame being emitted (runtime/clock.ts nowMicros, comparable across threads). */
  arrivalMicros = 0;
  /** @internal */
  readonly handle: number;
  private open = true;

  /** @internal The server makes links from the worker's 'open'. */
  constructor(private readonly server: UdpStreamServer, s: UdpSessionInfo, private readonly clock: () => number) {
    super();
    this.handle = s.handle;
    this.id = s.id;
    this.remote = s.remote;
    this.address = s.address;
    this.port = s.port;
    this.hello = s.hello as unknown as ClientHello;
    this.authenticated = s.authenticated;
  }

  get userId(): string {
    return this.hello.userId;
  }

  get role(): PeerRole {
    return this.hello.role;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Sends one encoded frame (one datagram) through the worker; false once the session ended or the frame cannot be a datagram. */
  send(frame: Buffer): boolean {
    if (!this.open) return false;
    if (frame.length > MAX_UDP_DATAGRAM_BYTES) {
      if (frame[3] === FrameType.AUDIO) this.counters.audioDropped++; else this.counters.qosDropped++;
      return false;
    }
    this.server.queueSend(this.handle, frame);
    this.counters.framesOut++;
    this.counters.bytesOut += frame.length;
    return true;
  }

  sendAudio(h: AudioHeader, data: Buffer): boolean {
    if (!this.open) return false;
    if (FRAME_HEADER_BYTES + AUDIO_HEADER_BYTES + data.length > MAX_UDP_DATAGRAM_BYTES) {
      this.counters.audioDropped++;
      return false;
    }
    return this.send(encodeAudioFrame(h, data));
  }

  sendMetadata(obj: JsonObject): boolean {
    return this.send(encodeJsonFrame(FrameType.METADATA, obj));
  }

  sendQos(qos: QOSMetrics | QOSMetrics[] | JsonObject | JsonObject[]): boolean {
    return this.send(encodeJsonFrame(FrameType.QOS, qos as JsonObject | JsonObject[]));
  }

  ping(): boolean {
    return this.send(encodePing(this.clock()));
  }

  /** Ends the session (with `errCode`, ERROR {code, message} is sent first). A sender that goes on HELLOing opens a new one. */
  close(errCode?: string, message?: string): void {
    if (!this.open) return;
    this.closeReason ??= errCode !== undefined ? `${errCode}: ${message ?? errCode}` : 'closed locally';
    this.server.closeSession(this.handle, errCode, message);
  }

  /** @internal The session ended (the worker said so, or the server is closing). */
  ended(reason: string): void {
    if (!this.open) return;
    this.open = false;
    this.closeReason ??= reason;
    this.emit('close', this.closeReason);
  }
}

/** Accepts streamproto1 senders over UDP; the socket and session table are on a worker thread. */
export class UdpStreamServer extends EventEmitter<UdpStreamServerEvents> {
  /** Open sessions' links, by the worker's handle. */
  private readonly links = new Map<number, UdpLink>();
  private readonly opts: UdpStreamServerOptions;
  private readonly clock: () => number;
  private worker: Worker | null = null;
  private bound: { host: string; port: number } | undefined;
  private closing = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private ring: { ring: PacketRingShared; sampleRate: number; alsoAudio: boolean } | null = null;
  private listenWaiters: Array<{ resolve: (a: { host: string; port: number }) => void; reject: (e: Error) => void }> = [];
  private restarts = 0;
  private lastStats: UdpServerStats = emptyStats();
  /** The running thread's last report (null: none yet from this thread), for the process-wide totals. */
  private reportedByThread: UdpServerStats | null = null;
  // Outgoing frames of this event-loop turn: distinct frames once each (a fan-out sends one frame to many), then (frame, session) pairs.
  private outFrames: Buffer[] = [];
  private readonly outIndex = new Map<Buffer, number>();
  private outTo: number[] = [];
  private outBytes = 0;
  private flushQueued = false;

  /** Throws an Error naming the option for a bad value (the session table's checks, made here where they reach the caller). */
  constructor(opts: UdpStreamServerOptions = {}) {
    super();
    this.opts = opts;
    this.clock = opts.clock ?? nowMicros;
    if (opts.users !== undefined && !(opts.users instanceof UsersList)) throw new Error('users: must be a UsersList (UsersList.parse or UsersList.fromFile)');
    if (opts.token !== undefined && (typeof opts.token !== 'string' || opts.token === '')) throw new Error('token: must be a non-empty string');
    checkServerLimits(opts.limits);
    const idle = opts.idleTimeoutMs ?? DEFAULT_UDP_IDLE_TIMEOUT_MS;
    if (!(typeof idle === 'number' && Number.isFinite(idle) && idle >= 0)) throw new Error(`idleTimeoutMs: must be a number ≥ 0, got ${String(idle)}`);
    const m = opts.maxFrameBytes;
    if (m !== undefined && !(Number.isInteger(m) && m >= 0)) throw new Error(`maxFrameBytes: must be an integer ≥ 0, got ${String(m)}`);
  }

  /** The worker's stats as of its last report (at least once a second; a copy). */
  get stats(): UdpServerStats {
    return { ...this.lastStats, drops: { ...this.lastStats.drops }, ended: { ...this.lastStats.ended }, restarts: this.restarts };
  }

  /** The bound address, once listening. */
  get address(): { host: string; port: number } | undefined {
    return this.bound;
  }

  /** Open sessions. */
  get connections(): ReadonlySet<UdpLink> {
    return new Set(this.links.values());
  }

  /** The open session whose HELLO had this userId (the most recent, when several addresses use one). */
  findByUserId(userId: string): UdpLink | undefined {
    let found: UdpLink | undefined;
    for (const l of this.links.values()) if (l.userId === userId) found = l;
    return found;
  }

  /** Starts the worker, which binds; resolves with the address bound. */
  listen(): Promise<{ host: string; port: number }> {
    if (this.bound) return Promise.resolve(this.bound);
    return new Promise((resolve, reject) => {
      this.listenWaiters.push({ resolve, reject });
      if (!this.worker) this.spawn(this.opts.port ?? 0);
    });
  }

  /**
   * Where AUDIO goes: a mix thread's ring (MixEngine.attachRing), written by the worker — nothing per packet on the
   * event loop, and no link emits 'audio' — or null: batched to the main side, each link emitting 'audio'.
   * `sampleRate`: the mix's, to check packets against as MixEngine.push does (default 48000). `alsoAudio`: the links
   * emit 'audio' too (batched, as with no ring), for other targets of the same packets.
   */
  attachRing(ring: PacketRingShared | null, sampleRate = 48000, alsoAudio = false): void {
    this.ring = ring === null ? null : { ring, sampleRate, alsoAudio };
    this.worker?.postMessage({ t: 'ring', ring, sampleRate, alsoAudio } satisfies UdpWorkerIn);
  }

  /** True while a ring is attached. */
  get ringAttached(): boolean {
    return this.ring !== null;
  }

  /** Ends every session, stops the worker and frees the port. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.restartTimer) { clearTimeout(this.restartTimer); this.restartTimer = null; }
    if (this.pingTimer) { clearInterval(this.pingTimer); this.pingTimer = null; }
    const w = this.worker;
    this.flushSends();
    this.endAll('server closed');
    this.bound = undefined;
    for (const waiter of this.listenWaiters.splice(0)) waiter.reject(new Error('closed before listening'));
    if (!w) return;
    this.worker = null;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { void w.terminate(); }, 1000);
      w.once('exit', () => { clearTimeout(t); resolve(); });
      w.postMessage({ t: 'stop' } satisfies UdpWorkerIn);
    });
  }

  /** @internal A link's frame, sent with the others of this event-loop turn. */
  queueSend(handle: number, frame: Buffer): void {
    let i = this.outIndex.get(frame);
    if (i === undefined) {
      i = this.outFrames.length;
      this.outFrames.push(frame);
      this.outIndex.set(frame, i);
      this.outBytes += frame.length;
    }
    this.outTo.push(i, handle);
    if (this.outBytes >= 1 << 20) { this.flushSends(); return; }
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(this.flushSends);
    }
  }

  /** @internal */
  closeSession(handle: number, code?: string, message?: string): void {
    this.flushSends();
    this.worker?.postMessage({ t: 'close', handle, code, message } satisfies UdpWorkerIn);
  }

  private readonly flushSends = (): void => {
    this.flushQueued = false;
    const frames = this.outFrames;
    if (frames.length === 0) return;
    const data = new ArrayBuffer(this.outBytes);
    const bytes = new Uint8Array(data);
    const table = new Uint32Array(frames.length * 2);
    let at = 0;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i];
      bytes.set(f, at);
      table[2 * i] = at;
      table[2 * i + 1] = f.length;
      at += f.length;
    }
    const to = Uint32Array.from(this.outTo);
    this.outFrames = [];
    this.outIndex.clear();
    this.outTo = [];
    this.outBytes = 0;
    this.worker?.postMessage({ t: 'send', data, frames: table, to } satisfies UdpWorkerIn, [data, table.buffer, to.buffer]);
  };

  private spawn(port: number): void {
    const o = this.opts;
    const init: UdpWorkerInit = {
      host: o.host ?? '127.0.0.1', port, token: o.token, users: o.users?.digests(), limits: o.limits,
      maxFrameBytes: o.maxFrameBytes, idleTimeoutMs: o.idleTimeoutMs ?? DEFAULT_UDP_IDLE_TIMEOUT_MS, serverName: o.serverName,
      statsIntervalMs: o.statsIntervalMs ?? 250, recvBufferBytes: o.recvBufferBytes, sendBufferBytes: o.sendBufferBytes,
    };
    const w = new Worker(path.join(__dirname, 'udp-worker.js'), { workerData: init });
    this.worker = w;
    this.reportedByThread = null;
    if (this.ring) w.postMessage({ t: 'ring', ring: this.ring.ring, sampleRate: this.ring.sampleRate, alsoAudio: this.ring.alsoAudio } satisfies UdpWorkerIn);
    w.on('message', (m: UdpWorkerOut) => this.onWorker(m));
    w.on('error', (err) => this.emitError(err));
    w.on('exit', (code) => {
      if (this.worker !== w) return;
      this.worker = null;
      this.endAll('the UDP thread stopped');
      if (this.closing) return;
      if (!this.bound) {
        for (const waiter of this.listenWaiters.splice(0)) waiter.reject(new Error(`the UDP thread stopped (exit code ${code}) before it listened`));
        return;
      }
      // Started again on the port it had, so senders keep their destination.
      this.restarts++;
      this.emitError(new Error(`UDP ingest: the thread stopped (exit code ${code}); starting it again on port ${this.bound.port}`));
      const again = this.bound.port;
      this.bound = undefined;
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (!this.closing && !this.worker) this.spawn(again);
      }, 200);
    });
  }

  /** @internal Tests: the worker, to see a restart. */
  get thread(): Worker | null {
    return this.worker;
  }

  private emitError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  private endAll(reason: string): void {
    const links = [...this.links.values()];
    this.links.clear();
    for (const l of links) {
      l.ended(reason);
      this.emit('disconnect', l, reason);
    }
  }

  private onWorker(m: UdpWorkerOut): void {
    switch (m.t) {
      case 'listening': {
        this.bound = { host: m.host, port: m.port };
        const every = this.opts.pingIntervalMs ?? 1000;
        if (every > 0 && !this.pingTimer) {
          this.pingTimer = setInterval(() => this.worker?.postMessage({ t: 'ping' } satisfies UdpWorkerIn), every);
          this.pingTimer.unref();
        }
        for (const waiter of this.listenWaiters.splice(0)) waiter.resolve(this.bound);
        this.emit('listening', this.bound);
        return;
      }
      case 'error': {
        const err = new Error(m.message);
        if (!this.bound && this.listenWaiters.length > 0) {
          for (const waiter of this.listenWaiters.splice(0)) waiter.reject(err);
          const w = this.worker;
          this.worker = null;
          void w?.terminate();
          return;
        }
        this.emitError(err);
        return;
      }
      case 'events':
        for (const e of m.events) this.onEvent(e);
        return;
      case 'audio':
        this.onAudio(m.data, m.records);
        return;
      case 'stats': {
        // A thread started again counts from 0: its first report adds all it has.
        const prev = this.reportedByThread ?? emptyStats();
        udpTotals.datagrams += Math.max(0, m.stats.datagrams - prev.datagrams);
        udpTotals.sessionsOpened += Math.max(0, m.stats.opened - prev.opened);
        addDelta(udpTotals.drops, m.stats.drops, prev.drops);
        addDelta(udpTotals.sessionsEnded, m.stats.ended, prev.ended);
        this.reportedByThread = { ...m.stats, restarts: this.restarts };
        this.lastStats = { ...m.stats, restarts: this.restarts };
        const p = m.perSession;
        for (let i = 0; i < p.length; i += 3) {
          const l = this.links.get(p[i]);
          if (l) { l.counters.framesIn = p[i + 1]; l.counters.bytesIn = p[i + 2]; }
        }
        return;
      }
    }
  }

  private onEvent(e: UdpWorkerEvent): void {
    if (e.t === 'refused') {
      this.emit('refused', { code: e.code, remote: e.remote, message: e.message });
      return;
    }
    if (e.t === 'open') {
      const link = new UdpLink(this, e.session, this.clock);
      this.links.set(e.session.handle, link);
      this.emit('connection', link);
      return;
    }
    const link = this.links.get(e.handle);
    if (!link) return;
    switch (e.t) {
      case 'close':
        this.links.delete(e.handle);
        link.ended(e.reason);
        this.emit('disconnect', link, e.reason);
        return;
      case 'metadata': link.emit('metadata', e.json as JsonObject); return;
      case 'qos': {
        const q = e.json;
        if (Array.isArray(q) && q.length === 0) return;
        link.emit('qos', q as unknown as QOSMetrics | QOSMetrics[]);
        return;
      }
      case 'error-frame': link.emit('error-frame', e.json as unknown as { code: string; message: string }); return;
      case 'pong':
        link.rttMs = e.pong.rttMs;
        link.clockOffsetMs = e.pong.offsetMs;
        link.emit('pong', e.pong);
        return;
      case 'audio-refused': this.emit('audioRefused', link, e.message); return;
    }
  }

  /** A batch of AUDIO records: each link emits 'audio' with data that is a view of the batch (its own: never reused). */
  private onAudio(ab: ArrayBuffer, records: number): void {
    const b = Buffer.from(ab);
    let at = 0;
    for (let n = 0; n < records; n++) {
      const handle = b.readUInt32LE(at);
      const len = b.readUInt32LE(at + 4);
      const arrival = b.readDoubleLE(at + 8);
      const payload = b.subarray(at + 16, at + 16 + len);
      at += (16 + len + 7) & ~7;
      const link = this.links.get(handle);
      if (!link) continue;
      let header: AudioHeader;
      let data: Buffer;
      try {
        ({ header, data } = decodeAudioPayload(payload));
      } catch {
        continue;   // the worker's table decoded it already: cannot happen
      }
      link.counters.framesIn++;
      link.counters.bytesIn += len + FRAME_HEADER_BYTES;
      link.arrivalMicros = arrival;
      link.emit('audio', header, data);
    }
  }
}

function emptyStats(): UdpServerStats {
  return {
    datagrams: 0, audioFrames: 0, drops: {}, dropped: 0, ended: {}, opened: 0, sessions: 0, batches: 0, eventMessages: 0,
    audioPosted: 0, ringWritten: 0, ringRefused: 0, ringFull: 0, ringDropped: 0, sent: 0, sendErrors: 0, restarts: 0, busyMs: 0, cpuMs: 0,
  };
}

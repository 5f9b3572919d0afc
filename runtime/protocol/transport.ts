// streamproto1 over TCP: one StreamConnection per socket, a StreamServer (HELLO handshake, token, broadcast) and a reconnecting StreamClient.
//
// Only TCP is here. TLS would wrap the same StreamConnection around a tls.TLSSocket (a net.Socket
// subclass); UDP and WebSocket carry one frame per datagram/message and would feed
// handleFrame() directly instead of a FrameParser. See docs/streamproto1.md, "Choices this project made".

import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  AUDIO_HEADER_BYTES, DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES, FrameType, PROTOCOL_NAME, ProtocolError,
  decodeAudioPayload, decodeErrorPayload, decodeJsonPayload, decodePing, decodePong,
  encodeAudioFrame, encodeErrorFrame, encodeJsonFrame, encodePing, encodePong, frameTypeName,
  validateClientHello, validateServerHello,
  type AudioHeader, type ClientHello, type ErrorPayload, type JsonObject, type PeerRole, type QOSMetrics, type ServerHello,
} from './frame';
import { METADATA_PATCH_CAPABILITY, MetadataPatchReceiver } from './merge-patch';
import { FrameParser } from './parser';
import { nowMicros } from '../clock';

/** The default clock: runtime/clock.ts nowMicros (µs since the Unix epoch, sub-ms, monotonic within the process). */
export const defaultClockMicros: () => number = nowMicros;

export const DEFAULT_MAX_QUEUE_BYTES = 256 * 1024;
export const DEFAULT_MAX_CONTROL_QUEUE_BYTES = 4 * 1024 * 1024;
export const DEFAULT_HELLO_TIMEOUT_MS = 5000;
export const DEFAULT_PING_INTERVAL_MS = 1000;
export const DEFAULT_IDLE_TIMEOUT_MS = 15000;
/** How long a closing connection waits for its queued bytes (the ERROR frame) to flush and the peer to close. */
const CLOSE_GRACE_MS = 1000;

export interface ConnectionCounters {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** AUDIO frames not queued because the write queue was over maxQueueBytes. */
  audioDropped: number;
  /** QOS and PING frames not queued for the same reason. */
  qosDropped: number;
  protocolErrors: number;
}

/** Result of one PING/PONG exchange. offsetMs > 0 means the remote clock is ahead of ours. */
export interface PongInfo {
  rttMs: number;
  offsetMs: number;
  t0: number;
  t1: number;
  t2: number;
  t3: number;
}

export interface StreamConnectionEvents {
  /** The peer's HELLO was accepted (ClientHello on a server connection, ServerHello on a client one). */
  hello: [hello: ClientHello | ServerHello];
  /** `data` is this frame's own copy: safe to keep and to pass on in a message. */
  audio: [header: AudioHeader, data: Buffer];
  metadata: [obj: JsonObject];
  /** One QOSMetrics object, or a batch (never an empty one). */
  qos: [qos: QOSMetrics | QOSMetrics[]];
  /** The peer sent ERROR; the connection closes right after. */
  'error-frame': [err: ErrorPayload];
  /** The peer sent PING (already answered with PONG). */
  ping: [t0: number];
  pong: [info: PongInfo];
  /** This side found the peer's bytes malformed (or the handshake failed); emitted just before closing. */
  protocolError: [err: ProtocolError];
  /** The socket is closed; `reason` says why. Emitted once. */
  close: [reason: string];
}

export interface ConnectionOptions {
  /** Largest payload length N accepted (default 1 MiB). */
  maxFrameBytes?: number;
  /** AUDIO, QOS and PING frames are dropped while the socket's write queue would exceed this (default 256 KiB). */
  maxQueueBytes?: number;
  /** A peer that lets the queue (control frames included) grow past this is disconnected (default 4 MiB). */
  maxControlQueueBytes?: number;
  /** Time to receive the peer's HELLO, from when the connection object is created (default 5000; 0 = none). */
  helloTimeoutMs?: number;
  /** While pinging, a connection that receives nothing for this long is closed (default 15000; 0 = never). */
  idleTimeoutMs?: number;
  /** µs since the Unix epoch; PING/PONG and HELLO serverTime use it. */
  clock?: () => number;
}

type HelloCheck = (obj: JsonObject) => ClientHello | ServerHello;
type State = 'handshake' | 'open' | 'closing' | 'closed';

let nextLocalId = 1;

/**
 * One streamproto1 stream over a socket. Created by StreamServer and StreamClient; users get it
 * once the handshake is done. Answers PING with PONG itself. Listeners must not throw: an exception
 * from a listener propagates out of the socket's 'data' event like from any socket listener.
 */
export class StreamConnection extends EventEmitter<StreamConnectionEvents> {
  /** Server side: the sessionId sent in our HELLO. Client side: the sessionId the server sent. */
  id: string;
  /** Peer's HELLO once accepted. */
  hello: ClientHello | ServerHello | undefined;
  /** ms since the epoch when the socket was accepted / the connection attempt began. */
  readonly connectedAt: number = Date.now();
  readonly counters: ConnectionCounters = {
    framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, audioDropped: 0, qosDropped: 0, protocolErrors: 0,
  };
  /** From the latest PONG; undefined until one arrives. */
  rttMs: number | undefined;
  clockOffsetMs: number | undefined;
  /** @internal Set on a client connection that announced "metadata-patch": turns METADATA patches into full objects (merge-patch.ts). */
  metadataPatches: MetadataPatchReceiver | undefined;
  /** Why it closed (set once closing starts). */
  closeReason: string | undefined;
  /** @internal Called once when the connection stops being usable (closing starts or the socket closes), before 'close'. */
  onClosing: (() => void) | undefined;

  readonly socket: net.Socket;
  private readonly parser: FrameParser;
  private readonly maxQueueBytes: number;
  private readonly maxControlQueueBytes: number;
  private readonly idleTimeoutMs: number;
  private readonly clock: () => number;
  private readonly checkHello: HelloCheck;
  private state: State = 'handshake';
  private remoteText: string | undefined;
  private lastRxMs = performance.now();
  private helloTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;

  /** @internal StreamServer and StreamClient create connections; `checkHello` validates the peer's HELLO or throws ProtocolError. */
  constructor(socket: net.Socket, opts: ConnectionOptions, checkHello: HelloCheck, id = `local-${nextLocalId++}`) {
    super();
    this.socket = socket;
    this.id = id;
    this.parser = new FrameParser(opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    this.maxQueueBytes = opts.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES;
    this.maxControlQueueBytes = Math.max(opts.maxControlQueueBytes ?? DEFAULT_MAX_CONTROL_QUEUE_BYTES, this.maxQueueBytes);
    this.idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.clock = opts.clock ?? defaultClockMicros;
    this.checkHello = checkHello;

    // Audio frames are small and latency-bound: no Nagle.
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    socket.on('data', this.onData);
    socket.on('end', () => { this.closeReason ??= 'peer closed the connection'; });
    socket.on('error', (err) => { this.closeReason ??= err.message; });
    socket.on('close', this.onSocketClose);

    const helloTimeoutMs = opts.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS;
    if (helloTimeoutMs > 0) {
      this.helloTimer = setTimeout(() => {
        if (this.state === 'handshake') this.failWith(new ProtocolError('hello_timeout', `no HELLO within ${helloTimeoutMs} ms`));
      }, helloTimeoutMs);
      this.helloTimer.unref();
    }
  }

  /** "ip:port" of the peer. */
  get remote(): string {
    if (this.remoteText === undefined && this.socket.remoteAddress !== undefined) {
      const a = this.socket.remoteAddress;
      this.remoteText = `${a.includes(':') ? `[${a}]` : a}:${this.socket.remotePort}`;
    }
    return this.remoteText ?? 'unconnected';
  }

  /** userId from the client's HELLO (server side only). */
  get userId(): string | undefined {
    return (this.hello as ClientHello | undefined)?.userId;
  }

  /** role from the client's HELLO (server side only). */
  get role(): PeerRole | undefined {
    return (this.hello as ClientHello | undefined)?.role;
  }

  /** True from the accepted HELLO until closing starts. */
  get isOpen(): boolean {
    return this.state === 'open';
  }

  /**
   * Queues one encoded frame. AUDIO, QOS and PING frames are dropped (counted, returns false) when
   * the socket's write queue is not empty and would exceed maxQueueBytes with this frame; other
   * frames always queue.
   * A peer that lets the queue pass maxControlQueueBytes is disconnected. False after closing starts.
   */
  send(frame: Buffer): boolean {
    if (this.state === 'closing' || this.state === 'closed' || this.socket.destroyed) return false;
    const type = frame[3];
    if ((type === FrameType.AUDIO || type === FrameType.QOS || type === FrameType.PING) && this.queueFull(frame.length)) {
      if (type === FrameType.AUDIO) this.counters.audioDropped++; else this.counters.qosDropped++;
      return false;
    }
    this.socket.write(frame);
    this.counters.framesOut++;
    this.counters.bytesOut += frame.length;
    if (this.socket.writableLength > this.maxControlQueueBytes) {
      // It does not read: an ERROR would only queue behind the rest, so just drop the socket.
      this.closeReason ??= `peer does not read: write queue over ${this.maxControlQueueBytes} bytes`;
      this.markClosing();
      this.socket.destroy();
    }
    return true;
  }

  /** An empty queue always takes one frame, so a frame larger than maxQueueBytes can still be sent. */
  private queueFull(frameBytes: number): boolean {
    const queued = this.socket.writableLength;
    return queued > 0 && queued + frameBytes > this.maxQueueBytes;
  }

  /** Encodes and queues an AUDIO frame (dropped without encoding when the queue is full). */
  sendAudio(h: AudioHeader, data: Buffer): boolean {
    if (this.state === 'closing' || this.state === 'closed') return false;
    if (this.queueFull(FRAME_HEADER_BYTES + AUDIO_HEADER_BYTES + data.length)) {
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

  /** Sends a PING now (the PONG yields a 'pong' event). */
  ping(): boolean {
    if (this.state !== 'open') return false;
    return this.send(encodePing(this.clock()));
  }

  /** @internal Pings every `intervalMs` and closes the connection when nothing arrived for idleTimeoutMs. */
  startPinging(intervalMs: number): void {
    if (!(intervalMs > 0) || this.pingTimer || this.state !== 'open') return;
    this.pingTimer = setInterval(() => {
      if (this.idleTimeoutMs > 0 && performance.now() - this.lastRxMs > this.idleTimeoutMs) {
        this.failWith(new ProtocolError('idle_timeout', `nothing received for ${this.idleTimeoutMs} ms`));
        return;
      }
      this.ping();
    }, intervalMs);
    this.pingTimer.unref();
  }

  /**
   * Closes the connection. With `errCode`, sends ERROR {code, message} first. Queued frames are
   * flushed for up to 1 s, then the socket is destroyed. 'close' follows once the socket is closed.
   */
  close(errCode?: string, message?: string): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.markClosing();
    if (errCode !== undefined) {
      this.closeReason ??= `${errCode}: ${message ?? errCode}`;
      if (!this.socket.destroyed && this.socket.writable) this.socket.write(encodeErrorFrame(errCode, message ?? errCode));
    }
    this.closeReason ??= 'closed locally';
    if (this.socket.connecting) {
      this.socket.destroy();
      return;
    }
    this.socket.end();
    this.graceTimer = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
    this.graceTimer.unref();
  }

  /** Counts `err`, emits 'protocolError', sends ERROR with its code and closes. */
  failWith(err: ProtocolError): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.counters.protocolErrors++;
    this.emit('protocolError', err);
    this.close(err.code, err.message);
  }

  private markClosing(): void {
    this.state = 'closing';
    this.stopTimers();
    const hook = this.onClosing;
    this.onClosing = undefined;
    hook?.();
  }

  private stopTimers(): void {
    if (this.helloTimer) { clearTimeout(this.helloTimer); this.helloTimer = undefined; }
    if (this.pingTimer) { clearInterval(this.pingTimer); this.pingTimer = undefined; }
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.state === 'closing' || this.state === 'closed') return;   // drain and discard until the peer closes
    this.counters.bytesIn += chunk.length;
    this.lastRxMs = performance.now();
    try {
      this.parser.push(chunk, this.onFrame);
    } catch (err) {
      // Framing errors come from the parser; anything else was thrown by a listener and is not the peer's fault.
      if (err instanceof ProtocolError && err === this.parser.error) this.failWith(err);
      else throw err;
    }
  };

  private readonly onFrame = (type: number, payload: Buffer, shared: boolean): void => {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.counters.framesIn++;
    if (this.state === 'handshake' && type !== FrameType.HELLO && type !== FrameType.ERROR) {
      this.failWith(new ProtocolError('bad_hello', `first frame must be HELLO, got ${frameTypeName(type)}`));
      return;
    }
    switch (type) {
      case FrameType.AUDIO: {
        let header: AudioHeader;
        let data: Buffer;
        try {
          ({ header, data } = decodeAudioPayload(payload));
        } catch (err) {
          this.failWith(err as ProtocolError);
          return;
        }
        // One copy per frame when the payload still lies in the socket's chunk, so listeners may keep it.
        this.emit('audio', header, shared ? Buffer.from(data) : data);
        return;
      }
      case FrameType.QOS: {
        let qos: JsonObject | JsonObject[];
        try {
          qos = decodeJsonPayload(payload, FrameType.QOS);
        } catch (err) {
          this.failWith(err as ProtocolError);
          return;
        }
        if (Array.isArray(qos) && qos.length === 0) return;
        this.emit('qos', qos as QOSMetrics | QOSMetrics[]);
        return;
      }
      case FrameType.METADATA: {
        let obj: JsonObject;
        try {
          obj = decodeJsonPayload(payload, FrameType.METADATA) as JsonObject;
          if (this.metadataPatches) obj = this.metadataPatches.receive(obj);
        } catch (err) {
          this.failWith(err as ProtocolError);
          return;
        }
        this.emit('metadata', obj);
        return;
      }
      case FrameType.PING: {
        const t1 = this.clock();
        let t0: number;
        try {
          t0 = decodePing(payload);
        } catch (err) {
          this.failWith(err as ProtocolError);
          return;
        }
        this.send(encodePong(t0, t1, this.clock()));
        this.emit('ping', t0);
        return;
      }
      case FrameType.PONG: {
        const t3 = this.clock();
        let p: { t0: number; t1: number; t2: number };
        try {
          p = decodePong(payload);
        } catch (err) {
          this.failWith(err as ProtocolError);
          return;
        }
        // NTP-style: the remote's processing time (t2 − t1) is not part of the round trip.
        const rttMs = Math.max(0, (t3 - p.t0) - (p.t2 - p.t1)) / 1000;
        const offsetMs = ((p.t1 - p.t0) + (p.t2 - t3)) / 2 / 1000;
        this.rttMs = rttMs;
        this.clockOffsetMs = offsetMs;
        this.emit('pong', { rttMs, offsetMs, t0: p.t0, t1: p.t1, t2: p.t2, t3 });
        return;
      }
      case FrameType.ERROR: {
        let e: ErrorPayload;
        try {
          e = decodeErrorPayload(payload);
        } catch (err) {
          e = { code: 'protocol', message: `malformed ERROR frame: ${(err as Error).message}` };
        }
        this.closeReason = `peer sent ERROR ${e.code}: ${e.message}`;
        this.emit('error-frame', e);
        this.close();
        return;
      }
      case FrameType.HELLO: {
        if (this.state !== 'handshake') {
          this.failWith(new ProtocolError('protocol', 'a second HELLO on an open connection'));
          return;
        }
        let hello: ClientHello | ServerHello;
        try {
          const obj = decodeJsonPayload(payload, FrameType.HELLO) as JsonObject;
          hello = this.checkHello(obj);
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
          this.failWith(err.code === 'bad_json' ? new ProtocolError('bad_hello', err.message) : err);
          return;
        }
        if (this.helloTimer) { clearTimeout(this.helloTimer); this.helloTimer = undefined; }
        this.hello = hello;
        this.state = 'open';
        this.emit('hello', hello);
        return;
      }
    }
  };

  private readonly onSocketClose = (): void => {
    if (this.state !== 'closing') this.markClosing();
    this.state = 'closed';
    this.stopTimers();
    if (this.graceTimer) { clearTimeout(this.graceTimer); this.graceTimer = undefined; }
    this.closeReason ??= 'closed';
    this.emit('close', this.closeReason);
  };
}

// ---------------------------------------------------------------------------------------------

export interface StreamServerOptions {
  /** Bind address (default 127.0.0.1). */
  host?: string;
  /** TCP port (0 = any free port; listen() says which). */
  port?: number;
  /** When set, a client's HELLO must carry this token. */
  token?: string;
  maxFrameBytes?: number;
  maxQueueBytes?: number;
  maxControlQueueBytes?: number;
  helloTimeoutMs?: number;
  /** PING every connection this often (default 1000; 0 = off). */
  pingIntervalMs?: number;
  idleTimeoutMs?: number;
  /** Sent as `name` in the server's HELLO. */
  serverName?: string;
  clock?: () => number;
}

/** Who a connection-level event was about, for logs and status. */
export interface ConnectionInfo {
  id: string;
  remote: string;
  userId: string | undefined;
  role: PeerRole | undefined;
}

export interface StreamServerEvents {
  /** A client completed HELLO; the connection is in `connections` now. */
  connection: [conn: StreamConnection];
  /** A connection that had completed HELLO closed. */
  disconnect: [conn: StreamConnection, reason: string];
  /** A connection was closed for a malformed frame or a failed handshake; others are unaffected. */
  protocolError: [err: ProtocolError, info: ConnectionInfo];
  /** The listening socket failed after listen() resolved (never 'error': no listener must crash nothing). */
  serverError: [err: Error];
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Accepts streamproto1 clients on TCP; one StreamConnection per client. */
export class StreamServer extends EventEmitter<StreamServerEvents> {
  /** Connections that completed the HELLO handshake and have not started closing. */
  readonly connections = new Set<StreamConnection>();
  private readonly pending = new Set<StreamConnection>();
  /** Closing but not yet closed; close() waits for these too. */
  private readonly closing = new Set<StreamConnection>();
  private readonly opts: StreamServerOptions;
  private readonly tokenDigest: Buffer | undefined;
  private readonly server: net.Server;
  private readonly clock: () => number;
  private bound: { host: string; port: number } | undefined;

  constructor(opts: StreamServerOptions = {}) {
    super();
    this.opts = opts;
    this.clock = opts.clock ?? defaultClockMicros;
    this.tokenDigest = opts.token !== undefined ? digest(opts.token) : undefined;
    this.server = net.createServer((socket) => this.accept(socket));
    this.server.on('error', (err) => { if (this.bound) this.emit('serverError', err); });
  }

  /** Binds (default 127.0.0.1, port 0 = any) and resolves with the address actually bound. */
  listen(): Promise<{ host: string; port: number }> {
    const host = this.opts.host ?? '127.0.0.1';
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host, port: this.opts.port ?? 0 }, () => {
        this.server.off('error', onError);
        const a = this.server.address() as net.AddressInfo;
        this.bound = { host: a.address, port: a.port };
        resolve(this.bound);
      });
    });
  }

  /** The bound address, once listening. */
  get address(): { host: string; port: number } | undefined {
    return this.bound;
  }

  /** Sends one encoded frame to every connection; returns how many queued it (audio may be dropped per connection). */
  broadcast(frame: Buffer): number {
    let n = 0;
    for (const c of this.connections) if (c.send(frame)) n++;
    return n;
  }

  /** The most recently connected open connection whose HELLO had this userId. */
  findByUserId(userId: string): StreamConnection | undefined {
    let found: StreamConnection | undefined;
    for (const c of this.connections) if (c.userId === userId) found = c;   // Set iterates in insertion order
    return found;
  }

  /** Closes every connection and the listening socket; resolves when all are closed. */
  async close(): Promise<void> {
    const all = [...this.pending, ...this.connections, ...this.closing];
    // None of these has emitted 'close' yet (they leave `closing` on it).
    const closed = all.map((c) => new Promise<void>((resolve) => c.once('close', () => resolve())));
    const serverClosed = new Promise<void>((resolve) => {
      if (!this.server.listening) { resolve(); return; }
      this.server.close(() => resolve());
    });
    for (const c of all) c.close();
    await Promise.all([...closed, serverClosed]);
    this.bound = undefined;
  }

  private accept(socket: net.Socket): void {
    const o = this.opts;
    const conn = new StreamConnection(socket, {
      maxFrameBytes: o.maxFrameBytes,
      maxQueueBytes: o.maxQueueBytes,
      maxControlQueueBytes: o.maxControlQueueBytes,
      helloTimeoutMs: o.helloTimeoutMs,
      idleTimeoutMs: o.idleTimeoutMs,
      clock: o.clock,
    }, (obj) => this.checkHello(obj), randomUUID());
    this.pending.add(conn);
    conn.once('close', () => this.closing.delete(conn));
    conn.on('protocolError', (err) => {
      this.emit('protocolError', err, { id: conn.id, remote: conn.remote, userId: conn.userId, role: conn.role });
    });
    conn.once('hello', () => {
      this.pending.delete(conn);
      const hello: ServerHello = { protocol: PROTOCOL_NAME, sessionId: conn.id, serverTime: Math.floor(this.clock()) };
      if (o.serverName !== undefined) hello.name = o.serverName;
      conn.send(encodeJsonFrame(FrameType.HELLO, hello));
      this.connections.add(conn);
      conn.startPinging(o.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS);
      this.emit('connection', conn);
    });
    // Leave the sets as soon as closing starts, so nothing is broadcast to or found on a closing connection.
    conn.onClosing = (): void => {
      this.closing.add(conn);
      this.pending.delete(conn);
      if (this.connections.delete(conn)) conn.once('close', (reason) => this.emit('disconnect', conn, reason));
    };
  }

  private checkHello(obj: JsonObject): ClientHello {
    const hello = validateClientHello(obj);
    if (this.tokenDigest) {
      // Compare digests so the time taken says nothing about the token.
      if (hello.token === undefined || !timingSafeEqual(digest(hello.token), this.tokenDigest)) {
        throw new ProtocolError('unauthorized', hello.token === undefined ? 'HELLO has no token and this server requires one' : 'HELLO token is wrong');
      }
    }
    return hello;
  }
}

// ---------------------------------------------------------------------------------------------

export interface StreamClientHello {
  userId: string;
  role: PeerRole;
  name?: string;
  token?: string;
  capabilities?: string[];
  profile?: JsonObject;
}

export interface StreamClientOptions {
  host?: string;
  port: number;
  hello: StreamClientHello;
  /** Reconnect after a failure or a disconnect (default true). */
  reconnect?: boolean;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  maxFrameBytes?: number;
  maxQueueBytes?: number;
  maxControlQueueBytes?: number;
  /** Time from starting a connection attempt to the server's HELLO (default 5000). */
  helloTimeoutMs?: number;
  /** PING the server this often (default 1000; 0 = off). */
  pingIntervalMs?: number;
  idleTimeoutMs?: number;
  clock?: () => number;
}

export interface StreamClientEvents {
  /** The server's HELLO arrived: `conn` is ready to send and receive. */
  connect: [conn: StreamConnection];
  /** A connection that had emitted 'connect' closed. `code` is set when the server sent ERROR. */
  disconnect: [info: { reason: string; code?: string }];
  /** An attempt failed before 'connect' (refused, timeout, ERROR such as unauthorized); a retry follows if reconnect is on. */
  connectError: [err: Error];
  /** The server's bytes were malformed; the connection closes (then 'disconnect' or 'connectError'). */
  protocolError: [err: ProtocolError];
}

/** Connects to a StreamServer, sends HELLO, and reconnects with exponential backoff and jitter. Never emits 'error'. */
export class StreamClient extends EventEmitter<StreamClientEvents> {
  /** The open connection, set when the server's HELLO arrives, cleared when it closes. */
  connection: StreamConnection | undefined;
  private readonly opts: StreamClientOptions;
  private attempt: StreamConnection | undefined;
  private started = false;
  private closed = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(opts: StreamClientOptions) {
    super();
    this.opts = opts;
  }

  /** Starts connecting (once). */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.connectNow();
  }

  /** Stops reconnecting and closes the connection; resolves once the socket is closed. */
  close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) { clearTimeout(this.retryTimer); this.retryTimer = undefined; }
    const conn = this.attempt;
    if (!conn) return Promise.resolve();
    return new Promise((resolve) => {
      conn.once('close', () => resolve());
      conn.close();
    });
  }

  private connectNow(): void {
    this.retryTimer = undefined;
    if (this.closed) return;
    const o = this.opts;
    const socket = net.connect({ host: o.host ?? '127.0.0.1', port: o.port });
    const conn = new StreamConnection(socket, {
      maxFrameBytes: o.maxFrameBytes,
      maxQueueBytes: o.maxQueueBytes,
      maxControlQueueBytes: o.maxControlQueueBytes,
      helloTimeoutMs: o.helloTimeoutMs,
      idleTimeoutMs: o.idleTimeoutMs,
      clock: o.clock,
    }, (obj) => validateServerHello(obj));
    // A client that announces "metadata-patch" applies the patches itself: its 'metadata' events carry full objects.
    if (o.hello.capabilities?.includes(METADATA_PATCH_CAPABILITY)) conn.metadataPatches = new MetadataPatchReceiver();
    this.attempt = conn;
    let connected = false;
    let failure: Error | undefined;
    let remoteCode: string | undefined;

    socket.once('connect', () => {
      const hello: ClientHello = { protocol: PROTOCOL_NAME, userId: o.hello.userId, role: o.hello.role };
      if (o.hello.name !== undefined) hello.name = o.hello.name;
      if (o.hello.token !== undefined) hello.token = o.hello.token;
      if (o.hello.capabilities !== undefined) hello.capabilities = o.hello.capabilities;
      if (o.hello.profile !== undefined) hello.profile = o.hello.profile;
      conn.send(encodeJsonFrame(FrameType.HELLO, hello));
    });
    socket.on('error', (err) => { failure ??= err; });
    conn.on('protocolError', (err) => {
      failure ??= err;
      this.emit('protocolError', err);
    });
    conn.on('error-frame', (e) => {
      remoteCode = e.code;
      failure ??= new ProtocolError(e.code as ProtocolError['code'], `server sent ERROR ${e.code}: ${e.message}`);
    });
    conn.once('hello', (hello) => {
      connected = true;
      this.failures = 0;
      conn.id = (hello as ServerHello).sessionId;
      this.connection = conn;
      conn.startPinging(o.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS);
      this.emit('connect', conn);
    });
    conn.onClosing = (): void => {
      if (this.connection === conn) this.connection = undefined;
    };
    conn.once('close', (reason) => {
      if (this.attempt === conn) this.attempt = undefined;
      if (connected) {
        this.emit('disconnect', remoteCode !== undefined ? { reason, code: remoteCode } : { reason });
      } else if (!this.closed) {
        this.emit('connectError', failure ?? new Error(`connection closed before the server's HELLO: ${reason}`));
      }
      this.scheduleRetry();
    });
  }

  private scheduleRetry(): void {
    if (this.closed || this.opts.reconnect === false) return;
    const min = this.opts.backoffMinMs ?? 200;
    const max = this.opts.backoffMaxMs ?? 5000;
    const base = Math.min(max, min * 2 ** Math.min(this.failures, 20));
    this.failures++;
    // ±25 % jitter so clients cut off together do not all come back in the same millisecond.
    const delay = Math.min(max, base * (0.75 + Math.random() * 0.5));
    this.retryTimer = setTimeout(() => this.connectNow(), delay);
  }
}

// streamproto1 over TCP or TLS: one StreamConnection per socket, a StreamServer (HELLO handshake, tokens, limits,
// broadcast) and a reconnecting StreamClient.
//
// TLS wraps the same StreamConnection around a tls.TLSSocket (a net.Socket subclass). UDP has its own link with the
// same surface (link.ts StreamLink; udp-server.ts). See docs/streamproto1.md,
// "Choices this project made".

import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { randomUUID } from 'node:crypto';
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
import { AddressCounts, AuthSlowdown, UsersList, addressKey, credentialRefusal, tokenDigest } from './auth';
import {
  AUTH_FAILURE_WINDOW_MS, AUTH_SLOWDOWN_MAX_MS, AUTH_SLOWDOWN_MIN_MS, AUTH_SLOWDOWN_TABLE_SIZE,
  checkServerLimits, createTransportStats, transportStats, type ServerLimits, type TransportStats,
} from './limits';
import { nowMicros } from '../clock';
import type { StreamLink } from './link';
import { wireText } from '../log-text';

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
  /**
   * A limit of `ConnectionLimits` was hit for the first time on this connection ('metadata_size', 'metadata_rate',
   * 'tracks_per_connection'): emitted once per name, however often the limit is hit afterwards (each hit is counted).
   */
  limit: [name: string];
}

/** Per-connection bounds on what the peer sends (a server applies its ServerLimits); absent = unbounded. */
export interface ConnectionLimits {
  /** An incoming METADATA payload larger than this is dropped. */
  maxMetadataBytes: number;
  /** Incoming METADATA frames per second (token bucket, burst twice this); more are dropped. */
  metadataPerSecond: number;
  /** Distinct AUDIO trackIds; frames of a further track are dropped. */
  maxTracks: number;
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
  /** Bounds on incoming METADATA and AUDIO tracks (a server's). */
  limits?: ConnectionLimits;
  /** Called on every limit hit (by name), e.g. to count it. */
  onLimit?: (name: string) => void;
}

/**
 * Validates the peer's HELLO or throws ProtocolError. A Promise holds the handshake (the socket is paused, frames
 * already read are dropped) until it settles: a server slowing down an address that failed to authenticate.
 */
type HelloCheck = (obj: JsonObject) => ClientHello | ServerHello | Promise<ClientHello | ServerHello>;
type State = 'handshake' | 'held' | 'open' | 'closing' | 'closed';

const LIMIT_METADATA_SIZE = 1;
const LIMIT_METADATA_RATE = 2;
const LIMIT_TRACKS = 4;

let nextLocalId = 1;

/**
 * One streamproto1 stream over a socket. Created by StreamServer and StreamClient; users get it
 * once the handshake is done. Answers PING with PONG itself. Listeners must not throw: an exception
 * from a listener propagates out of the socket's 'data' event like from any socket listener.
 */
export class StreamConnection extends EventEmitter<StreamConnectionEvents> implements StreamLink {
  /** streamproto1 over TCP (or TLS: `secure`). */
  readonly transport = 'tcp' as const;
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
  /** True on a TLS socket. */
  readonly secure: boolean;

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
  private isAuthenticated = false;
  private readonly limits: ConnectionLimits | undefined;
  private readonly onLimit: ((name: string) => void) | undefined;
  /** Bit set of the limits already reported by a 'limit' event. */
  private limitsSaid = 0;
  private metaTokens = 0;
  private metaRefillMs = 0;
  private readonly tracks: number[] = [];
  private lastTrackId = -1;

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
    this.secure = (socket as tls.TLSSocket).encrypted === true;
    this.limits = opts.limits;
    this.onLimit = opts.onLimit;
    if (this.limits) {
      this.metaTokens = 2 * this.limits.metadataPerSecond;
      this.metaRefillMs = performance.now();
    }

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
        if (this.state === 'handshake' || this.state === 'held') this.failWith(new ProtocolError('hello_timeout', `no HELLO within ${helloTimeoutMs} ms`));
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

  /** The peer's HELLO passed a token or users-list check (server side). */
  get authenticated(): boolean {
    return this.isAuthenticated;
  }

  /** @internal The server's HELLO check marks a connection whose credentials it verified. */
  markAuthenticated(): void {
    this.isAuthenticated = true;
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
    if (this.state === 'held' && type !== FrameType.ERROR) return;   // read before the socket paused; the peer must await our HELLO
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
        if (header.trackId !== this.lastTrackId && this.limits && !this.admitTrack(header.trackId)) return;
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
        if (this.limits && !this.admitMetadata(payload.length)) return;
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
        this.closeReason = `peer sent ERROR ${wireText(e.code, 40)}: ${wireText(e.message, 200)}`;
        this.emit('error-frame', e);
        this.close();
        return;
      }
      case FrameType.HELLO: {
        if (this.state !== 'handshake') {
          this.failWith(new ProtocolError('protocol', 'a second HELLO on an open connection'));
          return;
        }
        let hello: ClientHello | ServerHello | Promise<ClientHello | ServerHello>;
        try {
          const obj = decodeJsonPayload(payload, FrameType.HELLO) as JsonObject;
          hello = this.checkHello(obj);
        } catch (err) {
          this.helloFailed(err);
          return;
        }
        if (hello instanceof Promise) {
          // Held: the check decides later. The hold is the checker's to bound, so the HELLO timer stops here.
          this.state = 'held';
          if (this.helloTimer) { clearTimeout(this.helloTimer); this.helloTimer = undefined; }
          this.socket.pause();
          hello.then((h) => {
            if (this.state !== 'held') return;
            this.socket.resume();
            this.acceptHello(h);
          }, (err) => {
            if (this.state !== 'held') return;
            this.socket.resume();   // so the peer's FIN and reset are seen
            this.helloFailed(err);
          });
          return;
        }
        this.acceptHello(hello);
        return;
      }
    }
  };

  private helloFailed(err: unknown): void {
    // A check that threw something else (a bug, or a value that broke a check: a RangeError from a 20,000-deep HELLO)
    // closes this one connection like a bad HELLO; rethrown it would leave the socket's 'data' handler (or, for a held
    // HELLO, become an unhandled rejection) and take the whole hub down.
    if (!(err instanceof ProtocolError)) {
      const name = err instanceof Error ? err.name : typeof err;
      this.failWith(new ProtocolError('bad_hello', `HELLO could not be checked (${name})`));
      return;
    }
    this.failWith(err.code === 'bad_json' ? new ProtocolError('bad_hello', err.message) : err);
  }

  private acceptHello(hello: ClientHello | ServerHello): void {
    if (this.helloTimer) { clearTimeout(this.helloTimer); this.helloTimer = undefined; }
    this.hello = hello;
    this.state = 'open';
    this.emit('hello', hello);
  }

  private hitLimit(name: string, bit: number): void {
    this.onLimit?.(name);
    if ((this.limitsSaid & bit) !== 0) return;
    this.limitsSaid |= bit;
    this.emit('limit', name);
  }

  /** Size, then the token bucket; false = drop this METADATA frame. */
  private admitMetadata(bytes: number): boolean {
    const l = this.limits!;
    if (bytes > l.maxMetadataBytes) {
      this.hitLimit('metadata_size', LIMIT_METADATA_SIZE);
      return false;
    }
    const now = performance.now();
    const burst = 2 * l.metadataPerSecond;
    this.metaTokens = Math.min(burst, this.metaTokens + ((now - this.metaRefillMs) / 1000) * l.metadataPerSecond);
    this.metaRefillMs = now;
    if (this.metaTokens < 1) {
      this.hitLimit('metadata_rate', LIMIT_METADATA_RATE);
      return false;
    }
    this.metaTokens -= 1;
    return true;
  }

  /** A trackId other than the last frame's: known, or room for one more; false = drop this AUDIO frame. */
  private admitTrack(trackId: number): boolean {
    if (!this.tracks.includes(trackId)) {
      if (this.tracks.length >= this.limits!.maxTracks) {
        this.hitLimit('tracks_per_connection', LIMIT_TRACKS);
        return false;
      }
      this.tracks.push(trackId);
    }
    this.lastTrackId = trackId;
    return true;
  }

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
  /** When set, a client's HELLO carrying this token is accepted (whatever its userId). */
  token?: string;
  /** Per-user tokens: a HELLO carrying its own userId's token (and a role the entry allows) is accepted. */
  users?: UsersList;
  /** Present = a TLS server (cert, key; ca + requestCert + rejectUnauthorized to require client certificates). */
  tls?: tls.TlsOptions;
  /** Limits of what clients may use (checkServerLimits; unset fields take DEFAULT_SERVER_LIMITS). */
  limits?: Partial<ServerLimits>;
  maxFrameBytes?: number;
  maxQueueBytes?: number;
  maxControlQueueBytes?: number;
  /** Same as limits.helloTimeoutMs (which wins when both are set). */
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
  /**
   * A limit was hit (a transportStats name). Per-connection limits ('metadata_size', 'metadata_rate',
   * 'tracks_per_connection') are emitted at most once per connection and name; server-wide ones ('connections',
   * 'pending_handshakes', 'connections_per_address', 'auth_slowdown', 'tls_handshake') at most once a minute per
   * name. Every hit is counted in `stats` and `transportStats` whether or not it is emitted.
   */
  limit: [name: string, info: ConnectionInfo];
  /** The listening socket failed after listen() resolved (never 'error': no listener must crash nothing). */
  serverError: [err: Error];
}

/** How often a server-wide limit may be emitted as a 'limit' event (per name). */
const SERVER_LIMIT_EVENT_MS = 60_000;

/** ERROR codes of a refused HELLO -> the counter they add to. */
const REFUSAL_STAT: Partial<Record<string, string>> = {
  bad_hello: 'bad_hello',
  hello_timeout: 'hello_timeout',
  unauthorized: 'unauthorized',
  user_in_use: 'user_in_use',
  too_many_connections: 'connections_per_address',
};

/** An accepted socket that has not completed HELLO: in TLS handshake (conn undefined) or awaiting/holding the HELLO. */
interface Pending {
  raw: net.Socket;
  /** performance.now() at accept. */
  at: number;
  conn: StreamConnection | undefined;
  /** TLS only: closes a socket whose handshake does not finish within helloTimeoutMs. */
  timer: NodeJS.Timeout | undefined;
}

function remoteOf(socket: net.Socket): string {
  const a = socket.remoteAddress;
  if (a === undefined) return 'unconnected';
  return `${a.includes(':') ? `[${a}]` : a}:${socket.remotePort}`;
}

/** Accepts streamproto1 clients on TCP (or TLS); one StreamConnection per client. */
export class StreamServer extends EventEmitter<StreamServerEvents> {
  /** Connections that completed the HELLO handshake and have not started closing. */
  readonly connections = new Set<StreamConnection>();
  /** This server's counters of limits hit and refusals (the same names as transportStats, which counts them too). */
  readonly stats: TransportStats = createTransportStats();
  /** The limits in force (options.limits over DEFAULT_SERVER_LIMITS). */
  readonly limits: Readonly<ServerLimits>;
  /** Accepted sockets before HELLO, oldest first. */
  private readonly pending = new Map<net.Socket, Pending>();
  /** Closing but not yet closed; close() waits for these too. */
  private readonly closing = new Set<StreamConnection>();
  private readonly byUser = new Map<string, StreamConnection>();
  private readonly perAddress = new AddressCounts();
  private readonly slowdown: AuthSlowdown;
  /** Raw sockets this server destroyed itself (a TLS error that follows is not a handshake failure). */
  private readonly dropped = new WeakSet<net.Socket>();
  private readonly serverLimitSaidAt = new Map<string, number>();
  private readonly opts: StreamServerOptions;
  private readonly tokenDigest: Buffer | undefined;
  private readonly users: UsersList | undefined;
  private readonly server: net.Server;
  private readonly clock: () => number;
  private readonly connLimits: ConnectionLimits;
  private readonly onConnLimit: (name: string) => void;
  private bound: { host: string; port: number } | undefined;

  /** Throws an Error naming the option for a bad limit or users value. */
  constructor(opts: StreamServerOptions = {}) {
    super();
    this.opts = opts;
    this.clock = opts.clock ?? defaultClockMicros;
    const partial = opts.limits ?? {};
    this.limits = Object.freeze(checkServerLimits(opts.helloTimeoutMs !== undefined && partial.helloTimeoutMs === undefined
      ? { ...partial, helloTimeoutMs: opts.helloTimeoutMs } : partial));
    if (opts.users !== undefined && !(opts.users instanceof UsersList)) throw new Error('users: must be a UsersList (UsersList.parse or UsersList.fromFile)');
    if (opts.token !== undefined && (typeof opts.token !== 'string' || opts.token === '')) throw new Error('token: must be a non-empty string');
    this.users = opts.users;
    this.tokenDigest = opts.token !== undefined ? tokenDigest(opts.token) : undefined;
    this.connLimits = {
      maxMetadataBytes: this.limits.maxMetadataBytes,
      metadataPerSecond: this.limits.metadataPerSecond,
      maxTracks: this.limits.maxTracksPerConnection,
    };
    this.onConnLimit = (name) => this.count(name);
    this.slowdown = new AuthSlowdown({
      failuresBeforeSlowdown: this.limits.authFailuresBeforeSlowdown, windowMs: AUTH_FAILURE_WINDOW_MS,
      minDelayMs: AUTH_SLOWDOWN_MIN_MS, maxDelayMs: AUTH_SLOWDOWN_MAX_MS, tableSize: AUTH_SLOWDOWN_TABLE_SIZE,
      now: () => performance.now(),
    });

    if (opts.tls) {
      const helloMs = this.limits.helloTimeoutMs;
      // Our own per-socket timer closes a stalled handshake at helloTimeoutMs; Node's is only a backstop.
      const server = tls.createServer({ ...opts.tls, handshakeTimeout: helloMs > 0 ? helloMs + 1000 : 120_000 });
      // Before the TLS wrapper's own listener, so the pending-handshake bound applies from accept.
      server.prependListener('connection', (raw: net.Socket) => this.onAccept(raw));
      server.on('secureConnection', (socket: tls.TLSSocket) => this.onSecure(socket));
      server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => this.onTlsError(err, socket));
      this.server = server;
    } else {
      this.server = net.createServer((socket) => {
        const p = this.onAccept(socket);
        if (p) this.startConnection(socket, p, this.limits.helloTimeoutMs);
      });
    }
    // Refused at accept by Node itself (the handle is closed before any socket exists), counted here.
    this.server.maxConnections = this.limits.maxConnections;
    this.server.on('drop', (data?: net.DropArgument) => {
      const a = data?.remoteAddress;
      this.count('connections', a !== undefined ? `${a.includes(':') ? `[${a}]` : a}:${data?.remotePort}` : 'unknown');
    });
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

  /** True for a TLS server. */
  get secure(): boolean {
    return this.opts.tls !== undefined;
  }

  /** Accepted sockets that have not completed HELLO (TLS handshakes included). */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Sends one encoded frame to every connection; returns how many queued it (audio may be dropped per connection). */
  broadcast(frame: Buffer): number {
    let n = 0;
    for (const c of this.connections) if (c.send(frame)) n++;
    return n;
  }

  /** The open connection whose HELLO had this userId (a userId has one open connection at a time). */
  findByUserId(userId: string): StreamConnection | undefined {
    return this.byUser.get(userId);
  }

  /** Closes every connection and the listening socket; resolves when all are closed. */
  async close(): Promise<void> {
    const handshaking: net.Socket[] = [];
    const conns: StreamConnection[] = [...this.connections, ...this.closing];
    for (const p of this.pending.values()) {
      if (p.conn) conns.push(p.conn); else handshaking.push(p.raw);
    }
    // None of these has emitted 'close' yet (they leave `closing` on it).
    const closed = conns.map((c) => new Promise<void>((resolve) => c.once('close', () => resolve())));
    for (const raw of handshaking) {
      if (raw.destroyed) continue;
      closed.push(new Promise<void>((resolve) => raw.once('close', () => resolve())));
    }
    const serverClosed = new Promise<void>((resolve) => {
      if (!this.server.listening) { resolve(); return; }
      this.server.close(() => resolve());
    });
    for (const c of conns) c.close();
    for (const raw of handshaking) this.drop(raw);
    await Promise.all([...closed, serverClosed]);
    this.bound = undefined;
  }

  /** Counts a limit hit (here and process-wide); server-wide ones are also emitted, at most once a minute per name. */
  private count(name: string, remote?: string): void {
    this.stats.count(name);
    transportStats.count(name);
    if (remote === undefined) return;
    const now = performance.now();
    const last = this.serverLimitSaidAt.get(name);
    if (last !== undefined && now - last < SERVER_LIMIT_EVENT_MS) return;
    this.serverLimitSaidAt.set(name, now);
    this.emit('limit', name, { id: '', remote, userId: undefined, role: undefined });
  }

  private drop(raw: net.Socket): void {
    this.dropped.add(raw);
    raw.destroy();
  }

  /** A new socket: the pending-handshake bound (the oldest pending one goes), then tracked until its HELLO. */
  private onAccept(raw: net.Socket): Pending | undefined {
    raw.on('error', () => { /* reported by the connection, or a refused/failed handshake */ });
    if (this.pending.size >= this.limits.maxPendingHandshakes) {
      const oldest = this.pending.values().next().value as Pending;
      this.pending.delete(oldest.raw);
      if (oldest.timer) clearTimeout(oldest.timer);
      this.count('pending_handshakes', remoteOf(oldest.raw));
      if (oldest.conn) oldest.conn.close('too_many_connections', 'too many connections awaiting their HELLO: the oldest is closed');
      else this.drop(oldest.raw);
    }
    const p: Pending = { raw, at: performance.now(), conn: undefined, timer: undefined };
    this.pending.set(raw, p);
    raw.once('close', () => {
      if (p.timer) clearTimeout(p.timer);
      if (this.pending.get(raw) === p) this.pending.delete(raw);
    });
    if (this.opts.tls && this.limits.helloTimeoutMs > 0) {
      // TLS handshake time counts toward the HELLO timeout: a client stalling the handshake is closed too.
      p.timer = setTimeout(() => {
        p.timer = undefined;
        if (p.conn || this.pending.get(raw) !== p) return;
        this.pending.delete(raw);
        this.count('hello_timeout');
        this.drop(raw);
      }, this.limits.helloTimeoutMs);
      p.timer.unref();
    }
    return p;
  }

  private onSecure(socket: tls.TLSSocket): void {
    const raw = (socket as unknown as { _parent?: net.Socket })._parent ?? socket;
    const p = this.pending.get(raw);
    if (!p || p.conn) { socket.destroy(); return; }
    if (p.timer) { clearTimeout(p.timer); p.timer = undefined; }
    let helloMs = this.limits.helloTimeoutMs;
    if (helloMs > 0) {
      helloMs = Math.ceil(helloMs - (performance.now() - p.at));
      if (helloMs <= 0) {
        this.pending.delete(raw);
        this.count('hello_timeout');
        this.drop(raw);
        socket.destroy();
        return;
      }
    }
    this.startConnection(socket, p, helloMs);
  }

  private onTlsError(_err: Error, socket: tls.TLSSocket): void {
    const raw = (socket as unknown as { _parent?: net.Socket })._parent;
    if (!(raw && this.dropped.has(raw))) this.count('tls_handshake', remoteOf(socket));
    if (raw) this.pending.delete(raw);
    socket.destroy();
  }

  private startConnection(socket: net.Socket, p: Pending, helloTimeoutMs: number): void {
    const o = this.opts;
    const conn: StreamConnection = new StreamConnection(socket, {
      maxFrameBytes: o.maxFrameBytes,
      maxQueueBytes: o.maxQueueBytes,
      maxControlQueueBytes: o.maxControlQueueBytes,
      helloTimeoutMs,
      idleTimeoutMs: o.idleTimeoutMs,
      clock: o.clock,
      limits: this.connLimits,
      onLimit: this.onConnLimit,
    }, (obj) => this.checkHello(obj, conn, false), randomUUID());
    p.conn = conn;
    const info = (): ConnectionInfo => ({ id: conn.id, remote: conn.remote, userId: conn.userId, role: conn.role });
    conn.once('close', () => this.closing.delete(conn));
    conn.on('protocolError', (err) => {
      if (conn.hello === undefined) {
        const stat = REFUSAL_STAT[err.code];
        if (stat) this.count(stat, stat === 'connections_per_address' ? conn.remote : undefined);
      }
      this.emit('protocolError', err, info());
    });
    conn.on('limit', (name) => this.emit('limit', name, info()));
    conn.once('hello', () => {
      this.pending.delete(p.raw);
      const hello: ServerHello = { protocol: PROTOCOL_NAME, sessionId: conn.id, serverTime: Math.floor(this.clock()) };
      if (o.serverName !== undefined) hello.name = o.serverName;
      conn.send(encodeJsonFrame(FrameType.HELLO, hello));
      this.connections.add(conn);
      const userId = conn.userId!;
      const ip = addressKey(socket.remoteAddress);
      this.byUser.get(userId)?.close('replaced', 'replaced by a newer authenticated connection of the same userId');
      this.byUser.set(userId, conn);
      this.perAddress.add(ip);
      conn.once('close', () => this.perAddress.remove(ip));
      conn.startPinging(o.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS);
      this.emit('connection', conn);
    });
    // Leave the sets as soon as closing starts, so nothing is broadcast to or found on a closing connection.
    conn.onClosing = (): void => {
      this.closing.add(conn);
      if (this.pending.get(p.raw) === p) this.pending.delete(p.raw);
      const userId = conn.userId;
      if (userId !== undefined && this.byUser.get(userId) === conn) this.byUser.delete(userId);
      if (this.connections.delete(conn)) conn.once('close', (reason) => this.emit('disconnect', conn, reason));
    };
  }

  /**
   * The HELLO check, in order: shape and bounds (bad_hello); the slow-down of an address with recent failures (the
   * HELLO is held, then checked); credentials (unauthorized); connections per address (too_many_connections); the
   * userId in use (user_in_use without credentials; with them the newcomer replaces the old connection on accept).
   */
  private checkHello(obj: JsonObject, conn: StreamConnection, held: boolean): ClientHello | Promise<ClientHello> {
    const hello = validateClientHello(obj);
    const ip = addressKey(conn.socket.remoteAddress);
    const credentials = this.tokenDigest !== undefined || this.users !== undefined;
    if (credentials) {
      const delay = held ? 0 : this.slowdown.delayMs(ip);
      if (delay > 0) {
        this.count('auth_slowdown', conn.remote);
        return new Promise<ClientHello>((resolve, reject) => {
          const t = setTimeout(() => {
            try { resolve(this.checkHello(obj, conn, true) as ClientHello); } catch (err) { reject(err); }
          }, delay);
          t.unref();
        });
      }
      const refusal = this.checkCredentials(hello);
      if (refusal !== undefined) {
        this.slowdown.failed(ip);
        throw new ProtocolError('unauthorized', refusal);
      }
      this.slowdown.succeeded(ip);
      conn.markAuthenticated();
    }
    const holder = this.byUser.get(hello.userId);
    // An authenticated newcomer replacing its own connection from the same address does not add one.
    const replacing = credentials && holder !== undefined && addressKey(holder.socket.remoteAddress) === ip ? 1 : 0;
    if (this.perAddress.of(ip) - replacing >= this.limits.maxConnectionsPerAddress) {
      throw new ProtocolError('too_many_connections', `this address already has ${this.limits.maxConnectionsPerAddress} connections (limits.maxConnectionsPerAddress)`);
    }
    if (holder && !credentials) {
      throw new ProtocolError('user_in_use', `userId ${wireText(hello.userId)} is in use by another connection`);
    }
    return hello;
  }

  /** undefined = accepted; else the ERROR message (never echoing the token). */
  private checkCredentials(hello: ClientHello): string | undefined {
    return credentialRefusal(hello, this.tokenDigest, this.users);
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

/** TLS for a StreamClient: verify the server by CA (`ca`, else the system's) or by a pinned certificate fingerprint. */
export interface StreamClientTlsOptions {
  /** CA certificate(s) that signed the server's certificate (PEM). */
  ca?: string | Buffer;
  /** Client certificate and key (PEM), for a server that requires one. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Passphrase of an encrypted client key. */
  passphrase?: string;
  /**
   * The server certificate's SHA-256 fingerprint ("AB:CD:…" or plain hex, any case). When set, it replaces the CA
   * and hostname checks: the certificate must be exactly this one.
   */
  fingerprint256?: string;
  /** SNI name and the name the certificate must carry (default: `host` when it is a name, not an IP). */
  servername?: string;
  /** Refuse a server certificate the CA check fails (default true; ignored when pinned). */
  rejectUnauthorized?: boolean;
}

/** "AB:CD:…" (upper case, colons) from either form; throws naming the field for anything but 32 hex bytes. */
export function normalizeFingerprint256(fp: string, field = 'tls.fingerprint256'): string {
  const hex = typeof fp === 'string' ? fp.replace(/[:\s]/g, '').toUpperCase() : '';
  if (!/^[0-9A-F]{64}$/.test(hex)) throw new Error(`${field}: must be a SHA-256 fingerprint, 64 hex digits ("AB:CD:…" or plain), got ${wireText(fp, 100)}`);
  return hex.replace(/(..)(?!$)/g, '$1:');
}

export interface StreamClientOptions {
  host?: string;
  port: number;
  hello: StreamClientHello;
  /** Present = connect with TLS. */
  tls?: StreamClientTlsOptions;
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
  /**
   * A connection that had emitted 'connect' closed. `code` is set when the server sent ERROR. After code 'replaced'
   * (a newer connection of the same userId took over) the client does not reconnect.
   */
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
  private readonly pinned: string | undefined;

  /** Throws an Error naming the option for a malformed tls.fingerprint256. */
  constructor(opts: StreamClientOptions) {
    super();
    this.opts = opts;
    this.pinned = opts.tls?.fingerprint256 !== undefined ? normalizeFingerprint256(opts.tls.fingerprint256) : undefined;
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
    const host = o.host ?? '127.0.0.1';
    const socket = o.tls ? this.connectTls(host) : net.connect({ host, port: o.port });
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

    socket.once(o.tls ? 'secureConnect' : 'connect', () => {
      if (this.pinned !== undefined) {
        const fp = (socket as tls.TLSSocket).getPeerCertificate().fingerprint256;
        if (fp === undefined || fp.toUpperCase() !== this.pinned) {
          failure ??= new Error(`TLS: server certificate fingerprint ${fp ?? '(none)'} does not match the pinned ${this.pinned}`);
          socket.destroy();
          return;
        }
      }
      const hello: ClientHello = { protocol: PROTOCOL_NAME, userId: o.hello.userId, role: o.hello.role };
      if (o.hello.name !== undefined) hello.name = o.hello.name;
      if (o.hello.token !== undefined) hello.token = o.hello.token;
      if (o.hello.capabilities !== undefined) hello.capabilities = o.hello.capabilities;
      if (o.hello.profile !== undefined) hello.profile = o.hello.profile;
      conn.send(encodeJsonFrame(FrameType.HELLO, hello));
    });
    socket.on('error', (err) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (!o.tls || conn.hello !== undefined || /^E[A-Z]+$/.test(code ?? '')) { failure ??= err; return; }
      // A certificate or handshake failure (before the server's HELLO): say it is TLS and keep the code.
      // OpenSSL's messages are "8093…:error:0A00045C:SSL routines:…:tlsv13 alert certificate required:…": its reason reads better.
      const reason = (err as { reason?: unknown }).reason;
      const text = typeof reason === 'string' && reason !== '' ? reason : err.message;
      failure ??= Object.assign(new Error(`TLS with ${host}:${o.port}: ${text}${code && !text.includes(code) ? ` (${code})` : ''}`), { code });
    });
    conn.on('protocolError', (err) => {
      failure ??= err;
      this.emit('protocolError', err);
    });
    conn.on('error-frame', (e) => {
      remoteCode = e.code;
      failure ??= new ProtocolError(e.code as ProtocolError['code'], `server sent ERROR ${wireText(e.code, 40)}: ${wireText(e.message, 200)}`);
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
      // Replaced: another connection of this user took over. Reconnecting would only knock it off in turn (two
      // clients with the same credentials would take turns forever), so this client stops.
      if (connected && remoteCode === 'replaced') return;
      this.scheduleRetry();
    });
  }

  private connectTls(host: string): tls.TLSSocket {
    const t = this.opts.tls!;
    const options: tls.ConnectionOptions = { host, port: this.opts.port, ca: t.ca, cert: t.cert, key: t.key, passphrase: t.passphrase };
    const servername = t.servername ?? (net.isIP(host) === 0 ? host : undefined);
    if (servername !== undefined) options.servername = servername;
    // Pinned: the pin replaces the CA and hostname checks; it is compared on 'secureConnect', before HELLO.
    options.rejectUnauthorized = this.pinned !== undefined ? false : t.rejectUnauthorized ?? true;
    return tls.connect(options);
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

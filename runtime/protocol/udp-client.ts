// streamproto1 over UDP, the sender's (client's) end: one connected dgram socket to one receiver, HELLO at start and
// every helloIntervalMs (UdpClientSession), a link per accepted session. Shaped like the TCP StreamClient: 'connect'
// with a link once the first HELLO-ack arrives, 'disconnect' when the link ends, 'connectError' for a refusal (said
// once per distinct refusal), and the link has the StreamConnection surface (send, sendAudio, sendMetadata, sendQos,
// ping, close; events audio, metadata, qos, pong, protocolError, close) so the socket nodes take it unchanged.
//
// The socket is connected (socket.connect): a send does no dns.lookup, and only the receiver's datagrams arrive.

import { EventEmitter } from 'node:events';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  AUDIO_HEADER_BYTES, FRAME_HEADER_BYTES, FrameType, ProtocolError, encodeAudioFrame, encodeErrorFrame, encodeJsonFrame,
  type AudioHeader, type ErrorPayload, type JsonObject, type PeerRole, type QOSMetrics, type ServerHello,
} from './frame';
import type { StreamLink } from './link';
import { METADATA_PATCH_CAPABILITY, MetadataPatchReceiver } from './merge-patch';
import type { ConnectionCounters, StreamClientHello, StreamConnectionEvents } from './transport';
import { DEFAULT_UDP_CLIENT_HELLO_INTERVAL_MS, DEFAULT_UDP_IDLE_TIMEOUT_MS, MAX_UDP_DATAGRAM_BYTES, UdpClientSession } from './udp-sessions';
import { nowMicros } from '../clock';
import { wireText } from '../log-text';

export const DEFAULT_UDP_PING_INTERVAL_MS = 1000;
/** Until the first HELLO-ack, HELLO is repeated this often (a lost first HELLO costs this, not a whole refresh period). */
const FIRST_HELLO_RETRY_MS = 250;

export interface UdpStreamClientOptions {
  host?: string;
  port: number;
  hello: StreamClientHello;
  /** HELLO refresh period, 100 … 5000 ms; default 2000. */
  helloIntervalMs?: number;
  /** PING the receiver this often for the round-trip time (default 1000; 0 = off). */
  pingIntervalMs?: number;
  /** The link ends ('disconnect') when nothing arrived from the receiver for this long (default 15000; 0 = never); HELLOs go on. */
  idleTimeoutMs?: number;
  /** Local address and port to bind (default: any port on the address family of `host`). */
  localAddress?: string;
  localPort?: number;
  /** µs since the Unix epoch (PING t0, PONG times); default runtime/clock.ts nowMicros. */
  clock?: () => number;
}

/**
 * A link's events: a StreamConnection's (its 'hello' and 'limit' never come on a client link). 'audio' data is a
 * subarray of its own datagram: safe to keep and to pass on in a message. 'protocolError': a datagram from the
 * receiver was malformed — dropped and counted, never a close on UDP. 'close': the link ended, once.
 */
export type UdpLinkEvents = StreamConnectionEvents;

/**
 * One accepted UDP session, seen from the sender: the StreamConnection surface (nodes/lib/connections.ts, the
 * StreamSender and the socket nodes use it as they use a TCP connection). `id` is the receiver's sessionId.
 */
export class UdpClientLink extends EventEmitter<UdpLinkEvents> implements StreamLink {
  readonly transport = 'udp' as const;
  readonly secure = false;
  /** Client side: the receiver's userId and role are not known (as on a TCP client connection). */
  readonly userId: string | undefined = undefined;
  readonly role: PeerRole | undefined = undefined;
  readonly authenticated = false;
  readonly connectedAt = Date.now();
  readonly counters: ConnectionCounters = {
    framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, audioDropped: 0, qosDropped: 0, protocolErrors: 0,
  };
  rttMs: number | undefined;
  clockOffsetMs: number | undefined;
  closeReason: string | undefined;
  /** @internal set when the client's HELLO announced "metadata-patch". */
  metadataPatches: MetadataPatchReceiver | undefined;
  private open = true;

  /** @internal UdpStreamClient makes links. */
  constructor(readonly id: string, public hello: ServerHello, readonly remote: string, private readonly client: UdpStreamClient) {
    super();
  }

  get isOpen(): boolean {
    return this.open;
  }

  /**
   * Sends one encoded frame as one datagram. False after the link closed. A frame larger than a UDP datagram (65507
   * bytes) is refused with an Error saying so (one frame per datagram, never split).
   */
  send(frame: Buffer): boolean {
    if (!this.open) return false;
    if (!this.client.sendDatagram(frame)) return false;
    this.counters.framesOut++;
    this.counters.bytesOut += frame.length;
    return true;
  }

  sendAudio(h: AudioHeader, data: Buffer): boolean {
    if (!this.open) return false;
    checkDatagramSize(FRAME_HEADER_BYTES + AUDIO_HEADER_BYTES + data.length, 'AUDIO');
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
    return this.send(this.client.session.ping());
  }

  /**
   * Ends the link and stops its client (as closing a TCP client connection ends it): with `errCode`, sends ERROR
   * {code, message} first, which ends the receiver's session at once (else it ends at its idle timeout).
   */
  close(errCode?: string, message?: string): void {
    if (!this.open) return;
    if (errCode !== undefined) {
      this.client.sendDatagram(encodeErrorFrame(errCode, message ?? errCode));
      this.closeReason ??= `${errCode}: ${message ?? errCode}`;
    }
    void this.client.close(this.closeReason ?? 'closed locally');
  }

  /** @internal */
  end(reason: string): void {
    if (!this.open) return;
    this.open = false;
    this.closeReason ??= reason;
    this.emit('close', this.closeReason);
  }
}

export interface UdpStreamClientEvents {
  /** The first HELLO-ack of a session arrived: `link` is ready to send and receive. Again after the receiver forgot us (a new sessionId). */
  connect: [link: UdpClientLink];
  /** A link that had emitted 'connect' ended (`code` when the receiver sent ERROR); HELLOs go on and a new link may follow. */
  disconnect: [info: { reason: string; code?: string }];
  /** The receiver refused our HELLO (ERROR unauthorized, …): said once until the refusal changes or a session opens. */
  connectError: [err: Error & { code?: string }];
  /** A datagram from the receiver was malformed (dropped and counted). */
  protocolError: [err: ProtocolError];
}

/** Throws a RangeError when a frame of `bytes` cannot be one UDP datagram. */
function checkDatagramSize(bytes: number, what: string): void {
  if (bytes > MAX_UDP_DATAGRAM_BYTES) {
    throw new RangeError(`${what} frame of ${bytes} bytes is larger than the largest UDP datagram (${MAX_UDP_DATAGRAM_BYTES} bytes): one frame per datagram, send smaller frames`);
  }
}

/** The sender side of streamproto1 over UDP (see the file head). Never emits 'error'. */
export class UdpStreamClient extends EventEmitter<UdpStreamClientEvents> {
  /** The open link, set at the first HELLO-ack of a session, cleared when it ends. */
  connection: UdpClientLink | undefined;
  /** @internal */
  readonly session: UdpClientSession;
  readonly host: string;
  readonly port: number;
  /** Datagrams the receiver sent that were dropped (malformed), and send errors (e.g. ECONNREFUSED while nothing listens). */
  readonly stats = { datagramsIn: 0, datagramsOut: 0, dropped: 0, sendErrors: 0, helloes: 0, refusals: 0 };
  private readonly opts: UdpStreamClientOptions;
  private socket: dgram.Socket | undefined;
  private connected = false;
  private closed = false;
  private started = false;
  private helloTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private lastRxMs = 0;
  private lastRefusal = '';
  private closedPromise: Promise<void> | undefined;
  private readonly idleTimeoutMs: number;
  private readonly pingIntervalMs: number;
  private readonly remoteText: string;
  /** One callback for every send (no closure per datagram). */
  private readonly onSent = (err: Error | null): void => {
    if (err) this.stats.sendErrors++;
  };

  /** Throws an Error naming the option for a bad one (the HELLO is checked as the receiver will). */
  constructor(opts: UdpStreamClientOptions) {
    super();
    this.opts = opts;
    this.host = opts.host ?? '127.0.0.1';
    if (!(Number.isInteger(opts.port) && opts.port >= 1 && opts.port <= 65535)) throw new Error(`port: must be 1 … 65535, got ${String(opts.port)}`);
    this.port = opts.port;
    this.session = new UdpClientSession({ hello: opts.hello, helloIntervalMs: opts.helloIntervalMs ?? DEFAULT_UDP_CLIENT_HELLO_INTERVAL_MS, clock: opts.clock ?? nowMicros });
    const idle = opts.idleTimeoutMs ?? DEFAULT_UDP_IDLE_TIMEOUT_MS;
    if (!(typeof idle === 'number' && idle >= 0)) throw new Error(`idleTimeoutMs: must be a number ≥ 0, got ${String(idle)}`);
    this.idleTimeoutMs = idle;
    const ping = opts.pingIntervalMs ?? DEFAULT_UDP_PING_INTERVAL_MS;
    if (!(typeof ping === 'number' && ping >= 0)) throw new Error(`pingIntervalMs: must be a number ≥ 0, got ${String(ping)}`);
    this.pingIntervalMs = ping;
    this.remoteText = `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** The local port once bound (0 before). */
  get localPort(): number {
    try { return this.socket?.address().port ?? 0; } catch { return 0; }
  }

  /** Binds, connects the socket to the receiver and sends the first HELLO (once). */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    const family = net.isIPv6(this.host) ? 'udp6' : 'udp4';
    const socket = (this.socket = dgram.createSocket({ type: family }));
    socket.on('message', this.onMessage);
    // ICMP "port unreachable" for a connected socket arrives as an error: nothing listens yet; HELLOs go on.
    socket.on('error', () => { this.stats.sendErrors++; });
    socket.bind({ address: this.opts.localAddress, port: this.opts.localPort ?? 0 }, () => {
      if (this.closed) return;
      socket.connect(this.port, this.host, () => {
        if (this.closed) return;
        this.connected = true;
        this.lastRxMs = performance.now();
        this.tick();
      });
    });
  }

  /** Ends the link (if any) and closes the socket; resolves once it is closed. */
  close(reason = 'closed locally'): Promise<void> {
    if (this.closedPromise) return this.closedPromise;
    this.closed = true;
    if (this.helloTimer) { clearTimeout(this.helloTimer); this.helloTimer = undefined; }
    this.stopPinging();
    this.endLink(reason);
    const s = this.socket;
    this.closedPromise = s === undefined ? Promise.resolve() : new Promise<void>((resolve) => {
      try { s.close(() => resolve()); } catch { resolve(); }
    });
    return this.closedPromise;
  }

  /** @internal one datagram to the receiver; false when the socket is not connected (yet, or any more). */
  sendDatagram(frame: Buffer): boolean {
    if (!this.connected || this.closed || this.socket === undefined) return false;
    checkDatagramSize(frame.length, frameName(frame[3]));
    this.socket.send(frame, this.onSent);
    this.stats.datagramsOut++;
    return true;
  }

  /** HELLO when due, the idle check; re-armed for the next HELLO. */
  private tick = (): void => {
    this.helloTimer = undefined;
    if (this.closed) return;
    const now = performance.now();
    if (this.connection !== undefined && this.idleTimeoutMs > 0 && now - this.lastRxMs > this.idleTimeoutMs) {
      this.endLink(`nothing received from ${this.remoteText} for ${this.idleTimeoutMs} ms`);
    }
    const hello = this.session.poll(now);
    if (hello !== undefined) {
      this.sendDatagram(hello);
      this.stats.helloes++;
    }
    // Before the first HELLO-ack (and while not refused), repeat soon: a lost first HELLO costs 250 ms, not a refresh period.
    const unanswered = this.connection === undefined && this.session.refused === undefined;
    if (unanswered) this.session.helloDueNow();
    this.helloTimer = setTimeout(this.tick, unanswered ? FIRST_HELLO_RETRY_MS : this.session.helloIntervalMs);
  };

  private readonly onMessage = (datagram: Buffer): void => {
    if (this.closed) return;
    this.stats.datagramsIn++;
    this.lastRxMs = performance.now();
    const r = this.session.handle(datagram);
    const link = this.connection;
    if (link !== undefined) {
      link.counters.framesIn++;
      link.counters.bytesIn += datagram.length;
    }
    switch (r.kind) {
      case 'audio':
        link?.emit('audio', r.header!, r.data!);
        return;
      case 'hello-ack': {
        const hello = r.hello!;
        if (link !== undefined && link.id === hello.sessionId) { link.hello = hello; return; }
        // A new session: the receiver forgot the old one (restart, idle timeout, eviction) or this is the first.
        if (link !== undefined) this.endLink(`the receiver opened a new session (${wireText(hello.sessionId, 60)})`);
        this.lastRefusal = '';
        const nl = new UdpClientLink(hello.sessionId, hello, this.remoteText, this);
        if (this.opts.hello.capabilities?.includes(METADATA_PATCH_CAPABILITY)) nl.metadataPatches = new MetadataPatchReceiver();
        this.connection = nl;
        this.startPinging();
        this.emit('connect', nl);
        return;
      }
      case 'error-frame': {
        const e = r.json as unknown as ErrorPayload;
        const code = wireText(e.code, 40);
        const text = `receiver sent ERROR ${code}: ${wireText(e.message, 200)}`;
        if (link !== undefined) {
          link.emit('error-frame', e);
          this.endLink(text, e.code);
        }
        this.stats.refusals++;
        if (text !== this.lastRefusal) {
          this.lastRefusal = text;
          this.emit('connectError', Object.assign(new ProtocolError(e.code as ProtocolError['code'], text), { code: e.code }));
        }
        return;
      }
      case 'metadata': {
        if (link === undefined) return;
        let obj = r.json as JsonObject;
        try {
          if (link.metadataPatches) obj = link.metadataPatches.receive(obj);
        } catch (err) {
          this.dropped(link, err instanceof ProtocolError ? err : new ProtocolError('bad_json', (err as Error).message));
          return;
        }
        link.emit('metadata', obj);
        return;
      }
      case 'qos': {
        const q = r.json!;
        if (link === undefined || (Array.isArray(q) && q.length === 0)) return;
        link.emit('qos', q as unknown as QOSMetrics | QOSMetrics[]);
        return;
      }
      case 'pong':
        if (link === undefined) return;
        link.rttMs = r.pong!.rttMs;
        link.clockOffsetMs = r.pong!.offsetMs;
        link.emit('pong', r.pong!);
        return;
      case 'ping':
        if (r.reply !== undefined) this.sendDatagram(r.reply);
        return;
      case 'drop':
        this.dropped(link, new ProtocolError(r.reason as ProtocolError['code'], r.message ?? r.reason ?? 'malformed datagram'));
        return;
    }
  };

  private dropped(link: UdpClientLink | undefined, err: ProtocolError): void {
    this.stats.dropped++;
    if (link !== undefined) {
      link.counters.protocolErrors++;
      link.emit('protocolError', err);
    }
    this.emit('protocolError', err);
  }

  private endLink(reason: string, code?: string): void {
    const link = this.connection;
    if (link === undefined) return;
    this.connection = undefined;
    this.stopPinging();
    link.end(reason);
    this.emit('disconnect', code !== undefined ? { reason, code } : { reason });
  }

  private startPinging(): void {
    if (this.pingIntervalMs <= 0 || this.pingTimer) return;
    this.pingTimer = setInterval(() => { this.connection?.ping(); }, this.pingIntervalMs);
    this.pingTimer.unref();
  }

  private stopPinging(): void {
    if (this.pingTimer) { clearInterval(this.pingTimer); this.pingTimer = undefined; }
  }
}

function frameName(type: number | undefined): string {
  switch (type) {
    case FrameType.AUDIO: return 'AUDIO';
    case FrameType.METADATA: return 'METADATA';
    case FrameType.QOS: return 'QOS';
    case FrameType.HELLO: return 'HELLO';
    default: return 'a';
  }
}

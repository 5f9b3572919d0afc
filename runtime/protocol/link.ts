// StreamLink: what the nodes, StreamSender, the connection registry and the qos writer use of one streamproto1 peer,
// whatever carries it — a StreamConnection over TCP or TLS (transport.ts), a UdpLink over UDP (udp-server.ts).
//
// It is the StreamConnection's own surface (same names, same events), so a node written for TCP takes a UDP peer
// unchanged. What differs by transport: `transport`, and `socket` — a TCP link's write queue (StreamSender holds
// metadata back while it is full and waits for 'drain'); a UDP link has none (datagrams are not queued here: a
// link that cannot take more drops them at the socket), so the sender treats it as never busy.
import type { EventEmitter } from 'node:events';
import type { AudioHeader, ClientHello, JsonObject, PeerRole, QOSMetrics, ServerHello } from './frame';
import type { ConnectionCounters, StreamConnectionEvents } from './transport';
import type { LinkSocket } from './sender';

export type LinkTransport = 'tcp' | 'udp';

/** The events of a link: a StreamConnection's ('audio', 'metadata', 'qos', 'pong', 'protocolError', 'close', …). */
export type StreamLinkEvents = StreamConnectionEvents;

/** One streamproto1 peer, over TCP (StreamConnection) or UDP (UdpLink). Listeners must not throw. */
export interface StreamLink extends EventEmitter<StreamLinkEvents> {
  /** Server side: the sessionId sent in our HELLO(-ack); client side: the one the server sent. */
  readonly id: string;
  readonly hello: ClientHello | ServerHello | undefined;
  /** "ip:port" of the peer (IPv6 in brackets). */
  readonly remote: string;
  readonly userId: string | undefined;
  readonly role: PeerRole | undefined;
  readonly authenticated: boolean;
  readonly secure: boolean;
  readonly isOpen: boolean;
  readonly counters: ConnectionCounters;
  readonly rttMs: number | undefined;
  readonly clockOffsetMs: number | undefined;
  readonly closeReason: string | undefined;
  readonly transport: LinkTransport;
  /** UDP: µs since the epoch (nowMicros, on any thread) when the ingest thread read the audio frame being emitted; TCP: absent (now). */
  readonly arrivalMicros?: number;
  /** TCP: the socket's write queue (StreamSender's back-pressure); UDP: absent (never busy). */
  readonly socket?: LinkSocket;
  /** Queues (TCP) or sends (UDP) one encoded frame; false when it was dropped or the link is closing. */
  send(frame: Buffer): boolean;
  sendAudio(h: AudioHeader, data: Buffer): boolean;
  sendMetadata(obj: JsonObject): boolean;
  sendQos(qos: QOSMetrics | QOSMetrics[] | JsonObject | JsonObject[]): boolean;
  /** Sends a PING now (the PONG yields a 'pong' event). */
  ping(): boolean;
  /** Ends the link; with `errCode`, ERROR {code, message} is sent first. */
  close(errCode?: string, message?: string): void;

}

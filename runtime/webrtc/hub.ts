// RtcHub: browsers join rooms over WebRTC (werift), by the HTTP signaling of docs/webrtc.md. It knows no Node-RED:
// a request comes in as { method, path, body, headers }, an answer goes out as { status, body, headers }; published
// audio leaves as 'audio' events (one Opus packet each, as it came), the mix comes in through sendRoom / sendTo.
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { RTCPeerConnection, RTCRtpCodecParameters } from 'werift';
import type { RTCRtpTransceiver, RtpPacket, RtcpPacket } from 'werift';
import { UsersList, tokenDigest, digestsEqual } from '../protocol/auth';
import { isRoomName } from '../rooms';
import type { UsedFrame } from '../audio/used';
import { wireText } from '../log-text';
import { readOffer, shapeAnswer, SdpError } from './sdp';
import {
  SignalingError, RtcAnswer, parseBody, readOfferRequest, readCandidateRequest, header, bearerToken, OfferRequest,
} from './signaling';
import { RtcPeer, RtcPeerInfo, LeaveReason, sendCloseNotify } from './peer';

export type { RtcPeerInfo, RtcAudioHeader, LeaveReason } from './peer';

export interface IceServer { urls: string | string[]; username?: string; credential?: string }

export interface RtcHubOptions {
  /** auto: a room exists while it has a peer; else a fixed list (404 no_such_room). */
  rooms: 'auto' | readonly string[];
  /** Peers in all rooms (default 64) -> 503 full. */
  maxPeers: number;
  /** Peers in one room -> 503 full. */
  maxPeersPerRoom?: number;
  /** /offer and GET /rooms need it (body token or Authorization: Bearer). */
  token?: string;
  users?: UsersList;
  /** Cross-origin requests are refused unless their Origin is listed ('*': any). */
  allowedOrigins?: readonly string[];
  /** None by default: no STUN or TURN query at all. */
  iceServers?: IceServer[];
  /** ICE host candidate addresses (default: the machine's + 127.0.0.1). */
  hostAddresses?: readonly string[];
  /** UDP ports for ICE. */
  portRange?: [number, number];
  /** No RTP/RTCP from a peer for this long -> it is closed (default 30000). */
  inactivityMs?: number;
  /** How long /offer waits for werift's host candidates (default 2000 ms; with no STUN they take a few ms). */
  gatherTimeoutMs?: number;
}

export class RtcOptionError extends Error {
  readonly code = 'bad_option';
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'RtcOptionError';
  }
}

export interface RtcRequest {
  method: string;
  /** The path below the base: '/offer', '/ice-candidate', '/session/ID', '/rooms' (a query string is allowed). */
  path: string;
  body?: string;
  headers: Record<string, string | string[] | undefined>;
  remote?: string;
}

/** The hub's counters (the node's status, the bench). */
export interface RtcHubStats {
  offers: number; answered: number; refused: number; joined: number; left: number;
  packetsIn: number; badPackets: number; packetsOut: number;
  /** Inactivity sweeps run. */
  sweeps: number;
}

/** Ended clientIds remembered with their reason. */
const ENDED_KEPT = 1024;
const JSON_HEADERS = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' } as const;
const OPUS_ONLY = { audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })], video: [] };
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const isLoopback = (ip: string) => ip.startsWith('127.') || ip === '::1';
const isV4 = (ip: string) => IPV4.test(ip);

function checkOptions(o: RtcHubOptions): void {
  if (o.rooms !== 'auto') {
    if (!Array.isArray(o.rooms) || o.rooms.length === 0) throw new RtcOptionError('rooms', 'must be "auto" or a non-empty list of room names');
    for (const r of o.rooms) if (!isRoomName(r)) throw new RtcOptionError('rooms', `${wireText(r, 70)} is not a room name (1–64 of letters, digits, "-", "_")`);
  }
  if (!Number.isInteger(o.maxPeers) || o.maxPeers < 1 || o.maxPeers > 10000) throw new RtcOptionError('maxPeers', `must be a whole number from 1 to 10000, got ${wireText(o.maxPeers, 20)}`);
  if (o.maxPeersPerRoom !== undefined && (!Number.isInteger(o.maxPeersPerRoom) || o.maxPeersPerRoom < 1 || o.maxPeersPerRoom > 10000)) {
    throw new RtcOptionError('maxPeersPerRoom', `must be a whole number from 1 to 10000, got ${wireText(o.maxPeersPerRoom, 20)}`);
  }
  if (o.token !== undefined && (typeof o.token !== 'string' || o.token === '')) throw new RtcOptionError('token', 'must be a non-empty string');
  if (o.allowedOrigins !== undefined) {
    for (const a of o.allowedOrigins) if (a !== '*' && !/^https?:\/\/[^/\s]+$/.test(a)) throw new RtcOptionError('allowedOrigins', `${wireText(a, 80)} is not an origin (scheme://host[:port], or *)`);
  }
  if (o.iceServers !== undefined) {
    if (!Array.isArray(o.iceServers)) throw new RtcOptionError('iceServers', 'must be a list of { urls, username?, credential? }');
    o.iceServers.forEach((s, i) => {
      const urls = s && (Array.isArray(s.urls) ? s.urls : [s.urls]);
      if (!urls || urls.length === 0 || urls.some((u) => typeof u !== 'string' || !/^(stun|stuns|turn|turns):[^\s]+$/.test(u))) {
        throw new RtcOptionError(`iceServers[${i}].urls`, 'must be stun:, stuns:, turn: or turns: URLs');
      }
    });
  }
  if (o.hostAddresses !== undefined) {
    if (!Array.isArray(o.hostAddresses) || o.hostAddresses.length === 0) throw new RtcOptionError('hostAddresses', 'must be a non-empty list of IP addresses');
    for (const a of o.hostAddresses) if (typeof a !== 'string' || !(isV4(a) || /^[0-9a-fA-F:]+$/.test(a) && a.includes(':'))) throw new RtcOptionError('hostAddresses', `${wireText(a, 60)} is not an IP address`);
  }
  if (o.portRange !== undefined) {
    const [a, b] = o.portRange;
    if (!Number.isInteger(a) || !Number.isInteger(b) || a < 1024 || b > 65535 || a >= b) throw new RtcOptionError('portRange', `must be two ports, 1024 ≤ min < max ≤ 65535, got ${wireText(o.portRange, 30)}`);
  }
  if (o.inactivityMs !== undefined && (!Number.isFinite(o.inactivityMs) || o.inactivityMs < 50 || o.inactivityMs > 3_600_000)) {
    throw new RtcOptionError('inactivityMs', `must be from 50 to 3600000, got ${wireText(o.inactivityMs, 20)}`);
  }
}

/**
 * Numbers connectionIds across every hub in the process: a redeployed node's hub, or a second node, never reuses one
 * (the mixer remembers ended connections, and keys tracks by them).
 */
let nextConnectionNumber = 1;

export class RtcHub extends EventEmitter {
  private readonly o: RtcHubOptions;
  private readonly inactivityMs: number;
  private readonly byClient = new Map<string, RtcPeer>();
  /** room -> userId -> peer. */
  private readonly byRoom = new Map<string, Map<string, RtcPeer>>();
  /** Why recent clientIds ended (a bounded memory): their 404 no_such_client says it (`error.reason`). */
  private readonly ended = new Map<string, LeaveReason>();
  /** Offers being negotiated now: they count against maxPeers, so a burst of offers cannot open unbounded connections. */
  private pending = 0;
  private readonly tokenDigest: Buffer | undefined;
  private readonly watchdog: NodeJS.Timeout;
  private closing = false;
  readonly stats: RtcHubStats = { offers: 0, answered: 0, refused: 0, joined: 0, left: 0, packetsIn: 0, badPackets: 0, packetsOut: 0, sweeps: 0 };

  constructor(o: RtcHubOptions) {
    super();
    checkOptions(o);
    this.o = { ...o };
    this.inactivityMs = o.inactivityMs ?? 30_000;
    this.tokenDigest = o.token !== undefined ? tokenDigest(o.token) : undefined;
    if (o.rooms !== 'auto') for (const r of o.rooms) this.byRoom.set(r, new Map());
    // One watchdog for every peer: a quarter of the timeout, at most a second, so a peer leaves within 1.25 x.
    this.watchdog = setInterval(() => this.sweep(), Math.min(1000, Math.max(20, this.inactivityMs / 4)));
    this.watchdog.unref();
  }

  /** One signaling request (docs/webrtc.md). Never throws: a failure is an answer. */
  async handle(req: RtcRequest): Promise<RtcAnswer> {
    let a: RtcAnswer;
    try {
      a = await this.route(req);
    } catch (err) {
      if (err instanceof SignalingError) a = err.answer();
      else {
        this.emit('warning', `webrtc: ${req.method} ${wireText(req.path, 60)} failed: ${wireText((err as Error).message, 200)}`);
        a = new SignalingError(500, 'internal', `${(err as Error).message}`).answer();
      }
      this.stats.refused++;
    }
    const cors = this.corsHeaders(req);
    a.headers = { ...(a.body !== undefined ? JSON_HEADERS : { 'Cache-Control': 'no-store' }), ...cors, ...(a.headers ?? {}) };
    return a;
  }

  private async route(req: RtcRequest): Promise<RtcAnswer> {
    this.checkOrigin(req);
    const q = req.path.indexOf('?');
    const path = q >= 0 ? req.path.slice(0, q) : req.path;
    const method = req.method.toUpperCase();
    if (method === 'OPTIONS') return { status: 204, headers: { 'Access-Control-Allow-Methods': 'GET, POST, DELETE, OPTIONS', 'Access-Control-Allow-Headers': 'Content-Type, Authorization', 'Access-Control-Max-Age': '600' } };
    const only = (m: string) => {
      if (method !== m) throw new SignalingError(405, 'method_not_allowed', `method: ${wireText(req.method, 10)} not allowed on ${path} (use ${m})`);
    };
    if (path === '/offer') { only('POST'); return this.offer(req); }
    if (path === '/ice-candidate') { only('POST'); return this.candidate(req); }
    if (path === '/rooms') { only('GET'); this.authorize(bearerToken(req.headers), undefined, 'monitor', req); return { status: 200, body: { rooms: this.publicRooms() } }; }
    const s = /^\/session\/([^/]+)$/.exec(path);
    if (s) { only('DELETE'); return this.deleteSession(decodeURIComponent(s[1])); }
    throw new SignalingError(404, 'not_found', `path: ${wireText(path, 60)} is not a signaling path (/offer, /ice-candidate, /session/ID, /rooms)`);
  }

  /** Same-origin (Origin's host = Host), no Origin (not a browser's cross-origin request), or a listed origin. */
  private checkOrigin(req: RtcRequest): void {
    const origin = header(req.headers, 'origin');
    if (origin === undefined) return;
    if (this.originAllowed(origin)) return;
    const host = header(req.headers, 'host');
    let originHost: string | undefined;
    try { originHost = new URL(origin).host; } catch { originHost = undefined; }
    if (host !== undefined && originHost !== undefined && originHost.toLowerCase() === host.toLowerCase()) return;
    throw new SignalingError(403, 'forbidden_origin', `Origin: ${wireText(origin, 80)} is not this server's origin nor on the allowed origins`);
  }

  private originAllowed(origin: string): boolean {
    const list = this.o.allowedOrigins ?? [];
    return list.includes('*') || list.includes(origin);
  }

  private corsHeaders(req: RtcRequest): Record<string, string> {
    const origin = header(req.headers, 'origin');
    if (origin === undefined || !this.originAllowed(origin)) return {};
    return { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' };
  }

  /** A token (or users list) is configured: the request's must match. */
  private authorize(token: string | undefined, userId: string | undefined, role: 'peer' | 'monitor', req: RtcRequest): void {
    if (this.tokenDigest === undefined && this.o.users === undefined) return;
    let ok = false;
    if (token !== undefined) {
      if (this.tokenDigest !== undefined && digestsEqual(tokenDigest(token), this.tokenDigest)) ok = true;
      if (!ok && this.o.users !== undefined) {
        // GET /rooms names its user in ?userId= (the users list's tokens are per user).
        const uid = userId ?? new URLSearchParams(req.path.includes('?') ? req.path.slice(req.path.indexOf('?') + 1) : '').get('userId') ?? '';
        ok = this.o.users.check(uid, token, role) === 'ok';
      }
    }
    if (!ok) throw new SignalingError(401, 'unauthorized', token === undefined ? 'token: required (in the body, or Authorization: Bearer)' : 'token: wrong token');
  }

  private async offer(req: RtcRequest): Promise<RtcAnswer> {
    this.stats.offers++;
    const r: OfferRequest = readOfferRequest(parseBody(req.body));
    this.authorize(r.token ?? bearerToken(req.headers), r.userId, r.publish ? 'peer' : 'monitor', req);
    if (this.o.rooms !== 'auto' && !this.o.rooms.includes(r.room)) {
      throw new SignalingError(404, 'no_such_room', `room: ${wireText(r.room, 70)} is not one of this server's rooms`);
    }
    let info: ReturnType<typeof readOffer>;
    try {
      info = readOffer(r.sdp);
    } catch (err) {
      if (err instanceof SdpError) throw new SignalingError(400, 'bad_sdp', err.message);
      throw err;
    }
    this.checkCapacity(r.room, r.userId, this.pending);
    this.pending++;
    try {
      return await this.negotiate(r, info, req);
    } finally {
      this.pending--;
    }
  }

  private async negotiate(r: OfferRequest, info: ReturnType<typeof readOffer>, req: RtcRequest): Promise<RtcAnswer> {
    const pc = new RTCPeerConnection(this.peerConfig());
    const clientId = randomUUID();
    const peerInfo: RtcPeerInfo = {
      connectionId: `webrtc-${nextConnectionNumber++}`, userId: r.userId, name: r.name, room: r.room, publish: r.publish, listen: r.listen,
      stereo: info.stereo, remote: req.remote ?? '', state: 'connecting', connectedAt: null, joinedAt: Date.now(),
    };
    const peer = new RtcPeer(clientId, pc, peerInfo, {
      audio: (p, h, data, arrival) => { this.stats.packetsIn++; this.emit('audio', p.info, h, data, arrival); },
      rtt: (p, ms) => this.emit('rtt', p.info, ms),
      badPacket: (p, len) => this.emit('warning', `webrtc: ${wireText(p.info.userId)} (${p.info.connectionId}) sent an Opus packet that does not parse (${len} bytes): dropped, and the rest from it counted only`),
    });
    let answerSdp: string;
    try {
      pc.onTrack.subscribe((track) => {
        if (track.kind !== 'audio') return;
        track.onReceiveRtp.subscribe((rtp: RtpPacket) => peer.onRtp(rtp));
      });
      await pc.setRemoteDescription({ type: 'offer', sdp: r.sdp });
      if (!this.o.iceServers || this.o.iceServers.length === 0) {
        // werift falls back to a public STUN server when none is given: with none configured, query none.
        for (const t of pc.iceTransports) (t.connection as unknown as { stunServer?: unknown }).stunServer = undefined;
      }
      const tr = pc.getTransceivers().find((t) => t.kind === 'audio');
      if (!tr) throw new SdpError('sdp: offers no audio m-line werift takes');
      tr.setDirection(r.publish && r.listen ? 'sendrecv' : r.publish ? 'recvonly' : 'sendonly');
      this.wire(peer, tr);
      await pc.setLocalDescription(await pc.createAnswer());
      await this.gathered(pc);
      const local = pc.localDescription;
      if (!local) throw new Error('werift made no answer');
      answerSdp = shapeAnswer(local.sdp, info.stereo);
    } catch (err) {
      await pc.close().catch(() => undefined);
      if (err instanceof SignalingError) throw err;
      throw new SignalingError(400, 'bad_sdp', err instanceof SdpError ? err.message : `sdp: werift refused the offer (${wireText((err as Error).message, 160)})`);
    }
    if (this.closing) {
      await pc.close().catch(() => undefined);
      throw new SignalingError(503, 'full', 'server: shutting down');
    }
    if (peer.closed) {
      // Its connection failed or closed while the answer was being made.
      await pc.close().catch(() => undefined);
      throw new SignalingError(400, 'bad_sdp', 'sdp: the connection closed while it was being answered');
    }
    // Capacity again: other offers may have joined while this one negotiated.
    try {
      this.checkCapacity(r.room, r.userId);
    } catch (err) {
      await pc.close().catch(() => undefined);
      throw err;
    }
    const old = this.byRoom.get(r.room)?.get(r.userId);
    if (old) this.leave(old, 'replaced');
    this.join(peer);
    this.stats.answered++;
    return { status: 200, body: { type: 'answer', sdp: answerSdp, clientId, room: r.room, userId: r.userId } };
  }

  private checkCapacity(room: string, userId: string, negotiating = 0): void {
    const replacing = this.byRoom.get(room)?.has(userId) ? 1 : 0;
    if (this.byClient.size + negotiating - replacing >= this.o.maxPeers) throw new SignalingError(503, 'full', `maxPeers: ${this.o.maxPeers} peers are connected, the most this server takes`);
    const inRoom = (this.byRoom.get(room)?.size ?? 0) - replacing;
    if (this.o.maxPeersPerRoom !== undefined && inRoom >= this.o.maxPeersPerRoom) {
      throw new SignalingError(503, 'full', `maxPeersPerRoom: room ${wireText(room, 70)} has ${this.o.maxPeersPerRoom} peers, the most it takes`);
    }
  }

  private peerConfig(): ConstructorParameters<typeof RTCPeerConnection>[0] {
    const o = this.o;
    const hosts = o.hostAddresses;
    return {
      codecs: OPUS_ONLY,
      headerExtensions: { audio: [], video: [] },
      iceServers: o.iceServers ?? [],
      // A given list is the whole list (werift adds the machine's addresses only when iceUseIpv4/6 are on); the
      // default adds 127.0.0.1 to the machine's, for browsers on this host.
      iceAdditionalHostAddresses: hosts ? [...hosts] : ['127.0.0.1'],
      iceUseIpv4: hosts ? false : true,
      iceUseIpv6: hosts ? false : true,
      icePortRange: o.portRange,
      // Loopback pairs with loopback, a LAN address with a LAN address, IPv4 with IPv4: a crossed pair (our 127.0.0.1
      // against the browser's LAN address) can pass a check through the wildcard socket and then stick.
      iceFilterCandidatePair: (pair) => {
        const l = pair.localCandidate.host;
        const r = pair.remoteCandidate.host;
        return isV4(l) === isV4(r) && isLoopback(l) === isLoopback(r);
      },
    };
  }

  /** Resolves when werift has its host candidates (a few ms with no STUN); at the latest after gatherTimeoutMs. */
  private gathered(pc: RTCPeerConnection): Promise<void> {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.o.gatherTimeoutMs ?? 2000);
      const sub = pc.iceGatheringStateChange.subscribe((s) => { if (s === 'complete') done(); });
      function done() {
        clearTimeout(timer);
        sub.unSubscribe();
        resolve();
      }
    });
  }

  /** The peer's events: state, activity (RTP/RTCP only), sender reports, receiver reports. */
  private wire(peer: RtcPeer, tr: RTCRtpTransceiver): void {
    const pc = peer.pc;
    peer.transceiver = tr;
    if (peer.info.listen) peer.sender = tr.sender;
    for (const d of pc.dtlsTransports) {
      d.onRtp.subscribe(() => { peer.lastActivityMs = performance.now(); });
      d.onRtcp.subscribe(() => { peer.lastActivityMs = performance.now(); });
    }
    tr.receiver.onRtcp.subscribe((p: RtcpPacket) => peer.onReceiverRtcp(p));
    tr.sender.onRtcp.subscribe((p: RtcpPacket) => peer.onSenderRtcp(p));
    pc.connectionStateChange.subscribe((s) => {
      if (peer.closed) return;
      if (s === 'connected' && peer.info.state !== 'connected') {
        peer.info.state = 'connected';
        peer.info.connectedAt = Date.now();
        const nominated = pc.iceTransports[0]?.connection.nominated;
        if (nominated) peer.info.remote = `${nominated.remoteCandidate.host}:${nominated.remoteCandidate.port}`;
        if (this.byClient.get(peer.clientId) === peer) this.emit('connected', peer.info);
      } else if (s === 'failed') {
        this.leave(peer, 'failed');
      } else if (s === 'closed') {
        this.leave(peer, 'closed');
      }
    });
  }

  private join(peer: RtcPeer): void {
    this.byClient.set(peer.clientId, peer);
    let room = this.byRoom.get(peer.info.room);
    if (!room) { room = new Map(); this.byRoom.set(peer.info.room, room); }
    room.set(peer.info.userId, peer);
    this.stats.joined++;
    this.emit('join', peer.info);
    // Connected while the answer was being made (a fast client).
    if (peer.info.state === 'connected') this.emit('connected', peer.info);
  }

  /** The peer leaves its room now (its maps, a 'leave' event) and its connection closes behind it. */
  private leave(peer: RtcPeer, reason: LeaveReason): void {
    if (peer.closed) return;
    peer.closed = true;
    const joined = this.byClient.get(peer.clientId) === peer;
    if (joined) {
      this.byClient.delete(peer.clientId);
      this.ended.set(peer.clientId, reason);
      if (this.ended.size > ENDED_KEPT) this.ended.delete(this.ended.keys().next().value as string);
      const room = this.byRoom.get(peer.info.room);
      if (room?.get(peer.info.userId) === peer) room.delete(peer.info.userId);
      if (room && room.size === 0 && this.o.rooms === 'auto') this.byRoom.delete(peer.info.room);
      this.stats.left++;
      this.stats.badPackets += peer.badPackets;
    }
    // The browser learns it from its connection state (webrtc.md): a DTLS close_notify first, werift sends none.
    const told = reason !== 'closed' && reason !== 'failed' ? sendCloseNotify(peer.pc) : Promise.resolve();
    peer.closing = told.then(() => peer.pc.close()).catch(() => undefined);
    if (joined) this.emit('leave', peer.info, reason);
  }

  private candidate(req: RtcRequest): RtcAnswer {
    const r = readCandidateRequest(parseBody(req.body));
    const peer = this.byClient.get(r.clientId);
    if (!peer) throw this.noSuchClient(r.clientId);
    // Not awaited: werift resolves an mDNS (.local) name inside addIceCandidate, and never an IPv6 one.
    const init = r.candidate === null ? undefined : {
      candidate: r.candidate.candidate, sdpMid: r.candidate.sdpMid ?? undefined, sdpMLineIndex: r.candidate.sdpMLineIndex ?? undefined,
      usernameFragment: r.candidate.usernameFragment ?? undefined,
    };
    peer.pc.addIceCandidate(init as never).catch((err: Error) => {
      if (!peer.closed) this.emit('warning', `webrtc: a candidate of ${wireText(peer.info.userId)} (${peer.info.connectionId}) was refused: ${wireText(err.message, 160)}`);
    });
    return { status: 204 };
  }

  /** 404 no_such_client; for a client that ended lately, why (`reason`: replaced, deleted, timeout …). */
  private noSuchClient(clientId: string): SignalingError {
    const why = this.ended.get(clientId);
    if (why === undefined) return new SignalingError(404, 'no_such_client', 'clientId: no such client (it left, or never joined)');
    const text = why === 'replaced' ? 'another offer with its userId replaced it' : why === 'deleted' ? 'it was deleted' : why === 'timeout' ? 'its media stopped (inactivity timeout)' : `its connection ${why === 'shutdown' ? 'was shut down' : why}`;
    return new SignalingError(404, 'no_such_client', `clientId: no such client (${text})`, { reason: why });
  }

  private deleteSession(clientId: string): RtcAnswer {
    const peer = this.byClient.get(clientId);
    if (!peer) throw this.noSuchClient(clientId);
    this.leave(peer, 'deleted');
    return { status: 204 };
  }

  private publicRooms(): Array<{ room: string; peers: Array<Pick<RtcPeerInfo, 'userId' | 'name' | 'publish' | 'listen' | 'state' | 'connectedAt'>> }> {
    return this.rooms().map(({ room, peers }) => ({
      room,
      peers: peers.map((p) => ({ userId: p.userId, name: p.name, publish: p.publish, listen: p.listen, state: p.state, connectedAt: p.connectedAt })),
    }));
  }

  /** Every room and its peers (a fixed room with none is listed too). */
  rooms(): Array<{ room: string; peers: RtcPeerInfo[] }> {
    const out: Array<{ room: string; peers: RtcPeerInfo[] }> = [];
    for (const [room, peers] of this.byRoom) out.push({ room, peers: [...peers.values()].map((p) => ({ ...p.info })) });
    return out;
  }

  /** Peers in all rooms. */
  get size(): number {
    return this.byClient.size;
  }

  /**
   * A room's mix (one Opus packet), paced by the caller (the mixer's clock): to its listen-only peers, and to its
   * publishing listeners whose voice is not in it (`used`) and who get no mix-minus of their own (sendTo in the last
   * 200 ms) — a publisher never hears itself.
   */
  sendRoom(room: string, packet: Buffer, frameSamples: number, used?: UsedFrame): void {
    const peers = this.byRoom.get(room);
    if (!peers || peers.size === 0) return;
    const now = performance.now();
    for (const p of peers.values()) {
      if (!p.canSend) continue;
      if (p.info.publish) {
        if (now - p.lastDirectMs < 200) continue;
        if (used && used.hasConnection(p.info.connectionId)) continue;
      }
      p.send(packet, frameSamples, now);
      this.stats.packetsOut++;
    }
  }

  /** One listener's mix-minus. */
  sendTo(room: string, userId: string, packet: Buffer, frameSamples: number): void {
    const p = this.byRoom.get(room)?.get(userId);
    if (!p || !p.canSend) return;
    const now = performance.now();
    p.lastDirectMs = now;
    p.send(packet, frameSamples, now);
    this.stats.packetsOut++;
  }

  /**
   * Closes peers whose media stopped: no RTP or RTCP from them for inactivityMs (a peer that never connected counts
   * from its offer). A listen-only browser sends RTCP only while it receives RTP (Chromium sends nothing at all to a
   * silent room), so it is held to it only while the mix has been streaming to it for the whole window; in a silent
   * room a dead one goes by werift's ICE consent check ('failed', 25–30 s).
   */
  private sweep(): void {
    this.stats.sweeps++;
    const now = performance.now();
    const deadline = now - this.inactivityMs;
    for (const p of [...this.byClient.values()]) {
      if (p.lastActivityMs >= deadline) continue;
      const listenOnly = !p.info.publish && p.info.state === 'connected';
      if (listenOnly && !p.streamedSince(deadline, now)) continue;
      this.leave(p, 'timeout');
    }
  }

  /** Every peer leaves ('shutdown'); resolves when their connections are closed. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.watchdog);
    const peers = [...this.byClient.values()];
    for (const p of peers) this.leave(p, 'shutdown');
    await Promise.all(peers.map((p) => p.closing));
  }
}


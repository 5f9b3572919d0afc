// A browser-like WebRTC peer for tests and the bench: a werift RTCPeerConnection that joins through the HTTP
// contract of docs/webrtc.md (POST /offer, /ice-candidate, DELETE /session/ID), publishes an Opus tone (real libopus,
// 10 ms frames by default) and listens: it counts and (optionally) decodes what it hears.
//
// Lean enough for a load generator: the tone is encoded once per (frequency, frame, bitrate) and looped (a whole
// number of cycles per loop, so the loop is seamless); per packet it allocates only the RTP packet werift needs
// (werift rewrites the header it sends and keeps it for retransmission). The pacing is one timer per client that
// catches up by the clock (never drifts), not a timer per packet.
import { RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket } from 'werift';
import type { RTCRtpTransceiver } from 'werift';
import { performance } from 'node:perf_hooks';
import { OpusEncoder, OpusDecoder } from '../../runtime/audio/opus';
import { ToneGenerator } from '../../runtime/audio/signals';

export interface RtcClientOptions {
  /** e.g. http://127.0.0.1:1880/xcast/rtc */
  base: string;
  room?: string;
  userId: string;
  name?: string;
  publish?: boolean;
  listen?: boolean;
  token?: string;
  /** Sent as Authorization: Bearer instead of in the body. */
  bearer?: boolean;
  /** Offer stereo=1 in the Opus fmtp. */
  stereo?: boolean;
  /** The published tone, Hz (default 440); 0: silence. */
  toneHz?: number;
  /** dBFS of the tone (default -12). */
  toneDb?: number;
  frameMs?: 2.5 | 5 | 10 | 20;
  bitrate?: number;
  /** Trickle candidates through /ice-candidate instead of putting them in the offer. */
  trickle?: boolean;
  /** Decode what it hears (for frequency checks); off: only count. */
  decode?: boolean;
  /** Seconds of decoded audio kept (default 2). */
  keepSeconds?: number;
  /** Extra headers (Origin …). */
  headers?: Record<string, string>;
  /** Host addresses of this client's ICE candidates (default 127.0.0.1 only). */
  hostAddresses?: string[];
}

export interface RtcJoinAnswer { type: 'answer'; sdp: string; clientId: string; room: string; userId: string }

interface ToneLoop { packets: Buffer[]; frameSamples: number }
const loops = new Map<string, ToneLoop>();

/** One second (or the shortest whole-cycle span) of a tone as Opus packets, encoded once per process. */
function toneLoop(hz: number, db: number, frameSamples: number, bitrate: number, channels: 1 | 2): ToneLoop {
  const key = `${hz}/${db}/${frameSamples}/${bitrate}/${channels}`;
  let l = loops.get(key);
  if (l) return l;
  const frames = Math.round(48000 / frameSamples); // one second: a whole number of cycles of any whole-Hz tone
  const enc = new OpusEncoder({ sampleRate: 48000, channels, frameSamples, bitrate });
  const tone = new ToneGenerator({ frequency: hz || 1, amplitude: hz ? Math.pow(10, db / 20) : 0, sampleRate: 48000, channels });
  // Two passes: the second second's packets come from an encoder that has heard the tone before (no start-up).
  for (let i = 0; i < frames; i++) enc.encode(tone.next(frameSamples));
  const packets: Buffer[] = [];
  for (let i = 0; i < frames; i++) packets.push(enc.encode(tone.next(frameSamples)));
  l = { packets, frameSamples };
  loops.set(key, l);
  return l;
}

export class RtcClient {
  readonly pc: RTCPeerConnection;
  readonly o: Required<Pick<RtcClientOptions, 'room' | 'publish' | 'listen' | 'toneHz' | 'frameMs' | 'bitrate'>> & RtcClientOptions;
  answer: RtcJoinAnswer | null = null;
  /** ms from sending the offer to the answer, and from the answer to 'connected'. */
  offerMs = NaN;
  connectMs = NaN;
  transceiver: RTCRtpTransceiver | null = null;

  // Publishing.
  sent = 0;
  private timer: NodeJS.Timeout | null = null;
  private seq = Math.floor(Math.random() * 65536);
  private ts = Math.floor(Math.random() * 4294967296);
  private startedAt = 0;
  private loop: ToneLoop | null = null;

  // Listening.
  received = 0;
  firstSeq = -1;
  lastSeq = -1;
  /** RTP seq went backwards or skipped (16-bit, per packet). */
  gaps = 0;
  lastTimestamp = -1;
  receivedPayloadBytes = 0;
  private decoder: OpusDecoder | null = null;
  /** The last keepSeconds of decoded audio, channel 0, a ring. */
  readonly heard: Float32Array;
  private heardAt = 0;
  private heardCount = 0;
  private readonly listeners: Array<(n: number) => void> = [];

  constructor(o: RtcClientOptions) {
    this.o = { room: 'main', publish: true, listen: true, toneHz: 440, frameMs: 10, bitrate: 64000, ...o };
    this.heard = new Float32Array(this.o.decode ? Math.round(48000 * (o.keepSeconds ?? 2)) : 0);
    this.pc = new RTCPeerConnection({
      iceServers: [],
      codecs: { audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, parameters: this.o.stereo ? 'minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1' : 'minptime=10;useinbandfec=1' })], video: [] },
      headerExtensions: { audio: [], video: [] },
      iceAdditionalHostAddresses: o.hostAddresses ?? ['127.0.0.1'],
      iceUseIpv4: false,
      iceUseIpv6: false,
    });
  }

  private url(path: string): string {
    return `${this.o.base.replace(/\/$/, '')}${path}`;
  }

  /** POST /offer; resolves with the answer applied (not yet connected). Throws with the server's error. */
  async join(): Promise<RtcJoinAnswer> {
    const { publish, listen } = this.o;
    const tr = this.pc.addTransceiver('audio', { direction: publish && listen ? 'sendrecv' : publish ? 'sendonly' : 'recvonly' });
    this.transceiver = tr;
    for (const t of this.pc.iceTransports) (t.connection as unknown as { stunServer?: unknown }).stunServer = undefined;
    if (listen) {
      this.pc.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((rtp: RtpPacket) => this.onRtp(rtp)));
    }
    const pending: unknown[] = [];
    let clientId: string | null = null;
    if (this.o.trickle) {
      this.pc.onIceCandidate.subscribe((c) => {
        const candidate = c ? c.toJSON() : null;
        if (clientId) void this.postCandidate(clientId, candidate);
        else pending.push(candidate);
      });
    }
    await this.pc.setLocalDescription(await this.pc.createOffer());
    for (const t of this.pc.iceTransports) (t.connection as unknown as { stunServer?: unknown }).stunServer = undefined;
    let sdp = this.pc.localDescription?.sdp ?? '';
    if (!this.o.trickle) {
      await waitFor(() => this.pc.iceGatheringState === 'complete', 5000, 'ICE gathering');
      sdp = this.pc.localDescription?.sdp ?? '';
    } else {
      sdp = sdp.replace(/^a=candidate:.*\r?\n/gm, '').replace(/^a=end-of-candidates\r?\n/gm, '');
    }
    const t0 = performance.now();
    const res = await this.request('POST', '/offer', { type: 'offer', sdp, room: this.o.room, userId: this.o.userId, name: this.o.name, publish, listen, ...(this.o.token !== undefined && !this.o.bearer ? { token: this.o.token } : {}) });
    this.offerMs = performance.now() - t0;
    if (res.status !== 200) throw new RtcJoinError(res.status, res.body as { error?: { code: string; message: string } });
    const answer = res.body as RtcJoinAnswer;
    this.answer = answer;
    clientId = answer.clientId;
    const t1 = performance.now();
    this.pc.connectionStateChange.subscribe((s) => { if (s === 'connected' && Number.isNaN(this.connectMs)) this.connectMs = performance.now() - t1; });
    await this.pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    for (const c of pending) void this.postCandidate(clientId, c);
    return answer;
  }

  /** join(), then wait for 'connected'. */
  async connect(timeoutMs = 10_000): Promise<this> {
    await this.join();
    await waitFor(() => this.pc.connectionState === 'connected', timeoutMs, 'connected');
    return this;
  }

  private postCandidate(clientId: string, candidate: unknown): Promise<unknown> {
    return this.request('POST', '/ice-candidate', { clientId, candidate }).catch(() => undefined);
  }

  /** One signaling request with this client's headers (and its token as a bearer, when asked). */
  async request(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown; headers: Headers }> {
    const headers: Record<string, string> = { ...(this.o.headers ?? {}) };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (this.o.bearer && this.o.token !== undefined) headers.Authorization = `Bearer ${this.o.token}`;
    const res = await fetch(this.url(path), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  }

  /** Starts publishing the tone, one packet per frame by the clock (a timer that catches up, never drifts). */
  startTone(): void {
    if (this.timer || !this.transceiver) return;
    const frameSamples = Math.round(48 * this.o.frameMs);
    this.loop = toneLoop(this.o.toneHz, this.o.toneDb ?? -12, frameSamples, this.o.bitrate, this.o.stereo ? 2 : 1);
    this.startedAt = performance.now();
    const tick = () => {
      const due = Math.floor((performance.now() - this.startedAt) / this.o.frameMs) + 1;
      while (this.sent < due) this.sendOne();
      this.timer = setTimeout(tick, Math.max(1, this.startedAt + (this.sent) * this.o.frameMs - performance.now()));
    };
    tick();
  }

  stopTone(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private sendOne(): void {
    const loop = this.loop as ToneLoop;
    const payload = loop.packets[this.sent % loop.packets.length];
    const header = new RtpHeader({ sequenceNumber: this.seq, timestamp: this.ts, payloadType: 0, marker: this.sent === 0 });
    this.seq = (this.seq + 1) & 0xffff;
    this.ts = (this.ts + loop.frameSamples) % 4294967296;
    this.sent++;
    (this.transceiver as RTCRtpTransceiver).sender.sendRtp(new RtpPacket(header, payload)).catch(() => undefined);
  }

  private onRtp(rtp: RtpPacket): void {
    const s = rtp.header.sequenceNumber;
    if (this.firstSeq < 0) this.firstSeq = s;
    else if (s !== ((this.lastSeq + 1) & 0xffff)) this.gaps++;
    this.lastSeq = s;
    this.lastTimestamp = rtp.header.timestamp;
    this.received++;
    this.receivedPayloadBytes += rtp.payload.length;
    if (this.o.decode) {
      if (!this.decoder) this.decoder = new OpusDecoder({ sampleRate: 48000, channels: this.o.stereo ? 2 : 1 });
      const pcm = this.decoder.decode(rtp.payload);
      const f32 = new Float32Array(pcm.buffer, pcm.byteOffset, pcm.byteLength / 4);
      const ch = this.decoder.channels;
      const ring = this.heard;
      for (let i = 0; i < f32.length; i += ch) {
        ring[this.heardAt] = f32[i];
        this.heardAt = (this.heardAt + 1) % ring.length;
      }
      this.heardCount += f32.length / ch;
    }
    for (const l of this.listeners) l(this.received);
  }

  /** The last `seconds` heard (channel 0), oldest first; fewer when less was heard. */
  heardAudio(seconds = 1): Float32Array {
    const n = Math.min(Math.round(seconds * 48000), this.heardCount, this.heard.length);
    const out = new Float32Array(n);
    const ring = this.heard;
    let at = (this.heardAt - n + ring.length) % ring.length;
    for (let i = 0; i < n; i++) { out[i] = ring[at]; at = (at + 1) % ring.length; }
    return out;
  }

  /** Resolves when `count` packets have been heard in all. */
  heardPackets(count: number, timeoutMs = 10_000): Promise<void> {
    return waitFor(() => this.received >= count, timeoutMs, `${count} packets heard (heard ${this.received})`);
  }

  /** DELETE /session/ID (the server's status). */
  async leave(): Promise<number> {
    if (!this.answer) return 0;
    const res = await this.request('DELETE', `/session/${encodeURIComponent(this.answer.clientId)}`);
    return res.status;
  }

  /** Stops the tone and closes the connection (without telling the server: a dropped tab). */
  async close(): Promise<void> {
    this.stopTone();
    await this.pc.close().catch(() => undefined);
  }
}

export class RtcJoinError extends Error {
  readonly code: string;
  constructor(readonly status: number, body: { error?: { code: string; message: string } } | undefined) {
    super(`offer refused: ${status} ${body?.error?.code ?? ''}: ${body?.error?.message ?? ''}`);
    this.code = body?.error?.code ?? '';
  }
}

/** Polls `cond` every 5 ms until it holds (or rejects after timeoutMs, naming `what`). */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

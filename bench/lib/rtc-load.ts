// Bench: one browser-like WebRTC peer for the load generator — a werift RTCPeerConnection that signals through the
// xcast's HTTP contract (/shared/docs/webrtc.md: POST {base}/offer, DELETE {base}/session/ID), publishes Opus RTP
// and counts (or hands on) the RTP of the mix it receives.
//
// Why not test/support/rtc-client.ts: that is the tests' client (built to analyse what one peer hears); the bench
// needs a lean peer that runs by the hundred in one process, sends pre-encoded packets on the generator's own clock
// and does nothing per received packet but count it (the monitor peer decodes). Measured here: a werift peer
// sending and receiving 100 packets/s costs ≈ 0.6 % of a core (40 werift↔werift pairs in one process: 49 %),
// less than the hub does per peer (the same SRTP work, plus decode, mix and one Opus encode each), so the
// generator outruns the xcast; the bench checks it kept time (send lateness) in every window anyway.
import { RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket, RTCRtpTransceiver } from 'werift';

export interface RtcPeerOptions {
  /** Signaling base URL, e.g. http://127.0.0.1:1880/xcast/rtc */
  base: string;
  room: string;
  userId: string;
  publish: boolean;
  listen: boolean;
  /** Offer stereo=1 (a stereo mix); a browser's default offer does not. */
  stereo?: boolean;
  token?: string;
}

/** Chromium's Opus line: payload type 111, `minptime=10;useinbandfec=1`. */
const OPUS_PT = 111;

export class RtcLoadPeer {
  readonly pc: RTCPeerConnection;
  readonly transceiver: RTCRtpTransceiver;
  clientId: string | null = null;
  /** The answer's SDP (the bench reads its Opus fmtp and ptime). */
  answerSdp = '';
  /** ms from the offer's POST to the answer, and to 'connected'. */
  answerMs = NaN;
  connectMs = NaN;
  connected = false;
  closed = false;
  /** Its connection and ICE states as they changed, seconds after it was made (why a peer failed or closed). */
  readonly states: string[] = [];
  private ssrcSeq = Math.floor(Math.random() * 0xffff);
  private rtpTs = Math.floor(Math.random() * 0xffffffff);

  constructor(readonly o: RtcPeerOptions, onRtp?: (payload: Buffer, seq: number, timestamp: number) => void) {
    const params = `minptime=10;useinbandfec=1${o.stereo ? ';stereo=1;sprop-stereo=1' : ''}`;
    this.pc = new RTCPeerConnection({
      iceServers: [],
      iceUseIpv6: false,
      // Loopback: this host's only interface besides lo is 192.0.2.2, and a socket bound there cannot reach the
      // xcast's 127.0.0.1 candidate; with 127.0.0.1 added, only loopback pairs are checked (one per peer).
      iceAdditionalHostAddresses: ['127.0.0.1'],
      iceFilterCandidatePair: (pair) => pair.protocol.localCandidate?.host === '127.0.0.1' && pair.remoteCandidate.host === '127.0.0.1',
      codecs: { audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: OPUS_PT, parameters: params })] },
    });
    const direction = o.publish && o.listen ? 'sendrecv' : o.publish ? 'sendonly' : 'recvonly';
    this.transceiver = this.pc.addTransceiver('audio', { direction });
    if (onRtp) {
      this.pc.onTrack.subscribe((track) => {
        track.onReceiveRtp.subscribe((rtp) => onRtp(rtp.payload, rtp.header.sequenceNumber, rtp.header.timestamp));
      });
    }
    const t0 = performance.now();
    const note = (what: string) => { if (this.states.length < 20) this.states.push(`${((performance.now() - t0) / 1000).toFixed(2)} s ${what}`); };
    this.pc.connectionStateChange.subscribe((s) => {
      note(`connection ${s}`);
      if (s === 'connected') this.connected = true;
      if (s === 'closed' || s === 'failed') { this.connected = false; this.closed = true; }
    });
    this.pc.iceConnectionStateChange.subscribe((s) => note(`ice ${s}`));
  }

  /** Offers with every candidate gathered (no trickle), applies the answer, waits until connected. */
  async connect(timeoutMs = 15000): Promise<void> {
    const t0 = performance.now();
    await this.pc.setLocalDescription(await this.pc.createOffer());
    if (this.pc.iceGatheringState !== 'complete') {
      await Promise.race([this.pc.iceGatheringStateChange.watch((s) => s === 'complete'), sleep(3000)]);
    }
    const body = {
      type: 'offer', sdp: this.pc.localDescription!.sdp, room: this.o.room, userId: this.o.userId, name: this.o.userId,
      publish: this.o.publish, listen: this.o.listen, ...(this.o.token ? { token: this.o.token } : {}),
    };
    const res = await fetch(`${this.o.base}/offer`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`offer for ${this.o.userId}: HTTP ${res.status} ${text.slice(0, 300)}`);
    const answer = JSON.parse(text) as { type: 'answer'; sdp: string; clientId: string };
    this.answerMs = performance.now() - t0;
    this.clientId = answer.clientId;
    this.answerSdp = answer.sdp;
    await this.pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    if (this.pc.connectionState !== 'connected') {
      const ok = await Promise.race([
        this.pc.connectionStateChange.watch((s) => s === 'connected').then(() => true),
        sleep(timeoutMs).then(() => false),
      ]);
      if (!ok) throw new Error(`${this.o.userId}: not connected within ${timeoutMs} ms (state ${this.pc.connectionState})`);
    }
    this.connected = true;
    this.connectMs = performance.now() - t0;
  }

  /** Sends one Opus packet as the next RTP packet (a fresh RtpPacket each time: werift rewrites the header it sends). */
  send(payload: Buffer, frameSamples: number): void {
    if (!this.connected) return;
    this.ssrcSeq = (this.ssrcSeq + 1) & 0xffff;
    this.rtpTs = (this.rtpTs + frameSamples) >>> 0;
    const p = new RtpPacket(new RtpHeader({ sequenceNumber: this.ssrcSeq, timestamp: this.rtpTs, payloadType: OPUS_PT, marker: false }), payload);
    this.transceiver.sender.sendRtp(p).catch(() => { /* counted as not received by the xcast */ });
  }

  /** Leaves as a closing tab would: DELETE the session (best effort), then close the connection. */
  async close(): Promise<void> {
    if (this.clientId) {
      try { await fetch(`${this.o.base}/session/${this.clientId}`, { method: 'DELETE' }); } catch { /* the xcast may be gone */ }
    }
    this.closed = true;
    await this.pc.close().catch(() => undefined);
  }
}

/** The Opus fmtp and ptime the answer gave (what the xcast asked the browser to send). */
export function answerOpus(sdp: string): { fmtp: string | null; ptime: number | null } {
  const pt = /a=rtpmap:(\d+) opus\/48000/i.exec(sdp)?.[1];
  const fmtp = pt ? new RegExp(`a=fmtp:${pt} (.*)`).exec(sdp)?.[1]?.trim() ?? null : null;
  const ptime = /a=ptime:(\d+)/.exec(sdp)?.[1];
  return { fmtp, ptime: ptime ? Number(ptime) : null };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());

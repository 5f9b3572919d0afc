// One browser peer: its werift RTCPeerConnection, the RTP it publishes (checked, numbered, timed) and the RTP of the
// mix it listens to (numbered and timed per peer, sent when the mixer's clock says so).
import path from 'node:path';
import { RtpHeader, RtpPacket } from 'werift';
import type { RTCPeerConnection, RTCRtpSender, RTCRtpTransceiver, RtcpPacket } from 'werift';
import { SeqUnwrapper, wireSeq, extendRtpSeq } from '../seq';
import { opusPacketSamples } from '../protocol/opus-toc';
import { performance } from 'node:perf_hooks';
import { nowMicros } from '../clock';

export type PeerState = 'connecting' | 'connected';
export type LeaveReason = 'deleted' | 'replaced' | 'timeout' | 'closed' | 'failed' | 'shutdown';

/** What the hub tells about a peer (never its clientId). */
export interface RtcPeerInfo {
  connectionId: string;
  userId: string;
  name: string;
  room: string;
  publish: boolean;
  listen: boolean;
  stereo: boolean;
  remote: string;
  state: PeerState;
  connectedAt: number | null;
  joinedAt: number;
}

/** msg.audio of one published packet. */
export interface RtcAudioHeader {
  codec: 'opus';
  sampleRate: 48000;
  channels: number;
  frameSamples: number;
  seq: number;
  captureTime: number;
  trackId: 1;
}

export interface PeerEvents {
  audio(peer: RtcPeer, header: RtcAudioHeader, data: Buffer, arrivalMicros: number): void;
  rtt(peer: RtcPeer, rttMs: number): void;
  /** The first bad Opus packet of this peer (the rest are counted only). */
  badPacket(peer: RtcPeer, length: number): void;
}

const TWO32 = 4294967296;
// werift 0.24 sends no DTLS close_notify when it closes ("todo impl send alert"): the hub sends one itself, so the
// browser learns at once that the server ended it (not 30 s later from failed consent checks). werift's record
// builder is not exported (the package's "exports"): it is loaded by its file.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { createPlaintext } = require(path.join(path.dirname(require.resolve('werift')), '..', '..', 'dtls', 'src', 'record', 'builder.js')) as {
  createPlaintext: (dtls: unknown) => (f: Array<{ type: number; fragment: Buffer }>, seq: number) => unknown[];
};
const ALERT = 21;
const CLOSE_NOTIFY = Buffer.from([1, 0]); // level warning, close_notify

/** Sends a DTLS close_notify alert on each of a connection's DTLS transports (best effort); resolves when sent. */
export function sendCloseNotify(pc: RTCPeerConnection): Promise<void> {
  const sent: Array<Promise<unknown>> = [];
  for (const d of pc.dtlsTransports) {
    const sock = (d as unknown as { dtls?: { dtls: { recordSequenceNumber: number }; cipher: { encryptPacket(p: unknown): { serialize(): Buffer } }; transport: { send(b: Buffer): unknown } } }).dtls;
    if (!sock || d.state !== 'connected') continue;
    try {
      const pkt = createPlaintext(sock.dtls)([{ type: ALERT, fragment: CLOSE_NOTIFY }], ++sock.dtls.recordSequenceNumber)[0];
      sent.push(Promise.resolve(sock.transport.send(sock.cipher.encryptPacket(pkt).serialize())).catch(() => undefined));
    } catch {
      // a transport closing under us: nothing to tell
    }
  }
  return Promise.all(sent).then(() => undefined);
}

/** NTP era 0 starts 70 years before the Unix epoch. */
const NTP_UNIX_OFFSET_S = 2208988800;
/** A sender report whose clock is further than this from ours is not used for capture times. */
const MAX_SR_SKEW_US = 60_000_000;
/** Sends further apart than this are two runs of the mix (a listener's RTCP is expected only within a run). */
const STREAM_GAP_MS = 1000;
/**
 * A pause in the mix longer than this (a room that went quiet) moves the RTP timestamp on by the time that passed.
 * Shorter gaps are a late tick the mixer's clock catches up on with a burst: the timestamps stay contiguous.
 */
const PAUSE_MS = 500;

export function ntpToMicros(ntp: bigint): number {
  const sec = Number(ntp >> 32n);
  const frac = Number(ntp & 0xffffffffn);
  return (sec - NTP_UNIX_OFFSET_S) * 1e6 + (frac * 1e6) / TWO32;
}

export class RtcPeer {
  readonly info: RtcPeerInfo;
  /** performance.now() of the last RTP or RTCP from the browser (ICE consent checks do not count). */
  lastActivityMs: number;
  closed = false;
  /** Settles when its connection is closed (after leave()). */
  closing: Promise<unknown> = Promise.resolve();
  /** Bad Opus packets dropped. */
  badPackets = 0;
  packetsReceived = 0;
  packetsSent = 0;
  sender: RTCRtpSender | null = null;
  transceiver: RTCRtpTransceiver | null = null;

  // In: the publisher's numbering and clock.
  private readonly seq = new SeqUnwrapper();
  private ssrc = -1;
  /** The stream's first sender report has set the anchor below. */
  private hasSr = false;
  /** Capture time = anchorMicros + (RTP timestamp - anchorRtp) / 48 kHz: the first packet's arrival, then the first SR. */
  private anchorMicros = 0;
  private anchorRtp = 0;

  // Out: this peer's own RTP numbering of the mix.
  private outSeq = Math.floor(Math.random() * 65536);
  private outTs = Math.floor(Math.random() * TWO32);
  private lastSendMs = -1;
  /** performance.now() when the current run of sends began (none more than STREAM_GAP_MS apart). */
  private streamingSinceMs = -1;
  private lastSamples = 0;
  private marker = true;
  /** performance.now() of the last mix-minus (sendTo) sent to this peer. */
  lastDirectMs = -Infinity;
  private rttCount = 0;
  private rttTotal = 0;

  constructor(readonly clientId: string, readonly pc: RTCPeerConnection, info: RtcPeerInfo, private readonly ev: PeerEvents) {
    this.info = info;
    this.lastActivityMs = performance.now();
  }

  /** One RTP packet the browser published (werift hands each one over as its own clone). */
  onRtp(rtp: RtpPacket): void {
    if (this.closed) return;
    const payload = rtp.payload;
    const samples = opusPacketSamples(payload, 48000);
    if (samples <= 0) {
      if (this.badPackets++ === 0) this.ev.badPacket(this, payload.length);
      return;
    }
    const h = rtp.header;
    const arrival = nowMicros();
    if (h.ssrc !== this.ssrc) {
      // A new stream (or the first): its own numbering and clock.
      this.ssrc = h.ssrc;
      this.seq.reset();
      this.hasSr = false;
      this.anchorMicros = arrival;
      this.anchorRtp = h.timestamp;
    }
    const ext = extendRtpSeq(this.seq, h.sequenceNumber);
    const captureTime = this.anchorMicros + (((h.timestamp - this.anchorRtp) | 0) * 1e6) / 48000;
    this.packetsReceived++;
    const header: RtcAudioHeader = {
      codec: 'opus', sampleRate: 48000, channels: this.info.stereo ? 2 : 1, frameSamples: samples,
      seq: wireSeq(ext), captureTime: Math.round(captureTime), trackId: 1,
    };
    // An owned copy: werift's packet is a view into its decrypted datagram.
    this.ev.audio(this, header, Buffer.from(payload), arrival);
  }

  /**
   * RTCP from the browser to our receiver: its first sender report of a stream maps the RTP clock to its NTP time
   * (capture times on the sender's clock). Only the first: the RTP clock then carries them, so capture times never
   * step again (werift's own SRs, for one, carry a wrong NTP fraction: each would move them by up to a second).
   */
  onReceiverRtcp(p: RtcpPacket): void {
    if (p.type !== 200 || this.hasSr) return;
    const sr = p as unknown as { ssrc: number; senderInfo: { ntpTimestamp: bigint; rtpTimestamp: number } };
    if (sr.ssrc !== this.ssrc) return;
    const t = ntpToMicros(sr.senderInfo.ntpTimestamp);
    if (Math.abs(t - nowMicros()) > MAX_SR_SKEW_US) return;
    this.anchorMicros = t;
    this.anchorRtp = sr.senderInfo.rtpTimestamp;
    this.hasSr = true;
  }

  /** RTCP from the browser to our sender (its receiver reports of the mix): a new RTT sample, if werift made one. */
  onSenderRtcp(p: RtcpPacket): void {
    if (p.type !== 201 && p.type !== 200) return;
    const s = this.sender as unknown as { roundTripTimeMeasurements?: number; totalRoundTripTime?: number } | null;
    if (!s || s.roundTripTimeMeasurements === undefined || s.totalRoundTripTime === undefined) return;
    if (s.roundTripTimeMeasurements > this.rttCount) {
      const sample = (s.totalRoundTripTime - this.rttTotal) / (s.roundTripTimeMeasurements - this.rttCount);
      this.rttCount = s.roundTripTimeMeasurements;
      this.rttTotal = s.totalRoundTripTime;
      if (sample >= 0 && Number.isFinite(sample)) this.ev.rtt(this, sample * 1000);
    }
  }

  /** Whether the mix has streamed to this peer without a break since `since` (and still does at `now`). */
  streamedSince(since: number, now: number): boolean {
    return this.streamingSinceMs >= 0 && this.streamingSinceMs <= since && now - this.lastSendMs <= STREAM_GAP_MS;
  }

  /** Whether this peer takes the mix now. */
  get canSend(): boolean {
    return !this.closed && this.info.listen && this.info.state === 'connected' && this.sender !== null;
  }

  /**
   * One Opus packet of the mix to this peer: a fresh RTP packet (werift rewrites the header it is given when it
   * sends it, and keeps it for retransmission), this peer's seq and timestamp; the payload is shared, never written.
   */
  send(packet: Buffer, frameSamples: number, nowMs: number): void {
    const sender = this.sender as RTCRtpSender;
    if (this.lastSendMs < 0 || nowMs - this.lastSendMs > STREAM_GAP_MS) this.streamingSinceMs = nowMs;
    if (this.lastSendMs >= 0) {
      // After a pause the timestamp says how long it was, so the browser's jitter buffer does not squeeze it.
      const gapMs = nowMs - this.lastSendMs;
      const step = gapMs > PAUSE_MS ? Math.round((gapMs * 48000) / 1000) : this.lastSamples;
      this.outTs = (this.outTs + step) % TWO32;
      this.outSeq = (this.outSeq + 1) & 0xffff;
      if (step !== this.lastSamples) this.marker = true;
    }
    this.lastSendMs = nowMs;
    this.lastSamples = frameSamples;
    const header = new RtpHeader({ sequenceNumber: this.outSeq, timestamp: this.outTs, marker: this.marker, payloadType: 0 });
    this.marker = false;
    this.packetsSent++;
    sender.sendRtp(new RtpPacket(header, packet)).catch(() => { /* a send on a closing transport */ });
  }
}

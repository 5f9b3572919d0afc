// One outgoing RTP audio stream (the mix to ffplay, VLC, GStreamer, AES67 receivers): Opus packets as they come
// (RFC 7587) or f32 PCM as L24 packets of ptimeMs (RFC 3190), to a unicast or multicast address; RTCP SRs every
// srIntervalMs to port + 1; its SDP (sdp.ts writeSdp); an optional SAP announcer (RFC 2974). No Node-RED here:
// nodes/rtp-out is the glue.

import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { opusPacketSamples } from '../protocol/opus-toc';
import { RtpSender } from './sender';
import { f32ToL24 } from './l16';
import { writeSdp } from './sdp';
import { SAP_ADDRESS, SAP_PORT, buildSap } from './sap';

export interface RtpStreamOutOptions {
  codec: 'opus' | 'L24';
  host: string;
  port: number;
  /** Default port + 1. */
  rtcpPort?: number;
  channels: number;
  /** L24's rate (Opus: always 48000). */
  sampleRate?: number;
  /** Opus: the SDP's a=ptime (the encoder's frame); L24: the packet length. */
  ptimeMs: number;
  payloadType?: number;
  /** Multicast TTL (default 32). */
  ttl?: number;
  /** The local address to send from (default any). */
  localAddress?: string;
  srIntervalMs?: number;
  sessionName?: string;
}

/** A no-op lookup: the destination is an IP literal, and dgram's default lookup returns through process.nextTick. */
function literalLookup(address: string, _o: unknown, cb: (err: Error | null, address: string, family: number) => void): void {
  cb(null, address, isIP(address));
}

export class RtpStreamOut {
  readonly sender: RtpSender;
  readonly sdp: string;
  readonly packetSamples: number;
  /** Packets that could not be sent (a socket error). */
  sendErrors = 0;
  private readonly sock: Socket;
  private ready: Promise<void>;
  private samples = 0;
  private lastAtMs = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly payload: Buffer;
  private readonly rtcpPort: number;

  constructor(private readonly o: RtpStreamOutOptions) {
    const kind = isIP(o.host);
    if (kind === 0) throw new RangeError(`host "${o.host}" is not an IP address`);
    const rate = o.codec === 'opus' ? 48000 : (o.sampleRate ?? 48000);
    this.rtcpPort = o.rtcpPort ?? o.port + 1;
    this.sender = new RtpSender({ payloadType: o.payloadType ?? 96, clockRate: rate });
    this.sdp = writeSdp({
      codec: o.codec, address: o.host, port: o.port, payloadType: o.payloadType ?? 96, sampleRate: rate, channels: o.channels,
      ptimeMs: o.ptimeMs, ttl: o.ttl, sessionName: o.sessionName, sessionId: this.sender.ssrc, originAddress: o.localAddress,
    });
    this.packetSamples = (rate * o.ptimeMs) / 1000;
    if (o.codec === 'L24' && !Number.isInteger(this.packetSamples)) throw new RangeError(`ptimeMs ${o.ptimeMs} is not a whole number of samples at ${rate} Hz`);
    this.payload = Buffer.alloc(o.codec === 'L24' ? this.packetSamples * o.channels * 3 : 0);
    this.sock = createSocket({ type: kind === 6 ? 'udp6' : 'udp4', lookup: literalLookup as never });
    this.sock.on('error', () => { this.sendErrors++; });
    this.ready = new Promise<void>((resolve, reject) => {
      this.sock.once('error', reject);
      this.sock.bind(0, o.localAddress, () => {
        this.sock.off('error', reject);
        const multicast = kind === 4 ? (Number(o.host.split('.')[0]) & 0xf0) === 0xe0 : /^ff/i.test(o.host);
        if (multicast) {
          this.sock.setMulticastTTL(o.ttl ?? 32);
          if (o.localAddress) this.sock.setMulticastInterface(o.localAddress);
          this.sock.setMulticastLoopback(true);
        }
        resolve();
      });
    });
    this.ready.catch(() => { /* said by whenReady() */ });
    this.timer = setInterval(() => this.sendReport(), o.srIntervalMs ?? 5000);
    this.timer.unref();
  }

  /** Resolves when the socket is bound (rejects if it cannot be). */
  whenReady(): Promise<void> { return this.ready; }

  /** The local port RTP and RTCP go from. */
  get localPort(): number { return this.sock.address().port; }

  private send(b: Buffer, port: number): void {
    this.sock.send(b, port, this.o.host, (err) => { if (err) this.sendErrors++; });
  }

  /**
   * Whether this packet starts a talkspurt (RFC 3551 §4.1: the marker bit): the first one, or the first after the
   * input paused (the mixer sends nothing while no track plays). The media clock then moves on by the pause, so a
   * receiver's jitter buffer sees the gap as time, not as a burst of late packets.
   */
  private talkspurt(nowMs: number, durationSamples: number): boolean {
    const first = this.sender.packetCount === 0;
    const gapMs = nowMs - this.lastAtMs;
    const frameMs = (durationSamples * 1000) / this.sender.clockRate;
    this.lastAtMs = nowMs;
    if (first) return true;
    if (gapMs <= 100 + 2 * frameMs) return false;
    this.samples += Math.round(((gapMs - frameMs) * this.sender.clockRate) / 1000);
    return true;
  }

  /** One Opus packet; returns its samples (0: its TOC is not valid, nothing sent). */
  sendOpus(packet: Buffer, nowMs = Date.now()): number {
    const n = opusPacketSamples(packet, 48000);
    if (n <= 0) return 0;
    const marker = this.talkspurt(nowMs, n);
    this.send(this.sender.packet(packet, this.samples, marker), this.o.port);
    this.samples += n;
    return n;
  }

  /** f32 interleaved PCM of `frames` frames (a multiple of packetSamples) as L24 packets. */
  sendPcm(pcm: Float32Array, frames: number, nowMs = Date.now()): void {
    const ch = this.o.channels;
    let marker = this.talkspurt(nowMs, frames);
    for (let off = 0; off + this.packetSamples <= frames; off += this.packetSamples) {
      f32ToL24(pcm, this.payload, off * ch, this.packetSamples * ch);
      // packet() copies the payload into a fresh packet: the scratch payload is reused, no sent Buffer is touched.
      this.send(this.sender.packet(this.payload, this.samples, marker), this.o.port);
      marker = false;
      this.samples += this.packetSamples;
    }
  }

  /** An RTCP SR (+ SDES CNAME) now, once a packet has gone. */
  sendReport(): void {
    if (this.sender.packetCount === 0) return;
    this.send(this.sender.senderReport(Date.now(), this.samples), this.rtcpPort);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    try { this.sock.close(); } catch { /* not bound */ }
  }
}

/** SAP announcements of one SDP (RFC 2974 §3: every intervalMs; a deletion at stop()). */
export class SapAnnouncer {
  private readonly sock: Socket;
  private timer: NodeJS.Timeout | null = null;
  private readonly hash: number;
  announced = 0;

  constructor(private readonly o: { sdp: string; origin: string; address?: string; port?: number; intervalMs?: number; ttl?: number }) {
    let h = 0;
    for (let i = 0; i < o.sdp.length; i++) h = (h * 31 + o.sdp.charCodeAt(i)) & 0xffff;
    this.hash = h || 1;
    this.sock = createSocket({ type: isIP(o.address ?? SAP_ADDRESS) === 6 ? 'udp6' : 'udp4', lookup: literalLookup as never });
    this.sock.on('error', () => { /* a SAP announcement lost is sent again in intervalMs */ });
    this.sock.bind(0, () => {
      try { this.sock.setMulticastTTL(o.ttl ?? 32); } catch { /* unicast */ }
      this.announce();
      this.timer = setInterval(() => this.announce(), o.intervalMs ?? 30_000);
      this.timer.unref();
    });
  }

  private packet(deletion: boolean): Buffer {
    return buildSap({ sdp: this.o.sdp, origin: this.o.origin, msgIdHash: this.hash, deletion });
  }

  private announce(): void {
    this.sock.send(this.packet(false), this.o.port ?? SAP_PORT, this.o.address ?? SAP_ADDRESS);
    this.announced++;
  }

  /** Sends the deletion, then closes. */
  stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return new Promise((resolve) => {
      try {
        this.sock.send(this.packet(true), this.o.port ?? SAP_PORT, this.o.address ?? SAP_ADDRESS, () => {
          try { this.sock.close(); } catch { /* closed */ }
          resolve();
        });
      } catch {
        resolve();
      }
    });
  }
}

// The RTP ingest: one UDP port (and its RTCP port, or RTCP muxed on it, RFC 5761), many sources (RtpSourceTable:
// SSRC + address), each a track. Emits per source 'open', then 'audio' with the project's audio header (Opus as it
// came, after the TOC check; L16 / L24 as f32 PCM frames of the packet's own length), then 'close' (its BYE, or
// silence for the idle timeout). Sends each sender an RTCP RR (+ SDES CNAME) every rrIntervalMs. Garbage is dropped
// and counted by reason, never thrown. No Node-RED here: nodes/rtp-in is the glue.
//
// The audio header's seq is the RTP seq extended by the source's RtpReceiverStats (runtime/seq.ts extendRtpSeq on the
// shared SeqUnwrapper), low 32 bits: the playout buffer counts loss, late, duplicates and reorder from it, as for
// streamproto1; its jitter is the RFC 3550 jitter over seq × packet duration.

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { randomInt } from 'node:crypto';
import { nowMicros } from '../clock';
import { wireSeq } from '../seq';
import { opusPacketSamples } from '../protocol/opus-toc';
import { RtcpFormatError, parseRtcp } from './rtcp';
import { RtpSourceTable, type RtpDropReason, type RtpSource } from './sources';
import { l16ToF32, l24ToF32 } from './l16';
import type { RtpPayloadTable } from './sdp';

export interface RtpIngestOptions {
  host: string;
  /** 0: an ephemeral port (tests). */
  port: number;
  /** RTCP port; default port + 1; 'mux': RTCP on the RTP port (RFC 5761). */
  rtcpPort?: number | 'mux';
  payloads: RtpPayloadTable;
  users?: ReadonlyMap<number, string>;
  usersByAddress?: ReadonlyMap<string, string>;
  maxSources?: number;
  /** Sources from one sender address at most (default 16). */
  maxPerAddress?: number;
  /** A source silent this long ends (default 5000 ms). */
  idleMs?: number;
  /** RR interval (default 5000 ms, RFC 3550's minimum). */
  rrIntervalMs?: number;
  /** SO_RCVBUF of the RTP and RTCP sockets (default 4 MiB; the kernel caps it at net.core.rmem_max). */
  recvBufferBytes?: number;
  /** The receiver's SDES CNAME (default xcast-rtp-<ssrc hex>). */
  cname?: string;
}

/** The audio header of one packet (what the mixer's playout takes: runtime/audio/playout/options.ts). */
export interface RtpAudioHeader {
  codec: 'opus' | 'pcm_f32le';
  sampleRate: number;
  channels: number;
  frameSamples: number;
  seq: number;
  captureTime: number;
  trackId: number;
}

export type RtpIngestDropReason = RtpDropReason | 'rtcp-malformed';

export interface RtpIngestEvents {
  listening: [rtpPort: number, rtcpPort: number];
  open: [src: RtpSource];
  audio: [src: RtpSource, header: RtpAudioHeader, payload: Buffer, arrivalMicros: number];
  close: [src: RtpSource, reason: 'bye' | 'timeout' | 'closed'];
  /** One drop; `detail` says what was wrong (for a rate-limited log line, never one per packet). */
  drop: [reason: RtpIngestDropReason, detail: string];
  error: [err: Error];
}

export class RtpIngest extends EventEmitter<RtpIngestEvents> {
  readonly table: RtpSourceTable;
  /** RTCP datagrams that did not parse. */
  rtcpDropped = 0;
  /** RRs sent. */
  reportsSent = 0;
  readonly ssrc = randomInt(1, 2 ** 32 - 1) >>> 0;
  private readonly cname: string;
  private rtp: Socket | null = null;
  private rtcp: Socket | null = null;
  private timers: NodeJS.Timeout[] = [];
  /** Where each source's RTCP comes from (its SR's address and port), to send its RR there. */
  private readonly rtcpFrom = new WeakMap<RtpSource, { address: string; port: number }>();
  private readonly idleMicros: number;
  private closed = false;

  constructor(private readonly o: RtpIngestOptions) {
    super();
    this.table = new RtpSourceTable({ payloads: o.payloads, users: o.users, usersByAddress: o.usersByAddress, maxSources: o.maxSources, maxPerAddress: o.maxPerAddress });
    this.idleMicros = (o.idleMs ?? 5000) * 1000;
    this.cname = o.cname ?? `xcast-rtp-${this.ssrc.toString(16).padStart(8, '0')}`;
  }

  /** Datagrams dropped so far, by reason (a copy). */
  dropped(): Record<RtpIngestDropReason, number> {
    return { ...this.table.dropped, 'rtcp-malformed': this.rtcpDropped };
  }

  get rtpPort(): number { return this.rtp?.address().port ?? 0; }
  get rtcpPort(): number { return this.o.rtcpPort === 'mux' ? this.rtpPort : (this.rtcp?.address().port ?? 0); }

  /** Binds the ports; resolves with [rtpPort, rtcpPort]. */
  async listen(): Promise<[number, number]> {
    const family = this.o.host.includes(':') ? 'udp6' : 'udp4';
    const bind = (port: number, onMessage: (m: Buffer, r: RemoteInfo) => void) => new Promise<Socket>((resolve, reject) => {
      // A receive buffer for bursts: 1 ms packets from a few senders fill the default (~200 datagrams) in a GC pause.
      const s = createSocket({ type: family, reuseAddr: false, recvBufferSize: this.o.recvBufferBytes ?? 4 * 1024 * 1024 });
      s.once('error', reject);
      s.on('message', onMessage);
      s.bind(port, this.o.host, () => {
        s.off('error', reject);
        s.on('error', (e) => this.emit('error', e));
        resolve(s);
      });
    });
    const mux = this.o.rtcpPort === 'mux';
    this.rtp = await bind(this.o.port, mux ? (m, r) => (isRtcp(m) ? this.onRtcp(m, r) : this.onRtp(m, r)) : (m, r) => this.onRtp(m, r));
    if (!mux) {
      const want = typeof this.o.rtcpPort === 'number' ? this.o.rtcpPort : this.o.port === 0 ? 0 : this.o.port + 1;
      try {
        this.rtcp = await bind(want === 0 ? this.rtpPort + 1 : want, (m, r) => this.onRtcp(m, r));
      } catch (e) {
        // An ephemeral RTP port whose +1 is taken: any port (the RR says where it comes from, RFC 3550 §11).
        if (want !== 0) { this.rtp.close(); this.rtp = null; throw e; }
        this.rtcp = await bind(0, (m, r) => this.onRtcp(m, r));
      }
    }
    if (this.closed) { this.close(); throw new Error('rtp ingest closed while binding'); }
    const tick = Math.min(500, Math.max(50, this.idleMicros / 4000));
    this.timers.push(setInterval(() => this.expire(), tick));
    this.timers.push(setInterval(() => this.sendReports(), this.o.rrIntervalMs ?? 5000));
    for (const t of this.timers) t.unref();
    this.emit('listening', this.rtpPort, this.rtcpPort);
    return [this.rtpPort, this.rtcpPort];
  }

  private drop(reason: RtpIngestDropReason, detail: string): void {
    this.emit('drop', reason, detail);
  }

  private onRtp(m: Buffer, r: RemoteInfo): void {
    const arrival = nowMicros();
    const before = this.table.size;
    const src = this.table.accept(m, r.address, r.port, arrival);
    if (src === null) { this.drop(this.table.lastDropReason as RtpDropReason, this.table.lastDropDetail); return; }
    if (this.table.size > before) this.emit('open', src);
    const p = this.table.packet;
    const f = src.format;
    const seq = wireSeq(src.stats.lastExtendedSeq);
    if (f.codec === 'opus') {
      const frames = opusPacketSamples(p.payload, 48000);
      // The payload shares the datagram's memory, which nothing else holds: handed on without a copy.
      this.emit('audio', src, { codec: 'opus', sampleRate: 48000, channels: f.channels, frameSamples: frames, seq, captureTime: arrival, trackId: 1 }, p.payload, arrival);
      return;
    }
    const bytes = f.codec === 'L16' ? 2 : 3;
    const samples = p.payload.length / bytes;
    if (samples === 0) return; // an empty packet (a keep-alive) carries no time
    // A fresh buffer per packet: the playout keeps it by reference until played.
    const pcm = new Float32Array(samples);
    if (bytes === 2) l16ToF32(p.payload, pcm); else l24ToF32(p.payload, pcm);
    this.emit('audio', src, { codec: 'pcm_f32le', sampleRate: f.clockRate, channels: f.channels, frameSamples: samples / f.channels, seq, captureTime: arrival, trackId: 1 },
      Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength), arrival);
  }

  private onRtcp(m: Buffer, r: RemoteInfo): void {
    let packets;
    try {
      packets = parseRtcp(m);
    } catch (e) {
      if (!(e instanceof RtcpFormatError)) throw e;
      this.rtcpDropped++;
      this.drop('rtcp-malformed', e.message);
      return;
    }
    const arrival = nowMicros();
    for (const p of packets) {
      if (p.type === 'sr') {
        this.table.onSenderReport(p.ssrc, r.address, p.sender.ntpMsw, p.sender.ntpLsw, arrival);
        for (const s of this.table.sources()) if (s.ssrc === p.ssrc && s.address === r.address) this.rtcpFrom.set(s, { address: r.address, port: r.port });
      } else if (p.type === 'bye') {
        for (const ssrc of p.ssrcs) {
          for (const s of this.table.sources()) {
            if (s.ssrc === ssrc && s.address === r.address && this.table.remove(s)) this.emit('close', s, 'bye');
          }
        }
      }
    }
  }

  private expire(): void {
    for (const s of this.table.expire(nowMicros(), this.idleMicros)) this.emit('close', s, 'timeout');
  }

  /** One RR (+ SDES CNAME) to each source's sender, at its RTCP address (its SRs' source, else RTP port + 1). */
  sendReports(): void {
    const sock = this.o.rtcpPort === 'mux' ? this.rtp : this.rtcp;
    if (!sock) return;
    const now = nowMicros();
    for (const s of this.table.sources()) {
      if (!s.stats.started) continue;
      const to = this.rtcpFrom.get(s) ?? { address: s.address, port: this.o.rtcpPort === 'mux' ? s.port : s.port + 1 };
      if (to.port > 65535) continue;
      sock.send(this.table.receiverReport(s, this.ssrc, this.cname, now), to.port, to.address);
      this.reportsSent++;
    }
  }

  /** Ends every source ('close', 'closed') and frees the ports. */
  close(): void {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const s of this.table.sources()) {
      this.table.remove(s);
      this.emit('close', s, 'closed');
    }
    for (const s of [this.rtp, this.rtcp]) {
      if (!s) continue;
      try { s.close(); } catch { /* already closed */ }
    }
    this.rtp = this.rtcp = null;
  }
}

/** RTCP on a muxed port (RFC 5761 §4): the second byte is an RTCP packet type, 192–223 (RTP's PT 64–95 with M). */
export function isRtcp(m: Buffer): boolean {
  return m.length >= 2 && m[0] >> 6 === 2 && m[1] >= 192 && m[1] <= 223;
}

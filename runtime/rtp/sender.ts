// One outgoing RTP stream's state (RFC 3550 §5.1, §6.4.1): SSRC, next seq, timestamp origin, the packet and octet
// counts an SR carries. Packets are built with packet.ts, SRs with rtcp.ts; no socket here.

import { randomInt } from 'node:crypto';
import { buildRtp, rtpPacketBytes } from './packet';
import { buildCompound, buildSdesCname, buildSenderReport, ntpFromUnixMs, type ReportBlock } from './rtcp';

export interface RtpSenderOptions {
  payloadType: number;
  /** The RTP clock (48000 for Opus, the sample rate for L16 / L24). */
  clockRate: number;
  /** Random when not given (RFC 3550 §8.1), as are the first seq and timestamp (§5.1). */
  ssrc?: number;
  initialSeq?: number;
  initialTimestamp?: number;
  /** SDES CNAME sent with every SR (§6.5.1); default `xcast-<ssrc hex>`. */
  cname?: string;
}

const TWO32 = 4294967296;

export class RtpSender {
  readonly ssrc: number;
  readonly payloadType: number;
  readonly clockRate: number;
  readonly cname: string;
  /** The seq the next packet gets. */
  private seq: number;
  private readonly ts0: number;
  /** Packets and payload octets sent so far (the SR's counts). */
  packetCount = 0;
  octetCount = 0;

  constructor(o: RtpSenderOptions) {
    if (!Number.isInteger(o.payloadType) || o.payloadType < 0 || o.payloadType > 127) throw new RangeError(`payloadType ${String(o.payloadType)} is not 0-127`);
    if (!(o.clockRate > 0)) throw new RangeError(`clockRate ${String(o.clockRate)} is not positive`);
    this.payloadType = o.payloadType;
    this.clockRate = o.clockRate;
    this.ssrc = (o.ssrc ?? randomInt(0, 2 ** 32 - 1)) >>> 0;
    this.seq = (o.initialSeq ?? randomInt(0, 65536)) & 0xffff;
    this.ts0 = (o.initialTimestamp ?? randomInt(0, 2 ** 32 - 1)) >>> 0;
    this.cname = o.cname ?? `xcast-${this.ssrc.toString(16).padStart(8, '0')}`;
  }

  /** The RTP timestamp of media position `samples` (since the stream's start, in clock units). */
  timestampAt(samples: number): number {
    return (this.ts0 + (samples % TWO32)) % TWO32;
  }

  /** Bytes the next packet of a `payloadBytes` payload takes (to size a caller's buffer). */
  packetBytes(payloadBytes: number): number {
    return rtpPacketBytes({ payloadType: this.payloadType, seq: 0, timestamp: 0, ssrc: 0 }, payloadBytes);
  }

  /**
   * The next packet: `payload` whose first sample is at media position `samples`; into `out` when given. Build one
   * per destination and never touch it after sending.
   */
  packet(payload: Uint8Array, samples: number, marker = false, out?: Buffer): Buffer {
    const b = buildRtp({ payloadType: this.payloadType, seq: this.seq, timestamp: this.timestampAt(samples), ssrc: this.ssrc, marker }, payload, out);
    this.seq = (this.seq + 1) & 0xffff;
    this.packetCount++;
    this.octetCount += payload.length;
    return b;
  }

  /** A compound SR + SDES CNAME for wall-clock time `nowUnixMs`, when the media position is `samplesNow`. */
  senderReport(nowUnixMs: number, samplesNow: number, reports: readonly ReportBlock[] = []): Buffer {
    const [ntpMsw, ntpLsw] = ntpFromUnixMs(nowUnixMs);
    return buildCompound([
      buildSenderReport(this.ssrc, { ntpMsw, ntpLsw, rtpTimestamp: this.timestampAt(samplesNow), packetCount: this.packetCount, octetCount: this.octetCount }, reports),
      buildSdesCname(this.ssrc, this.cname),
    ]);
  }
}

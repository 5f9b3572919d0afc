// RTCP (RFC 3550 §6): SR and RR with report blocks, SDES CNAME, BYE, compound packets; and the receiver-side
// statistics of one source that an RR block reports (§6.4.1, A.3, A.8), computed with the project's one seq
// unwrapper (runtime/seq.ts extendRtpSeq) and one jitter estimator (runtime/jitter.ts Rfc3550Jitter).

import { Rfc3550Jitter } from '../jitter';
import { SEQ_RESTART_JUMP, SeqUnwrapper, extendRtpSeq } from '../seq';

export const RTCP_SR = 200;
export const RTCP_RR = 201;
export const RTCP_SDES = 202;
export const RTCP_BYE = 203;

/** A datagram that is not well-formed RTCP; `reason` is a short stable code for counting. */
export class RtcpFormatError extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
    this.name = 'RtcpFormatError';
  }
}

/** One reception report block (§6.4.1). */
export interface ReportBlock {
  ssrc: number;
  /** Fraction lost since the previous report, 0–255 (÷256). */
  fractionLost: number;
  /** Cumulative packets lost, signed 24-bit (duplicates can make it negative). */
  cumulativeLost: number;
  /** Extended highest sequence number received (cycles << 16 | seq), mod 2^32. */
  highestSeq: number;
  /** Interarrival jitter in timestamp units. */
  jitter: number;
  /** Middle 32 bits of the NTP timestamp of the last SR from this source, 0 if none. */
  lsr: number;
  /** Delay since that SR, in 1/65536 s, 0 if none. */
  dlsr: number;
}

export interface SenderInfo {
  /** NTP timestamp, most and least significant words. */
  ntpMsw: number;
  ntpLsw: number;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
}

export type RtcpPacket =
  | { type: 'sr'; ssrc: number; sender: SenderInfo; reports: ReportBlock[] }
  | { type: 'rr'; ssrc: number; reports: ReportBlock[] }
  | { type: 'sdes'; chunks: { ssrc: number; cname?: string }[] }
  | { type: 'bye'; ssrcs: number[] }
  | { type: 'other'; packetType: number };

const NTP_UNIX_OFFSET_S = 2208988800;
const TWO32 = 4294967296;

/** The 64-bit NTP timestamp of a Unix time in ms, as [msw, lsw]. */
export function ntpFromUnixMs(ms: number): [number, number] {
  const s = Math.floor(ms / 1000);
  const frac = Math.floor(((ms - s * 1000) / 1000) * TWO32);
  return [(s + NTP_UNIX_OFFSET_S) >>> 0, frac >>> 0];
}

/** The middle 32 bits of an NTP timestamp (the LSR field, §6.4.1). */
export function ntpMiddle(msw: number, lsw: number): number {
  return (((msw & 0xffff) << 16) | (lsw >>> 16)) >>> 0;
}

function writeBlock(b: Buffer, off: number, r: ReportBlock): void {
  b.writeUInt32BE(r.ssrc >>> 0, off);
  b[off + 4] = r.fractionLost & 0xff;
  let lost = Math.max(-0x800000, Math.min(0x7fffff, Math.trunc(r.cumulativeLost)));
  if (lost < 0) lost += 0x1000000;
  b.writeUIntBE(lost, off + 5, 3);
  b.writeUInt32BE(r.highestSeq >>> 0, off + 8);
  b.writeUInt32BE(r.jitter >>> 0, off + 12);
  b.writeUInt32BE(r.lsr >>> 0, off + 16);
  b.writeUInt32BE(r.dlsr >>> 0, off + 20);
}

function readBlock(b: Buffer, off: number): ReportBlock {
  const raw = b.readUIntBE(off + 5, 3);
  return {
    ssrc: b.readUInt32BE(off),
    fractionLost: b[off + 4],
    cumulativeLost: raw & 0x800000 ? raw - 0x1000000 : raw,
    highestSeq: b.readUInt32BE(off + 8),
    jitter: b.readUInt32BE(off + 12),
    lsr: b.readUInt32BE(off + 16),
    dlsr: b.readUInt32BE(off + 20),
  };
}

function header(b: Buffer, count: number, pt: number, bytes: number): void {
  b[0] = 0x80 | count;
  b[1] = pt;
  b.writeUInt16BE(bytes / 4 - 1, 2);
}

function checkReports(reports: readonly ReportBlock[]): void {
  if (reports.length > 31) throw new RangeError(`rtcp build: ${reports.length} report blocks, at most 31`);
}

/** An SR (§6.4.1): sender info and up to 31 report blocks. */
export function buildSenderReport(ssrc: number, sender: SenderInfo, reports: readonly ReportBlock[] = []): Buffer {
  checkReports(reports);
  const bytes = 28 + reports.length * 24;
  const b = Buffer.alloc(bytes);
  header(b, reports.length, RTCP_SR, bytes);
  b.writeUInt32BE(ssrc >>> 0, 4);
  b.writeUInt32BE(sender.ntpMsw >>> 0, 8);
  b.writeUInt32BE(sender.ntpLsw >>> 0, 12);
  b.writeUInt32BE(sender.rtpTimestamp >>> 0, 16);
  b.writeUInt32BE(sender.packetCount >>> 0, 20);
  b.writeUInt32BE(sender.octetCount >>> 0, 24);
  reports.forEach((r, i) => writeBlock(b, 28 + i * 24, r));
  return b;
}

/** An RR (§6.4.2): up to 31 report blocks (none is valid: "I am here"). */
export function buildReceiverReport(ssrc: number, reports: readonly ReportBlock[] = []): Buffer {
  checkReports(reports);
  const bytes = 8 + reports.length * 24;
  const b = Buffer.alloc(bytes);
  header(b, reports.length, RTCP_RR, bytes);
  b.writeUInt32BE(ssrc >>> 0, 4);
  reports.forEach((r, i) => writeBlock(b, 8 + i * 24, r));
  return b;
}

/** An SDES packet with one chunk: the CNAME of `ssrc` (§6.5.1), at most 255 UTF-8 bytes. */
export function buildSdesCname(ssrc: number, cname: string): Buffer {
  const text = Buffer.from(cname, 'utf8');
  if (text.length > 255) throw new RangeError(`rtcp build: CNAME of ${text.length} bytes, at most 255`);
  // chunk: SSRC(4) + type(1) + len(1) + text + at least one null, padded to 4
  const chunk = 4 + 2 + text.length + 1;
  const bytes = 4 + Math.ceil(chunk / 4) * 4;
  const b = Buffer.alloc(bytes);
  header(b, 1, RTCP_SDES, bytes);
  b.writeUInt32BE(ssrc >>> 0, 4);
  b[8] = 1;
  b[9] = text.length;
  text.copy(b, 10);
  return b;
}

/** A BYE (§6.6) for the given sources. */
export function buildBye(ssrcs: readonly number[]): Buffer {
  if (ssrcs.length > 31) throw new RangeError(`rtcp build: ${ssrcs.length} BYE sources, at most 31`);
  const bytes = 4 + ssrcs.length * 4;
  const b = Buffer.alloc(bytes);
  header(b, ssrcs.length, RTCP_BYE, bytes);
  ssrcs.forEach((s, i) => b.writeUInt32BE(s >>> 0, 4 + i * 4));
  return b;
}

/** A compound packet: the SR or RR first, then the rest (SDES CNAME at least, §6.1). */
export function buildCompound(parts: readonly Buffer[]): Buffer {
  if (parts.length === 0 || (parts[0][1] !== RTCP_SR && parts[0][1] !== RTCP_RR)) {
    throw new RangeError('rtcp build: a compound packet starts with an SR or RR');
  }
  return Buffer.concat(parts as Buffer[]);
}

/**
 * Parses a compound RTCP datagram (§6.1, A.2 validity checks: version 2, lengths that add up to the datagram,
 * the first packet an SR or RR without padding, padding only on the last). Throws RtcpFormatError only.
 */
export function parseRtcp(buf: Buffer): RtcpPacket[] {
  if (!Buffer.isBuffer(buf)) throw new RtcpFormatError('not-buffer', 'rtcp: datagram is not a Buffer');
  const n = buf.length;
  if (n < 4) throw new RtcpFormatError('short', `rtcp: ${n} bytes, shorter than a 4-byte header`);
  if (n % 4 !== 0) throw new RtcpFormatError('length', `rtcp: ${n} bytes, not a multiple of 4`);
  const out: RtcpPacket[] = [];
  let off = 0;
  while (off < n) {
    if (off + 4 > n) throw new RtcpFormatError('short', `rtcp: packet header at ${off} runs past the datagram`);
    const b0 = buf[off];
    if (b0 >> 6 !== 2) throw new RtcpFormatError('version', `rtcp: packet at ${off} has version ${b0 >> 6}, not 2`);
    const count = b0 & 0x1f;
    const pt = buf[off + 1];
    const bytes = (buf.readUInt16BE(off + 2) + 1) * 4;
    const end = off + bytes;
    if (end > n) throw new RtcpFormatError('length', `rtcp: packet at ${off} says ${bytes} bytes, ${n - off} left`);
    if (off === 0 && pt !== RTCP_SR && pt !== RTCP_RR) throw new RtcpFormatError('first', `rtcp: first packet is type ${pt}, not SR (200) or RR (201)`);
    let bodyEnd = end;
    if (b0 & 0x20) {
      if (end !== n) throw new RtcpFormatError('padding', `rtcp: padding on packet at ${off}, not the last`);
      const pad = buf[end - 1];
      if (pad === 0 || pad > bytes - 4) throw new RtcpFormatError('padding', `rtcp: padding count ${pad} in a ${bytes}-byte packet`);
      bodyEnd = end - pad;
    }
    const body = bodyEnd - off;
    if (pt === RTCP_SR || pt === RTCP_RR) {
      const fixed = pt === RTCP_SR ? 28 : 8;
      if (body < fixed + count * 24) {
        throw new RtcpFormatError('length', `rtcp: ${pt === RTCP_SR ? 'SR' : 'RR'} with ${count} blocks needs ${fixed + count * 24} bytes, has ${body}`);
      }
      const reports: ReportBlock[] = [];
      for (let i = 0; i < count; i++) reports.push(readBlock(buf, off + fixed + i * 24));
      const ssrc = buf.readUInt32BE(off + 4);
      if (pt === RTCP_SR) {
        out.push({
          type: 'sr', ssrc, reports,
          sender: {
            ntpMsw: buf.readUInt32BE(off + 8), ntpLsw: buf.readUInt32BE(off + 12), rtpTimestamp: buf.readUInt32BE(off + 16),
            packetCount: buf.readUInt32BE(off + 20), octetCount: buf.readUInt32BE(off + 24),
          },
        });
      } else out.push({ type: 'rr', ssrc, reports });
    } else if (pt === RTCP_SDES) {
      const chunks: { ssrc: number; cname?: string }[] = [];
      let p = off + 4;
      for (let c = 0; c < count; c++) {
        if (p + 4 > bodyEnd) throw new RtcpFormatError('sdes', `rtcp: SDES chunk ${c} runs past its packet`);
        const chunk: { ssrc: number; cname?: string } = { ssrc: buf.readUInt32BE(p) };
        p += 4;
        for (;;) {
          if (p >= bodyEnd) throw new RtcpFormatError('sdes', `rtcp: SDES chunk ${c} has no end item`);
          const type = buf[p];
          if (type === 0) break;
          if (p + 2 > bodyEnd || p + 2 + buf[p + 1] > bodyEnd) throw new RtcpFormatError('sdes', `rtcp: SDES item of chunk ${c} runs past its packet`);
          if (type === 1) chunk.cname = buf.toString('utf8', p + 2, p + 2 + buf[p + 1]);
          p += 2 + buf[p + 1];
        }
        p = (Math.floor((p - off) / 4) + 1) * 4 + off; // the null(s) up to the next 32-bit boundary
        chunks.push(chunk);
      }
      out.push({ type: 'sdes', chunks });
    } else if (pt === RTCP_BYE) {
      if (4 + count * 4 > body) throw new RtcpFormatError('length', `rtcp: BYE of ${count} sources needs ${4 + count * 4} bytes, has ${body}`);
      const ssrcs: number[] = [];
      for (let i = 0; i < count; i++) ssrcs.push(buf.readUInt32BE(off + 4 + i * 4));
      out.push({ type: 'bye', ssrcs });
    } else {
      out.push({ type: 'other', packetType: pt });
    }
    off = end;
  }
  return out;
}

/**
 * What an RR block says about one source (RFC 3550 A.3, A.8): fed each RTP packet's seq and timestamp with its
 * arrival time, and each SR from that source. The extended seq is the shared SeqUnwrapper's (extendRtpSeq); a
 * jump past SEQ_RESTART_JUMP is a sender restart (runtime/seq.ts policy): the count starts again from it, the
 * loss counted so far is kept. Jitter is the shared Rfc3550Jitter on µs clocks, reported in timestamp units.
 * Allocation-free per packet.
 */
export class RtpReceiverStats {
  private readonly seqs = new SeqUnwrapper();
  private readonly jit = new Rfc3550Jitter();
  private base = NaN;
  private received = 0;
  private lostBefore = 0;
  private expectedPrior = 0;
  private receivedPrior = 0;
  private tsExt = NaN;
  private lastTs = 0;
  private lsr = 0;
  private lsrArrivalMicros = NaN;

  constructor(readonly ssrc: number, readonly clockRate: number) {
    if (!(clockRate > 0)) throw new RangeError(`clockRate ${String(clockRate)} is not positive`);
  }

  /** The extended seq of the last packet fed (NaN before the first): what the QoS SeqTracker / playout take. */
  lastExtendedSeq = NaN;

  /** One RTP packet of this source; returns its extended seq (the count since the last restart's anchor). */
  onPacket(seq16: number, timestamp: number, arrivalMicros: number): number {
    const prev = this.seqs.highest;
    const ext = extendRtpSeq(this.seqs, seq16);
    if (Number.isNaN(this.base)) this.base = ext;
    else if (ext - prev > SEQ_RESTART_JUMP || prev - ext > SEQ_RESTART_JUMP) {
      this.lostBefore += prev - this.base + 1 - this.received; // the old numbering's loss (highest already moved)
      this.seqs.anchor(ext);
      this.base = ext;
      this.received = 0;
      this.expectedPrior = 0;
      this.receivedPrior = 0;
      this.jit.restartClock();
      this.tsExt = NaN;
    }
    this.received++;
    // The media clock, unwrapped (signed 32-bit steps) so a timestamp wrap is no jump.
    this.tsExt = Number.isNaN(this.tsExt) ? timestamp >>> 0 : this.tsExt + ((timestamp - this.lastTs) | 0);
    this.lastTs = timestamp >>> 0;
    this.jit.update(arrivalMicros, (this.tsExt * 1e6) / this.clockRate);
    this.lastExtendedSeq = ext;
    return ext;
  }

  /** An SR of this source arrived (its NTP timestamp words) at `arrivalMicros`: the LSR / DLSR reference. */
  onSenderReport(ntpMsw: number, ntpLsw: number, arrivalMicros: number): void {
    this.lsr = ntpMiddle(ntpMsw, ntpLsw);
    this.lsrArrivalMicros = arrivalMicros;
  }

  private expectedNow(): number {
    return Number.isNaN(this.base) ? 0 : this.seqs.highest - this.base + 1;
  }

  /** Packets expected minus received, over the life of the source. */
  get cumulativeLost(): number {
    return this.lostBefore + this.expectedNow() - this.received;
  }

  /** Jitter in timestamp units. */
  get jitterUnits(): number {
    return Math.round((this.jit.jitterMs * this.clockRate) / 1000);
  }

  /** Whether a packet has arrived (an RR block says nothing before). */
  get started(): boolean {
    return !Number.isNaN(this.base);
  }

  /** The report block now, and starts the next interval for fraction lost. Into `out` when given. */
  report(nowMicros: number, out?: ReportBlock): ReportBlock {
    const expected = this.expectedNow();
    const expectedInterval = expected - this.expectedPrior;
    const lostInterval = expectedInterval - (this.received - this.receivedPrior);
    this.expectedPrior = expected;
    this.receivedPrior = this.received;
    const r = out ?? ({} as ReportBlock);
    r.ssrc = this.ssrc;
    r.fractionLost = expectedInterval <= 0 || lostInterval <= 0 ? 0 : Math.min(255, Math.floor((lostInterval * 256) / expectedInterval));
    r.cumulativeLost = this.cumulativeLost;
    r.highestSeq = Number.isNaN(this.seqs.highest) ? 0 : this.seqs.highest % TWO32;
    r.jitter = this.jitterUnits;
    r.lsr = Number.isNaN(this.lsrArrivalMicros) ? 0 : this.lsr;
    r.dlsr = Number.isNaN(this.lsrArrivalMicros) ? 0 : Math.max(0, Math.round(((nowMicros - this.lsrArrivalMicros) * 65536) / 1e6)) >>> 0;
    return r;
  }
}

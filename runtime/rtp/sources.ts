// The RTP ingest's table of sources: one datagram in, either the packet with its source (SSRC + sender address,
// its payload format, its RR statistics) or the reason it is dropped, counted. No socket, no decoding, no Node-RED:
// the ingest node feeds it datagrams and hands accepted payloads to a track's decoder / playout.

import { opusPacketSamples } from '../protocol/opus-toc';
import { AddressCounts } from '../protocol/auth';
import { RtpFormatError, parseRtp, type RtpPacket } from './packet';
import { RtpReceiverStats, buildCompound, buildReceiverReport, buildSdesCname, type ReportBlock } from './rtcp';
import type { RtpPayloadInfo, RtpPayloadTable } from './sdp';

export type RtpDropReason = 'malformed' | 'payload-type' | 'opus-toc' | 'pcm-size' | 'too-many-sources';

export interface RtpSource {
  readonly ssrc: number;
  readonly address: string;
  readonly port: number;
  /** From the mapping, else `rtp-<ssrc as 8 hex digits>`. */
  readonly userId: string;
  /** The format of the first packet; a later packet of another PT is dropped as 'payload-type'. */
  readonly format: RtpPayloadInfo;
  readonly stats: RtpReceiverStats;
  lastHeardMicros: number;
  packets: number;
}

export interface RtpSourceTableOptions {
  payloads: RtpPayloadTable;
  /** SSRC → userId. */
  users?: ReadonlyMap<number, string>;
  /** Sender "address:port" or "address" → userId (an SSRC mapping wins; "address:port" wins over "address"). */
  usersByAddress?: ReadonlyMap<string, string>;
  /** Default 64. */
  maxSources?: number;
  /**
   * Sources from one sender address (any port; an IPv6 /64 counts as one address) at most; default 16. One host spraying SSRCs (or ports) fills this,
   * not the whole table: the other senders still get in.
   */
  maxPerAddress?: number;
}

export class RtpSourceTable {
  private readonly payloads: RtpPayloadTable;
  private readonly users: ReadonlyMap<number, string>;
  private readonly usersByAddress: ReadonlyMap<string, string>;
  private readonly maxSources: number;
  private readonly maxPerAddress: number;
  private readonly perAddress = new AddressCounts();
  private readonly bySsrc = new Map<number, RtpSource[]>();
  private count = 0;
  /** Datagrams dropped, by reason. */
  readonly dropped: Record<RtpDropReason, number> = { malformed: 0, 'payload-type': 0, 'opus-toc': 0, 'pcm-size': 0, 'too-many-sources': 0 };
  /** The last accepted packet (reused: valid until the next accept()). */
  readonly packet: RtpPacket = { marker: false, payloadType: 0, seq: 0, timestamp: 0, ssrc: 0, csrc: [], extensionProfile: -1, payload: Buffer.alloc(0) };
  /** The last drop's detail (a RtpFormatError message, or what did not fit), for a rate-limited log line. */
  lastDropDetail = '';
  /** The last drop's reason. */
  lastDropReason: RtpDropReason | '' = '';

  constructor(o: RtpSourceTableOptions) {
    this.payloads = o.payloads;
    this.users = o.users ?? new Map();
    this.usersByAddress = o.usersByAddress ?? new Map();
    this.maxSources = o.maxSources ?? 64;
    if (!Number.isInteger(this.maxSources) || this.maxSources < 1) throw new RangeError(`maxSources ${String(o.maxSources)} is not a positive integer`);
    this.maxPerAddress = o.maxPerAddress ?? 16;
    if (!Number.isInteger(this.maxPerAddress) || this.maxPerAddress < 1) throw new RangeError(`maxPerAddress ${String(o.maxPerAddress)} is not a positive integer`);
  }

  get size(): number { return this.count; }

  /** Every source, in no particular order. */
  sources(): RtpSource[] {
    return [...this.bySsrc.values()].flat();
  }

  /** The source of (ssrc, address, port), if known. */
  find(ssrc: number, address: string, port: number): RtpSource | undefined {
    const list = this.bySsrc.get(ssrc);
    if (!list) return undefined;
    for (const s of list) if (s.port === port && s.address === address) return s;
    return undefined;
  }

  /** The userId of a new source: the SSRC's mapping, the address:port's, the address's, else `rtp-<ssrc hex>`. */
  private userOf(ssrc: number, address: string, port: number): string {
    return this.users.get(ssrc) ?? this.usersByAddress.get(`${address}:${port}`) ?? this.usersByAddress.get(address)
      ?? `rtp-${ssrc.toString(16).padStart(8, '0')}`;
  }

  /** Forgets one source (its BYE came); returns whether it was known. */
  remove(src: RtpSource): boolean {
    const list = this.bySsrc.get(src.ssrc);
    const i = list ? list.indexOf(src) : -1;
    if (!list || i < 0) return false;
    list.splice(i, 1);
    if (list.length === 0) this.bySsrc.delete(src.ssrc);
    this.count--;
    this.perAddress.remove(src.address);
    return true;
  }

  private drop(reason: RtpDropReason, detail: string): null {
    this.dropped[reason]++;
    this.lastDropReason = reason;
    this.lastDropDetail = detail;
    return null;
  }

  /**
   * One datagram from `address`:`port`. Returns its source (a new one on its first packet) with the packet in
   * `this.packet`, or null when it is dropped (counted in `dropped`). Opus payloads pass the TOC check (RFC 6716
   * §3.4) here, before any decoder sees them; L16 / L24 payloads must be whole frames.
   */
  accept(buf: Buffer, address: string, port: number, arrivalMicros: number): RtpSource | null {
    const p = this.packet;
    try {
      parseRtp(buf, p);
    } catch (e) {
      if (e instanceof RtpFormatError) return this.drop('malformed', e.message);
      throw e;
    }
    let src = this.find(p.ssrc, address, port);
    const format = src ? src.format : this.payloads.get(p.payloadType);
    if (!format || format.payloadType !== p.payloadType) return this.drop('payload-type', `payload type ${p.payloadType} from ${address}:${port}`);
    if (format.codec === 'opus') {
      if (p.payload.length === 0 || opusPacketSamples(p.payload) < 0) return this.drop('opus-toc', `Opus packet of ${p.payload.length} bytes fails the TOC check`);
    } else if (p.payload.length % ((format.codec === 'L16' ? 2 : 3) * format.channels) !== 0) {
      return this.drop('pcm-size', `${format.codec} payload of ${p.payload.length} bytes is not whole ${format.channels}-channel frames`);
    }
    if (!src) {
      if (this.count >= this.maxSources) return this.drop('too-many-sources', `source ${p.ssrc} from ${address}:${port}: ${this.maxSources} already`);
      if (this.perAddress.of(address) >= this.maxPerAddress) return this.drop('too-many-sources', `source ${p.ssrc} from ${address}:${port}: ${this.maxPerAddress} from ${address} already`);
      this.perAddress.add(address);
      src = {
        ssrc: p.ssrc, address, port, format,
        userId: this.userOf(p.ssrc, address, port),
        stats: new RtpReceiverStats(p.ssrc, format.clockRate),
        lastHeardMicros: arrivalMicros, packets: 0,
      };
      const list = this.bySsrc.get(p.ssrc);
      if (list) list.push(src); else this.bySsrc.set(p.ssrc, [src]);
      this.count++;
    }
    src.stats.onPacket(p.seq, p.timestamp, arrivalMicros);
    src.lastHeardMicros = arrivalMicros;
    src.packets++;
    return src;
  }

  /** An SR from `address` (its RTCP port need not be the RTP port + 1): the LSR of every source of that SSRC there. */
  onSenderReport(ssrc: number, address: string, ntpMsw: number, ntpLsw: number, arrivalMicros: number): void {
    const list = this.bySsrc.get(ssrc);
    if (list) for (const s of list) if (s.address === address) s.stats.onSenderReport(ntpMsw, ntpLsw, arrivalMicros);
  }

  /** Forgets sources not heard for `idleMicros`; returns them (their tracks end). */
  expire(nowMicros: number, idleMicros: number): RtpSource[] {
    const gone: RtpSource[] = [];
    for (const [ssrc, list] of this.bySsrc) {
      const keep = list.filter((s) => {
        if (nowMicros - s.lastHeardMicros <= idleMicros) return true;
        gone.push(s);
        this.perAddress.remove(s.address);
        return false;
      });
      if (keep.length === 0) this.bySsrc.delete(ssrc); else this.bySsrc.set(ssrc, keep);
    }
    this.count -= gone.length;
    return gone;
  }

  /** The compound RR + SDES CNAME for one source's sender, from receiver `ssrc` / `cname`. */
  receiverReport(src: RtpSource, ssrc: number, cname: string, nowMicros: number, block?: ReportBlock): Buffer {
    return buildCompound([buildReceiverReport(ssrc, [src.stats.report(nowMicros, block)]), buildSdesCname(ssrc, cname)]);
  }
}

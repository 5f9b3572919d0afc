// The SAP listener's directory (RFC 2974): the streams announced on a SAP group, from the datagrams heard —
// socket-free, as the UDP session tables are. `hear(datagram, from, nowMs)` per datagram, `expire(nowMs)` now and
// then; `list()` what is known. Packets are parsed by sap.ts, their SDP by sdp.ts.
//
// A stream is the session its SDP's o= line names (username, session id, network and address: RFC 8866 §5.2, a
// globally unique identifier; the version may change), or, without one, the SAP origin and message id hash. A
// deletion names it the same way (RFC 2974 §4: its payload may be the o= line alone).
// Timeout (RFC 2974 §4): a stream not heard for ten times its announcement interval or one hour, whichever is the
// greater, is gone; `timeoutMs` sets a fixed timeout instead (AES67 devices announce every 30 s or so).

import { parseSap, SapFormatError } from './sap';
import { parseSdp, rtpCodecOf } from './sdp';

export interface SapStreamFormat {
  payloadType: number;
  /** "opus/48000/2", "L24/48000/2": the rtpmap. */
  rtpmap: string;
  encoding: string;
  clockRate: number;
  channels: number;
  /** 'opus' | 'L16' | 'L24' when this project can receive it, else null. */
  codec: string | null;
}

export interface SapStream {
  /** What the directory knows it by (the o= identity, else "sap:<origin>/<hash>"). */
  key: string;
  /** s= */
  name: string;
  /** The SDP's o= line fields; null when it has none. */
  origin: { username: string; sessionId: string; sessionVersion: string; address: string } | null;
  /** The SAP header's originating source. */
  sapOrigin: string;
  msgIdHash: number;
  /** Where the datagram came from ("address:port"). */
  from: string;
  /** The first audio m-line's connection address (media c=, else session c=), port and TTL. */
  address: string | null;
  port: number | null;
  ttl: number | null;
  multicast: boolean;
  /** The first audio m-line's formats, and its ptime. */
  formats: SapStreamFormat[];
  ptimeMs: number | null;
  /** The SDP as announced. */
  sdp: string;
  firstHeardAt: number;
  lastHeardAt: number;
  /** Announcements heard (repeats included). */
  announcements: number;
  /** Mean time between announcements, ms (null until two were heard). */
  intervalMs: number | null;
}

export type SapHeard =
  | { kind: 'new' | 'changed' | 'repeat'; stream: SapStream }
  | { kind: 'deleted'; stream: SapStream }
  /** A deletion of a stream not in the directory. */
  | { kind: 'unknown-deletion'; key: string }
  | { kind: 'drop'; reason: string; message: string };

export interface SapDirectoryOptions {
  /** A fixed timeout, ms (> 0); absent: RFC 2974's. */
  timeoutMs?: number;
  /** Streams kept (default 1024); a new one when full drops the least recently heard. */
  maxStreams?: number;
}

/** RFC 2974 §4: one hour at least. */
export const SAP_MIN_TIMEOUT_MS = 3_600_000;

export class SapDirectory {
  readonly timeoutMs: number | undefined;
  readonly maxStreams: number;
  readonly stats = { datagrams: 0, announcements: 0, deletions: 0, dropped: 0, drops: {} as Record<string, number>, expired: 0 };
  private readonly streams = new Map<string, SapStream>();

  /** Throws an Error naming the option for a bad value. */
  constructor(o: SapDirectoryOptions = {}) {
    if (o.timeoutMs !== undefined && !(typeof o.timeoutMs === 'number' && Number.isFinite(o.timeoutMs) && o.timeoutMs > 0)) {
      throw new Error(`timeoutMs: must be a number > 0, got ${String(o.timeoutMs)}`);
    }
    this.timeoutMs = o.timeoutMs;
    const max = o.maxStreams ?? 1024;
    if (!(Number.isInteger(max) && max >= 1 && max <= 1_000_000)) throw new Error(`maxStreams: must be an integer 1 … 1000000, got ${String(max)}`);
    this.maxStreams = max;
  }

  get size(): number {
    return this.streams.size;
  }

  /** Least recently heard first (fresh objects' fields are the directory's: read, do not change). */
  list(): SapStream[] {
    return [...this.streams.values()];
  }

  /** How long `s` lasts unheard. */
  timeoutOf(s: SapStream): number {
    return this.timeoutMs ?? Math.max(SAP_MIN_TIMEOUT_MS, 10 * (s.intervalMs ?? 0));
  }

  hear(datagram: Buffer, from: { address: string; port: number }, nowMs: number): SapHeard {
    this.stats.datagrams++;
    let pkt;
    try {
      pkt = parseSap(datagram);
    } catch (e) {
      return this.drop(e instanceof SapFormatError ? e.reason : 'sap', (e as Error).message);
    }
    if (pkt.payloadType !== 'application/sdp') return this.drop('payload-type', `sap: payload type "${pkt.payloadType.slice(0, 60)}" is not application/sdp`);
    const origin = originOf(pkt.payload);
    const key = origin ? `o:${origin.username} ${origin.sessionId} ${origin.address}` : `sap:${pkt.origin}/${pkt.msgIdHash}`;
    if (pkt.deletion) {
      this.stats.deletions++;
      // Without an o= line the deletion names the announcement by origin and hash.
      const k = this.streams.has(key) ? key : this.findByHash(pkt.origin, pkt.msgIdHash) ?? key;
      const s = this.streams.get(k);
      if (!s) return { kind: 'unknown-deletion', key: k };
      this.streams.delete(k);
      return { kind: 'deleted', stream: s };
    }
    let sdp;
    try {
      sdp = parseSdp(pkt.payload);
    } catch (e) {
      return this.drop('sdp', (e as Error).message);
    }
    this.stats.announcements++;
    const audio = sdp.audio[0];
    const conn = audio?.connection ?? sdp.connection;
    const prev = this.streams.get(key);
    const s: SapStream = {
      key, name: sdp.name, origin, sapOrigin: pkt.origin, msgIdHash: pkt.msgIdHash,
      from: `${from.address.includes(':') ? `[${from.address}]` : from.address}:${from.port}`,
      address: conn?.address ?? null, port: audio?.port ?? null, ttl: conn?.ttl ?? null, multicast: conn?.multicast ?? false,
      formats: (audio?.formats ?? []).map((f) => ({
        payloadType: f.payloadType, rtpmap: `${f.encoding}/${f.clockRate}${f.channels !== 1 ? `/${f.channels}` : ''}`,
        encoding: f.encoding, clockRate: f.clockRate, channels: f.channels, codec: rtpCodecOf(f),
      })),
      ptimeMs: audio?.ptimeMs ?? null,
      sdp: pkt.payload,
      firstHeardAt: prev?.firstHeardAt ?? nowMs,
      lastHeardAt: nowMs,
      announcements: (prev?.announcements ?? 0) + 1,
      intervalMs: prev ? (nowMs - prev.firstHeardAt) / prev.announcements : null,
    };
    if (prev) this.streams.delete(key);
    else if (this.streams.size >= this.maxStreams) this.streams.delete(this.streams.keys().next().value as string);
    this.streams.set(key, s);
    return { kind: prev === undefined ? 'new' : prev.sdp === s.sdp ? 'repeat' : 'changed', stream: s };
  }

  /** Removes and returns the streams that timed out at `nowMs` (least recently heard first). */
  expire(nowMs: number): SapStream[] {
    const out: SapStream[] = [];
    for (const s of this.streams.values()) if (nowMs - s.lastHeardAt >= this.timeoutOf(s)) out.push(s);
    for (const s of out) this.streams.delete(s.key);
    this.stats.expired += out.length;
    return out;
  }

  clear(): void {
    this.streams.clear();
  }

  private findByHash(origin: string, hash: number): string | undefined {
    for (const s of this.streams.values()) if (s.sapOrigin === origin && s.msgIdHash === hash) return s.key;
    return undefined;
  }

  private drop(reason: string, message: string): SapHeard {
    this.stats.dropped++;
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
    return { kind: 'drop', reason, message };
  }
}

/** The o= line's fields (RFC 8866 §5.2: o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>). */
function originOf(sdp: string): SapStream['origin'] {
  const m = /^o=(\S+) (\S+) (\S+) IN IP[46] (\S+)\s*$/m.exec(sdp);
  return m ? { username: m[1], sessionId: m[2], sessionVersion: m[3], address: m[4] } : null;
}

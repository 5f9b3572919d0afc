// SDP (RFC 4566 / 8866) for RTP audio: read a session's audio m-lines (connection, port, payload types with their
// rtpmap / fmtp, ptime) and write the one SDP of the xcast's RTP mix out. Codecs: Opus (RFC 7587, always
// opus/48000/2 in the rtpmap) and L16 / L24 (RFC 3551 §4.5.11 / RFC 3190 §4, any rate and channel count).
//
// Hand-written rather than sdp-transform: the subset is small, and sdp-transform hands back untyped, unvalidated
// strings and numbers (a port "abc" is NaN, an unknown line is silently kept), so the validation below would be
// needed on top of it anyway. Lines not needed here are skipped (RFC 8866 §5: unknown attributes are ignored).

import { isIP } from 'node:net';

/** An SDP that cannot describe an audio RTP stream; the message names the line or field. */
export class SdpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SdpError';
  }
}

export interface SdpConnection {
  /** 'IP4' or 'IP6'. */
  addrType: string;
  address: string;
  /** IPv4 multicast TTL (`c=IN IP4 239.1.1.1/32`); undefined if none. */
  ttl?: number;
  multicast: boolean;
}

export interface SdpFormat {
  payloadType: number;
  /** As written in the rtpmap ('opus', 'L16', ...); for a static type without an rtpmap, RFC 3551's name. */
  encoding: string;
  clockRate: number;
  /** From the rtpmap's third field, 1 when absent (RFC 8866 §6.6). */
  channels: number;
  /** The fmtp parameters (`a=fmtp:PT k=v;k2=v2`), names lower-cased. */
  fmtp: Record<string, string>;
}

export interface SdpAudio {
  port: number;
  /** The m-line's transport, e.g. 'RTP/AVP'. */
  protocol: string;
  /** The media-level c= line, else the session's. */
  connection?: SdpConnection;
  formats: SdpFormat[];
  /** a=ptime in ms, undefined if none. */
  ptimeMs?: number;
  maxptimeMs?: number;
}

export interface SdpSession {
  name: string;
  connection?: SdpConnection;
  audio: SdpAudio[];
}

/** RFC 3551 Table 4's static audio types this project can take. */
const STATIC: Record<number, { encoding: string; clockRate: number; channels: number }> = {
  10: { encoding: 'L16', clockRate: 44100, channels: 2 },
  11: { encoding: 'L16', clockRate: 44100, channels: 1 },
};

export type RtpAudioCodec = 'opus' | 'L16' | 'L24';

/** The codec of a format this project decodes, or null. Opus must be opus/48000/2 (RFC 7587 §7). */
export function rtpCodecOf(f: SdpFormat): RtpAudioCodec | null {
  const e = f.encoding.toLowerCase();
  if (e === 'opus') return f.clockRate === 48000 && f.channels === 2 ? 'opus' : null;
  if (e === 'l16') return 'L16';
  if (e === 'l24') return 'L24';
  return null;
}

/** Channels an Opus stream's sender may send (RFC 7587 §7.1: sprop-stereo=1), for choosing the decoder. */
export function opusSendsStereo(f: SdpFormat): boolean {
  return f.fmtp['sprop-stereo'] === '1';
}

function parseConnection(v: string, line: number): SdpConnection {
  const parts = v.trim().split(/\s+/);
  if (parts.length !== 3 || parts[0] !== 'IN' || (parts[1] !== 'IP4' && parts[1] !== 'IP6')) {
    throw new SdpError(`sdp line ${line}: c= must be "IN IP4|IP6 address", got "${v}"`);
  }
  const [addr, ...rest] = parts[2].split('/');
  const kind = isIP(addr);
  if ((parts[1] === 'IP4' && kind !== 4) || (parts[1] === 'IP6' && kind !== 6)) {
    throw new SdpError(`sdp line ${line}: c= address "${addr}" is not an ${parts[1]} address`);
  }
  const multicast = kind === 4 ? (Number(addr.split('.')[0]) & 0xf0) === 0xe0 : /^ff/i.test(addr);
  const c: SdpConnection = { addrType: parts[1], address: addr, multicast };
  if (kind === 4 && rest.length > 0) {
    const ttl = Number(rest[0]);
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 255) throw new SdpError(`sdp line ${line}: c= TTL "${rest[0]}" is not 0-255`);
    c.ttl = ttl;
  }
  return c;
}

function intIn(s: string, lo: number, hi: number): number {
  if (!/^\d+$/.test(s)) return NaN;
  const v = Number(s);
  return v >= lo && v <= hi ? v : NaN;
}

/** Parses an SDP text; throws SdpError naming the line on anything it cannot use. Non-audio m-lines are skipped. */
export function parseSdp(text: string): SdpSession {
  if (typeof text !== 'string') throw new SdpError('sdp: not text');
  const lines = text.split(/\r?\n/);
  const session: SdpSession = { name: '', audio: [] };
  let media: SdpAudio | null = null;
  let inOther = false; // inside a non-audio m-section: its lines are skipped
  let sawVersion = false;
  const pending = new Map<SdpAudio, { pts: number[]; rtpmap: Map<number, SdpFormat>; fmtp: Map<number, Record<string, string>> }>();
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const ln = i + 1;
    if (raw.trim() === '') continue;
    if (raw.length < 2 || raw[1] !== '=') throw new SdpError(`sdp line ${ln}: not "x=value": "${raw.slice(0, 40)}"`);
    const type = raw[0];
    const v = raw.slice(2);
    if (!sawVersion) {
      if (type !== 'v' || v.trim() !== '0') throw new SdpError(`sdp line ${ln}: must start with v=0`);
      sawVersion = true;
      continue;
    }
    if (type === 'm') {
      const parts = v.trim().split(/\s+/);
      if (parts.length < 4) throw new SdpError(`sdp line ${ln}: m= needs "media port proto fmt...", got "${v}"`);
      if (parts[0] !== 'audio') { media = null; inOther = true; continue; }
      inOther = false;
      const port = intIn(parts[1].split('/')[0], 0, 65535);
      if (Number.isNaN(port)) throw new SdpError(`sdp line ${ln}: m=audio port "${parts[1]}" is not 0-65535`);
      if (!/^RTP\/AVPF?$/.test(parts[2])) throw new SdpError(`sdp line ${ln}: m=audio transport "${parts[2]}" is not RTP/AVP`);
      const pts = parts.slice(3).map((p) => intIn(p, 0, 127));
      const bad = pts.findIndex((p) => Number.isNaN(p));
      if (bad >= 0) throw new SdpError(`sdp line ${ln}: m=audio payload type "${parts[3 + bad]}" is not 0-127`);
      media = { port, protocol: parts[2], connection: session.connection, formats: [] };
      session.audio.push(media);
      pending.set(media, { pts, rtpmap: new Map(), fmtp: new Map() });
      continue;
    }
    if (inOther) continue;
    if (type === 's' && !media) { session.name = v; continue; }
    if (type === 'c') {
      const c = parseConnection(v, ln);
      if (media) media.connection = c; else session.connection = c;
      continue;
    }
    if (type !== 'a' || !media) continue;
    const colon = v.indexOf(':');
    const name = colon < 0 ? v : v.slice(0, colon);
    const value = colon < 0 ? '' : v.slice(colon + 1).trim();
    const p = pending.get(media)!;
    if (name === 'rtpmap') {
      const m = /^(\d+)\s+([^/\s]+)\/(\d+)(?:\/(\d+))?$/.exec(value);
      if (!m) throw new SdpError(`sdp line ${ln}: a=rtpmap must be "PT encoding/rate[/channels]", got "${value}"`);
      const pt = intIn(m[1], 0, 127);
      // A 32-bit rate at most (a digit string of any length is not a rate: "9"×400 is Infinity).
      const clockRate = intIn(m[3], 1, 0xffffffff);
      const channels = m[4] === undefined ? 1 : Number(m[4]);
      if (Number.isNaN(pt)) throw new SdpError(`sdp line ${ln}: a=rtpmap payload type ${m[1]} is not 0-127`);
      if (Number.isNaN(clockRate)) throw new SdpError(`sdp line ${ln}: a=rtpmap clock rate ${m[3].slice(0, 20)} is not 1-4294967295`);
      if (channels < 1 || channels > 255) throw new SdpError(`sdp line ${ln}: a=rtpmap channels ${m[4]} is not 1-255`);
      p.rtpmap.set(pt, { payloadType: pt, encoding: m[2], clockRate, channels, fmtp: {} });
    } else if (name === 'fmtp') {
      const m = /^(\d+)\s+(.*)$/.exec(value);
      if (!m) throw new SdpError(`sdp line ${ln}: a=fmtp must be "PT parameters", got "${value}"`);
      const params: Record<string, string> = {};
      for (const kv of m[2].split(';')) {
        const t = kv.trim();
        if (!t) continue;
        const eq = t.indexOf('=');
        if (eq < 0) params[t.toLowerCase()] = '';
        else params[t.slice(0, eq).trim().toLowerCase()] = t.slice(eq + 1).trim();
      }
      p.fmtp.set(Number(m[1]), params);
    } else if (name === 'ptime' || name === 'maxptime') {
      const ms = Number(value);
      if (!(ms > 0) || !Number.isFinite(ms)) throw new SdpError(`sdp line ${ln}: a=${name} "${value}" is not a positive number of ms`);
      if (name === 'ptime') media.ptimeMs = ms; else media.maxptimeMs = ms;
    }
  }
  if (!sawVersion) throw new SdpError('sdp: empty');
  for (const [m, p] of pending) {
    for (const pt of p.pts) {
      let f = p.rtpmap.get(pt);
      if (!f) {
        const s = STATIC[pt];
        if (!s) {
          if (pt >= 96) throw new SdpError(`sdp: dynamic payload type ${pt} of m=audio ${m.port} has no a=rtpmap`);
          continue; // a static type this project does not take (PCMU...): left out
        }
        f = { payloadType: pt, ...s, fmtp: {} };
      }
      f.fmtp = p.fmtp.get(pt) ?? {};
      m.formats.push(f);
    }
  }
  return session;
}

export interface SdpWriteOptions {
  codec: 'opus' | 'L24';
  /** Destination (unicast or multicast) address. */
  address: string;
  port: number;
  /** Default 96. */
  payloadType?: number;
  /** L24's rate (Opus is always 48000 in the SDP); default 48000. */
  sampleRate?: number;
  channels: number;
  ptimeMs: number;
  /** IPv4 multicast TTL; default 32 (AES67's usual value). */
  ttl?: number;
  sessionName?: string;
  /** o= session id (a number); default 0. */
  sessionId?: number;
  /** o= origin address; default the destination's family's unspecified address. */
  originAddress?: string;
}

/** The SDP of one RTP audio stream (the mix out), CRLF line ends (RFC 8866 §5). Throws SdpError on a bad option. */
export function writeSdp(o: SdpWriteOptions): string {
  const kind = isIP(o.address);
  if (kind === 0) throw new SdpError(`sdp write: address "${String(o.address)}" is not an IP address`);
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) throw new SdpError(`sdp write: port ${String(o.port)} is not 1-65535`);
  const pt = o.payloadType ?? 96;
  if (!Number.isInteger(pt) || pt < 96 || pt > 127) throw new SdpError(`sdp write: payloadType ${String(pt)} is not a dynamic type 96-127`);
  if (!Number.isInteger(o.channels) || o.channels < 1 || (o.codec === 'opus' && o.channels > 2)) {
    throw new SdpError(`sdp write: channels ${String(o.channels)} is not ${o.codec === 'opus' ? '1 or 2' : 'a positive integer'}`);
  }
  if (!(o.ptimeMs > 0)) throw new SdpError(`sdp write: ptimeMs ${String(o.ptimeMs)} is not positive`);
  const ip = kind === 4 ? 'IP4' : 'IP6';
  const multicast = kind === 4 ? (Number(o.address.split('.')[0]) & 0xf0) === 0xe0 : /^ff/i.test(o.address);
  const ttl = o.ttl ?? 32;
  const c = multicast && kind === 4 ? `${o.address}/${ttl}` : o.address;
  const origin = o.originAddress ?? (kind === 4 ? '0.0.0.0' : '::');
  const lines = [
    'v=0',
    `o=- ${o.sessionId ?? 0} 0 IN ${isIP(origin) === 6 ? 'IP6' : 'IP4'} ${origin}`,
    `s=${(o.sessionName ?? 'xcast mix').replace(/[\r\n]/g, ' ')}`,
    `c=IN ${ip} ${c}`,
    't=0 0',
    `m=audio ${o.port} RTP/AVP ${pt}`,
  ];
  if (o.codec === 'opus') {
    lines.push(`a=rtpmap:${pt} opus/48000/2`);
    lines.push(`a=fmtp:${pt} ${o.channels === 2 ? 'stereo=1; sprop-stereo=1' : 'stereo=0; sprop-stereo=0'}`);
  } else {
    const rate = o.sampleRate ?? 48000;
    if (!Number.isInteger(rate) || rate < 1) throw new SdpError(`sdp write: sampleRate ${String(rate)} is not a positive integer`);
    lines.push(`a=rtpmap:${pt} L24/${rate}/${o.channels}`);
  }
  lines.push(`a=ptime:${o.ptimeMs}`);
  return lines.join('\r\n') + '\r\n';
}

/** What the ingest needs to decode one payload type. */
export interface RtpPayloadInfo {
  payloadType: number;
  codec: RtpAudioCodec;
  clockRate: number;
  /** For Opus, 2 when the sender says sprop-stereo=1, else 1 (RFC 7587 §7.1); for L16 / L24 the rtpmap's. */
  channels: number;
}

/**
 * The payload types an RTP ingest takes, looked up per packet without allocating. From an SDP's audio m-line (or
 * every audio m-line of a session): the formats this project decodes, others left out. Without an SDP: Opus on any
 * dynamic payload type 96–127 (ffmpeg sends 97, GStreamer 96), decoded as stereo (a mono Opus stream decodes to
 * two equal channels; the decoder cannot know before the first packet).
 */
export class RtpPayloadTable {
  private readonly byPt: (RtpPayloadInfo | null)[] = new Array<RtpPayloadInfo | null>(128).fill(null);

  constructor(sdp?: SdpSession | SdpAudio) {
    if (!sdp) {
      for (let pt = 96; pt < 128; pt++) this.byPt[pt] = { payloadType: pt, codec: 'opus', clockRate: 48000, channels: 2 };
      return;
    }
    const media = 'audio' in sdp ? sdp.audio : [sdp];
    for (const m of media) {
      for (const f of m.formats) {
        const codec = rtpCodecOf(f);
        if (!codec || this.byPt[f.payloadType]) continue; // the first m-line's meaning of a PT holds
        this.byPt[f.payloadType] = {
          payloadType: f.payloadType, codec, clockRate: f.clockRate,
          channels: codec === 'opus' ? (opusSendsStereo(f) ? 2 : 1) : f.channels,
        };
      }
    }
  }

  /** The format of payload type `pt`, or null when this ingest does not take it (drop and count the packet). */
  get(pt: number): RtpPayloadInfo | null {
    return this.byPt[pt & 0x7f];
  }

  /** The payload types taken, in order. */
  payloadTypes(): number[] {
    const out: number[] = [];
    for (let pt = 0; pt < 128; pt++) if (this.byPt[pt]) out.push(pt);
    return out;
  }
}

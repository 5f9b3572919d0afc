// RFC 3550 §5.1 RTP fixed header: parse (payload as a subarray, no copy) and build. A malformed datagram raises
// RtpFormatError naming what is wrong, and nothing else: the receiver drops that one datagram and counts it.

/** A datagram that is not a well-formed RTP packet; `reason` is a short stable code for counting. */
export class RtpFormatError extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
    this.name = 'RtpFormatError';
  }
}

/** One parsed RTP packet. `payload` shares memory with the datagram. */
export interface RtpPacket {
  marker: boolean;
  payloadType: number;
  /** 16-bit sequence number. */
  seq: number;
  /** 32-bit media timestamp (unsigned). */
  timestamp: number;
  /** 32-bit synchronisation source (unsigned). */
  ssrc: number;
  /** Contributing sources (unsigned); empty when CC is 0. */
  csrc: number[];
  /** The header extension's profile word when the X bit is set, else -1 (its data is skipped). */
  extensionProfile: number;
  payload: Buffer;
}

export const RTP_HEADER_BYTES = 12;

/**
 * Parses one RTP datagram. Into `out` when given (its csrc array is reused), else a fresh object. Throws
 * RtpFormatError only. Payload types 72–76 are RTCP's (RFC 5761 §4) and are refused.
 */
export function parseRtp(buf: Buffer, out?: RtpPacket): RtpPacket {
  if (!Buffer.isBuffer(buf)) throw new RtpFormatError('not-buffer', 'rtp: datagram is not a Buffer');
  const n = buf.length;
  if (n < RTP_HEADER_BYTES) throw new RtpFormatError('short', `rtp: ${n} bytes, shorter than the 12-byte header`);
  const b0 = buf[0];
  const version = b0 >> 6;
  if (version !== 2) throw new RtpFormatError('version', `rtp: version ${version}, not 2`);
  const pt = buf[1] & 0x7f;
  if (pt >= 72 && pt <= 76) throw new RtpFormatError('rtcp', `rtp: payload type ${pt} is RTCP's range (72-76)`);
  const cc = b0 & 0x0f;
  let off = RTP_HEADER_BYTES + cc * 4;
  if (off > n) throw new RtpFormatError('csrc', `rtp: CSRC count ${cc} needs ${off} bytes, datagram has ${n}`);
  let extensionProfile = -1;
  if (b0 & 0x10) {
    if (off + 4 > n) throw new RtpFormatError('extension', `rtp: header extension header runs past the datagram (${n} bytes)`);
    extensionProfile = buf.readUInt16BE(off);
    const words = buf.readUInt16BE(off + 2);
    off += 4 + words * 4;
    if (off > n) throw new RtpFormatError('extension', `rtp: header extension of ${words} words runs past the datagram (${n} bytes)`);
  }
  let end = n;
  if (b0 & 0x20) {
    const pad = buf[n - 1];
    if (pad === 0) throw new RtpFormatError('padding', 'rtp: padding bit set with a padding count of 0');
    end = n - pad;
    if (end < off) throw new RtpFormatError('padding', `rtp: padding count ${pad} eats into the header (${n} bytes, payload at ${off})`);
  }
  const p = out ?? ({ csrc: [] as number[] } as unknown as RtpPacket);
  p.marker = (buf[1] & 0x80) !== 0;
  p.payloadType = pt;
  p.seq = buf.readUInt16BE(2);
  p.timestamp = buf.readUInt32BE(4);
  p.ssrc = buf.readUInt32BE(8);
  const list = p.csrc ?? (p.csrc = []);
  list.length = cc;
  for (let i = 0; i < cc; i++) list[i] = buf.readUInt32BE(RTP_HEADER_BYTES + i * 4);
  p.extensionProfile = extensionProfile;
  p.payload = buf.subarray(off, end);
  return p;
}

export interface RtpHeaderFields {
  marker?: boolean;
  payloadType: number;
  seq: number;
  timestamp: number;
  ssrc: number;
  csrc?: readonly number[];
}

/** Bytes the packet of `fields` with a `payloadBytes` payload takes. */
export function rtpPacketBytes(fields: RtpHeaderFields, payloadBytes: number): number {
  return RTP_HEADER_BYTES + (fields.csrc?.length ?? 0) * 4 + payloadBytes;
}

/**
 * Builds one RTP packet (no padding, no extension): into `out` at offset 0 when given (returns the subarray
 * written), else a fresh Buffer. seq and timestamp are taken modulo 2^16 and 2^32; a bad field is a RangeError
 * (a programming error of the sender, not wire input).
 */
export function buildRtp(fields: RtpHeaderFields, payload: Uint8Array, out?: Buffer): Buffer {
  const cc = fields.csrc?.length ?? 0;
  if (cc > 15) throw new RangeError(`rtp build: ${cc} CSRCs, at most 15`);
  const pt = fields.payloadType;
  if (!Number.isInteger(pt) || pt < 0 || pt > 127) throw new RangeError(`rtp build: payloadType ${String(pt)} is not 0-127`);
  const size = RTP_HEADER_BYTES + cc * 4 + payload.length;
  if (out && out.length < size) throw new RangeError(`rtp build: output of ${out.length} bytes, packet needs ${size}`);
  const b = out ?? Buffer.allocUnsafe(size);
  b[0] = 0x80 | cc;
  b[1] = (fields.marker ? 0x80 : 0) | pt;
  b.writeUInt16BE(fields.seq & 0xffff, 2);
  b.writeUInt32BE(fields.timestamp >>> 0, 4);
  b.writeUInt32BE(fields.ssrc >>> 0, 8);
  for (let i = 0; i < cc; i++) b.writeUInt32BE(fields.csrc![i] >>> 0, RTP_HEADER_BYTES + i * 4);
  b.set(payload, RTP_HEADER_BYTES + cc * 4);
  return out ? b.subarray(0, size) : b;
}

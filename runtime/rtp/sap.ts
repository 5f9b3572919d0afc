// SAP (RFC 2974) announcement packets: the AES67-style discovery of RTP streams (239.255.255.255:9875). Build an
// announce or delete carrying an SDP; parse one (the listener's). No socket here.

import { isIP } from 'node:net';
import { inflateSync } from 'node:zlib';

/** The SAP group and port AES67 devices announce on (RFC 2974 §3, the global scope's well-known address). */
export const SAP_ADDRESS = '239.255.255.255';
export const SAP_PORT = 9875;
const SDP_TYPE = 'application/sdp';

/** A datagram that is not a usable SAP packet; `reason` is a short stable code for counting. */
export class SapFormatError extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
    this.name = 'SapFormatError';
  }
}

export interface SapPacket {
  /** false for an announcement, true for a deletion (T bit). */
  deletion: boolean;
  /** Message identifier hash (16 bits): with the origin, identifies the announcement. */
  msgIdHash: number;
  /** The originating source address. */
  origin: string;
  /** The payload's MIME type (application/sdp when the packet has none, §3). */
  payloadType: string;
  /** The payload (the SDP text). */
  payload: string;
}

/** A SAP announce (or delete) of `sdp` from `origin` (IPv4 or IPv6), uncompressed, unauthenticated. */
export function buildSap(o: { sdp: string; origin: string; msgIdHash: number; deletion?: boolean }): Buffer {
  const kind = isIP(o.origin);
  if (kind === 0) throw new RangeError(`sap build: origin "${String(o.origin)}" is not an IP address`);
  if (!Number.isInteger(o.msgIdHash) || o.msgIdHash < 0 || o.msgIdHash > 0xffff) throw new RangeError(`sap build: msgIdHash ${String(o.msgIdHash)} is not 0-65535`);
  const addr = kind === 4 ? Buffer.from(o.origin.split('.').map(Number)) : ipv6Bytes(o.origin);
  const head = Buffer.alloc(4);
  head[0] = 0x20 | (kind === 6 ? 0x10 : 0) | (o.deletion ? 0x04 : 0);
  head[1] = 0;
  head.writeUInt16BE(o.msgIdHash, 2);
  return Buffer.concat([head, addr, Buffer.from(SDP_TYPE + '\0' + o.sdp, 'utf8')]);
}

function ipv6Bytes(a: string): Buffer {
  const [l, r] = a.includes('::') ? a.split('::') : [a, undefined];
  const left = l ? l.split(':') : [];
  const right = r ? r.split(':') : [];
  const groups = r === undefined ? left : [...left, ...new Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

function ipv6Text(b: Buffer): string {
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(b.readUInt16BE(i).toString(16));
  return g.join(':');
}

/** Parses one SAP datagram (zlib-compressed payloads inflated; encrypted ones refused). Throws SapFormatError only. */
export function parseSap(buf: Buffer): SapPacket {
  if (!Buffer.isBuffer(buf) || buf.length < 8) throw new SapFormatError('short', `sap: ${Buffer.isBuffer(buf) ? buf.length : 0} bytes, shorter than a header`);
  const b0 = buf[0];
  if (b0 >> 5 !== 1) throw new SapFormatError('version', `sap: version ${b0 >> 5}, not 1`);
  if (b0 & 0x02) throw new SapFormatError('encrypted', 'sap: encrypted payload (E bit)');
  const v6 = (b0 & 0x10) !== 0;
  const addrEnd = 4 + (v6 ? 16 : 4);
  const authEnd = addrEnd + buf[1] * 4;
  if (authEnd > buf.length) throw new SapFormatError('short', `sap: header and ${buf[1]} auth words run past the ${buf.length}-byte datagram`);
  const origin = v6 ? ipv6Text(buf.subarray(4, 20)) : `${buf[4]}.${buf[5]}.${buf[6]}.${buf[7]}`;
  let body = buf.subarray(authEnd);
  if (b0 & 0x01) {
    try { body = inflateSync(body, { maxOutputLength: 65536 }); } catch (e) {
      throw new SapFormatError('compressed', `sap: compressed payload does not inflate (${(e as Error).message})`);
    }
  }
  let payloadType = SDP_TYPE;
  // §3: the payload type field is optional; a payload starting "v=0" has none.
  if (!(body.length >= 3 && body[0] === 0x76 && body[1] === 0x3d && body[2] === 0x30)) {
    const nul = body.indexOf(0);
    if (nul < 0) throw new SapFormatError('payload-type', 'sap: payload type not terminated by a null byte');
    payloadType = body.toString('utf8', 0, nul);
    body = body.subarray(nul + 1);
  }
  return { deletion: (b0 & 0x04) !== 0, msgIdHash: buf.readUInt16BE(2), origin, payloadType, payload: body.toString('utf8') };
}

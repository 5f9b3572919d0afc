// Ogg Opus file writer (RFC 7845): lets ffmpeg decode exactly the packets the bench's peers send.
import fs from 'node:fs';

// Ogg's CRC-32: polynomial 0x04c11db7, no reflection, initial value 0, no final xor.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

function crc32(buf: Buffer): number {
  let crc = 0;
  for (let i = 0; i < buf.length; i++) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ buf[i]) & 0xff]) >>> 0;
  return crc >>> 0;
}

/** One Ogg page holding whole packets (each < 255 × 255 bytes). */
function page(packets: Buffer[], granule: bigint, serial: number, seq: number, headerType: number): Buffer {
  const lacing: number[] = [];
  for (const p of packets) {
    let n = p.length;
    while (n >= 255) { lacing.push(255); n -= 255; }
    lacing.push(n);
  }
  if (lacing.length > 255) throw new Error(`ogg page: ${lacing.length} lacing values, at most 255`);
  const head = Buffer.alloc(27 + lacing.length);
  head.write('OggS', 0, 'latin1');
  head[4] = 0;
  head[5] = headerType;
  head.writeBigInt64LE(granule, 6);
  head.writeUInt32LE(serial >>> 0, 14);
  head.writeUInt32LE(seq >>> 0, 18);
  head.writeUInt32LE(0, 22);
  head[26] = lacing.length;
  for (let i = 0; i < lacing.length; i++) head[27 + i] = lacing[i];
  const out = Buffer.concat([head, ...packets]);
  out.writeUInt32LE(crc32(out), 22);
  return out;
}

/**
 * Writes `packets` (one Opus stream, every packet `frameSamples` long at 48 kHz) as an Ogg Opus file.
 * Pre-skip is `preSkip` samples (the encoder's lookahead), as RFC 7845 §4.2 asks.
 */
export function writeOggOpus(file: string, packets: readonly Buffer[], channels: number, frameSamples: number, preSkip = 312): void {
  const serial = 0x78636173; // "xcas"
  const head = Buffer.alloc(19);
  head.write('OpusHead', 0, 'latin1');
  head[8] = 1;
  head[9] = channels;
  head.writeUInt16LE(preSkip, 10);
  head.writeUInt32LE(48000, 12);
  head.writeInt16LE(0, 16);
  head[18] = 0;
  const vendor = Buffer.from('xcast bench', 'utf8');
  const tags = Buffer.alloc(8 + 4 + vendor.length + 4);
  tags.write('OpusTags', 0, 'latin1');
  tags.writeUInt32LE(vendor.length, 8);
  vendor.copy(tags, 12);
  tags.writeUInt32LE(0, 12 + vendor.length);
  const pages: Buffer[] = [page([head], 0n, serial, 0, 0x02), page([tags], 0n, serial, 1, 0)];
  let seq = 2;
  let granule = 0n;
  const PER_PAGE = 50;
  for (let i = 0; i < packets.length; i += PER_PAGE) {
    const chunk = packets.slice(i, i + PER_PAGE);
    granule += BigInt(chunk.length * frameSamples);
    const last = i + PER_PAGE >= packets.length;
    pages.push(page(chunk as Buffer[], granule, serial, seq++, last ? 0x04 : 0));
  }
  fs.writeFileSync(file, Buffer.concat(pages));
}

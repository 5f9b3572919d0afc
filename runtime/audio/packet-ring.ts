// A single-producer, single-consumer ring of audio packets in shared memory: the event loop writes, the mix engine's thread reads.
//
// One packet per record, nothing per packet crosses threads but bytes: the writer copies the header fields, the
// user id, the connection id, the room and the payload into the ring and publishes its position with one Atomics.store; the reader drains up to
// that position when it mixes and publishes how far it read. Positions are u32 byte counters that wrap at 2^32
// (the ring's size divides 2^32, so position % size is the offset either side of the wrap). A record starts
// 8-byte aligned and never straddles the end: one that does not fit leaves a WRAP marker and starts at offset 0.
// A full ring drops the packet and counts it (it takes the reader stalled for ~1 s at 200 peers to fill 4 MB).
import type { PlayoutHeader } from './playout';
import { CODEC_NAMES, codecOf } from '../codec';

/** Control words (Uint32): write position, read position, the next source number (so a next writer goes on from it). */
const W = 0;
const R = 1;
const NEXT_SOURCE = 2;
export const RING_CONTROL_BYTES = 16;
/** Record: u32 length (header + user + connection + room + data, rounded up to 8), u32 seq, f64 arrival µs, u32
 * sampleRate, u32 data length, u32 trackId, u8 codec (runtime/codec.ts), u8 channels, u16 frameSamples, u16 user id
 * length, u16 connection id length, u32 source (the writer's number for the user, connection and room: the reader
 * makes their strings once per source, not per packet; bit 31 set: a refused packet, its data the reason in UTF-8;
 * bit 30 set: the packet asks for a mix-minus), u16 room length ('' : the message named none), 6 bytes unused. */
const HEADER = 48;
const WRAP = 0xffffffff;
const REFUSED = 0x80000000;
const MIX_MINUS = 0x40000000;
const SOURCE_BITS = 0x3fffffff;
/** Sources each side keeps before starting afresh (the reader then decodes the strings of the next packets again). */
const MAX_SOURCES = 4096;

export interface PacketRingShared {
  control: SharedArrayBuffer;
  data: SharedArrayBuffer;
}

/** Allocates the shared memory of a ring of `bytes` (a power of two ≥ 64 KiB). */
export function createPacketRing(bytes = 4 << 20): PacketRingShared {
  if (!(bytes >= 65536 && (bytes & (bytes - 1)) === 0)) throw new RangeError(`packet ring size must be a power of two ≥ 65536, got ${bytes}`);
  return { control: new SharedArrayBuffer(RING_CONTROL_BYTES), data: new SharedArrayBuffer(bytes) };
}

interface Source {
  num: number;
  user: Buffer;
  conn: Buffer;
  room: Buffer;
}

export class PacketRingWriter {
  private readonly ctl: Uint32Array;
  private readonly buf: Buffer;
  private readonly size: number;
  private pos = 0;
  /** Encoded user and connection ids and room by connection, user, then room, so a packet costs no string encoding. */
  private readonly sources = new Map<string, Map<string, Map<string, Source>>>();
  private sourceCount = 0;
  private nextSource = 0;
  /** Packets dropped because the ring was full. */
  dropped = 0;

  /**
   * Starts where the last writer of this ring stopped (0 for a new ring): one writer at a time, but a ring may pass
   * from one to the next (the UDP ingest's thread started again, or told the same ring again).
   */
  constructor(shared: PacketRingShared) {
    this.ctl = new Uint32Array(shared.control);
    this.buf = Buffer.from(shared.data);
    this.size = shared.data.byteLength;
    this.pos = Atomics.load(this.ctl, W);
    this.nextSource = Atomics.load(this.ctl, NEXT_SOURCE);
  }

  private source(userId: string, connectionId: string, roomName: string): Source {
    let byUser = this.sources.get(connectionId);
    let byRoom = byUser?.get(userId);
    let s = byRoom?.get(roomName);
    if (s !== undefined) return s;
    if (this.sourceCount >= MAX_SOURCES) {
      this.sources.clear();
      this.sourceCount = 0;
      byUser = undefined;
      byRoom = undefined;
    }
    const user = Buffer.from(userId, 'utf8');
    const conn = Buffer.from(connectionId, 'utf8');
    const room = Buffer.from(roomName, 'utf8');
    if (user.length > 0xffff) throw new RangeError('userId longer than 65535 bytes');
    if (conn.length > 0xffff) throw new RangeError('connectionId longer than 65535 bytes');
    if (room.length > 0xffff) throw new RangeError('room longer than 65535 bytes');
    // Numbers are never reused (30 bits: a billion sources before they wrap), so the reader's cache cannot mistake one.
    s = { num: this.nextSource, user, conn, room };
    this.nextSource = (this.nextSource + 1) & SOURCE_BITS;
    // Published with the ring: a writer that takes the ring on numbers its sources after these, never reusing one
    // the reader has cached under other strings.
    Atomics.store(this.ctl, NEXT_SOURCE, this.nextSource);
    if (byUser === undefined) this.sources.set(connectionId, (byUser = new Map()));
    if (byRoom === undefined) byUser.set(userId, (byRoom = new Map()));
    byRoom.set(roomName, s);
    this.sourceCount++;
    return s;
  }

  /**
   * Appends one packet (checked by the caller); false when the ring is full and it was dropped. `room`: the message's
   * (the reader hands '' for none); `mixMinus`: the packet asks for a mix-minus.
   */
  write(userId: string, h: PlayoutHeader, data: Buffer, arrivalMicros: number, connectionId = '', room = '', mixMinus = false): boolean {
    return this.put(userId, h, data, arrivalMicros, connectionId, room, mixMinus ? MIX_MINUS : 0);
  }

  /**
   * Appends the news of a packet the caller refused (its header as claimed, so the reader's track shows it; the
   * reason instead of the data); false when the ring is full.
   */
  writeRefused(userId: string, h: PlayoutHeader, reason: string, arrivalMicros: number, connectionId = '', room = ''): boolean {
    return this.put(userId, h, Buffer.from(reason.slice(0, 200), 'utf8'), arrivalMicros, connectionId, room, REFUSED);
  }

  private put(userId: string, h: PlayoutHeader, data: Buffer, arrivalMicros: number, connectionId: string, roomName: string, flag: number): boolean {
    const src = this.source(userId, connectionId, roomName);
    const id = src.user;
    const conn = src.conn;
    const room = src.room;
    const size = this.size;
    const rec = (HEADER + id.length + conn.length + room.length + data.length + 7) & ~7;
    const free = size - ((this.pos - Atomics.load(this.ctl, R)) >>> 0);
    let off = this.pos % size;
    const skip = size - off < rec ? size - off : 0;
    if (skip + rec > free) {
      this.dropped++;
      return false;
    }
    const b = this.buf;
    if (skip) {
      b.writeUInt32LE(WRAP, off);
      off = 0;
    }
    b.writeUInt32LE(rec, off);
    b.writeUInt32LE(h.seq >>> 0, off + 4);
    b.writeDoubleLE(arrivalMicros, off + 8);
    b.writeUInt32LE(h.sampleRate >>> 0, off + 16);
    b.writeUInt32LE(data.length, off + 20);
    b.writeUInt32LE((h.trackId ?? 0) >>> 0, off + 24);
    b[off + 28] = codecOf(h.codec) & 0xff;
    b[off + 29] = h.channels & 0xff;
    b.writeUInt16LE(h.frameSamples & 0xffff, off + 30);
    b.writeUInt16LE(id.length, off + 32);
    b.writeUInt16LE(conn.length, off + 34);
    b.writeUInt32LE((src.num | flag) >>> 0, off + 36);
    b.writeUInt16LE(room.length, off + 40);
    id.copy(b, off + HEADER);
    conn.copy(b, off + HEADER + id.length);
    room.copy(b, off + HEADER + id.length + conn.length);
    data.copy(b, off + HEADER + id.length + conn.length + room.length);
    this.pos = (this.pos + skip + rec) >>> 0;
    Atomics.store(this.ctl, W, this.pos);
    return true;
  }
}

/**
 * What the reader hands its callback: the header object is reused, the data is a fresh copy the callee may keep;
 * `room` '' when the message named none.
 */
export type PacketSink = (userId: string, header: PlayoutHeader & { trackId: number }, data: Buffer, arrivalMicros: number, connectionId: string, room: string, mixMinus: boolean) => void;
/** A refused packet's news: its header as claimed and the reason. */
export type RefusedSink = (userId: string, header: PlayoutHeader & { trackId: number }, reason: string, arrivalMicros: number, connectionId: string, room: string) => void;

export class PacketRingReader {
  private readonly ctl: Uint32Array;
  private readonly buf: Buffer;
  private readonly size: number;
  private pos = 0;
  private readonly header: PlayoutHeader & { trackId: number } = { seq: 0, codec: 'opus', sampleRate: 48000, channels: 2, frameSamples: 480, trackId: 0 };
  /** The user and connection id and room strings by source number, made once per source. */
  private readonly sources = new Map<number, { userId: string; connectionId: string; room: string }>();

  /** Starts where the last reader of this ring stopped (0 for a new ring): a mix thread started again takes a kept ring on from there. */
  constructor(shared: PacketRingShared) {
    this.ctl = new Uint32Array(shared.control);
    this.buf = Buffer.from(shared.data);
    this.size = shared.data.byteLength;
    this.pos = Atomics.load(this.ctl, R);
  }

  /** Hands every packet written so far to `sink` (a refused one's news to `refused`), in order; returns how many. */
  drain(sink: PacketSink, refused?: RefusedSink): number {
    const end = Atomics.load(this.ctl, W);
    const b = this.buf;
    const h = this.header;
    let n = 0;
    while (this.pos !== end) {
      const off = this.pos % this.size;
      const rec = b.readUInt32LE(off);
      if (rec === WRAP) {
        this.pos = (this.pos + (this.size - off)) >>> 0;
        continue;
      }
      h.seq = b.readUInt32LE(off + 4);
      const arrival = b.readDoubleLE(off + 8);
      h.sampleRate = b.readUInt32LE(off + 16);
      const len = b.readUInt32LE(off + 20);
      h.trackId = b.readUInt32LE(off + 24);
      h.codec = CODEC_NAMES[b[off + 28]] ?? ('unknown' as PlayoutHeader['codec']);
      h.channels = b[off + 29];
      h.frameSamples = b.readUInt16LE(off + 30);
      const idLen = b.readUInt16LE(off + 32);
      const connLen = b.readUInt16LE(off + 34);
      const word = b.readUInt32LE(off + 36);
      const roomLen = b.readUInt16LE(off + 40);
      const num = (word & SOURCE_BITS) >>> 0;
      let src = this.sources.get(num);
      const c0 = off + HEADER + idLen;
      if (src === undefined) {
        if (this.sources.size >= MAX_SOURCES) this.sources.clear();
        src = { userId: b.toString('utf8', off + HEADER, c0), connectionId: b.toString('utf8', c0, c0 + connLen), room: b.toString('utf8', c0 + connLen, c0 + connLen + roomLen) };
        this.sources.set(num, src);
      }
      const at = c0 + connLen + roomLen;
      this.pos = (this.pos + rec) >>> 0;
      n++;
      if ((word & REFUSED) !== 0) {
        refused?.(src.userId, h, b.toString('utf8', at, at + len), arrival, src.connectionId, src.room);
        continue;
      }
      const data = Buffer.allocUnsafe(len);
      b.copy(data, 0, at, at + len);
      sink(src.userId, h, data, arrival, src.connectionId, src.room, (word & MIX_MINUS) !== 0);
    }
    Atomics.store(this.ctl, R, this.pos);
    return n;
  }
}

// Incremental streamproto1 frame parser for byte streams (TCP, TLS): split and coalesced reads parse identically.

import {
  DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES, MAGIC_0, MAGIC_1, VERSION,
  ProtocolError, frameTypeName, isFrameType,
} from './frame';

/**
 * Called once per complete frame. `shared` is true when `payload` is a subarray of the chunk given
 * to `push()` (no copy was made): it then shares memory with that chunk, so a receiver that keeps
 * it beyond the call must copy it. When false, `payload` is a Buffer the parser allocated for this
 * frame alone (the frame spanned chunks) and is safe to keep.
 */
export type FrameHandler = (type: number, payload: Buffer, shared: boolean) => void;

const EMPTY = Buffer.alloc(0);

/**
 * Turns chunks of a byte stream into frames. The 8-byte header is validated (magic, version, type,
 * length ≤ maxFrameBytes) as soon as it is complete, before any of the payload is waited for, so
 * an over-long length is refused without buffering it. Work is linear in the bytes pushed: a
 * frame inside one chunk is handed out without copying; one that spans chunks is copied once
 * into a buffer of exactly its size.
 *
 * After a `ProtocolError` the stream cannot be resynchronised: every later `push()` throws the
 * same error until `reset()`.
 */
export class FrameParser {
  readonly maxFrameBytes: number;
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFill = 0;
  /** Type and length of the frame whose payload is being collected; -1 while reading a header. */
  private type = -1;
  private length = 0;
  private payload: Buffer | null = null;
  private payloadFill = 0;
  private failed: ProtocolError | null = null;
  /** Bytes of a chunk not yet parsed because the handler threw mid-chunk. */
  private leftover: Buffer | null = null;

  constructor(maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {
    if (!(Number.isInteger(maxFrameBytes) && maxFrameBytes >= 0 && maxFrameBytes <= 0xffffffff)) {
      throw new RangeError(`maxFrameBytes ${maxFrameBytes} must be an integer in 0…2^32-1`);
    }
    this.maxFrameBytes = maxFrameBytes;
  }

  /** The framing error that stopped this parser, until reset(). */
  get error(): ProtocolError | null {
    return this.failed;
  }

  /** True when no partial frame or unparsed bytes are buffered. */
  get idle(): boolean {
    return this.headerFill === 0 && this.type < 0 && this.leftover === null;
  }

  /**
   * Feeds one chunk; calls `onFrame` for each frame it completes, in order. Throws `ProtocolError`
   * on a bad header. If `onFrame` throws, the exception propagates, the frame counts as consumed,
   * and the rest of the chunk is kept and parsed at the start of the next push().
   */
  push(chunk: Buffer, onFrame: FrameHandler): void {
    if (this.failed) throw this.failed;
    if (this.leftover) {
      chunk = Buffer.concat([this.leftover, chunk]);   // rare path: only after a handler threw
      this.leftover = null;
    }
    const end = chunk.length;
    let off = 0;
    while (off < end || (this.type >= 0 && this.length === 0)) {
      if (this.type < 0) {
        // Header: read straight from the chunk when it is all there, else collect it.
        if (this.headerFill === 0 && end - off >= FRAME_HEADER_BYTES) {
          this.startFrame(chunk, off);
          off += FRAME_HEADER_BYTES;
        } else {
          const n = Math.min(FRAME_HEADER_BYTES - this.headerFill, end - off);
          chunk.copy(this.header, this.headerFill, off, off + n);
          this.headerFill += n;
          off += n;
          if (this.headerFill < FRAME_HEADER_BYTES) return;
          this.headerFill = 0;
          this.startFrame(this.header, 0);
        }
        continue;
      }
      const type = this.type;
      const length = this.length;
      if (this.payload === null) {
        if (end - off >= length) {
          const payload = length === 0 ? EMPTY : chunk.subarray(off, off + length);
          off += length;
          this.type = -1;
          this.deliver(onFrame, type, payload, length !== 0, chunk, off);
          continue;
        }
        this.payload = Buffer.allocUnsafe(length);
        this.payloadFill = 0;
      }
      const n = Math.min(length - this.payloadFill, end - off);
      chunk.copy(this.payload, this.payloadFill, off, off + n);
      this.payloadFill += n;
      off += n;
      if (this.payloadFill < length) return;
      const payload = this.payload;
      this.payload = null;
      this.type = -1;
      this.deliver(onFrame, type, payload, false, chunk, off);
    }
  }

  /** Calls the handler; if it throws, keeps the unparsed rest of the chunk for the next push(). */
  private deliver(onFrame: FrameHandler, type: number, payload: Buffer, shared: boolean, chunk: Buffer, off: number): void {
    try {
      onFrame(type, payload, shared);
    } catch (err) {
      if (off < chunk.length) this.leftover = chunk.subarray(off);
      throw err;
    }
  }

  /** Drops any partial frame and a previous error; the next byte pushed starts a new frame. */
  reset(): void {
    this.headerFill = 0;
    this.type = -1;
    this.length = 0;
    this.payload = null;
    this.payloadFill = 0;
    this.failed = null;
    this.leftover = null;
  }

  private startFrame(buf: Buffer, off: number): void {
    const err = this.checkHeader(buf, off);
    if (err) {
      this.failed = err;
      throw err;
    }
    this.type = buf[off + 3];
    this.length = buf.readUInt32BE(off + 4);
  }

  private checkHeader(buf: Buffer, off: number): ProtocolError | null {
    if (buf[off] !== MAGIC_0 || buf[off + 1] !== MAGIC_1) {
      return new ProtocolError('bad_magic',
        `frame magic is 0x${buf[off].toString(16).padStart(2, '0')}${buf[off + 1].toString(16).padStart(2, '0')}, expected 0x5350 ("SP")`);
    }
    if (buf[off + 2] !== VERSION) return new ProtocolError('bad_version', `frame version is ${buf[off + 2]}, this receiver speaks version ${VERSION}`);
    const type = buf[off + 3];
    if (!isFrameType(type)) return new ProtocolError('unknown_type', `frame type ${frameTypeName(type)} is unknown`);
    const length = buf.readUInt32BE(off + 4);
    if (length > this.maxFrameBytes) {
      return new ProtocolError('frame_too_large', `${frameTypeName(type)} payload length ${length} exceeds maxFrameBytes ${this.maxFrameBytes}`);
    }
    return null;
  }
}

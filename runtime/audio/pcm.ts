// PCM sample-format conversions between the wire codecs (s16le, f32le) and the f32le Buffers used inside flows.

/** A Float32Array view over a Buffer's bytes (copies only when the Buffer is not 4-byte aligned). */
export function f32View(buf: Buffer): Float32Array {
  if (buf.byteOffset % 4 === 0) return new Float32Array(buf.buffer, buf.byteOffset, buf.length >> 2);
  const copy = new Float32Array(buf.length >> 2);
  new Uint8Array(copy.buffer).set(buf.subarray(0, copy.length * 4));
  return copy;
}

/** A Buffer over a Float32Array's bytes, sharing memory. */
export function f32Buffer(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** s16le → f32 (x / 32768); writes into `out` when given. Exact inverse of f32ToS16 for every s16 value. */
export function s16ToF32(src: Buffer, out?: Float32Array): Float32Array {
  const n = src.length >> 1;
  const dst = out ?? new Float32Array(n);
  for (let i = 0; i < n; i++) dst[i] = src.readInt16LE(i * 2) / 32768;
  return dst;
}

/** f32 → s16le with rounding and clipping; writes into `out` when given. */
export function f32ToS16(src: Float32Array, out?: Buffer): Buffer {
  const dst = out ?? Buffer.allocUnsafe(src.length * 2);
  for (let i = 0; i < src.length; i++) {
    let v = Math.round(src[i] * 32768);
    if (v > 32767) v = 32767; else if (v < -32768) v = -32768;
    dst.writeInt16LE(v, i * 2);
  }
  return dst;
}

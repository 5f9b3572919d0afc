// PCM sample-format conversions between the wire codecs (s16le, f32le) and the f32 samples used inside flows and the engine.

/** 1 / 32768 = 2^-15 exactly: x × S16_SCALE equals x / 32768 to the bit (a power of two), and a multiply is cheaper. */
export const S16_SCALE = 1 / 32768;

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

/**
 * s16le → f32 (x / 32768): the first `n` samples of `src` (default all) into `out` from index `outOffset` (a fresh
 * array when not given). The one s16 → f32 conversion of the project; exact inverse of f32ToS16 for every s16 value.
 * An aligned Buffer is read through an Int16Array view (one pass, no per-sample Buffer reads), any other per sample.
 */
export function s16ToF32(src: Buffer, out?: Float32Array, outOffset = 0, n = src.length >> 1): Float32Array {
  const dst = out ?? new Float32Array(n);
  if (src.byteOffset % 2 === 0) {
    const s16 = new Int16Array(src.buffer, src.byteOffset, n);
    for (let i = 0; i < n; i++) dst[outOffset + i] = s16[i] * S16_SCALE;
  } else {
    for (let i = 0; i < n; i++) dst[outOffset + i] = src.readInt16LE(i * 2) * S16_SCALE;
  }
  return dst;
}

/** f32le Buffer → f32 samples: the first `n` (default all) into `out` from index `outOffset`. */
export function readF32(src: Buffer, out: Float32Array, outOffset = 0, n = src.length >> 2): Float32Array {
  if (src.byteOffset % 4 === 0) out.set(new Float32Array(src.buffer, src.byteOffset, n), outOffset);
  else for (let i = 0; i < n; i++) out[outOffset + i] = src.readFloatLE(i * 4);
  return out;
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

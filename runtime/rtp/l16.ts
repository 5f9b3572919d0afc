// L16 / L24 (RFC 3551 §4.5.11, RFC 3190 §4): signed big-endian (network order) PCM, interleaved, ⇄ f32 interleaved.
// No allocation when an output is given. The scales are powers of two (x / 2^15, x / 2^23), so s → f32 → s is exact.

const L16_SCALE = 1 / 32768;
const L24_SCALE = 1 / 8388608;

/** L16 → f32: `n` samples (default all whole ones) of `src` into `out` from `outOffset` (fresh when not given). */
export function l16ToF32(src: Uint8Array, out?: Float32Array, outOffset = 0, n = src.length >> 1): Float32Array {
  const dst = out ?? new Float32Array(n);
  for (let i = 0, o = 0; i < n; i++, o += 2) {
    const v = (src[o] << 8) | src[o + 1];
    dst[outOffset + i] = ((v << 16) >> 16) * L16_SCALE;
  }
  return dst;
}

/** L24 → f32: `n` samples (default all whole ones) of `src` into `out` from `outOffset` (fresh when not given). */
export function l24ToF32(src: Uint8Array, out?: Float32Array, outOffset = 0, n = Math.floor(src.length / 3)): Float32Array {
  const dst = out ?? new Float32Array(n);
  for (let i = 0, o = 0; i < n; i++, o += 3) {
    const v = (src[o] << 16) | (src[o + 1] << 8) | src[o + 2];
    dst[outOffset + i] = ((v << 8) >> 8) * L24_SCALE;
  }
  return dst;
}

/** f32 → L16 with rounding and clipping: `n` samples of `src` from `srcOffset` into `out` (fresh when not given). */
export function f32ToL16(src: ArrayLike<number>, out?: Uint8Array, srcOffset = 0, n = src.length - srcOffset): Uint8Array {
  const dst = out ?? Buffer.allocUnsafe(n * 2);
  for (let i = 0, o = 0; i < n; i++, o += 2) {
    let v = Math.round(src[srcOffset + i] * 32768);
    if (v > 32767) v = 32767; else if (v < -32768) v = -32768;
    else if (v !== v) v = 0; // NaN
    dst[o] = (v >> 8) & 0xff;
    dst[o + 1] = v & 0xff;
  }
  return dst;
}

/** f32 → L24 with rounding and clipping: `n` samples of `src` from `srcOffset` into `out` (fresh when not given). */
export function f32ToL24(src: ArrayLike<number>, out?: Uint8Array, srcOffset = 0, n = src.length - srcOffset): Uint8Array {
  const dst = out ?? Buffer.allocUnsafe(n * 3);
  for (let i = 0, o = 0; i < n; i++, o += 3) {
    let v = Math.round(src[srcOffset + i] * 8388608);
    if (v > 8388607) v = 8388607; else if (v < -8388608) v = -8388608;
    else if (v !== v) v = 0;
    dst[o] = (v >> 16) & 0xff;
    dst[o + 1] = (v >> 8) & 0xff;
    dst[o + 2] = v & 0xff;
  }
  return dst;
}

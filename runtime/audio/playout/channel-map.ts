// The one channel map of the engine: how a stream's channels become the output's (playout buffer, reconstruct, audio-in files).
//
// Mono is copied to every output channel; many to mono is averaged; otherwise output channel c takes input channel c,
// silence where the input has none (a stereo stream on a 4-channel output fills channels 0 and 1).

/**
 * Converts `frames` interleaved frames of `srcCh` channels at src[srcOff…] into `dstCh` channels at dst[dstOff…]
 * (offsets in samples). src and dst must not overlap unless the channel counts are equal and the offsets too.
 */
export function mapChannels(src: Float32Array, srcOff: number, srcCh: number, dst: Float32Array, dstOff: number, dstCh: number, frames: number): void {
  if (srcCh === dstCh) {
    const n = frames * dstCh;
    if (src !== dst || srcOff !== dstOff) for (let j = 0; j < n; j++) dst[dstOff + j] = src[srcOff + j];
    return;
  }
  if (srcCh === 1 && dstCh === 2) {
    // Mono to stereo, the common up-mix, without the inner loop.
    for (let i = 0, o = dstOff, p = srcOff; i < frames; i++, o += 2, p++) {
      const v = src[p];
      dst[o] = v;
      dst[o + 1] = v;
    }
  } else if (srcCh === 1) {
    for (let i = 0, o = dstOff, p = srcOff; i < frames; i++, o += dstCh, p++) {
      const v = src[p];
      for (let c = 0; c < dstCh; c++) dst[o + c] = v;
    }
  } else if (dstCh === 1) {
    for (let i = 0, o = dstOff, p = srcOff; i < frames; i++, o++, p += srcCh) {
      let s = 0;
      for (let c = 0; c < srcCh; c++) s += src[p + c];
      dst[o] = s / srcCh;
    }
  } else {
    for (let i = 0, o = dstOff, p = srcOff; i < frames; i++, o += dstCh, p += srcCh) {
      for (let c = 0; c < dstCh; c++) dst[o + c] = c < srcCh ? src[p + c] : 0;
    }
  }
}

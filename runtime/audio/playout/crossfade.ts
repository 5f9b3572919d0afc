// The latency trims' arithmetic: the one cross-fade (splice and whole-frame drop, live and in reconstruct) and the splice's cut search.

/** Cross-fade of a latency trim, seconds. */
export const TRIM_FADE_S = 0.005;

/**
 * Samples of the cross-fade a whole-frame trim makes: 5 ms at `sampleRate`, at most one frame (`frameSamples`). The
 * offline reconstruction (runtime/events/reconstruct.ts) takes it from here, so the two cannot drift apart.
 */
export function frameTrimFadeSamples(sampleRate: number, frameSamples: number): number {
  return Math.min(Math.max(1, Math.round(sampleRate * TRIM_FADE_S)), frameSamples);
}

/**
 * Fades the audio at dst[dstOff…] in from the audio that would have played (head[headOff…]) over W frames of
 * `channels`: dst = head·(1 − g) + dst·g, g = (i + ½)/W, stored as f32. Only the first `n` (≤ W) frames are
 * written when fewer are there.
 */
export function crossfade(head: Float32Array, headOff: number, dst: Float32Array, dstOff: number, W: number, channels: number, n = W): void {
  for (let i = 0; i < n; i++) {
    const g = (i + 0.5) / W;
    const h = headOff + i * channels;
    const o = dstOff + i * channels;
    for (let c = 0; c < channels; c++) dst[o + c] = head[h + c] * (1 - g) + dst[o + c] * g;
  }
}

/**
 * The splice's cut: of the offsets o in [oLo, oHi] (frames after buf[start…]), the one where the W frames at o best
 * match `head` (normalised cross-correlation; for a steady tone that is a whole number of periods — one WSOLA
 * splice). Searched from the longest cut down, so among equal matches the one closest to the longest wins.
 */
export function bestCut(buf: Float32Array, start: number, head: Float32Array, W: number, channels: number, oLo: number, oHi: number): number {
  const C = channels;
  let best = oHi;
  let bestScore = -Infinity;
  for (let o = oHi; o >= oLo; o--) {
    let dot = 0;
    let energy = 1e-12;
    for (let i = 0, p = start + o * C; i < W; i++, p += C) {
      for (let c = 0; c < C; c++) {
        const b = buf[p + c];
        dot += head[i * C + c] * b;
        energy += b * b;
      }
    }
    const score = dot / Math.sqrt(energy);
    if (score > bestScore) {
      bestScore = score;
      best = o;
    }
  }
  return best;
}

// PCM concealment, the one rule for the playout buffer and runtime/events/reconstruct.ts: the last frame once, faded to silence, then silence.
//
// (Opus streams are concealed by libopus' PLC, OpusDecoder.concealS16; this is for PCM, and for an Opus stream
// before its decoder exists.) The first concealment after a played frame repeats that frame with a linear fade,
// g = 1 − (i + 1)/fade over its length: the edge does not click and it ends in silence; later ones are silence.

export class PcmConcealment {
  /** The last frame played, interleaved at the channel count it was kept in. */
  private last: Float32Array;
  private lastLen = 0;
  /** Concealments since the last frame played. */
  private run = 0;

  constructor(samples: number) {
    this.last = new Float32Array(samples);
  }

  /** Keeps `frames` frames of `channels` at buf[off…] as the frame a concealment repeats. */
  keep(buf: Float32Array, off: number, frames: number, channels: number): void {
    const n = frames * channels;
    if (this.last.length < n) this.last = new Float32Array(n);
    for (let j = 0; j < n; j++) this.last[j] = buf[off + j];
    this.lastLen = frames;
  }

  /** A real frame was played: the next concealment may repeat the kept one. */
  played(): void {
    this.run = 0;
  }

  /**
   * Writes `frames` frames of concealment at dst[off…]: the kept frame faded to silence when `repeat` (a PCM stream)
   * and this is the first concealment since a frame played, else silence.
   */
  fill(dst: Float32Array, off: number, frames: number, channels: number, repeat: boolean): void {
    const fade = repeat && this.run === 0 ? Math.min(frames, this.lastLen) : 0;
    const last = this.last;
    for (let i = 0, o = off; i < frames; i++, o += channels) {
      const g = i < fade ? 1 - (i + 1) / fade : 0;
      if (g === 0) for (let c = 0; c < channels; c++) dst[o + c] = 0;
      else for (let c = 0; c < channels; c++) dst[o + c] = last[i * channels + c] * g;
    }
    this.run++;
  }

  /** Forgets the kept frame (a new stream). */
  reset(): void {
    this.lastLen = 0;
    this.run = 0;
  }
}

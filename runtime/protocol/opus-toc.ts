// Opus packet duration from its TOC byte and frame-count coding (RFC 6716 §3.1–3.4), used to validate AUDIO frames.

/** Largest single Opus frame, in bytes (RFC 6716 §3.2.1, [R2]). */
export const OPUS_MAX_FRAME_BYTES = 1275;
/** Largest packet streamproto1 accepts: three maximal frames (docs/streamproto1.md). */
export const OPUS_MAX_PACKET_BYTES = 1275 * 3;
/** Longest duration one packet may carry, in 48 kHz samples (120 ms, [R5]). */
const MAX_PACKET_SAMPLES_48K = 5760;

/** Samples per frame at 48 kHz for each of the 32 TOC configurations (Table 2 of RFC 6716). */
const FRAME_SAMPLES_48K: readonly number[] = (() => {
  const t: number[] = [];
  for (let config = 0; config < 32; config++) {
    if (config < 12) t.push([480, 960, 1920, 2880][config & 3]);        // SILK-only: 10, 20, 40, 60 ms
    else if (config < 16) t.push([480, 960][config & 1]);               // Hybrid: 10, 20 ms
    else t.push([120, 240, 480, 960][config & 3]);                      // CELT-only: 2.5, 5, 10, 20 ms
  }
  return t;
})();

/** Samples per frame at 48 kHz that a TOC byte announces. */
export function opusTocFrameSamples48k(toc: number): number {
  return FRAME_SAMPLES_48K[toc >> 3];
}

/**
 * Reads one frame length (RFC 6716 §3.2.1: one byte < 252, else two bytes 4·b1 + b0) at `off`.
 * Returns the length and writes how many bytes it used into `used[0]`; -1 when it runs past `end`.
 * `used` is a module-level scratch array so the hot path allocates nothing.
 */
const used = [0];
function readFrameLength(p: Buffer, off: number, end: number): number {
  if (off >= end) return -1;
  const b0 = p[off];
  if (b0 < 252) { used[0] = 1; return b0; }
  if (off + 1 >= end) return -1;
  used[0] = 2;
  return 4 * p[off + 1] + b0;
}

/**
 * Number of samples per channel that one Opus packet decodes to at `sampleRate`,
 * or -1 when the packet breaks any of the rules [R1]–[R7] of RFC 6716 §3.4.
 * Never throws and allocates nothing: it runs once per received Opus frame.
 */
export function opusPacketSamples(packet: Buffer, sampleRate = 48000): number {
  const n = packet.length;
  if (n < 1) return -1;                                                  // [R1]
  const toc = packet[0];
  const per48k = FRAME_SAMPLES_48K[toc >> 3];
  let frames: number;
  switch (toc & 3) {
    case 0:                                                              // one frame
      if (n - 1 > OPUS_MAX_FRAME_BYTES) return -1;                       // [R2]
      frames = 1;
      break;
    case 1:                                                              // two frames of equal size
      if ((n - 1) & 1) return -1;                                        // [R3]
      if ((n - 1) / 2 > OPUS_MAX_FRAME_BYTES) return -1;                 // [R2]
      frames = 2;
      break;
    case 2: {                                                            // two frames, first length coded
      const len1 = readFrameLength(packet, 1, n);
      if (len1 < 0) return -1;                                           // [R4]
      const rest = n - 1 - used[0];
      if (len1 > rest || len1 > OPUS_MAX_FRAME_BYTES) return -1;         // [R4]
      if (rest - len1 > OPUS_MAX_FRAME_BYTES) return -1;                 // [R2]
      frames = 2;
      break;
    }
    default: {                                                           // code 3: M frames, CBR or VBR, optional padding
      if (n < 2) return -1;
      const ch = packet[1];
      const vbr = (ch & 0x80) !== 0;
      const padded = (ch & 0x40) !== 0;
      frames = ch & 0x3f;
      if (frames < 1 || frames * per48k > MAX_PACKET_SAMPLES_48K) return -1; // [R5]
      let off = 2;
      let padding = 0;
      if (padded) {
        let b: number;
        do {
          if (off >= n) return -1;
          b = packet[off++];
          padding += b === 255 ? 254 : b;
        } while (b === 255);
      }
      const end = n - padding;                                             // data ends where the padding starts
      if (end < off) return -1;                                          // [R6]/[R7]: not enough bytes for the padding
      if (vbr) {
        let sum = 0;
        for (let i = 0; i < frames - 1; i++) {
          const len = readFrameLength(packet, off, end);
          if (len < 0 || len > OPUS_MAX_FRAME_BYTES) return -1;          // [R7]
          off += used[0];
          sum += len;
        }
        const last = end - off - sum;
        if (last < 0 || last > OPUS_MAX_FRAME_BYTES) return -1;          // [R7]
      } else {
        const data = end - off;
        if (data % frames !== 0 || data / frames > OPUS_MAX_FRAME_BYTES) return -1; // [R6]
      }
    }
  }
  const samples48k = frames * per48k;
  if (sampleRate === 48000) return samples48k;
  const samples = (samples48k * sampleRate) / 48000;
  return Number.isInteger(samples) ? samples : -1;
}

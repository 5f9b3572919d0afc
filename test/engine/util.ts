// Helpers shared by the engine tests: tone frames, packet headers, f32/s16 views.
import type { PlayoutHeader, AudioCodecName } from '../../runtime/audio/playout';

/** f32 interleaved Buffer (own, aligned ArrayBuffer) of a sine tone, continuing from sample `start`. */
export function toneFrame(frameSamples: number, channels: number, start: number, freq = 440, amp = 0.5, rate = 48000): Buffer {
  const a = new Float32Array(frameSamples * channels);
  for (let i = 0; i < frameSamples; i++) {
    const v = amp * Math.sin((2 * Math.PI * freq * (start + i)) / rate);
    for (let c = 0; c < channels; c++) a[i * channels + c] = v;
  }
  return Buffer.from(a.buffer);
}

/** A Float32Array view of an f32 Buffer (copy when unaligned). */
export function f32(buf: Buffer): Float32Array {
  if (buf.byteOffset % 4 === 0) return new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  return new Float32Array(Uint8Array.from(buf).buffer);
}

/** pcm_s16le mono frame whose every sample is `value` (an s16 integer). */
export function s16Const(frameSamples: number, value: number, channels = 1): Buffer {
  const b = Buffer.alloc(frameSamples * channels * 2);
  for (let i = 0; i < frameSamples * channels; i++) b.writeInt16LE(value, i * 2);
  return b;
}

export function header(seq: number, over: Partial<PlayoutHeader> = {}): PlayoutHeader {
  return { seq, captureTime: 0, codec: 'pcm_s16le' as AudioCodecName, sampleRate: 48000, channels: 1, frameSamples: 480, trackId: 1, ...over };
}

/** The s16 value a frame carries (first sample × 32768), for frames built with s16Const. */
export function s16ValueOf(frame: Float32Array | Buffer, index = 0): number {
  const a = Buffer.isBuffer(frame) ? f32(frame) : frame;
  return Math.round(a[index] * 32768);
}

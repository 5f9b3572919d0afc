// The playout buffer's decoding: one packet (Opus, s16 or f32 PCM), or concealment, into the fifo at the output's channels.
//
// Opus is decoded by libopus at the output rate and concealed by its PLC; PCM is converted by pcm.ts, channels by
// channel-map.ts, and a PCM stream (or an Opus one before its decoder exists) is concealed by conceal.ts.
import { OpusDecoder } from '../opus';
import { Codec } from '../../codec';
import { readF32, s16ToF32 } from '../pcm';
import { mapChannels } from './channel-map';
import { PcmConcealment } from './conceal';
import type { SampleFifo } from './fifo';

type SampleReader = (src: Buffer, out: Float32Array, off: number, n: number) => Float32Array;

export class PacketDecoder {
  /** Opus packets libopus refused (concealed instead). */
  decodeErrors = 0;
  /** Samples per channel made up by conceal(). */
  concealedSamples = 0;
  private readonly fifo: SampleFifo;
  private readonly sampleRate: number;
  private readonly channels: number;
  private opus: OpusDecoder | null = null;
  private readonly pcmConceal: PcmConcealment;
  /** A packet's samples at its own channel count, before the channel map. */
  private scratch: Float32Array;

  constructor(fifo: SampleFifo, sampleRate: number, channels: number, frameSamples: number) {
    this.fifo = fifo;
    this.sampleRate = sampleRate;
    this.channels = channels;
    this.pcmConceal = new PcmConcealment(frameSamples * channels);
    this.scratch = new Float32Array(frameSamples * 8);
  }

  /**
   * Decodes one packet of `ch` channels, `frames` samples per channel at the output rate, from seq `u`, into the
   * fifo; one libopus refuses is counted and concealed as the stream's (`streamCodec`, its newest packet's).
   */
  decode(data: Buffer, codec: Codec, ch: number, frames: number, u: number, streamCodec: Codec): void {
    if (codec === Codec.OPUS) {
      let dec = this.opus;
      if (dec === null || dec.channels !== ch) dec = this.opus = new OpusDecoder({ sampleRate: this.sampleRate, channels: ch as 1 | 2 });
      // Straight into the fifo at the output's channels, else into scratch and through the channel map.
      const fifo = this.fifo;
      const C = this.channels;
      const off = fifo.reserve(frames);
      let n: number;
      try {
        if (ch === C) n = dec.decodeInto(data, fifo.buf, off, frames);
        else {
          if (this.scratch.length < frames * ch) this.scratch = new Float32Array(frames * ch);
          n = dec.decodeInto(data, this.scratch, 0, frames);
          mapChannels(this.scratch, 0, ch, fifo.buf, off, C, n);
        }
      } catch {
        this.decodeErrors++;
        this.conceal(frames, streamCodec);
        return;
      }
      fifo.commit(n, u);
    } else if (codec === Codec.PCM_S16LE) {
      this.write(s16ToF32, data, ch, frames, u, true);
    } else {
      this.write(readF32, data, ch, frames, u, true);
    }
    this.pcmConceal.played();
  }

  /** Makes up `frames` samples per channel of a `streamCodec` stream: Opus PLC, a faded repeat of the last PCM frame, or silence. */
  conceal(frames: number, streamCodec: Codec): void {
    this.concealedSamples += frames;
    const dec = this.opus;
    if (streamCodec === Codec.OPUS && dec !== null) {
      const fifo = this.fifo;
      const C = this.channels;
      const off = fifo.reserve(frames);
      try {
        if (dec.channels === C) dec.concealInto(frames, fifo.buf, off);
        else {
          if (this.scratch.length < frames * dec.channels) this.scratch = new Float32Array(frames * dec.channels);
          dec.concealInto(frames, this.scratch, 0);
          mapChannels(this.scratch, 0, dec.channels, fifo.buf, off, C, frames);
        }
        fifo.commit(frames, NaN);
        return;
      } catch {
        // (a duration libopus cannot conceal: the PCM concealment below)
      }
    }
    const off = this.fifo.reserve(frames);
    this.pcmConceal.fill(this.fifo.buf, off, frames, this.channels, streamCodec !== Codec.OPUS);
    this.fifo.commit(frames, NaN);
  }

  /** A new stream: no decoder state, nothing to repeat. */
  reset(): void {
    this.opus = null;
    this.pcmConceal.reset();
  }

  /** `frames` frames of `srcCh` channels, read from `src` by `read`, into the fifo through the channel map; PCM is kept for concealment. */
  private write(read: SampleReader, src: Buffer, srcCh: number, frames: number, u: number, keep: boolean): void {
    const fifo = this.fifo;
    const C = this.channels;
    const off = fifo.reserve(frames);
    if (srcCh === C) {
      read(src, fifo.buf, off, frames * C);
    } else {
      const n = frames * srcCh;
      if (this.scratch.length < n) this.scratch = new Float32Array(n);
      read(src, this.scratch, 0, n);
      mapChannels(this.scratch, 0, srcCh, fifo.buf, off, C, frames);
    }
    if (keep) this.pcmConceal.keep(fifo.buf, off, frames, C);
    fifo.commit(frames, u);
  }
}

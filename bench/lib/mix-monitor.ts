// Bench: the load generators' monitor — one receiver of the mix (streamproto1 or WebRTC), decoded in frame order with
// a player's concealment, its channel 0 kept for the tone checks, and the probe's onset timing: each 2 kHz burst
// found in what it hears is matched to the probe packet that carried it in (bench/lib/packets.ts makes the bursts).
import { OpusDecoder } from '../../runtime/audio/opus';
import { estimateFrequency, countDiscontinuities, rms, dbfs } from '../../runtime/audio/analysis';
import { SAMPLE_RATE, TONE_HZ, ONSET_DIFF } from './packets';

/** Receive times of mix frames and send times of probe packets, by index mod RING. */
const RING = 8192;

export interface ToneCheck { toneHz: number | null; toneDbfs: number | null; discontinuities: number | null; analysedSeconds: number }

export class MixMonitor {
  /** Mix frames received, and concealed (never received or undecodable), since the last resetWindow(). */
  frames = 0;
  concealed = 0;
  /** Probe latencies (ms) since the last resetWindow(), and onsets that matched no packet. */
  latencies: number[] = [];
  misaligned = 0;
  /** The peer's and the mix's Opus delays (samples), measured by the caller (measureCodecDelay). */
  codecDelay = { peer: 0, mix: 0 };
  private readonly decoder = new OpusDecoder({ sampleRate: SAMPLE_RATE, channels: 2 });
  private readonly buf: Float32Array;
  private write = 0;
  private nextIdx = 0;
  private prev = 0;
  private lastOnset = -Infinity;
  private readonly mixRecvAt = new Float64Array(RING).fill(NaN);
  private readonly probeSentAt = new Float64Array(RING).fill(NaN);
  private probeBursts: number[] = [];

  constructor(private readonly frameSamples: number, private readonly probing: boolean, seconds = 12) {
    this.buf = new Float32Array(seconds * SAMPLE_RATE);
  }

  /** Mix frame `idx` (frames since the first, in order; an older one is dropped, as a player would) arrived `now`. */
  receive(idx: number, payload: Buffer, now: number): void {
    if (idx < this.nextIdx) return;
    while (this.nextIdx < idx) {
      // A frame the xcast never sent us: conceal, as a player would, so the tone check sees the gap.
      this.concealed++;
      this.keep(this.decoder.conceal(this.frameSamples), this.nextIdx);
      this.nextIdx++;
    }
    this.mixRecvAt[idx % RING] = now;
    let pcm: Buffer;
    try { pcm = this.decoder.decode(payload); } catch { pcm = this.decoder.conceal(this.frameSamples); this.concealed++; }
    this.keep(pcm, idx);
    this.nextIdx = idx + 1;
    this.frames++;
  }

  /** The probe peer sent its packet `seq` at `now`; `burst`: the packet starts a 2 kHz burst. */
  probeSent(seq: number, burst: boolean, now: number): void {
    this.probeSentAt[seq % RING] = now;
    if (burst) {
      this.probeBursts.push(seq);
      if (this.probeBursts.length > 8) this.probeBursts.shift();
    }
  }

  /** Forgets the probe's bursts (a new probe peer numbers its packets from 0). */
  resetProbe(): void {
    this.probeBursts = [];
  }

  resetWindow(): void {
    this.frames = 0;
    this.concealed = 0;
    this.latencies = [];
    this.misaligned = 0;
  }

  /** Frequency, level and discontinuities of the last `seconds` heard (less the first second of the window). */
  toneCheck(seconds: number): ToneCheck {
    const n = Math.min(this.buf.length, Math.floor(seconds * SAMPLE_RATE) - SAMPLE_RATE);
    if (n <= SAMPLE_RATE) return { toneHz: null, toneDbfs: null, discontinuities: null, analysedSeconds: 0 };
    const seg = new Float32Array(n);
    for (let i = 0; i < n; i++) seg[i] = this.buf[(this.write - n + i + this.buf.length) % this.buf.length];
    // Threshold 0.25 of the tone: Opus' coding noise and the filler peers' low tones stay under it; a dropout,
    // a concealed frame or a splice goes far over.
    return {
      toneHz: estimateFrequency(seg, SAMPLE_RATE, 1, 0), toneDbfs: dbfs(rms(seg)),
      discontinuities: countDiscontinuities(seg, SAMPLE_RATE, TONE_HZ, { threshold: 0.25, amplitude: 0.3 }), analysedSeconds: n / SAMPLE_RATE,
    };
  }

  private keep(pcmF32: Buffer, frameIdx: number): void {
    const f = new Float32Array(pcmF32.buffer, pcmF32.byteOffset, pcmF32.length / 4);
    const n = f.length / 2;
    for (let i = 0; i < n; i++) {
      const x = f[i * 2];
      if (this.probing) {
        const g = frameIdx * this.frameSamples + i;
        if (Math.abs(x - this.prev) > ONSET_DIFF && g - this.lastOnset > SAMPLE_RATE * 0.2) {
          this.lastOnset = g;
          this.timeOnset(g);
        }
      }
      this.prev = x;
      this.buf[this.write] = x;
      this.write = (this.write + 1) % this.buf.length;
    }
  }

  /**
   * The onset at mix sample g came from the probe packet that carried the burst into the xcast; the mix frame that
   * carried it out is found by taking the two codec delays off. Latency = that frame's arrival − that packet's send.
   */
  private timeOnset(g: number): void {
    const fs = this.frameSamples;
    const pd = this.codecDelay.peer;
    const inFrameAt = (g - this.codecDelay.mix) - (pd % fs);
    const F = Math.round(inFrameAt / fs);
    // A burst the xcast spliced (latency trimming) or that straddled a concealment lands off the frame grid.
    if (Math.abs(inFrameAt - F * fs) > fs / 4 + 24) { this.misaligned++; return; }
    const recv = this.mixRecvAt[F % RING];
    if (!Number.isFinite(recv)) { this.misaligned++; return; }
    // The burst packet is the latest one sent before the mix frame came back (bursts are 250 ms apart).
    let best = -1;
    for (const s of this.probeBursts) {
      const k = s + Math.floor(pd / fs);
      const t = this.probeSentAt[k % RING];
      if (Number.isFinite(t) && t <= recv && (best < 0 || t > this.probeSentAt[best % RING])) best = k;
    }
    if (best < 0) { this.misaligned++; return; }
    this.latencies.push(recv - this.probeSentAt[best % RING]);
  }
}

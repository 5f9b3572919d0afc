// The bench's audio, encoded once: looping Opus packet sets for filler peers, the tone peer and the latency probe.
//
// Peers send 48 kHz stereo Opus at 64 kbit/s CBR (every 10 ms packet is 80 bytes, every 2.5 ms one 20 bytes), so
// the wire load is what the setup says whatever the content. Content is chosen for the checks made on the
// mix: filler peers play low tones (110/165/220 Hz, −40 dBFS each), which the tone check's second-difference
// residual at 1 kHz attenuates by ~35 dB; the tone peer plays 1 kHz at −10.5 dBFS; the probe plays silence with a
// 2 kHz burst every quarter second, whose onset the monitor times.
import fs from 'node:fs';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const NativeOpus: new (rate: number, channels: number) => {
  encode(pcm: Buffer): Buffer;
  decode(packet: Buffer): Buffer;
  applyEncoderCTL(ctl: number, value: number): void;
  setBitrate(bps: number): void;
} = require('@discordjs/opus').OpusEncoder;

export const SAMPLE_RATE = 48000;
export const CHANNELS = 2;
export const BITRATE = 64000;
export const TONE_HZ = 1000;
export const TONE_AMPLITUDE = 0.3;
export const PROBE_HZ = 2000;
export const PROBE_AMPLITUDE = 0.8;
/**
 * The probe's onset detector: a jump of the first difference above this. The 2 kHz burst starts at its peak, a
 * jump of 0.8; filler tones (≤ 220 Hz) change by < 0.03 × their amplitude per sample, so even 200 of them summed
 * stay far below it.
 */
export const ONSET_DIFF = 0.08;
/** Probe bursts per second (evenly spaced in the 1 s loop). */
export const PROBE_BURSTS_PER_LOOP = 4;

const OPUS_SET_APPLICATION = 4000;
const OPUS_SET_VBR = 4006;
const OPUS_SET_COMPLEXITY = 4010;
const APPLICATION_AUDIO = 2049;

export interface PacketLoop {
  name: 'filler' | 'tone' | 'probe' | 'silence';
  frameSamples: number;
  /** One loop; played from a per-peer offset and wrapped. */
  packets: Buffer[];
  /** Loop positions whose packet starts a probe burst (probe only). */
  bursts: number[];
}

export interface PacketSet {
  frameSamples: number;
  filler: PacketLoop;
  tone: PacketLoop;
  probe: PacketLoop;
  /** Digital silence (a listener that sends nothing audible: the mixer's mix-minus shares its encode). */
  silence?: PacketLoop;
}

export type Signal = (n: number) => number;

/** Encodes `frames` frames of `sig` (same on both channels) twice over and keeps the second pass, so the loop wraps without an encoder cold start. */
function encodeLoop(sig: Signal, frames: number, frameSamples: number): Buffer[] {
  const enc = new NativeOpus(SAMPLE_RATE, CHANNELS);
  enc.applyEncoderCTL(OPUS_SET_APPLICATION, APPLICATION_AUDIO);
  enc.setBitrate(BITRATE);
  enc.applyEncoderCTL(OPUS_SET_COMPLEXITY, 5);
  enc.applyEncoderCTL(OPUS_SET_VBR, 0);
  const pcm = Buffer.alloc(frameSamples * CHANNELS * 2);
  const out: Buffer[] = [];
  for (let pass = 0; pass < 2; pass++) {
    for (let f = 0; f < frames; f++) {
      for (let i = 0; i < frameSamples; i++) {
        const v = Math.max(-32768, Math.min(32767, Math.round(sig(f * frameSamples + i) * 32768)));
        pcm.writeInt16LE(v, i * 4);
        pcm.writeInt16LE(v, i * 4 + 2);
      }
      const p = enc.encode(pcm);
      if (pass === 1) out.push(Buffer.from(p));
    }
  }
  return out;
}

/** Every loop for one frame size (120 = 2.5 ms, 480 = 10 ms at 48 kHz). */
export function makePacketSet(frameSamples: number): PacketSet {
  return buildPacketSet(frameSamples, encodeLoop);
}

/** The three loops' signals (filler, 1 kHz tone, 2 kHz probe bursts), each encoded by `encode` (a peer's encoder). */
export function buildPacketSet(frameSamples: number, encode: (sig: Signal, frames: number, frameSamples: number) => Buffer[]): PacketSet {
  const sr = SAMPLE_RATE;
  const tau = 2 * Math.PI;
  // 4 s of filler, 1 s of tone (a whole number of 1 kHz cycles in any loop of whole frames of ≥ 1 ms).
  const fillerFrames = Math.round((4 * sr) / frameSamples);
  const oneSecond = Math.round(sr / frameSamples);
  const filler: Signal = (n) => {
    const t = n / sr;
    return 0.01 * Math.sin(tau * 110 * t) + 0.01 * Math.sin(tau * 165 * t + 1) * (0.6 + 0.4 * Math.sin(tau * 0.5 * t)) + 0.01 * Math.sin(tau * 220 * t + 2);
  };
  const tone: Signal = (n) => TONE_AMPLITUDE * Math.sin((tau * TONE_HZ * n) / sr);
  const burstLen = Math.round(0.01 * sr);
  const every = Math.round(oneSecond / PROBE_BURSTS_PER_LOOP);
  const burstFrames = Array.from({ length: PROBE_BURSTS_PER_LOOP }, (_, i) => i * every);
  const burstStarts = burstFrames.map((f) => f * frameSamples);
  const probe: Signal = (n) => {
    for (const s of burstStarts) if (n >= s && n < s + burstLen) return PROBE_AMPLITUDE * Math.sin((tau * PROBE_HZ * (n - s)) / sr + Math.PI / 2);
    return 0;
  };
  return {
    frameSamples,
    filler: { name: 'filler', frameSamples, packets: encode(filler, fillerFrames, frameSamples), bursts: [] },
    tone: { name: 'tone', frameSamples, packets: encode(tone, oneSecond, frameSamples), bursts: [] },
    probe: { name: 'probe', frameSamples, packets: encode(probe, oneSecond, frameSamples), bursts: burstFrames },
    silence: { name: 'silence', frameSamples, packets: encode(() => 0, oneSecond, frameSamples), bursts: [] },
  };
}

/** Saves a packet set for the load generator processes (JSON with base64 packets). */
export function savePacketSet(file: string, set: PacketSet): void {
  const enc = (l: PacketLoop) => ({ ...l, packets: l.packets.map((p) => p.toString('base64')) });
  fs.writeFileSync(file, JSON.stringify({ frameSamples: set.frameSamples, filler: enc(set.filler), tone: enc(set.tone), probe: enc(set.probe), silence: set.silence ? enc(set.silence) : undefined }));
}

export function loadPacketSet(file: string): PacketSet {
  const raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  const dec = (l: { name: PacketLoop['name']; frameSamples: number; packets: string[]; bursts: number[] }): PacketLoop => ({ ...l, packets: l.packets.map((p) => Buffer.from(p, 'base64')) });
  return { frameSamples: raw.frameSamples, filler: dec(raw.filler), tone: dec(raw.tone), probe: dec(raw.probe), silence: raw.silence ? dec(raw.silence) : undefined };
}

/**
 * Samples from a sound's start (at the encoder's input) to where it starts in the decoder's output, measured by
 * encoding a step with `encode` and decoding it: the codec delay the latency probe subtracts.
 */
export function measureCodecDelay(encode: (pcmS16: Buffer) => Buffer, frameSamples: number): number {
  const dec = new NativeOpus(SAMPLE_RATE, CHANNELS);
  const pcm = Buffer.alloc(frameSamples * CHANNELS * 2);
  const frames = Math.ceil((4 * SAMPLE_RATE) / 100 / frameSamples) + 8;
  const stepAt = 4 * frameSamples;
  let idx = 0;
  let prev = 0;
  for (let f = 0; f < frames; f++) {
    for (let i = 0; i < frameSamples; i++) {
      const n = f * frameSamples + i;
      const v = n >= stepAt ? Math.round(PROBE_AMPLITUDE * 32767 * Math.sin((2 * Math.PI * PROBE_HZ * (n - stepAt)) / SAMPLE_RATE + Math.PI / 2)) : 0;
      pcm.writeInt16LE(v, i * 4);
      pcm.writeInt16LE(v, i * 4 + 2);
    }
    const out = dec.decode(encode(pcm));
    for (let i = 0; i < out.length / 4; i++, idx++) {
      const x = out.readInt16LE(i * 4) / 32768;
      if (idx >= stepAt && Math.abs(x - prev) > ONSET_DIFF) return idx - stepAt;
      prev = x;
    }
  }
  throw new Error('measureCodecDelay: the step never came out of the decoder');
}

/** An encoder with the same settings as the bench's peers, for measureCodecDelay. */
export function peerEncoder(): (pcm: Buffer) => Buffer {
  const enc = new NativeOpus(SAMPLE_RATE, CHANNELS);
  enc.applyEncoderCTL(OPUS_SET_APPLICATION, APPLICATION_AUDIO);
  enc.setBitrate(BITRATE);
  enc.applyEncoderCTL(OPUS_SET_COMPLEXITY, 5);
  enc.applyEncoderCTL(OPUS_SET_VBR, 0);
  return (pcm) => enc.encode(pcm);
}

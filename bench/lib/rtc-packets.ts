// Bench: what a browser publishes, encoded once — mono Opus, 10 ms frames, 32 kbit/s (Chromium's default for a mono
// microphone), with the same three loops as the streamproto1 peers' set (bench/lib/packets.ts): low filler tones, the
// 1 kHz tone peer and the 2 kHz probe bursts, so the monitor's checks and the onset timing are the same maths.
import fs from 'node:fs';
import { SAMPLE_RATE, TONE_HZ, TONE_AMPLITUDE, PROBE_HZ, PROBE_AMPLITUDE, PROBE_BURSTS_PER_LOOP, PacketLoop, PacketSet } from './packets';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const NativeOpus: new (rate: number, channels: number) => {
  encode(pcm: Buffer): Buffer;
  applyEncoderCTL(ctl: number, value: number): void;
  setBitrate(bps: number): void;
} = require('@discordjs/opus').OpusEncoder;

/** A browser's mono microphone: 32 kbit/s VBR, complexity 9 (Chromium's desktop setting), application VOIP. */
export const RTC_BITRATE = 32000;
const OPUS_SET_APPLICATION = 4000;
const OPUS_SET_COMPLEXITY = 4010;
const APPLICATION_VOIP = 2048;

function browserEncoder(): InstanceType<typeof NativeOpus> {
  const enc = new NativeOpus(SAMPLE_RATE, 1);
  enc.applyEncoderCTL(OPUS_SET_APPLICATION, APPLICATION_VOIP);
  enc.setBitrate(RTC_BITRATE);
  enc.applyEncoderCTL(OPUS_SET_COMPLEXITY, 9);
  return enc;
}

type Signal = (n: number) => number;

function encodeLoop(sig: Signal, frames: number, frameSamples: number): Buffer[] {
  const enc = browserEncoder();
  const pcm = Buffer.alloc(frameSamples * 2);
  const out: Buffer[] = [];
  // Twice over, keeping the second pass: the loop wraps without an encoder cold start.
  for (let pass = 0; pass < 2; pass++) {
    for (let f = 0; f < frames; f++) {
      for (let i = 0; i < frameSamples; i++) pcm.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(sig(f * frameSamples + i) * 32768))), i * 2);
      const p = enc.encode(pcm);
      if (pass === 1) out.push(Buffer.from(p));
    }
  }
  return out;
}

/** The browser-like loops for one frame size (480 = 10 ms). */
export function makeRtcPacketSet(frameSamples: number): PacketSet {
  const sr = SAMPLE_RATE;
  const tau = 2 * Math.PI;
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
  const loop = (name: PacketLoop['name'], sig: Signal, frames: number, bursts: number[] = []): PacketLoop => ({ name, frameSamples, packets: encodeLoop(sig, frames, frameSamples), bursts });
  return { frameSamples, filler: loop('filler', filler, 4 * oneSecond), tone: loop('tone', tone, oneSecond), probe: loop('probe', probe, oneSecond, burstFrames) };
}

/** An encoder like the browser's, for measureCodecDelay (which hands it stereo s16: the left channel is encoded). */
export function rtcPeerEncoder(): (pcmStereoS16: Buffer) => Buffer {
  const enc = browserEncoder();
  let mono = Buffer.alloc(0);
  return (pcm) => {
    const n = pcm.length / 4;
    if (mono.length !== n * 2) mono = Buffer.alloc(n * 2);
    for (let i = 0; i < n; i++) mono.writeInt16LE(pcm.readInt16LE(i * 4), i * 2);
    return enc.encode(mono);
  };
}

export function saveRtcPacketSet(file: string, set: PacketSet): void {
  const enc = (l: PacketLoop) => ({ ...l, packets: l.packets.map((p) => p.toString('base64')) });
  fs.writeFileSync(file, JSON.stringify({ frameSamples: set.frameSamples, filler: enc(set.filler), tone: enc(set.tone), probe: enc(set.probe) }));
}

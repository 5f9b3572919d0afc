// Bench: what a browser publishes, encoded once — mono Opus, 10 ms frames, 32 kbit/s (Chromium's default for a mono
// microphone), with the same three loops as the streamproto1 peers' set (bench/lib/packets.ts): low filler tones, the
// 1 kHz tone peer and the 2 kHz probe bursts, so the monitor's checks and the onset timing are the same maths.
import { SAMPLE_RATE, PacketSet, Signal, buildPacketSet } from './packets';

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

/** The browser-like loops for one frame size (480 = 10 ms): the streamproto1 peers' signals, the browser's encoder. */
export function makeRtcPacketSet(frameSamples: number): PacketSet {
  return buildPacketSet(frameSamples, encodeLoop);
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

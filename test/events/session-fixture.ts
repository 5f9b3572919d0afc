// Builds synthetic recorded sessions for the event-tool tests: real Opus packets of two tones, written through the real EventStreamServer as a live mix would.
import assert from 'node:assert/strict';
import { OpusEncoder } from '../../runtime/audio/opus';
import { readWav } from '../../runtime/audio/wav';
import { EventStreamServer } from '../../runtime/events/server';

export const RATE = 48000;
export const FRAME = 480;

/** Interleaved f32 frames of a sine per channel (frequencies[c] for channel c), continuous across frames. */
export function tone(frequencies: number[], frames: number, amplitude = 0.4): Buffer[] {
  const ch = frequencies.length;
  const out: Buffer[] = [];
  for (let k = 0; k < frames; k++) {
    const f = new Float32Array(FRAME * ch);
    for (let i = 0; i < FRAME; i++) {
      const t = (k * FRAME + i) / RATE;
      for (let c = 0; c < ch; c++) f[i * ch + c] = amplitude * Math.sin(2 * Math.PI * frequencies[c] * t);
    }
    out.push(Buffer.from(f.buffer));
  }
  return out;
}

/** Opus packets of the given frames (one encoder, in order, as a peer sends them). */
export function encode(frames: Buffer[], channels: 1 | 2): Buffer[] {
  const enc = new OpusEncoder({ sampleRate: RATE, channels, frameSamples: FRAME, bitrate: 64000 });
  return frames.map((f) => enc.encode(f));
}

export interface SyntheticSession {
  path: string;
  frames: number;
  alice: { channelId: number; packets: Buffer[]; firstWireSeq: number };
  bob: { channelId: number; packets: Buffer[]; firstWireSeq: number };
  /** Bob's frame whose packet came too late for the live mix (concealed there, received after). */
  lateFrame: number;
  /** Bob's frame whose packet never arrived. */
  lostFrame: number;
  /** The frame from which the second Mix Parameters hold. */
  paramsChangeFrame: number;
}

/**
 * Two peers: alice (mono 440 Hz, wire seqs from 100) and bob (stereo 660/990 Hz, wire
 * seqs from 2^32 − 16, so they wrap). Frame k's packets arrive before its mix event,
 * except bob's packet of `lateFrame` (arrives three frames later, after the live mix
 * concealed it) and of `lostFrame` (never). Parameters: alice 0.75 gain, pan +0.25;
 * bob unity centre; from `paramsChangeFrame` bob 0.5 gain, pan −1, master 0.5.
 */
export async function writeSyntheticSession(path: string, frames = 80): Promise<SyntheticSession> {
  const alicePk = encode(tone([440], frames), 1);
  const bobPk = encode(tone([660, 990], frames), 2);
  const lateFrame = 40;
  const lostFrame = 60;
  const paramsChangeFrame = 50;
  const srv = new EventStreamServer({ port: 0, sampleRate: RATE, frameSamples: FRAME, file: { path } });
  const alice = srv.channelIdFor('alice', 1);
  const bob = srv.channelIdFor('bob', 1);
  srv.setProfile(alice, { name: 'alice', city: 'Oslo', countryCode: 161, skillLevel: 3, instrument: 1 });
  srv.setProfile(bob, { name: 'bob', city: 'Lyon', countryCode: 74, skillLevel: 2, instrument: 7 });
  const aSeq = (k: number): number => 100 + k;
  const bSeq = (k: number): number => (0xfffffff0 + k) >>> 0;
  srv.mixParameters(0, 1, [
    { channelId: alice, gain: 0.75, pan: 0.25, muted: false },
    { channelId: bob, gain: 1, pan: 0, muted: false },
  ]);
  for (let k = 0; k < frames; k++) {
    if (k === paramsChangeFrame) {
      srv.mixParameters(k, 0.5, [
        { channelId: alice, gain: 0.75, pan: 0.25, muted: false },
        { channelId: bob, gain: 0.5, pan: -1, muted: false },
      ]);
    }
    srv.opusPacketReceived(alice, aSeq(k), 0, 1, alicePk[k]);
    if (k !== lateFrame && k !== lostFrame) srv.opusPacketReceived(bob, bSeq(k), 0, 2, bobPk[k]);
    if (k === lateFrame + 3) srv.opusPacketReceived(bob, bSeq(lateFrame), 0, 2, bobPk[lateFrame]);
    srv.audioFrameMixed(k, [
      { channelId: alice, seq: aSeq(k), channels: 1, frameSamples: FRAME, codec: 'opus' },
      { channelId: bob, seq: k === lateFrame || k === lostFrame ? null : bSeq(k), concealed: true, channels: 2, frameSamples: FRAME, codec: 'opus' },
    ]);
  }
  await srv.close();
  return {
    path, frames, lateFrame, lostFrame, paramsChangeFrame,
    alice: { channelId: alice, packets: alicePk, firstWireSeq: aSeq(0) },
    bob: { channelId: bob, packets: bobPk, firstWireSeq: bSeq(0) },
  };
}

/** A WAV file's samples as the bytes of its Float32Array (readWav's). */
export function samplesOf(file: string): Buffer {
  const w = readWav(file);
  return Buffer.from(w.samples.buffer, w.samples.byteOffset, w.samples.byteLength);
}

/** Equal bit for bit; on failure names the first differing sample (and its stereo frame). */
export function assertSameSamples(actual: Buffer, expected: Buffer, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: ${actual.length / 4} samples, expected ${expected.length / 4}`);
  if (actual.equals(expected)) return;
  for (let i = 0; i < actual.length; i += 4) {
    if (actual.readUInt32LE(i) !== expected.readUInt32LE(i)) {
      assert.fail(`${what}: sample ${i / 4} (frame ${Math.floor(i / 4 / 2 / FRAME)}) is ${actual.readFloatLE(i)}, expected ${expected.readFloatLE(i)}`);
    }
  }
}

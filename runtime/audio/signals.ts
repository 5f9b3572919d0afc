// Test-signal sources (sine tone, seeded white noise, silence) producing interleaved f32le frames for flows, tests and the bench.

import { ConfigError } from './resampler';

/** Linear amplitude of a level in dBFS (0 dBFS = amplitude 1.0). */
export function fromDbfs(db: number): number {
  return Math.pow(10, db / 20);
}

function checkPositiveInteger(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new ConfigError(field, `must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function checkAmplitude(v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) {
    throw new ConfigError('amplitude', `must be a linear amplitude in 0..1, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** A fresh, 4-byte-aligned Buffer of `n` f32 samples and a view of it (never from the shared pool: it is sent on). */
function freshFrame(n: number): { buf: Buffer; f32: Float32Array } {
  const f32 = new Float32Array(n);
  return { buf: Buffer.from(f32.buffer, 0, f32.byteLength), f32 };
}

export interface ToneOptions {
  frequency?: number;
  /** Linear peak amplitude, 0..1; see `fromDbfs`. */
  amplitude?: number;
  sampleRate?: number;
  channels?: number;
  /** Starting phase in cycles (0..1). */
  phase?: number;
}

/** A sine tone, the same in every channel, continuous in phase from one frame to the next. */
export class ToneGenerator {
  readonly frequency: number;
  readonly amplitude: number;
  readonly sampleRate: number;
  readonly channels: number;
  /** Phase in cycles, kept in [0, 1) in double precision so hours of tone do not drift. */
  private phase: number;
  private readonly step: number;

  constructor(opts: ToneOptions = {}) {
    const frequency = opts.frequency ?? 440;
    this.sampleRate = checkPositiveInteger('sampleRate', opts.sampleRate ?? 48000);
    if (typeof frequency !== 'number' || !Number.isFinite(frequency) || frequency < 0 || frequency > this.sampleRate / 2) {
      throw new ConfigError('frequency', `must be between 0 and ${this.sampleRate / 2} Hz (Nyquist), got ${JSON.stringify(opts.frequency)}`);
    }
    this.frequency = frequency;
    this.amplitude = checkAmplitude(opts.amplitude ?? 0.5);
    this.channels = checkPositiveInteger('channels', opts.channels ?? 1);
    const phase = opts.phase ?? 0;
    if (typeof phase !== 'number' || !Number.isFinite(phase)) throw new ConfigError('phase', `must be a finite number of cycles, got ${JSON.stringify(phase)}`);
    this.phase = phase - Math.floor(phase);
    this.step = frequency / this.sampleRate;
  }

  /** The next `frameSamples` samples per channel as a fresh interleaved f32le Buffer. */
  next(frameSamples: number): Buffer {
    checkPositiveInteger('frameSamples', frameSamples);
    const ch = this.channels;
    const { buf, f32 } = freshFrame(frameSamples * ch);
    const twoPi = 2 * Math.PI;
    let phase = this.phase;
    for (let i = 0; i < frameSamples; i++) {
      const v = this.amplitude * Math.sin(twoPi * phase);
      for (let c = 0; c < ch; c++) f32[i * ch + c] = v;
      phase += this.step;
      if (phase >= 1) phase -= 1;
    }
    this.phase = phase;
    return buf;
  }
}

export interface NoiseOptions {
  /** Linear peak amplitude, 0..1: samples are uniform in [−amplitude, amplitude). */
  amplitude?: number;
  channels?: number;
  /** PRNG seed (any 32-bit integer); the same seed gives the same noise. */
  seed?: number;
}

/** Uniform white noise from a seeded PRNG (mulberry32), independent per channel. */
export class NoiseGenerator {
  readonly amplitude: number;
  readonly channels: number;
  private state: number;

  constructor(opts: NoiseOptions = {}) {
    this.amplitude = checkAmplitude(opts.amplitude ?? 0.5);
    this.channels = checkPositiveInteger('channels', opts.channels ?? 1);
    const seed = opts.seed ?? 1;
    if (typeof seed !== 'number' || !Number.isInteger(seed)) throw new ConfigError('seed', `must be an integer, got ${JSON.stringify(seed)}`);
    this.state = seed >>> 0;
  }

  /** Next uniform value in [0, 1). */
  private random(): number {
    // mulberry32: tiny, fast, and passes the statistical tests that matter for test noise.
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** The next `frameSamples` samples per channel as a fresh interleaved f32le Buffer. */
  next(frameSamples: number): Buffer {
    checkPositiveInteger('frameSamples', frameSamples);
    const { buf, f32 } = freshFrame(frameSamples * this.channels);
    const a = this.amplitude;
    for (let i = 0; i < f32.length; i++) f32[i] = a * (2 * this.random() - 1);
    return buf;
  }
}

/** `frameSamples` frames of digital silence, interleaved f32le. */
export function silence(frameSamples: number, channels = 1): Buffer {
  checkPositiveInteger('frameSamples', frameSamples);
  checkPositiveInteger('channels', channels);
  return Buffer.alloc(frameSamples * channels * 4);
}

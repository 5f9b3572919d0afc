// Streaming windowed-sinc (Kaiser) polyphase sample-rate converter for rational ratios, and the seed's downsampleRatio/upsampleRatio rule.

/** An option or constructor argument is out of range; `field` names it. */
export class ConfigError extends Error {
  readonly code = 'invalid_config';
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** Input handed to the resampler is not a whole number of interleaved f32 frames. */
export class ResamplerError extends Error {
  constructor(readonly code: 'partial_frame', message: string) {
    super(message);
    this.name = 'ResamplerError';
  }
}

export type ResamplerQuality = 'high' | 'medium';

/**
 * Filter designs, each relative to the lower of the two Nyquist frequencies.
 * `taps` is the kernel length counted in samples of the lower rate; the
 * stopband starts exactly at that Nyquist so nothing above it can alias, and
 * the passband ends `transition` (as a fraction of Nyquist) below it. Kaiser's
 * estimate A = 2.285·Δω·N + 8 gives ≈ 90 dB for 'high' and ≈ 65 dB for 'medium'.
 */
const DESIGNS: Record<ResamplerQuality, { taps: number; transition: number; beta: number }> = {
  high: { taps: 96, transition: 0.12, beta: 9.0 },
  medium: { taps: 32, transition: 0.25, beta: 6.2 },
};

/**
 * Above this many coefficients (phases × taps) the bank stops being a cache-friendly
 * table; such ratios (e.g. 48000→44101) are refused rather than silently eating memory.
 */
const MAX_BANK_COEFFICIENTS = 1 << 22;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function checkPositiveInteger(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new ConfigError(field, `must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Modified Bessel function of the first kind, order 0 (power series; converges fast for the β used here). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

/**
 * The output rate of the seed's resample step: outRate = inRate × upsampleRatio / downsampleRatio.
 * Both ratios default to 1 and must be positive integers; the result must be a whole number of Hz.
 */
export function ratioRates(sampleRate: number, opts: { downsampleRatio?: number; upsampleRatio?: number } = {}): number {
  checkPositiveInteger('sampleRate', sampleRate);
  const down = checkPositiveInteger('downsampleRatio', opts.downsampleRatio ?? 1);
  const up = checkPositiveInteger('upsampleRatio', opts.upsampleRatio ?? 1);
  const out = (sampleRate * up) / down;
  if (!Number.isInteger(out)) {
    throw new ConfigError('downsampleRatio', `${sampleRate} Hz × ${up} / ${down} = ${out} Hz is not a whole sample rate`);
  }
  return out;
}

/**
 * Streaming rational resampler. Output sample n represents input time
 * n·inRate/outRate − latency, so the output is the band-limited input delayed
 * by `latencySamples` output samples; splitting the input into chunks of any
 * size gives bit-identical output to one call with all of it.
 */
export class Resampler {
  readonly inRate: number;
  readonly outRate: number;
  readonly channels: number;
  /** Delay added to the signal, in output samples (may be fractional); 0 when the rates are equal. */
  readonly latencySamples: number;

  /** Reduced ratio: L output samples for every M input samples. */
  private readonly L: number;
  private readonly M: number;
  /** Taps per phase (even) and its half. */
  private readonly taps: number;
  private readonly half: number;
  /** Phase-major coefficient bank: bank[p * taps + k] weights input base − taps + 1 + k for phase p. */
  private readonly bank: Float64Array;
  private readonly passthrough: boolean;

  /** Interleaved input: the last taps−1 frames carried over, then the current chunk. Grows, never shrinks. */
  private work: Float32Array;
  /** Absolute input index of work[0] (negative at start: the zero history). */
  private workStart = 0;
  /** Input frames received so far. */
  private inFrames = 0;
  /** For the next output: floor(n·M/L) and (n·M) mod L. */
  private nextBase = 0;
  private nextPhase = 0;

  constructor(inRate: number, outRate: number, channels: number, opts: { quality?: ResamplerQuality } = {}) {
    this.inRate = checkPositiveInteger('inRate', inRate);
    this.outRate = checkPositiveInteger('outRate', outRate);
    this.channels = checkPositiveInteger('channels', channels);
    const quality = opts.quality ?? 'high';
    const design = DESIGNS[quality];
    if (!design) throw new ConfigError('quality', `must be 'high' or 'medium', got ${JSON.stringify(opts.quality)}`);

    const g = gcd(inRate, outRate);
    this.L = outRate / g;
    this.M = inRate / g;
    this.passthrough = this.L === this.M;

    // Downsampling narrows the passband relative to the input rate, so the kernel
    // must span proportionally more input samples to keep the same transition band.
    const scale = Math.min(1, this.L / this.M);
    let taps = this.passthrough ? 2 : Math.ceil(design.taps / scale);
    if (taps % 2) taps++;
    this.taps = taps;
    this.half = taps / 2;
    if (this.L * taps > MAX_BANK_COEFFICIENTS) {
      throw new ConfigError('outRate', `${inRate} → ${outRate} Hz reduces to ${this.M}:${this.L}, which needs ${this.L * taps} filter coefficients (limit ${MAX_BANK_COEFFICIENTS})`);
    }
    this.latencySamples = this.passthrough ? 0 : (this.half * this.L) / this.M;
    this.bank = this.passthrough ? new Float64Array(0) : this.design(design.transition, design.beta, scale);
    this.work = new Float32Array((taps - 1) * channels);
    this.workStart = -(taps - 1);
  }

  private design(transition: number, beta: number, scale: number): Float64Array {
    const { L, taps, half } = this;
    // −6 dB point in the middle of the transition band, in cycles per input sample.
    const fc = 0.5 * scale * (1 - transition / 2);
    const i0beta = besselI0(beta);
    const bank = new Float64Array(L * taps);
    for (let p = 0; p < L; p++) {
      let sum = 0;
      for (let k = 0; k < taps; k++) {
        const tau = p / L + half - 1 - k; // distance in input samples from the output instant
        const x = 2 * fc * tau;
        const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
        const r = tau / half;
        const w = r * r >= 1 ? 0 : besselI0(beta * Math.sqrt(1 - r * r)) / i0beta;
        const h = 2 * fc * sinc * w;
        bank[p * taps + k] = h;
        sum += h;
      }
      // Unity DC gain in every phase: otherwise phases differ by tiny gains, a faint tone at the output rate.
      for (let k = 0; k < taps; k++) bank[p * taps + k] /= sum;
    }
    return bank;
  }

  /**
   * Resamples one chunk of interleaved f32; returns a fresh Buffer (possibly empty) of whatever output is complete.
   * With equal rates it returns `input` itself: Buffers are never mutated once handed on, so sharing is safe.
   */
  process(input: Buffer): Buffer {
    const ch = this.channels;
    const frameBytes = 4 * ch;
    if (input.length % frameBytes !== 0) {
      throw new ResamplerError('partial_frame', `input of ${input.length} bytes is not a whole number of ${ch}-channel f32 frames (${frameBytes} bytes each)`);
    }
    if (this.passthrough) return input;
    const n = input.length / frameBytes;
    const keep = (this.taps - 1) * ch;
    const need = keep + n * ch;
    if (this.work.length < need) {
      const grown = new Float32Array(need);
      grown.set(this.work.subarray(0, keep));
      this.work = grown;
    }
    const work = this.work;
    if (input.byteOffset % 4 === 0) {
      work.set(new Float32Array(input.buffer, input.byteOffset, n * ch), keep);
    } else {
      for (let i = 0; i < n * ch; i++) work[keep + i] = input.readFloatLE(i * 4);
    }
    this.inFrames += n;
    return this.run(keep + n * ch);
  }

  /** Pushes the filter's tail out (the last `latencySamples` of signal) and resets to a fresh stream. */
  flush(): Buffer {
    if (this.passthrough) return Buffer.alloc(0);
    const ch = this.channels;
    const keep = (this.taps - 1) * ch;
    const pad = this.half;
    const need = keep + pad * ch;
    if (this.work.length < need) {
      const grown = new Float32Array(need);
      grown.set(this.work.subarray(0, keep));
      this.work = grown;
    }
    this.work.fill(0, keep, need);
    this.inFrames += pad;
    const out = this.run(need);
    this.work.fill(0);
    this.workStart = -(this.taps - 1);
    this.inFrames = 0;
    this.nextBase = 0;
    this.nextPhase = 0;
    return out;
  }

  /** Emits every output whose newest input is in work[0 .. filled); then keeps the last taps−1 frames. */
  private run(filled: number): Buffer {
    const { L, M, taps, channels: ch, bank, work } = this;
    const last = this.inFrames - 1;
    // Outputs n with floor(n·M/L) ≤ last are complete.
    // Outputs n with floor(n·M/L) ≤ last are complete, i.e. those with n·M < (last+1)·L;
    // counted relative to the next output so the numbers stay small on long streams.
    const count = this.nextBase <= last ? Math.ceil(((last + 1 - this.nextBase) * L - this.nextPhase) / M) : 0;
    const out = new Float32Array(count * ch);
    let base = this.nextBase;
    let phase = this.nextPhase;
    const workStart = this.workStart;
    for (let o = 0; o < count; o++) {
      const c0 = phase * taps;
      const first = (base - taps + 1 - workStart) * ch;
      for (let c = 0; c < ch; c++) {
        let acc = 0;
        let idx = first + c;
        for (let k = 0; k < taps; k++, idx += ch) acc += bank[c0 + k] * work[idx];
        out[o * ch + c] = acc;
      }
      phase += M;
      if (phase >= L) {
        base += Math.floor(phase / L);
        phase %= L;
      }
    }
    this.nextBase = base;
    this.nextPhase = phase;
    // Carry the newest taps−1 frames to the front for the next chunk.
    const keep = (taps - 1) * ch;
    work.copyWithin(0, filled - keep, filled);
    this.workStart = this.inFrames - (taps - 1);
    return Buffer.from(out.buffer, 0, out.byteLength);
  }
}

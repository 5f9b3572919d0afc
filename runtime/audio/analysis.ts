// Measurements on audio for tests and the bench: tone frequency, level, SNR after alignment, offset search, click/gap detection.

import { ConfigError } from './resampler';

/** One channel of interleaved samples as float64 (at most `limit` frames). */
function channelOf(samples: ArrayLike<number>, channels: number, channel: number, limit = Infinity): Float64Array {
  if (!Number.isInteger(channels) || channels < 1) throw new ConfigError('channels', `must be a positive integer, got ${channels}`);
  if (!Number.isInteger(channel) || channel < 0 || channel >= channels) throw new ConfigError('channel', `must be in 0..${channels - 1}, got ${channel}`);
  const n = Math.min(Math.floor(samples.length / channels), limit);
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = samples[i * channels + channel];
  return x;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** In-place iterative radix-2 FFT (inverse without the 1/n scale when `inverse`). Length must be a power of two. */
function fft(re: Float64Array, im: Float64Array, inverse = false): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      let t = re[i]; re[i] = re[j]; re[j] = t;
      t = im[i]; im[i] = im[j]; im[j] = t;
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = ((inverse ? 2 : -2) * Math.PI) / len;
    const half = len >> 1;
    // Twiddles computed directly per k (not by recurrence) so large transforms stay accurate.
    for (let k = 0; k < half; k++) {
      const wr = Math.cos(ang * k);
      const wi = Math.sin(ang * k);
      for (let i = k; i < n; i += len) {
        const j = i + half;
        const xr = re[j] * wr - im[j] * wi;
        const xi = re[j] * wi + im[j] * wr;
        re[j] = re[i] - xr; im[j] = im[i] - xi;
        re[i] += xr; im[i] += xi;
      }
    }
  }
}

/** c[lag] = Σ a[i + lag]·b[i] for lag in [lo, hi] (entries outside a/b count as 0). */
function crossCorrelate(a: Float64Array, b: Float64Array, lo: number, hi: number): Float64Array {
  const n = nextPow2(a.length + b.length);
  const ar = new Float64Array(n), ai = new Float64Array(n);
  const br = new Float64Array(n), bi = new Float64Array(n);
  ar.set(a);
  br.set(b);
  fft(ar, ai);
  fft(br, bi);
  for (let k = 0; k < n; k++) {
    // A·conj(B)
    const r = ar[k] * br[k] + ai[k] * bi[k];
    const i = ai[k] * br[k] - ar[k] * bi[k];
    ar[k] = r; ai[k] = i;
  }
  fft(ar, ai, true);
  const out = new Float64Array(hi - lo + 1);
  for (let lag = lo; lag <= hi; lag++) out[lag - lo] = ar[(lag + n) % n] / n;
  return out;
}

/** Frames analysed by estimateFrequency: ~5 s at 96 kHz; longer input adds nothing for a steady tone. */
const FREQUENCY_MAX_FRAMES = 1 << 19;

/**
 * Frequency of the dominant tone in one channel, in Hz: the peak of a Hann-windowed
 * FFT, then refined by maximising the windowed DTFT magnitude (golden-section search
 * inside the main lobe). Clean tones of ≥ 0.5 s come out within a few mHz.
 * Returns NaN when there is nothing to measure (fewer than 4 frames, or silence).
 */
export function estimateFrequency(samples: ArrayLike<number>, sampleRate: number, channels = 1, channel = 0): number {
  const x = channelOf(samples, channels, channel, FREQUENCY_MAX_FRAMES);
  const n = x.length;
  if (n < 4) return NaN;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i];
  mean /= n;
  let energy = 0;
  for (let i = 0; i < n; i++) {
    const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1));
    x[i] = (x[i] - mean) * w;
    energy += x[i] * x[i];
  }
  if (energy === 0) return NaN;

  const nfft = nextPow2(n) * 2;
  const re = new Float64Array(nfft), im = new Float64Array(nfft);
  re.set(x);
  fft(re, im);
  let peak = 1;
  let best = -1;
  for (let k = 1; k < nfft / 2; k++) {
    const m = re[k] * re[k] + im[k] * im[k];
    if (m > best) { best = m; peak = k; }
  }
  const mag = (k: number): number => Math.log(Math.hypot(re[k], im[k]) + 1e-300);
  let delta = 0;
  if (peak > 1 && peak < nfft / 2 - 1) {
    const a = mag(peak - 1), b = mag(peak), c = mag(peak + 1);
    const d = a - 2 * b + c;
    if (d < 0) delta = (0.5 * (a - c)) / d;
  }
  const coarse = ((peak + delta) * sampleRate) / nfft;

  const power = (f: number): number => {
    const w = (2 * Math.PI * f) / sampleRate;
    const cw = Math.cos(w), sw = Math.sin(w);
    let cr = 1, ci = 0, sr = 0, si = 0;
    for (let i = 0; i < n; i++) {
      sr += x[i] * cr;
      si -= x[i] * ci;
      const t = cr * cw - ci * sw;
      ci = cr * sw + ci * cw;
      cr = t;
    }
    return sr * sr + si * si;
  };
  // Hann main lobe is ±2 bins of n; search ±1 bin around the coarse estimate.
  let lo = Math.max(0, coarse - sampleRate / n);
  let hi = Math.min(sampleRate / 2, coarse + sampleRate / n);
  const g = (Math.sqrt(5) - 1) / 2;
  let x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
  let p1 = power(x1), p2 = power(x2);
  for (let it = 0; it < 60 && hi - lo > 1e-7; it++) {
    if (p1 > p2) {
      hi = x2; x2 = x1; p2 = p1;
      x1 = hi - g * (hi - lo); p1 = power(x1);
    } else {
      lo = x1; x1 = x2; p1 = p2;
      x2 = lo + g * (hi - lo); p2 = power(x2);
    }
  }
  return (lo + hi) / 2;
}

/** Root-mean-square level: of every sample, or of one channel of interleaved audio when `channel` is given. 0 when empty. */
export function rms(samples: ArrayLike<number>, channels = 1, channel?: number): number {
  if (channel === undefined) {
    if (samples.length === 0) return 0;
    let s = 0;
    for (let i = 0; i < samples.length; i++) s += samples[i] * samples[i];
    return Math.sqrt(s / samples.length);
  }
  const x = channelOf(samples, channels, channel);
  if (x.length === 0) return 0;
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s / x.length);
}

/**
 * Amplitude of the sinusoid at `frequency` Hz in one channel of interleaved audio: a Goertzel (single-bin DFT) sum over
 * a Hann window, so a sine of amplitude A at that frequency reads A whatever else plays beside it (0 when empty).
 */
export function toneAmplitude(samples: ArrayLike<number>, channels: number, channel: number, frequency: number, sampleRate: number): number {
  const n = Math.floor(samples.length / channels);
  if (n < 2) return 0;
  const w = (2 * Math.PI * frequency) / sampleRate;
  let re = 0, im = 0, wsum = 0;
  for (let i = 0; i < n; i++) {
    const win = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1));
    const x = samples[i * channels + channel] * win;
    re += x * Math.cos(w * i);
    im -= x * Math.sin(w * i);
    wsum += win;
  }
  return (2 * Math.hypot(re, im)) / wsum;
}

/** Level (dBFS RMS) of the component at `frequency` Hz (toneAmplitude / √2, in dB; −∞ when empty). */
export function toneLevelDb(samples: ArrayLike<number>, channels: number, channel: number, frequency: number, sampleRate: number): number {
  return dbfs(toneAmplitude(samples, channels, channel, frequency, sampleRate) / Math.SQRT2);
}

/** Level of a linear amplitude in dB relative to full scale (1.0): 20·log10(x). A full-scale sine's RMS is −3.01 dBFS. */
export function dbfs(x: number): number {
  return 20 * Math.log10(x);
}

export interface Alignment {
  /** test[i + lag] lines up with reference[i]. */
  lag: number;
  /** Least-squares gain that maps test onto reference over the overlap. */
  gain: number;
  /** 10·log10(reference energy / residual energy) over the overlap; Infinity when identical. */
  snrDb: number;
}

/**
 * Aligns `test` to `reference` (integer lag within ±maxLag, by cross-correlation
 * magnitude), fits the best gain, and measures the SNR of what is left.
 * maxLag defaults to a quarter of the shorter signal.
 */
export function alignSignals(reference: ArrayLike<number>, test: ArrayLike<number>, maxLag?: number): Alignment {
  const r = Float64Array.from(reference as ArrayLike<number>);
  const t = Float64Array.from(test as ArrayLike<number>);
  const shortest = Math.min(r.length, t.length);
  if (shortest === 0) return { lag: 0, gain: 0, snrDb: NaN };
  const m = Math.min(maxLag ?? Math.floor(shortest / 4), shortest - 1);
  const c = crossCorrelate(t, r, -m, m);
  let lag = 0;
  let best = -1;
  for (let i = 0; i < c.length; i++) {
    const v = Math.abs(c[i]);
    // Ties (e.g. periodic signals) go to the smallest |lag|: the biggest overlap.
    if (v > best * (1 + 1e-9) || (v >= best * (1 - 1e-9) && Math.abs(i - m) < Math.abs(lag))) {
      if (v > best) best = v;
      lag = i - m;
    }
  }
  const from = Math.max(0, -lag);
  const to = Math.min(r.length, t.length - lag);
  let rt = 0, tt = 0, rr = 0;
  for (let i = from; i < to; i++) {
    const a = r[i], b = t[i + lag];
    rt += a * b; tt += b * b; rr += a * a;
  }
  const gain = tt > 0 ? rt / tt : 0;
  let noise = 0;
  for (let i = from; i < to; i++) {
    const e = r[i] - gain * t[i + lag];
    noise += e * e;
  }
  return { lag, gain, snrDb: 10 * Math.log10(rr / noise) };
}

/** Signal-to-noise ratio of `test` against `reference` in dB, after best integer alignment and gain (see alignSignals). */
export function snrDb(reference: ArrayLike<number>, test: ArrayLike<number>, maxLag?: number): number {
  return alignSignals(reference, test, maxLag).snrDb;
}

/** Cap on sample comparisons spent looking for a bit-exact match before falling back to correlation. */
const EXACT_SEARCH_BUDGET = 20_000_000;

/**
 * Index in `haystack` where `needle` starts: the first bit-exact match if there is
 * one, otherwise the start with the highest normalised cross-correlation.
 * Only starts 0..maxLag are considered (default: all). −1 when the needle does
 * not fit or no window correlates at all.
 */
export function findOffset(haystack: ArrayLike<number>, needle: ArrayLike<number>, maxLag?: number): number {
  const hn = haystack.length, nn = needle.length;
  if (nn > hn) return -1;
  if (nn === 0) return 0;
  const last = Math.min(hn - nn, maxLag ?? Infinity);
  if (last < 0) return -1;

  let budget = EXACT_SEARCH_BUDGET;
  exact: for (let i = 0; i <= last && budget > 0; i++) {
    for (let k = 0; k < nn; k++) {
      budget--;
      if (haystack[i + k] !== needle[k]) continue exact;
    }
    return i;
  }

  const h = new Float64Array(last + nn);
  for (let i = 0; i < h.length; i++) h[i] = haystack[i];
  const nd = Float64Array.from(needle as ArrayLike<number>);
  let ne = 0;
  for (let k = 0; k < nn; k++) ne += nd[k] * nd[k];
  if (ne === 0) return -1;
  const c = crossCorrelate(h, nd, 0, last);
  // Window energies by prefix sums of squares.
  const pre = new Float64Array(h.length + 1);
  for (let i = 0; i < h.length; i++) pre[i + 1] = pre[i] + h[i] * h[i];
  let best = -Infinity;
  let at = -1;
  for (let i = 0; i <= last; i++) {
    const we = pre[i + nn] - pre[i];
    if (!(we > 1e-30)) continue;
    const ncc = c[i] / Math.sqrt(we * ne);
    if (ncc > best) { best = ncc; at = i; }
  }
  return best > 0 ? at : -1;
}

export interface DiscontinuityOptions {
  channels?: number;
  channel?: number;
  /** A residual above this fraction of the tone's amplitude is a discontinuity. Default 0.1 (−20 dB). */
  threshold?: number;
  /** Tone amplitude; default √2 × the RMS of the non-silent samples. */
  amplitude?: number;
  /** Events closer than this merge into one (a click spans a few samples, a gap has two edges). Default 2.5 ms. */
  minSeparationMs?: number;
}

/**
 * Frame indices where a steady tone of `frequency` breaks: clicks, phase jumps,
 * gain steps and runs of silence inside the tone. A sampled sine satisfies
 * x[n+1] + x[n−1] = 2·cos(ω)·x[n] exactly whatever its phase and amplitude, so
 * the residual of that identity is ~0 on a clean tone and large at a break;
 * runs of zeros (which satisfy it too) are found separately. Silence at the
 * very start or end (before the tone begins, after it stops) is not counted.
 */
export function findDiscontinuities(samples: ArrayLike<number>, sampleRate: number, frequency: number, opts: DiscontinuityOptions = {}): number[] {
  const x = channelOf(samples, opts.channels ?? 1, opts.channel ?? 0);
  const n = x.length;
  if (n < 3) return [];
  const zeroLevel = 1 / 65536; // below half an s16 step: digital silence, even after an s16 round trip
  let amplitude = opts.amplitude;
  if (amplitude === undefined) {
    let s = 0, c = 0;
    for (let i = 0; i < n; i++) if (Math.abs(x[i]) > zeroLevel) { s += x[i] * x[i]; c++; }
    amplitude = c ? Math.sqrt((2 * s) / c) : 0;
  }
  if (!(amplitude > 0)) return [];
  const w = (2 * Math.PI * frequency) / sampleRate;
  const limit = (opts.threshold ?? 0.1) * amplitude;
  const gap = Math.max(4, Math.round(((opts.minSeparationMs ?? 2.5) * sampleRate) / 1000));
  // A tone spends about 2·zeroLevel/(A·ω) samples within ±zeroLevel at a crossing; longer runs are real silence.
  const minZeroRun = Math.ceil((2 * zeroLevel) / (amplitude * Math.max(w, 1e-9))) + 3;

  // Silence at the edges.
  let head = 0;
  while (head < n && Math.abs(x[head]) <= zeroLevel) head++;
  let tail = n;
  while (tail > head && Math.abs(x[tail - 1]) <= zeroLevel) tail--;
  if (head >= tail) return [];

  // Interior runs of silence: [start, end).
  const runs: Array<[number, number]> = [];
  for (let i = head; i < tail; ) {
    if (Math.abs(x[i]) > zeroLevel) { i++; continue; }
    let j = i;
    while (j < tail && Math.abs(x[j]) <= zeroLevel) j++;
    if (j - i >= minZeroRun) runs.push([i, j]);
    i = j;
  }

  // Residuals near a run belong to that run (its two edges); residuals that touch
  // the edge silence are the tone starting or stopping, not breaks.
  const items: Array<{ at: number; end: number }> = runs.map(([s, e]) => ({ at: s, end: e }));
  const k2 = 2 * Math.cos(w);
  let run = 0;
  for (let i = Math.max(1, head + 1); i < Math.min(n - 1, tail - 1); i++) {
    const r = x[i + 1] + x[i - 1] - k2 * x[i];
    if (!(Math.abs(r) > limit)) continue;
    while (run < runs.length && runs[run][1] + gap < i) run++;
    if (run < runs.length && i >= runs[run][0] - gap) continue;
    items.push({ at: i, end: i });
  }
  items.sort((p, q) => p.at - q.at);
  const events: number[] = [];
  let lastEnd = -Infinity;
  for (const it of items) {
    if (it.at - lastEnd > gap) events.push(it.at);
    lastEnd = Math.max(lastEnd, it.end);
  }
  return events;
}

/** Number of breaks (clicks, phase jumps, gaps) in a steady tone; see findDiscontinuities. */
export function countDiscontinuities(samples: ArrayLike<number>, sampleRate: number, frequency: number, opts: DiscontinuityOptions = {}): number {
  return findDiscontinuities(samples, sampleRate, frequency, opts).length;
}

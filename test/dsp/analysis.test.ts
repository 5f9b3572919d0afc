// Tests for runtime/audio/analysis.ts: frequency estimation, levels, SNR after alignment, offset search, discontinuity detection.
import assert from 'node:assert/strict';
import {
  estimateFrequency, rms, dbfs, toneLevelDb, snrDb, alignSignals, findOffset, countDiscontinuities, findDiscontinuities,
} from '../../runtime/audio/analysis';
import { NoiseGenerator } from '../../runtime/audio/signals';
import { ConfigError } from '../../runtime/audio/resampler';
import { f32View } from '../../runtime/audio/pcm';

function sine(frequency: number, sampleRate: number, frames: number, amplitude = 0.5, phase = 0.3): Float32Array {
  const x = new Float32Array(frames);
  for (let i = 0; i < frames; i++) x[i] = amplitude * Math.sin((2 * Math.PI * frequency * i) / sampleRate + phase);
  return x;
}

function noise(frames: number, amplitude: number, seed: number): Float32Array {
  return f32View(new NoiseGenerator({ amplitude, seed }).next(frames));
}

function add(a: Float32Array, b: Float32Array): Float32Array {
  return a.map((v, i) => v + b[i]);
}

describe('dsp/analysis: estimateFrequency', function () {
  for (const [f, rate] of [[50, 48000], [440, 48000], [997.3, 48000], [1234.5, 44100], [15000, 48000], [3999.9, 16000]] as const) {
    it(`measures a clean ${f} Hz tone of 0.5 s at ${rate} Hz within 0.1 Hz`, function () {
      const est = estimateFrequency(sine(f, rate, rate / 2), rate);
      assert.ok(Math.abs(est - f) < 0.1, `${est} Hz`);
    });
  }

  it('stays within 0.1 Hz with noise 40 dB below the tone', function () {
    const x = add(sine(440, 48000, 24000), noise(24000, 0.005 * Math.sqrt(3), 3));
    const est = estimateFrequency(x, 48000);
    assert.ok(Math.abs(est - 440) < 0.1, `${est} Hz`);
  });

  it('measures the requested channel of interleaved audio', function () {
    const l = sine(440, 48000, 24000), r = sine(1000, 48000, 24000);
    const x = new Float32Array(48000);
    for (let i = 0; i < 24000; i++) { x[2 * i] = l[i]; x[2 * i + 1] = r[i]; }
    assert.ok(Math.abs(estimateFrequency(x, 48000, 2, 0) - 440) < 0.1);
    assert.ok(Math.abs(estimateFrequency(x, 48000, 2, 1) - 1000) < 0.1);
    assert.throws(() => estimateFrequency(x, 48000, 2, 2), (e: unknown) => e instanceof ConfigError && e.field === 'channel');
  });

  it('returns NaN for silence and for too little audio', function () {
    assert.ok(Number.isNaN(estimateFrequency(new Float32Array(1000), 48000)));
    assert.ok(Number.isNaN(estimateFrequency(new Float32Array([0.1, 0.2]), 48000)));
  });
});

describe('dsp/analysis: rms and dbfs', function () {
  it('gives amplitude/√2 for a sine, per channel or over all samples, and 0 when empty', function () {
    const x = sine(1000, 48000, 48000, 0.5);
    assert.ok(Math.abs(rms(x) - 0.5 / Math.SQRT2) < 1e-4);
    const st = new Float32Array(96000);
    for (let i = 0; i < 48000; i++) { st[2 * i] = x[i]; st[2 * i + 1] = 0.25; }
    assert.ok(Math.abs(rms(st, 2, 0) - 0.5 / Math.SQRT2) < 1e-4);
    assert.equal(rms(st, 2, 1), 0.25);
    assert.ok(Math.abs(rms(st) - Math.sqrt((0.125 + 0.0625) / 2)) < 1e-4);
    assert.equal(rms(new Float32Array(0)), 0);
  });

  it('converts amplitudes to dBFS', function () {
    assert.equal(dbfs(1), 0);
    assert.ok(Math.abs(dbfs(0.5) - -6.0206) < 1e-4);
    assert.equal(dbfs(0), -Infinity);
  });
});

describe('dsp/analysis: snrDb and alignSignals', function () {
  const ref = noise(24000, 0.5, 1);

  it('finds the lag and gain of a delayed, scaled copy and measures the added noise', function () {
    const lag = 37;
    const n = noise(24000, 0.005, 2);
    const test = new Float32Array(24000);
    for (let i = 0; i < 24000; i++) test[i] = (i >= lag ? 0.5 * ref[i - lag] : 0) + n[i];
    const a = alignSignals(ref, test, 100);
    assert.equal(a.lag, lag);
    assert.ok(Math.abs(a.gain - 2) < 0.01, `gain ${a.gain}`);
    // Noise power relative to the reference after scaling by 2: (2·0.005)² vs 0.5² → 34 dB.
    const expected = 20 * Math.log10(0.5 / (2 * 0.005));
    assert.ok(Math.abs(a.snrDb - expected) < 0.5, `${a.snrDb} dB, expected ${expected}`);
    assert.ok(Math.abs(snrDb(ref, test, 100) - a.snrDb) < 1e-9);
  });

  it('finds a lead (negative lag) too', function () {
    const test = ref.subarray(50);
    const a = alignSignals(ref, test, 100);
    assert.equal(a.lag, -50);
    assert.equal(a.snrDb, Infinity);
  });

  it('is infinite for identical signals and low for unrelated ones', function () {
    assert.equal(snrDb(ref, ref), Infinity);
    assert.ok(snrDb(ref, noise(24000, 0.5, 99), 200) < 1);
  });
});

describe('dsp/analysis: findOffset', function () {
  const hay = noise(48000, 0.5, 5);

  it('finds where an exact copy of the needle starts', function () {
    assert.equal(findOffset(hay, hay.subarray(12345, 13345)), 12345);
  });

  it('finds the best-correlated start when the needle is a noisy, quieter copy', function () {
    const needle = add(hay.subarray(30000, 31000).map((v) => v * 0.3), noise(1000, 0.05, 6));
    assert.equal(findOffset(hay, needle), 30000);
  });

  it('looks only at starts up to maxLag', function () {
    const needle = hay.subarray(5000, 5500);
    assert.equal(findOffset(hay, needle, 6000), 5000);
    assert.notEqual(findOffset(hay, needle, 1000), 5000);
  });

  it('returns −1 when the needle does not fit or is silent', function () {
    assert.equal(findOffset(hay.subarray(0, 10), hay.subarray(0, 20)), -1);
    assert.equal(findOffset(hay, new Float32Array(100)), -1);
  });
});

describe('dsp/analysis: countDiscontinuities', function () {
  const rate = 48000;
  const f = 440;

  it('finds none in a clean tone, a 16-bit-quantised tone or a tone with noise 60 dB down', function () {
    const x = sine(f, rate, rate);
    assert.equal(countDiscontinuities(x, rate, f), 0);
    assert.equal(countDiscontinuities(x.map((v) => Math.round(v * 32768) / 32768), rate, f), 0);
    assert.equal(countDiscontinuities(add(x, noise(rate, 0.0005, 4)), rate, f), 0);
    // A quiet, low tone spends several samples at exact zero near crossings: not a gap.
    assert.equal(countDiscontinuities(sine(30, rate, rate, 0.001).map((v) => Math.round(v * 32768) / 32768), rate, 30), 0);
  });

  it('counts a phase jump once, at its position', function () {
    const x = sine(f, rate, rate);
    const jumped = sine(f, rate, rate, 0.5, 0.3 + Math.PI / 2);
    x.set(jumped.subarray(20000), 20000);
    const at = findDiscontinuities(x, rate, f);
    assert.equal(at.length, 1);
    assert.ok(Math.abs(at[0] - 20000) <= 2, `at ${at[0]}`);
  });

  it('counts three separate clicks as three', function () {
    const x = sine(f, rate, rate);
    for (const i of [5000, 20000, 40000]) x[i] += 0.3;
    assert.deepEqual(findDiscontinuities(x, rate, f).map((i) => Math.round(i / 10) * 10), [5000, 20000, 40000]);
  });

  it('counts a 10 ms gap of zeros inside the tone once', function () {
    const x = sine(f, rate, rate);
    x.fill(0, 24000, 24480);
    const at = findDiscontinuities(x, rate, f);
    assert.equal(at.length, 1);
    assert.ok(Math.abs(at[0] - 24000) <= 2, `at ${at[0]}`);
  });

  it('ignores silence before the tone starts and after it stops', function () {
    const x = new Float32Array(rate);
    x.set(sine(f, rate, 30000), 10000);
    assert.equal(countDiscontinuities(x, rate, f), 0);
  });

  it('reads the requested channel of interleaved audio', function () {
    const clean = sine(f, rate, 24000);
    const clicked = sine(f, rate, 24000);
    clicked[12000] += 0.5;
    const x = new Float32Array(48000);
    for (let i = 0; i < 24000; i++) { x[2 * i] = clean[i]; x[2 * i + 1] = clicked[i]; }
    assert.equal(countDiscontinuities(x, rate, f, { channels: 2, channel: 0 }), 0);
    assert.equal(countDiscontinuities(x, rate, f, { channels: 2, channel: 1 }), 1);
  });

  it('toneLevelDb: the level of one tone in one channel, beside another tone and noise', () => {
    const rate = 48000;
    const a = sine(440, rate, 48000, 0.25);
    const b = sine(660, rate, 48000, 0.5);
    const n = noise(48000, 0.01, 7);
    const x = new Float32Array(2 * 48000);
    for (let i = 0; i < 48000; i++) { x[2 * i] = a[i] + b[i] + n[i]; x[2 * i + 1] = b[i]; }
    // amplitude 0.25: RMS −15.05 dBFS; 0.5: −9.03
    assert.ok(Math.abs(toneLevelDb(x, 2, 0, 440, rate) - dbfs(0.25 / Math.SQRT2)) < 0.1);
    assert.ok(Math.abs(toneLevelDb(x, 2, 0, 660, rate) - dbfs(0.5 / Math.SQRT2)) < 0.1);
    assert.ok(toneLevelDb(x, 2, 1, 440, rate) < -60, 'no 440 Hz in the right channel');
    assert.equal(toneLevelDb(new Float32Array(1), 1, 0, 440, rate), -Infinity);
  });
});

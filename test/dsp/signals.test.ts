// Tests for runtime/audio/signals.ts: tone phase continuity, level and frequency; seeded noise; silence.
import assert from 'node:assert/strict';
import { ToneGenerator, NoiseGenerator, silence, fromDbfs } from '../../runtime/audio/signals';
import { ConfigError } from '../../runtime/audio/resampler';
import { estimateFrequency, rms, dbfs, countDiscontinuities } from '../../runtime/audio/analysis';
import { f32View } from '../../runtime/audio/pcm';

describe('dsp/signals: ToneGenerator', function () {
  it('gives the same samples whether asked for in one frame or many (phase carries across frames)', function () {
    const one = new ToneGenerator({ frequency: 441.3, sampleRate: 48000, channels: 2 }).next(5000);
    const g = new ToneGenerator({ frequency: 441.3, sampleRate: 48000, channels: 2 });
    const many = Buffer.concat([480, 1, 960, 999, 1560, 1000].map((n) => g.next(n)));
    assert.ok(many.equals(one));
  });

  it('has no click at frame boundaries over 2 s of 10 ms frames', function () {
    const g = new ToneGenerator({ frequency: 1234.5, sampleRate: 48000 });
    const x = f32View(Buffer.concat(Array.from({ length: 200 }, () => g.next(480))));
    assert.equal(countDiscontinuities(x, 48000, 1234.5), 0);
  });

  it('produces the configured frequency and amplitude, identical in every channel', function () {
    const x = f32View(new ToneGenerator({ frequency: 997, amplitude: fromDbfs(-6), sampleRate: 44100, channels: 3 }).next(44100));
    for (let c = 0; c < 3; c++) {
      assert.ok(Math.abs(estimateFrequency(x, 44100, 3, c) - 997) < 0.01);
      assert.ok(Math.abs(dbfs(rms(x, 3, c)) - (-6 - 3.0103)) < 0.01);
    }
    for (let i = 0; i < x.length; i += 3) if (x[i] !== x[i + 1] || x[i] !== x[i + 2]) assert.fail(`frame ${i / 3} differs between channels`);
  });

  it('starts at the given phase (0.25 cycles → the first sample is the peak)', function () {
    const x = f32View(new ToneGenerator({ frequency: 100, amplitude: 0.8, phase: 0.25 }).next(4));
    assert.equal(x[0], Math.fround(0.8));
  });

  it('returns a fresh Buffer per call, so a frame handed on is never overwritten', function () {
    const g = new ToneGenerator();
    const a = g.next(480);
    const copy = Buffer.from(a);
    const b = g.next(480);
    assert.notEqual(a.buffer, b.buffer);
    assert.ok(a.equals(copy));
    assert.equal(a.byteOffset % 4, 0);
    assert.equal(a.length, 480 * 4);
  });

  it('refuses out-of-range settings with ConfigError naming the field', function () {
    const cases: Array<[() => unknown, string]> = [
      [() => new ToneGenerator({ frequency: 30000, sampleRate: 48000 }), 'frequency'],
      [() => new ToneGenerator({ frequency: NaN }), 'frequency'],
      [() => new ToneGenerator({ amplitude: 1.5 }), 'amplitude'],
      [() => new ToneGenerator({ sampleRate: 0 }), 'sampleRate'],
      [() => new ToneGenerator({ channels: 0 }), 'channels'],
      [() => new ToneGenerator().next(0), 'frameSamples'],
    ];
    for (const [fn, field] of cases) assert.throws(fn, (e: unknown) => e instanceof ConfigError && e.field === field, field);
  });

  it('converts dBFS to linear amplitude', function () {
    assert.equal(fromDbfs(0), 1);
    assert.ok(Math.abs(fromDbfs(-20) - 0.1) < 1e-12);
  });
});

describe('dsp/signals: NoiseGenerator and silence', function () {
  it('repeats exactly for the same seed and differs for another', function () {
    const a = new NoiseGenerator({ seed: 123 }).next(1000);
    const b = new NoiseGenerator({ seed: 123 }).next(1000);
    const c = new NoiseGenerator({ seed: 124 }).next(1000);
    assert.ok(a.equals(b));
    assert.ok(!a.equals(c));
  });

  it('is uniform white noise within ±amplitude: zero mean, RMS amplitude/√3, uncorrelated channels and samples', function () {
    const x = f32View(new NoiseGenerator({ amplitude: 0.3, channels: 2, seed: 9 }).next(100000));
    let mean = 0, lr = 0, lag1 = 0, max = 0;
    for (let i = 0; i < x.length; i++) { mean += x[i]; max = Math.max(max, Math.abs(x[i])); }
    for (let f = 0; f < 100000; f++) lr += x[2 * f] * x[2 * f + 1];
    for (let f = 1; f < 100000; f++) lag1 += x[2 * f] * x[2 * f - 2];
    const power = 0.09 / 3;
    assert.ok(max <= 0.3);
    assert.ok(Math.abs(mean / x.length) < 0.005);
    assert.ok(Math.abs(rms(x, 2, 0) / (0.3 / Math.sqrt(3)) - 1) < 0.02);
    assert.ok(Math.abs(lr / 100000 / power) < 0.02, 'channels correlate');
    assert.ok(Math.abs(lag1 / 100000 / power) < 0.02, 'successive samples correlate');
  });

  it('makes silence of the right size, all zeros', function () {
    const s = silence(480, 2);
    assert.equal(s.length, 480 * 2 * 4);
    assert.ok(s.every((b) => b === 0));
    assert.throws(() => silence(0), (e: unknown) => e instanceof ConfigError && e.field === 'frameSamples');
  });
});

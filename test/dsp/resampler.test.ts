// Tests for runtime/audio/resampler.ts: level and frequency through rate changes, alias rejection, exact latency, chunking invariance, ratioRates.
import assert from 'node:assert/strict';
import { Resampler, ResamplerError, ConfigError, ratioRates } from '../../runtime/audio/resampler';
import { ToneGenerator, NoiseGenerator } from '../../runtime/audio/signals';
import { estimateFrequency, rms, dbfs } from '../../runtime/audio/analysis';
import { f32View } from '../../runtime/audio/pcm';

/** One-shot: all of `input` then flush, as one Float32Array. */
function resampleAll(r: Resampler, input: Buffer): Float32Array {
  return f32View(Buffer.concat([r.process(input), r.flush()]));
}

function tone(frequency: number, sampleRate: number, seconds: number, channels = 1, amplitude = 0.5): Buffer {
  return new ToneGenerator({ frequency, sampleRate, channels, amplitude }).next(Math.round(sampleRate * seconds));
}

/** The middle of a signal, away from the filter's start-up and tail. */
function middle(x: Float32Array, channels = 1): Float32Array {
  const frames = x.length / channels;
  return x.subarray(Math.floor(frames * 0.2) * channels, Math.floor(frames * 0.8) * channels);
}

/** A small deterministic PRNG for chunk sizes. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}

describe('dsp/resampler', function () {
  it('keeps a 1 kHz tone at 1 kHz and its level within ±0.5 dB through 48k → 16k → 48k', function () {
    const input = tone(1000, 48000, 1);
    const down = resampleAll(new Resampler(48000, 16000, 1), input);
    const up = resampleAll(new Resampler(16000, 48000, 1), Buffer.from(down.buffer, down.byteOffset, down.byteLength));
    const inLevel = dbfs(rms(f32View(input)));
    for (const [x, rate, name] of [[down, 16000, '16k'], [up, 48000, '48k']] as const) {
      const m = middle(x);
      const f = estimateFrequency(m, rate);
      assert.ok(Math.abs(f - 1000) < 0.1, `${name}: ${f} Hz`);
      const level = dbfs(rms(m));
      assert.ok(Math.abs(level - inLevel) <= 0.5, `${name}: ${level} dBFS vs ${inLevel} dBFS in`);
    }
  });

  for (const quality of ['high', 'medium'] as const) {
    it(`attenuates tones above the new Nyquist by ≥ 60 dB when downsampling 48k → 16k (${quality})`, function () {
      for (const f of [9000, 10000, 12000, 15000, 20000, 23000]) {
        const input = tone(f, 48000, 0.5);
        const out = middle(resampleAll(new Resampler(48000, 16000, 1, { quality }), input));
        const atten = dbfs(rms(f32View(input))) - dbfs(rms(out));
        assert.ok(atten >= 60, `${f} Hz: only ${atten.toFixed(1)} dB down`);
      }
    });
  }

  it('leaves no images above the old Nyquist when upsampling 16k → 48k (the output is the ideal 48k tone, ≥ 60 dB SNR)', function () {
    const r = new Resampler(16000, 48000, 1);
    const out = resampleAll(r, tone(1000, 16000, 0.5));
    // Output sample n holds input time (n − latency)/48000; compare with the ideal tone there.
    const lat = r.latencySamples;
    let sig = 0;
    let err = 0;
    for (let n = 4000; n < out.length - 4000; n++) {
      const ideal = 0.5 * Math.sin((2 * Math.PI * 1000 * (n - lat)) / 48000);
      sig += ideal * ideal;
      err += (out[n] - ideal) ** 2;
    }
    const snr = 10 * Math.log10(sig / err);
    assert.ok(snr >= 60, `SNR against the ideal tone ${snr.toFixed(1)} dB`);
  });

  for (const [inRate, outRate] of [[44100, 48000], [48000, 44100]] as const) {
    it(`converts ${inRate} → ${outRate} with the signal delayed by exactly latencySamples`, function () {
      const r = new Resampler(inRate, outRate, 2);
      const input = tone(997, inRate, 0.5, 2);
      const out = resampleAll(r, input);
      const inFrames = input.length / 8;
      assert.equal(out.length / 2, Math.ceil((inFrames * outRate) / inRate + r.latencySamples));
      let maxErr = 0;
      for (let n = 2000; n < out.length / 2 - 2000; n++) {
        const ideal = 0.5 * Math.sin((2 * Math.PI * 997 * (n - r.latencySamples)) / outRate);
        maxErr = Math.max(maxErr, Math.abs(out[2 * n] - ideal), Math.abs(out[2 * n + 1] - ideal));
      }
      assert.ok(maxErr < 1e-3, `max deviation from the ideal delayed tone ${maxErr}`);
      assert.ok(Math.abs(estimateFrequency(middle(out, 2), outRate, 2, 1) - 997) < 0.1);
    });
  }

  for (const [inRate, outRate, channels] of [[44100, 48000, 2], [48000, 16000, 2], [16000, 48000, 1], [48000, 32000, 3]] as const) {
    it(`gives bit-identical output whether fed in one chunk or many (${inRate} → ${outRate}, ${channels} ch)`, function () {
      const input = new NoiseGenerator({ amplitude: 0.8, channels, seed: 7 }).next(Math.round(inRate * 0.3));
      const whole = new Resampler(inRate, outRate, channels);
      const expected = Buffer.concat([whole.process(input), whole.flush()]);
      const r = new Resampler(inRate, outRate, channels);
      const rnd = lcg(42);
      const parts: Buffer[] = [];
      const frameBytes = 4 * channels;
      for (let at = 0; at < input.length; ) {
        const n = Math.min(input.length - at, frameBytes * Math.floor(rnd() * 700));
        parts.push(r.process(input.subarray(at, at + n)));
        at += n;
      }
      parts.push(r.flush());
      assert.ok(Buffer.concat(parts).equals(expected), 'chunked output differs from one-shot output');
    });
  }

  it('turns every 20 ms frame into exactly one 20 ms frame when the ratio divides the frame (48k → 16k)', function () {
    const r = new Resampler(48000, 16000, 2);
    const gen = new ToneGenerator({ sampleRate: 48000, channels: 2 });
    for (let i = 0; i < 20; i++) assert.equal(r.process(gen.next(960)).length, 320 * 2 * 4);
  });

  it('keeps channels separate: a silent channel stays exactly silent', function () {
    const input = tone(440, 44100, 0.2, 2);
    for (let i = 1; i < input.length / 4; i += 2) input.writeFloatLE(0, i * 4);
    const out = resampleAll(new Resampler(44100, 48000, 2), input);
    for (let i = 1; i < out.length; i += 2) if (out[i] !== 0) assert.fail(`right channel sample ${i} is ${out[i]}`);
    assert.ok(rms(out, 2, 0) > 0.3);
  });

  it('accepts input Buffers at any byte offset', function () {
    const input = tone(440, 48000, 0.05);
    const shifted = Buffer.alloc(input.length + 1).subarray(1);
    input.copy(shifted);
    const a = resampleAll(new Resampler(48000, 16000, 1), input);
    const b = resampleAll(new Resampler(48000, 16000, 1), shifted);
    assert.deepEqual(b, a);
  });

  it('starts a fresh stream after flush(): the same input gives the same output again', function () {
    const input = tone(1000, 48000, 0.1);
    const r = new Resampler(48000, 44100, 1);
    const first = resampleAll(r, input);
    const second = resampleAll(r, input);
    assert.deepEqual(second, first);
  });

  it('passes audio through untouched with zero latency when the rates are equal', function () {
    const r = new Resampler(48000, 48000, 2);
    const input = tone(440, 48000, 0.02, 2);
    assert.equal(r.latencySamples, 0);
    assert.ok(r.process(input).equals(input));
    assert.equal(r.flush().length, 0);
  });

  it('reports latency in output samples: half the kernel, scaled by the ratio', function () {
    assert.equal(new Resampler(48000, 16000, 1).latencySamples, 48);
    assert.equal(new Resampler(16000, 48000, 1).latencySamples, 144);
    assert.equal(new Resampler(48000, 16000, 1, { quality: 'medium' }).latencySamples, 16);
  });

  it('refuses input that is not whole frames with ResamplerError partial_frame', function () {
    const r = new Resampler(48000, 16000, 2);
    assert.throws(() => r.process(Buffer.alloc(12)), (e: unknown) => e instanceof ResamplerError && e.code === 'partial_frame' && /12 bytes/.test(e.message));
  });

  it('refuses bad rates, channel counts, qualities and unwieldy ratios with ConfigError naming the field', function () {
    const cases: Array<[() => unknown, string]> = [
      [() => new Resampler(0, 16000, 1), 'inRate'],
      [() => new Resampler(48000, 16000.5, 1), 'outRate'],
      [() => new Resampler(48000, 16000, 0), 'channels'],
      [() => new Resampler(48000, 16000, 1, { quality: 'low' as never }), 'quality'],
      [() => new Resampler(48000, 44101, 1), 'outRate'],
    ];
    for (const [fn, field] of cases) {
      assert.throws(fn, (e: unknown) => e instanceof ConfigError && e.code === 'invalid_config' && e.field === field && e.message.startsWith(`${field}:`), field);
    }
  });
});

describe('dsp/resampler: ratioRates', function () {
  it('computes outRate = inRate × upsampleRatio / downsampleRatio, both defaulting to 1', function () {
    assert.equal(ratioRates(48000), 48000);
    assert.equal(ratioRates(48000, { downsampleRatio: 3 }), 16000);
    assert.equal(ratioRates(16000, { upsampleRatio: 3 }), 48000);
    assert.equal(ratioRates(48000, { downsampleRatio: 3, upsampleRatio: 2 }), 32000);
    assert.equal(ratioRates(44100, { downsampleRatio: 4 }), 11025);
  });

  it('rejects ratios that are not positive integers, and whole rates that do not come out whole, naming the field', function () {
    const cases: Array<[Parameters<typeof ratioRates>, string]> = [
      [[48000, { downsampleRatio: 0 }], 'downsampleRatio'],
      [[48000, { downsampleRatio: 1.5 }], 'downsampleRatio'],
      [[48000, { upsampleRatio: -2 }], 'upsampleRatio'],
      [[48000, { upsampleRatio: '2' as never }], 'upsampleRatio'],
      [[0, {}], 'sampleRate'],
      [[44100, { downsampleRatio: 8 }], 'downsampleRatio'],
    ];
    for (const [args, field] of cases) {
      assert.throws(() => ratioRates(...args), (e: unknown) => e instanceof ConfigError && e.field === field, `${JSON.stringify(args)} → ${field}`);
    }
  });
});

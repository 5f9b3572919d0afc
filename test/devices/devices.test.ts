// Tests of runtime/audio/devices.ts on real devices: ALSA PCMs from test/fixtures/alsa/asound.conf over a JACK server with the dummy driver.
import assert from 'node:assert/strict';
import {
  AudioInputDevice, AudioOutputDevice, DeviceError, DeviceInfo, DeviceList, listDevices, listDevicesAsync, resolveDevice,
} from '../../runtime/audio/devices';
import { estimateFrequency, rms } from '../../runtime/audio/analysis';
import { AudioTestEnv, FILE_OUT, LOOP_IN, LOOP_OUT, readF32, runScenario, startAudioTestEnv } from './audio-env';

const RATE = 48000;
const FRAME_BYTES = 480 * 2 * 4;

function fakeDevice(id: number, name: string, inCh: number, outCh: number): DeviceInfo {
  return {
    id, name, hostAPIName: 'ALSA', maxInputChannels: inCh, maxOutputChannels: outCh, defaultSampleRate: 48000,
    defaultLowInputLatency: 0, defaultLowOutputLatency: 0, defaultHighInputLatency: 0, defaultHighOutputLatency: 0,
  };
}

function deviceError(code: string, field?: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof DeviceError, `expected a DeviceError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (field) assert.equal(err.field, field);
    return true;
  };
}

/** Interleaved stereo samples [from, to) frames. */
const framesOf = (a: Float32Array, from: number, to: number): Float32Array => a.subarray(from * 2, to * 2);

/**
 * How many of the `frameLen`-sample frames of `sent` appear bit-identical somewhere in `got`
 * (interleaved samples, any offset). Robust to what a loaded machine may do to a live stream (a
 * frame of silence inserted, a late period), while still proving the samples pass unchanged.
 */
function framesFoundIntact(sent: Float32Array, got: Float32Array, frameLen: number): number {
  const at = new Map<number, number[]>();
  for (let i = 0; i < got.length; i += 2) {
    const v = got[i];
    if (v === 0) continue;
    const list = at.get(v);
    if (list) list.push(i); else at.set(v, [i]);
  }
  let found = 0;
  for (let f = 0; f + frameLen <= sent.length; f += frameLen) {
    // Key on the frame's first non-zero left sample (a sine starts at 0).
    let k = f;
    while (k < f + frameLen && sent[k] === 0) k += 2;
    const candidates = at.get(sent[k]) ?? [];
    const intact = candidates.some((p) => {
      const start = p - (k - f);
      if (start < 0 || start + frameLen > got.length) return false;
      for (let i = 0; i < frameLen; i++) if (got[start + i] !== sent[f + i]) return false;
      return true;
    });
    if (intact) found++;
  }
  return found;
}

/** Index (in frames) of the first frame whose left sample is not 0, or -1. */
function firstSound(a: Float32Array): number {
  for (let i = 0; i < a.length; i += 2) if (a[i] !== 0) return i / 2;
  return -1;
}

describe('sound devices: option checks (no device opened)', () => {
  it('rejects a missing device name and out-of-range formats, naming the option', () => {
    assert.throws(() => new AudioInputDevice({ deviceName: '' }), deviceError('bad_option', 'deviceName'));
    assert.throws(() => new AudioInputDevice({ deviceName: 'x', framesPerBuffer: 0 }), deviceError('bad_option', 'framesPerBuffer'));
    assert.throws(() => new AudioInputDevice({ deviceName: 'x', sampleRate: 44100.5 }), deviceError('bad_option', 'sampleRate'));
    assert.throws(() => new AudioOutputDevice({ deviceName: 'x', channels: 0 }), deviceError('bad_option', 'channels'));
    assert.throws(() => new AudioOutputDevice({ deviceName: 'x', prefillFrames: 0 }), deviceError('bad_option', 'prefillFrames'));
  });

  it('write() refuses a frame of the wrong size, naming the size it takes', () => {
    const out = new AudioOutputDevice({ deviceName: 'x', channels: 2, framesPerBuffer: 480 });
    assert.throws(() => out.write(Buffer.alloc(FRAME_BYTES - 4)), (err: unknown) => {
      deviceError('bad_frame')(err);
      assert.match((err as Error).message, /3840 bytes/);
      return true;
    });
  });

  it('write() before start() drops the frame and says so', () => {
    const out = new AudioOutputDevice({ deviceName: 'x' });
    assert.equal(out.write(Buffer.alloc(FRAME_BYTES)), false);
    assert.equal(out.stats().dropped, 1);
    assert.equal(out.latencyMs, 0);
  });
});

describe('sound devices: resolveDevice on a given list', () => {
  const list: DeviceList = {
    inputs: [fakeDevice(0, 'USB Mic', 1, 0), fakeDevice(1, 'USB Mic 2', 1, 0), fakeDevice(2, 'Line In', 2, 0)],
    outputs: [fakeDevice(3, 'Speakers', 0, 2)],
  };

  it('prefers an exact name over longer names that contain it', () => {
    assert.equal(resolveDevice('USB Mic', 'input', list).id, 0);
  });

  it('takes a unique case-insensitive part of a name', () => {
    assert.equal(resolveDevice('line in', 'input', list).id, 2);
  });

  it('refuses a part that matches several devices, listing them', () => {
    assert.throws(() => resolveDevice('usb', 'input', list), (err: unknown) => {
      deviceError('ambiguous_device', 'deviceName')(err);
      assert.match((err as Error).message, /"USB Mic", "USB Mic 2"/);
      return true;
    });
  });

  it('never takes a bare index for a name', () => {
    assert.throws(() => resolveDevice('0', 'input', list), deviceError('unknown_device'));
    assert.throws(() => resolveDevice('3', 'output', list), deviceError('unknown_device'));
  });

  it('refuses an output device asked for as an input, saying which direction it has', () => {
    assert.throws(() => resolveDevice('Speakers', 'input', list), (err: unknown) => {
      deviceError('unknown_device')(err);
      assert.match((err as Error).message, /"Speakers" is an output device/);
      assert.match((err as Error).message, /input devices: "USB Mic", "USB Mic 2", "Line In"/);
      return true;
    });
  });
});

describe('sound devices on the ALSA/JACK test fixture', function () {
  this.timeout(60000);
  let audio: AudioTestEnv;
  const saved: Record<string, string | undefined> = {};
  const ENV_KEYS = ['ALSA_CONFIG_PATH', 'JACK_DEFAULT_SERVER', 'JACK_NO_START_SERVER', 'XCAST_JACK_LOOP', 'XCAST_ALSA_FILE_OUT'];

  before(() => {
    audio = startAudioTestEnv();
    // listDevices() enumerates in a child that inherits process.env; restored in after().
    for (const k of ENV_KEYS) { saved[k] = process.env[k]; process.env[k] = audio.env[k]; }
  });

  after(() => {
    for (const k of ENV_KEYS) {
      if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
    }
    audio?.close();
  });

  it('listDevices sees the fixture PCMs by name, inputs and outputs apart, and nothing else', () => {
    const d = listDevices();
    assert.deepEqual(d.inputs.map((x) => x.name), [LOOP_IN]);
    assert.deepEqual(d.outputs.map((x) => x.name).sort(), [FILE_OUT, LOOP_OUT].sort());
    const loopIn = d.inputs[0];
    assert.equal(loopIn.hostAPIName, 'ALSA');
    assert.equal(loopIn.maxInputChannels, 2);
    assert.equal(loopIn.defaultSampleRate, RATE);
    assert.equal(loopIn.defaultLowOutputLatency, -1, 'a direction the device lacks reports latency -1');
    assert.equal(d.outputs.find((x) => x.name === LOOP_OUT)?.maxOutputChannels, 2);
  });

  it('listDevicesAsync gives the same list without blocking the event loop', async () => {
    let ticks = 0;
    const t = setInterval(() => ticks++, 5);
    try {
      const d = await listDevicesAsync();
      assert.deepEqual(d, listDevices());
      assert.ok(ticks > 0, 'timers ran while the list was being made');
    } finally {
      clearInterval(t);
    }
  });

  it('resolveDevice refuses an unknown name, listing the devices of that direction', () => {
    assert.throws(() => resolveDevice('no such card', 'output'), (err: unknown) => {
      deviceError('unknown_device', 'deviceName')(err);
      assert.match((err as Error).message, /"xcast_loop_out"/);
      assert.match((err as Error).message, /"xcast_file_out"/);
      return true;
    });
  });

  it('resolveDevice refuses an ambiguous name, listing the names it matches', () => {
    assert.throws(() => resolveDevice('OUT', 'output'), (err: unknown) => {
      deviceError('ambiguous_device', 'deviceName')(err);
      assert.match((err as Error).message, /"xcast_loop_out", "xcast_file_out"|"xcast_file_out", "xcast_loop_out"/);
      return true;
    });
    assert.equal(resolveDevice('LOOP_IN', 'input').name, LOOP_IN);
  });

  it('start() refuses unknown, ambiguous and wrong-direction names and formats the device cannot take', async () => {
    type E = { code?: string; field?: string; message: string };
    const r = await runScenario<Record<string, E>>(audio.env, 'open-errors');
    assert.equal(r.unknownName.code, 'unknown_device');
    assert.match(r.unknownName.message, /"xcast_loop_in"/);
    assert.equal(r.wrongDirection.code, 'unknown_device');
    assert.equal(r.ambiguous.code, 'ambiguous_device');
    assert.equal(r.badRate.code, 'open_failed', 'the JACK PCM runs at 48 kHz only');
    assert.match(r.badRate.message, /xcast_loop_in.*44100 Hz/);
    assert.equal(r.tooManyChannels.code, 'bad_option');
    assert.equal(r.tooManyChannels.field, 'channels');
  });

  it('a 440 Hz tone played into the JACK loop comes back at 440 ± 1 Hz and at the level played, per channel, in whole 480-frame buffers', async () => {
    const r = await runScenario<{
      frameSizes: number[]; errors: unknown[]; sentFrames: number; refused: number; latencyMs: number;
      sentFile: string; capturedFile: string;
    }>(audio.env, 'loop', { toneMs: 1000, tailMs: 400, freq: 440, ampL: 0.5, ampR: 0.25 });
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.frameSizes, [FRAME_BYTES], 'every frame is exactly framesPerBuffer × channels f32 samples');
    assert.ok(r.refused <= 10, `${r.refused} frames refused from a writer at the device rate`);
    assert.ok(r.latencyMs >= 0 && r.latencyMs < 250, `latencyMs ${r.latencyMs}`);

    const sent = readF32(r.sentFile);
    const got = readF32(r.capturedFile);
    const start = firstSound(got);
    assert.ok(start >= 0, 'the tone came back');
    // The middle 0.8 s of the 1 s tone.
    const tone = framesOf(got, start + 4800, start + 4800 + 38400);
    assert.equal(tone.length, 38400 * 2, 'a whole second of tone was captured');
    const fL = estimateFrequency(tone, RATE, 2, 0);
    const fR = estimateFrequency(tone, RATE, 2, 1);
    assert.ok(Math.abs(fL - 440) <= 1, `left: ${fL} Hz`);
    assert.ok(Math.abs(fR - 440) <= 1, `right: ${fR} Hz`);
    const rL = rms(tone, 2, 0);
    const rR = rms(tone, 2, 1);
    assert.ok(Math.abs(rL / (0.5 / Math.SQRT2) - 1) < 0.05, `left RMS ${rL}`);
    assert.ok(Math.abs(rR / (0.25 / Math.SQRT2) - 1) < 0.05, `right RMS ${rR} (channels kept in order)`);

    // f32 end to end at the JACK rate: no resampling, dither or conversion on the way.
    const intact = framesFoundIntact(sent, got, 960);
    assert.ok(intact >= 0.8 * r.sentFrames, `${intact} of ${r.sentFrames} frames came back bit-identical`);
  });

  it('the file-plugin output writes exactly the frames written, in order, with only silence around and between them', async () => {
    const r = await runScenario<{ errors: unknown[]; sentFile: string; sentFrames: number; stats: { filled: number } }>(
      audio.env, 'file-out', { frames: 50 });
    assert.deepEqual(r.errors, []);
    assert.equal(r.sentFrames, 50);
    const sent = readF32(r.sentFile);
    const file = readF32(audio.fileOut);
    const at = firstSound(file);
    assert.ok(at >= 0, 'the file holds sound');
    // After the first sound the file is whole frames: the ones written (no sample of them is 0)
    // and, where the writer was late on a busy machine, frames of silence the device queued.
    const frameLen = 960;
    let next = 0;
    let silent = 0;
    for (let p = at * 2; p + frameLen <= file.length; p += frameLen) {
      const block = file.subarray(p, p + frameLen);
      if (block.every((v) => v === 0)) { silent++; continue; }
      assert.ok(next < r.sentFrames, `sound after the last frame written, at sample ${p}`);
      const want = sent.subarray(next * frameLen, (next + 1) * frameLen);
      const diff = block.findIndex((v, i) => v !== want[i]);
      assert.equal(diff, -1, `frame ${next} differs at its sample ${diff}`);
      next++;
    }
    assert.equal(next, r.sentFrames, 'every frame written is in the file');
    assert.ok(silent >= 1, 'the end is padded with silence');
  });

  it('a 600 ms event-loop stall ends neither stream: frames keep coming, nothing is reported as stalled, and the tone comes back after', async () => {
    const r = await runScenario<{
      errors: unknown[]; frames: number; arrivals: number[]; stallStart: number; stallEnd: number;
      runningBeforeStop: { input: boolean; output: boolean }; inStats: { stalls: number; frames: number };
      capturedFile: string;
    }>(audio.env, 'loop', { toneMs: 1500, tailMs: 200, stallAtMs: 400, stallMs: 600 });
    assert.ok(r.stallEnd - r.stallStart >= 600, 'the event loop was stalled for 600 ms');
    assert.deepEqual(r.errors, [], 'no error, in particular no device_stalled');
    assert.deepEqual(r.runningBeforeStop, { input: true, output: true });
    assert.equal(r.inStats.stalls, 0);
    const after = r.arrivals.filter((t) => t > r.stallEnd + 100);
    assert.ok(after.length >= 40, `${after.length} frames arrived after the stall`);
    // The device kept capturing during the stall: the frames captured meanwhile arrive, none lost.
    const elapsed = r.arrivals[r.arrivals.length - 1];
    assert.ok(r.frames >= (elapsed / 10) * 0.8, `${r.frames} frames in ${elapsed.toFixed(0)} ms`);

    // Output still plays after the stall: the frames that arrived 300–800 ms after it carry the tone.
    const got = readF32(r.capturedFile);
    const first = r.arrivals.findIndex((t) => t > r.stallEnd + 300);
    assert.ok(first > 0);
    const tone = framesOf(got, first * 480, (first + 50) * 480);
    assert.ok(Math.abs(estimateFrequency(tone, RATE, 2, 0) - 440) <= 1, 'tone after the stall');
    assert.ok(Math.abs(rms(tone, 2, 0) / (0.5 / Math.SQRT2) - 1) < 0.1, `left RMS after the stall ${rms(tone, 2, 0)}`);
  });
});

describe('sound devices when the device goes away (a JACK server of its own, killed)', function () {
  this.timeout(60000);
  let audio: AudioTestEnv;

  before(() => {
    audio = startAudioTestEnv({ privateServer: true });
  });

  after(() => audio?.close());

  it('reports device_stalled on input and output once no audio moves, and stop() still returns', async () => {
    assert.ok(audio.jackdPid, 'the private JACK server has a pid');
    type Err = { device: string; at: number; code: string; message: string };
    const r = await runScenario<{ errors: Err[]; killedAt: number; stopMs: number; outLastError?: string }>(
      audio.env, 'device-lost', { jackdPid: audio.jackdPid, stallTimeoutMs: 1000 });
    assert.ok(r.errors.every((e) => e.at > r.killedAt), `no error before the server was killed: ${JSON.stringify(r.errors)}`);
    const input = r.errors.find((e) => e.device === 'input');
    const output = r.errors.find((e) => e.device === 'output');
    assert.equal(input?.code, 'device_stalled', JSON.stringify(r.errors));
    assert.match(input?.message ?? '', /xcast_loop_in/);
    assert.equal(output?.code, 'device_stalled', JSON.stringify(r.errors));
    assert.equal(r.outLastError, 'device_stalled');
    // Generous bounds: 1 s timeout + the output's queue filling + a loaded machine.
    assert.ok(input!.at - r.killedAt < 6000, `input reported after ${input!.at - r.killedAt} ms`);
    assert.ok(output!.at - r.killedAt < 6000, `output reported after ${output!.at - r.killedAt} ms`);
    assert.ok(r.stopMs < 7000, `stop() took ${r.stopMs} ms`);
  });
});

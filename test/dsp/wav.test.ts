// Tests for runtime/audio/wav.ts: every sample format from hand-built headers, tolerant reading, the writer, and a SIGKILLed writer read back by readWav, sox and ffmpeg.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readWav, WavWriter, WavError } from '../../runtime/audio/wav';
import { ConfigError } from '../../runtime/audio/resampler';
import { ToneGenerator } from '../../runtime/audio/signals';
import { estimateFrequency, rms, dbfs, countDiscontinuities } from '../../runtime/audio/analysis';

const PCM_GUID_TAIL = Buffer.from('000000001000800000aa00389b71', 'hex');

function chunk(id: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body, body.length & 1 ? Buffer.alloc(1) : Buffer.alloc(0)]);
}

function fmtBody(tag: number, channels: number, sampleRate: number, bits: number, extensibleSubtag?: number): Buffer {
  const ext = extensibleSubtag !== undefined;
  const b = Buffer.alloc(ext ? 40 : 16);
  const blockAlign = channels * Math.ceil(bits / 8);
  b.writeUInt16LE(ext ? 0xfffe : tag, 0);
  b.writeUInt16LE(channels, 2);
  b.writeUInt32LE(sampleRate, 4);
  b.writeUInt32LE(sampleRate * blockAlign, 8);
  b.writeUInt16LE(blockAlign, 12);
  b.writeUInt16LE(bits, 14);
  if (ext) {
    b.writeUInt16LE(22, 16); // cbSize
    b.writeUInt16LE(bits, 18); // valid bits
    b.writeUInt32LE(channels === 2 ? 3 : 4, 20); // channel mask
    b.writeUInt16LE(extensibleSubtag, 24);
    PCM_GUID_TAIL.copy(b, 26);
  }
  return b;
}

function riff(chunks: Buffer[], riffSize?: number): Buffer {
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), ...chunks]);
  const head = Buffer.alloc(8);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(riffSize ?? body.length, 4);
  return Buffer.concat([head, body]);
}

/** Raw data bytes for `values` (ints for PCM, floats for float) and what readWav should give for each. */
function encode(kind: 'u8' | 's16' | 's24' | 's32' | 'f32' | 'f64', values: number[]): { data: Buffer; expected: number[] } {
  const width = { u8: 1, s16: 2, s24: 3, s32: 4, f32: 4, f64: 8 }[kind];
  const data = Buffer.alloc(values.length * width);
  const expected: number[] = [];
  values.forEach((v, i) => {
    const at = i * width;
    switch (kind) {
      case 'u8': data[at] = v; expected.push(Math.fround((v - 128) / 128)); break;
      case 's16': data.writeInt16LE(v, at); expected.push(Math.fround(v / 32768)); break;
      case 's24': data.writeIntLE(v, at, 3); expected.push(Math.fround(v / 8388608)); break;
      case 's32': data.writeInt32LE(v, at); expected.push(Math.fround(v / 2147483648)); break;
      case 'f32': data.writeFloatLE(v, at); expected.push(Math.fround(v)); break;
      case 'f64': data.writeDoubleLE(v, at); expected.push(Math.fround(v)); break;
    }
  });
  return { data, expected };
}

const VALUES = {
  u8: [0, 128, 255, 1, 200, 64],
  s16: [0, 1, -1, 32767, -32768, 12345],
  s24: [0, 1, -1, 0x7fffff, -0x800000, 1234567],
  s32: [0, 1, -1, 0x7fffffff, -0x80000000, 123456789],
  f32: [0, 0.25, -0.5, 1, -1, 0.123456789],
  f64: [0, 0.25, -0.5, 1, -1, 0.123456789],
};

function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

function tmpFile(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-dsp-'));
  return path.join(dir, name);
}

function cleanup(file: string): void {
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
}

/** sox's and ffprobe's view of a file: duration in seconds and decoded f32 samples (interleaved). */
function soxDuration(file: string): number {
  return Number(spawnSync('sox', ['--i', '-D', file], { encoding: 'utf8' }).stdout.trim());
}
function soxSamples(file: string): Float32Array {
  const r = spawnSync('sox', [file, '-t', 'raw', '-e', 'floating-point', '-b', '32', '-L', '-'], { maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, `sox failed: ${r.stderr}`);
  return new Float32Array(new Uint8Array(r.stdout).buffer);
}
function ffprobeDuration(file: string): number {
  return Number(spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file], { encoding: 'utf8' }).stdout.trim());
}
function ffmpegSamples(file: string): Float32Array {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'f32le', '-'], { maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, `ffmpeg failed: ${r.stderr}`);
  return new Float32Array(new Uint8Array(r.stdout).buffer);
}

describe('dsp/wav: readWav', function () {
  const cases: Array<{ name: string; kind: keyof typeof VALUES; tag: number; bits: number; ext?: number; format: 'pcm' | 'float' }> = [
    { name: '8-bit unsigned PCM', kind: 'u8', tag: 1, bits: 8, format: 'pcm' },
    { name: '16-bit PCM', kind: 's16', tag: 1, bits: 16, format: 'pcm' },
    { name: '24-bit PCM', kind: 's24', tag: 1, bits: 24, format: 'pcm' },
    { name: '32-bit PCM', kind: 's32', tag: 1, bits: 32, format: 'pcm' },
    { name: '32-bit IEEE float', kind: 'f32', tag: 3, bits: 32, format: 'float' },
    { name: '64-bit IEEE float', kind: 'f64', tag: 3, bits: 64, format: 'float' },
    { name: 'WAVE_FORMAT_EXTENSIBLE 16-bit PCM', kind: 's16', tag: 1, bits: 16, ext: 1, format: 'pcm' },
    { name: 'WAVE_FORMAT_EXTENSIBLE 24-bit PCM', kind: 's24', tag: 1, bits: 24, ext: 1, format: 'pcm' },
    { name: 'WAVE_FORMAT_EXTENSIBLE 32-bit float', kind: 'f32', tag: 3, bits: 32, ext: 3, format: 'float' },
  ];
  for (const c of cases) {
    it(`decodes ${c.name} stereo to interleaved −1..1 floats, skipping odd-sized unknown chunks`, function () {
      const { data, expected } = encode(c.kind, VALUES[c.kind]);
      const file = riff([
        chunk('LIST', Buffer.from('INFOISFT', 'latin1').subarray(0, 7)), // 7 bytes: odd, padded
        chunk('fmt ', fmtBody(c.tag, 2, 44100, c.bits, c.ext)),
        chunk('junk', Buffer.alloc(3)),
        chunk('data', data),
        chunk('id3 ', Buffer.alloc(5)),
      ]);
      const w = readWav(file);
      assert.equal(w.sampleRate, 44100);
      assert.equal(w.channels, 2);
      assert.equal(w.bitsPerSample, c.bits);
      assert.equal(w.format, c.format);
      assert.equal(w.frames, 3);
      assert.deepEqual(Array.from(w.samples), expected);
    });
  }

  it('reads from a path as well as from a Buffer', function () {
    const { data, expected } = encode('s16', VALUES.s16);
    const file = tmpFile('path.wav');
    try {
      fs.writeFileSync(file, riff([chunk('fmt ', fmtBody(1, 1, 8000, 16)), chunk('data', data)]));
      const w = readWav(file);
      assert.equal(w.frames, 6);
      assert.deepEqual(Array.from(w.samples), expected);
    } finally {
      cleanup(file);
    }
  });

  it('finds fmt after data when the data chunk size is honest', function () {
    const { data, expected } = encode('s16', VALUES.s16);
    const w = readWav(riff([chunk('data', data), chunk('fmt ', fmtBody(1, 2, 48000, 16))]));
    assert.equal(w.frames, 3);
    assert.deepEqual(Array.from(w.samples), expected);
  });

  for (const [label, size] of [['0', 0], ['0xFFFFFFFF', 0xffffffff], ['past the end of the file', 1 << 20]] as const) {
    it(`reads a data chunk whose size is ${label} up to the last whole frame present`, function () {
      const { data, expected } = encode('s16', VALUES.s16);
      // 6 stereo samples = 3 frames, then half a frame (one sample of a torn write).
      const torn = Buffer.concat([data, Buffer.from([0x34, 0x12])]);
      const head = Buffer.alloc(8);
      head.write('data', 0, 'latin1');
      head.writeUInt32LE(size, 4);
      const file = riff([chunk('fmt ', fmtBody(1, 2, 48000, 16)), Buffer.concat([head, torn])], 0);
      const w = readWav(file);
      assert.equal(w.frames, 3);
      assert.deepEqual(Array.from(w.samples), expected);
    });
  }

  it('reads a header-only file (writer killed before any audio) as zero frames', function () {
    const file = riff([chunk('fmt ', fmtBody(1, 1, 48000, 16)), chunk('data', Buffer.alloc(0))]);
    const w = readWav(file);
    assert.equal(w.frames, 0);
    assert.equal(w.samples.length, 0);
  });

  const fmt16 = chunk('fmt ', fmtBody(1, 1, 48000, 16));
  const data2 = chunk('data', Buffer.alloc(4));
  const errors: Array<{ what: string; buf: Buffer; code: string; message: RegExp }> = [
    { what: 'a file that is not RIFF', buf: Buffer.from('OggS0000WAVE', 'latin1'), code: 'not_riff', message: /offset 0.*RIFF/ },
    { what: 'a buffer shorter than a RIFF header', buf: Buffer.from('RIFF', 'latin1'), code: 'not_riff', message: /offset 0/ },
    { what: 'a RIFF file that is not WAVE', buf: Buffer.concat([Buffer.from('RIFF\x04\x00\x00\x00AVI ', 'latin1')]), code: 'not_wave', message: /offset 8.*AVI/ },
    { what: 'a file without fmt', buf: riff([data2]), code: 'no_fmt', message: /fmt/ },
    { what: 'a file without data', buf: riff([fmt16]), code: 'no_data', message: /data.*offset 36/ },
    { what: 'an ADPCM file', buf: riff([chunk('fmt ', fmtBody(2, 1, 48000, 4)), data2]), code: 'unsupported_format', message: /offset 12.*0x2/ },
    { what: '12-bit PCM', buf: riff([chunk('fmt ', fmtBody(1, 1, 48000, 12)), data2]), code: 'unsupported_format', message: /12 bits/ },
    { what: 'a fmt chunk with a wrong blockAlign', buf: riff([chunk('fmt ', (() => { const b = fmtBody(1, 2, 48000, 16); b.writeUInt16LE(2, 12); return b; })()), data2]), code: 'bad_fmt', message: /blockAlign is 2.*expected.*4/ },
    { what: 'a fmt chunk of 14 bytes', buf: riff([chunk('fmt ', Buffer.alloc(14)), data2]), code: 'bad_fmt', message: /offset 12.*14 bytes/ },
    { what: 'a fmt chunk cut off by the end of the file', buf: riff([fmt16]).subarray(0, 30), code: 'truncated_chunk', message: /offset 12.*16 bytes.*ends at 30/ },
    { what: 'zero channels', buf: riff([chunk('fmt ', (() => { const b = fmtBody(1, 1, 48000, 16); b.writeUInt16LE(0, 2); return b; })()), data2]), code: 'bad_fmt', message: /channels is 0/ },
  ];
  for (const e of errors) {
    it(`rejects ${e.what} with WavError ${e.code} naming the place`, function () {
      assert.throws(() => readWav(e.buf), (err: unknown) => {
        assert.ok(err instanceof WavError, String(err));
        assert.equal(err.code, e.code);
        assert.match(err.message, e.message);
        return true;
      });
    });
  }
});

describe('dsp/wav: WavWriter', function () {
  let file = '';
  beforeEach(function () { file = tmpFile('out.wav'); });
  afterEach(function () { cleanup(file); });

  it('writes s16 that reads back as the input rounded to 16 bits, from Buffers and Float32Arrays', function () {
    const tone = new ToneGenerator({ frequency: 997, amplitude: 0.9, channels: 2 });
    const w = new WavWriter(file, { sampleRate: 48000, channels: 2 });
    assert.equal(w.dataSizeOffset, 40);
    const parts: Buffer[] = [];
    for (const n of [480, 1, 960, 37, 2000]) {
      const b = tone.next(n);
      parts.push(b);
      if (n % 2) w.write(new Float32Array(b.buffer, b.byteOffset, b.length / 4));
      else w.write(b);
    }
    // An unaligned Buffer (odd byteOffset) and values beyond full scale, which clip.
    const odd = Buffer.alloc(4 * 2 * 2 + 1).subarray(1);
    odd.writeFloatLE(1.5, 0); odd.writeFloatLE(-1.5, 4); odd.writeFloatLE(0.5, 8); odd.writeFloatLE(-0.25, 12);
    parts.push(odd);
    w.write(odd);
    assert.equal(w.framesWritten, 480 + 1 + 960 + 37 + 2000 + 2);
    w.close();
    w.close(); // idempotent

    const all = Buffer.concat(parts);
    const r = readWav(file);
    assert.equal(r.format, 'pcm');
    assert.equal(r.bitsPerSample, 16);
    assert.equal(r.channels, 2);
    assert.equal(r.sampleRate, 48000);
    assert.equal(r.frames, w.framesWritten);
    for (let i = 0; i < all.length / 4; i++) {
      const v = Math.max(-32768, Math.min(32767, Math.round(all.readFloatLE(i * 4) * 32768)));
      if (r.samples[i] !== v / 32768) assert.fail(`sample ${i}: ${r.samples[i]} !== ${v / 32768}`);
    }
    assert.equal(fs.statSync(file).size, 44 + r.frames * 4);
  });

  it('writes f32 with an IEEE-float fmt, a fact chunk and data that reads back bit-exact, from Buffers and Float32Arrays', function () {
    const tone = new ToneGenerator({ frequency: 440, amplitude: 0.5, channels: 1 });
    const w = new WavWriter(file, { sampleRate: 16000, channels: 1, format: 'f32' });
    assert.equal(w.dataSizeOffset, 54);
    const parts = [tone.next(160), tone.next(321), tone.next(7)];
    w.write(parts[0]);
    w.write(new Float32Array(parts[1].buffer, parts[1].byteOffset, parts[1].length / 4));
    w.write(parts[2]);
    w.close();
    const bytes = fs.readFileSync(file);
    assert.equal(bytes.readUInt16LE(20), 3);
    assert.equal(bytes.readUInt32LE(16), 18);
    assert.equal(bytes.toString('latin1', 38, 42), 'fact');
    assert.equal(bytes.readUInt32LE(46), 488);
    assert.equal(bytes.readUInt32LE(54), 488 * 4);
    assert.equal(bytes.readUInt32LE(4), bytes.length - 8);
    const r = readWav(file);
    assert.equal(r.format, 'float');
    assert.equal(r.bitsPerSample, 32);
    assert.deepEqual(Buffer.from(r.samples.buffer, r.samples.byteOffset, r.samples.byteLength), Buffer.concat(parts));
  });

  it('produces files sox and ffprobe read with the right format and duration', function () {
    // Outside checks are part of the test: scripts/setup-system.sh installs sox and ffmpeg.
    assert.ok(hasCommand('sox') && hasCommand('ffprobe'), 'sox and ffprobe are needed (apt-get install sox ffmpeg)');
    for (const format of ['s16', 'f32'] as const) {
      const w = new WavWriter(file, { sampleRate: 48000, channels: 2, format });
      const tone = new ToneGenerator({ frequency: 1000, channels: 2 });
      for (let i = 0; i < 50; i++) w.write(tone.next(960)); // 1 s
      w.close();
      assert.equal(soxDuration(file), 1, `sox duration of ${format}`);
      assert.ok(Math.abs(ffprobeDuration(file) - 1) < 0.001, `ffprobe duration of ${format}`);
      const s = soxSamples(file);
      assert.equal(s.length, 96000);
      assert.ok(Math.abs(estimateFrequency(s, 48000, 2, 1) - 1000) < 0.1);
      const info = spawnSync('soxi', [file], { encoding: 'utf8' }).stdout;
      assert.match(info, format === 's16' ? /16-bit Signed Integer PCM/ : /32-bit Floating Point PCM/);
    }
  });

  it('patches the header sizes while open, at least every patchIntervalMs of audio', function () {
    const w = new WavWriter(file, { sampleRate: 48000, channels: 1, patchIntervalMs: 500 });
    const tone = new ToneGenerator({ channels: 1 });
    // Header for zero audio straight after open.
    assert.equal(readWav(fs.readFileSync(file)).frames, 0);
    assert.equal(fs.readFileSync(file).readUInt32LE(40), 0);
    for (let i = 0; i < 24; i++) w.write(tone.next(960)); // 0.48 s: not yet due
    assert.equal(fs.readFileSync(file).readUInt32LE(40), 0);
    w.write(tone.next(960)); // 0.5 s
    const h = fs.readFileSync(file);
    assert.equal(h.readUInt32LE(40), 25 * 960 * 2);
    assert.equal(h.readUInt32LE(4), 36 + 25 * 960 * 2);
    for (let i = 0; i < 30; i++) w.write(tone.next(960));
    const h2 = fs.readFileSync(file);
    assert.equal(h2.readUInt32LE(40), 50 * 960 * 2);
    w.close();
    assert.equal(fs.readFileSync(file).readUInt32LE(40), 55 * 960 * 2);
  });

  it('refuses partial frames, writes after close and bad options with named errors', function () {
    const w = new WavWriter(file, { sampleRate: 48000, channels: 2 });
    assert.throws(() => w.write(Buffer.alloc(12)), (e: unknown) => e instanceof WavError && e.code === 'partial_frame' && /12 bytes.*2-channel/.test(e.message));
    w.close();
    assert.throws(() => w.write(Buffer.alloc(8)), (e: unknown) => e instanceof WavError && e.code === 'closed');
    for (const [opts, field] of [
      [{ sampleRate: 0, channels: 1 }, 'sampleRate'],
      [{ sampleRate: 48000, channels: 1.5 }, 'channels'],
      [{ sampleRate: 48000, channels: 1, format: 's24' }, 'format'],
      [{ sampleRate: 48000, channels: 1, patchIntervalMs: -1 }, 'patchIntervalMs'],
    ] as const) {
      assert.throws(() => new WavWriter(file, opts as never), (e: unknown) => e instanceof ConfigError && e.field === field && e.message.startsWith(field));
    }
  });
});

describe('dsp/wav: a writer killed with SIGKILL', function () {
  this.timeout(15000);
  const wavJs = path.join(__dirname, '..', '..', 'runtime', 'audio', 'wav.js');
  const signalsJs = path.join(__dirname, '..', '..', 'runtime', 'audio', 'signals.js');

  /** Runs a child writing 3 s of a 1 kHz stereo tone in real time (20 ms chunks), kills it after ~2.2 s; returns frames it reported written. */
  async function killedWriter(file: string, format: 's16' | 'f32'): Promise<number> {
    const script = `
      const { WavWriter } = require(${JSON.stringify(wavJs)});
      const { ToneGenerator } = require(${JSON.stringify(signalsJs)});
      const w = new WavWriter(${JSON.stringify(file)}, { sampleRate: 48000, channels: 2, format: ${JSON.stringify(format)} });
      const tone = new ToneGenerator({ frequency: 1000, amplitude: 0.5, sampleRate: 48000, channels: 2 });
      const total = 3 * 48000;
      let frames = 0;
      const t0 = Date.now();
      process.stdout.write('started\\n');
      const timer = setInterval(() => {
        const due = Math.min(total, Math.floor((Date.now() - t0) * 48));
        while (frames + 960 <= due) {
          w.write(tone.next(960));
          frames += 960;
          process.stdout.write('frames ' + frames + '\\n');
        }
        if (frames >= total) { clearInterval(timer); w.close(); process.stdout.write('done\\n'); }
      }, 20);
    `;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    let timer: NodeJS.Timeout | undefined;
    const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
    child.stdout.on('data', (d) => {
      out += d;
      if (!timer && out.includes('started\n')) timer = setTimeout(() => child.kill('SIGKILL'), 2200);
    });
    await closed;
    if (timer) clearTimeout(timer);
    assert.equal(child.signalCode, 'SIGKILL', `writer exited on its own: ${err}`);
    assert.ok(!out.includes('done'), 'writer finished before it was killed');
    const reported = [...out.matchAll(/frames (\d+)/g)].map((m) => Number(m[1]));
    assert.ok(reported.length > 0, `writer reported no frames: ${err}`);
    return reported[reported.length - 1];
  }

  function checkTone(samples: Float32Array, who: string): void {
    assert.ok(Math.abs(estimateFrequency(samples, 48000, 2, 0) - 1000) < 0.1, `${who}: frequency`);
    assert.ok(Math.abs(estimateFrequency(samples, 48000, 2, 1) - 1000) < 0.1, `${who}: frequency of channel 1`);
    assert.ok(Math.abs(dbfs(rms(samples, 2, 0)) - dbfs(0.5 / Math.SQRT2)) < 0.1, `${who}: level`);
    assert.equal(countDiscontinuities(samples, 48000, 1000, { channels: 2 }), 0, `${who}: the tone is continuous`);
  }

  for (const format of ['s16', 'f32'] as const) {
    it(`leaves a ${format} file that readWav, sox and ffmpeg read to within 0.6 s of what was written, holding the tone`, async function () {
      const file = tmpFile(`killed-${format}.wav`);
      try {
        const written = await killedWriter(file, format);
        const writtenS = written / 48000;
        assert.ok(writtenS > 1.5 && writtenS < 2.9, `wrote ${writtenS} s before the kill`);
        // Everything write() returned from is in the file, whatever the header says.
        const bytesPerFrame = format === 's16' ? 4 : 8;
        assert.ok(fs.statSync(file).size >= (format === 's16' ? 44 : 58) + written * bytesPerFrame);

        const r = readWav(file);
        assert.ok(Math.abs(r.frames / 48000 - writtenS) <= 0.6, `readWav: ${r.frames / 48000} s vs ${writtenS} s written`);
        assert.ok(r.frames / 48000 > 1, `readWav: ${r.frames / 48000} s`);
        checkTone(r.samples, 'readWav');

        assert.ok(hasCommand('sox') && hasCommand('ffprobe') && hasCommand('ffmpeg'), 'sox and ffmpeg are needed (apt-get install sox ffmpeg)');
        const ds = soxDuration(file);
        assert.ok(Math.abs(ds - writtenS) <= 0.6, `sox: ${ds} s vs ${writtenS} s written`);
        checkTone(soxSamples(file), 'sox');
        const df = ffprobeDuration(file);
        assert.ok(Math.abs(df - writtenS) <= 0.6, `ffprobe: ${df} s vs ${writtenS} s written`);
        checkTone(ffmpegSamples(file), 'ffmpeg');
      } finally {
        cleanup(file);
      }
    });
  }
});

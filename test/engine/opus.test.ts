// Opus wrappers: configuration checks, frame-size validation before native code, tone round trip, framing, PLC.
import assert from 'node:assert/strict';
import {
  OpusEncoder, OpusDecoder, OpusFramer, OpusConfigError, OpusFrameSizeError, OpusDecodeError, validOpusFrameSamples, OPUS_DECODER,
} from '../../runtime/audio/opus';
import fs from 'node:fs';
import { estimateFrequency, rms } from '../../runtime/audio/analysis';
import { toneFrame, f32 } from './util';

function encodeTone(enc: OpusEncoder, frames: number, freq = 440): Buffer[] {
  const out: Buffer[] = [];
  for (let k = 0; k < frames; k++) out.push(enc.encode(toneFrame(enc.frameSamples, enc.channels, k * enc.frameSamples, freq, 0.5, enc.sampleRate)));
  return out;
}

function concatF32(bufs: Buffer[]): Float32Array {
  return f32(Buffer.concat(bufs));
}

describe('engine/opus', () => {
  describe('validOpusFrameSamples', () => {
    it('lists 2.5, 5, 10, 20, 40 and 60 ms at each Opus rate', () => {
      assert.deepEqual(validOpusFrameSamples(48000), [120, 240, 480, 960, 1920, 2880]);
      assert.deepEqual(validOpusFrameSamples(8000), [20, 40, 80, 160, 320, 480]);
      assert.deepEqual(validOpusFrameSamples(12000), [30, 60, 120, 240, 480, 720]);
    });

    it('refuses a rate Opus does not support, naming the field', () => {
      assert.throws(() => validOpusFrameSamples(44100), (e: unknown) => e instanceof OpusConfigError && e.field === 'sampleRate' && /44100/.test(e.message));
    });
  });

  describe('OpusEncoder', () => {
    it('refuses bad options with an OpusConfigError naming the field', () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ sampleRate: 44100, channels: 2, frameSamples: 441 }, 'sampleRate'],
        [{ channels: 3, frameSamples: 480 }, 'channels'],
        [{ channels: 2, frameSamples: 500 }, 'frameSamples'],
        [{ channels: 2, frameSamples: 480, complexity: 11 }, 'complexity'],
        [{ channels: 2, frameSamples: 480, bitrate: 100 }, 'bitrate'],
        [{ channels: 2, frameSamples: 480, packetLossPercent: 101 }, 'packetLossPercent'],
        [{ channels: 2, frameSamples: 480, application: 'karaoke' }, 'application'],
      ];
      for (const [opts, field] of cases) {
        assert.throws(() => new OpusEncoder(opts as never), (e: unknown) => e instanceof OpusConfigError && e.field === field && e.code === 'bad_config', field);
      }
    });

    it('rejects PCM of the wrong size with OpusFrameSizeError, and the process and encoder carry on', () => {
      const enc = new OpusEncoder({ channels: 2, frameSamples: 480 });
      for (const bytes of [0, 4, 480 * 4, 480 * 2 * 4 - 4, 480 * 2 * 4 + 8, 960 * 2 * 4]) {
        assert.throws(() => enc.encode(Buffer.alloc(bytes)), (e: unknown) => e instanceof OpusFrameSizeError && e.code === 'bad_frame_size' && new RegExp(`${bytes} bytes`).test(e.message));
      }
      assert.throws(() => enc.encode('not a buffer' as never), OpusFrameSizeError);
      const packet = enc.encode(toneFrame(480, 2, 0));
      assert.ok(packet.length > 0 && packet.length < 1276);
    });

    it('keeps the frequency of a 440 Hz tone through encode and decode (48 kHz stereo, 20 ms frames)', () => {
      const enc = new OpusEncoder({ channels: 2, frameSamples: 960, bitrate: 96000 });
      const dec = new OpusDecoder({ channels: 2 });
      const pcm = concatF32(encodeTone(enc, 50).map((p) => dec.decode(p)));
      assert.equal(pcm.length, 50 * 960 * 2);
      const tail = pcm.subarray(10 * 960 * 2); // past the codec's start-up
      for (const ch of [0, 1]) {
        const f = estimateFrequency(tail, 48000, 2, ch);
        assert.ok(Math.abs(f - 440) < 1, `channel ${ch}: ${f} Hz`);
      }
      const level = rms(tail, 2, 0);
      assert.ok(Math.abs(level - 0.5 / Math.SQRT2) < 0.05, `rms ${level}`);
    });

    it('works at 16 kHz mono with 2.5 ms and 60 ms frames', () => {
      for (const frameSamples of [40, 960]) {
        const enc = new OpusEncoder({ sampleRate: 16000, channels: 1, frameSamples, application: 'lowdelay' });
        const dec = new OpusDecoder({ sampleRate: 16000, channels: 1 });
        const frames = Math.ceil(16000 / frameSamples);
        const out = encodeTone(enc, frames).map((p) => dec.decode(p));
        for (const o of out) assert.equal(o.length, frameSamples * 4);
        const f = estimateFrequency(concatF32(out).subarray(4000), 16000);
        assert.ok(Math.abs(f - 440) < 2, `${frameSamples}: ${f} Hz`);
      }
    });

    it('reuses its s16 scratch safely: packets are unchanged by later encodes and equal a fresh encoder\'s', () => {
      const a = new OpusEncoder({ channels: 2, frameSamples: 480 });
      const b = new OpusEncoder({ channels: 2, frameSamples: 480 });
      const packets: Buffer[] = [];
      const snapshots: Buffer[] = [];
      for (let k = 0; k < 20; k++) {
        const p = a.encode(toneFrame(480, 2, k * 480, 300 + 50 * (k % 5)));
        packets.push(p);
        snapshots.push(Buffer.from(p));
      }
      packets.forEach((p, k) => assert.ok(p.equals(snapshots[k]), `packet ${k} changed after later encodes`));
      for (let k = 0; k < 20; k++) {
        // The input is a subarray at an odd-multiple-of-4 offset: conversion must not depend on alignment.
        const frame = toneFrame(480, 2, k * 480, 300 + 50 * (k % 5));
        const shifted = Buffer.alloc(frame.length + 4);
        frame.copy(shifted, 4);
        assert.ok(b.encode(shifted.subarray(4)).equals(snapshots[k]), `packet ${k} differs from a fresh encoder's`);
      }
    });

    it('clips PCM beyond ±1 instead of wrapping', () => {
      const enc = new OpusEncoder({ channels: 1, frameSamples: 960 });
      const dec = new OpusDecoder({ channels: 1 });
      const loud = Array.from({ length: 20 }, (_, k) => {
        const t = f32(toneFrame(960, 1, k * 960, 440, 3));
        return Buffer.from(t.buffer, t.byteOffset, t.byteLength);
      });
      const out = concatF32(loud.map((x) => dec.decode(enc.encode(x)))).subarray(960 * 5);
      const f = estimateFrequency(out, 48000);
      assert.ok(Math.abs(f - 440) < 2, `${f} Hz`);
    });
  });

  describe('OpusFramer', () => {
    it('cuts input of any length into exact frames, keeping the remainder in order', () => {
      const framer = new OpusFramer({ channels: 2, frameSamples: 480 });
      const all = toneFrame(2580, 2, 0);
      const chunks = [700, 300, 1, 1000, 479, 100].map((n) => n * 2 * 4);
      const frames: Buffer[] = [];
      let off = 0;
      for (const c of chunks) {
        for (const f of framer.push(all.subarray(off, off + c))) frames.push(Buffer.from(f));
        off += c;
      }
      assert.equal(off, all.length);
      assert.equal(frames.length, 5);
      for (const f of frames) assert.equal(f.length, 480 * 2 * 4);
      assert.ok(Buffer.concat(frames).equals(all.subarray(0, 5 * 480 * 2 * 4)));
      assert.equal(framer.bufferedSamples, 2580 - 5 * 480);
    });

    it('never changes a frame it returned, even when later input refills its remainder', () => {
      const framer = new OpusFramer({ channels: 1, frameSamples: 4 });
      const x = f32(Buffer.from(new Float32Array([1, 2, 3, 4, 5, 6]).buffer));
      const first = framer.push(Buffer.from(x.buffer));
      assert.equal(first.length, 1);
      const second = framer.push(Buffer.from(new Float32Array([7, 8, 9, 10, 11, 12]).buffer));
      assert.deepEqual(Array.from(f32(first[0])), [1, 2, 3, 4]);
      assert.deepEqual(Array.from(f32(second[0])), [5, 6, 7, 8]);
      framer.push(Buffer.from(new Float32Array([13, 14, 15]).buffer));
      assert.deepEqual(Array.from(f32(second[0])), [5, 6, 7, 8]);
    });

    it('refuses input that is not whole f32 samples for its channels', () => {
      const framer = new OpusFramer({ channels: 2, frameSamples: 480 });
      assert.throws(() => framer.push(Buffer.alloc(12)), OpusFrameSizeError);
      assert.throws(() => new OpusFramer({ channels: 0, frameSamples: 480 }), (e: unknown) => e instanceof OpusConfigError && e.field === 'channels');
    });

    it('feeds the encoder: chunks of 256 samples become 10 ms packets', () => {
      const framer = new OpusFramer({ channels: 1, frameSamples: 480 });
      const enc = new OpusEncoder({ channels: 1, frameSamples: 480 });
      let packets = 0;
      for (let k = 0; k < 30; k++) for (const f of framer.push(toneFrame(256, 1, k * 256))) { enc.encode(f); packets++; }
      assert.equal(packets, Math.floor((30 * 256) / 480));
    });
  });

  describe('OpusDecoder into the caller\'s array (native/: libopus\'s float decoder)', () => {
    // @discordjs/opus, straight: the referee for what libopus decodes (its own s16 output).
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const Discord = require('@discordjs/opus').OpusEncoder as new (rate: number, ch: number) => { decode(p: Buffer): Buffer };

    it('is the decoder in use wherever libopus-dev is installed (npm run build compiles native/)', function () {
      if (!fs.existsSync('/usr/include/opus/opus.h')) this.skip();
      assert.equal(OPUS_DECODER.kind, process.env.XCAST_OPUS_DECODER === 'discordjs' ? 's16' : 'float', 'native/build/Release/xcast_opus.node did not load: see scripts/build-native.js');
      if (OPUS_DECODER.kind === 'float') assert.match(OPUS_DECODER.libopus ?? '', /^libopus \d/);
    });

    it('decodes what @discordjs/opus decodes, to within one s16 step (its rounding), into the array at the offset, touching nothing else', () => {
      const enc = new OpusEncoder({ channels: 2, frameSamples: 480 });
      const packets = encodeTone(enc, 50, 997);
      const dec = new OpusDecoder({ channels: 2 });
      const ref = new Discord(48000, 2);
      const out = new Float32Array(480 * 2 + 16).fill(7);
      let worst = 0;
      for (const p of packets) {
        assert.equal(dec.decodeInto(p, out, 8, 480), 480);
        const s16 = ref.decode(p);
        for (let i = 0; i < 960; i++) worst = Math.max(worst, Math.abs(out[8 + i] - s16.readInt16LE(i * 2) / 32768));
        for (const i of [0, 7, 968, 975]) assert.equal(out[i], 7, `sample ${i} outside the frame was written`);
      }
      assert.ok(worst <= 1 / 32768, `largest difference ${worst * 32768} s16 steps`);
    });

    it('refuses an array too small for the frames, and a packet longer than maxFrames, before or without writing past it', () => {
      const enc = new OpusEncoder({ channels: 2, frameSamples: 960 });
      const p = encodeTone(enc, 1)[0];
      const dec = new OpusDecoder({ channels: 2 });
      assert.throws(() => dec.decodeInto(p, new Float32Array(960 * 2 - 1), 0, 960), RangeError);
      assert.throws(() => dec.decodeInto(p, new Float32Array(960 * 2), 2, 960), RangeError);
      const small = new Float32Array(480 * 2 + 4).fill(3);
      assert.throws(() => dec.decodeInto(p, small, 0, 480), OpusDecodeError);
      assert.equal(small[960], 3);
      assert.equal(dec.decodeInto(p, new Float32Array(960 * 2), 0, 960), 960);
    });

    it('conceals exactly the frames asked, into the array, continuing the tone', () => {
      const enc = new OpusEncoder({ channels: 2, frameSamples: 480 });
      const packets = encodeTone(enc, 20, 440);
      const dec = new OpusDecoder({ channels: 2 });
      const out = new Float32Array(480 * 2 + 2).fill(5);
      for (const p of packets) dec.decodeInto(p, out, 0, 480);
      const good = rms(out.subarray(0, 960));
      dec.concealInto(480, out, 0);
      assert.equal(out[960], 5);
      const c = rms(out.subarray(0, 960));
      assert.ok(c > good * 0.3 && c < good * 1.5, `concealed rms ${c} against ${good}`);
      assert.throws(() => dec.concealInto(100, out, 0), OpusFrameSizeError);
    });
  });

  describe('OpusDecoder', () => {
    it('throws OpusDecodeError for a corrupt or empty packet and keeps decoding after it', () => {
      const enc = new OpusEncoder({ channels: 2, frameSamples: 480 });
      const dec = new OpusDecoder({ channels: 2 });
      const packets = encodeTone(enc, 10);
      dec.decode(packets[0]);
      assert.throws(() => dec.decode(Buffer.from([0xff, 0xff, 0xff, 1, 2, 3])), (e: unknown) => e instanceof OpusDecodeError && e.code === 'decode_failed' && /corrupt/i.test(e.message));
      assert.throws(() => dec.decode(Buffer.alloc(0)), OpusDecodeError);
      for (const p of packets.slice(1)) assert.equal(dec.decode(p).length, 480 * 2 * 4);
    });

    it('conceals exactly one frame, continuing the tone (not 120 ms, not silence)', () => {
      const enc = new OpusEncoder({ channels: 2, frameSamples: 480 });
      const dec = new OpusDecoder({ channels: 2 });
      const packets = encodeTone(enc, 30);
      const decoded: Buffer[] = [];
      for (let k = 0; k < 30; k++) {
        if (k === 20 || k === 21) {
          const c = dec.conceal(480);
          assert.equal(c.length, 480 * 2 * 4);
          decoded.push(c);
        } else decoded.push(dec.decode(packets[k]));
      }
      const good = rms(f32(decoded[19]));
      assert.ok(rms(f32(decoded[20])) > 0.5 * good, 'first concealed frame keeps most of the level');
      assert.ok(rms(f32(decoded[21])) > 0.2 * good, 'second concealed frame is still audible');
      assert.ok(rms(f32(decoded[25])) > 0.8 * good, 'decoding resumes at full level');
    });

    it('conceals silence before any packet, and any multiple of 2.5 ms after one', () => {
      const dec = new OpusDecoder({ sampleRate: 24000, channels: 1 });
      const silent = dec.conceal(240);
      assert.equal(silent.length, 240 * 4);
      assert.equal(rms(f32(silent)), 0);
      const enc = new OpusEncoder({ sampleRate: 24000, channels: 1, frameSamples: 480 });
      for (const p of encodeTone(enc, 10)) dec.decode(p);
      assert.equal(dec.conceal(720).length, 720 * 4); // 30 ms: two pieces
      assert.equal(dec.conceal(60).length, 60 * 4); // 2.5 ms from a SILK/CELT stream of 20 ms
      assert.throws(() => dec.conceal(100), OpusFrameSizeError);
      assert.throws(() => dec.conceal(24000), OpusFrameSizeError);
    });

    it('decodes a 48 kHz stream at 24 kHz (half the samples, same tone)', () => {
      const enc = new OpusEncoder({ channels: 1, frameSamples: 960 });
      const dec = new OpusDecoder({ sampleRate: 24000, channels: 1 });
      const out = encodeTone(enc, 50).map((p) => dec.decode(p));
      for (const o of out) assert.equal(o.length, 480 * 4);
      const f = estimateFrequency(concatF32(out).subarray(4800), 24000);
      assert.ok(Math.abs(f - 440) < 1, `${f} Hz`);
    });
  });
});

// Tests of the Opus TOC parser (runtime/protocol/opus-toc.ts) against RFC 6716 §3 and real libopus packets.

import assert from 'node:assert/strict';
import { opusPacketSamples, opusTocFrameSamples48k } from '../../runtime/protocol/opus-toc';
import { opusEncode } from './helpers';

/** TOC byte from config (0–31), stereo flag and frame-count code (0–3). */
function toc(config: number, code: number, stereo = 0): number {
  return (config << 3) | (stereo << 2) | code;
}

describe('protocol/opus-toc', () => {
  it('reads the frame duration of every config from Table 2 of RFC 6716', () => {
    const ms = (config: number): number => opusTocFrameSamples48k(toc(config, 0)) / 48;
    assert.deepEqual([0, 1, 2, 3].map(ms), [10, 20, 40, 60]);          // SILK NB
    assert.deepEqual([8, 9, 10, 11].map(ms), [10, 20, 40, 60]);        // SILK WB
    assert.deepEqual([12, 13, 14, 15].map(ms), [10, 20, 10, 20]);      // Hybrid SWB, FB
    assert.deepEqual([16, 17, 18, 19].map(ms), [2.5, 5, 10, 20]);      // CELT NB
    assert.deepEqual([28, 29, 30, 31].map(ms), [2.5, 5, 10, 20]);      // CELT FB
  });

  it('counts the samples of real libopus packets at 48 kHz and 16 kHz', () => {
    for (const n of [120, 240, 480, 960, 1920, 2880]) {
      assert.equal(opusPacketSamples(opusEncode(48000, 2, n)), n, `${n} samples stereo`);
      assert.equal(opusPacketSamples(opusEncode(48000, 1, n)), n, `${n} samples mono`);
    }
    assert.equal(opusPacketSamples(opusEncode(16000, 1, 320), 16000), 320);
  });

  it('code 0: one frame; at most 1275 bytes after the TOC', () => {
    assert.equal(opusPacketSamples(Buffer.from([toc(31, 0)])), 960);            // a DTX (empty) frame is legal
    assert.equal(opusPacketSamples(Buffer.alloc(1276, toc(31, 0))), 960);
    assert.equal(opusPacketSamples(Buffer.concat([Buffer.from([toc(31, 0)]), Buffer.alloc(1276)])), -1);
  });

  it('code 1: two equal frames, so the bytes after the TOC must be even', () => {
    assert.equal(opusPacketSamples(Buffer.from([toc(3, 1), 1, 2])), 5760);      // 2 × 60 ms
    assert.equal(opusPacketSamples(Buffer.from([toc(3, 1), 1, 2, 3])), -1);
  });

  it('code 2: the first frame length must fit in the packet (one- and two-byte lengths)', () => {
    assert.equal(opusPacketSamples(Buffer.from([toc(30, 2), 2, 0xa, 0xb, 0xc])), 960);
    assert.equal(opusPacketSamples(Buffer.from([toc(30, 2), 5, 0xa, 0xb])), -1);
    assert.equal(opusPacketSamples(Buffer.from([toc(30, 2)])), -1);
    // 252 + 4·1 = 256-byte first frame, written in two bytes
    const two = Buffer.concat([Buffer.from([toc(30, 2), 252, 1]), Buffer.alloc(300)]);
    assert.equal(opusPacketSamples(two), 960);
    assert.equal(opusPacketSamples(Buffer.from([toc(30, 2), 252])), -1);      // second length byte missing
  });

  it('code 3 CBR: M frames share the bytes evenly, after padding', () => {
    assert.equal(opusPacketSamples(Buffer.from([toc(31, 3), 3, 1, 2, 3])), 2880);     // 3 × 20 ms
    assert.equal(opusPacketSamples(Buffer.from([toc(31, 3), 3, 1, 2, 3, 4])), -1);    // 4 bytes for 3 frames
    // padding flag: one length byte (2), then 3 data bytes and 2 padding bytes
    assert.equal(opusPacketSamples(Buffer.from([toc(31, 3), 0x40 | 3, 2, 1, 2, 3, 0, 0])), 2880);
    // padding longer than the packet
    assert.equal(opusPacketSamples(Buffer.from([toc(31, 3), 0x40 | 1, 9, 1])), -1);
    // padding length 255 means 254 and another byte follows
    const pad = Buffer.concat([Buffer.from([toc(31, 3), 0x40 | 1, 255, 1, 7]), Buffer.alloc(255)]);
    assert.equal(opusPacketSamples(pad), 960);
  });

  it('code 3 VBR: M−1 coded lengths, the last frame takes the rest', () => {
    assert.equal(opusPacketSamples(Buffer.from([toc(31, 3), 0x80 | 2, 1, 9, 8, 7])), 1920);
    assert.equal(opusPacketSamples(Buffer.from([toc(31, 3), 0x80 | 2, 4, 9, 8])), -1);       // first length past the end
  });

  it('code 3: zero frames or more than 120 ms is malformed', () => {
    assert.equal(opusPacketSamples(Buffer.from([toc(31, 3), 0])), -1);
    assert.equal(opusPacketSamples(Buffer.from([toc(31, 3), 6, 1, 2, 3, 4, 5, 6])), 5760);   // 6 × 20 ms = 120 ms
    assert.equal(opusPacketSamples(Buffer.from([toc(31, 3), 7, 1, 2, 3, 4, 5, 6, 7])), -1);  // 140 ms
    assert.equal(opusPacketSamples(Buffer.from([toc(31, 3)])), -1);                          // no count byte
  });

  it('an empty packet is malformed', () => {
    assert.equal(opusPacketSamples(Buffer.alloc(0)), -1);
  });

  it('scales to the decoder rate and refuses rates where 2.5 ms is not a whole sample count', () => {
    assert.equal(opusPacketSamples(Buffer.from([toc(16, 0)]), 8000), 20);
    assert.equal(opusPacketSamples(Buffer.from([toc(16, 0)]), 44100), -1);
  });
});

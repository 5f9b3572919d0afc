// Unit tests of streamproto1 frame encoding/decoding and AUDIO validation (runtime/protocol/frame.ts).

import assert from 'node:assert/strict';
import {
  AUDIO_HEADER_BYTES, Codec, FRAME_HEADER_BYTES, FrameType, ProtocolError,
  codecId, codecName, decodeAudioPayload, decodeErrorPayload, decodeJsonPayload, decodePing, decodePong,
  encodeAudioFrame, encodeFrame, encodeJsonFrame, encodePing, encodePong, isLegalOpusFrameSamples,
  validateClientHello, validateServerHello, type AudioHeader,
} from '../../runtime/protocol/frame';
import { opusEncode } from './helpers';

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

/** Builds an AUDIO payload by hand, bypassing encodeAudioFrame's validation, to test the decoder. */
function rawAudioPayload(h: AudioHeader, data: Buffer): Buffer {
  const p = Buffer.alloc(AUDIO_HEADER_BYTES + data.length);
  p.writeUInt32BE(h.trackId, 0);
  p.writeUInt32BE(h.seq, 4);
  p.writeBigUInt64BE(BigInt(h.captureTime), 8);
  p.writeUInt32BE(h.sampleRate, 16);
  p[20] = h.channels;
  p[21] = h.codec;
  p.writeUInt16BE(h.frameSamples, 22);
  data.copy(p, AUDIO_HEADER_BYTES);
  return p;
}

function expectCode(fn: () => unknown, code: string, field?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ProtocolError, `expected ProtocolError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (field) assert.match(err.message, field);
    return true;
  });
}

const OPUS_HDR: AudioHeader = { trackId: 1, seq: 0, captureTime: 0, sampleRate: 48000, channels: 2, codec: Codec.OPUS, frameSamples: 480 };

describe('protocol/frame', () => {
  describe('the byte example of docs/streamproto1.md', () => {
    const example = hex(`
      53 50 01 03 00 00 00 1c
      00 00 00 01  00 00 00 07
      00 06 44 1c b8 2d 18 00
      00 00 bb 80  01 00 00 02
      01 00 ff ff`);
    const header: AudioHeader = {
      trackId: 1, seq: 7, captureTime: 1763740000000000, sampleRate: 48000, channels: 1, codec: Codec.PCM_S16LE, frameSamples: 2,
    };
    const samples = Buffer.alloc(4);
    samples.writeInt16LE(1, 0);
    samples.writeInt16LE(-1, 2);

    it('encodeAudioFrame produces exactly the example bytes', () => {
      assert.deepEqual(encodeAudioFrame(header, samples), example);
    });

    it('decodeAudioPayload reads the example back to the same header and samples', () => {
      assert.equal(example.readUInt32BE(4), example.length - FRAME_HEADER_BYTES);
      const { header: h, data } = decodeAudioPayload(example.subarray(FRAME_HEADER_BYTES));
      assert.deepEqual(h, header);
      assert.deepEqual([data.readInt16LE(0), data.readInt16LE(2)], [1, -1]);
    });

    it('decoded data is a view into the payload, not a copy', () => {
      const payload = Buffer.from(example.subarray(FRAME_HEADER_BYTES));
      const { data } = decodeAudioPayload(payload);
      assert.equal(data.buffer, payload.buffer);
      assert.equal(data.byteOffset, payload.byteOffset + AUDIO_HEADER_BYTES);
    });
  });

  it('captureTime round-trips exactly up to 2^53 − 1 µs', () => {
    for (const t of [0, 1, 2 ** 32 - 1, 2 ** 32, 1763740000123457, Number.MAX_SAFE_INTEGER]) {
      const f = encodeAudioFrame({ ...OPUS_HDR, captureTime: t, codec: Codec.PCM_S16LE, channels: 1, frameSamples: 1 }, Buffer.alloc(2));
      assert.equal(decodeAudioPayload(f.subarray(FRAME_HEADER_BYTES)).header.captureTime, t);
    }
  });

  it('codecName and codecId map the wire ids to the flow names and reject others', () => {
    assert.equal(codecName(Codec.PCM_S16LE), 'pcm_s16le');
    assert.equal(codecName(Codec.PCM_F32LE), 'pcm_f32le');
    assert.equal(codecName(Codec.OPUS), 'opus');
    assert.equal(codecId('opus'), Codec.OPUS);
    assert.equal(codecId('pcm_f32le'), Codec.PCM_F32LE);
    expectCode(() => codecName(3 as Codec), 'bad_audio', /codec id 3/);
    expectCode(() => codecId('mp3'), 'bad_audio', /mp3/);
  });

  describe('AUDIO validation', () => {
    const pcm: AudioHeader = { trackId: 2, seq: 9, captureTime: 5, sampleRate: 48000, channels: 2, codec: Codec.PCM_F32LE, frameSamples: 4 };

    it('accepts PCM whose length is frameSamples × channels × bytesPerSample', () => {
      const f = encodeAudioFrame(pcm, Buffer.alloc(4 * 2 * 4));
      assert.equal(decodeAudioPayload(f.subarray(FRAME_HEADER_BYTES)).data.length, 32);
    });

    it('rejects a PCM frame whose data length does not match its header (bad_audio)', () => {
      expectCode(() => decodeAudioPayload(rawAudioPayload(pcm, Buffer.alloc(31))), 'bad_audio', /frameSamples 4 × channels 2/);
      expectCode(() => decodeAudioPayload(rawAudioPayload({ ...pcm, codec: Codec.PCM_S16LE }, Buffer.alloc(32))), 'bad_audio', /needs 16/);
      expectCode(() => encodeAudioFrame(pcm, Buffer.alloc(33)), 'bad_audio');
    });

    it('rejects sampleRate, channels, codec and frameSamples out of range, naming the field', () => {
      const ok = Buffer.alloc(32);
      expectCode(() => decodeAudioPayload(rawAudioPayload({ ...pcm, sampleRate: 7999 }, ok)), 'bad_audio', /sampleRate 7999/);
      expectCode(() => decodeAudioPayload(rawAudioPayload({ ...pcm, sampleRate: 192001 }, ok)), 'bad_audio', /sampleRate/);
      expectCode(() => decodeAudioPayload(rawAudioPayload({ ...pcm, channels: 0 }, ok)), 'bad_audio', /channels 0/);
      expectCode(() => decodeAudioPayload(rawAudioPayload({ ...pcm, channels: 9 }, ok)), 'bad_audio', /channels 9/);
      expectCode(() => decodeAudioPayload(rawAudioPayload({ ...pcm, codec: 7 as Codec }, ok)), 'bad_audio', /codec 7/);
      expectCode(() => decodeAudioPayload(rawAudioPayload({ ...pcm, frameSamples: 0 }, Buffer.alloc(0))), 'bad_audio', /frameSamples 0/);
      expectCode(() => decodeAudioPayload(Buffer.alloc(AUDIO_HEADER_BYTES - 1)), 'bad_audio', /shorter than the 24-byte/);
    });

    it('encodeAudioFrame refuses trackId/seq outside u32 rather than writing garbage', () => {
      expectCode(() => encodeAudioFrame({ ...pcm, seq: 2 ** 32 }, Buffer.alloc(32)), 'bad_audio', /seq/);
      expectCode(() => encodeAudioFrame({ ...pcm, trackId: -1 }, Buffer.alloc(32)), 'bad_audio', /trackId/);
    });

    it('accepts real libopus packets of every legal duration at 48 kHz', () => {
      for (const n of [120, 240, 480, 960, 1920, 2880]) {
        const pkt = opusEncode(48000, 2, n);
        const f = encodeAudioFrame({ ...OPUS_HDR, frameSamples: n }, pkt);
        const { header, data } = decodeAudioPayload(f.subarray(FRAME_HEADER_BYTES));
        assert.equal(header.frameSamples, n);
        assert.deepEqual(data, pkt);
      }
    });

    it('accepts a real 16 kHz mono Opus packet whose frameSamples is 10 ms at 16 kHz', () => {
      const pkt = opusEncode(16000, 1, 160);
      const h = { ...OPUS_HDR, sampleRate: 16000, channels: 1, frameSamples: 160 };
      assert.equal(decodeAudioPayload(rawAudioPayload(h, pkt)).header.frameSamples, 160);
    });

    it('rejects an Opus frame whose frameSamples differs from what the packet holds (bad_opus_frame)', () => {
      const pkt10ms = opusEncode(48000, 2, 480);
      expectCode(() => decodeAudioPayload(rawAudioPayload({ ...OPUS_HDR, frameSamples: 960 }, pkt10ms)), 'bad_opus_frame', /frameSamples 960 but the Opus packet holds 480/);
    });

    it('rejects an Opus frameSamples that is not a legal duration (bad_opus_frame)', () => {
      const pkt = opusEncode(48000, 2, 480);
      expectCode(() => decodeAudioPayload(rawAudioPayload({ ...OPUS_HDR, frameSamples: 500 }, pkt)), 'bad_opus_frame', /frameSamples 500 is not 2.5, 5, 10, 20, 40 or 60 ms/);
    });

    it('rejects an empty or over-long Opus packet, a non-Opus rate and more than 2 channels (bad_opus_frame)', () => {
      expectCode(() => decodeAudioPayload(rawAudioPayload(OPUS_HDR, Buffer.alloc(0))), 'bad_opus_frame', /0 bytes/);
      const big = Buffer.alloc(3826);
      big[0] = (31 << 3) | 3; big[1] = 3;     // code 3, CBR, 3 frames: 3825 data bytes → 1275 each
      expectCode(() => decodeAudioPayload(rawAudioPayload({ ...OPUS_HDR, frameSamples: 2880 }, big)), 'bad_opus_frame', /3826 bytes/);
      const pkt = opusEncode(48000, 2, 480);
      expectCode(() => decodeAudioPayload(rawAudioPayload({ ...OPUS_HDR, sampleRate: 44100, frameSamples: 441 }, pkt)), 'bad_opus_frame', /44100 is not an Opus rate/);
      expectCode(() => decodeAudioPayload(rawAudioPayload({ ...OPUS_HDR, channels: 3 }, pkt)), 'bad_opus_frame', /channels 3/);
    });

    it('rejects an Opus packet whose TOC framing is malformed (bad_opus_frame)', () => {
      const code1Even = Buffer.from([(31 << 3) | 1, 0xaa, 0xbb, 0xcc]);   // code 1 needs an odd total length
      expectCode(() => decodeAudioPayload(rawAudioPayload({ ...OPUS_HDR, frameSamples: 1920 }, code1Even)), 'bad_opus_frame', /malformed/);
    });

    it('isLegalOpusFrameSamples knows 2.5 … 60 ms at each rate and nothing else', () => {
      assert.ok(isLegalOpusFrameSamples(120, 48000));
      assert.ok(isLegalOpusFrameSamples(2880, 48000));
      assert.ok(isLegalOpusFrameSamples(20, 8000));
      assert.ok(!isLegalOpusFrameSamples(5760, 48000));    // 120 ms: legal in Opus, not in streamproto1
      assert.ok(!isLegalOpusFrameSamples(100, 48000));
    });
  });

  describe('JSON frames', () => {
    it('encodeJsonFrame writes the header and UTF-8 JSON that decodeJsonPayload reads back', () => {
      const obj = { userId: 'zoë', n: 1, nested: { a: [1, 2] } };
      const f = encodeJsonFrame(FrameType.METADATA, obj);
      assert.deepEqual([...f.subarray(0, 4)], [0x53, 0x50, 1, FrameType.METADATA]);
      assert.equal(f.readUInt32BE(4), Buffer.byteLength(JSON.stringify(obj)));
      assert.deepEqual(decodeJsonPayload(f.subarray(FRAME_HEADER_BYTES), FrameType.METADATA), obj);
    });

    it('QOS accepts an object or an array of objects; other frames only an object', () => {
      const batch = [{ qosTimestamp: 1 }, { qosTimestamp: 2 }];
      const f = encodeJsonFrame(FrameType.QOS, batch);
      assert.deepEqual(decodeJsonPayload(f.subarray(FRAME_HEADER_BYTES), FrameType.QOS), batch);
      expectCode(() => decodeJsonPayload(Buffer.from('[{"a":1}]'), FrameType.METADATA), 'bad_json', /METADATA payload must be a JSON object$/);
      expectCode(() => decodeJsonPayload(Buffer.from('[1]'), FrameType.QOS), 'bad_json', /QOS/);
      expectCode(() => encodeJsonFrame(FrameType.HELLO, [] as never), 'bad_json', /HELLO/);
    });

    it('rejects invalid JSON, invalid UTF-8 and non-object JSON (bad_json)', () => {
      expectCode(() => decodeJsonPayload(Buffer.from('{"a":'), FrameType.METADATA), 'bad_json', /METADATA payload \(5 bytes\) is not JSON/);
      expectCode(() => decodeJsonPayload(Buffer.from([0x7b, 0xff, 0x7d]), FrameType.METADATA), 'bad_json', /not valid UTF-8/);
      expectCode(() => decodeJsonPayload(Buffer.from('"text"'), FrameType.METADATA), 'bad_json');
      expectCode(() => decodeJsonPayload(Buffer.from('null'), FrameType.HELLO), 'bad_json');
      expectCode(() => decodeJsonPayload(Buffer.alloc(0), FrameType.METADATA), 'bad_json');
    });

    it('decodeErrorPayload needs a string code and defaults a missing message to ""', () => {
      assert.deepEqual(decodeErrorPayload(Buffer.from('{"code":"unauthorized"}')), { code: 'unauthorized', message: '' });
      expectCode(() => decodeErrorPayload(Buffer.from('{"code":5}')), 'bad_json', /ERROR code/);
    });

    it('validateClientHello checks protocol, userId, role and the optional fields, naming the field', () => {
      const ok = { protocol: 'streamproto1', userId: 'alice', role: 'peer', capabilities: ['opus'], profile: {} };
      assert.equal(validateClientHello(ok).userId, 'alice');
      expectCode(() => validateClientHello({ ...ok, protocol: 'streamproto2' }), 'bad_hello', /protocol/);
      expectCode(() => validateClientHello({ ...ok, userId: 3 }), 'bad_hello', /userId/);
      expectCode(() => validateClientHello({ ...ok, userId: '' }), 'bad_hello', /userId/);
      expectCode(() => validateClientHello({ ...ok, role: 'admin' }), 'bad_hello', /role/);
      expectCode(() => validateClientHello({ ...ok, capabilities: [1] }), 'bad_hello', /capabilities/);
      expectCode(() => validateClientHello({ ...ok, token: 1 }), 'bad_hello', /token/);
      expectCode(() => validateServerHello({ protocol: 'streamproto1', sessionId: 's' }), 'bad_hello', /serverTime/);
    });

    it('validateClientHello bounds the identity fields: each limit itself is accepted, one more is bad_hello naming the field', () => {
      const ok = { protocol: 'streamproto1', userId: 'alice', role: 'peer' };
      const deep = (n: number): Record<string, unknown> => (n <= 1 ? {} : { d: deep(n - 1) });
      const atLimit: Record<string, unknown>[] = [
        { userId: 'u'.repeat(128) },
        { userId: '\u{1f3b5}'.repeat(128) },   // 128 characters, 256 UTF-16 units
        { name: 'n'.repeat(128) },
        { token: 't'.repeat(1024) },
        { capabilities: Array.from({ length: 32 }, (_, i) => `${i}`.padEnd(64, 'c')) },
        { profile: { blob: 'p'.repeat(4096 - 11) } },   // {"blob":"…"} = 4096 bytes
        { profile: deep(4) },
      ];
      for (const extra of atLimit) assert.doesNotThrow(() => validateClientHello({ ...ok, ...extra }), JSON.stringify(extra).slice(0, 60));
      const over: [Record<string, unknown>, RegExp][] = [
        [{ userId: 'u'.repeat(129) }, /^HELLO userId is longer than 128 characters \(129 bytes\)$/],
        [{ userId: 'tab\there' }, /^HELLO userId "tab\\there" contains a control character$/],
        [{ userId: 'sep\u2028' }, /userId .* contains a control character/],
        [{ name: 'n'.repeat(129) }, /^HELLO name is longer than 128 characters$/],
        [{ token: 't'.repeat(1025) }, /^HELLO token is longer than 1024 characters$/],
        [{ capabilities: Array.from({ length: 33 }, () => 'c') }, /^HELLO capabilities has 33 entries, more than 32$/],
        [{ capabilities: ['ok', 'c'.repeat(65)] }, /^HELLO capabilities\[1\] is longer than 64 characters$/],
        [{ profile: { blob: 'p'.repeat(4096 - 10) } }, /^HELLO profile is 4097 bytes as JSON, more than 4096$/],
        [{ profile: deep(5) }, /^HELLO profile is nested deeper than 4 levels$/],
        [{ profile: { a: [[[[1]]]] } }, /^HELLO profile is nested deeper than 4 levels$/],
      ];
      for (const [extra, re] of over) expectCode(() => validateClientHello({ ...ok, ...extra }), 'bad_hello', re);
    });
  });

  describe('frames in general', () => {
    it('encodeFrame writes magic, version, type and length before the payload', () => {
      const f = encodeFrame(FrameType.METADATA, Buffer.from('{}'));
      assert.deepEqual(f, hex('5350 01 02 00000002 7b7d'));
      assert.throws(() => encodeFrame(0x09 as FrameType, Buffer.alloc(0)), /0x09/);
    });

    it('PING carries t0 and PONG t0, t1, t2 as 64-bit µs', () => {
      const ping = encodePing(1763740000000001);
      assert.equal(ping.length, 16);
      assert.equal(ping[3], FrameType.PING);
      assert.equal(decodePing(ping.subarray(FRAME_HEADER_BYTES)), 1763740000000001);
      const pong = encodePong(1, 2 ** 40 + 3, 1763740000000002);
      assert.equal(pong.length, 32);
      assert.deepEqual(decodePong(pong.subarray(FRAME_HEADER_BYTES)), { t0: 1, t1: 2 ** 40 + 3, t2: 1763740000000002 });
      expectCode(() => decodePing(Buffer.alloc(7)), 'protocol', /PING payload is 7 bytes/);
      // found by the fuzzers: a t0 past 2^53 µs cannot be echoed (near 2^64 it rounds to 2^64, which encodePong refuses)
      expectCode(() => decodePing(Buffer.alloc(8, 0xff)), 'protocol', /PING t0 ffffffffffffffff is past 2\^53/);
      assert.equal(decodePing(Buffer.from('001fffffffffffff', 'hex')), Number.MAX_SAFE_INTEGER);
      expectCode(() => decodePong(Buffer.alloc(8)), 'protocol', /PONG/);
    });
  });
});

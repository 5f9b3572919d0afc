// Byte-exact tests of the event codec against hand-written events, and of the incremental parser.
import assert from 'node:assert/strict';
import {
  CONCEALED_SEQ, EventFormatError, EventParser, EventType,
  decodeEvent, encodeAudioFrameMixed, encodeMixParameters, encodeOpusPacketReceived, encodePcmPacketReceived,
  encodeProfile, encodeStreamInfo, utf8Cut255,
  type AudioEvent,
} from '../../runtime/events/codec';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// 0x01: ts 258 µs, channel 7, seq 5, CT_OPUS, stereo, 3 Opus bytes.
const OPUS = hex(`
  02 01 00 00 00 00 00 00  01  13 00 00 00
  07 00 00 00  05 00 00 00 00 00 00 00  00  02  03 00
  fc ff fe`);

// 0x02: ts 1000 µs, frame seq 0x1_0000_0002, 240 samples, 48 kHz, 2 entries:
//   channel 1, seq 9, opus mono 240, name "Bo", city "", country 82, skill 2, instrument 5
//   channel 2, concealed, opus stereo 240, name "É", city "Köln", country 0x0123, skill 0, instrument 0
const MIXED = hex(`
  e8 03 00 00 00 00 00 00  02  45 00 00 00
  02 00 00 00 01 00 00 00  f0 00  80 bb 00 00  02 00
  01 00 00 00  09 00 00 00 00 00 00 00  00  01  f0 00  02 42 6f  00  52 00  02  05
  02 00 00 00  ff ff ff ff ff ff ff ff  00  02  f0 00  02 c3 89  05 4b c3 b6 6c 6e  23 01  00  00`);

// 0x10: ts 0, server start 1763740000000000 µs, 48 kHz, 480 samples, version 1.
const STREAM_INFO = hex(`
  00 00 00 00 00 00 00 00  10  0f 00 00 00
  00 18 2d b8 1c 44 06 00  80 bb 00 00  e0 01  01`);

// 0x11: ts 5, from frame 10, master 0.5, one channel: id 3, gain 2.0, pan −0.5, muted.
const MIX_PARAMS = hex(`
  05 00 00 00 00 00 00 00  11  1b 00 00 00
  0a 00 00 00 00 00 00 00  00 00 00 3f  01 00
  03 00 00 00  00 00 00 40  00 00 00 bf  01`);

// 0x12: ts 1, channel 4, seq 7, pcm_s16le mono, 2 samples, 48 kHz, 4 bytes [1, −1].
const PCM = hex(`
  01 00 00 00 00 00 00 00  12  1c 00 00 00
  04 00 00 00  07 00 00 00 00 00 00 00  00  01  02 00  80 bb 00 00  04 00 00 00
  01 00 ff ff`);

// An event of a type this codec does not know (0x7f, 5 data bytes): readers must skip it.
const UNKNOWN = hex(`09 00 00 00 00 00 00 00  7f  05 00 00 00  aa bb cc dd ee`);

describe('event codec', () => {
  it('encodes Opus Packet Received (0x01) to the RFC bytes, little-endian', () => {
    const b = encodeOpusPacketReceived(258, { channelId: 7, seq: 5n, compression: 0, channels: 2, packet: hex('fc ff fe') });
    assert.deepEqual(b, OPUS);
  });

  it('decodes Opus Packet Received (0x01) from hand-written bytes', () => {
    const e = decodeEvent(OPUS);
    assert.ok(e && e.type === EventType.OPUS_PACKET_RECEIVED);
    assert.equal(e.timestamp, 258);
    assert.equal(e.channelId, 7);
    assert.equal(e.seq, 5n);
    assert.equal(e.compression, 0);
    assert.equal(e.channels, 2);
    assert.deepEqual(e.packet, hex('fc ff fe'));
  });

  it('encodes Audio Frame Mixed (0x02) with profiles and the concealment marker to the RFC bytes', () => {
    const b = encodeAudioFrameMixed(1000, {
      frameSeq: 0x100000002n, frameSamples: 240, sampleRate: 48000,
      entries: [
        { channelId: 1, seq: 9, compression: 0, channels: 1, frameSamples: 240, profile: { name: 'Bo', countryCode: 82, skillLevel: 2, instrument: 5 } },
        { channelId: 2, seq: null, compression: 0, channels: 2, frameSamples: 240, profile: encodeProfile({ name: 'É', city: 'Köln', countryCode: 0x123 }) },
      ],
    });
    assert.deepEqual(b, MIXED);
  });

  it('decodes Audio Frame Mixed (0x02): entries, profiles, 0xFFFFFFFFFFFFFFFF as a null seq', () => {
    const e = decodeEvent(MIXED);
    assert.ok(e && e.type === EventType.AUDIO_FRAME_MIXED);
    assert.equal(e.timestamp, 1000);
    assert.equal(e.frameSeq, 0x100000002n);
    assert.equal(e.frameSamples, 240);
    assert.equal(e.sampleRate, 48000);
    assert.deepEqual(e.entries, [
      { channelId: 1, seq: 9n, compression: 0, channels: 1, frameSamples: 240, profile: { name: 'Bo', city: '', countryCode: 82, skillLevel: 2, instrument: 5 } },
      { channelId: 2, seq: null, compression: 0, channels: 2, frameSamples: 240, profile: { name: 'É', city: 'Köln', countryCode: 0x123, skillLevel: 0, instrument: 0 } },
    ]);
  });

  it('encodes and decodes Stream Info (0x10)', () => {
    assert.deepEqual(encodeStreamInfo(0, { serverStartMicros: 1763740000000000, sampleRate: 48000, frameSamples: 480 }), STREAM_INFO);
    const e = decodeEvent(STREAM_INFO);
    assert.deepEqual(e, { type: EventType.STREAM_INFO, timestamp: 0, offset: 0, serverStartMicros: 1763740000000000, sampleRate: 48000, frameSamples: 480, version: 1 });
  });

  it('encodes and decodes Mix Parameters (0x11) with f32 gains and pans', () => {
    assert.deepEqual(encodeMixParameters(5, { fromFrameSeq: 10, master: 0.5, channels: [{ channelId: 3, gain: 2, pan: -0.5, muted: true }] }), MIX_PARAMS);
    const e = decodeEvent(MIX_PARAMS);
    assert.deepEqual(e, { type: EventType.MIX_PARAMETERS, timestamp: 5, offset: 0, fromFrameSeq: 10n, master: 0.5, channels: [{ channelId: 3, gain: 2, pan: -0.5, muted: true }] });
  });

  it('encodes and decodes PCM Packet Received (0x12)', () => {
    assert.deepEqual(encodePcmPacketReceived(1, { channelId: 4, seq: 7, codec: 0, channels: 1, frameSamples: 2, sampleRate: 48000, data: hex('01 00 ff ff') }), PCM);
    const e = decodeEvent(PCM);
    assert.ok(e && e.type === EventType.PCM_PACKET_RECEIVED);
    assert.equal(e.channelId, 4);
    assert.equal(e.seq, 7n);
    assert.equal(e.codec, 0);
    assert.equal(e.channels, 1);
    assert.equal(e.frameSamples, 2);
    assert.equal(e.sampleRate, 48000);
    assert.deepEqual(e.data, hex('01 00 ff ff'));
  });

  it('writes u64 numbers and bigints identically, including values above 2^32', () => {
    const a = encodeOpusPacketReceived(2 ** 40 + 3, { channelId: 1, seq: 2 ** 52 + 1, compression: 0, channels: 1, packet: hex('00') });
    const b = encodeOpusPacketReceived(2n ** 40n + 3n, { channelId: 1, seq: 2n ** 52n + 1n, compression: 0, channels: 1, packet: hex('00') });
    assert.deepEqual(a, b);
    const e = decodeEvent(a);
    assert.ok(e && e.type === EventType.OPUS_PACKET_RECEIVED);
    assert.equal(e.timestamp, 2 ** 40 + 3);
    assert.equal(e.seq, 2n ** 52n + 1n);
  });

  it('refuses a number seq beyond 2^53 and decodes the marker 0xFFFFFFFFFFFFFFFF as a null seq', () => {
    assert.throws(() => encodeOpusPacketReceived(0, { channelId: 1, seq: 2 ** 64, compression: 0, channels: 1, packet: hex('00') }), /seq/);
    const b = encodeAudioFrameMixed(0, { frameSeq: 0, frameSamples: 1, sampleRate: 1, entries: [{ channelId: 1, seq: CONCEALED_SEQ, compression: 0, channels: 1, frameSamples: 1, profile: {} }] });
    const e = decodeEvent(b);
    assert.ok(e && e.type === EventType.AUDIO_FRAME_MIXED);
    assert.equal(e.entries[0].seq, null);
  });

  it('cuts profile strings at 255 bytes without splitting a UTF-8 character', () => {
    assert.equal(utf8Cut255('a'.repeat(254) + 'é').length, 254);
    assert.equal(utf8Cut255('€'.repeat(85)).length, 255);
    assert.equal(utf8Cut255('€'.repeat(86)).length, 255);
    assert.equal(utf8Cut255('a' + '€'.repeat(85)).toString('utf8'), 'a' + '€'.repeat(84));
    const b = encodeAudioFrameMixed(0, { frameSeq: 0, frameSamples: 1, sampleRate: 1, entries: [{ channelId: 1, seq: 0, compression: 0, channels: 1, frameSamples: 1, profile: { name: '😀'.repeat(70), city: 'x'.repeat(300) } }] });
    const e = decodeEvent(b);
    assert.ok(e && e.type === EventType.AUDIO_FRAME_MIXED);
    assert.equal(e.entries[0].profile.name, '😀'.repeat(63)); // 63 × 4 = 252 bytes; a 64th would need 256
    assert.equal(e.entries[0].profile.city, 'x'.repeat(255));
  });

  it('rejects out-of-range fields with an error naming the field', () => {
    const base = { channelId: 1, seq: 0, compression: 0, channels: 1, packet: Buffer.alloc(0) };
    assert.throws(() => encodeOpusPacketReceived(0, { ...base, channelId: 2 ** 32 }), (e: unknown) => e instanceof EventFormatError && e.code === 'out_of_range' && /channelId/.test(e.message));
    assert.throws(() => encodeOpusPacketReceived(0, { ...base, packet: Buffer.alloc(65536) }), /packet must be at most 65535 bytes/);
    assert.throws(() => encodeMixParameters(0, { fromFrameSeq: 0, master: 1, channels: [{ channelId: 1, gain: 1, pan: 1.5, muted: false }] }), /channels\[0\]\.pan/);
    assert.throws(() => encodeAudioFrameMixed(0, { frameSeq: 0, frameSamples: 70000, sampleRate: 1, entries: [] }), /frameSamples/);
    assert.throws(() => encodeProfile({ countryCode: 70000 }), /profile\.countryCode/);
  });

  it('rejects an event whose data length disagrees with its content, naming the offset', () => {
    const bad = Buffer.from(OPUS);
    bad.writeUInt16LE(4, 13 + 14); // claims 4 Opus bytes, 3 are there
    assert.throws(() => decodeEvent(bad), (e: unknown) => e instanceof EventFormatError && e.code === 'bad_length' && e.offset === 0 && /at byte 0/.test(e.message));
    const extra = Buffer.from(MIXED);
    extra.writeUInt16LE(1, 13 + 14); // one entry declared, two present
    assert.throws(() => decodeEvent(extra), /left over/);
    assert.throws(() => decodeEvent(OPUS.subarray(0, 20)), (e: unknown) => e instanceof EventFormatError && e.code === 'truncated');
  });

  it('decodeEvent returns null for an unknown type', () => {
    assert.equal(decodeEvent(UNKNOWN), null);
  });
});

describe('EventParser', () => {
  const stream = Buffer.concat([STREAM_INFO, MIX_PARAMS, OPUS, UNKNOWN, MIXED, PCM]);
  const offsets = [0, STREAM_INFO.length, STREAM_INFO.length + MIX_PARAMS.length];
  offsets.push(offsets[2] + OPUS.length + UNKNOWN.length, offsets[2] + OPUS.length + UNKNOWN.length + MIXED.length);

  const summary = (events: AudioEvent[]): unknown[] =>
    events.map((e) => ({ ...e, ...('packet' in e ? { packet: [...e.packet] } : {}), ...('data' in e ? { data: [...e.data] } : {}) }));

  const whole = new EventParser().push(stream);

  it('parses back-to-back events, skipping an unknown type by its length and keeping each offset', () => {
    assert.deepEqual(whole.map((e) => e.type), [0x10, 0x11, 0x01, 0x02, 0x12]);
    assert.deepEqual(whole.map((e) => e.offset), [offsets[0], offsets[1], offsets[2], offsets[3], offsets[4]]);
    const p = new EventParser();
    p.push(stream);
    assert.equal(p.skipped, 1);
    assert.equal(p.end(), null);
  });

  it('gives the same events when the stream is split at every offset', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const p = new EventParser();
      const got = [...p.push(stream.subarray(0, cut)), ...p.push(stream.subarray(cut))];
      assert.deepEqual(summary(got), summary(whole), `split at ${cut}`);
      assert.equal(p.end(), null);
    }
  });

  it('gives the same events when fed one byte at a time', () => {
    const p = new EventParser();
    const got: AudioEvent[] = [];
    for (let i = 0; i < stream.length; i++) got.push(...p.push(stream.subarray(i, i + 1)));
    assert.deepEqual(summary(got), summary(whole));
  });

  it('end() reports a truncated last event with the offset where it starts', () => {
    const p = new EventParser();
    p.push(stream.subarray(0, offsets[3] + 20));
    assert.deepEqual(p.end(), { offset: offsets[3], type: 0x02, receivedBytes: 20, expectedBytes: MIXED.length });
    const q = new EventParser();
    q.push(stream.subarray(0, offsets[1] + 5));
    assert.deepEqual(q.end(), { offset: offsets[1], type: null, receivedBytes: 5, expectedBytes: null });
  });

  it('throws for an event larger than maxEventBytes, naming its offset, and stays failed', () => {
    const p = new EventParser({ maxEventBytes: 40 });
    assert.throws(() => p.push(stream), (e: unknown) => e instanceof EventFormatError && e.code === 'event_too_large' && e.offset === offsets[3]);
    assert.throws(() => p.push(OPUS), EventFormatError);
  });

  it('skips a huge unknown event without buffering it', () => {
    const header = Buffer.alloc(13);
    header[8] = 0x99;
    header.writeUInt32LE(100 * 1024 * 1024, 9);
    const p = new EventParser({ maxEventBytes: 1024 });
    assert.deepEqual(p.push(header), []);
    const chunk = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < 100; i++) p.push(chunk);
    assert.deepEqual(p.push(OPUS).map((e) => e.type), [0x01]);
  });
});

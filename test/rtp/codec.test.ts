// runtime/rtp packet, l16, sdp: round trips and every malformed case (each a typed error naming what is wrong).

import assert from 'node:assert/strict';
import { RtpFormatError, buildRtp, parseRtp, rtpPacketBytes, type RtpPacket } from '../../runtime/rtp/packet';
import { f32ToL16, f32ToL24, l16ToF32, l24ToF32 } from '../../runtime/rtp/l16';
import { RtpPayloadTable, SdpError, opusSendsStereo, parseSdp, rtpCodecOf, writeSdp } from '../../runtime/rtp/sdp';

function rtpError(buf: Buffer, reason: string): void {
  assert.throws(() => parseRtp(buf), (e: unknown) => e instanceof RtpFormatError && e.reason === reason && /rtp: /.test(e.message));
}

describe('rtp/packet', () => {
  it('round-trips every header field, CSRCs, and the payload as a view of the datagram', () => {
    const payload = Buffer.from([1, 2, 3, 4, 5]);
    const fields = { marker: true, payloadType: 97, seq: 65535, timestamp: 0xfffffff0, ssrc: 0xdeadbeef, csrc: [1, 0xffffffff] };
    const b = buildRtp(fields, payload);
    assert.equal(b.length, rtpPacketBytes(fields, 5));
    const p = parseRtp(b);
    assert.deepEqual({ ...p, payload: [...p.payload] }, { ...fields, extensionProfile: -1, payload: [1, 2, 3, 4, 5] });
    assert.equal(p.payload.buffer, b.buffer);
    assert.equal(p.payload.byteOffset, b.byteOffset + 20);
  });

  it('builds into a caller Buffer and reuses a parse target; seq and timestamp wrap', () => {
    const out = Buffer.alloc(100);
    const b = buildRtp({ payloadType: 96, seq: 65536 + 7, timestamp: 2 ** 32 + 9, ssrc: 5 }, Buffer.from([9]), out);
    assert.equal(b.buffer, out.buffer);
    assert.equal(b.length, 13);
    const target = { csrc: [1, 2, 3] } as unknown as RtpPacket;
    const p = parseRtp(b, target);
    assert.equal(p, target);
    assert.deepEqual(p.csrc, []);
    assert.equal(p.seq, 7);
    assert.equal(p.timestamp, 9);
    assert.equal(p.marker, false);
    assert.throws(() => buildRtp({ payloadType: 96, seq: 0, timestamp: 0, ssrc: 0 }, Buffer.alloc(100), out), RangeError);
    assert.throws(() => buildRtp({ payloadType: 128, seq: 0, timestamp: 0, ssrc: 0 }, Buffer.alloc(1)), RangeError);
  });

  it('skips a header extension and strips padding', () => {
    const b = Buffer.from([0xb0, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xbe, 0xde, 0, 1, 9, 9, 9, 9, 0xaa, 0xbb, 0, 0, 3]);
    const p = parseRtp(b);
    assert.equal(p.extensionProfile, 0xbede);
    assert.deepEqual([...p.payload], [0xaa, 0xbb]);
  });

  it('refuses every malformed datagram with RtpFormatError and its reason', () => {
    const ok = buildRtp({ payloadType: 96, seq: 1, timestamp: 2, ssrc: 3 }, Buffer.from([1, 2]));
    assert.throws(() => parseRtp('x' as unknown as Buffer), RtpFormatError);
    rtpError(ok.subarray(0, 11), 'short');
    rtpError(Buffer.concat([Buffer.from([0x40]), ok.subarray(1)]), 'version');
    rtpError(Buffer.concat([Buffer.from([0x80, 200]), ok.subarray(2)]), 'rtcp');
    rtpError(Buffer.concat([Buffer.from([0x82]), ok.subarray(1)]), 'csrc'); // 2 CSRCs, 2 payload bytes
    rtpError(Buffer.concat([Buffer.from([0x90]), ok.subarray(1)]), 'extension'); // X with 2 bytes after the header
    const ext = Buffer.from([0x90, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 2, 1, 2, 3, 4]);
    rtpError(ext, 'extension'); // 2 words announced, 1 there
    rtpError(Buffer.from([0xa0, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 1, 0]), 'padding'); // count 0
    rtpError(Buffer.from([0xa0, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 1, 9]), 'padding'); // eats the header
    // Fuzz: whatever the bytes, only RtpFormatError.
    let seed = 1;
    for (let i = 0; i < 2000; i++) {
      const len = (seed = (seed * 1103515245 + 12345) >>> 0) % 40;
      const b = Buffer.alloc(len);
      for (let j = 0; j < len; j++) b[j] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
      if (len > 0) b[0] = (b[0] & 0x3f) | 0x80;
      try { parseRtp(b); } catch (e) { assert.ok(e instanceof RtpFormatError, String(e)); }
    }
  });
});

describe('rtp/l16', () => {
  it('L16 and L24 are big-endian, and s → f32 → s is exact for every extreme', () => {
    const l16 = Buffer.from([0x7f, 0xff, 0x80, 0x00, 0x00, 0x01, 0xff, 0xff]);
    const f = l16ToF32(l16);
    assert.deepEqual([...f], [32767 / 32768, -1, 1 / 32768, -1 / 32768]);
    assert.deepEqual(Buffer.from(f32ToL16(f)), l16);
    const l24 = Buffer.from([0x7f, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0xff, 0xff]);
    const g = l24ToF32(l24);
    assert.deepEqual([...g], [8388607 / 8388608, -1, 1 / 8388608, -1 / 8388608]);
    assert.deepEqual(Buffer.from(f32ToL24(g)), l24);
  });

  it('clips, zeroes NaN, and writes into given outputs at offsets without allocating', () => {
    assert.deepEqual([...f32ToL16(new Float32Array([2, -2, NaN]))], [0x7f, 0xff, 0x80, 0x00, 0, 0]);
    assert.deepEqual([...f32ToL24(new Float32Array([2, -2, NaN]))], [0x7f, 0xff, 0xff, 0x80, 0, 0, 0, 0, 0]);
    const out = new Float32Array(6);
    const r = l24ToF32(Buffer.from([0, 0, 1, 0xff, 0xff, 0xff]), out, 3);
    assert.equal(r, out);
    assert.deepEqual([...out], [0, 0, 0, 1 / 8388608, -1 / 8388608, 0]);
    const bytes = Buffer.alloc(4);
    assert.equal(f32ToL16(new Float32Array([0, 0.5, -0.5]), bytes, 1, 2), bytes);
    assert.deepEqual([...bytes], [0x40, 0x00, 0xc0, 0x00]);
    // Every s16 value survives the round trip.
    const all = Buffer.alloc(65536 * 2);
    for (let v = -32768; v < 32768; v++) all.writeInt16BE(v, (v + 32768) * 2);
    assert.deepEqual(Buffer.from(f32ToL16(l16ToF32(all))), all);
  });
});

const FFMPEG_OPUS = `v=0
o=- 0 0 IN IP4 127.0.0.1
s=No Name
c=IN IP4 127.0.0.1
t=0 0
a=tool:libavformat 59.27.100
m=audio 5004 RTP/AVP 97
b=AS:64
a=rtpmap:97 opus/48000/2
a=fmtp:97 sprop-stereo=1
`;

describe('rtp/sdp', () => {
  it('reads ffmpeg\'s Opus SDP', () => {
    const s = parseSdp(FFMPEG_OPUS);
    assert.equal(s.name, 'No Name');
    assert.equal(s.audio.length, 1);
    const a = s.audio[0];
    assert.deepEqual(a.connection, { addrType: 'IP4', address: '127.0.0.1', multicast: false });
    assert.equal(a.port, 5004);
    assert.deepEqual(a.formats, [{ payloadType: 97, encoding: 'opus', clockRate: 48000, channels: 2, fmtp: { 'sprop-stereo': '1' } }]);
    assert.equal(rtpCodecOf(a.formats[0]), 'opus');
    assert.equal(opusSendsStereo(a.formats[0]), true);
  });

  it('reads several audio m-lines (media-level c=, ptime, L16/L24, static PT 11), skipping video and PCMU', () => {
    const s = parseSdp([
      'v=0', 'o=- 1 1 IN IP4 10.0.0.1', 's=AES67', 'c=IN IP4 239.69.1.2/32', 't=0 0',
      'm=video 5000 RTP/AVP 96', 'a=rtpmap:96 H264/90000', 'c=IN IP4 10.9.9.9',
      'm=audio 5004 RTP/AVP 98 0 11', 'a=rtpmap:98 L24/48000/8', 'a=ptime:1', 'a=maxptime:4',
      'm=audio 5006 RTP/AVP 96', 'c=IN IP6 ff15::1', 'a=rtpmap:96 L16/44100', 'a=fmtp:96 Foo=Bar; baz',
    ].join('\r\n'));
    assert.equal(s.audio.length, 2);
    const [a, b] = s.audio;
    assert.deepEqual(a.connection, { addrType: 'IP4', address: '239.69.1.2', ttl: 32, multicast: true });
    assert.equal(a.ptimeMs, 1);
    assert.equal(a.maxptimeMs, 4);
    assert.deepEqual(a.formats.map((f) => [f.payloadType, f.encoding, f.clockRate, f.channels]), [[98, 'L24', 48000, 8], [11, 'L16', 44100, 1]]);
    assert.deepEqual(b.connection, { addrType: 'IP6', address: 'ff15::1', multicast: true });
    assert.deepEqual(b.formats, [{ payloadType: 96, encoding: 'L16', clockRate: 44100, channels: 1, fmtp: { foo: 'Bar', baz: '' } }]);
    assert.equal(rtpCodecOf(b.formats[0]), 'L16');
    assert.equal(rtpCodecOf({ payloadType: 96, encoding: 'opus', clockRate: 48000, channels: 1, fmtp: {} }), null);
    assert.equal(rtpCodecOf({ payloadType: 0, encoding: 'PCMU', clockRate: 8000, channels: 1, fmtp: {} }), null);
  });

  it('refuses a malformed SDP with SdpError naming the line', () => {
    const base = ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=x', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 5004 RTP/AVP 97', 'a=rtpmap:97 opus/48000/2'];
    const bad = (i: number, line: string, re: RegExp): void => {
      const l = [...base];
      l[i] = line;
      assert.throws(() => parseSdp(l.join('\n')), (e: unknown) => e instanceof SdpError && re.test(e.message), line);
    };
    bad(0, 'v=1', /line 1: must start with v=0/);
    bad(3, 'c=IN IP4 300.1.1.1', /line 4: c= address "300.1.1.1"/);
    bad(3, 'c=IN IP4', /line 4: c= must be/);
    bad(3, 'c=IN IP4 239.1.1.1/999', /line 4: c= TTL/);
    bad(5, 'm=audio 70000 RTP/AVP 97', /line 6: m=audio port/);
    bad(5, 'm=audio 5004 RTP/SAVP 97', /line 6: m=audio transport/);
    bad(5, 'm=audio 5004 RTP/AVP 128', /line 6: m=audio payload type "128"/);
    bad(5, 'm=audio 5004', /line 6: m= needs/);
    bad(6, 'a=rtpmap:97 opus', /line 7: a=rtpmap must be/);
    bad(6, 'a=rtpmap:97 L16/0', /line 7: a=rtpmap clock rate/);
    // found by the fuzzers (sap-sdp): a clock rate of 30 or 400 digits was taken as 1e30 / Infinity
    bad(6, `a=rtpmap:97 L24/${'9'.repeat(30)}/2`, /line 7: a=rtpmap clock rate 9+ is not 1-4294967295/);
    bad(6, `a=rtpmap:97 L24/${'9'.repeat(400)}/2`, /line 7: a=rtpmap clock rate/);
    bad(6, 'a=rtpmap:97 L24/4294967296/2', /line 7: a=rtpmap clock rate/);
    bad(6, 'a=ptime:abc', /line 7: a=ptime "abc"/);
    bad(6, 'a=fmtp:x', /line 7: a=fmtp must be/);
    bad(6, 'garbage', /line 7: not "x=value"/);
    bad(6, 'a=sendonly', /dynamic payload type 97 of m=audio 5004 has no a=rtpmap/);
    assert.throws(() => parseSdp(''), SdpError);
    assert.throws(() => parseSdp(5 as unknown as string), SdpError);
  });

  it('writes the mix SDP (Opus unicast, L24 multicast with TTL) that it reads back', () => {
    const opus = writeSdp({ codec: 'opus', address: '127.0.0.1', port: 5006, channels: 2, ptimeMs: 20 });
    assert.match(opus, /\r\n$/);
    const a = parseSdp(opus).audio[0];
    assert.equal(a.port, 5006);
    assert.equal(a.ptimeMs, 20);
    assert.deepEqual(a.formats[0], { payloadType: 96, encoding: 'opus', clockRate: 48000, channels: 2, fmtp: { stereo: '1', 'sprop-stereo': '1' } });
    const l24 = parseSdp(writeSdp({ codec: 'L24', address: '239.255.1.1', port: 5008, channels: 2, sampleRate: 44100, ptimeMs: 1, payloadType: 100, ttl: 16, sessionName: 'a\r\nb' }));
    assert.equal(l24.name, 'a  b');
    assert.deepEqual(l24.audio[0].connection, { addrType: 'IP4', address: '239.255.1.1', ttl: 16, multicast: true });
    assert.deepEqual(l24.audio[0].formats[0], { payloadType: 100, encoding: 'L24', clockRate: 44100, channels: 2, fmtp: {} });
    assert.equal(l24.audio[0].ptimeMs, 1);
    assert.throws(() => writeSdp({ codec: 'opus', address: 'host', port: 1, channels: 2, ptimeMs: 20 }), /address "host"/);
    assert.throws(() => writeSdp({ codec: 'opus', address: '::1', port: 0, channels: 2, ptimeMs: 20 }), /port 0/);
    assert.throws(() => writeSdp({ codec: 'opus', address: '::1', port: 1, channels: 3, ptimeMs: 20 }), /channels 3/);
    assert.throws(() => writeSdp({ codec: 'L24', address: '::1', port: 1, channels: 2, ptimeMs: 0 }), /ptimeMs 0/);
    assert.throws(() => writeSdp({ codec: 'L24', address: '::1', port: 1, channels: 2, ptimeMs: 1, payloadType: 11 }), /payloadType 11/);
  });

  it('RtpPayloadTable: Opus on every dynamic PT without an SDP, else the SDP\'s decodable formats', () => {
    const any = new RtpPayloadTable();
    assert.deepEqual(any.payloadTypes(), Array.from({ length: 32 }, (_, i) => 96 + i));
    assert.deepEqual(any.get(97), { payloadType: 97, codec: 'opus', clockRate: 48000, channels: 2 });
    assert.equal(any.get(0), null);
    assert.equal(any.get(95), null);
    const t = new RtpPayloadTable(parseSdp([
      'v=0', 's=x', 'c=IN IP4 127.0.0.1', 'm=audio 5004 RTP/AVP 97 98 0 11', 'a=rtpmap:97 opus/48000/2',
      'a=rtpmap:98 L24/96000/6', 'm=audio 5006 RTP/AVP 97 99', 'a=rtpmap:97 L16/8000', 'a=rtpmap:99 opus/48000/2', 'a=fmtp:99 sprop-stereo=1',
    ].join('\n')));
    assert.deepEqual(t.payloadTypes(), [11, 97, 98, 99]);
    assert.deepEqual(t.get(97), { payloadType: 97, codec: 'opus', clockRate: 48000, channels: 1 });
    assert.deepEqual(t.get(98), { payloadType: 98, codec: 'L24', clockRate: 96000, channels: 6 });
    assert.deepEqual(t.get(99), { payloadType: 99, codec: 'opus', clockRate: 48000, channels: 2 });
    assert.deepEqual(t.get(11), { payloadType: 11, codec: 'L16', clockRate: 44100, channels: 1 });
    assert.equal(t.get(96), null);
    assert.equal(t.get(0), null);
    assert.equal(new RtpPayloadTable(parseSdp(FFMPEG_OPUS).audio[0]).get(97)?.channels, 2);
  });
});

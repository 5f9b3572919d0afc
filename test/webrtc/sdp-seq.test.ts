// The hub's pure parts: the offer it reads, the answer fmtp it writes, the 16-bit RTP seq on the shared unwrapper,
// NTP times.
import assert from 'node:assert/strict';
import { readOffer, shapeAnswer, SdpError, ntpToMicros, RtcPeer } from '../../runtime/webrtc';
import type { RtpPacket } from 'werift';
import { SeqUnwrapper, wireSeq, extendRtpSeq } from '../../runtime/seq';

const offer = (audio: string, eol = '\r\n') => ['v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0', ...audio.split('\n')].join(eol) + eol;

describe('webrtc sdp: the offer read, the answer shaped', () => {
  it('finds Opus on an audio m-line and its stereo flag, with \\r\\n or \\n line ends', () => {
    const a = 'm=audio 9 UDP/TLS/RTP/SAVPF 111 0\na=rtpmap:111 opus/48000/2\na=fmtp:111 minptime=10;useinbandfec=1;stereo=1\na=rtpmap:0 PCMU/8000';
    assert.deepEqual(readOffer(offer(a)), { opusPayloadType: 111, stereo: true, mLines: 1 });
    assert.deepEqual(readOffer(offer(a.replace(';stereo=1', ''), '\n')), { opusPayloadType: 111, stereo: false, mLines: 1 });
    // stereo=1 of another payload type is not Opus's.
    const other = 'm=audio 9 UDP/TLS/RTP/SAVPF 111 96\na=rtpmap:111 opus/48000/2\na=rtpmap:96 L16/48000/2\na=fmtp:96 stereo=1';
    assert.equal(readOffer(offer(other)).stereo, false);
    // Opus on the second audio m-line, a video one first.
    const two = 'm=video 9 UDP/TLS/RTP/SAVPF 96\na=rtpmap:96 VP8/90000\nm=audio 9 UDP/TLS/RTP/SAVPF 109\na=rtpmap:109 OPUS/48000/2';
    assert.deepEqual(readOffer(offer(two)), { opusPayloadType: 109, stereo: false, mLines: 2 });
  });

  it('refuses, naming sdp: no v=0, no m-line, no Opus, a broken m=audio line, too long', () => {
    const bad = ['hello', 'v=0\r\ns=-\r\n', offer('m=audio 9 UDP/TLS/RTP/SAVPF 0\na=rtpmap:0 PCMU/8000'), offer('m=audio x\na=rtpmap:111 opus/48000/2'),
      offer('m=video 9 UDP/TLS/RTP/SAVPF 111\na=rtpmap:111 opus/48000/2'), 'v=0\r\n' + 'a=x\r\n'.repeat(20000)];
    for (const s of bad) assert.throws(() => readOffer(s), (e: Error) => e instanceof SdpError && /^sdp: /.test(e.message), s.slice(0, 40));
  });

  it('writes the answer\'s Opus fmtp (stereo only when asked) and a=ptime:10, replacing werift\'s or adding one', () => {
    const answer = offer('m=audio 9 UDP/TLS/RTP/SAVPF 111\na=rtpmap:111 opus/48000/2\na=fmtp:111 minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1\na=sendrecv');
    const mono = shapeAnswer(answer, false);
    assert.match(mono, /\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=ptime:10\r\n/);
    assert.doesNotMatch(mono, /stereo/);
    assert.match(shapeAnswer(answer, true), /a=fmtp:111 minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1\r\n/);
    const none = shapeAnswer(offer('m=audio 9 UDP/TLS/RTP/SAVPF 111\na=rtpmap:111 opus/48000/2\na=sendrecv'), false);
    assert.match(none, /a=rtpmap:111 opus\/48000\/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=ptime:10\r\na=sendrecv/);
    assert.equal(mono.split('a=fmtp:').length, 2, 'one fmtp line');
  });
});

describe('webrtc rtp: 16-bit seqs on the shared unwrapper, NTP times', () => {
  it('extends across the 16-bit wrap, both ways, to u32 seqs +1 each', () => {
    const u = new SeqUnwrapper();
    const out: number[] = [];
    for (const s of [65533, 65534, 65535, 0, 1, 2]) out.push(wireSeq(extendRtpSeq(u, s)));
    assert.deepEqual(out, [65533, 65534, 65535, 65536, 65537, 65538]);
    // A late packet from before the wrap: behind the highest, not 65536 ahead.
    assert.equal(extendRtpSeq(u, 65535), 65535);
    assert.equal(u.highest, 65538);
    // Many wraps in steps of 1000 (the count goes on from 65539 = 65536 + 3).
    let ext = 0;
    let i = 3;
    for (; i < 3 * 65536; i += 1000) ext = extendRtpSeq(u, i & 0xffff);
    assert.equal(ext, i - 1000 + 65536);
  });

  it('reads NTP timestamps as µs since the Unix epoch (binary fraction)', () => {
    const unixS = 1_796_000_000;
    const ntp = (BigInt(unixS + 2208988800) << 32n) | 0x80000000n; // + 0.5 s
    assert.equal(ntpToMicros(ntp), unixS * 1e6 + 500_000);
  });

  it('numbers the mix per peer: seq +1, timestamp +frameSamples, contiguous through a late tick\'s burst, moved on after a pause; a fresh packet each time', () => {
    const sent: RtpPacket[] = [];
    const peer = new RtcPeer('id', null as never, { connectionId: 'webrtc-1', userId: 'u', name: 'u', room: 'main', publish: false, listen: true, stereo: false, remote: '', state: 'connected', connectedAt: 0, joinedAt: 0 },
      { audio: () => undefined, rtt: () => undefined, badPacket: () => undefined });
    peer.sender = { sendRtp: (p: RtpPacket) => { sent.push(p); return Promise.resolve(); } } as never;
    const payload = Buffer.from([0xf8, 1, 2]);
    let t = 1000;
    for (let i = 0; i < 5; i++) peer.send(payload, 480, (t += 10));
    t += 200; // a late tick (200 ms), then the clock's catch-up burst
    for (let i = 0; i < 20; i++) peer.send(payload, 480, t);
    t += 2000; // the room went quiet for 2 s
    peer.send(payload, 480, t);
    const ts = sent.map((p) => p.header.timestamp);
    const seq = sent.map((p) => p.header.sequenceNumber);
    for (let i = 1; i < sent.length; i++) assert.equal(seq[i], (seq[i - 1] + 1) & 0xffff);
    for (let i = 1; i < 25; i++) assert.equal((ts[i] - ts[i - 1] + 4294967296) % 4294967296, 480, `frame ${i}`);
    assert.equal((ts[25] - ts[24] + 4294967296) % 4294967296, 96000, 'the 2 s pause in the timestamps');
    assert.equal(sent[0].header.marker, true);
    assert.equal(sent[1].header.marker, false);
    assert.equal(sent[25].header.marker, true, 'a talkspurt after the pause');
    assert.equal(new Set(sent).size, sent.length, 'one packet object per send');
    assert.ok(sent.every((p) => p.payload === payload), 'the payload shared, not copied');
  });
});

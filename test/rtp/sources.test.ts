// runtime/rtp/sources RtpSourceTable: sources told apart by SSRC and address, each drop reason counted, the
// mapping to userIds, the source limit, idle expiry, and the RR it answers with.

import assert from 'node:assert/strict';
import { OpusEncoder } from '../../runtime/audio/opus';
import { buildRtp } from '../../runtime/rtp/packet';
import { parseRtcp } from '../../runtime/rtp/rtcp';
import { RtpPayloadTable, parseSdp } from '../../runtime/rtp/sdp';
import { RtpSourceTable } from '../../runtime/rtp/sources';

const enc = new OpusEncoder({ channels: 1, frameSamples: 480 });
const OPUS = enc.encode(Buffer.alloc(480 * 4));

function pkt(ssrc: number, seq: number, pt = 97, payload: Buffer = OPUS): Buffer {
  return buildRtp({ payloadType: pt, seq, timestamp: seq * 480, ssrc }, payload);
}

describe('rtp/sources RtpSourceTable', () => {
  it('tells sources apart by SSRC and address, maps userIds, and counts each drop reason', () => {
    const t = new RtpSourceTable({ payloads: new RtpPayloadTable(), users: new Map([[1, 'alice']]) });
    const a = t.accept(pkt(1, 10), '10.0.0.1', 5000, 0);
    assert.ok(a);
    assert.equal(a.userId, 'alice');
    assert.equal(t.packet.seq, 10);
    assert.equal(t.packet.payload.length, OPUS.length);
    assert.equal(t.accept(pkt(1, 11), '10.0.0.1', 5000, 10000), a);
    const b = t.accept(pkt(1, 500), '10.0.0.2', 5000, 0); // same SSRC, another sender
    const c = t.accept(pkt(0xab, 1, 120), '10.0.0.1', 5000, 0);
    assert.ok(b && c && b !== a);
    assert.equal(c.userId, 'rtp-000000ab');
    assert.equal(t.size, 3);
    assert.equal(a.packets, 2);
    assert.equal(t.accept(Buffer.from([1, 2, 3]), '10.0.0.1', 5000, 0), null);
    assert.equal(t.accept(pkt(2, 1, 0), '10.0.0.1', 5000, 0), null); // PCMU: not taken
    assert.equal(t.accept(pkt(1, 12, 98), '10.0.0.1', 5000, 0), null); // the source changed its PT
    assert.equal(t.accept(pkt(3, 1, 97, Buffer.from([0x03])), '10.0.0.1', 5000, 0), null); // code 3 without a count byte
    assert.equal(t.accept(pkt(3, 1, 97, Buffer.alloc(0)), '10.0.0.1', 5000, 0), null);
    assert.deepEqual(t.dropped, { malformed: 1, 'payload-type': 2, 'opus-toc': 2, 'pcm-size': 0, 'too-many-sources': 0 });
    assert.match(t.lastDropDetail, /Opus packet of 0 bytes/);
    assert.equal(t.size, 3);
  });

  it('maps userIds by SSRC, then address:port, then address; remove() forgets one source', () => {
    const t = new RtpSourceTable({
      payloads: new RtpPayloadTable(), users: new Map([[7, 'by-ssrc']]),
      usersByAddress: new Map([['10.0.0.1:5000', 'by-address-port'], ['10.0.0.1', 'by-address']]),
    });
    assert.equal(t.accept(pkt(7, 1), '10.0.0.1', 5000, 0)?.userId, 'by-ssrc');
    assert.equal(t.accept(pkt(8, 1), '10.0.0.1', 5000, 0)?.userId, 'by-address-port');
    const c = t.accept(pkt(8, 1), '10.0.0.1', 5002, 0);
    assert.equal(c?.userId, 'by-address');
    assert.equal(t.accept(pkt(8, 1), '10.0.0.2', 5000, 0)?.userId, 'rtp-00000008');
    assert.equal(t.size, 4);
    assert.ok(t.remove(c!));
    assert.equal(t.remove(c!), false);
    assert.equal(t.size, 3);
    assert.equal(t.find(8, '10.0.0.1', 5002), undefined);
    assert.ok(t.find(8, '10.0.0.1', 5000));
  });

  it('takes only whole L16 / L24 frames of the SDP\'s channel count', () => {
    const t = new RtpSourceTable({ payloads: new RtpPayloadTable(parseSdp('v=0\nm=audio 5004 RTP/AVP 98 99\na=rtpmap:98 L24/48000/2\na=rtpmap:99 L16/8000/3')) });
    assert.ok(t.accept(pkt(1, 1, 98, Buffer.alloc(6 * 48)), '::1', 1, 0));
    assert.equal(t.accept(pkt(2, 1, 98, Buffer.alloc(9)), '::1', 1, 0), null);
    assert.ok(t.accept(pkt(3, 1, 99, Buffer.alloc(12)), '::1', 1, 0));
    assert.equal(t.accept(pkt(4, 1, 99, Buffer.alloc(8)), '::1', 1, 0), null);
    assert.equal(t.accept(pkt(5, 1, 97), '::1', 1, 0), null);
    assert.deepEqual(t.dropped, { malformed: 0, 'payload-type': 1, 'opus-toc': 0, 'pcm-size': 2, 'too-many-sources': 0 });
  });

  it('refuses sources past the limit, and forgets idle ones', () => {
    const t = new RtpSourceTable({ payloads: new RtpPayloadTable(), maxSources: 2 });
    assert.ok(t.accept(pkt(1, 1), 'a', 1, 0));
    assert.ok(t.accept(pkt(2, 1), 'a', 1, 0));
    assert.equal(t.accept(pkt(3, 1), 'a', 1, 0), null);
    assert.equal(t.dropped['too-many-sources'], 1);
    assert.ok(t.accept(pkt(1, 2), 'a', 1, 2_000_000));
    const gone = t.expire(2_500_000, 1_000_000);
    assert.deepEqual(gone.map((s) => s.ssrc), [2]);
    assert.equal(t.size, 1);
    assert.ok(t.accept(pkt(3, 1), 'a', 1, 2_500_000));
    assert.deepEqual(t.sources().map((s) => s.ssrc).sort(), [1, 3]);
    assert.throws(() => new RtpSourceTable({ payloads: new RtpPayloadTable(), maxSources: 0 }), /maxSources 0/);
  });

  it('takes at most maxPerAddress sources from one sender address, any port: a host spraying SSRCs leaves the others room', () => {
    const t = new RtpSourceTable({ payloads: new RtpPayloadTable(), maxSources: 8, maxPerAddress: 3 });
    // the flood: 50 SSRCs, each from a port of its own, from one host
    for (let i = 0; i < 50; i++) t.accept(pkt(0x1000 + i, 1), '10.0.0.66', 40000 + i, 0);
    assert.equal(t.size, 3);
    assert.equal(t.dropped['too-many-sources'], 47);
    assert.match(t.lastDropDetail, /3 from 10\.0\.0\.66 already/);
    // the flooder's sources already in go on; other hosts get in up to the whole table
    assert.ok(t.accept(pkt(0x1000, 2), '10.0.0.66', 40000, 1));
    for (let h = 1; h <= 5; h++) assert.ok(t.accept(pkt(h, 1), `10.0.0.${h}`, 5004, 0), `host ${h}`);
    assert.equal(t.size, 8);
    assert.equal(t.accept(pkt(6, 1), '10.0.0.6', 5004, 0), null, 'the whole table is full');
    // a flood source that ends (expired, or its BYE) gives its host's place back
    const gone = t.expire(6_000_000, 5_000_000).filter((s) => s.address === '10.0.0.66');
    assert.equal(gone.length, 3);
    assert.ok(t.accept(pkt(0x2000, 1), '10.0.0.66', 40000, 6_000_000));
    const one = t.find(0x2000, '10.0.0.66', 40000)!;
    assert.ok(t.remove(one));
    for (let i = 0; i < 3; i++) assert.ok(t.accept(pkt(0x3000 + i, 1), '10.0.0.66', 41000 + i, 6_000_000), `place ${i} back`);
    assert.equal(t.accept(pkt(0x4000, 1), '10.0.0.66', 42000, 6_000_000), null);
    assert.throws(() => new RtpSourceTable({ payloads: new RtpPayloadTable(), maxPerAddress: 0 }), /maxPerAddress 0/);
  });

  it('answers each sender with a compound RR (its loss, its LSR) and SDES CNAME', () => {
    const t = new RtpSourceTable({ payloads: new RtpPayloadTable() });
    let src = null;
    for (const seq of [1, 2, 4, 5]) src = t.accept(pkt(0x77, seq), '10.0.0.9', 6000, seq * 10000);
    assert.ok(src);
    t.onSenderReport(0x77, '10.0.0.9', 0x00010002, 0x00030000, 50000);
    t.onSenderReport(0x77, '10.0.0.8', 0xffffffff, 0xffffffff, 50000); // another address: not this source
    const [rr, sdes] = parseRtcp(t.receiverReport(src, 0x1234, 'xcast@here', 50000 + 1_000_000));
    assert.ok(rr.type === 'rr');
    assert.equal(rr.ssrc, 0x1234);
    assert.deepEqual({ ...rr.reports[0], jitter: 0 }, { ssrc: 0x77, fractionLost: 51, cumulativeLost: 1, highestSeq: 5, jitter: 0, lsr: 0x00020003, dlsr: 65536 });
    assert.deepEqual(sdes, { type: 'sdes', chunks: [{ ssrc: 0x1234, cname: 'xcast@here' }] });
  });
});

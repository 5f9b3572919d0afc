// runtime/rtp/rtcp: SR / RR / SDES / BYE build and parse, compound packets, every malformed case, and the
// receiver-report statistics, and RtpSender's numbering and SR (RFC 3550 A.3 loss, A.8 jitter, LSR / DLSR) against hand-computed values.

import assert from 'node:assert/strict';
import {
  RtcpFormatError, RtpReceiverStats, buildBye, buildCompound, buildReceiverReport, buildSdesCname, buildSenderReport,
  ntpFromUnixMs, ntpMiddle, parseRtcp, type ReportBlock,
} from '../../runtime/rtp/rtcp';
import { parseRtp } from '../../runtime/rtp/packet';
import { RtpSender } from '../../runtime/rtp/sender';

const BLOCK: ReportBlock = { ssrc: 0xcafebabe, fractionLost: 25, cumulativeLost: -3, highestSeq: 0x1fffe, jitter: 480, lsr: 0x12345678, dlsr: 65536 };

function rtcpError(b: Buffer, reason: string): void {
  assert.throws(() => parseRtcp(b), (e: unknown) => e instanceof RtcpFormatError && e.reason === reason && /^rtcp: /.test(e.message));
}

describe('rtp/rtcp packets', () => {
  it('round-trips a compound SR + SDES CNAME + BYE, and an RR', () => {
    const [msw, lsw] = ntpFromUnixMs(Date.UTC(2026, 11, 2, 7, 0, 0, 500));
    assert.equal(lsw, 2 ** 31);
    assert.equal(msw, Date.UTC(2026, 11, 2, 7, 0, 0) / 1000 + 2208988800);
    const sender = { ntpMsw: msw, ntpLsw: lsw, rtpTimestamp: 0xffffffff, packetCount: 1000, octetCount: 160000 };
    const c = buildCompound([buildSenderReport(7, sender, [BLOCK, { ...BLOCK, ssrc: 8, cumulativeLost: 0x7fffff }]), buildSdesCname(7, 'xcast@host'), buildBye([7])]);
    assert.equal(c.length % 4, 0);
    assert.deepEqual(parseRtcp(c), [
      { type: 'sr', ssrc: 7, sender, reports: [BLOCK, { ...BLOCK, ssrc: 8, cumulativeLost: 0x7fffff }] },
      { type: 'sdes', chunks: [{ ssrc: 7, cname: 'xcast@host' }] },
      { type: 'bye', ssrcs: [7] },
    ]);
    assert.deepEqual(parseRtcp(buildReceiverReport(9)), [{ type: 'rr', ssrc: 9, reports: [] }]);
    assert.deepEqual(parseRtcp(buildCompound([buildReceiverReport(9, [BLOCK]), buildSdesCname(9, '')])), [
      { type: 'rr', ssrc: 9, reports: [BLOCK] }, { type: 'sdes', chunks: [{ ssrc: 9, cname: '' }] },
    ]);
    // cumulative lost is clamped to 24 bits signed
    assert.equal((parseRtcp(buildReceiverReport(1, [{ ...BLOCK, cumulativeLost: -1e9 }]))[0] as { reports: ReportBlock[] }).reports[0].cumulativeLost, -0x800000);
    // CNAME lengths around the 32-bit boundary all parse back
    for (let n = 0; n < 9; n++) {
      const name = 'x'.repeat(n);
      assert.deepEqual(parseRtcp(buildCompound([buildReceiverReport(1), buildSdesCname(2, name)]))[1], { type: 'sdes', chunks: [{ ssrc: 2, cname: name }] });
    }
    assert.equal(ntpMiddle(0x1234abcd, 0xef015678), 0xabcdef01);
  });

  it('refuses bad builds', () => {
    assert.throws(() => buildReceiverReport(1, new Array(32).fill(BLOCK)), RangeError);
    assert.throws(() => buildSdesCname(1, 'x'.repeat(256)), RangeError);
    assert.throws(() => buildCompound([buildSdesCname(1, 'a')]), /starts with an SR or RR/);
  });

  it('refuses every malformed datagram with RtcpFormatError and its reason', () => {
    const rr = buildReceiverReport(1, [BLOCK]);
    assert.throws(() => parseRtcp(null as unknown as Buffer), RtcpFormatError);
    rtcpError(Buffer.alloc(2), 'short');
    rtcpError(Buffer.concat([rr, Buffer.alloc(2)]), 'length');
    const v1 = Buffer.from(rr); v1[0] = (v1[0] & 0x3f) | 0x40; rtcpError(v1, 'version');
    const long = Buffer.from(rr); long.writeUInt16BE(100, 2); rtcpError(long, 'length');
    rtcpError(buildSdesCname(1, 'a'), 'first');
    const few = Buffer.from(rr); few[0] = 0x82; rtcpError(few, 'length'); // 2 blocks announced, 1 there
    const padFirst = Buffer.concat([buildReceiverReport(1), buildSdesCname(1, 'a')]); padFirst[0] |= 0x20; rtcpError(padFirst, 'padding');
    const pad0 = buildReceiverReport(0x100); pad0[0] |= 0x20; rtcpError(pad0, 'padding'); // padding count 0
    const padBig = buildReceiverReport(0x109); padBig[0] |= 0x20; rtcpError(padBig, 'padding'); // 9 > 8 − 4
    const sdes = buildSdesCname(1, 'abc');
    const sdesBad = Buffer.from(sdes); sdesBad[9] = 200; rtcpError(Buffer.concat([buildReceiverReport(1), sdesBad]), 'sdes');
    const sdesTwo = Buffer.from(sdes); sdesTwo[0] = 0x82; rtcpError(Buffer.concat([buildReceiverReport(1), sdesTwo]), 'sdes');
    const bye = buildBye([1]); bye[0] = 0x83; rtcpError(Buffer.concat([buildReceiverReport(1), bye]), 'length');
    assert.deepEqual(parseRtcp(Buffer.concat([buildReceiverReport(1), Buffer.from([0x80, 204, 0, 0])]))[1], { type: 'other', packetType: 204 });
    let seed = 7;
    for (let i = 0; i < 3000; i++) {
      const len = ((seed = (seed * 1103515245 + 12345) >>> 0) % 16) * 4;
      const b = Buffer.alloc(len);
      for (let j = 0; j < len; j++) b[j] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
      if (len > 0) { b[0] = (b[0] & 0x3f) | 0x80; b[1] = 200 + (b[1] & 1); }
      try { parseRtcp(b); } catch (e) { assert.ok(e instanceof RtcpFormatError, String(e)); }
    }
  });
});

describe('rtp/rtcp RtpReceiverStats', () => {
  it('counts loss and fraction lost per interval across the 16-bit seq wrap', () => {
    const s = new RtpReceiverStats(0x42, 48000);
    assert.equal(s.started, false);
    assert.ok(Number.isNaN(s.lastExtendedSeq));
    let t = 0;
    // seqs 65530 … 65535, 0 … 13, with 65533, 2 and 3 lost: 20 expected, 17 received
    for (let i = 0; i < 20; i++) {
      const seq = (65530 + i) & 0xffff;
      t = i * 20000;
      if (seq === 65533 || seq === 2 || seq === 3) continue;
      s.onPacket(seq, i * 960, t);
    }
    const r1 = s.report(t);
    assert.equal(r1.ssrc, 0x42);
    assert.equal(r1.cumulativeLost, 3);
    assert.equal(r1.fractionLost, Math.floor((3 * 256) / 20));
    assert.equal(r1.highestSeq, 65530 + 19); // one cycle: 0x1000d
    assert.equal(r1.jitter, 0); // arrivals exactly at the media clock
    assert.equal(r1.lsr, 0);
    assert.equal(r1.dlsr, 0);
    // next interval: 10 in order, nothing lost; then a duplicate makes the interval's loss negative → 0
    for (let i = 20; i < 30; i++) s.onPacket((65530 + i) & 0xffff, i * 960, (t += 20000));
    assert.equal(s.report(t).fractionLost, 0);
    s.onPacket((65530 + 29) & 0xffff, 29 * 960, (t += 1));
    const r3 = s.report(t);
    assert.equal(r3.fractionLost, 0);
    assert.equal(r3.cumulativeLost, 2);
  });

  it('jitter in timestamp units equals RFC 3550 A.8 computed by hand, and a timestamp wrap is no jump', () => {
    const s = new RtpReceiverStats(1, 8000);
    const arrivalsMs = [0, 20, 45, 60, 81, 100, 130, 140];
    let j = 0;
    let prevTransit = NaN;
    for (let i = 0; i < arrivalsMs.length; i++) {
      const ts = (0xffffff00 + i * 160) >>> 0; // wraps after two packets
      s.onPacket(i, ts, arrivalsMs[i] * 1000);
      const transit = (arrivalsMs[i] * 8) - i * 160; // in timestamp units
      if (!Number.isNaN(prevTransit)) j += (Math.abs(transit - prevTransit) - j) / 16;
      prevTransit = transit;
    }
    assert.ok(j > 5);
    assert.equal(s.jitterUnits, Math.round(j));
    assert.equal(s.report(140000).jitter, Math.round(j));
  });

  it('LSR and DLSR from the last SR; a seq restart keeps the loss and counts again', () => {
    const s = new RtpReceiverStats(1, 48000);
    s.onPacket(100, 0, 0);
    s.onPacket(102, 1920, 40000); // 101 lost
    s.onSenderReport(0x1234abcd, 0xef015678, 1_000_000);
    const r = s.report(1_500_000);
    assert.equal(r.lsr, 0xabcdef01);
    assert.equal(r.dlsr, 32768); // 0.5 s in 1/65536 s
    assert.equal(s.lastExtendedSeq, 102);
    assert.equal(s.onPacket(30000, 5000, 60000), 29998 + 2); // a jump past SEQ_RESTART_JUMP: a restart
    s.onPacket(30002, 5960, 80000); // 30001 lost
    const r2 = s.report(2_000_000);
    assert.equal(r2.cumulativeLost, 2);
    assert.equal(r2.highestSeq, 30002);
  });

  it('refuses a clock rate that is not positive', () => {
    assert.throws(() => new RtpReceiverStats(1, 0), RangeError);
  });
});

describe('rtp/sender RtpSender', () => {
  it('numbers packets across the seq and timestamp wraps, and its SR carries the counts and the media time', () => {
    const s = new RtpSender({ payloadType: 96, clockRate: 48000, ssrc: 0xabcdef01, initialSeq: 65535, initialTimestamp: 2 ** 32 - 960, cname: 'mix@xcast' });
    const a = parseRtp(s.packet(Buffer.alloc(10), 0, true));
    const out = Buffer.alloc(s.packetBytes(20));
    const b = parseRtp(s.packet(Buffer.alloc(20, 7), 960, false, out));
    assert.deepEqual([a.seq, a.timestamp, a.marker, a.ssrc, a.payloadType], [65535, 2 ** 32 - 960, true, 0xabcdef01, 96]);
    assert.deepEqual([b.seq, b.timestamp, b.marker, b.payload.length, b.payload.buffer === out.buffer], [0, 0, false, 20, true]);
    const [sr, sdes] = parseRtcp(s.senderReport(Date.UTC(2026, 0, 1), 1920));
    assert.ok(sr.type === 'sr');
    assert.deepEqual(sr.sender, { ntpMsw: Date.UTC(2026, 0, 1) / 1000 + 2208988800, ntpLsw: 0, rtpTimestamp: 960, packetCount: 2, octetCount: 30 });
    assert.deepEqual(sdes, { type: 'sdes', chunks: [{ ssrc: 0xabcdef01, cname: 'mix@xcast' }] });
  });

  it('picks a random SSRC, seq and timestamp by default and refuses a bad payload type or clock', () => {
    const x = new RtpSender({ payloadType: 96, clockRate: 48000 });
    const y = new RtpSender({ payloadType: 96, clockRate: 48000 });
    assert.notEqual(x.ssrc, y.ssrc);
    assert.match(x.cname, /^xcast-[0-9a-f]{8}$/);
    assert.throws(() => new RtpSender({ payloadType: 128, clockRate: 48000 }), /payloadType 128/);
    assert.throws(() => new RtpSender({ payloadType: 96, clockRate: 0 }), /clockRate 0/);
  });
});

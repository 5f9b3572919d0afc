// runtime/rtp/stream-out RtpStreamOut: Opus packets and L24 packets as a receiver's socket gets them, the media clock
// across a pause of the input (marker bit, timestamps moved on by the pause), the SR to port + 1, and its SDP.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { OpusEncoder } from '../../runtime/audio/opus';
import { parseRtp, type RtpPacket } from '../../runtime/rtp/packet';
import { parseRtcp } from '../../runtime/rtp/rtcp';
import { parseSdp } from '../../runtime/rtp/sdp';
import { l24ToF32 } from '../../runtime/rtp/l16';
import { RtpStreamOut } from '../../runtime/rtp/stream-out';
import { until } from '../support/resources';
import { bindUdp, freePortPair } from '../support/rtp-tools';

describe('rtp/stream-out RtpStreamOut', () => {
  it('Opus: one packet each, timestamps by the packets\' samples; after a pause the clock moves on by it, marked', async () => {
    const port = await freePortPair();
    const rx = await bindUdp(port);
    const rtcp = await bindUdp(port + 1);
    const got: RtpPacket[] = [];
    rx.on('message', (m) => got.push(parseRtp(m)));
    const o = new RtpStreamOut({ codec: 'opus', host: '127.0.0.1', port, channels: 2, ptimeMs: 20 });
    try {
      await o.whenReady();
      const sdp = parseSdp(o.sdp);
      assert.equal(sdp.audio[0].port, port);
      assert.equal(sdp.audio[0].formats[0].encoding, 'opus');
      const enc = new OpusEncoder({ channels: 2, frameSamples: 960 });
      const pkt = enc.encode(Buffer.alloc(960 * 8));
      for (const t of [0, 20, 40, 1040, 1060]) assert.equal(o.sendOpus(pkt, 1000 + t), 960);
      assert.equal(o.sendOpus(Buffer.alloc(0)), 0, 'not an Opus packet: nothing sent');
      assert.ok(await until(() => got.length === 5, 3000));
      const ts0 = got[0].timestamp;
      assert.deepEqual(got.map((p) => (p.timestamp - ts0) >>> 0), [0, 960, 1920, 1040 * 48, 1060 * 48]);
      assert.deepEqual(got.map((p) => p.marker), [true, false, false, true, false]);
      assert.deepEqual(got.map((p) => (p.seq - got[0].seq) & 0xffff), [0, 1, 2, 3, 4]);
      const sr = once(rtcp, 'message');
      o.sendReport();
      const [m] = (await sr) as [Buffer];
      const [p] = parseRtcp(m);
      assert.equal(p.type, 'sr');
      if (p.type === 'sr') { assert.equal(p.ssrc, got[0].ssrc); assert.equal(p.sender.packetCount, 5); }
    } finally {
      o.close(); rx.close(); rtcp.close();
    }
  });

  it('L24: a 10 ms frame is ten 1 ms packets, bit-exact to the 24-bit rounding, consecutive timestamps', async () => {
    const port = await freePortPair();
    const rx = await bindUdp(port);
    const got: RtpPacket[] = [];
    rx.on('message', (m) => got.push(parseRtp(m)));
    const o = new RtpStreamOut({ codec: 'L24', host: '127.0.0.1', port, channels: 2, sampleRate: 48000, ptimeMs: 1, payloadType: 100 });
    try {
      await o.whenReady();
      assert.match(o.sdp, /a=rtpmap:100 L24\/48000\/2/);
      const pcm = new Float32Array(480 * 2);
      for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(Math.sin(i / 7) * 0.5 * 8388608) / 8388608;
      o.sendPcm(pcm, 480);
      assert.ok(await until(() => got.length === 10, 3000));
      const back = new Float32Array(480 * 2);
      got.forEach((p, i) => {
        assert.equal(p.payloadType, 100);
        assert.equal(p.payload.length, 48 * 2 * 3);
        assert.equal((p.timestamp - got[0].timestamp) >>> 0, i * 48);
        l24ToF32(p.payload, back, i * 96);
      });
      assert.deepEqual(back, pcm);
    } finally {
      o.close(); rx.close();
    }
  });

  it('refuses a host that is not an IP address and an L24 packet that is not whole samples', () => {
    assert.throws(() => new RtpStreamOut({ codec: 'opus', host: 'localhost', port: 5006, channels: 2, ptimeMs: 20 }), /not an IP address/);
    assert.throws(() => new RtpStreamOut({ codec: 'L24', host: '127.0.0.1', port: 5006, channels: 2, sampleRate: 44100, ptimeMs: 1 }), /not a whole number of samples/);
  });
});

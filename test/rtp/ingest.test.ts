// runtime/rtp/ingest RtpIngest with rtcp-mux (RFC 5761): RTP and RTCP on one port, the RR back to the sender's own
// port, L16 converted to f32 frames of the packet's length, a BYE ending the source; closing frees the port.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { buildRtp } from '../../runtime/rtp/packet';
import { buildBye, buildCompound, buildSenderReport, parseRtcp, type RtcpPacket } from '../../runtime/rtp/rtcp';
import { RtpPayloadTable, parseSdp } from '../../runtime/rtp/sdp';
import { RtpIngest, isRtcp, type RtpAudioHeader } from '../../runtime/rtp/ingest';
import { until } from '../support/resources';
import { bindUdp } from '../support/rtp-tools';

describe('rtp/ingest RtpIngest', () => {
  it('rtcp-mux: L16 stereo to f32 frames, the RR to the sender\'s port, a BYE ends the source', async () => {
    const payloads = new RtpPayloadTable(parseSdp('v=0\nm=audio 0 RTP/AVP 98\na=rtpmap:98 L16/48000/2'));
    const ing = new RtpIngest({ host: '127.0.0.1', port: 0, rtcpPort: 'mux', payloads, rrIntervalMs: 100, usersByAddress: new Map([['127.0.0.1', 'mapped']]) });
    const [rtpPort, rtcpPort] = await ing.listen();
    assert.equal(rtcpPort, rtpPort);
    const tx = await bindUdp();
    const rtcp: RtcpPacket[][] = [];
    tx.on('message', (m) => { if (isRtcp(m)) rtcp.push(parseRtcp(m)); });
    const audio: Array<[RtpAudioHeader, Float32Array]> = [];
    const events: string[] = [];
    ing.on('open', (s) => events.push(`open ${s.userId}`));
    ing.on('close', (s, why) => events.push(`close ${s.userId} ${why}`));
    ing.on('audio', (_s, h, p) => audio.push([h, new Float32Array(p.buffer.slice(p.byteOffset, p.byteOffset + p.length))]));
    try {
      const payload = Buffer.alloc(24 * 4);
      for (let i = 0; i < 48; i++) payload.writeInt16BE(i % 2 ? -16384 : 16384, i * 2);
      for (let i = 0; i < 3; i++) tx.send(buildRtp({ payloadType: 98, seq: 65535 + i, timestamp: i * 24, ssrc: 5 }, payload), rtpPort, '127.0.0.1');
      tx.send(buildCompound([buildSenderReport(5, { ntpMsw: 1, ntpLsw: 2, rtpTimestamp: 0, packetCount: 3, octetCount: 288 })]), rtpPort, '127.0.0.1');
      assert.ok(await until(() => audio.length === 3, 3000));
      assert.deepEqual(audio.map(([h]) => [h.codec, h.channels, h.frameSamples, h.seq]), [['pcm_f32le', 2, 24, 65535], ['pcm_f32le', 2, 24, 65536], ['pcm_f32le', 2, 24, 65537]]);
      assert.deepEqual([...audio[0][1].subarray(0, 2)], [0.5, -0.5]);
      // The RR: to the port the sender sent from (muxed), with the SR's LSR.
      assert.ok(await until(() => rtcp.length > 0, 3000), 'no RR');
      const rr = rtcp[0][0];
      assert.equal(rr.type, 'rr');
      if (rr.type === 'rr') { assert.equal(rr.reports[0].ssrc, 5); assert.equal(rr.reports[0].lsr, (1 << 16) | 0); assert.equal(rr.reports[0].highestSeq, 65537); }
      tx.send(buildCompound([buildSenderReport(5, { ntpMsw: 1, ntpLsw: 2, rtpTimestamp: 0, packetCount: 3, octetCount: 288 }), buildBye([5])]), rtpPort, '127.0.0.1');
      assert.ok(await until(() => events.length === 2, 3000), JSON.stringify(events));
      assert.deepEqual(events, ['open mapped', 'close mapped bye']);
      assert.equal(ing.table.size, 0);
      assert.deepEqual(Object.values(ing.dropped()).reduce((a, b) => a + b, 0), 0);
    } finally {
      ing.close();
      tx.close();
    }
    // The port is free again.
    const again = await bindUdp(rtpPort);
    again.close();
    await once(again, 'close');
  });
});

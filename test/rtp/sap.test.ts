// runtime/rtp/sap: SAP (RFC 2974) build and parse, every malformed case, and ffmpeg's own SAP announcer as the
// referee (its announcement read, its SDP parsed, its deletion on exit).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { deflateSync } from 'node:zlib';
import { SapFormatError, buildSap, parseSap, type SapPacket } from '../../runtime/rtp/sap';
import { parseSdp, rtpCodecOf, writeSdp } from '../../runtime/rtp/sdp';
import { until } from '../protocol/helpers';

const SDP = writeSdp({ codec: 'opus', address: '239.1.2.3', port: 5006, channels: 2, ptimeMs: 10 });

function sapError(b: Buffer, reason: string): void {
  assert.throws(() => parseSap(b), (e: unknown) => e instanceof SapFormatError && e.reason === reason && /^sap: /.test(e.message));
}

describe('rtp/sap', () => {
  it('round-trips an announcement and a deletion, IPv4 and IPv6 origins', () => {
    const a = buildSap({ sdp: SDP, origin: '192.168.1.20', msgIdHash: 0xbeef });
    assert.equal(a[0], 0x20);
    assert.deepEqual(parseSap(a), { deletion: false, msgIdHash: 0xbeef, origin: '192.168.1.20', payloadType: 'application/sdp', payload: SDP });
    const d = parseSap(buildSap({ sdp: SDP, origin: 'fe80::1:2', msgIdHash: 1, deletion: true }));
    assert.deepEqual([d.deletion, d.origin, d.payload], [true, 'fe80:0:0:0:0:0:1:2', SDP]);
    assert.equal(parseSdp(d.payload).audio[0].port, 5006);
    assert.throws(() => buildSap({ sdp: SDP, origin: 'x', msgIdHash: 1 }), /origin "x"/);
    assert.throws(() => buildSap({ sdp: SDP, origin: '1.2.3.4', msgIdHash: 70000 }), /msgIdHash 70000/);
  });

  it('reads a payload without a type field, a compressed one, and one after auth data', () => {
    const head = Buffer.from([0x20, 0, 0, 7, 10, 0, 0, 1]);
    assert.equal(parseSap(Buffer.concat([head, Buffer.from(SDP)])).payloadType, 'application/sdp');
    const z = Buffer.from(head); z[0] |= 0x01;
    assert.equal(parseSap(Buffer.concat([z, deflateSync(Buffer.from('application/sdp\0' + SDP))])).payload, SDP);
    const auth = Buffer.from(head); auth[1] = 1;
    assert.equal(parseSap(Buffer.concat([auth, Buffer.alloc(4), Buffer.from(SDP)])).payload, SDP);
  });

  it('refuses every malformed datagram with SapFormatError and its reason', () => {
    const ok = buildSap({ sdp: SDP, origin: '10.0.0.1', msgIdHash: 3 });
    sapError(ok.subarray(0, 7), 'short');
    sapError(Buffer.from('x') as Buffer, 'short');
    assert.throws(() => parseSap(null as unknown as Buffer), SapFormatError);
    const v = Buffer.from(ok); v[0] = 0x40; sapError(v, 'version');
    const e = Buffer.from(ok); e[0] |= 0x02; sapError(e, 'encrypted');
    const v6 = Buffer.from(ok.subarray(0, 12)); v6[0] |= 0x10; sapError(v6, 'short');
    const au = Buffer.from(ok); au[1] = 255; sapError(au, 'short');
    const c = Buffer.from(ok); c[0] |= 0x01; sapError(c, 'compressed');
    sapError(Buffer.concat([ok.subarray(0, 8), Buffer.from('application/sdp')]), 'payload-type');
    let seed = 3;
    for (let i = 0; i < 2000; i++) {
      const len = (seed = (seed * 1103515245 + 12345) >>> 0) % 40;
      const b = Buffer.alloc(len);
      for (let j = 0; j < len; j++) b[j] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
      if (len > 0) b[0] = (b[0] & 0x1f) | 0x20;
      try { parseSap(b); } catch (err) { assert.ok(err instanceof SapFormatError, String(err)); }
    }
  });

  it('ffmpeg\'s SAP announcer: its announcement parses to an Opus SDP of its stream, and it deletes it on exit', async function () {
    this.timeout(20000);
    const bindAt = async (port: number): Promise<Socket> => {
      const s = createSocket('udp4');
      s.bind(port, '127.0.0.1');
      await once(s, 'listening');
      return s;
    };
    const ann = await bindAt(0);
    // ffmpeg's RTP goes to an even port and its RTCP to the next: hold both (so no ICMP unreachable stops it).
    let rtp: Socket, rtcp: Socket;
    for (;;) {
      rtp = await bindAt(0);
      if (rtp.address().port % 2 === 0) {
        try { rtcp = await bindAt(rtp.address().port + 1); break; } catch { /* taken: another pair */ }
      }
      rtp.close();
    }
    const got: SapPacket[] = [];
    const errors: string[] = [];
    ann.on('message', (m) => { try { got.push(parseSap(m)); } catch (e) { errors.push(String(e)); } });
    let rtpPackets = 0;
    rtp.on('message', () => { rtpPackets++; });
    try {
      const port = rtp.address().port;
      const ff = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', '-f', 'lavfi', '-i', 'sine=f=440:d=1:sample_rate=48000',
        '-c:a', 'libopus', '-f', 'sap', `sap://127.0.0.1:${port}?announce_addr=127.0.0.1&announce_port=${ann.address().port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      ff.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      const [code] = (await once(ff, 'exit')) as [number | null];
      assert.equal(code, 0, `ffmpeg failed: ${err}`);
      await until(() => got.some((p) => p.deletion), 5000, 'ffmpeg\'s SAP deletion');
      assert.deepEqual(errors, []);
      const first = got[0];
      assert.equal(first.deletion, false);
      assert.equal(first.origin, '127.0.0.1');
      assert.equal(first.payloadType, 'application/sdp');
      const sdp = parseSdp(first.payload);
      assert.equal(sdp.audio[0].port, port);
      assert.equal(rtpCodecOf(sdp.audio[0].formats[0]), 'opus');
      const del = got.find((p) => p.deletion)!;
      assert.equal(del.msgIdHash, first.msgIdHash);
      assert.ok(rtpPackets > 0);
    } finally {
      ann.close();
      rtp.close();
      rtcp.close();
    }
  });
});

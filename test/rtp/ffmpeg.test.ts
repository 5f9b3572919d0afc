// ffmpeg as the referee: it sends a 440 Hz tone as Opus RTP and as L24 RTP at 1 ms packets to a UDP socket of the
// test; its SDP is read with runtime/rtp/sdp.ts, its packets with packet.ts, its RTCP SRs with rtcp.ts; the Opus is
// decoded with the project's OpusDecoder (after the TOC check), the L24 converted with l16.ts, and the tone measured.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { OpusDecoder } from '../../runtime/audio/opus';
import { estimateFrequency, rms } from '../../runtime/audio/analysis';
import { opusPacketSamples } from '../../runtime/protocol/opus-toc';
import { parseRtp, type RtpPacket } from '../../runtime/rtp/packet';
import { parseRtcp, RtpReceiverStats, type RtcpPacket } from '../../runtime/rtp/rtcp';
import { parseSdp, rtpCodecOf } from '../../runtime/rtp/sdp';
import { l24ToF32 } from '../../runtime/rtp/l16';
import { until } from '../protocol/helpers';

async function bind(): Promise<Socket> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

interface Run { sdpText: string; packets: RtpPacket[]; rtcp: RtcpPacket[][]; stats: RtpReceiverStats | null; errors: string[] }

/** Runs ffmpeg with `codecArgs` sending to fresh RTP/RTCP sockets; resolves when it exited and `enough` holds. */
async function ffmpegRtp(input: string, codecArgs: string[], enough: (p: RtpPacket[]) => boolean): Promise<Run> {
  const dir = mkdtempSync(path.join(tmpdir(), 'xcast-rtp-'));
  const rtp = await bind();
  const rtcpSock = await bind();
  const run: Run = { sdpText: '', packets: [], rtcp: [], stats: null, errors: [] };
  // A datagram our parsers refuse is recorded (and fails the test below), not thrown out of the socket's handler.
  rtp.on('message', (m) => {
    try {
      const p = parseRtp(m);
      run.stats ??= new RtpReceiverStats(p.ssrc, 48000);
      run.stats.onPacket(p.seq, p.timestamp, Number(process.hrtime.bigint() / 1000n));
      run.packets.push(p);
    } catch (e) { run.errors.push(`rtp: ${String(e)}`); }
  });
  rtcpSock.on('message', (m) => {
    try { run.rtcp.push(parseRtcp(m)); } catch (e) { run.errors.push(`rtcp: ${String(e)}`); }
  });
  try {
    const sdpFile = path.join(dir, 'x.sdp');
    const url = `rtp://127.0.0.1:${rtp.address().port}?rtcpport=${rtcpSock.address().port}`;
    const ff = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', '-f', 'lavfi', '-i', input, ...codecArgs, '-f', 'rtp', '-sdp_file', sdpFile, url], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    ff.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const [code] = (await once(ff, 'exit')) as [number | null];
    assert.equal(code, 0, `ffmpeg failed: ${err}`);
    // Datagrams sent before ffmpeg exited are in the socket's queue; their 'message' events may still be due.
    await until(() => enough(run.packets), 5000, 'all of ffmpeg\'s RTP packets');
    run.sdpText = readFileSync(sdpFile, 'utf8');
    return run;
  } finally {
    rtp.close();
    rtcpSock.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function checkStream(run: Run, ptExpected: number): void {
  assert.deepEqual(run.errors, []);
  const first = run.packets[0];
  for (const p of run.packets) {
    assert.equal(p.ssrc, first.ssrc);
    assert.equal(p.payloadType, ptExpected);
  }
  // Loopback: nothing lost, the extended highest seq is the last one (mod 2^16 of the first + count − 1).
  const stats = run.stats!;
  const rr = stats.report(Number(process.hrtime.bigint() / 1000n));
  assert.equal(rr.cumulativeLost, 0);
  assert.equal(rr.fractionLost, 0);
  assert.equal(rr.highestSeq & 0xffff, (first.seq + run.packets.length - 1) & 0xffff);
  // RTCP: ffmpeg's first compound packet is an SR of the same SSRC.
  assert.ok(run.rtcp.length >= 1, 'no RTCP from ffmpeg');
  const sr = run.rtcp[0][0];
  assert.equal(sr.type, 'sr');
  if (sr.type === 'sr') {
    assert.equal(sr.ssrc, first.ssrc);
    assert.ok(sr.sender.packetCount <= run.packets.length);
  }
}

describe('rtp with ffmpeg as the referee', function () {
  this.timeout(30000);

  before(() => {
    // scripts/setup-system.sh installs ffmpeg: its absence is a failure, not a skip.
    assert.equal(spawnSync('ffmpeg', ['-version']).status, 0, 'ffmpeg is needed (apt-get install ffmpeg)');
  });

  it('Opus RTP (RFC 7587): ffmpeg\'s SDP, packets and SR read; the TOC-checked, decoded tone is 440 Hz', async () => {
    let samples = 0;
    const run = await ffmpegRtp('sine=f=440:d=1:sample_rate=48000', ['-c:a', 'libopus', '-b:a', '64k'], (ps) => {
      samples = 0;
      for (const p of ps) samples += Math.max(0, opusPacketSamples(p.payload));
      return samples >= 48000;
    });
    const sdp = parseSdp(run.sdpText);
    assert.equal(sdp.audio.length, 1);
    const fmt = sdp.audio[0].formats[0];
    assert.equal(rtpCodecOf(fmt), 'opus');
    assert.ok(fmt.payloadType >= 96 && fmt.payloadType <= 127);
    checkStream(run, fmt.payloadType);
    const dec = new OpusDecoder({ channels: 1 });
    const chunks: Float32Array[] = [];
    let prevTs = run.packets[0].timestamp;
    for (const p of run.packets) {
      const n = opusPacketSamples(p.payload);
      assert.ok(n > 0, `bad TOC in packet seq ${p.seq}`);
      // RFC 7587 §4.1: the timestamp advances by the packet's duration at 48 kHz.
      if (p !== run.packets[0]) assert.equal((p.timestamp - prevTs) >>> 0, n);
      prevTs = p.timestamp;
      const pcm = dec.decode(p.payload);
      chunks.push(new Float32Array(pcm.buffer, pcm.byteOffset, pcm.length / 4));
    }
    const all = new Float32Array(chunks.reduce((a, c) => a + c.length, 0));
    let o = 0;
    for (const c of chunks) { all.set(c, o); o += c.length; }
    const tone = all.subarray(4800, 43200); // skip the encoder's start-up and the tail
    assert.ok(Math.abs(estimateFrequency(tone, 48000) - 440) < 1, `frequency ${estimateFrequency(tone, 48000)}`);
    assert.ok(rms(tone) > 0.05, `rms ${rms(tone)}`); // lavfi sine is 1/8 amplitude: rms ≈ 0.088
  });

  it('L24 RTP at 1 ms packets (RFC 3190): SDP, packets and SR read; the converted tone is 440 Hz, bit-exact to ffmpeg\'s s24', async () => {
    let samples = 0;
    const run = await ffmpegRtp('sine=f=440:d=1:sample_rate=48000:samples_per_frame=48', ['-c:a', 'pcm_s24be'], (ps) => {
      samples = 0;
      for (const p of ps) samples += p.payload.length / 3;
      return samples >= 48000;
    });
    const sdp = parseSdp(run.sdpText);
    const fmt = sdp.audio[0].formats[0];
    assert.equal(rtpCodecOf(fmt), 'L24');
    assert.equal(fmt.clockRate, 48000);
    assert.equal(fmt.channels, 1);
    checkStream(run, fmt.payloadType);
    const all = new Float32Array(samples);
    let o = 0;
    for (const p of run.packets) {
      assert.equal(p.payload.length, 48 * 3, '1 ms packets');
      if (p !== run.packets[0]) assert.equal((p.timestamp - run.packets[0].timestamp) >>> 0, o);
      l24ToF32(p.payload, all, o);
      o += p.payload.length / 3;
    }
    assert.ok(Math.abs(estimateFrequency(all, 48000) - 440) < 1, `frequency ${estimateFrequency(all, 48000)}`);
    // The same tone rendered by ffmpeg itself to s24be: the RTP path changed no bit.
    const ref = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'sine=f=440:d=1:sample_rate=48000', '-f', 's24be', '-c:a', 'pcm_s24be', '-']);
    assert.equal(ref.status, 0);
    const expected = l24ToF32(ref.stdout);
    assert.equal(all.length, expected.length);
    assert.deepEqual(all, expected);
  });
});

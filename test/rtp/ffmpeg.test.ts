// ffmpeg as the referee, both ways. It sends a 440 Hz tone as Opus RTP and as L24 RTP at 1 ms packets (and L16
// stereo 44.1 kHz on static PT 10) to a UDP socket of the test: its SDP is read with runtime/rtp/sdp.ts, its packets
// with packet.ts, its RTCP SRs with rtcp.ts; the Opus is decoded with the project's OpusDecoder (after the TOC
// check), the PCM converted with l16.ts, the tones measured. And it receives what we send from the SDP we write.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { OpusDecoder, OpusEncoder } from '../../runtime/audio/opus';
import { estimateFrequency, rms } from '../../runtime/audio/analysis';
import { opusPacketSamples } from '../../runtime/protocol/opus-toc';
import { buildRtp, parseRtp, type RtpPacket } from '../../runtime/rtp/packet';
import { parseRtcp, RtpReceiverStats, type RtcpPacket } from '../../runtime/rtp/rtcp';
import { RtpPayloadTable, parseSdp, rtpCodecOf, writeSdp, type SdpWriteOptions } from '../../runtime/rtp/sdp';
import { RtpSender } from '../../runtime/rtp/sender';
import { RtpSourceTable } from '../../runtime/rtp/sources';
import { f32ToL24, l16ToF32, l24ToF32 } from '../../runtime/rtp/l16';
import { until } from '../protocol/helpers';
import { bindUdp, freePortPair } from '../support/rtp-tools';

interface Run { sdpText: string; raw: Buffer[]; packets: RtpPacket[]; rtcp: RtcpPacket[][]; stats: RtpReceiverStats | null; errors: string[] }

/** Runs ffmpeg with `codecArgs` sending to fresh RTP/RTCP sockets; resolves when it exited and `enough` holds. */
async function ffmpegRtp(input: string, codecArgs: string[], enough: (p: RtpPacket[]) => boolean, clockRate = 48000): Promise<Run> {
  const dir = mkdtempSync(path.join(tmpdir(), 'xcast-rtp-'));
  const rtp = await bindUdp();
  const rtcpSock = await bindUdp();
  const run: Run = { sdpText: '', raw: [], packets: [], rtcp: [], stats: null, errors: [] };
  // A datagram our parsers refuse is recorded (and fails the test below), not thrown out of the socket's handler.
  rtp.on('message', (m) => {
    try {
      run.raw.push(m);
      const p = parseRtp(m);
      run.stats ??= new RtpReceiverStats(p.ssrc, clockRate);
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

function checkStream(run: Run, ptExpected: number, payloads: RtpPayloadTable): void {
  assert.deepEqual(run.errors, []);
  // The ingest's step takes every datagram, as one source.
  const table = new RtpSourceTable({ payloads });
  for (const m of run.raw) assert.ok(table.accept(m, '127.0.0.1', 1, 0), table.lastDropDetail);
  assert.equal(table.size, 1);
  assert.equal(table.sources()[0].packets, run.raw.length);
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

/** Two tones, 440 Hz left and 660 Hz right, frame `i` of `n` samples at 48 kHz, f32 interleaved stereo. */
function toneFrame(i: number, n: number, out: Float32Array): Float32Array {
  for (let k = 0; k < n; k++) {
    const t = (i * n + k) / 48000;
    out[2 * k] = 0.25 * Math.sin(2 * Math.PI * 440 * t);
    out[2 * k + 1] = 0.25 * Math.sin(2 * Math.PI * 660 * t);
  }
  return out;
}

/**
 * Writes the SDP of `opts` for ffmpeg to receive, streams packets made by `packet(i)` in real time (one every
 * `ptimeMs`, paced by the wall clock) until ffmpeg has decoded `seconds` of it, and returns its f32 stereo output.
 */
async function ffmpegReceives(opts: Omit<SdpWriteOptions, 'port' | 'address'>, packet: (i: number) => Buffer, seconds: number): Promise<Float32Array> {
  const dir = mkdtempSync(path.join(tmpdir(), 'xcast-rtp-'));
  const port = await freePortPair();
  const sdpFile = path.join(dir, 'mix.sdp');
  writeFileSync(sdpFile, writeSdp({ ...opts, address: '127.0.0.1', port }));
  const tx = createSocket('udp4');
  const ff = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-protocol_whitelist', 'file,udp,rtp', '-i', sdpFile,
    '-t', String(seconds), '-f', 'f32le', '-ac', '2', '-ar', '48000', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  ff.stdout.on('data', (d: Buffer) => out.push(d));
  ff.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const t0 = Date.now();
  let sent = 0;
  // Pacing a live stream, not waiting for something: each tick sends what the clock says is due.
  const timer = setInterval(() => {
    const due = Math.floor((Date.now() - t0) / opts.ptimeMs) + 1;
    for (; sent < due; sent++) tx.send(packet(sent), port, '127.0.0.1');
  }, Math.max(1, Math.min(10, opts.ptimeMs)));
  const deadline = setTimeout(() => ff.kill('SIGKILL'), 20000);
  try {
    const [code] = (await once(ff, 'close')) as [number | null];
    assert.equal(code, 0, `ffmpeg failed: ${err}`);
  } finally {
    clearInterval(timer);
    clearTimeout(deadline);
    tx.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const all = Buffer.concat(out);
  return new Float32Array(all.buffer, all.byteOffset, all.length >> 2);
}

function checkTones(pcm: Float32Array, seconds: number): void {
  assert.ok(pcm.length >= seconds * 48000 * 2 * 0.9, `ffmpeg decoded ${pcm.length / 2} frames`);
  const mid = pcm.subarray(9600, pcm.length - 9600);
  const left = estimateFrequency(mid, 48000, 2, 0);
  const right = estimateFrequency(mid, 48000, 2, 1);
  assert.ok(Math.abs(left - 440) < 1, `left ${left} Hz`);
  assert.ok(Math.abs(right - 660) < 1, `right ${right} Hz`);
  assert.ok(Math.abs(rms(mid, 2, 0) - 0.25 / Math.SQRT2) < 0.03, `left rms ${rms(mid, 2, 0)}`);
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
    // Without an SDP the ingest takes Opus on ffmpeg's dynamic PT.
    checkStream(run, fmt.payloadType, new RtpPayloadTable());
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
    checkStream(run, fmt.payloadType, new RtpPayloadTable(sdp));
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

  it('L16 stereo 44.1 kHz RTP (static PT 10, no rtpmap in ffmpeg\'s SDP): 440 Hz left, 660 Hz right, bit-exact', async () => {
    const src = 'aevalsrc=0.25*sin(2*PI*440*t)|0.25*sin(2*PI*660*t):s=44100:d=1:n=441';
    let frames = 0;
    const run = await ffmpegRtp(src, ['-c:a', 'pcm_s16be'], (ps) => {
      frames = 0;
      for (const p of ps) frames += p.payload.length / 4;
      return frames >= 44100;
    }, 44100);
    const sdp = parseSdp(run.sdpText);
    const info = new RtpPayloadTable(sdp).get(run.packets[0].payloadType);
    assert.deepEqual(info, { payloadType: 10, codec: 'L16', clockRate: 44100, channels: 2 });
    checkStream(run, 10, new RtpPayloadTable(sdp));
    const all = new Float32Array(frames * 2);
    let o = 0;
    for (const p of run.packets) {
      assert.equal((p.timestamp - run.packets[0].timestamp) >>> 0, o / 2, 'timestamps count frames');
      l16ToF32(p.payload, all, o);
      o += p.payload.length / 2;
    }
    assert.ok(Math.abs(estimateFrequency(all, 44100, 2, 0) - 440) < 1);
    assert.ok(Math.abs(estimateFrequency(all, 44100, 2, 1) - 660) < 1);
    const ref = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', src, '-f', 's16be', '-c:a', 'pcm_s16be', '-']);
    assert.equal(ref.status, 0);
    assert.deepEqual(all, l16ToF32(ref.stdout));
  });

  it('ffmpeg decodes the Opus RTP RtpSender builds, from the SDP we write: 440 Hz left, 660 Hz right', async () => {
    const enc = new OpusEncoder({ channels: 2, frameSamples: 960, bitrate: 128000 });
    const frame = new Float32Array(960 * 2);
    const tx = new RtpSender({ payloadType: 96, clockRate: 48000, initialSeq: 65500, initialTimestamp: 0xfffff000 });
    const pcm = await ffmpegReceives({ codec: 'opus', channels: 2, ptimeMs: 20 }, (i) => {
      const payload = enc.encode(Buffer.from(toneFrame(i, 960, frame).buffer));
      return tx.packet(payload, i * 960, i === 0);
    }, 1);
    checkTones(pcm, 1);
  });

  it('ffmpeg decodes the L24 RTP at 1 ms packets we build from the SDP we write: 440 Hz left, 660 Hz right', async () => {
    const frame = new Float32Array(48 * 2);
    const payload = Buffer.alloc(48 * 2 * 3);
    const pcm = await ffmpegReceives({ codec: 'L24', channels: 2, sampleRate: 48000, ptimeMs: 1, payloadType: 100 }, (i) => {
      f32ToL24(toneFrame(i, 48, frame), payload);
      return buildRtp({ payloadType: 100, seq: i, timestamp: i * 48, ssrc: 77 }, payload);
    }, 1);
    checkTones(pcm, 1);
  });
});

// Bench tool: the UDP ingest alone — a UdpStreamServer with a mix engine's ring attached, N fake senders in a child
// process (HELLO, then one pcm_s16le frame every 10 ms each) — and what it costs: the ingest thread's busy time per
// datagram, the event loop's utilisation (it should do nothing per packet), the mix thread's missed ticks.
//
// `node [--cpu-prof --cpu-prof-dir DIR] dist/bench/udp-ingest-profile.js [SENDERS=200] [SECONDS=20] [ring|no-ring]`:
// no-ring, the audio comes to the event loop in batches and each link emits it (what a reader wired to anything but
// one mixer gets), counted and dropped there. With --cpu-prof
// one profile per thread (the main one, the ingest thread, the mix thread); bench/profile-summary.ts reads them.
import { fork } from 'node:child_process';
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { UdpStreamServer } from '../runtime/protocol/udp-server';
import { createMixEngine } from '../runtime/audio/mix-engine';
import { threadCpuMs } from '../runtime/clock';
import { Codec, encodeAudioFrame, encodeJsonFrame, FrameType, type AudioHeader } from '../runtime/protocol/frame';

const N = 480;

function generator(port: number, senders: number, seconds: number): void {
  const sockets = Array.from({ length: senders }, () => dgram.createSocket('udp4'));
  const data = Buffer.alloc(N * 2);
  for (let i = 0; i < N; i++) data.writeInt16LE(Math.round(1000 * Math.sin(i / 10)), 2 * i);
  const h: AudioHeader = { trackId: 1, seq: 0, captureTime: 0, sampleRate: 48000, channels: 1, codec: Codec.PCM_S16LE, frameSamples: N };
  // Connected sockets: no lookup per send, so the generator outruns the ingest as long as it can.
  for (const s of sockets) s.connect(port, '127.0.0.1');
  const hello = (i: number) => encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId: `peer${i}`, role: 'peer' });
  sockets.forEach((s, i) => s.once('connect', () => s.send(hello(i))));
  const t0 = performance.now();
  let k = 0;
  const tick = (): void => {
    const due = Math.floor((performance.now() - t0) / 10);
    while (k <= due) {
      h.seq = k;
      const frame = encodeAudioFrame(h, data);
      for (const s of sockets) s.send(frame);
      if (k % 200 === 0) sockets.forEach((s, i) => s.send(hello(i)));
      k++;
    }
    if (performance.now() - t0 < seconds * 1000) setTimeout(tick, 2);
    else { for (const s of sockets) s.close(); process.exit(0); }
  };
  setTimeout(tick, 200);
}

async function main(): Promise<void> {
  const senders = Number(process.argv[2] ?? 200);
  const seconds = Number(process.argv[3] ?? 20);
  const engine = createMixEngine({ sampleRate: 48000, channels: 1, frameSamples: N, playout: { targetDepthFrames: 3 }, realtime: null });
  engine.start();
  const srv = new UdpStreamServer({ limits: { maxConnections: Math.max(1000, senders) } });
  const { port } = await srv.listen();
  const ring = process.argv[4] !== 'no-ring';
  const att = engine.attachRing();
  if (ring) srv.attachRing(att.ring, att.sampleRate);
  let audioEvents = 0;
  srv.on('connection', (l) => l.on('audio', () => { audioEvents++; }));
  const gen = fork(__filename, ['gen', String(port), String(senders), String(seconds)]);
  // The first seconds are HELLOs and warm-up; measured from 2 s in.
  await new Promise((r) => setTimeout(r, 2000));
  const s0 = srv.stats;
  const elu0 = performance.eventLoopUtilization();
  const main0 = threadCpuMs() ?? 0;
  const c0 = engine.stats();
  await new Promise<void>((resolve) => gen.once('exit', () => resolve()));
  await new Promise((r) => setTimeout(r, 600));
  const s1 = srv.stats;
  const elu = performance.eventLoopUtilization(elu0);
  const mainMs = (threadCpuMs() ?? 0) - main0;
  const c1 = engine.stats();
  const dgrams = s1.datagrams - s0.datagrams;
  const out = {
    senders, seconds, ring, batches: s1.batches - s0.batches, sessions: s0.sessions, datagrams: dgrams, ringWritten: s1.ringWritten - s0.ringWritten, ringFull: s1.ringFull,
    drops: s1.drops, audioPosted: s1.audioPosted, audioEventsOnEventLoop: audioEvents,
    ingestThreadCpuUsPerDatagram: ((s1.cpuMs - s0.cpuMs) * 1000) / dgrams,
    ingestThreadCpuMs: s1.cpuMs - s0.cpuMs,
    eventLoopCpuMs: mainMs,
    eventLoopCpuUsPerDatagram: (mainMs * 1000) / dgrams,
    eventLoopUtilization: elu.utilization,
    mixTicks: c1.ticks - c0.ticks, missedDeadlines: c1.missedDeadlines - c0.missedDeadlines,
    tracks: engine.tracks().length,
  };
  console.log(JSON.stringify(out, null, 2));
  att.detach();
  engine.close();
  await srv.close();
  process.exit(0);
}

if (process.argv[2] === 'gen') generator(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]));
else void main();

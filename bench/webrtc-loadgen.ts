// Bench WebRTC load generator (a child process, pinned away from the xcast): N browser-like peers (werift, see
// bench/lib/rtc-load.ts), each publishing 10 ms mono Opus in real time and listening to its mix-minus.
//
// Driven over IPC by bench/webrtc.ts exactly like bench/loadgen.ts: 'start' signals and connects the peers, 'mark'
// opens a window, 'report' closes it, 'stop' leaves (DELETE) and exits. Peer 0 plays the 1 kHz tone (or, in probe
// mode, the 2 kHz bursts); peer 1 is the monitor: it decodes the mix it hears (everyone but itself) and checks the
// tone or times the bursts — peer 0's packet sent → the mix packet carrying it received, through the xcast.
import { performance } from 'node:perf_hooks';
import { percentile } from '../runtime/percentile';
import { OpusEncoder } from '../runtime/audio/opus';
import { f32Buffer, s16ToF32 } from '../runtime/audio/pcm';
import { MixMonitor } from './lib/mix-monitor';
import { SeqUnwrapper, extendRtpSeq } from '../runtime/seq';
import { loadPacketSet, measureCodecDelay, PacketLoop, SAMPLE_RATE } from './lib/packets';
import { rtcPeerEncoder } from './lib/rtc-packets';
import { RtcLoadPeer, answerOpus } from './lib/rtc-load';

export interface RtcLoadgenStart {
  cmd: 'start';
  /** Signaling base URL (http://127.0.0.1:PORT/xcast/rtc). */
  base: string;
  room: string;
  peers: number;
  packetsFile: string;
  /** 'tone' / 'probe': what peer 0 plays; 'filler': every peer plays filler (a session where someone else probes). */
  mode: 'tone' | 'probe' | 'filler';
  publish: boolean;
  listen: boolean;
  /** Settings of the xcast's mix encoder, for the codec delay the probe subtracts. */
  mixEncoder: { complexity: number; bitrate: number };
  /** Offers being set up at once. */
  concurrency?: number;
  userPrefix?: string;
}

export interface RtcLoadgenReport {
  peers: number;
  connected: number;
  failed: string[];
  /** The state changes of the first peers that failed (first attempts) or are closed / not connected now. */
  closedStates: Array<{ userId: string; states: string[] }>;
  /** Peers that needed a second connection attempt. */
  retried: number;
  /** Offer POST → answer, and → connected (ms): p50 and max over the peers. */
  answerMs: { p50: number; max: number };
  connectMs: { p50: number; max: number };
  answer: { fmtp: string | null; ptime: number | null };
  windowSeconds: number;
  packetsSent: number;
  sendLateP99Ms: number;
  sendLateMaxMs: number;
  /** Mix packets each listener got in the window, as a fraction of the frames due (min and median). */
  rxFractionMin: number;
  rxFractionMedian: number;
  rxSilent: number;
  rxSeqGaps: number;
  closed: number;
  /** CPU of this generator over the window (fraction of one core): when it nears 1, the generator is the bound. */
  cpu: number;
  monitor: {
    frames: number;
    concealed: number;
    toneHz: number | null;
    toneDbfs: number | null;
    discontinuities: number | null;
    analysedSeconds: number;
    latencyMs: number[];
    probeMisaligned: number;
    codecDelay: { peer: number; mix: number };
  };
}

type Msg = RtcLoadgenStart | { cmd: 'mark' } | { cmd: 'report' } | { cmd: 'stop' };
const send = (m: unknown) => process.send?.(m);

interface Peer {
  index: number;
  rtc: RtcLoadPeer;
  loop: PacketLoop;
  pos: number;
  due: number;
  rxFrames: number;
  rxLastSeq: number;
  rxGaps: number;
  wireSeq: number;
  onRtp?: (payload: Buffer, seq: number) => void;
}

let peers: Peer[] = [];
let failed: string[] = [];
let firstFailures: Array<{ userId: string; states: string[] }> = [];
let retried = 0;
let periodMs = 10;
let frameSamples = 480;
let running = false;
let timer: NodeJS.Timeout | null = null;
let mode: RtcLoadgenStart['mode'] = 'tone';
let listen = true;

let windowStart = 0;
let cpuStart = process.cpuUsage();
let packetsSent = 0;
const lateRing = new Float64Array(1 << 16);
let lateCount = 0;

// Monitor (peer 1): the mix-minus it hears, decoded in seq order; the probe's timing (bench/lib/mix-monitor.ts).
let monitor: MixMonitor | null = null;
const monSeq = new SeqUnwrapper();
let monSeq0 = -1;

function onMonitorRtp(payload: Buffer, seq16: number): void {
  const now = performance.now();
  const ext = extendRtpSeq(monSeq, seq16);
  if (monSeq0 < 0) monSeq0 = ext;
  (monitor as MixMonitor).receive(ext - monSeq0, payload, now);
}

async function startPeers(m: RtcLoadgenStart): Promise<void> {
  const set = loadPacketSet(m.packetsFile);
  frameSamples = set.frameSamples;
  periodMs = (frameSamples * 1000) / SAMPLE_RATE;
  mode = m.mode;
  listen = m.listen;
  const mon = (monitor = new MixMonitor(frameSamples, m.mode === 'probe'));
  const mixEnc = new OpusEncoder({ channels: 2, frameSamples, bitrate: m.mixEncoder.bitrate, complexity: m.mixEncoder.complexity });
  const f32 = new Float32Array(frameSamples * 2);
  const f32Bytes = f32Buffer(f32);
  mon.codecDelay = {
    peer: measureCodecDelay(rtcPeerEncoder(), frameSamples),
    mix: measureCodecDelay((s16) => { s16ToF32(s16, f32); return mixEnc.encode(f32Bytes); }, frameSamples),
  };
  const t0 = performance.now() + 200;
  const prefix = m.userPrefix ?? 'rtc-';
  for (let i = 0; i < m.peers; i++) {
    const loop = i === 0 && m.mode === 'tone' ? set.tone : i === 0 && m.mode === 'probe' ? set.probe : set.filler;
    const userId = `${prefix}${String(i).padStart(4, '0')}`;
    const p: Peer = {
      index: i, loop, pos: i === 0 ? 0 : Math.floor(Math.random() * loop.packets.length),
      due: t0 + (i / m.peers) * periodMs, rxFrames: 0, rxLastSeq: -1, rxGaps: 0, wireSeq: 0,
      rtc: null as unknown as RtcLoadPeer,
    };
    const onRtp = m.listen ? (payload: Buffer, seq: number) => {
      p.rxFrames++;
      if (p.rxLastSeq >= 0 && seq !== ((p.rxLastSeq + 1) & 0xffff)) p.rxGaps++;
      p.rxLastSeq = seq;
      if (i === 1) onMonitorRtp(payload, seq);
    } : undefined;
    p.onRtp = onRtp;
    p.rtc = new RtcLoadPeer({ base: m.base, room: m.room, userId, publish: m.publish, listen: m.listen }, onRtp);
    peers.push(p);
  }
  // Peers that connected start sending at once (pump skips the others); a few offers at a time.
  // A peer not connected in 15 s tries once more with a new connection (as the join page reconnects by itself; the
  // same userId replaces the first on the xcast); both attempts are reported.
  const queue = [...peers];
  const worker = async () => {
    for (let p = queue.shift(); p; p = queue.shift()) {
      try { await p.rtc.connect(); } catch (err) {
        failed.push((err as Error).message.slice(0, 200));
        firstFailures.push({ userId: p.rtc.o.userId, states: p.rtc.states });
        await p.rtc.close().catch(() => undefined);
        p.rtc = new RtcLoadPeer(p.rtc.o, p.onRtp);
        retried++;
        try { await p.rtc.connect(); } catch (e2) { failed.push(`retry: ${(e2 as Error).message.slice(0, 200)}`); }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(m.concurrency ?? 6, peers.length) }, worker));
}

function pump(): void {
  if (!running) return;
  const now = performance.now();
  for (let i = 0; i < peers.length; i++) {
    const p = peers[i];
    while (p.due <= now) {
      if (p.rtc?.connected && p.rtc.o.publish) {
        if (p.index === 0 && mode === 'probe') {
          monitor?.probeSent(p.wireSeq, p.loop.bursts.includes(p.pos), performance.now());
        }
        p.rtc.send(p.loop.packets[p.pos], frameSamples);
        p.wireSeq++;
        packetsSent++;
        lateRing[lateCount++ & (lateRing.length - 1)] = now - p.due;
        if (++p.pos === p.loop.packets.length) p.pos = 0;
      }
      p.due += periodMs;
      if (now - p.due > 200) p.due = now;
    }
  }
  timer = setTimeout(pump, 1);
}

function mark(): void {
  windowStart = performance.now();
  cpuStart = process.cpuUsage();
  packetsSent = 0;
  lateCount = 0;
  for (const p of peers) { p.rxFrames = 0; p.rxGaps = 0; }
  monitor?.resetWindow();
}

function stat(xs: number[]): { p50: number; max: number } {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return { p50: percentile(s, 0.5, NaN), max: s.length ? s[s.length - 1] : NaN };
}

function report(): RtcLoadgenReport {
  const secs = (performance.now() - windowStart) / 1000;
  const c = process.cpuUsage(cpuStart);
  const lates = Array.from(lateRing.subarray(0, Math.min(lateCount, lateRing.length))).sort((a, b) => a - b);
  const due = (secs * 1000) / periodMs;
  const fr = listen ? peers.map((p) => p.rxFrames / due).sort((a, b) => a - b) : [];
  const tone = mode === 'tone' && listen && monitor && monitor.frames > 0 ? monitor.toneCheck(secs) : { toneHz: null, toneDbfs: null, discontinuities: null, analysedSeconds: 0 };
  return {
    peers: peers.length,
    connected: peers.filter((p) => p.rtc.connected).length,
    failed: failed.slice(0, 5),
    closedStates: [...firstFailures, ...peers.filter((p) => p.rtc.closed || !p.rtc.connected).map((p) => ({ userId: p.rtc.o.userId, states: p.rtc.states }))].slice(0, 4),
    retried,
    answerMs: stat(peers.map((p) => p.rtc.answerMs)),
    connectMs: stat(peers.map((p) => p.rtc.connectMs)),
    answer: answerOpus(peers.find((p) => p.rtc.answerSdp)?.rtc.answerSdp ?? ''),
    windowSeconds: secs,
    packetsSent,
    sendLateP99Ms: percentile(lates, 0.99, 0),
    sendLateMaxMs: lates.length ? lates[lates.length - 1] : 0,
    rxFractionMin: fr.length ? fr[0] : 1,
    rxFractionMedian: fr.length ? percentile(fr, 0.5, 0) : 1,
    rxSilent: listen ? peers.filter((p) => p.rxFrames === 0).length : 0,
    rxSeqGaps: peers.reduce((s, p) => s + p.rxGaps, 0),
    closed: peers.filter((p) => p.rtc.closed).length,
    cpu: (c.user + c.system) / 1e6 / secs,
    monitor: {
      frames: monitor?.frames ?? 0, concealed: monitor?.concealed ?? 0, ...tone,
      latencyMs: monitor?.latencies ?? [], probeMisaligned: monitor?.misaligned ?? 0, codecDelay: monitor?.codecDelay ?? { peer: 0, mix: 0 },
    },
  };
}

async function stop(): Promise<void> {
  running = false;
  if (timer) clearTimeout(timer);
  const hard = setTimeout(() => process.exit(0), 3000);
  await Promise.all(peers.map((p) => p.rtc.close().catch(() => undefined)));
  clearTimeout(hard);
  process.exit(0);
}

process.on('message', (m: Msg) => {
  switch (m.cmd) {
    case 'start':
      running = true;
      pump();
      void startPeers(m).then(() => {
        mark();
        send({ ev: 'started', peers: peers.length, connected: peers.filter((p) => p.rtc.connected).length });
      }, (err) => send({ ev: 'error', message: String((err as Error).stack ?? err) }));
      break;
    case 'mark': mark(); send({ ev: 'marked' }); break;
    case 'report': send({ ev: 'report', report: report() }); break;
    case 'stop': void stop(); break;
  }
});
process.on('disconnect', () => void stop());
send({ ev: 'ready' });

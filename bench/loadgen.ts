// Bench load generator (a child process, pinned away from the xcast): N synthetic streamproto1 peers sending real Opus in real time, each receiving the mix.
//
// Driven over IPC by bench/run.ts: 'start' connects the peers (one sending and one receiving TCP connection each,
// like a peer flow's socket writer and reader), 'mark' opens a measuring window, 'report' closes it and answers
// with what the peers saw, 'stop' disconnects and exits. Peer 0 plays the tone (or, in latency mode, the probe);
// peer 1's receiving side is the monitor: it decodes the mix it gets and checks the tone or times the probe.
import net from 'node:net';
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { FrameParser } from '../runtime/protocol/parser';
import { percentile } from '../runtime/percentile';
import { f32Buffer, s16ToF32 } from '../runtime/audio/pcm';
import { FrameType, encodeJsonFrame, encodePong, PROTOCOL_NAME } from '../runtime/protocol/frame';
import { OpusEncoder } from '../runtime/audio/opus';
import { MixMonitor } from './lib/mix-monitor';
import { loadPacketSet, measureCodecDelay, peerEncoder, PacketLoop, SAMPLE_RATE, CHANNELS } from './lib/packets';

export interface LoadgenStart {
  cmd: 'start';
  host: string;
  ingestPort: number;
  mixPort: number;
  packetsFile: string;
  peers: number;
  /** Peer 0 plays the tone ('tone') or the latency probe ('probe'); 'filler': every peer plays filler (someone else probes). */
  mode: 'tone' | 'probe' | 'filler';
  /**
   * Share of the peers (0 … 1, never peer 0) that send digital silence — listeners, as in a big session where most
   * are muted: their mix-minus is the whole mix, encoded once for all of them. Default 0: every peer plays.
   */
  quiet?: number;
  /** Settings of the xcast's mix encoder, for the codec delay the probe subtracts. */
  mixEncoder: { complexity: number; bitrate: number };
  /** New connections per 10 ms while connecting (SYN bursts of hundreds overflow nothing, but pace them). */
  connectRate?: number;
  /**
   * 'udp': streamproto1 over UDP — each peer two connected dgram sockets (its own source ports, so its own sessions:
   * one to the ingest, one to the mix writer), HELLO at start and every 2 s; connected, so no dns.lookup per send.
   * Default 'tcp'.
   */
  transport?: 'tcp' | 'udp';
  /**
   * UDP: every Kth peer's receiving socket (and the monitor's) reads the mix in JS; the others stop reading once
   * their HELLO is acked — the xcast still sends them every frame (its work is the same), their kernel buffer takes it
   * and drops the rest. Node's dgram makes one JS callback per datagram: 300 receivers reading would cost the
   * generator 30,000 callbacks a second, more than the xcast's side of it. Default 10; 1 = every receiver reads.
   */
  udpReadEvery?: number;
}

export interface LoadgenReport {
  peers: number;
  connectedTx: number;
  connectedRx: number;
  windowSeconds: number;
  packetsSent: number;
  /** How late the generator's own sends were (ms): a late generator makes the xcast look worse than it is. */
  sendLateP99Ms: number;
  sendLateMaxMs: number;
  /** Mix frames each receiver got in the window, as a fraction of the frames due (min and median over peers). */
  rxFractionMin: number;
  rxFractionMedian: number;
  /** Receivers that got nothing in the window (of those reading). */
  rxSilent: number;
  /** Receivers whose mix the generator read and counted (UDP: udpReadEvery). */
  receiversReading: number;
  /** Jumps in the mix seq seen by receivers (frames the xcast did not send them). */
  rxSeqGaps: number;
  closed: number;
  monitor: {
    frames: number;
    concealed: number;
    toneHz: number | null;
    toneDbfs: number | null;
    discontinuities: number | null;
    analysedSeconds: number;
    /** Probe bursts timed: packet sent → mixed packet received, ms. */
    latencyMs: number[];
    probeMisaligned: number;
    codecDelay: { peer: number; mix: number };
  };
}

type Msg = LoadgenStart | { cmd: 'mark' } | { cmd: 'report' } | { cmd: 'stop' };

const send = (m: unknown) => process.send?.(m);

interface Peer {
  index: number;
  userId: string;
  tx: net.Socket | dgram.Socket;
  rx: net.Socket | dgram.Socket;
  /** Sends one frame on the sending link (TCP write or one datagram). */
  write: (b: Buffer) => void;
  txOpen: boolean;
  rxOpen: boolean;
  loop: PacketLoop;
  templates: Buffer[];
  pos: number;
  seq: number;
  due: number;
  rxFrames: number;
  rxLastSeq: number;
  rxGaps: number;
  /** Reads the mix (and counts it): false for a UDP receiver that stopped reading (udpReadEvery). */
  reads: boolean;
}

let peers: Peer[] = [];
let periodMs = 10;
let frameSamples = 480;
let running = false;
let timer: NodeJS.Timeout | null = null;
let closedCount = 0;

// Window statistics.
let windowStart = 0;
let packetsSent = 0;
const lateRing = new Float64Array(1 << 16);
let lateCount = 0;

// Monitor (peer 1's receiver): decodes the mix, times the probe (bench/lib/mix-monitor.ts).
let monitor: MixMonitor | null = null;
let monSeq0 = -1;
let mode: LoadgenStart['mode'] = 'tone';

function nowMicros(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

/** Frame header + AUDIO header + packet, with seq and captureTime left to fill in per send. */
function template(packet: Buffer, trackId: number): Buffer {
  const n = 24 + packet.length;
  const b = Buffer.alloc(8 + n);
  b[0] = 0x53; b[1] = 0x50; b[2] = 1; b[3] = FrameType.AUDIO;
  b.writeUInt32BE(n, 4);
  b.writeUInt32BE(trackId, 8);
  b.writeUInt32BE(SAMPLE_RATE, 24);
  b[28] = CHANNELS;
  b[29] = 2; // opus
  b.writeUInt16BE(frameSamples, 30);
  packet.copy(b, 32);
  return b;
}

function hello(userId: string, role: 'peer' | 'monitor'): Buffer {
  return encodeJsonFrame(FrameType.HELLO, { protocol: PROTOCOL_NAME, userId, role });
}

/** Answers PINGs (the xcast closes connections that are silent for 15 s) and hands AUDIO payloads on. */
function attachParser(sock: net.Socket, onAudio: ((payload: Buffer) => void) | null, onHello: () => void): void {
  const parser = new FrameParser(1 << 20);
  sock.on('data', (chunk: Buffer) => {
    try {
      parser.push(chunk, (type, payload) => {
        if (type === FrameType.AUDIO) { if (onAudio) onAudio(payload); }
        else if (type === FrameType.PING) {
          const t1 = nowMicros();
          const t0 = Number(payload.readBigUInt64BE(0));
          sock.write(encodePong(t0, t1, nowMicros()));
        } else if (type === FrameType.HELLO) onHello();
      });
    } catch {
      sock.destroy();
    }
  });
}

/** UDP: HELLO refresh period (the xcast's session idle timeout is 15 s; the spec's bound 5 s). */
const UDP_HELLO_MS = 2000;
const udpSockets: dgram.Socket[] = [];
let helloTimer: NodeJS.Timeout | null = null;
/** One callback for every datagram sent (a refused send — nothing listening — is simply lost, as UDP is). */
const sent = (): void => undefined;

/**
 * A connected dgram socket speaking streamproto1: HELLO now and every UDP_HELLO_MS (the server acks each: the first
 * ack calls onHello), PINGs answered, AUDIO payloads handed on. One frame per datagram.
 */
function udpLink(host: string, port: number, helloFrame: Buffer, onAudio: ((payload: Buffer) => void) | null, onHello: () => void): dgram.Socket {
  const s = dgram.createSocket('udp4');
  let acked = false;
  s.on('message', (d: Buffer) => {
    if (d.length < 8 || d[0] !== 0x53 || d[1] !== 0x50) return;
    const type = d[3];
    if (type === FrameType.AUDIO) { if (onAudio) onAudio(d.subarray(8)); }
    else if (type === FrameType.PING && d.length >= 16) {
      const t1 = nowMicros();
      s.send(encodePong(Number(d.readBigUInt64BE(8)), t1, nowMicros()), sent);
    } else if (type === FrameType.HELLO && !acked) { acked = true; onHello(); }
  });
  s.on('error', () => { /* ICMP unreachable on a connected socket: lost datagrams, as UDP is */ });
  s.bind(0, '127.0.0.1', () => s.connect(port, host, () => s.send(helloFrame, sent)));
  (s as unknown as { helloFrame: Buffer }).helloFrame = helloFrame;
  udpSockets.push(s);
  return s;
}

/**
 * Stops reading a dgram socket (libuv's recvStop on its handle; dgram has no public pause): datagrams then stay in
 * the kernel, which drops them once the socket's buffer is full. The socket still sends (its HELLO refreshes).
 */
function stopReading(s: dgram.Socket): void {
  const state = Object.getOwnPropertySymbols(s).find((k) => k.description === 'state symbol');
  const handle = state ? (s as unknown as Record<symbol, { handle?: { recvStop?: () => number } }>)[state]?.handle : undefined;
  if (typeof handle?.recvStop !== 'function') throw new Error('loadgen: this Node has no dgram handle.recvStop (set udpReadEvery to 1)');
  handle.recvStop();
}

function refreshHellos(): void {
  for (const s of udpSockets) {
    try { s.send((s as unknown as { helloFrame: Buffer }).helloFrame, sent); } catch { /* not connected yet */ }
  }
}

function onMonitorAudio(payload: Buffer): void {
  const now = performance.now();
  const seq = payload.readUInt32BE(4);
  if (monSeq0 < 0) monSeq0 = seq;
  (monitor as MixMonitor).receive((seq - monSeq0) >>> 0, payload.subarray(24), now);
}

function startPeers(m: LoadgenStart): Promise<void> {
  const set = loadPacketSet(m.packetsFile);
  frameSamples = set.frameSamples;
  periodMs = (frameSamples * 1000) / SAMPLE_RATE;
  mode = m.mode;
  const mon = (monitor = new MixMonitor(frameSamples, m.mode === 'probe'));
  const mixEnc = new OpusEncoder({ channels: 2, frameSamples, bitrate: m.mixEncoder.bitrate, complexity: m.mixEncoder.complexity });
  const f32 = new Float32Array(frameSamples * CHANNELS);
  const f32Bytes = f32Buffer(f32);
  mon.codecDelay = {
    peer: measureCodecDelay(peerEncoder(), frameSamples),
    mix: measureCodecDelay((s16) => {
      s16ToF32(s16, f32);
      return mixEnc.encode(f32Bytes);
    }, frameSamples),
  };
  const tplCache = new Map<PacketLoop, Buffer[]>();
  const templates = (l: PacketLoop) => {
    let t = tplCache.get(l);
    if (!t) tplCache.set(l, (t = l.packets.map((p) => template(p, 1))));
    return t;
  };
  const t0 = performance.now() + 200;
  const rate = m.connectRate ?? 20;
  return new Promise((resolve) => {
    let helloed = 0;
    const need = m.peers * 2;
    const done = () => { if (++helloed === need) resolve(); };
    for (let i = 0; i < m.peers; i++) {
      const quiet = i > 0 && set.silence !== undefined && i >= m.peers - Math.round((m.peers - 1) * (m.quiet ?? 0));
      const loop = quiet ? (set.silence as PacketLoop) : i === 0 && m.mode !== 'filler' ? (m.mode === 'probe' ? set.probe : set.tone) : set.filler;
      const userId = `peer-${String(i).padStart(4, '0')}`;
      const p: Peer = {
        index: i, userId, tx: null as unknown as net.Socket, rx: null as unknown as net.Socket, write: () => undefined, txOpen: false, rxOpen: false,
        loop, templates: templates(loop),
        // Filler peers start at random points of the loop, so their low tones do not add up in phase.
        pos: i === 0 ? 0 : Math.floor(Math.random() * loop.packets.length),
        seq: Math.floor(Math.random() * 1e6),
        // Real peers are not in step: spread the send phases over the period.
        due: t0 + (i / m.peers) * periodMs,
        rxFrames: 0, rxLastSeq: -1, rxGaps: 0,
        reads: m.transport !== 'udp' || i === 1 || i % Math.max(1, m.udpReadEvery ?? 10) === 0,
      };
      if (i === 0 && m.mode === 'probe') mon.resetProbe();
      peers.push(p);
      setTimeout(() => {
        const onAudio = (payload: Buffer) => {
          p.rxFrames++;
          const s = payload.readUInt32BE(4);
          if (p.rxLastSeq >= 0 && s !== ((p.rxLastSeq + 1) >>> 0)) p.rxGaps++;
          p.rxLastSeq = s;
          if (i === 1) onMonitorAudio(payload);
        };
        if (m.transport === 'udp') {
          const tx = udpLink(m.host, m.ingestPort, hello(userId, 'peer'), null, () => { p.txOpen = true; done(); });
          p.tx = tx;
          p.write = (b) => tx.send(b, sent);
          const rx = udpLink(m.host, m.mixPort, hello(userId, i === 1 ? 'monitor' : 'peer'), onAudio, () => {
            p.rxOpen = true;
            if (!p.reads) stopReading(rx);
            done();
          });
          p.rx = rx;
          return;
        }
        const tx = net.connect({ host: m.host, port: m.ingestPort }, () => { tx.setNoDelay(true); tx.write(hello(userId, 'peer')); });
        p.tx = tx;
        p.write = (b) => { tx.write(b); };
        attachParser(tx, null, () => { p.txOpen = true; done(); });
        const rx = net.connect({ host: m.host, port: m.mixPort }, () => { rx.setNoDelay(true); rx.write(hello(userId, i === 1 ? 'monitor' : 'peer')); });
        p.rx = rx;
        attachParser(rx, onAudio, () => { p.rxOpen = true; done(); });
        for (const s of [tx, rx]) {
          s.on('error', () => { /* counted on close */ });
          s.on('close', () => { if (running) closedCount++; });
        }
      }, Math.floor(i / rate) * 10);
    }
  });
}

/** Sends every packet that is due; peers are visited in phase order, so a late wake-up sends in order. */
function pump(): void {
  if (!running) return;
  const now = performance.now();
  for (let i = 0; i < peers.length; i++) {
    const p = peers[i];
    while (p.due <= now) {
      if (p.txOpen) {
        const tpl = p.templates[p.pos];
        const b = Buffer.allocUnsafe(tpl.length);
        tpl.copy(b);
        b.writeUInt32BE(p.seq, 12);
        b.writeBigUInt64BE(BigInt(Math.floor(nowMicros())), 16);
        if (p.index === 0 && mode === 'probe') {
          monitor?.probeSent(p.seq, p.loop.bursts.includes(p.pos), performance.now());
        }
        p.write(b);
        packetsSent++;
        lateRing[lateCount++ & (lateRing.length - 1)] = now - p.due;
        p.seq = (p.seq + 1) >>> 0;
        if (++p.pos === p.loop.packets.length) p.pos = 0;
      }
      p.due += periodMs;
      // A generator stalled for more than 200 ms skips ahead rather than bursting (and says so via sendLateMax).
      if (now - p.due > 200) p.due = now;
    }
  }
  timer = setTimeout(pump, 1);
}

function mark(): void {
  windowStart = performance.now();
  packetsSent = 0;
  lateCount = 0;
  for (const p of peers) { p.rxFrames = 0; p.rxGaps = 0; }
  monitor?.resetWindow();
  closedCount = 0;
}

function report(): LoadgenReport {
  const secs = (performance.now() - windowStart) / 1000;
  const lates = Array.from(lateRing.subarray(0, Math.min(lateCount, lateRing.length))).sort((a, b) => a - b);
  const due = (secs * 1000) / periodMs;
  const fr = peers.filter((p) => p.reads).map((p) => p.rxFrames / due).sort((a, b) => a - b);
  // The monitor's last seconds, in order.
  const tone = mode === 'tone' && monitor ? monitor.toneCheck(secs) : { toneHz: null, toneDbfs: null, discontinuities: null, analysedSeconds: 0 };
  return {
    peers: peers.length,
    connectedTx: peers.filter((p) => p.txOpen).length,
    connectedRx: peers.filter((p) => p.rxOpen).length,
    windowSeconds: secs,
    packetsSent,
    sendLateP99Ms: percentile(lates, 0.99, 0),
    sendLateMaxMs: lates.length ? lates[lates.length - 1] : 0,
    rxFractionMin: fr.length ? fr[0] : 0,
    rxFractionMedian: percentile(fr, 0.5, 0),
    rxSilent: peers.filter((p) => p.reads && p.rxFrames === 0).length,
    receiversReading: peers.filter((p) => p.reads).length,
    rxSeqGaps: peers.reduce((s, p) => s + p.rxGaps, 0),
    closed: closedCount,
    monitor: {
      frames: monitor?.frames ?? 0, concealed: monitor?.concealed ?? 0, ...tone,
      latencyMs: monitor?.latencies ?? [], probeMisaligned: monitor?.misaligned ?? 0, codecDelay: monitor?.codecDelay ?? { peer: 0, mix: 0 },
    },
  };
}

function stop(): void {
  running = false;
  if (timer) clearTimeout(timer);
  if (helloTimer) clearInterval(helloTimer);
  for (const p of peers) {
    for (const s of [p.tx, p.rx]) {
      if (s instanceof net.Socket) s.destroy();
      else if (s) try { s.close(); } catch { /* closed */ }
    }
  }
  setTimeout(() => process.exit(0), 50);
}

process.on('message', (m: Msg) => {
  switch (m.cmd) {
    case 'start':
      running = true;
      if (m.transport === 'udp') helloTimer = setInterval(refreshHellos, UDP_HELLO_MS);
      void startPeers(m).then(() => {
        mark();
        send({ ev: 'started', peers: peers.length });
      });
      // Peers that connected start sending at once; the rest join as they connect.
      pump();
      break;
    case 'mark': mark(); send({ ev: 'marked' }); break;
    case 'report': send({ ev: 'report', report: report() }); break;
    case 'stop': stop(); break;
  }
});
process.on('disconnect', () => stop());
send({ ev: 'ready' });

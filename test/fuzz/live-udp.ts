// Live UDP fuzzing: the real xcast preset (a child process) with well-behaved senders streaming a tone on each new
// UDP input — a streamproto1-over-UDP peer (UDP 7010), an Opus RTP sender with its RTCP (5004 / 5005) and a seed 002
// streamer (4030) — and a monitor on the mix, while a few thousand garbage and mutated datagrams arrive on the same
// ports from other sockets. Afterwards: the xcast alive and still answering a new HELLO, the good senders' tracks in the
// mix all along, the drops counted on /metrics (xcast_udp_dropped_total{reason}, and
// xcast_transport_limit_hits_total{limit="rtp_<reason>" / "seed002_<reason>"}), and the log quiet (nothing per datagram).
import dgram from 'node:dgram';
import http from 'node:http';
import { Codec, FrameType } from '../../runtime/protocol/frame';
import { OpusEncoder } from '../../runtime/audio/opus';
import { buildRtp } from '../../runtime/rtp/packet';
import { buildCompound, buildSdesCname, buildSenderReport, ntpFromUnixMs } from '../../runtime/rtp/rtcp';
import { encodeSeed002Mono } from '../../runtime/protocol/seed002';
import { startXcast, freePortMap, type XcastProcess } from '../support/xcast-process';
import { UdpTestSender } from '../support/udp-sender';
import { MixMonitor, type Continuity } from '../support/mix-monitor';
import { alive } from '../support/proc-stats';
import { rtcpCompound, rtpConfig, rtpPacket, seed002Datagram, udpDatagram } from './corpus';
import { mutateBytes, mutateFrame } from './mutate';
import { Rng } from './prng';

export interface LiveUdpOptions {
  seed: number;
  /** Attack datagrams per port (UDP 7010, RTP 5004, RTCP 5005, seed 002 4030). */
  perPort: number;
  log?: (line: string) => void;
}

export interface LiveUdpReport {
  seed: number;
  /** Datagrams sent per target, and how many of them no parser can take (noise that fails the first check). */
  sent: Record<string, number>;
  surelyBad: Record<string, number>;
  durationS: number;
  continuity: Continuity;
  /** The good senders' userIds, and for each how many of the mix's shared states (during and after the attack) lacked it connected. */
  good: string[];
  missing: Record<string, number>;
  states: number;
  /** Counters on /metrics after the attack (deltas from before it). */
  metrics: { udpDropped: Record<string, number>; rtpDrops: Record<string, number>; seed002Drops: Record<string, number>; udpDatagrams: number };
  /** A new UDP peer's HELLO was answered after the attack. */
  helloAnswered: boolean;
  alive: boolean;
  logLines: number;
  /** The first of those lines (what was said, for the report). */
  logSample: string[];
  /** Of those, the mixer's "stream … refused" errors: one per stream it cannot play (an attacker's session's track). */
  mixerRefusals: number;
  /** UDP sessions opened during the attack (xcast_udp_sessions_opened_total). */
  sessionsOpened: number;
  crashes: string[];
}

const SSRC = 0x600dcafe;

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** The series of /metrics this fuzzer reads, as "name{labels}" → value. */
async function scrape(base: string): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (const l of (await get(`${base}/metrics`)).split('\n')) {
    const r = /^(xcast_udp_dropped_total|xcast_udp_datagrams_total|xcast_udp_sessions_opened_total|xcast_transport_limit_hits_total)(\{[^}]*\})?\s+(\S+)$/.exec(l);
    if (r) m.set(r[1] + (r[2] ?? ''), Number(r[3]));
  }
  return m;
}

/** Deltas of the series matching `re` (its first group the label), from `a` to `b`, non-zero only. */
function deltas(a: Map<string, number>, b: Map<string, number>, re: RegExp): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of b) {
    const m = re.exec(k);
    if (m && v - (a.get(k) ?? 0) > 0) out[m[1]] = v - (a.get(k) ?? 0);
  }
  return out;
}

const total = (r: Record<string, number>) => Object.values(r).reduce((x, y) => x + y, 0);

function bindSocket(): Promise<dgram.Socket> {
  return new Promise((resolve) => { const s = dgram.createSocket('udp4'); s.on('error', () => undefined); s.bind(0, '127.0.0.1', () => resolve(s)); });
}

export async function runLiveUdpFuzz(o: LiveUdpOptions): Promise<LiveUdpReport> {
  const log = o.log ?? ((l: string) => console.log(l));
  const rng = new Rng(o.seed ^ 0x0d9a);
  const ports = await freePortMap();
  const sockets: dgram.Socket[] = [];
  let timer: NodeJS.Timeout | undefined;
  let hub: XcastProcess | undefined;
  let monitor: MixMonitor | undefined;
  const senders: UdpTestSender[] = [];
  try {
    hub = await startXcast({ flows: ['xcast'], portMap: ports });
    const pid = hub.proc.pid!;
    monitor = new MixMonitor(ports[7011]);

    // The good senders, every 10 ms: a 440 Hz PCM peer over UDP (HELLO every 2 s), 20 ms Opus RTP (an SR every
    // second), 10 ms seed 002 s16le mono.
    const peer = await new UdpTestSender(ports[7010]).start();
    senders.push(peer);
    const rtp = await bindSocket();
    const seedSock = await bindSocket();
    sockets.push(rtp, seedSock);
    const good = ['udp-good', `rtp-${SSRC.toString(16)}`, `seed002-127.0.0.1:${seedSock.address().port}`];
    const pcm = Array.from({ length: 100 }, (_, k) => {
      const b = Buffer.alloc(960);
      for (let i = 0; i < 480; i++) b.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * (k * 480 + i)) / 48000)), 2 * i);
      return b;
    });
    const enc = new OpusEncoder({ sampleRate: 48000, channels: 2, frameSamples: 960, bitrate: 64000 });
    const f32 = Buffer.alloc(960 * 2 * 4);
    let tick = 0;
    let rtpSeq = rng.int(65536);
    const send = (s: dgram.Socket, b: Buffer, port: number) => s.send(b, port, '127.0.0.1', () => undefined);
    const goodTick = () => {
      const k = tick++;
      if (k % 200 === 0) void peer.hello('udp-good');
      void peer.audio(pcm[k % 100], { seq: k, captureTime: Date.now() * 1000, channels: 1, codec: Codec.PCM_S16LE, frameSamples: 480 });
      send(seedSock, encodeSeed002Mono(k, pcm[(k + 50) % 100]), ports[4030]);
      if (k % 2 === 0) {
        for (let i = 0; i < 960; i++) { const v = 0.3 * Math.sin((2 * Math.PI * 660 * ((k / 2) * 960 + i)) / 48000); f32.writeFloatLE(v, 8 * i); f32.writeFloatLE(v, 8 * i + 4); }
        send(rtp, buildRtp({ payloadType: 97, seq: rtpSeq++, timestamp: (k / 2) * 960, ssrc: SSRC }, enc.encode(f32)), ports[5004]);
      }
      if (k % 100 === 50) {
        const [msw, lsw] = ntpFromUnixMs(Date.now());
        send(rtp, buildCompound([buildSenderReport(SSRC, { ntpMsw: msw, ntpLsw: lsw, rtpTimestamp: (k >> 1) * 960, packetCount: k >> 1, octetCount: 0 }), buildSdesCname(SSRC, 'good@fuzz')]), ports[5004] + 1);
      }
    };
    timer = setInterval(goodTick, 10);
    await monitor.nextFrame(20000);
    const connected = (s: { incomingAudioTracks: Array<{ userId: string; connected?: boolean }> }, u: string) => s.incomingAudioTracks.some((t) => t.userId === u && t.connected !== false);
    await monitor.stateWhere((s) => good.every((u) => connected(s, u)), 15000);
    await new Promise((r) => setTimeout(r, 1000));

    // The attack, made before the clock starts: per port, noise (a first byte no parser takes), mutated valid
    // datagrams, and valid ones from attacker sockets (HELLOs and audio that open sessions of their own).
    const targets: Array<{ name: string; port: number; make: () => Buffer; noise: () => Buffer }> = [
      { name: 'udp', port: ports[7010], make: () => (rng.bool(0.3) ? udpDatagram(rng) : mutateFrame(rng, udpDatagram(rng), () => udpDatagram(rng))), noise: () => Buffer.concat([Buffer.from([rng.int(0x53)]), rng.bytes(rng.small(1400))]) },
      { name: 'rtp', port: ports[5004], make: () => { const c = rtpConfig(rng); const p = rtpPacket(rng, c, rng.u32(), rng.int(65536)); return rng.bool(0.2) ? p : mutateBytes(rng, p); }, noise: () => Buffer.concat([Buffer.from([rng.int(0x80)]), rng.bytes(11 + rng.small(1400))]) },
      { name: 'rtcp', port: ports[5004] + 1, make: () => mutateBytes(rng, rtcpCompound(rng, rng.u32())), noise: () => Buffer.concat([Buffer.from([rng.int(0x80)]), rng.bytes(3 + 4 * rng.small(300))]) },
      // s16le mono: an odd audio length is never whole samples.
      { name: 'seed002', port: ports[4030], make: () => (rng.bool(0.2) ? seed002Datagram(rng, 2, rng.u32()) : mutateBytes(rng, seed002Datagram(rng, 2, rng.u32()))), noise: () => rng.bytes(5 + 2 * rng.small(700)) },
    ];
    const attackers = await Promise.all(Array.from({ length: 8 }, bindSocket));
    sockets.push(...attackers);
    const plan: Array<{ t: number; b: Buffer }> = [];
    const sent: Record<string, number> = {};
    const surelyBad: Record<string, number> = {};
    targets.forEach((tg, t) => {
      sent[tg.name] = o.perPort;
      surelyBad[tg.name] = 0;
      for (let i = 0; i < o.perPort; i++) {
        const noise = rng.bool(0.3);
        if (noise) surelyBad[tg.name]++;
        plan.push({ t, b: noise ? tg.noise() : tg.make() });
      }
    });
    for (let i = plan.length - 1; i > 0; i--) { const j = rng.int(i + 1); [plan[i], plan[j]] = [plan[j], plan[i]]; }

    const before = await scrape(hub.url);
    const logBefore = hub.output().split('\n').length;
    const missing: Record<string, number> = Object.fromEntries(good.map((u) => [u, 0]));
    let states = 0;
    let lastState = monitor.stateAt;
    const watch = setInterval(() => {
      if (!monitor!.state || monitor!.stateAt === lastState) return;
      lastState = monitor!.stateAt;
      states++;
      for (const u of good) if (!connected(monitor!.state, u)) missing[u]++;
    }, 50);
    const t0 = Date.now();
    monitor.startCounting();
    // Paced: 40 datagrams every 10 ms (4,000/s) from 8 sockets, so the kernel's receive buffers do not overflow.
    for (let i = 0; i < plan.length; i += 40) {
      for (const p of plan.slice(i, i + 40)) send(attackers[rng.int(attackers.length)], p.b, targets[p.t].port);
      await new Promise((r) => setTimeout(r, 10));
    }
    // The mix goes on for two more seconds (an attacker's session or source times out meanwhile).
    await new Promise((r) => setTimeout(r, 2000));
    const continuity = monitor.stopCounting();
    clearInterval(watch);
    const durationS = (Date.now() - t0) / 1000;

    // The counters: the UDP ingest's come from its thread now and then; poll until they stop moving.
    let after = await scrape(hub.url);
    for (let end = Date.now() + 3000; Date.now() < end;) {
      await new Promise((r) => setTimeout(r, 300));
      const again = await scrape(hub.url);
      const same = [...again].every(([k, v]) => after.get(k) === v);
      after = again;
      if (same) break;
    }
    const metrics = {
      udpDropped: deltas(before, after, /^xcast_udp_dropped_total\{reason="([^"]+)"\}$/),
      rtpDrops: deltas(before, after, /^xcast_transport_limit_hits_total\{limit="rtp_([^"]+)"\}$/),
      seed002Drops: deltas(before, after, /^xcast_transport_limit_hits_total\{limit="seed002_([^"]+)"\}$/),
      udpDatagrams: (after.get('xcast_udp_datagrams_total') ?? 0) - (before.get('xcast_udp_datagrams_total') ?? 0),
    };

    // Still serving: a new UDP peer's HELLO is answered.
    const late = await new UdpTestSender(ports[7010]).start();
    senders.push(late);
    let helloAnswered = false;
    for (let end = Date.now() + 3000; !helloAnswered && Date.now() < end;) {
      await late.hello('late-udp');
      await new Promise((r) => setTimeout(r, 200));
      helloAnswered = late.of(FrameType.HELLO).length > 0;
    }
    const out = hub.output();
    const logLines = out.split('\n').length - logBefore;
    const logSample = out.split('\n').slice(logBefore - 1, logBefore + 11).filter((l) => l.trim() !== '');
    const mixerRefusals = out.split('\n').slice(logBefore - 1).filter((l) => /\[xcast-mixer:[^\]]*\] Error: stream .* refused/.test(l)).length;
    const sessionsOpened = (after.get('xcast_udp_sessions_opened_total') ?? 0) - (before.get('xcast_udp_sessions_opened_total') ?? 0);
    log(`  live udp fuzz: ${plan.length} datagrams in ${durationS.toFixed(1)} s`);
    return {
      seed: o.seed, sent, surelyBad, durationS, continuity, good, missing, states, metrics, helloAnswered, alive: alive(pid), logLines, logSample, mixerRefusals, sessionsOpened,
      crashes: out.split('\n').filter((l) => /Unhandled|uncaught|FATAL|Segmentation|Aborted|RangeError|TypeError/i.test(l)).slice(0, 20),
    };
  } finally {
    clearInterval(timer);
    for (const s of senders) s.close();
    for (const s of sockets) s.close();
    await monitor?.close();
    await hub?.stop();
  }
}

/** What must hold after a live UDP run; empty when all is well. */
export function liveUdpProblems(r: LiveUdpReport): string[] {
  const p: string[] = [];
  if (!r.alive) p.push('the xcast died');
  if (r.crashes.length) p.push(`the xcast logged errors:\n    ${r.crashes.join('\n    ')}`);
  if (!r.helloAnswered) p.push('a new UDP peer\'s HELLO was not answered after the attack');
  if (r.states < 5) p.push(`only ${r.states} mix states seen during the attack`);
  for (const u of r.good) if (r.missing[u]) p.push(`the good sender ${u} was missing from ${r.missing[u]} of ${r.states} mix states`);
  if (r.continuity.gaps || r.continuity.received < r.durationS * 100 * 0.9) p.push(`the mix at the monitor: ${JSON.stringify(r.continuity)} in ${r.durationS.toFixed(1)} s`);
  // Every surely-bad datagram is a drop (the kernel may lose a few on the way: half at least), and no more drops than datagrams.
  const m = r.metrics;
  const check = (name: string, drops: number, sent: number) => {
    if (drops < r.surelyBad[name] / 2 || drops > sent) p.push(`${name}: ${drops} drops counted for ${r.surelyBad[name]} surely bad of ${sent} sent`);
  };
  check('udp', total(m.udpDropped), r.sent.udp);
  check('rtp', total(m.rtpDrops), r.sent.rtp + r.sent.rtcp);
  check('seed002', total(m.seed002Drops), r.sent.seed002);
  if (!m.rtpDrops.rtcp_malformed) p.push('no RTCP drop counted');
  // Quiet: a line per reason and node, and the mixer's one per stream it refuses (an attacker's session's track: at
  // most one per session opened, or per RTP / seed 002 source) — never one per datagram.
  if (r.logLines - r.mixerRefusals > 30) p.push(`${r.logLines - r.mixerRefusals} log lines (besides ${r.mixerRefusals} refused streams) for ${total(r.sent)} datagrams`);
  if (r.mixerRefusals > 2 * r.sessionsOpened + 64 + 64) p.push(`${r.mixerRefusals} refused-stream errors for ${r.sessionsOpened} UDP sessions opened`);
  return p;
}

export function formatLiveUdpReport(r: LiveUdpReport): string {
  const c = r.continuity;
  const fmt = (x: Record<string, number>) => Object.entries(x).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  return [
    `live udp fuzz (seed ${r.seed}): ${fmt(r.sent)} datagrams (${fmt(r.surelyBad)} surely bad) in ${r.durationS.toFixed(1)} s; xcast ${r.alive ? 'alive' : 'DEAD'}; a new HELLO ${r.helloAnswered ? 'answered' : 'NOT answered'}`,
    `  mix at the monitor: ${c.received} of ${c.expected} frames, ${c.gaps} gaps, longest interval ${c.maxIntervalMs} ms; good senders missing from the ${r.states} mix states: ${fmt(r.missing)}`,
    `  /metrics: xcast_udp_dropped_total ${fmt(r.metrics.udpDropped)} (of ${r.metrics.udpDatagrams} datagrams); rtp_* ${fmt(r.metrics.rtpDrops)}; seed002_* ${fmt(r.metrics.seed002Drops)}`,
    `  log lines during the attack: ${r.logLines} (${r.mixerRefusals} the mixer's refused streams; ${r.sessionsOpened} UDP sessions opened), the first: ${r.logSample.map((l) => l.replace(/^\S+ \S+ \S+ /, '').slice(0, 110)).join(' | ')}`,
  ].join('\n');
}

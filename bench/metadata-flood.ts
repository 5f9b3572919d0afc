// Bench: the identity-flood probe and the METADATA cost, on the engine parts the xcast preset wires together.
//
//   node dist/bench/metadata-flood.js flood [churns=2000] [slowKBps=100] [auth]
//   node dist/bench/metadata-flood.js patch [users=200] [seconds=10]
//
// flood: an ingest StreamServer feeding the AdminAggregator with connection events and a track list (as the socket
// reader and the mixer do), a mix-out StreamServer whose StreamSender carries the aggregator's snapshot as METADATA
// (as the socket writer does with metaSource global) and a mix of 50 frames/s; a fast monitor and a slow one (behind
// a relay passing `slowKBps` KB/s) that answer every frame with QOS. Phases: before the churn, then `churns`
// HELLO-only connections to the ingest, then after; then a real user joins and sends audio. Prints one JSON line.
// `auth`: the connection events say authenticated (a flood with valid credentials): the state does grow, and what
// is measured is the sender's protection of the slow monitor's audio from large METADATA.
// patch: `users` users sending audio and reporting QOS; one monitor taking full objects, one taking merge patches;
// METADATA bytes per second at each.
//
// Uses only APIs older than the identity-flood fix, so the same file measures the code before it.
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { StreamServer, type StreamConnection } from '../runtime/protocol/transport';
import { StreamSender } from '../runtime/protocol/sender';
import { AdminAggregator } from '../runtime/qos/aggregator';
import { FrameParser } from '../runtime/protocol/parser';
import { FrameType, decodeAudioPayload, decodePing, encodeAudioFrame, encodeJsonFrame, encodePong } from '../runtime/protocol/frame';
import { nowMicros } from '../runtime/clock';

type Obj = Record<string, unknown>;
// Absent before the fix: loaded if there.
let PatchReceiver: (new () => { receive(o: Obj): Obj }) | undefined;
try {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  PatchReceiver = require('../runtime/protocol/merge-patch').MetadataPatchReceiver;
} catch { /* the code before merge patches */ }

const FRAME_MS = 20;
const SAMPLES = 160;                 // pcm_s16le, 8 kHz mono, 20 ms: 320 bytes a frame, 17.2 KB/s on the wire
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A TCP relay passing server → client at most `bytesPerSec` (a token bucket), client → server as it comes. */
class SlowRelay {
  // One relay, one bucket per client connection: each slow monitor has a link of its own.
  private server = net.createServer((c) => this.onClient(c));
  private sockets = new Set<net.Socket>();
  port = 0;
  /** Bytes passed server → client, all connections. */
  relayed = 0;
  constructor(private readonly target: number, private readonly bytesPerSec: number) {}
  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    return (this.port = (this.server.address() as net.AddressInfo).port);
  }
  private onClient(c: net.Socket): void {
    const up = net.connect({ host: '127.0.0.1', port: this.target });
    this.sockets.add(c); this.sockets.add(up);
    c.pipe(up);
    let tokens = 0;
    let last = performance.now();
    up.on('data', (chunk) => {
      const now = performance.now();
      tokens = Math.min(this.bytesPerSec / 10, tokens + ((now - last) / 1000) * this.bytesPerSec);
      last = now;
      tokens -= chunk.length;
      this.relayed += chunk.length;
      c.write(chunk);
      if (tokens < 0) {
        up.pause();
        setTimeout(() => up.resume(), (-tokens / this.bytesPerSec) * 1000);
      }
    });
    const end = () => { c.destroy(); up.destroy(); };
    c.on('close', end); up.on('close', end); c.on('error', end); up.on('error', end);
  }
  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }
}

/** A monitor speaking streamproto1 by hand: counts AUDIO and METADATA, answers each frame with QOS and PING with PONG. */
class Monitor {
  audio = 0;
  metaFrames = 0;
  metaBytes = 0;
  lastMetaBytes = 0;
  latest: Obj | undefined;
  private readonly parser = new FrameParser(64 << 20);
  private readonly patches: { receive(o: Obj): Obj } | undefined;
  private socket!: net.Socket;
  constructor(readonly userId: string, private readonly port: number, private readonly patch: boolean) {
    this.patches = PatchReceiver && patch ? new PatchReceiver() : undefined;
  }
  async connect(): Promise<void> {
    this.socket = net.connect({ host: '127.0.0.1', port: this.port });
    this.socket.setNoDelay(true);
    this.socket.on('error', () => { /* the end of the bench */ });
    await new Promise((r) => this.socket.once('connect', r));
    const capabilities = this.patch ? ['qos', 'metadata-patch'] : ['qos'];
    this.socket.write(encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId: this.userId, role: 'monitor', capabilities }));
    this.socket.on('data', (chunk) => this.parser.push(chunk, (type, payload) => this.onFrame(type, payload)));
  }
  private onFrame(type: number, payload: Buffer): void {
    if (type === FrameType.AUDIO) {
      this.audio++;
      const { header } = decodeAudioPayload(payload);
      this.socket.write(encodeJsonFrame(FrameType.QOS, { head: { trackId: header.trackId, seq: header.seq, captureTime: header.captureTime }, qosTimestamp: nowMicros(), userId: this.userId }));
    } else if (type === FrameType.METADATA) {
      this.metaFrames++;
      this.metaBytes += payload.length + 8;
      this.lastMetaBytes = payload.length + 8;
      const o = JSON.parse(payload.toString('utf8')) as Obj;
      this.latest = this.patches ? this.patches.receive(o) : o;
    } else if (type === FrameType.PING) {
      const t = nowMicros();
      this.socket.write(encodePong(decodePing(payload), t, t));
    }
  }
  snapshot() { return { audio: this.audio, metaFrames: this.metaFrames, metaBytes: this.metaBytes }; }
  close(): void { this.socket.destroy(); }
}

/** The xcast preset's admin loop on engine parts. */
async function xcast(authenticated = false) {
  const agg = new AdminAggregator();
  const tracks = new Map<string, { lastSeq: number; received: number; at: number }>();
  const ingest = new StreamServer({ port: 0, pingIntervalMs: 1000 });
  const mixout = new StreamServer({ port: 0, pingIntervalMs: 1000 });
  let state: unknown;
  const sender = new StreamSender({ routeByTarget: true, metadata: () => (state === undefined ? undefined : { mixeradminSharedState: state }) });
  const connEvent = (event: 'open' | 'close', c: StreamConnection, direction: 'incoming' | 'outgoing') =>
    agg.onConnection({ event, userId: c.userId, connectionId: c.id, direction, remote: c.remote, role: c.role, at: Date.now(), ...(authenticated ? { authenticated } : {}) } as never);
  ingest.on('connection', (c) => {
    connEvent('open', c, 'incoming');
    c.on('audio', (h) => {
      const t = tracks.get(c.userId!) ?? { lastSeq: 0, received: 0, at: 0 };
      t.lastSeq = h.seq; t.received++; t.at = Date.now();
      tracks.set(c.userId!, t);
    });
    c.once('close', () => connEvent('close', c, 'incoming'));
  });
  mixout.on('connection', (c) => {
    connEvent('open', c, 'outgoing');
    sender.add(c);
    c.on('qos', (q) => { for (const v of sender.acceptQos(c, q)) agg.onQos(c.userId!, v, nowMicros()); });
    c.on('pong', (p) => agg.onPong(c.userId!, p));
    c.once('close', () => { sender.remove(c); connEvent('close', c, 'outgoing'); });
  });
  const mixerTimer = setInterval(() => {
    // The mixer's track list (its second output): every user whose audio it has, fresh in the last second.
    const now = Date.now();
    const list = [];
    for (const [userId, t] of tracks) {
      if (now - t.at > 1000) continue;
      list.push({ userId, trackId: 1, codec: 'pcm_s16le', sampleRate: 8000, channels: 1, lastSeq: t.lastSeq, lastPacketAt: t.at, connected: true,
        received: t.received, lost: 0, late: 0, duplicate: 0, outOfOrder: 0, concealedSamples: 0, depthSamples: 320, jitterMs: 0.4 });
    }
    agg.onTrackState(list);
  }, 100);
  const publishTimer = setInterval(() => { state = agg.snapshot(); }, 250);
  let seq = 0;
  const pcm = Buffer.alloc(SAMPLES * 2);
  const mixTimer = setInterval(() => {
    sender.sendAudio({ codec: 'pcm_s16le', sampleRate: 8000, channels: 1, frameSamples: SAMPLES, seq: seq++, captureTime: nowMicros(), trackId: 1 }, pcm);
  }, FRAME_MS);
  await ingest.listen();
  await mixout.listen();
  return {
    agg, sender, ingestPort: ingest.address!.port, mixoutPort: mixout.address!.port,
    /** AUDIO frames each receiver's write queue dropped (the transport's counter). */
    audioDropped: () => Object.fromEntries([...mixout.connections].map((c) => [c.userId, c.counters.audioDropped])),
    async close() {
      clearInterval(mixerTimer); clearInterval(publishTimer); clearInterval(mixTimer);
      sender.close();
      await Promise.all([ingest.close(), mixout.close()]);
    },
  };
}

/** A peer: HELLO to the ingest, then (if `audio`) a frame every 20 ms. */
async function peer(port: number, userId: string, audio: boolean): Promise<() => void> {
  const s = net.connect({ host: '127.0.0.1', port });
  s.on('error', () => { /* churned */ });
  await new Promise((r) => s.once('connect', r));
  s.write(encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId, role: 'peer' }));
  // the server's HELLO
  await new Promise((r) => s.once('data', r));
  let timer: NodeJS.Timeout | undefined;
  if (audio) {
    let seq = 0;
    const pcm = Buffer.alloc(SAMPLES * 2);
    timer = setInterval(() => s.write(encodeAudioFrame({ trackId: 1, seq: seq++, captureTime: nowMicros(), sampleRate: 8000, channels: 1, codec: 0, frameSamples: SAMPLES }, pcm)), FRAME_MS);
  }
  return () => { if (timer) clearInterval(timer); s.destroy(); };
}

async function measure(mons: Monitor[], ms: number) {
  const a = mons.map((m) => m.snapshot());
  const t0 = performance.now();
  await wait(ms);
  const s = (performance.now() - t0) / 1000;
  return mons.map((m, i) => {
    const b = m.snapshot();
    return {
      audioFramesPerSec: +((b.audio - a[i].audio) / s).toFixed(1),
      metadataFramesPerSec: +((b.metaFrames - a[i].metaFrames) / s).toFixed(2),
      metadataBytesPerSec: Math.round((b.metaBytes - a[i].metaBytes) / s),
      lastMetadataBytes: m.lastMetaBytes,
    };
  });
}

async function flood(churns: number, slowKBps: number, authenticated: boolean) {
  const x = await xcast(authenticated);
  const relay = new SlowRelay(x.mixoutPort, slowKBps * 1000);
  const stops: Array<() => void> = [];
  stops.push(await peer(x.ingestPort, 'alice', true));
  const fast = new Monitor('monitor-fast', x.mixoutPort, false);
  const relayPort = await relay.listen();
  const slow = new Monitor('monitor-slow', relayPort, false);
  // The same slow link, taking merge patches (where the code has them).
  const slowPatch = new Monitor('monitor-slow-patch', relayPort, true);
  await fast.connect();
  await slow.connect();
  await slowPatch.connect();
  await wait(2000);
  const [fastBefore, slowBefore, slowPatchBefore] = await measure([fast, slow, slowPatch], 4000);
  const t0 = performance.now();
  for (let i = 0; i < churns; i += 20) {
    await Promise.all(Array.from({ length: Math.min(20, churns - i) }, (_, k) => peer(x.ingestPort, `flood-${i + k}`, false).then((stop) => stop())));
  }
  const churnSeconds = (performance.now() - t0) / 1000;
  // Settle first (what the slow links had queued during the churn drains), then measure as long as asked.
  await wait(Number(process.env.BENCH_SETTLE_MS ?? 1000));
  const relayed0 = relay.relayed;
  const tm = performance.now();
  const cpu0 = process.cpuUsage();
  const [fastAfter, slowAfter, slowPatchAfter] = await measure([fast, slow, slowPatch], Number(process.env.BENCH_MEASURE_MS ?? 4000));
  const relayKBps = Math.round((relay.relayed - relayed0) / (performance.now() - tm));
  const cpu = process.cpuUsage(cpu0);
  const cpuShare = +((cpu.user + cpu.system) / 1000 / (performance.now() - tm)).toFixed(2);
  stops.push(await peer(x.ingestPort, 'bob', true));
  let bobSeenMs: number | null = null;
  const t1 = performance.now();
  while (performance.now() - t1 < 5000) {
    const conns = ((fast.latest?.mixeradminSharedState as Obj | undefined)?.connections ?? {}) as Obj;
    if (Object.prototype.hasOwnProperty.call(conns, 'bob')) { bobSeenMs = Math.round(performance.now() - t1); break; }
    await wait(50);
  }
  const usersInState = Object.keys(((fast.latest?.mixeradminSharedState as Obj | undefined)?.connections ?? {}) as Obj).length;
  const sizes = (x.agg as unknown as { sizes?: () => unknown }).sizes?.();
  const out = {
    churns, authenticated, churnSeconds: +churnSeconds.toFixed(1), slowKBps,
    before: { fast: fastBefore, slow: slowBefore, slowPatch: slowPatchBefore },
    after: { fast: fastAfter, slow: slowAfter, slowPatch: slowPatchAfter },
    realUserJoiningAfter: { inStateAfterMs: bobSeenMs, usersInState },
    aggregatorSizes: sizes ?? null,
    audioDroppedAtXcast: x.audioDropped(),
    relayKBpsBothSlowLinks: relayKBps,
    benchProcessCpu: cpuShare,
    senderStats: (x.sender as unknown as { metadataStats?: unknown }).metadataStats ?? null,
  };
  for (const s of stops) s();
  fast.close(); slow.close(); slowPatch.close(); relay.close();
  await x.close();
  return out;
}

async function patch(users: number, seconds: number) {
  const x = await xcast();
  const stops: Array<() => void> = [];
  for (let i = 0; i < users; i++) stops.push(await peer(x.ingestPort, `user-${String(i).padStart(3, '0')}`, true));
  const full = new Monitor('monitor-full', x.mixoutPort, false);
  const patched = new Monitor('monitor-patch', x.mixoutPort, true);
  await full.connect();
  await patched.connect();
  await wait(3000);
  const [f, p] = await measure([full, patched], seconds * 1000);
  const same = JSON.stringify(full.latest?.mixeradminSharedState === undefined ? null : Object.keys((full.latest.mixeradminSharedState as Obj).connections as Obj).length)
    === JSON.stringify(patched.latest?.mixeradminSharedState === undefined ? null : Object.keys((patched.latest.mixeradminSharedState as Obj).connections as Obj).length);
  const out = { users, seconds, full: f, patch: p, patchToFullRatio: +(p.metadataBytesPerSec / f.metadataBytesPerSec).toFixed(3), sameUsersAtBoth: same, patchSupported: PatchReceiver !== undefined };
  for (const s of stops) s();
  full.close(); patched.close();
  await x.close();
  return out;
}

async function main(): Promise<void> {
  const [mode, a, b] = process.argv.slice(2);
  const out = mode === 'patch' ? await patch(Number(a ?? 200), Number(b ?? 10)) : await flood(Number(a ?? 2000), Number(b ?? 100), process.argv[5] === 'auth');
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
}
void main();

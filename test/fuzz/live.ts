// Live-socket fuzzing: the real xcast preset (`xcast start`, a child process) with a healthy peer (the real peer
// preset, another child) streaming a tone and a monitor here counting every mix frame, while mutated frames arrive on
// many connections, then random bytes, oversized headers, slowloris HELLOs, 1,000 idle connections (and a peer that
// must still join), and connect/HELLO/disconnect churn. Figures: the healthy peer's mix continuity at the monitor, the
// xcast's file descriptors and RSS before and after, whether it is alive, log lines per attack frame, what the
// attackers were told (ERROR codes).
import net from 'node:net';
import { FrameParser } from '../../runtime/protocol/parser';
import { FrameType, decodeErrorPayload, encodeJsonFrame } from '../../runtime/protocol/frame';
import { StreamClient } from '../../runtime/protocol/transport';
import { startXcast, freePortMap, type XcastProcess } from '../support/xcast-process';
import { MixMonitor, type Continuity } from '../support/mix-monitor';
import { alive, fdCount, rssMb } from '../support/proc-stats';
import { clientHello, validFrame } from './corpus';
import { mutateFrame, mutateJson } from './mutate';
import { Rng } from './prng';

export interface LiveOptions {
  seed: number;
  /** Attack frames on the mutated-frames phase (20,000 in `npm run fuzz`; a few thousand in npm test). */
  frames: number;
  /** Concurrent attack connections (default 32). */
  concurrency?: number;
  /** Idle connections of the idle phase (default 1000). */
  idle?: number;
  /** Slowloris connections (default 20). */
  slowloris?: number;
  /** Connect/HELLO/disconnect cycles (default 500). */
  churn?: number;
  /** Random-bytes connections (default 200). */
  noise?: number;
  log?: (line: string) => void;
}

export interface LiveReport {
  seed: number;
  attackFrames: number;
  attackBytes: number;
  attackConnections: number;
  /** What the attackers were answered: ERROR code → connections, 'closed' = closed without an ERROR, 'open' = still open when they stopped. */
  answers: Record<string, number>;
  continuity: Continuity;
  durationS: number;
  fds: { before: number; peak: number; after: number };
  rssMb: { before: number; peak: number; after: number };
  alive: boolean;
  logLines: number;
  logLinesPerAttackFrame: number;
  /** Longest a slowloris HELLO (one byte every 200 ms) stayed open, ms; and how many were closed. */
  slowloris: { connections: number; closed: number; maxOpenMs: number };
  /** A peer connecting while `idle` idle connections were open: ms to its server HELLO, or null if it never connected. */
  idle: { connections: number; joinMs: number | null; closedByServer: number };
  churn: { cycles: number; refused: number };
  /** Tracks in the xcast's shared state 4 s after the attacks, other than the healthy peer's. */
  strayTracks: string[];
  unhandledRejections: number;
  crashes: string[];
}

const HELLO_TIMEOUT_MS = 5000;

/** Opens one connection, writes `chunks` (each after the previous is flushed), and reports how it ended. */
function attack(port: number, chunks: Buffer[], holdMs: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const parser = new FrameParser(1 << 22);
    let answer: string | null = null;
    let done = false;
    const finish = (r: string) => { if (done) return; done = true; clearTimeout(t); s.destroy(); resolve(answer ?? r); };
    const t = setTimeout(() => finish('open'), holdMs);
    s.on('error', () => finish('reset'));
    s.on('close', () => finish('closed'));
    s.on('data', (d) => {
      try {
        parser.push(d, (type, payload) => {
          if (type === FrameType.ERROR && answer === null) {
            try { answer = decodeErrorPayload(payload).code; } catch { answer = 'bad ERROR frame'; }
          }
        });
      } catch { answer ??= 'unparseable reply'; }
    });
    s.on('connect', async () => {
      for (const c of chunks) {
        if (done) return;
        if (!s.write(c)) await new Promise((r) => s.once('drain', r));
      }
    });
  });
}

/** Runs `n` jobs with at most `k` in flight. */
async function pool<T>(n: number, k: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(k, n) }, async () => {
    while (next < n) { const i = next++; out[i] = await job(i); }
  }));
  return out;
}

export async function runLiveFuzz(o: LiveOptions): Promise<LiveReport> {
  const log = o.log ?? ((l: string) => console.log(l));
  const rng = new Rng(o.seed ^ 0x11ae);
  const ports = await freePortMap();
  const procs: XcastProcess[] = [];
  const monitors: MixMonitor[] = [];
  const clients: StreamClient[] = [];
  try {
    const hub = await startXcast({ flows: ['xcast'], portMap: ports });
    procs.push(hub);
    const pid = hub.proc.pid!;
    const monitor = new MixMonitor(ports[7011]);
    monitors.push(monitor);
    const peer = await startXcast({ flows: ['peer'], portMap: ports });
    procs.push(peer);
    await monitor.nextFrame(20000);
    // Warm-up: the tone has been mixed for a second before the baseline is taken.
    await monitor.stateWhere((s) => s.incomingAudioTracks.some((t) => t.userId === 'alice' && t.connected), 10000);
    await new Promise((r) => setTimeout(r, 1000));
    const fds = { before: fdCount(pid), peak: 0, after: 0 };
    const rss = { before: rssMb(pid), peak: 0, after: 0 };
    const sample = () => { if (!alive(pid)) return; fds.peak = Math.max(fds.peak, fdCount(pid)); rss.peak = Math.max(rss.peak, rssMb(pid)); };
    const sampler = setInterval(sample, 200);
    const logBefore = hub.output().split('\n').length;
    const answers: Record<string, number> = {};
    const count = (a: string) => { answers[a] = (answers[a] ?? 0) + 1; };
    // 1. Mutated frames on many connections: a HELLO (mostly valid) then valid and mutated frames (made before the
    // clock starts, so this process's own work does not delay the monitor's reads).
    let attackFrames = 0, attackBytes = 0, attackConnections = 0;
    let left = o.frames;
    const jobs: Buffer[][] = [];
    while (left > 0) {
      const n = Math.min(left, 1 + rng.small(30));
      left -= n;
      const frames: Buffer[] = [];
      const hello = clientHello(rng);
      hello.userId = `fuzz-${jobs.length}`;
      frames.push(rng.bool(0.75) ? encodeJsonFrame(FrameType.HELLO, hello) : rng.bool() ? mutateFrame(rng, encodeJsonFrame(FrameType.HELLO, hello)) : wrapJson(FrameType.HELLO, mutateJson(rng, hello)));
      for (let i = 1; i < n; i++) frames.push(rng.bool(0.5) ? validFrame(rng) : mutateFrame(rng, validFrame(rng), () => validFrame(rng)));
      // Sometimes everything in one write, sometimes frame by frame.
      jobs.push(rng.bool(0.3) ? [Buffer.concat(frames)] : frames);
      attackFrames += n;
    }
    const t0 = Date.now();
    monitor.startCounting();

    // Slowloris runs alongside the mutated frames: HELLO one byte every 200 ms (a 5 s HELLO limit closes it first).
    const slowN = o.slowloris ?? 20;
    const slowloris = Promise.all(Array.from({ length: slowN }, (_, i) => new Promise<number>((resolve) => {
      const hello = encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId: `slow-${i}`, role: 'peer', name: 'x'.repeat(100) });
      const s = net.connect(ports[7010], '127.0.0.1');
      const start = Date.now();
      let k = 0;
      const timer = setInterval(() => { if (k < hello.length) s.write(hello.subarray(k, ++k)); }, 200);
      const end = (closed: boolean) => { clearInterval(timer); s.destroy(); resolve(closed ? Date.now() - start : Infinity); };
      const cap = setTimeout(() => end(false), HELLO_TIMEOUT_MS * 3);
      // Closed = the server's ERROR (hello_timeout) or FIN arrived.
      s.on('data', () => { clearTimeout(cap); end(true); });
      s.on('end', () => { clearTimeout(cap); end(true); });
      s.on('close', () => { clearTimeout(cap); end(true); });
      s.on('error', () => undefined);
    })));

    const targetPort = (i: number) => (i % 10 < 8 ? ports[7010] : i % 10 === 8 ? ports[7011] : ports[7012]);
    const portName = (i: number) => (i % 10 < 8 ? 'ingest' : i % 10 === 8 ? 'mix' : 'events');
    (await pool(jobs.length, o.concurrency ?? 32, (i) => {
      attackConnections++;
      for (const c of jobs[i]) attackBytes += c.length;
      return attack(targetPort(i), jobs[i], 1500);
    })).forEach((a, i) => count(`${portName(i)}:${a}`));
    log(`  live fuzz: ${attackFrames} frames on ${jobs.length} connections sent (${((Date.now() - t0) / 1000).toFixed(1)} s)`);

    // 2. Random bytes; 3. oversized headers.
    const noise = o.noise ?? 200;
    for (const a of await pool(noise, 32, (i) => {
      const b = rng.bytes(1 + rng.small(65536));
      attackConnections++; attackBytes += b.length; attackFrames++;
      return attack(targetPort(i), [b], 1500);
    })) count(`noise:${a}`);
    const huge = [0xffffffff, (1 << 20) + 1, 0x7fffffff].map((n) => { const h = Buffer.from([0x53, 0x50, 1, 2, 0, 0, 0, 0]); h.writeUInt32BE(n >>> 0, 4); return h; });
    for (const a of await pool(30, 10, (i) => {
      const hello = encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId: `big-${i}`, role: 'peer' });
      attackConnections++; attackFrames += 2;
      return attack(ports[7010], i % 2 ? [hello, huge[i % 3]] : [huge[i % 3]], 1500);
    })) count(`huge:${a}`);

    // 4. Idle connections, then a healthy peer must still join.
    const idleN = o.idle ?? 1000;
    const idleSockets: net.Socket[] = [];
    const idleCloses: Array<Promise<void>> = [];
    let idleClosed = 0;
    await pool(idleN, 100, () => new Promise<void>((resolve) => {
      const s = net.connect(ports[7010], '127.0.0.1');
      s.once('connect', () => resolve());
      s.once('error', () => resolve());
      idleCloses.push(new Promise<void>((r) => s.once('close', () => { idleClosed++; r(); })));
      s.on('error', () => undefined);
      s.resume();
      idleSockets.push(s);
    }));
    attackConnections += idleN;
    const joinStart = Date.now();
    const joiner = new StreamClient({ port: ports[7010], hello: { userId: 'late-joiner', role: 'peer' }, reconnect: false, helloTimeoutMs: HELLO_TIMEOUT_MS });
    clients.push(joiner);
    const joinMs = await new Promise<number | null>((resolve) => {
      joiner.once('connect', () => resolve(Date.now() - joinStart));
      joiner.once('connectError', () => resolve(null));
      joiner.start();
    });
    await joiner.close();
    // The server closes every one at its HELLO limit (or sooner, evicting the oldest pending handshakes).
    let idleTimer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(idleCloses), new Promise((r) => { idleTimer = setTimeout(r, HELLO_TIMEOUT_MS + 2000); })]);
    clearTimeout(idleTimer);
    const idleClosedByServer = idleClosed;
    for (const s of idleSockets) s.destroy();

    // 5. Churn: connect, HELLO, disconnect (half gracefully, half reset).
    const churnN = o.churn ?? 500;
    let churnRefused = 0;
    await pool(churnN, 16, (i) => new Promise<void>((resolve) => {
      const s = net.connect(ports[7010], '127.0.0.1');
      attackConnections++; attackFrames++;
      s.on('error', () => undefined);
      s.on('close', () => resolve());
      s.on('connect', () => s.write(encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId: `churn-${i % 50}`, role: 'peer' })));
      s.once('data', (d) => {
        if (d[3] === FrameType.ERROR) churnRefused++;
        if (i % 2) s.end(); else s.resetAndDestroy();
      });
      setTimeout(() => s.destroy(), 3000);
    }));

    const slow = await slowloris;
    const continuity = monitor.stopCounting();
    const durationS = (Date.now() - t0) / 1000;
    // Let every attacker's track time out (trackTimeoutMs 2000) and the shared state catch up.
    const since = Date.now() + 3000;
    let stray: string[] = [];
    try {
      const s = await monitor.stateWhere((st) => st.incomingAudioTracks.every((t) => t.userId === 'alice'), 8000, since);
      stray = s.incomingAudioTracks.filter((t) => t.userId !== 'alice').map((t) => `${t.userId}/${t.trackId}`);
    } catch {
      stray = (monitor.state?.incomingAudioTracks ?? []).filter((t) => t.userId !== 'alice').map((t) => `${t.userId}/${t.trackId}${t.connected ? '' : ' (not connected)'}`);
    }
    clearInterval(sampler);
    sample();
    // File descriptors back at the baseline: wait for the sockets to be reaped (polling /proc; nothing to await).
    const fdEnd = Date.now() + 5000;
    while (alive(pid) && fdCount(pid) > fds.before + 2 && Date.now() < fdEnd) await new Promise((r) => setTimeout(r, 100));
    const isAlive = alive(pid);
    if (isAlive) { fds.after = fdCount(pid); rss.after = rssMb(pid); }
    const out = hub.output();
    const logLines = out.split('\n').length - logBefore;
    const crashes = out.split('\n').filter((l) => /Unhandled|uncaught|FATAL|Segmentation|Aborted|RangeError|TypeError/i.test(l)).slice(0, 20);
    return {
      seed: o.seed, attackFrames, attackBytes, attackConnections, answers, continuity, durationS, fds, rssMb: rss, alive: isAlive,
      logLines, logLinesPerAttackFrame: logLines / attackFrames,
      slowloris: { connections: slowN, closed: slow.filter(Number.isFinite).length, maxOpenMs: Math.max(...slow) },
      idle: { connections: idleN, joinMs, closedByServer: idleClosedByServer },
      churn: { cycles: churnN, refused: churnRefused },
      strayTracks: stray,
      unhandledRejections: out.split('\n').filter((l) => /unhandled ?rejection/i.test(l)).length,
      crashes,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(monitors.map((m) => m.close()));
    await Promise.all(procs.reverse().map((p) => p.stop()));
  }
}

function wrapJson(type: FrameType, payload: Buffer): Buffer {
  const h = Buffer.from([0x53, 0x50, 1, type, 0, 0, 0, 0]);
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

/** What must hold after a live run; empty when all is well. */
export function liveProblems(r: LiveReport): string[] {
  const p: string[] = [];
  if (!r.alive) p.push('the xcast died');
  if (r.crashes.length) p.push(`the xcast logged errors:\n    ${r.crashes.join('\n    ')}`);
  if (r.unhandledRejections) p.push(`${r.unhandledRejections} unhandled rejections`);
  if (r.continuity.received !== r.continuity.expected || r.continuity.gaps) p.push(`the healthy mix lost frames: ${JSON.stringify(r.continuity)}`);
  if (r.continuity.received < r.durationS * 100 * 0.9) p.push(`the monitor got ${r.continuity.received} mix frames in ${r.durationS.toFixed(1)} s (100/s expected)`);
  if (r.slowloris.closed !== r.slowloris.connections || r.slowloris.maxOpenMs > HELLO_TIMEOUT_MS + 1500) p.push(`slowloris: ${JSON.stringify(r.slowloris)} (closed within ${HELLO_TIMEOUT_MS} ms + 1.5 s expected)`);
  if (r.idle.joinMs === null) p.push(`a peer could not join while ${r.idle.connections} idle connections were open`);
  if (r.strayTracks.length) p.push(`stuck tracks after the attacks: ${r.strayTracks.join(', ')}`);
  if (r.fds.after > r.fds.before + 2) p.push(`file descriptors ${r.fds.before} before, ${r.fds.after} after`);
  return p;
}

export function formatLiveReport(r: LiveReport): string {
  const c = r.continuity;
  return [
    `live fuzz (seed ${r.seed}): ${r.attackFrames.toLocaleString('en-US')} attack frames / ${r.attackConnections} connections / ${(r.attackBytes / 1048576).toFixed(1)} MiB in ${r.durationS.toFixed(1)} s; xcast ${r.alive ? 'alive' : 'DEAD'}`,
    `  healthy mix at the monitor: ${c.received} of ${c.expected} frames (${((100 * c.received) / Math.max(1, c.expected)).toFixed(2)} %), ${c.gaps} gaps, longest interval ${c.maxIntervalMs} ms`,
    `  xcast fds ${r.fds.before} → peak ${r.fds.peak} → ${r.fds.after}; RSS ${r.rssMb.before.toFixed(0)} → peak ${r.rssMb.peak.toFixed(0)} → ${r.rssMb.after.toFixed(0)} MiB`,
    `  log lines ${r.logLines} (${r.logLinesPerAttackFrame.toFixed(3)} per attack frame); unhandled rejections ${r.unhandledRejections}`,
    `  slowloris ${r.slowloris.closed}/${r.slowloris.connections} closed, longest open ${r.slowloris.maxOpenMs} ms; ${r.idle.connections} idle: a new peer joined in ${r.idle.joinMs ?? 'NEVER'} ms, ${r.idle.closedByServer} closed by the server`,
    `  churn ${r.churn.cycles} cycles (${r.churn.refused} refused); stray tracks after: ${r.strayTracks.length ? r.strayTracks.join(', ') : 'none'}`,
    `  answers: ${Object.entries(r.answers).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`,
  ].join('\n');
}

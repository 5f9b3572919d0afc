// The soak: the real xcast preset (a child process) with N tone peers (real StreamClients sending real Opus) for
// M minutes, one peer leaving and a new one joining every second, and a monitor counting every mix frame. Measures the
// xcast's RSS growth after warm-up, its file descriptors at the end against the warm baseline, stuck tracks (a track in
// the shared state whose peer left more than 5 s ago), the mix's continuity (seq gaps, and frames against a 10 ms
// clock: skipped ticks) and the xcast's CPU.
import { startXcast, freePortMap, type XcastProcess } from '../support/xcast-process';
import { MixMonitor, type Continuity } from '../support/mix-monitor';
import { TonePeers } from '../support/tone-peers';
import { alive, cpuSeconds, fdCount, rssMb } from '../support/proc-stats';

export interface SoakOptions {
  minutes: number;
  peers: number;
  /** Peers replaced per second (default 1). */
  churnPerSecond?: number;
  /**
   * RSS and fds are taken as the baseline after this long. Default: 5.5 min when the run is 8 min or longer (the
   * aggregator keeps a disconnected user's entry for retainDisconnectedMs, 5 min: at one leave a second its state
   * grows to ~300 entries by design before it is steady), else 20 % of the run.
   */
  warmupMinutes?: number;
  log?: (line: string) => void;
}

export interface SoakReport {
  minutes: number;
  peers: number;
  joinsAndLeaves: number;
  warmupS: number;
  rssMb: { warm: number; end: number; max: number; growthPercent: number };
  fds: { warm: number; end: number };
  /** userId/trackId of tracks found present more than 5 s after their peer left (distinct), and at the end not matching the peers. */
  stuckTracks: string[];
  endTracks: { expected: number; found: number; extra: string[]; missing: string[] };
  continuity: Continuity;
  /** Frames a 10 ms clock would have made between the first and last frame, minus those received: skipped ticks. */
  skippedTicks: number;
  xcastCpuPercent: number;
  /** Largest METADATA (the shared state) the monitor got, bytes, and the users in the last one. */
  metadataMaxBytes: number;
  usersInState: number;
  alive: boolean;
  framesSent: number;
  errorLogLines: string[];
}

const STUCK_AFTER_MS = 5000;
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : NaN; };

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.log ?? ((l: string) => console.log(l));
  const ports = await freePortMap();
  let hub: XcastProcess | undefined;
  let peers: TonePeers | undefined;
  let monitor: MixMonitor | undefined;
  try {
    hub = await startXcast({ flows: ['xcast'], portMap: ports });
    const pid = hub.proc.pid!;
    monitor = new MixMonitor(ports[7011], 'soak-monitor');
    peers = new TonePeers(ports[7010]);
    let gen = 0;
    const active: string[] = [];
    for (let i = 0; i < o.peers; i++) { const u = `soak-${i}-g0`; active.push(u); peers.add(u); }
    await monitor.stateWhere((s) => s.incomingAudioTracks.filter((t) => t.connected).length >= o.peers, 30000);
    const totalMs = o.minutes * 60000;
    const warmupMs = o.warmupMinutes !== undefined ? o.warmupMinutes * 60000 : o.minutes >= 8 ? 330000 : totalMs * 0.2;
    const left = new Map<string, number>();           // userId → when it left
    const stuck = new Set<string>();
    const rss: Array<{ t: number; mb: number }> = [];
    let joinsAndLeaves = 0;
    const start = Date.now();
    const cpu0 = cpuSeconds(pid);
    let warm: { rss: number; fds: number } | undefined;
    monitor.startCounting();
    let next = 0;
    const churnEvery = 1000 / (o.churnPerSecond ?? 1);
    let lastChurn = Date.now();
    let lastCheck = Date.now();
    let lastReport = Date.now();
    while (Date.now() - start < totalMs) {
      await new Promise((r) => setTimeout(r, Math.min(200, churnEvery)));
      const now = Date.now();
      if (now - lastChurn >= churnEvery) {
        lastChurn = now;
        // One peer leaves, a new one takes its place.
        const k = next++ % active.length;
        const old = active[k];
        void peers.remove(old);
        left.set(old, Date.now());
        const u = `soak-${k}-g${++gen}`;
        active[k] = u;
        peers.add(u);
        joinsAndLeaves++;
      }
      if (now - lastCheck >= 2000) {
        lastCheck = now;
        if (alive(pid)) rss.push({ t: now - start, mb: rssMb(pid) });
        if (!warm && now - start >= warmupMs) warm = { rss: median(rss.slice(-3).map((x) => x.mb)), fds: fdCount(pid) };
        const s = monitor.state;
        if (s && now - monitor.stateAt < 2000) {
          for (const t of s.incomingAudioTracks) {
            const at = left.get(t.userId);
            if (at !== undefined && monitor.stateAt - at > STUCK_AFTER_MS) stuck.add(`${t.userId}/${t.trackId}`);
          }
        }
        for (const [u, at] of left) if (now - at > 60000) left.delete(u);
      }
      if (now - lastReport >= 60000) {
        lastReport = now;
        const c = monitor.c;
        log(`  soak ${((now - start) / 60000).toFixed(1)} min: RSS ${rss[rss.length - 1]?.mb.toFixed(0)} MiB, fds ${fdCount(pid)}, mix ${c.received}/${c.expected} (${c.gaps} gaps), stuck ${stuck.size}`);
      }
    }
    const cpu = cpuSeconds(pid) - cpu0;
    const elapsedS = (Date.now() - start) / 1000;
    const continuity = monitor.stopCounting();
    // Churn stopped: after the track timeout every track is one of the peers connected now, and each has its track.
    const since = Date.now() + STUCK_AFTER_MS;
    let endState = monitor.state;
    try {
      endState = await monitor.stateWhere((s) => {
        const ids = new Set(s.incomingAudioTracks.map((t) => t.userId));
        return ids.size === active.length && active.every((u) => ids.has(u));
      }, 10000, since);
    } catch { endState = monitor.state; }
    const found = new Set((endState?.incomingAudioTracks ?? []).map((t) => t.userId));
    const extra = [...found].filter((u) => !active.includes(u));
    const missing = active.filter((u) => !found.has(u));
    const fdEnd = Date.now() + 5000;
    while (alive(pid) && warm && fdCount(pid) > warm.fds + 2 && Date.now() < fdEnd) await new Promise((r) => setTimeout(r, 100));
    const isAlive = alive(pid);
    const endRss = isAlive ? median(rss.slice(-3).map((x) => x.mb)) : NaN;
    const warmRss = warm?.rss ?? rss[0]?.mb ?? NaN;
    const framesSent = [...peers.peers.values()].reduce((a, p) => a + p.sent, 0);
    return {
      minutes: o.minutes, peers: o.peers, joinsAndLeaves, warmupS: warmupMs / 1000,
      rssMb: { warm: warmRss, end: endRss, max: Math.max(...rss.map((x) => x.mb)), growthPercent: (100 * (endRss - warmRss)) / warmRss },
      fds: { warm: warm?.fds ?? NaN, end: isAlive ? fdCount(pid) : NaN },
      stuckTracks: [...stuck],
      endTracks: { expected: active.length, found: found.size, extra, missing },
      continuity,
      skippedTicks: Math.max(0, continuity.expectedByClock - continuity.received),
      xcastCpuPercent: (100 * cpu) / elapsedS,
      metadataMaxBytes: monitor.metadataMaxBytes,
      usersInState: Object.keys(monitor.state?.connections ?? {}).length,
      alive: isAlive,
      framesSent,
      errorLogLines: hub.output().split('\n').filter((l) => /\[error\]|Unhandled|uncaught|FATAL/i.test(l)).slice(0, 20),
    };
  } finally {
    await peers?.close();
    await monitor?.close();
    await hub?.stop();
  }
}

/** What must hold; empty when all is well. */
export function soakProblems(r: SoakReport): string[] {
  const p: string[] = [];
  if (!r.alive) p.push('the xcast died');
  if (r.rssMb.growthPercent >= 5) p.push(`RSS grew ${r.rssMb.growthPercent.toFixed(1)} % after warm-up (${r.rssMb.warm.toFixed(0)} → ${r.rssMb.end.toFixed(0)} MiB)`);
  if (r.fds.end > r.fds.warm + 2) p.push(`file descriptors ${r.fds.warm} after warm-up, ${r.fds.end} at the end`);
  if (r.stuckTracks.length) p.push(`stuck tracks (present > 5 s after their peer left): ${r.stuckTracks.slice(0, 10).join(', ')}`);
  if (r.endTracks.extra.length || r.endTracks.missing.length) p.push(`tracks at the end: extra ${r.endTracks.extra.join(', ')}; missing ${r.endTracks.missing.join(', ')}`);
  if (r.continuity.gaps || r.continuity.received !== r.continuity.expected) p.push(`mix seq gaps: ${JSON.stringify(r.continuity)}`);
  if (r.skippedTicks > 2) p.push(`${r.skippedTicks} mix frames fewer than a 10 ms clock makes (skipped ticks)`);
  if (r.errorLogLines.length) p.push(`the xcast logged:\n    ${r.errorLogLines.join('\n    ')}`);
  return p;
}

export function formatSoakReport(r: SoakReport): string {
  const c = r.continuity;
  const row = (k: string, v: string) => `  ${k.padEnd(34)}${v}`;
  return [
    `soak: ${r.peers} peers for ${r.minutes} min, ${r.joinsAndLeaves} leaves + joins (warm-up ${r.warmupS.toFixed(0)} s); xcast ${r.alive ? 'alive' : 'DEAD'}`,
    row('RSS after warm-up → end (max)', `${r.rssMb.warm.toFixed(1)} → ${r.rssMb.end.toFixed(1)} MiB (${r.rssMb.max.toFixed(1)}), growth ${r.rssMb.growthPercent.toFixed(2)} %`),
    row('open fds after warm-up → end', `${r.fds.warm} → ${r.fds.end}`),
    row('stuck tracks', `${r.stuckTracks.length}; at the end ${r.endTracks.found} tracks for ${r.endTracks.expected} peers`),
    row('mix frames at the monitor', `${c.received} of ${c.expected} by seq (${c.gaps} gaps), ${c.expectedByClock} by the clock (skipped ticks ${r.skippedTicks}), longest interval ${c.maxIntervalMs} ms`),
    row('xcast CPU', `${r.xcastCpuPercent.toFixed(1)} % of one core`),
    row('shared state at the end', `${r.usersInState} users (connected + retained), METADATA up to ${(r.metadataMaxBytes / 1024).toFixed(0)} KiB`),
    row('peer frames sent', `${r.framesSent.toLocaleString('en-US')} (current peers)`),
  ].join('\n');
}

// `npm run bench`: measures the xcast against the issue's targets and prints one table (also bench/results/latest.json).
//
// Layout: the xcast runs in its own process (bench/xcast-host.ts: the real launcher and preset flow) pinned with
// taskset to XCAST_CPUS (default core 0); the peers run in a load generator process (bench/loadgen.ts) pinned to
// LOADGEN_CPUS (default core 1). Capacity figures ramp N — a probe of a fresh xcast per step, bracketing then
// bisecting — and report the largest N whose window had zero missed ticks, every receiver got the mix, and the
// generator itself kept time. References that can be measured (ffmpeg amix, a setTimeout loop) are measured here,
// in the same run, so ratios hold even on a noisy shared machine.
//
// Side by side with another build (--compare DIR, DIR a built checkout, e.g. `git worktree add ../base REV && (cd
// ../base && npm ci && npm run build)`): the same probes at fixed N, this build and that one alternated A B A B …,
// with the same load generator and the same packets; each figure is the median over the repetitions and the ratio
// is this build's over that one's. CPU per peer at a fixed N is the robust comparison on a shared machine: a ramp's
// clean N moves with the hour, the CPU a peer costs does not. Written to bench/results/compare.json.
//
// Options: --budget SECONDS (default 540: the whole run; with the build it stays under 10 minutes), --quick (short
// windows, for trying the bench out), --profile (write a --cpu-prof of the xcast at the largest clean N to
// bench/results/), --only a,b (stages: reference, drift, console, shared, minus, frames25, sustained, latency, scaling; UDP
// peers, issue 13: udpshared, udp60, udpframes25, udphop, udpminus — their own budget, --udp-budget SECONDS, default 300),
// --compare DIR [--reps N] (side by side with the build in DIR; see above).
//
// WebRTC (issue 11, bench/webrtc.ts): a full run also holds N WebRTC peers with mix-minus for 60 s (N: the last
// measured capacity, at least 50), probes streamproto1 mix-minus at the same N, times the hub's hop for both kinds
// of peer in one session and mouth-to-ear in Chromium (~3.5 min, its own budget: --webrtc-budget SECONDS, default
// 240). `node dist/bench/run.js webrtc` (or --only webrtc) runs the WebRTC figures alone and in full: the capacity
// ramp first, 50 peers for 60 s (the target) and mouth-to-ear with a 1-frame mixer buffer too; stages rtccap, rtc60,
// rtc50, rtcside, rtchop, rtcm2e, rtcm2elow. Written to bench/results/webrtc.json and the WebRTC table of docs/performance.md.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { PACKAGE_ROOT } from '../runtime/launcher';
import { percentile } from '../runtime/percentile';
import { makePacketSet, savePacketSet } from './lib/packets';
import { writeOggOpus } from './lib/ogg';
import { writeXcastFlow, Variant, BenchFlow } from './lib/flows';
import { startNode, stopProc, freePort, sleep, tasksetAvailable, Proc } from './lib/procs';
import type { HostReport } from './xcast-host';
import type { LoadgenReport, LoadgenStart } from './loadgen';
import type { DecodeMixResult } from './decode-mix';
import type { ConsoleTickResult } from './console-tick';
import type { DriftResult } from '../test/support/drift';
import { runWebrtc, webrtcAvailable, writeRtcResults, RtcBenchContext, RtcFigures } from './webrtc';

const DIST = path.join(PACKAGE_ROOT, 'dist', 'bench');
/**
 * Warm-up before the latency window: N peers connecting at once stall the event loop, the jitter buffers fill
 * meanwhile, and the mixer trims that excess a window (1 s) at a time; the figure is the steady hop, after it.
 */
const LATENCY_WARMUP_S = 8;
/**
 * The hop figure's mixer: jitter buffer 1 frame, not adaptive, capped at 1 ("at most" 1) — each packet plays at the
 * first frame after it arrives, and a burst is cut back at once rather than standing as latency. What it costs (the
 * frames concealed and skipped) is reported beside it.
 */
const HOP_VARIANT: Variant = { jitterFrames: 1, mixer: { jitterAdaptive: false, jitterMaxFrames: '1' } };
/** The 2-core figure's flow: mix-minus, its Opus encoders on threads (one per spare core). */
const SCALING_VARIANT: Variant = { mixMinus: true, encoder: { encodeWorkers: 'auto' } };
/** Peers in the hop figure's session: the range the Jamulus reference was measured over (up to 32 clients). */
const HOP_PEERS = 32;
const RESULTS = path.join(PACKAGE_ROOT, 'bench', 'results');

interface Opts {
  budgetS: number;
  quick: boolean;
  profile: boolean;
  only: Set<string> | null;
  /** One probe only: variant name and N, e.g. shared:120 (variants: shared, minus, frames25, latency, latencycap, latencynometa). */
  probe: { variant: string; peers: number; seconds: number } | null;
  xcastCpus: string;
  loadgenCpus: string;
  /** Package root of another build to measure side by side with this one. */
  compare: string | null;
  reps: number;
  webrtcBudgetS: number | null;
  udpBudgetS: number | null;
}

function parseOpts(argv: string[]): Opts {
  const o: Opts = { budgetS: 540, quick: false, profile: false, only: null, probe: null, xcastCpus: process.env.XCAST_CPUS ?? '0', loadgenCpus: process.env.LOADGEN_CPUS ?? '1', compare: null, reps: 3, webrtcBudgetS: null, udpBudgetS: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === 'webrtc') o.only = new Set(['webrtc']);
    else if (a === '--webrtc-budget') o.webrtcBudgetS = Number(argv[++i]);
    else if (a === '--udp-budget') o.udpBudgetS = Number(argv[++i]);
    else if (a === '--quick') o.quick = true;
    else if (a === '--profile') o.profile = true;
    else if (a === '--budget') o.budgetS = Number(argv[++i]);
    else if (a === '--only') o.only = new Set(argv[++i].split(','));
    else if (a === '--compare') o.compare = path.resolve(argv[++i]);
    else if (a === '--reps') o.reps = Number(argv[++i]);
    else if (a === '--probe') {
      const [variant, peers, seconds] = argv[++i].split(':');
      o.probe = { variant, peers: Number(peers), seconds: Number(seconds ?? 10) };
    } else throw new Error(`bench: unknown option ${a} (webrtc, --budget S, --webrtc-budget S, --udp-budget S, --quick, --profile, --only stages, --probe variant:N[:seconds], --compare DIR, --reps N)`);
  }
  return o;
}

const T0 = performance.now();
const elapsedS = () => (performance.now() - T0) / 1000;
const log = (s: string) => process.stderr.write(`[bench ${elapsedS().toFixed(0).padStart(3)} s] ${s}\n`);

// ---------------------------------------------------------------------------------------------
// One probe: a fresh xcast, N peers, a warm-up, one measured window.

interface ProbeOpts {
  name: string;
  variant: Variant;
  peers: number;
  windowS: number;
  warmupS: number;
  mode: 'tone' | 'probe';
  /** Share of the load generator's peers that send digital silence (LoadgenStart.quiet); default 0. */
  quiet?: number;
  packetsFile: string;
  xcastCpus: string;
  profileDir?: string;
  /** Extra environment for the xcast (e.g. BENCH_HOP, XCAST_MIX_CPUS). */
  env?: NodeJS.ProcessEnv;
  /** The xcast host of another build (--compare); default this build's. */
  hostScript?: string;
}

interface ProbeResult {
  name: string;
  peers: number;
  clean: boolean;
  why: string[];
  host: HostReport;
  /** RSS of the xcast with no peer connected (bytes). */
  idleRss: number;
  loadgen: LoadgenReport;
}

/** A hub hop figure as bench/results/latest.json keeps it. */
interface HopFigure {
  peers: number;
  label: string;
  hub: HostReport['hop'];
  endToEnd: { p50: number; p99: number; n: number };
  samplesMs: number[];
  misaligned: unknown;
  codecDelay: unknown;
  clean: boolean;
  why: string[];
}

let dirSeq = 0;

/** Do two taskset CPU lists ("0", "0,1", "0-3") share a CPU? */
function sharesCpu(a: string, b: string): boolean {
  const set = (l: string) => new Set(l.split(',').flatMap((r) => {
    const [x, y] = r.split('-').map(Number);
    return y === undefined ? [x] : Array.from({ length: y - x + 1 }, (_, i) => x + i);
  }));
  const sb = set(b);
  return [...set(a)].some((c) => sb.has(c));
}

async function probe(o: ProbeOpts, work: string): Promise<ProbeResult> {
  const ports = { ingest: await freePort(), mix: await freePort(), events: await freePort() };
  const userDir = path.join(work, `x${dirSeq++}`);
  fs.mkdirSync(userDir, { recursive: true });
  const flow: BenchFlow = writeXcastFlow(userDir, 'flow', ports, o.variant);
  // --expose-gc: the host collects garbage before it measures memory (outside the tick window), so memory figures
  // are what is retained, not where the GC sawtooth happened to be. BENCH_XCAST_NODE_ARGS adds flags to try.
  const nodeArgs = ['--expose-gc', ...(process.env.BENCH_XCAST_NODE_ARGS?.split(' ').filter(Boolean) ?? []), ...(o.profileDir ? ['--cpu-prof', '--cpu-prof-dir', o.profileDir] : [])];
  const host = startNode(o.hostScript ?? path.join(DIST, 'xcast-host.js'), [flow.file, userDir], o.xcastCpus, nodeArgs, o.env);
  let lg: Proc | undefined;
  try {
    await host.next('ready', 60000);
    await sleep(500);
    const idle = await host.request<{ report: HostReport }>({ cmd: 'report' }, 'report');
    const idleRss = idle.report.retained?.end.rss ?? idle.report.memory[idle.report.memory.length - 1].rss;
    lg = startNode(path.join(DIST, 'loadgen.js'), [], OPTS.loadgenCpus);
    await lg.next('ready', 30000);
    // Where the xcast may use the generator's core too (the 2-core figure), the generator goes first on it (nice −10):
    // the xcast gets what the peers leave, and a late generator does not stand for a slow xcast.
    if (sharesCpu(o.xcastCpus, OPTS.loadgenCpus) && lg.child.pid) {
      try { os.setPriority(lg.child.pid, -10); } catch { /* not permitted: the generator shares as an equal */ }
    }
    const start: LoadgenStart = {
      cmd: 'start', host: '127.0.0.1', ingestPort: flow.ingestPort, mixPort: flow.mixPort, packetsFile: o.packetsFile,
      peers: o.peers, mode: o.mode, mixEncoder: flow.encoder, transport: o.variant.udp ? 'udp' : 'tcp', quiet: o.quiet,
    };
    lg.child.send(start);
    await lg.next('started', 60000 + o.peers * 100);
    await sleep(o.warmupS * 1000);
    // The host's mark runs a full GC (a pause of ~0.1 s) and then lets a second pass; only then does the load
    // generator's window open, so no figure of it (latency above all) includes that pause. At the end the load
    // generator reports first, for the same reason: the host's report ends with a full GC too.
    await host.request({ cmd: 'mark' }, 'marked');
    await lg.request({ cmd: 'mark' }, 'marked');
    await sleep(o.windowS * 1000);
    const l = await lg.request<{ report: LoadgenReport }>({ cmd: 'report' }, 'report', 60000);
    const h = await host.request<{ report: HostReport }>({ cmd: 'report' }, 'report');
    const why: string[] = [];
    const hr = h.report, lr = l.report;
    if (hr.missedTicks > 0) why.push(`${hr.missedTicks} missed ticks`);
    if (hr.resyncs > 0) why.push(`${hr.resyncs} clock resyncs`);
    if (lr.connectedTx < o.peers || lr.connectedRx < o.peers) why.push(`only ${Math.min(lr.connectedTx, lr.connectedRx)} of ${o.peers} peers connected`);
    if (lr.closed > 0) why.push(`${lr.closed} connections closed`);
    // Allow for the window's edges: a receiver should get ≥ 95 % of the frames due.
    if (lr.rxFractionMin < 0.95) why.push(`a receiver got ${(lr.rxFractionMin * 100).toFixed(0)} % of the mix frames`);
    // The mix thread keeps time whatever the event loop does, so a missed tick no longer shows an event loop that
    // cannot keep up: a saturated loop is its own failure — the mixes it has to send queue up behind it.
    if (hr.elu >= 0.97) why.push(`event loop saturated (busy ${(hr.elu * 100).toFixed(0)} %): mixes wait to be sent`);
    if (lr.sendLateP99Ms > 5) why.push(`load generator late (send p99 ${lr.sendLateP99Ms.toFixed(1)} ms): not the xcast's fault, but not clean either`);
    return { name: o.name, peers: o.peers, clean: why.length === 0, why, host: hr, idleRss, loadgen: lr };
  } finally {
    if (lg) await stopProc(lg);
    await stopProc(host);
    // For digging: BENCH_HOST_LOG=FILE keeps what the xcast printed (e.g. with BENCH_XCAST_NODE_ARGS=--trace-gc).
    if (process.env.BENCH_HOST_LOG) fs.appendFileSync(process.env.BENCH_HOST_LOG, host.output());
  }
}

// ---------------------------------------------------------------------------------------------
// Ramp: bracket from a guess, then bisect; every step is a fresh probe.

interface RampResult {
  name: string;
  cleanN: number;
  firstDirtyN: number | null;
  steps: Array<{ peers: number; clean: boolean; why: string[]; cpu: number; elu: number; latenessP99Ms: number; missedTicks: number }>;
  best: ProbeResult | null;
  truncated: boolean;
}

async function ramp(name: string, base: Omit<ProbeOpts, 'peers' | 'name'>, guess: number, deadlineS: number, work: string, maxN = 2000): Promise<RampResult> {
  return rampWith(name, base.windowS + base.warmupS + 6, guess, deadlineS, (n) => probe({ ...base, name, peers: n }, work), maxN);
}

/** The ramp over any probe (the WebRTC figures use it with theirs): `stepS` is what one step costs, for the budget. */
async function rampWith<R extends { clean: boolean; why: string[]; host: HostReport }>(name: string, stepS: number, guess: number, deadlineS: number, probeAt: (n: number) => Promise<R>, maxN = 2000): Promise<Omit<RampResult, 'best'> & { best: R | null }> {
  let lo = 0;
  let hi: number | null = null;
  let best: R | null = null;
  const steps: RampResult['steps'] = [];
  let n = Math.max(2, Math.round(guess));
  let truncated = false;
  const stepCost = stepS;
  for (;;) {
    if (elapsedS() + stepCost > deadlineS) { truncated = true; break; }
    log(`${name}: probing N = ${n}`);
    let r: R;
    try {
      r = await probeAt(n);
    } catch (err) {
      log(`${name}: probe at N = ${n} failed: ${(err as Error).message.split('\n')[0]}`);
      r = null as unknown as R;
    }
    const clean = !!r && r.clean;
    steps.push({ peers: n, clean, why: r ? r.why : ['probe failed'], cpu: r?.host.cpu ?? NaN, elu: r?.host.elu ?? NaN, latenessP99Ms: r?.host.latenessP99Ms ?? NaN, missedTicks: r?.host.missedTicks ?? NaN });
    log(`${name}: N = ${n} ${clean ? 'clean' : `not clean (${r ? r.why.join('; ') : 'failed'})`}${r ? `, xcast CPU ${(r.host.cpu * 100).toFixed(0)} %, loop busy ${(r.host.elu * 100).toFixed(0)} %, tick p99 ${r.host.latenessP99Ms.toFixed(2)} ms` : ''}`);
    if (clean) { lo = n; best = r; } else hi = hi === null ? n : Math.min(hi, n);
    let next: number;
    if (hi === null) next = Math.min(maxN, Math.ceil(n * (n < 40 ? 2 : 1.3)));
    else if (lo === 0 && !best) next = Math.max(2, Math.floor(n * (n > 24 ? 0.6 : 0.3)));
    else next = Math.floor((lo + hi) / 2);
    const resolution = Math.max(2, Math.round(lo * 0.06));
    if (hi !== null && best && hi - lo <= resolution) break;
    if (hi === null && n >= maxN) break;
    // Not clean with a handful of peers: the bound is not capacity (the clock itself misses at idle); stop here.
    if (n <= 8 && !clean && !best) break;
    if (next === n) break;
    n = next;
  }
  return { name, cleanN: lo, firstDirtyN: hi, steps, best, truncated };
}

// ---------------------------------------------------------------------------------------------
// References measured in the same run.

interface AmixResult {
  streams: number;
  seconds: number;
  ffmpegMs: number[];
  oursMs: number[];
  ffmpegMedianMs: number;
  oursMedianMs: number;
  ratio: number;
  ffmpegVersion: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function percentileOf(xs: number[], p: number): number {
  return percentile([...xs].sort((a, b) => a - b), p);
}

function ffmpegAvailable(): string | null {
  try {
    return execFileSync('ffmpeg', ['-version']).toString().split('\n')[0];
  } catch {
    return null;
  }
}

/** CPU per stream-second: ffmpeg amix on the bench's packets as Ogg Opus files vs the xcast's Mixer on the same packets. */
async function amixReference(packetsFile: string, packets: Buffer[], frameSamples: number, work: string, cpus: string, quick: boolean): Promise<AmixResult | { error: string }> {
  const version = ffmpegAvailable();
  if (!version) return { error: 'ffmpeg not found (Debian: apt-get install ffmpeg; CI: scripts/setup-system.sh)' };
  const streams = 16;
  const seconds = quick ? 10 : 30;
  const frames = Math.round((seconds * 48000) / frameSamples);
  const files: string[] = [];
  for (let i = 0; i < streams; i++) {
    const seq: Buffer[] = [];
    for (let k = 0; k < frames; k++) seq.push(packets[(k + i * 37) % packets.length]);
    const f = path.join(work, `amix-${i}.opus`);
    writeOggOpus(f, seq, 2, frameSamples);
    files.push(f);
  }
  const ffmpegArgs = ['-nostdin', '-hide_banner', '-benchmark', ...files.flatMap((f) => ['-i', f]),
    '-filter_complex', `amix=inputs=${streams}:duration=longest:normalize=0`, '-f', 'null', '-'];
  const ffmpegMs: number[] = [];
  const oursMs: number[] = [];
  const reps = quick ? 2 : 3;
  for (let r = 0; r < reps; r++) {
    // Alternate, so drift in the machine's load hits both alike.
    const cmd = tasksetAvailable() ? ['taskset', ['-c', cpus, 'ffmpeg', ...ffmpegArgs]] as const : ['ffmpeg', ffmpegArgs] as const;
    const res = spawnSync(cmd[0], cmd[1] as string[], { encoding: 'utf8' });
    const m = /bench: utime=([\d.]+)s stime=([\d.]+)s/.exec(res.stderr ?? '');
    if (res.status !== 0 || !m) return { error: `ffmpeg failed: ${(res.stderr ?? '').slice(-800)}` };
    ffmpegMs.push(((Number(m[1]) + Number(m[2])) * 1000) / (streams * seconds));
    const p = startNode(path.join(DIST, 'decode-mix.js'), [packetsFile, String(streams), String(seconds)], cpus);
    await p.exited;
    const line = p.output().trim().split('\n').pop() ?? '';
    let d: DecodeMixResult;
    try { d = JSON.parse(line); } catch { return { error: `decode-mix failed: ${p.output().slice(-800)}` }; }
    oursMs.push(d.msPerStreamSecond);
  }
  const f = median(ffmpegMs), o = median(oursMs);
  return { streams, seconds, ffmpegMs, oursMs, ffmpegMedianMs: f, oursMedianMs: o, ratio: o / f, ffmpegVersion: version };
}

async function timerReference(cpus: string, seconds: number): Promise<{ p50Ms: number; p99Ms: number; maxMs: number; cpu: number } | null> {
  const p = startNode(path.join(DIST, 'timer-ref.js'), ['10', String(seconds)], cpus);
  await p.exited;
  try { return JSON.parse(p.output().trim().split('\n').pop() ?? ''); } catch { return null; }
}

// ---------------------------------------------------------------------------------------------
// Memory: per connected peer, and whether it stays flat.

function memoryFigures(r: ProbeResult): { perPeerMB: number; growthMBPerMin: number; projected10MinPerPeerMB: number; basis: string } {
  const ret = r.host.retained;
  const minutes = r.host.windowSeconds / 60;
  if (ret) {
    // After a full GC at both ends of the window: RSS over the idle xcast's for the footprint, heap + external
    // (what the program holds; RSS keeps freed pages) for the growth.
    const held = (m: { heapUsed: number; external: number }) => m.heapUsed + m.external;
    const growth = (held(ret.end) - held(ret.start)) / 1048576 / minutes;
    return { perPeerMB: (ret.end.rss - r.idleRss) / r.peers / 1048576, growthMBPerMin: growth, projected10MinPerPeerMB: (growth * 10) / r.peers, basis: 'after full GC' };
  }
  // Without --expose-gc: least-squares slope of the sampled RSS (biased by where the GC sawtooth falls).
  const mem = r.host.memory;
  const n = mem.length;
  const mt = mem.reduce((a, m) => a + m.t, 0) / n;
  const mr = mem.reduce((a, m) => a + m.rss, 0) / n;
  let num = 0, den = 0;
  for (const m of mem) { num += (m.t - mt) * (m.rss - mr); den += (m.t - mt) ** 2; }
  const slope = den > 0 ? (num / den) * 60 / 1048576 : 0;
  const rss = median(mem.slice(-Math.max(1, Math.floor(n / 4))).map((m) => m.rss));
  return { perPeerMB: (rss - r.idleRss) / r.peers / 1048576, growthMBPerMin: slope, projected10MinPerPeerMB: (slope * 10) / r.peers, basis: 'sampled RSS' };
}

// ---------------------------------------------------------------------------------------------

const OPTS = parseOpts(process.argv.slice(2));

function previous(): Record<string, unknown> | null {
  try { return JSON.parse(fs.readFileSync(path.join(RESULTS, 'latest.json'), 'utf8')); } catch { return null; }
}

/**
 * Where a ramp starts: the last run's figure, but never below `def` — one stall of the machine in a 10 s window makes
 * a step unclean whatever N is, and a ramp seeded from such a run would start (and, bracketing down, stay) low.
 */
function guessFrom(prev: Record<string, unknown> | null, key: string, def: number): number {
  const f = (prev?.figures as Record<string, { value?: number }> | undefined)?.[key];
  return typeof f?.value === 'number' && f.value > 0 ? Math.max(f.value, def) : def;
}

interface Row { figure: string; measured: string; target: string; reference: string; ratio: string; met: string }

async function main(): Promise<void> {
  const o = OPTS;
  const want = (s: string) => !o.only || o.only.has(s);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-bench-'));
  const prev = previous();
  const windowS = o.quick ? 5 : 10;
  const warmupS = o.quick ? 2 : 3;
  fs.mkdirSync(RESULTS, { recursive: true });
  log(`work dir ${work}; xcast on CPU ${o.xcastCpus}, load generator on CPU ${o.loadgenCpus}${tasksetAvailable() ? '' : ' (taskset missing: NOT pinned)'}; ${os.cpus().length} CPUs, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);

  const set10 = makePacketSet(480);
  const set25 = makePacketSet(120);
  const p10 = path.join(work, 'packets-10ms.json');
  const p25 = path.join(work, 'packets-2.5ms.json');
  savePacketSet(p10, set10);
  savePacketSet(p25, set25);

  const out: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadavgAtStart: os.loadavg(), node: process.version, platform: `${os.platform()} ${os.release()}` },
    setup: { xcastCpus: o.xcastCpus, loadgenCpus: o.loadgenCpus, pinned: tasksetAvailable(), windowS, warmupS, budgetS: o.budgetS, quick: o.quick,
      audio: '48 kHz stereo Opus, 64 kbit/s CBR, 10 ms frames (2.5 ms for the low-latency figure)' },
    figures: {} as Record<string, unknown>,
  };
  const figures = out.figures as Record<string, unknown>;
  const budget = o.budgetS;

  if (o.probe) {
    const variants: Record<string, { variant: Variant; packetsFile: string; mode: 'tone' | 'probe'; env?: NodeJS.ProcessEnv; quiet?: number }> = {
      shared: { variant: {}, packetsFile: p10, mode: 'tone' },
      sharednometa: { variant: { writer: { metaSource: 'none' } }, packetsFile: p10, mode: 'tone' },
      minus: { variant: { mixMinus: true }, packetsFile: p10, mode: 'tone' },
      minusthreads: { variant: SCALING_VARIANT, packetsFile: p10, mode: 'tone' },
      frames25: { variant: { frameMs: 2.5 }, packetsFile: p25, mode: 'tone' },
      latency: { variant: { jitterFrames: 1, mixer: { jitterAdaptive: false } }, packetsFile: p10, mode: 'probe', env: { BENCH_HOP: '1' } },
      latencynometa: { variant: { ...HOP_VARIANT, writer: { metaSource: 'none' } }, packetsFile: p10, mode: 'probe', env: { BENCH_HOP: '1' } },
      latencycap: { variant: HOP_VARIANT, packetsFile: p10, mode: 'probe', env: { BENCH_HOP: '1' } },
      udpshared: { variant: { udp: true }, packetsFile: p10, mode: 'tone' },
      udpminus: { variant: { udp: true, mixMinus: true }, packetsFile: p10, mode: 'tone' },
      // The mix-minus encoders at libopus complexity 0 instead of the preset's 5 (about half the CPU per encode: bench/encode-cost.ts).
      udpminusc0: { variant: { udp: true, mixMinus: true, encoder: { complexity: '0' } }, packetsFile: p10, mode: 'tone' },
      minusc0: { variant: { mixMinus: true, encoder: { complexity: '0' } }, packetsFile: p10, mode: 'tone' },
      // Mix-minus with three peers in four listening (sending digital silence): their encode is shared (one a frame).
      udpminusquiet: { variant: { udp: true, mixMinus: true }, packetsFile: p10, mode: 'tone', quiet: 0.75 },
      minusquiet: { variant: { mixMinus: true }, packetsFile: p10, mode: 'tone', quiet: 0.75 },
      udpframes25: { variant: { udp: true, frameMs: 2.5 }, packetsFile: p25, mode: 'tone' },
      udplatency: { variant: { ...HOP_VARIANT, udp: true }, packetsFile: p10, mode: 'probe', env: { BENCH_HOP: '1' } },
    };
    // latencycapK: the hop variant with "at most" K frames.
    const capK = /^latencycap(\d+)$/.exec(o.probe.variant);
    if (capK) variants[o.probe.variant] = { variant: { jitterFrames: 1, mixer: { jitterAdaptive: false, jitterMaxFrames: capK[1] } }, packetsFile: p10, mode: 'probe', env: { BENCH_HOP: '1' } };
    const v = variants[o.probe.variant];
    if (!v) throw new Error(`--probe: unknown variant ${o.probe.variant} (${Object.keys(variants).join(', ')})`);
    const r = await probe({ name: o.probe.variant, ...v, peers: o.probe.peers, windowS: o.probe.seconds, warmupS: o.probe.variant.startsWith('latency') ? LATENCY_WARMUP_S : warmupS, xcastCpus: o.xcastCpus, profileDir: o.profile ? RESULTS : undefined }, work);
    const lat = r.loadgen.monitor.latencyMs;
    process.stdout.write(`${JSON.stringify({ ...r, host: r.host, loadgen: { ...r.loadgen, monitor: { ...r.loadgen.monitor, latencyMs: undefined, latencyP50: median(lat), latencyP99: percentileOf(lat, 0.99), latencyN: lat.length } } }, null, 2)}\n`);
    fs.rmSync(work, { recursive: true, force: true });
    return;
  }

  if (o.compare) {
    await compareBuilds(o, prev, { p10, windowS, warmupS, work, packets: set10.filler.packets });
    fs.rmSync(work, { recursive: true, force: true });
    return;
  }

  // Stage budget (fractions of the whole): references 6 %, shared 20 %, minus 16 %, 2.5 ms 16 %, sustained ≤ 16 %, latency 6 %, scaling 14 %.
  let amix: AmixResult | { error: string } | null = null;
  let timerRef: Awaited<ReturnType<typeof timerReference>> = null;
  if (want('reference')) {
    log('reference: ffmpeg amix vs the xcast Mixer on the same packets');
    amix = await amixReference(p10, set10.filler.packets, 480, work, o.xcastCpus, o.quick);
    log(`reference: ${'error' in amix ? amix.error : `ffmpeg ${amix.ffmpegMedianMs.toFixed(2)} ms, xcast ${amix.oursMedianMs.toFixed(2)} ms per stream-second`}`);
    timerRef = await timerReference(o.xcastCpus, o.quick ? 2 : 4);
    figures.decodeMix = amix;
    figures.timerReference = timerRef;
  }

  // Clock drift (issue 13): what each track's playout buffer does with a free-running sender ±100…1000 ppm off, on
  // simulated time (bench/drift.ts; deterministic, a few seconds).
  let drift: DriftResult[] | null = null;
  if (want('drift')) {
    // Loaded here: its simulation lives in test/support (dist/test is not in the published package).
    const { driftFigures } = await import('./drift');
    const rows = driftFigures(o.quick ? 60 : 300);
    for (const r of rows) log(`drift: ${r.ppm} ppm, ${r.packetSamples / 48} ms packets, ${r.adaptive ? 'adaptive' : 'fixed'}: ${r.perMinute.trims} trims/min, ${(r.perMinute.concealedSamples / 480).toFixed(2)} concealed frames/min, ${r.perMinute.artefacts} breaks/min`);
    figures.drift = rows;
    drift = rows;
    if (!o.quick) fs.writeFileSync(path.join(RESULTS, 'drift.json'), `${JSON.stringify({ date: new Date().toISOString(), seconds: 300, rows }, null, 2)}\n`);
  }

  // The operator console's cost (issue 12): the mix tick at 50 tracks with metering and one monitor on vs off, side by
  // side in one process (bench/console-tick.ts), on the bench's Opus packets and on PCM (no decode: the larger ratio).
  let consoleTick: ConsoleTickResult[] | null = null;
  if (want('console')) {
    consoleTick = [];
    for (const codec of ['opus', 'pcm'] as const) {
      const p = startNode(path.join(DIST, 'console-tick.js'), [p10, '50', o.quick ? '1000' : '3000', codec], o.xcastCpus);
      await p.exited;
      try { consoleTick.push(JSON.parse(p.output().trim().split('\n').pop() ?? '')); } catch { log(`console: console-tick failed: ${p.output().slice(-400)}`); }
    }
    for (const r of consoleTick) log(`console: ${r.codec} ${r.tracks} tracks: off p50 ${r.off.p50.toFixed(0)} µs, on ${r.on.p50.toFixed(0)} µs (× ${r.ratioP50.toFixed(3)})`);
    figures.consoleTick = consoleTick;
    if (!o.quick) fs.writeFileSync(path.join(RESULTS, 'console.json'), `${JSON.stringify({ date: new Date().toISOString(), machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadavg: os.loadavg() }, cpus: o.xcastCpus, consoleTick }, null, 2)}\n`);
  }

  const base10 = { windowS, warmupS, mode: 'tone' as const, packetsFile: p10, xcastCpus: o.xcastCpus };
  let shared: RampResult | null = null;
  if (want('shared')) {
    shared = await ramp('shared mix 10 ms', { ...base10, variant: {} }, guessFrom(prev, 'sharedMix', 80), budget * 0.28, work);
    figures.sharedMix = { value: shared.cleanN, ...shared, best: undefined };
  }
  let minus: RampResult | null = null;
  if (want('minus')) {
    minus = await ramp('mix-minus 10 ms', { ...base10, variant: { mixMinus: true } }, guessFrom(prev, 'mixMinus', 40), budget * 0.44, work);
    figures.mixMinus = { value: minus.cleanN, ...minus, best: undefined };
  }
  let f25: RampResult | null = null;
  if (want('frames25')) {
    f25 = await ramp('shared mix 2.5 ms', { ...base10, packetsFile: p25, variant: { frameMs: 2.5 } }, guessFrom(prev, 'frames25', 40), budget * 0.60, work);
    figures.frames25 = { value: f25.cleanN, ...f25, best: undefined };
  }

  // Sustained run at the largest clean shared N: ticks, lateness, memory, the tone at the monitor. The target is
  // "60 s, zero missed ticks"; a 10 s ramp window is only a proxy, so when the 60 s run at the ramp's N misses a
  // tick, it runs again at 90 % of it if the budget allows, and the figures below are of the last run.
  let sustainN = shared?.cleanN || guessFrom(prev, 'sharedMix', 50);
  let sustained: ProbeResult | null = null;
  let sustainS = 0;
  const sustainedTries: Array<{ peers: number; seconds: number; clean: boolean; why: string[] }> = [];
  if (want('sustained')) {
    for (let attempt = 0; attempt < 2; attempt++) {
      const left = budget * (attempt === 0 ? 0.74 : 0.84) - elapsedS();
      if (attempt > 0 && left < 40) break;
      if (attempt > 0) sustainN = Math.max(2, Math.floor(sustainN * 0.9));
      sustainS = Math.max(10, Math.min(o.quick ? 15 : 60, Math.floor(left - warmupS - 8)));
      log(`sustained: ${sustainN} peers for ${sustainS} s${sustainS < 60 ? ' (shortened from 60 s to fit the time budget)' : ''}`);
      try {
        sustained = await probe({ ...base10, name: 'sustained', variant: {}, peers: sustainN, windowS: sustainS, profileDir: o.profile ? RESULTS : undefined }, work);
        log(`sustained: ${sustained.clean ? 'clean' : sustained.why.join('; ')}; tone ${sustained.loadgen.monitor.toneHz?.toFixed(2)} Hz, ${sustained.loadgen.monitor.discontinuities} discontinuities`);
        sustainedTries.push({ peers: sustainN, seconds: sustainS, clean: sustained.clean, why: sustained.why });
      } catch (err) {
        log(`sustained run failed: ${(err as Error).message}`);
        break;
      }
      if (sustained.clean || !shared) break;
    }
  }

  // Hub hop latency, twice: a session of HOP_PEERS (the Jamulus reference's range) with the hop variant's buffer
  // (1 frame, capped at 1: each packet plays at the first frame after it arrives), and the sustained N with the
  // 1-frame buffer uncapped (at that load every concealed or skipped frame is an extra decode, and a cap of 1 makes
  // the event loop's own jitter cost more than it saves). The peer-to-peer probe bursts are the outside reference.
  let latency: ProbeResult | null = null;
  let latencyN: ProbeResult | null = null;
  if (want('latency')) {
    const lwin = o.quick ? 8 : 10;
    const runHop = async (peers: number, variant: Variant, what: string): Promise<ProbeResult | null> => {
      if (elapsedS() + lwin + LATENCY_WARMUP_S + 8 >= budget * 0.94) return null;
      log(`latency: ${peers} peers, ${what}, ${lwin} s`);
      try {
        return await probe({ ...base10, warmupS: LATENCY_WARMUP_S, name: 'latency', mode: 'probe', variant, peers, windowS: lwin, env: { BENCH_HOP: '1' } }, work);
      } catch (err) {
        log(`latency run failed: ${(err as Error).message}`);
        return null;
      }
    };
    latency = await runHop(Math.min(HOP_PEERS, sustainN), HOP_VARIANT, 'jitter buffer 1 frame, at most 1');
    latencyN = await runHop(sustainN, { jitterFrames: 1, mixer: { jitterAdaptive: false } }, 'jitter buffer 1 frame');
  }

  // 1 → 2 cores: the mix-minus ramp again (the workload with the most work per peer: one Opus encode per receiver)
  // with the xcast on both cores and its encoders on threads ('auto': one per spare core). The load generator keeps
  // core 1 and goes first on it (nice −10); the mix thread is pinned to the xcast's first core (XCAST_MIX_CPUS), so
  // its real-time priority does not preempt the generator. The shared mix is not used here: on this machine its
  // 2-core ramp only measured the generator (every unclean step was the generator falling behind).
  let scaling: RampResult | null = null;
  let scalingCpus = '';
  if (want('scaling') && os.cpus().length >= 2) {
    scalingCpus = o.xcastCpus === '0' ? '0,1' : o.xcastCpus;
    const first = scalingCpus.split(/[,-]/)[0];
    scaling = await ramp('mix-minus 10 ms, xcast on 2 cores, encoders on threads', { ...base10, xcastCpus: scalingCpus, variant: SCALING_VARIANT, env: { XCAST_MIX_CPUS: first } }, (minus?.cleanN || 50) * 1.6, budget, work);
    figures.scaling = { value: scaling.cleanN, cores: scalingCpus, workload: 'mix-minus, encodeWorkers auto', ...scaling, best: undefined };
  }

  // streamproto1 over UDP (issue 13), beside the TCP figures above: the same flow with the ingest reader and the mix
  // writer on `transport: 'udp'` (the reader's socket on a worker thread, AUDIO through the packet ring), the same
  // load generator with UDP peers (a connected dgram socket per peer and direction, HELLO every 2 s). Its own budget
  // (--udp-budget, default 300 s), after the TCP stages. Stages: udpshared (ramp), udp60 (60 s at the ramp's N),
  // udpframes25 (ramp), udphop (150 peers, 1-frame buffer), udpminus (ramp).
  const udp = await udpStages(o, want, { base10, p25, work, prev, tcp: { shared: shared?.cleanN ?? null, minus: minus?.cleanN ?? null, f25: f25?.cleanN ?? null }, deadline: elapsedS() + (o.udpBudgetS ?? 300) });
  Object.assign(figures, udp.figures);

  // WebRTC peers beside the streamproto1 ones (bench/webrtc.ts): its own budget, after the streamproto1 stages.
  let rtc: RtcFigures | null = null;
  const rtcOnly = !!o.only && o.only.has('webrtc');
  const rtcWant = (k: string) => !o.only || rtcOnly || o.only.has(k);
  const rtcStages = {
    capacity: rtcOnly || (!!o.only && o.only.has('rtccap')), sustained: rtcWant('rtc60'), target: rtcOnly || (!!o.only && o.only.has('rtc50')),
    side: rtcWant('rtcside'), hop: rtcWant('rtchop'),
    m2e: rtcWant('rtcm2e'), m2eLow: rtcOnly || (!!o.only && o.only.has('rtcm2elow')),
  };
  if (Object.values(rtcStages).some(Boolean)) {
    if (!webrtcAvailable()) log('webrtc: this build has no WebRTC node (dist/nodes/webrtc): figures not measured');
    else {
      const rtcBudget = o.webrtcBudgetS ?? (rtcStages.capacity ? 600 : 240);
      const ctx: RtcBenchContext = {
        work, xcastCpus: o.xcastCpus, loadgenCpus: o.loadgenCpus, quick: o.quick, log, elapsedS, p10,
        probeSp1: (p) => probe({ ...p, packetsFile: p10, xcastCpus: o.xcastCpus }, work),
        ramp: (name, stepS, guess, deadline, probeAt, maxN) => rampWith(name, stepS, guess, deadline, probeAt, maxN),
      };
      rtc = await runWebrtc(ctx, rtcStages, elapsedS() + rtcBudget);
      figures.webrtc = { file: 'bench/results/webrtc.json', rows: rtc.table.length };
    }
  }

  // ---------------------------------------------------------------------------------------------
  const rows: Row[] = [];
  const yes = (b: boolean | null) => (b === null ? '—' : b ? 'yes' : 'NO');
  const ramped = (r: RampResult | null) => (r ? `${r.cleanN}${r.firstDirtyN ? ` (not clean at ${r.firstDirtyN})` : ''}${r.truncated ? ' (ramp cut short by the time budget)' : ''}` : 'not run');
  if (shared) {
    const s60 = sustainedTries.map((t) => `${t.seconds} s at ${t.peers}: ${t.clean ? '0 missed ticks' : t.why.join('; ')}`).join('; ');
    // The figure: the largest N that held for the sustained run when one was clean, else the ramp's.
    const held = sustainedTries.filter((t) => t.clean).map((t) => t.peers);
    const value = held.length ? Math.max(...held) : shared.cleanN;
    rows.push({ figure: `peers into one shared mix (10 ms; ramp of 10 s windows, then the sustained run)`, measured: `${held.length ? `**${value}** for ${sustainS} s; ` : ''}ramp ${ramped(shared)}${s60 ? `; ${s60}` : ''}`, target: '≥ 200', reference: 'Jamulus ≈ 100 clients/core; mediasoup ≈ 500 consumers/core (published)', ratio: `${(value / 200).toFixed(2)} of target${held.length ? '' : ' (ramp only: not held for the sustained run)'}`, met: yes(value >= 200 && held.length > 0) });
    figures.sharedMix = { ...(figures.sharedMix as object), sustainedTries, held: held.length ? value : null };
  }
  if (minus) rows.push({ figure: 'peers with per-peer mix-minus (one encode each)', measured: ramped(minus), target: '≥ 100', reference: 'Jamulus ≈ 100 (published)', ratio: `${(minus.cleanN / 100).toFixed(2)} of target`, met: yes(minus.cleanN >= 100) });
  if (amix) {
    if ('error' in amix) rows.push({ figure: 'decode + mix CPU per stream-second', measured: 'not measured', target: '≤ 1.0 × ffmpeg amix', reference: amix.error, ratio: '—', met: '—' });
    else rows.push({ figure: `decode + mix CPU per stream-second (${amix.streams} streams × ${amix.seconds} s, median of ${amix.oursMs.length})`, measured: `${amix.oursMedianMs.toFixed(2)} ms`, target: '≤ 1.0 × ffmpeg amix', reference: `ffmpeg amix ${amix.ffmpegMedianMs.toFixed(2)} ms (this run)`, ratio: `${amix.ratio.toFixed(2)} × ffmpeg`, met: yes(amix.ratio <= 1.0) });
  }
  for (const r of (drift ?? []).filter((d) => d.adaptive && Math.abs(d.ppm) === 500 && d.packetSamples === 480)) {
    rows.push({
      figure: `clock drift: a free-running sender ${r.ppm > 0 ? '+' : ''}${r.ppm} ppm into a mixer track (preset buffer, ${r.seconds} s simulated)`,
      measured: `${r.perMinute.trims} whole-frame trims/min, ${(r.perMinute.concealedSamples / 480).toFixed(2)} concealed frames/min, ${r.perMinute.artefacts} breaks/min; depth ≤ ${r.depth.max} frames`,
      target: 'absorbed, whole frames, counted', reference: `${Math.abs(r.ppm) * 0.048 * 60 / 480} frames/min of drift`, ratio: '—', met: yes(r.depth.max <= r.targetDepthFrames && r.lost === 0),
    });
  }
  for (const r of consoleTick ?? []) {
    rows.push({
      figure: `mix tick with the console's meters + one monitor on vs off (${r.tracks} ${r.codec === 'opus' ? 'Opus' : 'PCM'} tracks, ${r.ticks} ticks each, side by side)`,
      measured: `on p50 ${r.on.p50.toFixed(0)} µs, p99 ${r.on.p99.toFixed(0)} µs; off p50 ${r.off.p50.toFixed(0)} µs, p99 ${r.off.p99.toFixed(0)} µs (+${(r.on.p50 - r.off.p50).toFixed(0)} µs)`,
      target: 'no measurable cost', reference: 'the same tick without them (this run)', ratio: `${r.ratioP50.toFixed(3)} × (p50), ${r.ratioMean.toFixed(3)} × (mean)`, met: '—',
    });
  }
  const period = 10;
  const hopRow = (r: ProbeResult | null, label: string): HopFigure | null => {
    if (!r) return null;
    const l = r.loadgen.monitor.latencyMs;
    const e2e = { p50: median(l), p99: percentileOf(l, 0.99), n: l.length };
    const h = r.host.hop;
    const hop = h && h.n > 0 ? h : null;
    const e2eText = l.length ? `peer to peer through the xcast (probe bursts, loopback and the generator's own loop included): p50 ${e2e.p50.toFixed(1)} ms, p99 ${e2e.p99.toFixed(1)} ms (n = ${l.length})` : '—';
    const pc = (x: number) => `${(x * 100).toFixed(1)} %`;
    const cost = hop ? `; frames concealed ${pc(hop.cost.concealed)}, skipped ${pc(hop.cost.trimmed)}; waited ≥ 1 period: ${pc(1 - (hop.byPeriod[0] ?? 0))}` : '';
    rows.push({
      figure: `hub hop latency p99, packet in → mixed packet out (${r.peers} peers, ${label})`,
      measured: hop ? `p99 ${hop.p99.toFixed(2)} ms, p50 ${hop.p50.toFixed(2)} ms (n = ${hop.n})${cost}${r.clean ? '' : ` (${r.why.join('; ')})`}` : 'not measured',
      target: `≤ ${period + 1} ms`, reference: e2eText,
      ratio: hop ? `${(hop.p99 / (period + 1)).toFixed(2)} of limit` : '—', met: yes(hop ? hop.p99 <= period + 1 : false),
    });
    return { peers: r.peers, label, hub: hop, endToEnd: e2e, samplesMs: l, misaligned: r.loadgen.monitor.probeMisaligned, codecDelay: r.loadgen.monitor.codecDelay, clean: r.clean, why: r.why };
  };
  const hopSession = hopRow(latency, 'jitter buffer 1 frame, at most 1');
  const hopAtN = hopRow(latencyN, 'the sustained N, jitter buffer 1 frame, uncapped');
  if (sustained) {
    const h = sustained.host;
    rows.push({ figure: `mixer tick lateness p99 (${sustainN} peers, ${sustainS} s${sustainS < 60 ? ', shortened' : ''}, ${h.ticks} ticks)`, measured: `${h.latenessP99Ms.toFixed(3)} ms (p50 ${h.latenessP50Ms.toFixed(3)}, max ${h.latenessMaxMs.toFixed(2)})`, target: '≤ 0.2 ms', reference: timerRef ? `setTimeout loop p99 ${timerRef.p99Ms.toFixed(2)} ms idle (this run); Atomics.wait + spin ≈ 0.06 ms (published)` : 'setTimeout loop ≈ 1.1 ms (published)', ratio: timerRef ? `${(h.latenessP99Ms / timerRef.p99Ms).toFixed(2)} × setTimeout loop` : '—', met: yes(h.latenessP99Ms <= 0.2) });
    const m = memoryFigures(sustained);
    figures.memory = m;
    const flat = Math.abs(m.projected10MinPerPeerMB) <= 0.1;
    rows.push({ figure: `memory per connected peer (${sustainN} peers; flatness over ${sustainS} s${sustainS < 600 ? ', shortened from 10 min and projected' : ''})`, measured: `${m.perPeerMB.toFixed(3)} MB; held memory ${m.growthMBPerMin >= 0 ? '+' : ''}${m.growthMBPerMin.toFixed(2)} MB/min (→ ${m.projected10MinPerPeerMB.toFixed(3)} MB/peer in 10 min; ${m.basis})`, target: '≤ 1 MB, flat', reference: '—', ratio: `${m.perPeerMB.toFixed(2)} of limit`, met: yes(m.perPeerMB <= 1 && flat) });
    const mon = sustained.loadgen.monitor;
    figures.correctness = mon;
    const toneOk = mon.toneHz !== null && Math.abs(mon.toneHz - 1000) <= 1 && mon.discontinuities === 0;
    rows.push({ figure: `tone from one peer at the monitor (${sustainN} peers, last ${mon.analysedSeconds.toFixed(0)} s)`, measured: `${mon.toneHz?.toFixed(2) ?? '—'} Hz, ${mon.discontinuities ?? '—'} discontinuities, ${mon.concealed} frames concealed`, target: '1000 ± 1 Hz, 0 discontinuities', reference: '—', ratio: '—', met: yes(toneOk) });
  }
  if (f25) rows.push({ figure: 'peers into one shared mix, 2.5 ms frames', measured: ramped(f25), target: '≥ 120', reference: '—', ratio: `${(f25.cleanN / 120).toFixed(2)} of target`, met: yes(f25.cleanN >= 120) });
  if (scaling) {
    // On a 2-core machine the second core is the load generator's too: say so when every unclean step was only that.
    const dirty = scaling.steps.filter((st) => !st.clean);
    const genBound = dirty.length > 0 && dirty.every((st) => st.why.length > 0 && st.why.every((w) => w.startsWith('load generator late')));
    const best = scaling.steps.filter((st) => st.clean).sort((a, b) => b.peers - a.peers)[0];
    const split = best ? `; at ${best.peers}: xcast ${(best.cpu * 100).toFixed(0)} % of a core in all, event loop ${(best.elu * 100).toFixed(0)} %, the rest on the mix thread and the encoder threads` : '';
    rows.push({
      figure: `capacity 1 → 2 cores (mix-minus 10 ms, encoders on threads; the load generator shares core ${o.loadgenCpus}, ahead of the xcast)`,
      measured: `${minus?.cleanN ?? '?'} → ${ramped(scaling)}${genBound ? ' — every unclean step was the load generator falling behind on the shared core, not the xcast' : ''}${split}`,
      target: 'uses every core', reference: 'Jamulus ≈ 100 per core (published)', ratio: minus?.cleanN ? `${(scaling.cleanN / minus.cleanN).toFixed(2)} ×` : '—', met: '—',
    });
  }
  figures.sustained = sustained ? { peers: sustainN, seconds: sustainS, clean: sustained.clean, why: sustained.why, host: { ...sustained.host, memory: sustained.host.memory.length }, loadgen: { ...sustained.loadgen, monitor: undefined } } : null;
  figures.latency = hopSession;
  figures.latencyAtN = hopAtN;
  const udpHop = hopRow(udp.hop, 'UDP peers, jitter buffer 1 frame, at most 1');
  if (udpHop) figures.udpHop = udpHop;
  rows.push(...udp.rows(ramped, yes));
  if (rtc) rows.push(...rtc.table);
  out.table = rows;
  out.totalSeconds = elapsedS();
  out.loadavgAtEnd = os.loadavg();

  // What bounds the figures: the sustained run's GC pauses, run-queue waits and the ramps' first failures.
  const notes: string[] = [];
  if (sustained) {
    const h = sustained.host;
    notes.push(`sustained run (${sustainN} peers, ${sustainS} s): xcast CPU ${(h.cpu * 100).toFixed(0)} % of a core, event loop busy ${(h.elu * 100).toFixed(0)} %; ` +
      `${h.gc.count} GCs, longest pause ${h.gc.maxMs.toFixed(1)} ms, ${h.gc.over5ms} of ≥ 5 ms` +
      (h.longGcs.length ? ` (${h.longGcs.slice(0, 6).map(([t, ms, k]) => `${k} ${ms.toFixed(1)} ms at ${t.toFixed(1)} s`).join(', ')})` : '') +
      `; missed ticks at ${h.lateTicks.length ? h.lateTicks.slice(0, 8).map(([t, ms]) => `${t.toFixed(1)} s (${ms.toFixed(0)} ms late)`).join(', ') : '—'}` +
      (h.runQueueWaitMs !== null ? `; the event-loop thread waited ${h.runQueueWaitMs.toFixed(0)} ms for its core (other threads and processes on it)` : ''));
  }
  notes.push(...udp.notes);
  for (const r of [shared, minus, f25, scaling]) {
    if (!r) continue;
    const fail = r.steps.find((st) => st.peers === r.firstDirtyN);
    if (fail) notes.push(`${r.name}: at ${fail.peers} peers ${fail.why.join('; ')} (xcast CPU ${(fail.cpu * 100).toFixed(0)} %, loop busy ${(fail.elu * 100).toFixed(0)} %)`);
  }
  out.notes = notes;
  const table = renderTable(rows);
  const title = `xcast bench — ${new Date().toISOString()} — ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, xcast on CPU ${o.xcastCpus}, load generator on CPU ${o.loadgenCpus}, ${elapsedS().toFixed(0)} s, load average at start ${os.loadavg()[0].toFixed(2)}`;
  const notesText = notes.map((n) => `- ${n}`).join('\n');
  process.stdout.write(`\n${title}\n\n${table}\n\n${notesText}\n`);
  out.markdown = table;
  if (rtc) {
    rtc.notes.push(...notes.filter((n) => n.startsWith('WebRTC')));
    writeRtcResults(rtc, title.replace('xcast bench', 'xcast bench (WebRTC)'), o.quick, renderTable);
    log(`wrote ${o.quick ? 'bench/results/webrtc.partial.json.tmp' : 'bench/results/webrtc.json and the WebRTC table of docs/performance.md'}`);
  }
  if (!o.quick && !o.only) updateReadme(title, table, notesText);
  fs.writeFileSync(path.join(RESULTS, o.quick || o.only ? 'partial.json.tmp' : 'latest.json'), `${JSON.stringify(out, null, 2)}\n`);
  if (!o.quick && !o.only) log(`wrote ${path.relative(PACKAGE_ROOT, path.join(RESULTS, 'latest.json'))}`);
  fs.rmSync(work, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// streamproto1 over UDP (issue 13): the targets — ≥ 300 peers into one shared mix for 60 s with 0 missed ticks, ≥ 150
// at 2.5 ms frames, hub hop p99 ≤ 11 ms at 150 peers with a 1-frame buffer, ≥ 100 with mix-minus.

const UDP_HOP_PEERS = 150;

interface UdpStageOut {
  figures: Record<string, unknown>;
  hop: ProbeResult | null;
  notes: string[];
  rows(ramped: (r: RampResult | null) => string, yes: (b: boolean | null) => string): Row[];
}

/** What a probe says of the load generator: its send lateness, and whether it (not the xcast) was the bound. */
function generatorText(r: ProbeResult | null): string {
  if (!r) return '';
  const l = r.loadgen;
  const bound = r.why.some((w) => w.startsWith('load generator late'));
  return `load generator send lateness p99 ${l.sendLateP99Ms.toFixed(2)} ms, max ${l.sendLateMaxMs.toFixed(1)} ms${bound ? ' — the load generator was the bound here' : ''}`;
}

async function udpStages(o: Opts, want: (s: string) => boolean, c: { base10: Omit<ProbeOpts, 'peers' | 'name' | 'variant'>; p25: string; work: string; prev: Record<string, unknown> | null; tcp: { shared: number | null; minus: number | null; f25: number | null }; deadline: number }): Promise<UdpStageOut> {
  const figures: Record<string, unknown> = {};
  const notes: string[] = [];
  const { base10, p25, work, prev } = c;
  const share = (f: number) => Math.min(c.deadline, elapsedS() + (c.deadline - elapsedS()) * f);
  let shared: RampResult | null = null;
  if (want('udpshared') || want('udp60')) {
    shared = await ramp('UDP shared mix 10 ms', { ...base10, variant: { udp: true } }, guessFrom(prev, 'udpSharedMix', 300), share(0.35), work);
    figures.udpSharedMix = { value: shared.cleanN, ...shared, best: undefined };
  }
  let sustained: ProbeResult | null = null;
  let sustainN = shared?.cleanN || guessFrom(prev, 'udpSharedMix', 300);
  let sustainS = 0;
  if (want('udp60')) {
    const left = share(0.45) - elapsedS();
    sustainS = Math.max(10, Math.min(o.quick ? 15 : 60, Math.floor(left - base10.warmupS - 8)));
    log(`UDP sustained: ${sustainN} peers for ${sustainS} s${sustainS < 60 ? ' (shortened from 60 s to fit the time budget)' : ''}`);
    try {
      sustained = await probe({ ...base10, name: 'udp sustained', variant: { udp: true }, peers: sustainN, windowS: sustainS, profileDir: o.profile ? RESULTS : undefined }, work);
      log(`UDP sustained: ${sustained.clean ? 'clean' : sustained.why.join('; ')}; xcast CPU ${(sustained.host.cpu * 100).toFixed(0)} %, loop busy ${(sustained.host.elu * 100).toFixed(0)} %; tone ${sustained.loadgen.monitor.toneHz?.toFixed(2)} Hz`);
      if (!sustained.clean && shared && share(0.55) - elapsedS() > 40) {
        sustainN = Math.max(2, Math.floor(sustainN * 0.9));
        log(`UDP sustained again at ${sustainN} peers`);
        sustained = await probe({ ...base10, name: 'udp sustained', variant: { udp: true }, peers: sustainN, windowS: sustainS }, work);
      }
    } catch (err) {
      log(`UDP sustained run failed: ${(err as Error).message}`);
    }
    figures.udpSustained = sustained ? { peers: sustainN, seconds: sustainS, clean: sustained.clean, why: sustained.why, host: { ...sustained.host, memory: sustained.host.memory.length }, loadgen: { ...sustained.loadgen, monitor: { ...sustained.loadgen.monitor, latencyMs: undefined } } } : null;
  }
  let f25: RampResult | null = null;
  if (want('udpframes25')) {
    f25 = await ramp('UDP shared mix 2.5 ms', { ...base10, packetsFile: p25, variant: { udp: true, frameMs: 2.5 } }, guessFrom(prev, 'udpFrames25', 150), share(0.55), work);
    figures.udpFrames25 = { value: f25.cleanN, ...f25, best: undefined };
  }
  let hop: ProbeResult | null = null;
  if (want('udphop')) {
    log(`UDP latency: ${UDP_HOP_PEERS} peers, jitter buffer 1 frame, at most 1`);
    try {
      hop = await probe({ ...base10, warmupS: LATENCY_WARMUP_S, name: 'udp latency', mode: 'probe', variant: { ...HOP_VARIANT, udp: true }, peers: UDP_HOP_PEERS, windowS: o.quick ? 8 : 10, env: { BENCH_HOP: '1' } }, work);
    } catch (err) {
      log(`UDP latency run failed: ${(err as Error).message}`);
    }
  }
  let minus: RampResult | null = null;
  if (want('udpminus')) {
    minus = await ramp('UDP mix-minus 10 ms', { ...base10, variant: { udp: true, mixMinus: true } }, guessFrom(prev, 'udpMixMinus', 100), c.deadline, work);
    figures.udpMixMinus = { value: minus.cleanN, ...minus, best: undefined };
  }
  for (const r of [shared, f25, minus]) {
    if (!r) continue;
    const fail = r.steps.find((st) => st.peers === r.firstDirtyN);
    if (fail) notes.push(`${r.name}: at ${fail.peers} peers ${fail.why.join('; ')} (xcast CPU ${(fail.cpu * 100).toFixed(0)} %, loop busy ${(fail.elu * 100).toFixed(0)} %)`);
    if (r.best) notes.push(`${r.name}: at ${r.best.peers} peers (clean) xcast CPU ${(r.best.host.cpu * 100).toFixed(0)} %, event loop busy ${(r.best.host.elu * 100).toFixed(0)} %; ${generatorText(r.best)}`);
  }
  if (hop && !(hop.host.hop && hop.host.hop.n > 0)) {
    notes.push('UDP hub hop: no packet timed inside the xcast (BENCH_HOP times each packet by the arrival stamp in the mix\'s used frame, which the UDP ingest thread gives it through the ring) — the run failed or mixed nothing; the peer-to-peer probe (reference column) is the figure');
  }
  if (hop) notes.push(`UDP hop run (${hop.peers} peers): xcast CPU ${(hop.host.cpu * 100).toFixed(0)} %, event loop busy ${(hop.host.elu * 100).toFixed(0)} %, ${hop.host.missedTicks} missed ticks; ${generatorText(hop)}`);
  if (sustained) notes.push(`UDP sustained (${sustainN} peers, ${sustainS} s): xcast CPU ${(sustained.host.cpu * 100).toFixed(0)} %, event loop busy ${(sustained.host.elu * 100).toFixed(0)} %, ${sustained.host.missedTicks} missed ticks; ${generatorText(sustained)}`);
  return {
    figures, hop, notes,
    rows: (ramped, yes) => {
      const rows: Row[] = [];
      if (shared || sustained) {
        const held = sustained?.clean ? sustainN : null;
        const s60 = sustained ? `${sustainS} s at ${sustainN}: ${sustained.clean ? '0 missed ticks' : sustained.why.join('; ')}` : 'no sustained run';
        rows.push({ figure: 'UDP peers into one shared mix (10 ms; ramp of 10 s windows, then the sustained run)', measured: `${held !== null ? `**${held}** for ${sustainS} s; ` : ''}ramp ${ramped(shared)}; ${s60}`, target: '≥ 300, 60 s, 0 missed ticks', reference: tcpRef(c.tcp.shared, 'shared mix'), ratio: held !== null ? `${(held / 300).toFixed(2)} of target` : '—', met: yes(held !== null && held >= 300 && sustainS >= 60) });
      }
      if (f25) rows.push({ figure: 'UDP peers into one shared mix, 2.5 ms frames', measured: ramped(f25), target: '≥ 150', reference: tcpRef(c.tcp.f25, '2.5 ms'), ratio: `${(f25.cleanN / 150).toFixed(2)} of target`, met: yes(f25.cleanN >= 150) });
      if (minus) rows.push({ figure: 'UDP peers with per-peer mix-minus (one encode each)', measured: ramped(minus), target: '≥ 100', reference: `${tcpRef(c.tcp.minus, 'mix-minus')}; Jamulus ≈ 100 (published)`, ratio: `${(minus.cleanN / 100).toFixed(2)} of target`, met: yes(minus.cleanN >= 100) });
      return rows;
    },
  };
}

function tcpRef(n: number | null, what: string): string {
  return n === null ? 'TCP: not run (its stage was not selected)' : `TCP peers, ${what} ramp, this run: ${n}`;
}

// ---------------------------------------------------------------------------------------------
// --compare: this build and another, the same probes alternated.

interface CompareFigure { build: 'this' | 'other'; cpuPerPeerMs: number; cpu: number; elu: number; latenessP99Ms: number; missedTicks: number; clean: boolean; why: string[]; hopP99Ms?: number; hopP50Ms?: number; perPeerMB?: number }

async function compareBuilds(o: Opts, prev: Record<string, unknown> | null, c: { p10: string; windowS: number; warmupS: number; work: string; packets: Buffer[] }): Promise<void> {
  const other = o.compare as string;
  const otherHost = path.join(other, 'dist', 'bench', 'xcast-host.js');
  const otherDecodeMix = path.join(other, 'dist', 'bench', 'decode-mix.js');
  if (!fs.existsSync(otherHost)) throw new Error(`--compare: ${otherHost} not found (build that checkout first: npm ci && npm run build)`);
  const want = (s: string) => !o.only || o.only.has(s);
  const rev = (dir: string) => { try { return execFileSync('git', ['-C', dir, 'describe', '--always', '--dirty'], { encoding: 'utf8' }).trim(); } catch { return 'unknown'; } };
  const builds = { this: { root: PACKAGE_ROOT, rev: rev(PACKAGE_ROOT) }, other: { root: other, rev: rev(other) } };
  log(`compare: this build ${builds.this.rev} vs ${other} (${builds.other.rev}), ${o.reps} repetitions each, alternated`);
  // Fixed N below the capacity the last run measured, so both builds run clean and the figure is what a peer costs.
  const sharedN = Math.max(20, Math.round(guessFrom(prev, 'sharedMix', 100) * 0.75));
  const minusN = Math.max(10, Math.round(guessFrom(prev, 'mixMinus', 40) * 0.75));
  const stages: Array<{ key: string; label: string; variant: Variant; peers: number; mode: 'tone' | 'probe'; warmupS: number; env?: NodeJS.ProcessEnv }> = [];
  if (want('shared')) stages.push({ key: 'shared', label: `shared mix 10 ms, ${sharedN} peers`, variant: {}, peers: sharedN, mode: 'tone', warmupS: c.warmupS });
  if (want('minus')) stages.push({ key: 'minus', label: `mix-minus 10 ms, ${minusN} peers`, variant: { mixMinus: true }, peers: minusN, mode: 'tone', warmupS: c.warmupS });
  if (want('latency')) stages.push({ key: 'latency', label: `hub hop, ${HOP_PEERS} peers, jitter buffer 1 frame, at most 1`, variant: HOP_VARIANT, peers: HOP_PEERS, mode: 'probe', warmupS: LATENCY_WARMUP_S, env: { BENCH_HOP: '1' } });
  const results: Record<string, CompareFigure[]> = {};
  const result: Record<string, unknown> = { date: new Date().toISOString(), builds, reps: o.reps, machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadavgAtStart: os.loadavg() }, stages: results };
  for (const st of stages) {
    results[st.key] = [];
    for (let r = 0; r < o.reps; r++) {
      // A B, then B A: neither build always runs first after a pause.
      const order: Array<'this' | 'other'> = r % 2 === 0 ? ['this', 'other'] : ['other', 'this'];
      for (const b of order) {
        log(`compare: ${st.label}, ${b} build, repetition ${r + 1}`);
        try {
          const p = await probe({ name: st.key, variant: st.variant, peers: st.peers, windowS: c.windowS, warmupS: st.warmupS, mode: st.mode, packetsFile: c.p10, xcastCpus: o.xcastCpus, env: st.env, hostScript: b === 'this' ? undefined : otherHost }, c.work);
          const h = p.host;
          const fig: CompareFigure = { build: b, cpuPerPeerMs: (h.cpu * 1000) / st.peers, cpu: h.cpu, elu: h.elu, latenessP99Ms: h.latenessP99Ms, missedTicks: h.missedTicks, clean: p.clean, why: p.why };
          if (h.hop && h.hop.n > 0) { fig.hopP99Ms = h.hop.p99; fig.hopP50Ms = h.hop.p50; }
          if (st.key === 'shared') fig.perPeerMB = memoryFigures(p).perPeerMB;
          results[st.key].push(fig);
          log(`compare:   CPU ${(h.cpu * 100).toFixed(1)} % (${fig.cpuPerPeerMs.toFixed(3)} ms/s per peer), loop ${(h.elu * 100).toFixed(0)} %, tick p99 ${h.latenessP99Ms.toFixed(3)} ms${fig.hopP99Ms !== undefined ? `, hop p99 ${fig.hopP99Ms.toFixed(2)} ms` : ''}${p.clean ? '' : ` (${p.why.join('; ')})`}`);
        } catch (err) {
          log(`compare:   probe failed: ${(err as Error).message.split('\n')[0]}`);
        }
      }
    }
  }
  let decodeMix: { this: number[]; other: number[] } | null = null;
  if (want('reference')) {
    decodeMix = { this: [], other: [] };
    for (let r = 0; r < o.reps; r++) {
      for (const b of (r % 2 === 0 ? ['this', 'other'] : ['other', 'this']) as Array<'this' | 'other'>) {
        const p = startNode(b === 'this' ? path.join(DIST, 'decode-mix.js') : otherDecodeMix, [c.p10, '16', '20'], o.xcastCpus);
        await p.exited;
        try { decodeMix[b].push((JSON.parse(p.output().trim().split('\n').pop() ?? '') as DecodeMixResult).msPerStreamSecond); } catch { log(`compare: decode-mix (${b}) failed: ${p.output().slice(-400)}`); }
      }
    }
    result.decodeMix = decodeMix;
  }
  // The table: medians, and this build over the other.
  const rows: string[] = ['| figure | this build | other build | this / other |', '|---|---|---|---|'];
  const med = (xs: number[]) => median(xs.filter((x) => Number.isFinite(x)));
  const row = (label: string, a: number, b: number, digits: number) => rows.push(`| ${label} | ${a.toFixed(digits)} | ${b.toFixed(digits)} | ${(a / b).toFixed(2)} |`);
  for (const st of stages) {
    const f = results[st.key];
    const pick = (b: 'this' | 'other', k: keyof CompareFigure) => med(f.filter((x) => x.build === b).map((x) => x[k] as number));
    row(`${st.label}: CPU per peer, ms per s`, pick('this', 'cpuPerPeerMs'), pick('other', 'cpuPerPeerMs'), 3);
    row(`${st.label}: event loop busy, %`, pick('this', 'elu') * 100, pick('other', 'elu') * 100, 1);
    row(`${st.label}: tick lateness p99, ms`, pick('this', 'latenessP99Ms'), pick('other', 'latenessP99Ms'), 3);
    const missed = (b: 'this' | 'other') => f.filter((x) => x.build === b).map((x) => x.missedTicks).join(', ');
    rows.push(`| ${st.label}: missed ticks per window | ${missed('this')} | ${missed('other')} | — |`);
    if (st.key === 'latency') row(`${st.label}: hop p99, ms`, pick('this', 'hopP99Ms'), pick('other', 'hopP99Ms'), 2);
    if (st.key === 'shared') row(`${st.label}: memory per peer, MB`, pick('this', 'perPeerMB'), pick('other', 'perPeerMB'), 3);
  }
  if (decodeMix) row('decode + mix CPU per stream-second, ms (16 streams × 20 s)', med(decodeMix.this), med(decodeMix.other), 3);
  const title = `xcast bench --compare — ${new Date().toISOString()} — this build ${builds.this.rev} vs ${builds.other.rev}, ${o.reps} alternated repetitions, medians, ${elapsedS().toFixed(0)} s, load average at start ${(result.machine as { loadavgAtStart: number[] }).loadavgAtStart[0].toFixed(2)}`;
  const table = rows.join('\n');
  result.markdown = table;
  process.stdout.write(`\n${title}\n\n${table}\n`);
  fs.writeFileSync(path.join(RESULTS, 'compare.json'), `${JSON.stringify(result, null, 2)}\n`);
  log(`wrote ${path.relative(PACKAGE_ROOT, path.join(RESULTS, 'compare.json'))}`);
}

/** Puts the latest table between the bench markers of README.md and docs/performance.md, so both stay current. */
function updateReadme(title: string, table: string, notes: string): void {
  for (const file of [path.join(PACKAGE_ROOT, 'README.md'), path.join(PACKAGE_ROOT, 'docs', 'performance.md')]) {
    let text: string;
    try { text = fs.readFileSync(file, 'utf8'); } catch { continue; }
    const start = '<!-- bench:latest:start -->';
    const end = '<!-- bench:latest:end -->';
    const a = text.indexOf(start), b = text.indexOf(end);
    if (a < 0 || b < a) continue;
    text = `${text.slice(0, a + start.length)}\n${title}\n\n${table}\n\n${notes}\n${text.slice(b)}`;
    fs.writeFileSync(file, text);
  }
}

function renderTable(rows: Row[]): string {
  const head = ['figure', 'measured', 'target', 'reference (same run where measured)', 'ratio', 'met'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${[r.figure, r.measured, r.target, r.reference, r.ratio, r.met].join(' | ')} |`);
  return lines.join('\n');
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});

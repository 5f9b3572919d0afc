// Bench: runs one xcast (the real launcher, an embedded Node-RED with the given flow) in this process and reports its clock, CPU and memory over IPC.
//
// Started by bench/run.ts under `taskset`, with the flow file and user dir as arguments. The mixer node exposes the
// clock it mixes on (node.tickSource); every tick's lateness is recorded here, so the figures cover every tick of a
// window, not the last 1000 FrameClock.stats() keeps.
import { performance, PerformanceObserver } from 'node:perf_hooks';
import fs from 'node:fs';
import inspector from 'node:inspector';
import { launch } from '../runtime/launcher';
import { nowMicros, TickSource } from '../runtime/clock';
import { percentile } from '../runtime/percentile';
import type { MixEngine } from '../runtime/audio/mix-engine';
import type { UsedFrame } from '../runtime/audio/used';
import { OpusEncoder } from '../runtime/audio/opus';
import path from 'node:path';

export interface HostReport {
  windowSeconds: number;
  ticks: number;
  /** Ticks that ran a whole period or more after their deadline. */
  missedTicks: number;
  resyncs: number;
  latenessP50Ms: number;
  latenessP99Ms: number;
  latenessMaxMs: number;
  /** CPU time of this process over the window, as a fraction of one core (all threads). */
  cpu: number;
  /** Share of the window the event loop (main thread) was busy. */
  elu: number;
  memory: { t: number; rss: number; heapUsed: number; external: number; arrayBuffers: number }[];
  /** Memory right after a full GC, at the start and at the end of the window (bytes): what the xcast retains. */
  retained: { start: { rss: number; heapUsed: number; external: number }; end: { rss: number; heapUsed: number; external: number } } | null;
  /** Garbage collections in the window: count, total and longest pause (ms), and how many paused ≥ 5 ms. */
  gc: { count: number; totalMs: number; maxMs: number; over5ms: number };
  /** The latest ticks that ran a period or more late, and the longest GC pauses: [seconds into the window, ms]. */
  lateTicks: Array<[number, number]>;
  /**
   * From /proc (Linux): how long the event-loop thread was runnable but waited for the CPU in the window, in ms —
   * time other processes on the same core took from it. Null where /proc/self/schedstat is missing.
   */
  runQueueWaitMs: number | null;
  longGcs: Array<[number, number, string]>;
  /**
   * Hub hop (BENCH_HOP=1): for every packet the mix used, its arrival at the socket reader (the reader's stamp) →
   * the end of the mixed frame's handling on the event loop, where the mixer's direct wires have encoded it and
   * written it to every receiver's socket: packet in → mixed packet out, inside the xcast, all peers. ms.
   */
  hop: { n: number; p50: number; p99: number; max: number; byPeriod: number[]; cost: HopCost } | null;
  /**
   * The hop (BENCH_HOP=1) by where the packet came from — a streamproto1 peer (the socket reader's arrival stamp) or
   * a WebRTC peer (userId starting with BENCH_RTC_PREFIX, default "rtc-" or "m2e-": the hub's stamp, once werift has
   * decrypted the SRTP) — and by end: `frame` is the end of the mixed frame's handling on the event loop (every
   * direct wire: encoders, socket writer, the WebRTC hub), `rtcOut` the last RtcHub.sendTo / sendRoom of that frame
   * (the mix packet leaving for the WebRTC listeners; null when no WebRTC node sent). ms.
   */
  hopByKind: Record<'sp1' | 'rtc', { frame: HopStat | null; rtcOut: HopStat | null }> | null;
  /**
   * Opus encodes on the event loop in the window (BENCH_ENCODE=1; the encoder threads' are not seen): calls per
   * second, µs per call, and their share of one core.
   */
  encode: { calls: number; perSecond: number; meanUs: number; p50Us: number; p99Us: number; coreShare: number } | null;
  /** WebRTC peers that left the hub in the window, by reason ('timeout', 'failed', …; the hub's 'leave' events). */
  rtcLeaves: Record<string, number>;
  /** Bytes of the shared state the receivers get as metadata (mixeradminSharedState as JSON), at the window's end. */
  sharedStateBytes: number | null;
  /**
   * The mix thread's heap over the window (MixEngine.threadHeap, as of its last track state): GCs per second, their
   * total and (since the thread started) longest pause, and the bytes a tick allocates on it (ticks without a GC).
   */
  mixThread: { gcs: number; scavenges: number; gcPerSecond: number; gcMs: number; gcMaxMsEver: number; allocBytesPerTick: number } | null;
}

interface HopStat { n: number; p50: number; p99: number; max: number }

/** What the jitter buffers paid for the hop, over the window: shares of the track-frames mixed. */
interface HopCost { trackFrames: number; concealed: number; trimmed: number; late: number; jitterMs: number }

const [flowFile, userDir] = process.argv.slice(2);
const send = (m: unknown) => process.send?.(m);

const LAT_CAP = 1 << 20;
const lateness = new Float32Array(LAT_CAP);
let latCount = 0;
let periodMs = 10;
let tickSource: TickSource | undefined;
let windowStart = performance.now();
let cpuStart = process.cpuUsage();
let eluStart = performance.eventLoopUtilization();
let statsStart = { missed: 0, resyncs: 0 };
type ThreadHeap = NonNullable<MixEngine['threadHeap']>;
let heapStart: ThreadHeap | null = null;
const threadHeap = (): ThreadHeap | null => (tickSource as Partial<MixEngine> | undefined)?.threadHeap ?? null;
function mixThreadStats(secs: number): HostReport['mixThread'] {
  const h = threadHeap();
  if (!h) return null;
  const a = heapStart ?? { gcs: 0, scavenges: 0, gcMs: 0, gcMaxMs: 0, allocBytes: 0, allocTicks: 0 };
  const ticks = h.allocTicks - a.allocTicks;
  return {
    gcs: h.gcs - a.gcs, scavenges: h.scavenges - a.scavenges, gcPerSecond: (h.gcs - a.gcs) / secs, gcMs: h.gcMs - a.gcMs, gcMaxMsEver: h.gcMaxMs,
    allocBytesPerTick: ticks > 0 ? Math.round((h.allocBytes - a.allocBytes) / ticks) : NaN,
  };
}
let memory: HostReport['memory'] = [];
let memTimer: NodeJS.Timeout | undefined;
let gc = { count: 0, totalMs: 0, maxMs: 0, over5ms: 0 };
let lateTicks: Array<[number, number]> = [];
let longGcs: Array<[number, number, string]> = [];
const HOP_CAP = 1 << 21;
const hops = new Float32Array(HOP_CAP);
let hopCount = 0;
/** Track-frames mixed and concealed (counted per mix), trimmed packets and late ones (the last 'tracks' state), and at the window's start. */
let trackSums = { frames: 0, misses: 0, trimmed: 0, late: 0 };
let trackSumsStart = { ...trackSums };
/** The tracks' mean RFC 3550 jitter (packet sent → read by the xcast), averaged over the window's states. */
let jitterSum = 0;
let jitterN = 0;
const GC_KINDS: Record<number, string> = { 1: 'scavenge', 2: 'minor mark-sweep', 4: 'mark-sweep-compact', 8: 'incremental', 16: 'weak callbacks' };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gc.count++;
    gc.totalMs += e.duration;
    if (e.duration > gc.maxMs) gc.maxMs = e.duration;
    if (e.duration >= 5) {
      gc.over5ms++;
      if (longGcs.length < 50) longGcs.push([(e.startTime - windowStart) / 1000, e.duration, GC_KINDS[(e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0] ?? 'gc']);
    }
  }
}).observe({ entryTypes: ['gc'] });

function sampleMemory(): void {
  const m = process.memoryUsage();
  memory.push({ t: (performance.now() - windowStart) / 1000, rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers });
}

const gcNow = (globalThis as { gc?: () => void }).gc;

/** ns the main thread has waited on a run queue (second field of /proc/self/task/PID/schedstat). */
function runQueueWaitNs(): number | null {
  try {
    return Number(fs.readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[1]);
  } catch {
    return null;
  }
}
let waitStart: number | null = null;
let retainedStart: { rss: number; heapUsed: number; external: number } | null = null;

function retainedNow(): { rss: number; heapUsed: number; external: number } | null {
  // Not in the latency probe: a forced full GC stalls the event loop ~0.1 s, every track's playout buffer then
  // fills by that much, and the hop figure would measure the forced pause instead of the hub.
  if (!gcNow || process.env.BENCH_HOP === '1') return null;
  gcNow();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

// BENCH_ALLOC_PROFILE=FILE: a sampling heap profile of everything allocated in the window, collected or not (what
// the GC has to clear, by allocating stack), written at the report; open it in Chrome DevTools' Memory panel.
const allocFile = process.env.BENCH_ALLOC_PROFILE;
let allocSession: inspector.Session | null = null;
function allocStart(): void {
  if (!allocFile) return;
  if (!allocSession) { allocSession = new inspector.Session(); allocSession.connect(); }
  else allocSession.post('HeapProfiler.stopSampling', () => undefined);   // a second mark restarts the window
  allocSession.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never);
}
function allocStop(): void {
  if (!allocFile || !allocSession) return;
  allocSession.post('HeapProfiler.stopSampling', (err, r) => {
    if (!err) fs.writeFileSync(allocFile, JSON.stringify((r as { profile: unknown }).profile));
  });
}

async function mark(): Promise<void> {
  // The full GC pauses the loop: do it, and let the clock catch up after it, before the window opens.
  retainedStart = retainedNow();
  // (a second: sweeping after a full GC goes on for a while, and the first ticks after it were still late)
  if (retainedStart) await new Promise((r) => setTimeout(r, 1000));
  windowStart = performance.now();
  waitStart = runQueueWaitNs();
  cpuStart = process.cpuUsage();
  eluStart = performance.eventLoopUtilization();
  latCount = 0;
  const s = tickSource?.stats();
  statsStart = { missed: s?.missedDeadlines ?? 0, resyncs: s?.resyncs ?? 0 };
  heapStart = threadHeap();
  memory = [];
  allocStart();
  gc = { count: 0, totalMs: 0, maxMs: 0, over5ms: 0 };
  lateTicks = [];
  longGcs = [];
  hopCount = 0;
  for (const k of HOP_KINDS) { kindCount[k] = 0; kindRtcCount[k] = 0; }
  encCount = 0;
  encTotalMs = 0;
  rtcLeaves = {};
  trackSumsStart = { ...trackSums };
  jitterSum = 0;
  jitterN = 0;
  sampleMemory();
}

function report(): HostReport {
  const secs = (performance.now() - windowStart) / 1000;
  const waitNow = runQueueWaitNs();
  const cpu = process.cpuUsage(cpuStart);
  const elu = performance.eventLoopUtilization(eluStart);
  sampleMemory();
  allocStop();
  const n = Math.min(latCount, LAT_CAP);
  const sorted = Array.from(lateness.subarray(0, n)).sort((a, b) => a - b);
  const pct = (p: number) => percentile(sorted, p, 0);
  const s = tickSource?.stats();
  let missed = 0;
  for (let i = 0; i < n; i++) if (lateness[i] >= periodMs) missed++;
  // After the window's figures are taken: the full GC's pause must not count as a late tick.
  const retainedEnd = retainedNow();
  return {
    windowSeconds: secs,
    ticks: latCount,
    missedTicks: Math.max(missed, (s?.missedDeadlines ?? 0) - statsStart.missed),
    resyncs: (s?.resyncs ?? 0) - statsStart.resyncs,
    latenessP50Ms: pct(0.5),
    latenessP99Ms: pct(0.99),
    latenessMaxMs: n ? sorted[n - 1] : 0,
    cpu: (cpu.user + cpu.system) / 1e6 / secs,
    elu: elu.utilization,
    memory,
    gc: { ...gc },
    retained: retainedStart && retainedEnd ? { start: retainedStart, end: retainedEnd } : null,
    lateTicks,
    longGcs,
    runQueueWaitMs: waitNow !== null && waitStart !== null ? (waitNow - waitStart) / 1e6 : null,
    hop: hopStats(),
    hopByKind: hopKindStats(),
    encode: encodeStats(secs),
    rtcLeaves: { ...rtcLeaves },
    sharedStateBytes: sharedStateBytes(),
    mixThread: mixThreadStats(secs),
  };
}

let readGlobal: (key: string) => unknown = () => undefined;
function sharedStateBytes(): number | null {
  const v = readGlobal('mixeradminSharedState');
  return v === undefined ? null : Buffer.byteLength(JSON.stringify(v));
}

function hopStats(): HostReport['hop'] {
  if (process.env.BENCH_HOP !== '1') return null;
  const n = Math.min(hopCount, HOP_CAP);
  const a = Array.from(hops.subarray(0, n)).sort((x, y) => x - y);
  const pct = (p: number) => percentile(a, p);
  // Share of packets by the whole frame periods they waited: [0, T), [T, 2T), … — the jitter buffer's standing depth.
  const byPeriod: number[] = [];
  for (const v of a) {
    const k = Math.min(7, Math.floor(v / periodMs));
    while (byPeriod.length <= k) byPeriod.push(0);
    byPeriod[k]++;
  }
  const frames = Math.max(1, trackSums.frames - trackSumsStart.frames);
  const share = (k: 'misses' | 'trimmed' | 'late') => Math.round(((trackSums[k] - trackSumsStart[k]) / frames) * 1e5) / 1e5;
  const cost = { trackFrames: trackSums.frames - trackSumsStart.frames, concealed: share('misses'), trimmed: share('trimmed'), late: share('late'), jitterMs: jitterN ? Math.round((jitterSum / jitterN) * 1000) / 1000 : NaN };
  return { n, p50: pct(0.5), p99: pct(0.99), max: n ? a[n - 1] : NaN, byPeriod: byPeriod.map((c) => Math.round((c / Math.max(1, n)) * 1e4) / 1e4), cost };
}

// Per-kind hops (see HostReport.hopByKind): [kind][end] → a Float32Array of ms.
const HOP_KINDS = ['sp1', 'rtc'] as const;
type HopKind = typeof HOP_KINDS[number];
const KIND_CAP = 1 << 20;
const kindHops: Record<HopKind, { frame: Float32Array; rtcOut: Float32Array }> = {
  sp1: { frame: new Float32Array(0), rtcOut: new Float32Array(0) },
  rtc: { frame: new Float32Array(0), rtcOut: new Float32Array(0) },
};
const kindCount: Record<HopKind, number> = { sp1: 0, rtc: 0 };
const kindRtcCount: Record<HopKind, number> = { sp1: 0, rtc: 0 };
const rtcPrefixes = (process.env.BENCH_RTC_PREFIX ?? 'rtc-,m2e-').split(',').filter(Boolean);
const kindOf = (userId: string): HopKind => (rtcPrefixes.some((p) => userId.startsWith(p)) ? 'rtc' : 'sp1');

function hopKindStats(): HostReport['hopByKind'] {
  if (process.env.BENCH_HOP !== '1') return null;
  const stat = (a: Float32Array, count: number): HopStat | null => {
    const n = Math.min(count, KIND_CAP);
    if (n === 0) return null;
    const s = Array.from(a.subarray(0, n)).sort((x, y) => x - y);
    return { n, p50: percentile(s, 0.5), p99: percentile(s, 0.99), max: s[n - 1] };
  };
  const out = {} as NonNullable<HostReport['hopByKind']>;
  for (const k of HOP_KINDS) out[k] = { frame: stat(kindHops[k].frame, kindCount[k]), rtcOut: stat(kindHops[k].rtcOut, kindRtcCount[k]) };
  return out;
}

// BENCH_ENCODE=1: every OpusEncoder.encode on this thread, timed.
const ENC_CAP = 1 << 20;
const encUs = new Float32Array(process.env.BENCH_ENCODE === '1' ? ENC_CAP : 0);
let encCount = 0;
let encTotalMs = 0;
function measureEncodes(): void {
  const proto = OpusEncoder.prototype as unknown as { encode(pcm: Buffer): Buffer };
  const encode = proto.encode;
  proto.encode = function (this: OpusEncoder, pcm: Buffer): Buffer {
    const t = performance.now();
    const r = encode.call(this, pcm);
    const d = performance.now() - t;
    encTotalMs += d;
    if (encCount < ENC_CAP) encUs[encCount] = d * 1000;
    encCount++;
    return r;
  };
}
function encodeStats(secs: number): HostReport['encode'] {
  if (process.env.BENCH_ENCODE !== '1') return null;
  const n = Math.min(encCount, ENC_CAP);
  const s = Array.from(encUs.subarray(0, n)).sort((a, b) => a - b);
  return { calls: encCount, perSecond: encCount / secs, meanUs: encCount ? (encTotalMs * 1000) / encCount : NaN, p50Us: percentile(s, 0.5, NaN), p99Us: percentile(s, 0.99, NaN), coreShare: encTotalMs / 1000 / secs };
}

/**
 * The WebRTC hub's sends (BENCH_HOP=1), when the build has one (runtime/webrtc, loaded by path so the bench builds
 * without it): each sendTo / sendRoom stamps the mixed frame whose handling began last (the hub is fed from the
 * mixer's outputs: by call within the frame's handling on one core, else by the same tick's messages or encoder
 * threads, before the next frame's). A ring of the last 8 frames: [frame index, time of its last send (µs)].
 */
let frameIdx = 0;
const SEND_RING = 8;
const sendFrame = new Float64Array(SEND_RING).fill(-1);
const sendAt = new Float64Array(SEND_RING);
function measureRtcSends(): boolean {
  let mod: { RtcHub?: { prototype: Record<string, unknown> } };
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    mod = require(path.join(__dirname, '..', 'runtime', 'webrtc', 'hub.js'));
  } catch {
    return false;
  }
  const proto = mod.RtcHub?.prototype as Record<string, (...a: unknown[]) => unknown> | undefined;
  if (!proto || typeof proto.sendTo !== 'function' || typeof proto.sendRoom !== 'function') return false;
  for (const name of ['sendTo', 'sendRoom']) {
    const orig = proto[name];
    proto[name] = function (this: unknown, ...args: unknown[]) {
      const r = orig.apply(this, args);
      const slot = frameIdx % SEND_RING;
      sendFrame[slot] = frameIdx;
      sendAt[slot] = nowMicros();
      return r;
    };
  }
  return true;
}

/** Counts the hub's 'leave' events by reason (every run: why WebRTC peers went). */
let rtcLeaves: Record<string, number> = {};
function countRtcLeaves(): void {
  let mod: { RtcHub?: { prototype: { emit(event: string | symbol, ...args: unknown[]): boolean } } };
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    mod = require(path.join(__dirname, '..', 'runtime', 'webrtc', 'hub.js'));
  } catch {
    return;
  }
  const proto = mod.RtcHub?.prototype;
  if (!proto) return;
  const emit = proto.emit;
  proto.emit = function (this: unknown, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'leave') { const r = String(args[1]); rtcLeaves[r] = (rtcLeaves[r] ?? 0) + 1; }
    return emit.call(this, event, ...args);
  };
}

/**
 * BENCH_HOP=1: times every used packet from its reader's arrival stamp (carried in the mix's used frame, TCP and UDP
 * alike) to the end of its mixed frame's sending.
 */
function measureHops(engine: MixEngine): void {
  for (const k of HOP_KINDS) kindHops[k] = { frame: new Float32Array(KIND_CAP), rtcOut: new Float32Array(KIND_CAP) };
  // Track-frames, misses (concealed frames), trims and late packets, as the buffers count them (the window's delta).
  engine.on('tracks', (states) => {
    let trimmed = 0;
    let late = 0;
    let jitter = 0;
    for (const st of states) {
      trimmed += st.trimmedSamples / engine.frameSamples;
      late += st.late;
      jitter += st.jitterMs;
    }
    trackSums.trimmed = trimmed;
    trackSums.late = late;
    jitterSum += states.length ? jitter / states.length : 0;
    jitterN++;
  });
  /** The seq last timed per track (its table entry: the same object while the track list stands). */
  const lastSeq = new WeakMap<object, number>();
  // Frames whose WebRTC sends may still come: finished two frames later, from the send ring.
  const pending: Array<{ idx: number; sp1: number[]; rtc: number[] }> = [];
  // Before the mixer node's own listener: a new frame's handling begins.
  (engine as unknown as import('node:events').EventEmitter).prependListener('mix', () => { frameIdx++; });
  // Registered after the mixer node's own listener: it runs once the frame has been encoded and written.
  engine.on('mix', (r) => {
    const t = nowMicros();
    trackSums.frames += r.used.length;
    const mine = { idx: frameIdx, sp1: [] as number[], rtc: [] as number[] };
    // Every room's mix (a track is in one room's used frame), each packet by the arrival stamp its reader gave it —
    // the socket reader's on the event loop, the UDP ingest thread's through its ring: one path for both.
    const hopsOf = (used: UsedFrame) => {
      for (let i = 0; i < used.length; i++) {
        const concealed = used.concealed(i);
        if (concealed) trackSums.misses++;
        const a = used.arrival(i);
        if (a === null || concealed) continue;
        // A packet longer than a frame is the first in two frames: timed once, in the first.
        const seq = used.seq(i) as number;
        const track = used.tracks[i];
        if (lastSeq.get(track) === seq) continue;
        lastSeq.set(track, seq);
        if (hopCount < HOP_CAP) hops[hopCount] = (t - a) / 1000;
        hopCount++;
        const k = kindOf(used.userId(i));
        if (kindCount[k] < KIND_CAP) kindHops[k].frame[kindCount[k]] = (t - a) / 1000;
        kindCount[k]++;
        mine[k].push(a);
      }
    };
    hopsOf(r.used);
    if (r.rooms) for (const m of r.rooms) { trackSums.frames += m.used.length; hopsOf(m.used); }
    if (mine.sp1.length || mine.rtc.length) pending.push(mine);
    while (pending.length && pending[0].idx <= frameIdx - 2) {
      const p = pending.shift()!;
      const slot = p.idx % SEND_RING;
      if (sendFrame[slot] !== p.idx) continue;
      for (const k of HOP_KINDS) {
        for (const a of p[k]) {
          if (kindRtcCount[k] < KIND_CAP) kindHops[k].rtcOut[kindRtcCount[k]] = (sendAt[slot] - a) / 1000;
          kindRtcCount[k]++;
        }
      }
    }
  });
}

async function main(): Promise<void> {
  const l = await launch({ flow: flowFile, port: 0, userDir, logLevel: 'warn', editor: false });
  const flows = JSON.parse(fs.readFileSync(flowFile, 'utf8')) as Array<{ id: string; type: string }>;
  const mixerDef = flows.find((n) => n.type === 'xcast-mixer');
  const mixer = mixerDef ? l.RED.nodes.getNode(mixerDef.id) : undefined;
  tickSource = mixer?.tickSource as TickSource | undefined;
  readGlobal = (k) => mixer?.context().global.get(k);
  if (!tickSource) throw new Error('the flow has no running xcast-mixer exposing tickSource');
  periodMs = tickSource.periodMs;
  if (process.env.BENCH_HOP === '1' && typeof (tickSource as Partial<MixEngine>).push === 'function') {
    measureHops(tickSource as MixEngine);
    measureRtcSends();
  }
  if (process.env.BENCH_ENCODE === '1') measureEncodes();
  countRtcLeaves();
  tickSource.on('tick', (_i: number, late: number) => {
    if (latCount < LAT_CAP) lateness[latCount] = late;
    latCount++;
    if (late >= periodMs) {
      if (lateTicks.length >= 50) lateTicks.shift();
      lateTicks.push([(performance.now() - windowStart) / 1000, late]);
    }
  });
  memTimer = setInterval(sampleMemory, 1000);
  memTimer.unref();
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'mark') void mark().then(() => send({ ev: 'marked' }));
    else if (m.cmd === 'report') send({ ev: 'report', report: report() });
    else if (m.cmd === 'stop') {
      if (memTimer) clearInterval(memTimer);
      const hard = setTimeout(() => process.exit(0), 5000);
      l.stop().finally(() => { clearTimeout(hard); process.exit(0); });
    }
  });
  process.on('disconnect', () => process.exit(0));
  await mark();
  send({ ev: 'ready', url: l.url });
}

main().catch((err) => {
  send({ ev: 'error', message: (err as Error).stack ?? String(err) });
  process.exit(1);
});

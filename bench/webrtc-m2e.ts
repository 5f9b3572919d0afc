// Bench: mouth-to-ear through the xcast in real headless Chromium (playwright-core, /usr/bin/chromium), on loopback.
//
// The page (bench/lib/rtc-click-page.ts) is served on the xcast's own origin by intercepting one path
// (/xcast/bench-m2e/) in the browser, so its signaling requests are same-origin and reach the real xcast untouched.
// One publisher and one listen-only listener in the same room; clicks made and heard in one AudioWorklet, counted on
// one sample clock. Chromium runs pinned to the load generator's core(s) through a taskset wrapper.
//
// Also runnable on its own against any xcast: node dist/bench/webrtc-m2e.js http://127.0.0.1:1880 [clicks]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { percentile } from '../runtime/percentile';
import { PAGE, WORKLET } from './lib/rtc-click-page';
import { tasksetAvailable } from './lib/procs';

export const CHROMIUM = process.env.XCAST_CHROMIUM ?? '/usr/bin/chromium';

export interface M2EOptions {
  /** The xcast's HTTP origin, e.g. http://127.0.0.1:1880 */
  origin: string;
  /** Signaling base path (default /xcast/rtc). */
  basePath?: string;
  room?: string;
  /** Clicks measured after the warm-up. */
  clicks?: number;
  warmupClicks?: number;
  periodMs?: number;
  /** The CPU list Chromium is pinned to (taskset), or null. */
  cpus?: string | null;
  /** When the xcast's answer carries no a=ptime: add a=ptime:N before applying it (N ms Opus frames from Chromium). */
  forcePtime?: number | null;
  /** RTCRtpReceiver.jitterBufferTarget (ms) for the listener, or null for Chromium's default. */
  jitterBufferTargetMs?: number | null;
  userPrefix?: string;
  /** Fresh pages the clicks are spread over (default 4). */
  sessions?: number;
  /** Called when the clicks that count start (so the xcast's window can open then). */
  onMark?: () => Promise<void>;
}

export interface M2EResult {
  clicksSent: number;
  clicksHeard: number;
  latencyMs: number[];
  p50: number;
  p95: number;
  min: number;
  max: number;
  /** Chromium's figures in each session's measured window. */
  sessions: Array<{ session: number; frameMs: number | null; netEq: number | null; target: number | null; minimum: number | null; concealed: number | null }>;
  /** Chromium's figures over the measured windows (mean over the sessions). */
  chromium: {
    version: string;
    publisherFrameMs: number | null;
    netEqDelayMs: number | null;
    netEqTargetMs: number | null;
    netEqMinimumMs: number | null;
    listenerConcealedShare: number | null;
    rttMs: number | null;
    baseLatencyMs: number | null;
    outputLatencyMs: number | null;
    publisherFmtp: string | null;
    listenerFmtp: string | null;
  };
  answer: { ptime: number | null; fmtp: string | null; mungedPtime: boolean };
  log: string[];
}

interface PageStats {
  t: number;
  pubOut?: { packetsSent: number };
  subIn?: { jitterBufferDelay: number; jitterBufferEmittedCount: number; jitterBufferTargetDelay?: number; jitterBufferMinimumDelay?: number; concealedSamples: number; totalSamplesReceived: number };
  pubCodec?: string;
  subCodec?: string;
  subRtt?: number;
}

interface PageOut {
  clicks: number[];
  onsets: number[];
  mark: { clicks: number; stats: PageStats };
  end: PageStats;
  state: Record<string, unknown>;
  log: string[];
  sampleRate: number;
  outputLatency: number;
  baseLatency: number;
}

/** Pairs each onset with the latest click before it (within one period): latencies in ms of the clicks from `from` on. */
export function matchClicks(clicks: number[], onsets: number[], sampleRate: number, periodSamples: number, from = 0): number[] {
  const out: number[] = [];
  let j = 0;
  for (let i = from; i < clicks.length; i++) {
    const c = clicks[i];
    const nextClick = i + 1 < clicks.length ? clicks[i + 1] : Infinity;
    while (j < onsets.length && onsets[j] < c) j++;
    if (j < onsets.length && onsets[j] < c + periodSamples && onsets[j] < nextClick + periodSamples) {
      // An onset belongs to the latest click before it: skip this click when the next one is also before it.
      if (onsets[j] >= nextClick) continue;
      const ms = ((onsets[j] - c) * 1000) / sampleRate;
      j++;
      // Below 15 ms (one 10 ms Opus frame and the look-ahead) it cannot be this click: a late onset of the one before.
      if (ms >= 15) out.push(ms);
    }
  }
  return out;
}

function opusFmtp(sdp: string | undefined): { fmtp: string | null; ptime: number | null } {
  if (!sdp) return { fmtp: null, ptime: null };
  const pt = /a=rtpmap:(\d+) opus\/48000/i.exec(sdp)?.[1];
  const fmtp = pt ? new RegExp(`a=fmtp:${pt} (.*)`).exec(sdp)?.[1]?.trim() ?? null : null;
  const ptime = /a=ptime:(\d+)/.exec(sdp)?.[1];
  return { fmtp, ptime: ptime ? Number(ptime) : null };
}

export async function mouthToEar(o: M2EOptions): Promise<M2EResult> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (apt-get install chromium, or set XCAST_CHROMIUM)`);
  const clicks = o.clicks ?? 60;
  const warm = o.warmupClicks ?? 5;
  const periodMs = o.periodMs ?? 500;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-m2e-'));
  let exe = CHROMIUM;
  if (o.cpus && tasksetAvailable()) {
    exe = path.join(work, 'chromium-pinned.sh');
    fs.writeFileSync(exe, `#!/bin/sh\nexec taskset -c ${o.cpus} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
  }
  const context = await chromium.launchPersistentContext(path.join(work, 'profile'), {
    executablePath: exe, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
      '--autoplay-policy=no-user-gesture-required', '--allow-loopback-in-peer-connection',
      // Raw host candidates: without a media permission Chromium hides them behind mDNS names, which this closed network cannot resolve.
      '--disable-features=WebRtcHideLocalIpsWithMdns'],
  });
  try {
    const page = context.pages()[0] ?? await context.newPage();
    const pageUrl = `${o.origin}/xcast/bench-m2e/`;
    await page.route(`${o.origin}/xcast/bench-m2e/**`, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: PAGE }));
    const version = context.browser()?.version() ?? '';
    const cfg = {
      base: o.basePath ?? '/xcast/rtc', room: o.room ?? 'main', worklet: WORKLET, periodMs, threshold: 0.2,
      forcePtime: o.forcePtime ?? null, jitterBufferTargetMs: o.jitterBufferTargetMs ?? null, userPrefix: o.userPrefix ?? 'm2e-',
    };
    // Sessions: a fresh page (AudioContext, both connections) each. Within one session every click has the same
    // latency to the sample (the clock phases between Chromium's 10 ms audio chunks and the xcast's ticks are fixed
    // while both run); a new session draws new phases, so the figure is over sessions × clicks.
    const sessions = Math.max(1, o.sessions ?? 4);
    const per = Math.ceil(clicks / sessions);
    const lat: number[] = [];
    let sent = 0;
    const outs: PageOut[] = [];
    for (let k = 0; k < sessions; k++) {
      await page.goto(`${pageUrl}?session=${k}`);
      await page.evaluate((c) => (window as unknown as { m2e: { start(c: unknown): Promise<unknown> } }).m2e.start(c), cfg);
      const count = () => page.evaluate(() => (window as unknown as { m2e: { clicks: number[] } }).m2e.clicks.length);
      // Poll (no event crosses from the page): warm-up clicks, then the measured ones.
      const waitClicks = async (n: number) => {
        const deadline = Date.now() + n * periodMs + 15000;
        while ((await count()) < n) {
          if (Date.now() > deadline) throw new Error(`mouth-to-ear: only ${await count()} of ${n} clicks made in time`);
          await page.waitForTimeout(100);
        }
      };
      await waitClicks(warm);
      await page.evaluate(() => (window as unknown as { m2e: { mark(): Promise<void> } }).m2e.mark());
      if (k === 0 && o.onMark) await o.onMark();
      await waitClicks(warm + per + 1);
      // The last click's onset needs its latency's worth of time to come back.
      await page.waitForTimeout(Math.min(periodMs, 300));
      const r = await page.evaluate(() => (window as unknown as { m2e: { finish(): Promise<unknown> } }).m2e.finish()) as PageOut;
      const from = r.mark.clicks;
      sent += r.clicks.slice(from, from + per).length;
      lat.push(...matchClicks(r.clicks.slice(0, from + per), r.onsets, r.sampleRate, Math.round((periodMs * r.sampleRate) / 1000), from));
      outs.push(r);
    }
    const s = [...lat].sort((a, b) => a - b);
    // Chromium's figures: each session's window, averaged over the sessions.
    const avg = (f: (r: PageOut) => number | null): number | null => {
      const xs = outs.map(f).filter((x): x is number => x !== null && Number.isFinite(x));
      return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
    };
    const windowOf = (r: PageOut) => {
      const a = r.mark.stats, b = r.end;
      const dt = (b.t - a.t) / 1000;
      const dPk = b.pubOut && a.pubOut ? b.pubOut.packetsSent - a.pubOut.packetsSent : 0;
      const si = a.subIn, ei = b.subIn;
      const dEm = si && ei ? ei.jitterBufferEmittedCount - si.jitterBufferEmittedCount : 0;
      const per1 = (k: 'jitterBufferDelay' | 'jitterBufferTargetDelay' | 'jitterBufferMinimumDelay') =>
        si && ei && dEm > 0 && typeof ei[k] === 'number' && typeof si[k] === 'number' ? (((ei[k] as number) - (si[k] as number)) / dEm) * 1000 : null;
      return {
        frameMs: dPk > 0 ? (dt * 1000) / dPk : null, netEq: per1('jitterBufferDelay'), target: per1('jitterBufferTargetDelay'), minimum: per1('jitterBufferMinimumDelay'),
        concealed: si && ei && ei.totalSamplesReceived > si.totalSamplesReceived ? (ei.concealedSamples - si.concealedSamples) / (ei.totalSamplesReceived - si.totalSamplesReceived) : null,
      };
    };
    const r = outs[outs.length - 1];
    const b = r.end;
    const bySession = outs.map((x, i) => ({ session: i, ...windowOf(x) }));
    const ans = opusFmtp(r.state['answer_' + cfg.userPrefix + 'mouth'] as string | undefined);
    return {
      clicksSent: sent,
      clicksHeard: lat.length,
      latencyMs: lat,
      p50: percentile(s, 0.5, NaN),
      p95: percentile(s, 0.95, NaN),
      min: s.length ? s[0] : NaN,
      max: s.length ? s[s.length - 1] : NaN,
      sessions: bySession,
      chromium: {
        version,
        publisherFrameMs: avg((x) => windowOf(x).frameMs),
        netEqDelayMs: avg((x) => windowOf(x).netEq),
        netEqTargetMs: avg((x) => windowOf(x).target),
        netEqMinimumMs: avg((x) => windowOf(x).minimum),
        listenerConcealedShare: avg((x) => windowOf(x).concealed),
        rttMs: typeof b.subRtt === 'number' ? b.subRtt * 1000 : null,
        baseLatencyMs: Number.isFinite(r.baseLatency) ? r.baseLatency * 1000 : null,
        outputLatencyMs: Number.isFinite(r.outputLatency) ? r.outputLatency * 1000 : null,
        publisherFmtp: b.pubCodec ?? null,
        listenerFmtp: b.subCodec ?? null,
      },
      answer: { ...ans, mungedPtime: r.state.mungedPtime === true },
      log: r.log,
    };
  } finally {
    await context.close().catch(() => undefined);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const [origin, n] = process.argv.slice(2);
  if (!origin) { process.stderr.write('usage: node dist/bench/webrtc-m2e.js http://HOST:PORT [clicks] (env: M2E_PTIME=10, M2E_ROOM, M2E_CPUS)\n'); process.exit(2); }
  mouthToEar({ origin, clicks: Number(n ?? 50), forcePtime: process.env.M2E_PTIME ? Number(process.env.M2E_PTIME) : null, room: process.env.M2E_ROOM, cpus: process.env.M2E_CPUS ?? null })
    .then((r) => { process.stdout.write(`${JSON.stringify({ ...r, latencyMs: r.latencyMs.map((x) => Math.round(x * 100) / 100) }, null, 2)}\n`); process.exit(0); },
      (err) => { process.stderr.write(`${(err as Error).stack}\n`); process.exit(1); });
}

// `xcast metrics`: fetches getMetrics from a monitor's Node-RED, checks it against the schema and prints it.
import fs from 'node:fs';

import { UsageError } from '../cli';
import { validateGetMetrics } from './schema';
import type { AggregatedStatesSnapshot, GetMetricsAnswer } from './types';

export const METRICS_PATH = 'service/mixeradminclient?getMetrics';

export interface MetricsIo {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Stop --watch after this many rounds (tests); unbounded when absent. */
  rounds?: number;
}

const defaultIo: MetricsIo = { out: (l) => process.stdout.write(l + '\n'), err: (l) => process.stderr.write(l + '\n') };

/** The getMetrics URL under a Node-RED base URL, keeping any path prefix (httpNodeRoot). */
export function metricsUrl(base: string): URL {
  let u: URL;
  try {
    u = new URL(base);
  } catch {
    throw new UsageError(`--url: "${base}" is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--url: "${base}" is not http(s)`);
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  return new URL(METRICS_PATH, u);
}

const num = (v: unknown, digits: number) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '-');

/** A human-readable table of one getMetrics answer. */
export function formatMetrics(answer: GetMetricsAnswer): string {
  const s: AggregatedStatesSnapshot = answer.aggregatedStatesSnapshot;
  const lines = [
    `at ${new Date(s.at).toISOString()}  speaker: ${num(s.currentSpeakerBufferDepthInFloat32Samples, 0)} samples buffered, ` +
      `${num(s.currentSpeakerSampleRate, 0)} Hz, latency ${num(s.speakerScriptProcessorLatencyMS, 1)} ms, ` +
      `misses ${num(s.speakerScriptProcessorIncomingBufferMisses, 0)}, silence ${s.speakerSilenceDetected ? 'yes' : 'no'}`,
    `incoming ${(s.incomingAudioTracks ?? []).length} track(s), outgoing ${(s.outgoingAudioTracks ?? []).length} track(s)`,
  ];
  const head = ['user', 'role', 'in-audio', 'latency ms', 'rtt ms', 'jitter ms', 'received', 'lost', 'late', 'buffer', 'kbit/s'];
  // printed even when the answer breaks the schema, so nothing here may assume a field is there
  const conns = s.connections && typeof s.connections === 'object' ? s.connections : {};
  const rows = Object.keys(conns).sort().map((user) => {
    const c = conns[user] ?? ({} as never);
    return [
      user, c.role ?? '-', c.isIncomingAudioTrackConnected ? 'yes' : 'no', num(c.latencyMs, 1), num(c.rttMs, 1),
      num(c.jitterMs, 1), num(c.packetsReceived, 0), num(c.packetsLost, 0), num(c.packetsLate, 0),
      num(c.bufferDepthSamples, 0), num(c.bitrateKbps, 1),
    ];
  });
  if (rows.length === 0) {
    lines.push('no connections');
  } else {
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const fmt = (r: string[]) => r.map((v, i) => (i < 3 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ').trimEnd();
    lines.push(fmt(head), ...rows.map(fmt));
  }
  return lines.join('\n');
}

/** One fetch: the answer, or throws an Error whose message says why (HTTP status, not JSON, schema). */
export async function fetchMetrics(url: URL, timeoutMs = 5000, authorization?: string): Promise<{ answer: GetMetricsAnswer; schemaErrors: string[] }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (authorization !== undefined) headers.authorization = authorization;
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers });
  if (res.status === 401) throw new Error(`HTTP 401: the xcast asks for a password (give it in the URL, http://admin:PASSWORD@host:1880, or with --admin-password-file FILE)`);
  const text = await res.text();
  if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`.trimEnd());
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw new Error(`answer is not JSON (${(e as Error).message})`);
  }
  const v = validateGetMetrics(body);
  if (!v.valid && !(body as { aggregatedStatesSnapshot?: unknown })?.aggregatedStatesSnapshot) {
    throw new Error('answer has no aggregatedStatesSnapshot');
  }
  return { answer: body as GetMetricsAnswer, schemaErrors: v.errors.map((e) => `${e.instancePath || '(root)'} ${e.message}`) };
}

/**
 * `xcast metrics --url URL [--json] [--watch [SECONDS]]`. Exit code 0 when the answer came and matches the
 * schema, 1 when it could not be fetched, 3 when it came but breaks the schema (printed anyway).
 */
export async function metricsCommand(args: string[], io: MetricsIo = defaultIo): Promise<number> {
  let url: string | undefined;
  let json = false;
  let watchS: number | undefined;
  let passwordFile: string | undefined;
  let user = 'admin';
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--url') url = args[++i];
    else if (a.startsWith('--url=')) url = a.slice(6);
    else if (a === '--json') json = true;
    else if (a === '--admin-password-file') passwordFile = args[++i];
    else if (a === '--user') user = args[++i];
    else if (a === '--watch') {
      // the interval is optional: take the next argument only when it is a number
      const n = Number(args[i + 1]);
      watchS = i + 1 < args.length && args[i + 1] !== '' && Number.isFinite(n) ? (i++, n) : 1;
      if (!(watchS > 0)) throw new UsageError(`--watch: the interval must be > 0 seconds, got ${args[i]}`);
    } else throw new UsageError(`metrics: unknown argument "${a}"`);
  }
  if (!url) throw new UsageError('metrics: --url is required');
  const target = metricsUrl(url);
  // Basic credentials from the URL's user info (fetch refuses a URL that holds them) or from a file / XCAST_ADMIN_PASSWORD.
  let authorization: string | undefined;
  let password: string | undefined = process.env.XCAST_ADMIN_PASSWORD || undefined;
  if (passwordFile !== undefined) {
    try {
      password = fs.readFileSync(passwordFile, 'utf8').split(/\r?\n/, 1)[0].trim();
    } catch (e) {
      throw new UsageError(`--admin-password-file: cannot read ${passwordFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  if (target.username || target.password) {
    user = decodeURIComponent(target.username) || user;
    password = decodeURIComponent(target.password);
    target.username = '';
    target.password = '';
  }
  if (password !== undefined) authorization = `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
  let code = 0;
  for (let round = 1; ; round++) {
    try {
      const { answer, schemaErrors } = await fetchMetrics(target, 5000, authorization);
      io.out(json ? JSON.stringify(answer, null, 2) : formatMetrics(answer));
      for (const e of schemaErrors) io.err(`schema: ${e}`);
      code = schemaErrors.length ? 3 : 0;
    } catch (err) {
      // undici says only "fetch failed"; the cause carries ECONNREFUSED and the like
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause ? ` (${cause.code ?? cause.message})` : '';
      io.err(`getMetrics unreachable at ${target.href}: ${(err as Error).message}${why}`);
      code = 1;
    }
    if (watchS === undefined || (io.rounds !== undefined && round >= io.rounds)) return code;
    await new Promise((r) => setTimeout(r, watchS! * 1000));
    if (!json) io.out('');
  }
}

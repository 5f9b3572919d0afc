// HTTP fuzzing against a launched Node-RED (`xcast start` with the xcast and monitor presets): random methods, paths
// (the routes this project adds — /service/mixeradminclient, /metrics, /health, /qos/, the console, the signaling, the RTP SDPs and SAP directory —
// Node-RED's admin API and random ones), query strings, headers and bodies. Invariants: no 5xx other than the documented 503s, no
// file handed out by a traversal, an SDP route answers an SDP, the process alive.
import http from 'node:http';
import net from 'node:net';
import { startXcast, freePortMap } from '../support/xcast-process';
import { alive } from '../support/proc-stats';
import { mutateBytes, mutateJson, randomJson } from './mutate';
import { Rng } from './prng';

export interface HttpReport {
  seed: number;
  requests: number;
  seconds: number;
  byStatus: Record<string, number>;
  /** Request lines that got a 5xx that is not documented (or no answer at all). */
  failures: string[];
  alive: boolean;
  /** Lines Node-RED logged at [error] level (its admin API refusing bodies). */
  errorLogLines: number;
  /** Answers on /xcast/rtp/ by status (the SDPs and the SAP directory are reached, the rest 404). */
  rtpAnswers: Record<string, number>;
}

const ROUTES = [
  '/service/mixeradminclient', '/service/mixeradminclient?getMetrics', '/metrics', '/health', '/qos', '/qos/', '/qos/index.html',
  '/qos/app.js', '/qos/..%2f..%2fpackage.json', '/qos/%2e%2e/%2e%2e/package.json', '/qos/%00', '/flows', '/flows/state', '/flow/0000000000000c01',
  '/nodes', '/nodes/@xcast/node-red-xcast', '/settings', '/settings/user', '/auth/login', '/auth/token', '/auth/revoke', '/xcast/devices',
  '/context/global', '/context/flow/x', '/context/node/x/y', '/library/flows', '/icons', '/locales/nodes', '/locales/xcast-mixer',
  '/plugins', '/diagnostics', '/debug/view/view.html', '/inject/0000000000000c02', '/comms', '/', '/red/red.min.js', '/vendor/x',
  // the console (issue 12) and the browsers' signaling and join page (issue 11)
  '/xcast/mixer', '/xcast/mixer/', '/xcast/mixer/state', '/xcast/mixer/control', '/xcast/mixer/config.json', '/xcast/mixer/console.js',
  '/xcast/mixer/..%2f..%2fpackage.json', '/xcast/mixer/%2e%2e/%2e%2e/package.json', '/xcast/mixer/ws', '/xcast/rtc/offer',
  '/xcast/rtc/ice-candidate', '/xcast/rtc/rooms', '/xcast/rtc/session/x', '/xcast/join/', '/xcast/join/config.json',
  // RTP out's SDPs (served from memory by name, issue 13), the SAP listener's directory, and ways out of them
  '/xcast/rtp/mix.sdp', '/xcast/rtp/mix', '/xcast/rtp/mix.sdp?x=1', '/xcast/rtp/MIX.sdp', '/xcast/rtp/nosuch.sdp', '/xcast/rtp/.sdp',
  '/xcast/rtp/', '/xcast/rtp', '/xcast/rtp/sap', '/xcast/rtp/sap?x=1', '/xcast/rtp/__proto__.sdp', '/xcast/rtp/constructor.sdp',
  '/xcast/rtp/..%2f..%2fpackage.json', '/xcast/rtp/%2e%2e/%2e%2e/package.json', '/xcast/rtp/../../package.json',
  '/xcast/rtp/..%5c..%5cpackage.json', '/xcast/rtp/%252e%252e%252fpackage.json', '/xcast/rtp/mix.sdp%00.json', '/xcast/rtp/mix.sdp/..',
  '/xcast/rtp/..%2f..%2f..%2f..%2fetc%2fpasswd', '/xcast/rtp//etc/passwd', '/xcast/rtp/%2fetc%2fpasswd.sdp',
];

/** A file the server must never hand out, whatever the path (the project's package.json, the system's passwd). */
function leaked(body: string): boolean {
  return /^\{\s*\n\s*"name":\s*"@xcast\/node-red-xcast"|"devDependencies"|root:x?:0:0:/.test(body);
}

/** What a 200 on the RTP routes may be: an SDP (GET) or nothing (HEAD), the SAP directory as JSON. */
function badRtpAnswer(method: string, path: string, status: number, type: string, body: string): string | null {
  if (status !== 200 || !path.startsWith('/xcast/rtp/')) return null;
  if (/^\/xcast\/rtp\/sap(\?|$)/.test(path)) return /^application\/json/.test(type) && (method === 'HEAD' || body.startsWith('{"listeners":')) ? null : `the SAP directory answered ${type}: ${body.slice(0, 80)}`;
  if (!/^application\/sdp/.test(type)) return `a 200 of ${type || 'no type'} under /xcast/rtp/`;
  return method === 'HEAD' || body.startsWith('v=0\r\n') ? null : `an SDP that is not one: ${body.slice(0, 80)}`;
}

/** Documented 503s: the launcher while starting; the monitor routes when no mixeradmin client is deployed. */
function documented503(path: string): boolean {
  return /^\/(service\/mixeradminclient|metrics|health)/.test(path);
}

function randomPath(rng: Rng): string {
  let p = rng.bool(0.8) ? rng.pick(ROUTES) : `/${rng.bytes(rng.small(20)).toString('base64url')}`;
  if (rng.bool(0.3)) p += (p.includes('?') ? '&' : '?') + rng.pick([
    'getMetrics', 'getMetrics=1&getMetrics=2', 'getMetrics[]=1', '__proto__[x]=1', 'constructor[prototype][x]=1', 'a=%zz', 'x=' + 'a'.repeat(5000),
    'getMetrics&' + Array.from({ length: 200 }, (_, i) => `k${i}=${i}`).join('&'), 'a[b][c][d][e][f][g]=1', '%00', 'file=../../etc/passwd',
  ]);
  if (rng.bool(0.05)) p = p.replace(/\//g, () => rng.pick(['/', '//', '/./', '%2f']));
  return p;
}

function randomBody(rng: Rng): { body: Buffer; type: string | undefined } {
  switch (rng.int(6)) {
    case 5: return { body: mutateJson(rng, rng.pick([{ userId: 'alice', gainDb: -6, pan: 0.5, mute: true }, { room: 'main', masterGainDb: -3 }, { type: 'offer', sdp: 'v=0', userId: 'u', room: 'main' }])), type: rng.pick(['application/json', 'application/x-www-form-urlencoded', 'text/plain']) };
    case 0: return { body: Buffer.alloc(0), type: undefined };
    case 1: return { body: mutateJson(rng, { flows: [{ id: 'x', type: 'tab' }], rev: 'abc' }), type: 'application/json' };
    case 2: return { body: Buffer.from(JSON.stringify(randomJson(rng)) ?? 'null'), type: rng.pick(['application/json', 'text/plain', 'application/x-www-form-urlencoded']) };
    case 3: return { body: mutateBytes(rng, Buffer.from('username=admin&password=x&client_id=node-red-editor&grant_type=password&scope=*')), type: 'application/x-www-form-urlencoded' };
    default: return { body: rng.bytes(rng.small(4096)), type: rng.pick(['application/octet-stream', 'application/json', 'multipart/form-data; boundary=x', undefined]) };
  }
}

function request(port: number, method: string, path: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; type: string; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, timeout: 10000, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { if (text.length < 300) text += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: text }));
      res.on('error', (e) => resolve({ error: e.message }));
    });
    req.on('timeout', () => { req.destroy(new Error('timeout after 10 s')); });
    req.on('error', (e) => resolve({ error: e.message }));
    req.end(body);
  });
}

/** Raw bytes on the HTTP port: broken request lines and headers (Node's parser answers 400 or closes). */
function raw(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => resolve());
    s.on('close', () => resolve());
    s.on('connect', () => s.end(bytes));
    s.resume();
    setTimeout(() => { s.destroy(); resolve(); }, 3000);
  });
}

export async function fuzzHttp(o: { seed: number; requests: number; log?: (l: string) => void }): Promise<HttpReport> {
  const rng = new Rng(o.seed ^ 0x4774);
  const x = await startXcast({ flows: ['xcast', 'monitor'], portMap: await freePortMap() });
  const port = Number(new URL(x.url).port);
  const byStatus: Record<string, number> = {};
  const failures: string[] = [];
  const t0 = Date.now();
  const report = { alive: false, errorLogLines: 0 };
  const rtpAnswers: Record<string, number> = {};
  try {
    let n = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (n < o.requests) {
        const i = n++;
        if (i % 20 === 19) {
          await raw(port, rng.bool() ? rng.bytes(1 + rng.small(2000)) : mutateBytes(rng, Buffer.from('GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello')));
          byStatus.raw = (byStatus.raw ?? 0) + 1;
          continue;
        }
        const method = rng.pick(['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']);
        const path = randomPath(rng);
        const { body, type } = method === 'GET' || method === 'HEAD' ? (rng.bool(0.1) ? randomBody(rng) : { body: Buffer.alloc(0), type: undefined }) : randomBody(rng);
        const headers: Record<string, string> = {};
        if (type) headers['content-type'] = type;
        if (rng.bool(0.2)) headers.accept = rng.pick(['*/*', 'application/json', 'text/html', '', 'x/y;q=abc']);
        if (rng.bool(0.1)) headers.authorization = rng.pick(['Bearer x', 'Basic !!!', 'Bearer ' + 'a'.repeat(4000)]);
        if (rng.bool(0.1)) headers['x-forwarded-for'] = '1.2.3.4, 5.6.7.8';
        if (rng.bool(0.05)) headers['node-red-api-version'] = rng.pick(['v1', 'v2', 'v999', '']);
        if (rng.bool(0.05)) headers.cookie = 'a=' + 'b'.repeat(2000);
        const r = await request(port, method, path, headers, body);
        if ('error' in r) {
          // A request with a body the server refuses early (Node's HTTP server answers e.g. a DELETE with a body 400 and
          // closes) can be reset while its body is still being sent: the answer was sent, the client lost it.
          if (body.length > 0 && /ECONNRESET|EPIPE/.test(r.error)) { byStatus['reset while sending a body'] = (byStatus['reset while sending a body'] ?? 0) + 1; continue; }
          byStatus.error = (byStatus.error ?? 0) + 1;
          failures.push(`${method} ${path}: no answer (${r.error})`);
          continue;
        }
        byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
        if (r.status >= 500 && !(r.status === 503 && documented503(path))) failures.push(`${method} ${path} (${type ?? 'no body'}, ${body.length} B) → ${r.status}: ${r.body.slice(0, 200)}`);
        if (leaked(r.body)) failures.push(`${method} ${path} → ${r.status} handed out a file: ${r.body.slice(0, 120)}`);
        const bad = badRtpAnswer(method, path, r.status, r.type, r.body);
        if (bad) failures.push(`${method} ${path}: ${bad}`);
        if (path.startsWith('/xcast/rtp/')) rtpAnswers[r.status] = (rtpAnswers[r.status] ?? 0) + 1;
      }
    }));
  } finally {
    const isAlive = alive(x.proc.pid!);
    await x.stop();
    if (process.env.XCAST_FUZZ_DEBUG) console.log(x.output());
    // Node-RED's own admin API logs what it refuses ([error] TypeError: config.forEach… for a non-array POST /flows);
    // a crash shows as the process gone or an uncaught exception / unhandled rejection.
    const out = x.output().split('\n');
    for (const l of out.filter((l) => /Unhandled|uncaught|FATAL/i.test(l)).slice(0, 10)) failures.push(`xcast log: ${l}`);
    if (!isAlive) failures.push('the xcast died');
    report.alive = isAlive;
    report.errorLogLines = out.filter((l) => /\[error\]/.test(l)).length;
  }
  return { ...report, seed: o.seed, requests: o.requests, seconds: (Date.now() - t0) / 1000, byStatus, rtpAnswers, failures };
}

export function formatHttpReport(r: HttpReport): string {
  return [
    `http fuzz (seed ${r.seed}): ${r.requests} requests in ${r.seconds.toFixed(1)} s (${Math.round(r.requests / r.seconds)}/s); xcast ${r.alive ? 'alive' : 'DEAD'}; ${r.failures.length} failures; ${r.errorLogLines} [error] log lines`,
    `  by status: ${Object.entries(r.byStatus).map(([k, v]) => `${k} ${v}`).join(', ')}; /xcast/rtp/: ${Object.entries(r.rtpAnswers).map(([k, v]) => `${k} ${v}`).join(', ')}`,
  ].join('\n');
}

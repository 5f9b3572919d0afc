// Keep strangers out, end to end through the real CLI: a host beyond loopback needs credentials; with TLS and a
// users list a client with the right token streams and gets the mix, and one with a wrong token, without trust in
// the certificate, or on plain TCP gets nothing of the session; the editor's API and /metrics want the password.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../runtime/launcher';
import { StreamClient, StreamConnection } from '../../runtime/protocol/transport';
import { Codec, encodeJsonFrame, FrameType, MAGIC_0, MAGIC_1 } from '../../runtime/protocol/frame';
import { freePortMap, startXcast, tmpDir } from '../support/xcast-process';
import { chromium } from 'playwright-core';

// Node-RED's own WebSocket library (ws, a dependency of its editor API).
// eslint-disable-next-line @typescript-eslint/no-var-requires
const WebSocket = require(require.resolve('ws', { paths: [path.dirname(require.resolve('@node-red/editor-api'))] }));

/** The HTTP status a websocket upgrade is answered with (101 once open). */
function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => { ws.terminate(); resolve(101); });
    ws.on('unexpected-response', (_req: unknown, res: { statusCode?: number; resume(): void }) => { res.resume(); resolve(res.statusCode ?? 0); });
    ws.on('error', (e: Error) => { if (!/Unexpected server response/.test(e.message)) reject(e); });
  });
}
import { makeTestCerts, type TestCerts } from '../support/tls-certs';
import { metricsCommand } from '../../runtime/qos/cli';
import { until } from '../support/resources';

const XCAST = path.join(PACKAGE_ROOT, 'bin', 'xcast.js');
const DUMMY = 'xcast-t0';
const DUMMY_ADDR = '198.51.100.7';

/** An address of this machine that is not loopback: an interface's, or one on a dummy interface made for the test (root). */
function nonLoopbackAddress(): { address: string; cleanup(): void } {
  for (const list of Object.values(os.networkInterfaces())) {
    const a = list?.find((i) => i.family === 'IPv4' && !i.internal);
    if (a) return { address: a.address, cleanup: () => undefined };
  }
  execFileSync('ip', ['link', 'add', DUMMY, 'type', 'dummy']);
  execFileSync('ip', ['addr', 'add', `${DUMMY_ADDR}/32`, 'dev', DUMMY]);
  execFileSync('ip', ['link', 'set', DUMMY, 'up']);
  return { address: DUMMY_ADDR, cleanup: () => { try { execFileSync('ip', ['link', 'del', DUMMY]); } catch { /* gone */ } } };
}

interface Run { code: Promise<number | null>; running: Promise<string>; output(): string; stop(): Promise<void> }

function xcast(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const e = { ...process.env, ...env };
  delete e.XCAST_ADMIN_PASSWORD; delete e.XCAST_TOKEN;
  Object.assign(e, env);
  const proc = spawn(process.execPath, [XCAST, ...args], { cwd: PACKAGE_ROOT, env: e, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  const code = new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  const running = new Promise<string>((resolve, reject) => {
    proc.stdout!.on('data', () => { const m = /running at (https?:\/\/\S+?)\/ /.exec(out); if (m) resolve(m[1]); });
    void code.then((c) => reject(new Error(`xcast exited with ${c}:\n${out}`)));
  });
  running.catch(() => undefined);
  return {
    code, running, output: () => out,
    async stop() { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM'); await code; },
  };
}

/** Whether something accepts TCP connections on the port, asked until it does (up to 10 s). */
async function listens(port: number, host: string): Promise<boolean> {
  const end = Date.now() + 10_000;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host, () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

const basic = (pass: string) => `Basic ${Buffer.from(`admin:${pass}`).toString('base64')}`;

describe('trust: xcast start beyond loopback', function () {
  this.timeout(90000);
  let host: ReturnType<typeof nonLoopbackAddress>;
  before(() => { host = nonLoopbackAddress(); });
  after(() => host.cleanup());

  it('refuses a non-loopback --host without credentials, naming what to give, and leaves nothing listening', async () => {
    const dir = tmpDir();
    const r = xcast(['start', 'xcast', '--host', host.address, '--port', '0', '--user-dir', dir]);
    assert.notEqual(await r.code, 0, r.output());
    assert.match(r.output(), new RegExp(`--host ${host.address.replace(/\./g, '\\.')} is reachable from other machines`));
    assert.match(r.output(), /HTTP credentials \(--admin-password-file FILE or XCAST_ADMIN_PASSWORD/);
    assert.match(r.output(), /streamproto1 credentials \(--users FILE or --token T\)/);
    assert.match(r.output(), /--generate-credentials/);
    // With a token only, what is missing is the web side's.
    const t = xcast(['start', 'xcast', '--host', host.address, '--port', '0', '--user-dir', dir, '--token', 'tok']);
    assert.notEqual(await t.code, 0);
    assert.match(t.output(), /HTTP credentials/);
    assert.doesNotMatch(t.output(), /streamproto1 credentials/);
    assert.ok(!fs.existsSync(path.join(dir, 'flows.json')), 'nothing deployed');
  });

  it('refuses unusable TLS files, a bad users list or fingerprint before starting, naming the option', async () => {
    const dir = tmpDir();
    const certs = makeTestCerts();
    const other = makeTestCerts();
    const users = path.join(dir, 'users.json');
    fs.writeFileSync(users, JSON.stringify([{ userId: 'alice', token: 'a' }, { userId: 'bob' }]));
    const cases: Array<[string[], RegExp]> = [
      [['--tls-cert', path.join(dir, 'missing.crt'), '--tls-key', certs.serverKey], /--tls-cert: cannot read .*missing\.crt/],
      [['--tls-cert', certs.serverCert, '--tls-key', other.serverKey], /--tls-key: .* cannot be used with/],
      [['--tls-cert', certs.serverCert], /--tls-cert and --tls-key go together/],
      [['--users', users], /--users: .*users\[1\]\.token: required/],
      [['--tls-fingerprint', 'AB:CD'], /--tls-fingerprint: must be a SHA-256 fingerprint/],
    ];
    try {
      for (const [args, words] of cases) {
        const r = xcast(['start', 'xcast', '--port', '0', '--user-dir', path.join(dir, 'ud'), ...args]);
        assert.notEqual(await r.code, 0, r.output());
        assert.match(r.output(), words);
      }
      assert.ok(!fs.existsSync(path.join(dir, 'ud', 'flows.json')), 'nothing deployed');
    } finally {
      for (const d of [certs.dir, other.dir]) fs.rmSync(d, { recursive: true, force: true });
    }
  });

  it('--generate-credentials makes an admin password and a token once (0600 in the user dir) and starts', async () => {
    const dir = tmpDir();
    const ports = await freePortMap();
    const map = Object.entries(ports).map(([a, b]) => `${a}=${b}`).join(',');
    const r = xcast(['start', 'xcast', '--host', host.address, '--port', '0', '--user-dir', dir, '--port-map', map, '--generate-credentials', '--log-level', 'warn']);
    try {
      const url = await r.running;
      const m = /password (\S+)\n\s+streamproto1 token: (\S+)/.exec(r.output());
      assert.ok(m, r.output());
      const file = path.join(dir, 'xcast-credentials.json');
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), { adminPassword: m[1], token: m[2] });
      assert.equal((await fetch(`${url}/metrics`)).status, 401);
      assert.equal((await fetch(`${url}/metrics`, { headers: { Authorization: basic(m[1]) } })).status, 200);
      // The routes that read their own bodies (taken before the admin app's parsers) are guarded the same.
      const json = { 'Content-Type': 'application/json' };
      assert.equal((await fetch(`${url}/xcast/rtc/offer`, { method: 'POST', headers: json, body: '{' })).status, 401);
      assert.equal((await fetch(`${url}/xcast/mixer/control`, { method: 'POST', headers: json, body: '{' })).status, 401);
      assert.equal((await fetch(`${url}/xcast/mixer/state`)).status, 401);
      assert.equal((await fetch(`${url}/xcast/mixer/state?token=${m[2]}`)).status, 401);
      assert.equal((await fetch(`${url}/xcast/mixer/state?token=${m[2]}`, { headers: { Authorization: basic(m[1]) } })).status, 200);
    } finally {
      await r.stop();
    }
    // The second start uses them and does not print them again.
    const again = xcast(['start', 'xcast', '--host', host.address, '--port', '0', '--user-dir', dir, '--port-map', map, '--generate-credentials', '--log-level', 'warn']);
    try {
      await again.running;
      assert.match(again.output(), /using the credentials in/);
      assert.doesNotMatch(again.output(), /user admin, password|streamproto1 token:/);
      assert.match(again.output(), /warning: --host \S+ without --tls-cert: tokens and audio cross the network in clear/);
    } finally {
      await again.stop();
    }
  });

  it('--token-file on loopback: Node-RED reads the token from the credentials file the launcher wrote (0600, not in the flow), for streamproto1 and the browsers\' signaling', async () => {
    const dir = tmpDir();
    const ports = await freePortMap();
    const map = Object.entries(ports).map(([a, b]) => `${a}=${b}`).join(',');
    const tokenFile = path.join(tmpDir(), 'token');
    fs.writeFileSync(tokenFile, 'loop-token\n');
    const r = xcast(['start', 'xcast', '--port', '0', '--user-dir', dir, '--port-map', map, '--token-file', tokenFile, '--log-level', 'warn']);
    try {
      await r.running;
      // The socket nodes listen once the flow runs, a moment after the editor's URL is printed.
      assert.ok(await listens(ports[7010], '127.0.0.1'), `the ingest port listens:\n${r.output()}`);
      const attempt = (token: string) => new Promise<string>((resolve) => {
        const c = new StreamClient({ host: '127.0.0.1', port: ports[7010], hello: { userId: 'alice', role: 'peer', token }, reconnect: false });
        c.on('connect', () => { void c.close(); resolve('connected'); });
        c.on('connectError', (e: Error & { code?: string }) => { void c.close(); resolve(e.code ?? e.message); });
        c.start();
      });
      assert.equal(await attempt('loop-token'), 'connected');
      assert.equal(await attempt('guess'), 'unauthorized');
      // The browsers' signaling takes the same token: without it 401, with it the offer passes to the SDP check.
      const url = await r.running;
      const offer = (token?: string) => fetch(`${url}/xcast/rtc/offer`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ type: 'offer', sdp: 'v=0', room: 'main', userId: 'carol', publish: true, listen: true, ...(token ? { token } : {}) }),
      }).then(async (res) => `${res.status} ${((await res.json()) as { error: { code: string } }).error.code}`);
      assert.equal(await offer(), '401 unauthorized');
      assert.equal(await offer('guess'), '401 unauthorized');
      assert.equal(await offer('loop-token'), '400 bad_sdp');
      // A body that is not JSON is the contract's JSON bad_request (docs/webrtc.md), not the admin app's parser's HTML.
      const broken = await fetch(`${url}/xcast/rtc/offer?token=loop-token`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"type":' });
      assert.equal(broken.status, 400);
      assert.match(broken.headers.get('content-type') ?? '', /^application\/json/);
      assert.equal(((await broken.json()) as { error: { code: string } }).error.code, 'bad_request');
      assert.equal(fs.statSync(path.join(dir, 'flows_cred.json')).mode & 0o777, 0o600);
      assert.doesNotMatch(fs.readFileSync(path.join(dir, 'flows.json'), 'utf8'), /loop-token/);
      assert.doesNotMatch(fs.readFileSync(path.join(dir, 'flows_cred.json'), 'utf8'), /loop-token/);
    } finally {
      await r.stop();
    }
  });

  it('the peer and monitor presets reach a TLS xcast with --tls-ca or --tls-fingerprint, --token and --connect', async () => {
    const certs = makeTestCerts();
    const ports = await freePortMap();
    const map = Object.entries(ports).map(([a, b]) => `${a}=${b}`).join(',');
    const common = ['--port', '0', '--port-map', map, '--token', 'session-token', '--log-level', 'warn'];
    const hub = xcast(['start', 'xcast', '--user-dir', tmpDir(), '--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, ...common]);
    let peer: Run | undefined;
    let monitor: Run | undefined;
    try {
      await hub.running;
      peer = xcast(['start', 'peer', '--user-dir', tmpDir(), '--connect', 'localhost', '--tls-ca', certs.caCert, ...common]);
      monitor = xcast(['start', 'monitor', '--user-dir', tmpDir(), '--connect', '127.0.0.1', '--tls-fingerprint', certs.serverFingerprint, ...common]);
      const murl = await monitor.running;
      await peer.running;
      // The monitor's getMetrics holds the xcast's state, which came over its TLS connection: alice's audio arrived
      // over hers.
      const end = Date.now() + 20000;
      let received = 0;
      while (Date.now() < end && received === 0) {
        const r = await fetch(`${murl}/service/mixeradminclient?getMetrics`);
        if (r.ok) received = Number(((await r.json()) as { aggregatedStatesSnapshot?: { connections?: Record<string, { packetsReceived?: number }> } }).aggregatedStatesSnapshot?.connections?.alice?.packetsReceived ?? 0);
        if (received === 0) await new Promise((res) => setTimeout(res, 200));
      }
      assert.ok(received > 0, `no audio from alice reached the monitor's state:\n${hub.output()}\n${peer.output()}\n${monitor.output()}`);
    } finally {
      await Promise.all([hub.stop(), peer?.stop(), monitor?.stop()]);
      fs.rmSync(certs.dir, { recursive: true, force: true });
    }
  });

  it('the demo beyond loopback: its own peers and monitor follow the xcast to --host, over TLS with its token', async () => {
    const certs = makeTestCerts([host.address]);
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'pw'), 'demo password\n');
    const ports = await freePortMap();
    const map = Object.entries(ports).map(([a, b]) => `${a}=${b}`).join(',');
    const r = xcast(['start', 'demo', '--host', host.address, '--port', '0', '--user-dir', path.join(dir, 'ud'), '--port-map', map,
      '--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--token', 'demo-token', '--admin-password-file', path.join(dir, 'pw'), '--log-level', 'warn']);
    try {
      const url = await r.running;
      const end = Date.now() + 20000;
      let users: string[] = [];
      while (Date.now() < end && !(users.includes('alice') && users.includes('bob'))) {
        const m = await fetch(`${url}/service/mixeradminclient?getMetrics`, { headers: { Authorization: basic('demo password') } });
        if (m.ok) {
          const c = ((await m.json()) as { aggregatedStatesSnapshot?: { connections?: Record<string, { packetsReceived?: number }> } }).aggregatedStatesSnapshot?.connections ?? {};
          users = Object.keys(c).filter((u) => (c[u].packetsReceived ?? 0) > 0);
        }
        if (!(users.includes('alice') && users.includes('bob'))) await new Promise((res) => setTimeout(res, 200));
      }
      assert.deepEqual(users.filter((u) => u === 'alice' || u === 'bob').sort(), ['alice', 'bob'], r.output());
      assert.equal((await fetch(`${url}/service/mixeradminclient?getMetrics`)).status, 401);
      // `xcast metrics` asks with the password from the URL (or --admin-password-file), and says so when it has none.
      const lines: string[] = [];
      const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l), rounds: 1 };
      const withPw = url.replace('http://', 'http://admin:' + encodeURIComponent('demo password') + '@');
      assert.equal(await metricsCommand(['--url', withPw, '--json'], io), 0, lines.join('\n'));
      assert.ok(Object.keys(JSON.parse(lines[0]).aggregatedStatesSnapshot.connections).includes('alice'));
      lines.length = 0;
      assert.equal(await metricsCommand(['--url', url], io), 1);
      assert.match(lines.join('\n'), /HTTP 401: the xcast asks for a password/);
    } finally {
      await r.stop();
      fs.rmSync(certs.dir, { recursive: true, force: true });
    }
  });

  it('--https serves the editor and /metrics over TLS with the same certificate, so the password never crosses in clear', async () => {
    const certs = makeTestCerts();
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'pw'), 'https password\n');
    const ports = await freePortMap();
    const map = Object.entries(ports).map(([a, b]) => `${a}=${b}`).join(',');
    const r = xcast(['start', 'xcast', '--port', '0', '--user-dir', path.join(dir, 'ud'), '--port-map', map, '--https',
      '--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--token', 't', '--admin-password-file', path.join(dir, 'pw'), '--log-level', 'warn']);
    try {
      const url = await r.running;
      assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const ca = fs.readFileSync(certs.caCert);
      const get = (p: string, headers: Record<string, string> = {}) => new Promise<{ status: number; body: string }>((resolve, reject) => {
        https.get(`${url}${p}`, { ca, headers }, (res) => {
          let body = '';
          res.on('data', (d) => { body += d; });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        }).on('error', reject);
      });
      assert.equal((await get('/metrics')).status, 401);
      const ok = await get('/metrics', { Authorization: basic('https password') });
      assert.equal(ok.status, 200);
      assert.match(ok.body, /xcast_transport_limit_hits_total/);
      // Plain HTTP on that port gets no answer of the editor.
      const plain = await fetch(url.replace('https:', 'http:') + '/metrics').then((x) => x.status, (e: Error) => e.message);
      assert.notEqual(plain, 200);
    } finally {
      await r.stop();
      fs.rmSync(certs.dir, { recursive: true, force: true });
    }
  });

  describe('with --tls-cert, --tls-key, --users and --admin-password-file', () => {
    let certs: TestCerts;
    let dir: string;
    let run: Run;
    let url: string;
    let ports: Record<number, number>;
    const password = 'correct horse battery staple';

    before(async () => {
      certs = makeTestCerts([host.address]);
      dir = tmpDir();
      fs.writeFileSync(path.join(dir, 'users.json'), JSON.stringify([
        { userId: 'alice', token: 'alice-token', roles: ['peer'] },
        { userId: 'monitor-9', token: 'monitor-token', roles: ['monitor'] },
      ]));
      fs.writeFileSync(path.join(dir, 'admin-password'), `${password}\n`);
      ports = await freePortMap();
      const map = Object.entries(ports).map(([a, b]) => `${a}=${b}`).join(',');
      run = xcast(['start', 'xcast', '--host', host.address, '--port', '0', '--user-dir', path.join(dir, 'ud'), '--port-map', map,
        '--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--users', path.join(dir, 'users.json'),
        '--admin-password-file', path.join(dir, 'admin-password'), '--log-level', 'warn']);
      url = await run.running;
      // The socket nodes listen once the flow runs, a moment after the URL is printed.
      for (const p of [ports[7010], ports[7011]]) assert.ok(await listens(p, host.address), `port ${p} listens:\n${run.output()}`);
    });
    after(async () => {
      await run?.stop();
      fs.rmSync(certs.dir, { recursive: true, force: true });
    });

    const client = (port: number, userId: string, role: 'peer' | 'monitor', token: string | undefined, tls: ConstructorParameters<typeof StreamClient>[0]['tls']) =>
      new StreamClient({ host: host.address, port, hello: { userId, role, token }, reconnect: false, tls });
    const connect = (c: StreamClient) => new Promise<StreamConnection>((resolve, reject) => {
      c.on('connect', resolve);
      c.on('connectError', reject);
      c.start();
    });

    it('a TLS client with the right token streams and a monitor with its token gets the mix', async () => {
      const ca = fs.readFileSync(certs.caCert);
      const alice = client(ports[7010], 'alice', 'peer', 'alice-token', { ca });
      const monitor = client(ports[7011], 'monitor-9', 'monitor', 'monitor-token', { ca });
      const a = await connect(alice);
      const m = await connect(monitor);
      assert.equal(a.secure, true);
      let mixFrames = 0;
      m.on('audio', () => { mixFrames++; });
      const tone = Buffer.alloc(480 * 2 * 2);
      for (let i = 0; i < 480 * 2; i++) tone.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 2 / 48000)), i * 2);
      let seq = 0;
      const timer = setInterval(() => {
        a.sendAudio({ trackId: 1, seq: seq++, captureTime: 0, sampleRate: 48000, channels: 2, codec: Codec.PCM_S16LE, frameSamples: 480 }, tone);
      }, 10);
      try {
        assert.ok(await until(() => mixFrames >= 20, 20000), `the monitor got ${mixFrames} mix frames`);
      } finally {
        clearInterval(timer);
        await alice.close();
        await monitor.close();
      }
    });

    it('refuses a wrong token, a client that does not trust the certificate, and plain TCP, with clear messages and nothing of the session', async () => {
      const ca = fs.readFileSync(certs.caCert);
      const received: string[] = [];
      const refusal = async (c: StreamClient): Promise<Error & { code?: string }> => {
        c.on('connect', (conn) => { received.push('connected'); conn.on('audio', () => received.push('audio')); conn.on('metadata', () => received.push('metadata')); });
        try {
          await connect(c);
          throw new Error('connected');
        } catch (e) {
          return e as Error & { code?: string };
        } finally {
          await c.close();
        }
      };
      const wrong = await refusal(client(ports[7011], 'monitor-9', 'monitor', 'alice-token', { ca }));
      assert.equal(wrong.code, 'unauthorized', wrong.message);
      const untrusted = await refusal(client(ports[7011], 'monitor-9', 'monitor', 'monitor-token', {}));
      assert.match(untrusted.message, /certificate/i);
      const otherCa = makeTestCerts();
      try {
        const wrongCa = await refusal(client(ports[7011], 'monitor-9', 'monitor', 'monitor-token', { ca: fs.readFileSync(otherCa.caCert) }));
        assert.match(wrongCa.message, /certificate/i);
      } finally {
        fs.rmSync(otherCa.dir, { recursive: true, force: true });
      }
      assert.deepEqual(received, [], 'no refused client got anything of the session');

      const bytes = await new Promise<Buffer>((resolve) => {
        const got: Buffer[] = [];
        const s = net.connect(ports[7011], host.address, () => s.write(encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId: 'monitor-9', role: 'monitor', token: 'monitor-token' })));
        s.on('data', (d) => got.push(d));
        s.on('error', () => undefined);
        s.on('close', () => resolve(Buffer.concat(got)));
      });
      assert.ok(!(bytes[0] === MAGIC_0 && bytes[1] === MAGIC_1), 'no streamproto1 frame to a plain TCP client');
      assert.doesNotMatch(bytes.toString('latin1'), /mixeradmin|streamproto1/);

      // The refusals are counted where an operator looks.
      const text = await (await fetch(`${url}/metrics`, { headers: { Authorization: basic(password) } })).text();
      const hits = (limit: string) => Number(new RegExp(`^xcast_transport_limit_hits_total\\{limit="${limit}"\\} (\\d+)`, 'm').exec(text)?.[1]);
      assert.ok(hits('unauthorized') >= 1, text);
      assert.ok(hits('tls_handshake') >= 1, text);
    });

    it('the editor API and /metrics answer 401 without the password and 200 with it', async () => {
      assert.equal((await fetch(`${url}/metrics`)).status, 401);
      // A wrong password: 401, or 429 when the process's password budget (2 hashes a second) is spent.
      assert.match(String((await fetch(`${url}/metrics`, { headers: { Authorization: basic('wrong') } })).status), /^(401|429)$/);
      const ok = await fetch(`${url}/metrics`, { headers: { Authorization: basic(password) } });
      assert.equal(ok.status, 200);
      // The xcast preset has no mixeradmin client: /metrics answers with the transport's counters alone.
      const text = await ok.text();
      assert.match(text, /^# TYPE xcast_transport_limit_hits_total counter$/m);
      assert.match(text, /^xcast_transport_limit_hits_total\{limit="metadata_rate"\} 0$/m);
      assert.doesNotMatch(text, /xcast_packets_received_total|xcast_incoming_audio_tracks/);
      assert.equal((await fetch(`${url}/flows`)).status, 401);
      // The editor logs in as Node-RED's adminAuth says: a token for the password, then the admin API.
      const login = await fetch(`${url}/auth/token`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: 'node-red-editor', grant_type: 'password', scope: '*', username: 'admin', password }),
      });
      assert.equal(login.status, 200);
      const { access_token: token } = (await login.json()) as { access_token: string };
      const flows = await fetch(`${url}/flows`, { headers: { Authorization: `Bearer ${token}` } });
      assert.equal(flows.status, 200);
      const bad = await fetch(`${url}/auth/token`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: 'node-red-editor', grant_type: 'password', scope: '*', username: 'admin', password: 'nope' }),
      });
      assert.ok([401, 403, 429].includes(bad.status), `a wrong password: ${bad.status}`);
      // The deployed flow holds the TLS configuration, no secret.
      const nodes = (await flows.json()) as Array<Record<string, unknown>>;
      const tls = nodes.find((n) => n.type === 'tls-config');
      assert.ok(tls, 'a tls-config node was deployed');
      const reader = nodes.find((n) => n.type === 'xcast-socket-reader')!;
      assert.equal(reader.tls, tls.id);
      assert.equal(reader.host, host.address);
      assert.doesNotMatch(JSON.stringify(nodes), /alice-token|monitor-token|correct horse/);
    });

    it('a websocket upgrade on its server wants the password too, except the editor\'s own comms', async () => {
      const ws = url.replace(/^http/, 'ws');
      assert.equal(await upgradeStatus(`${ws}/any/websocket`), 401);
      assert.match(String(await upgradeStatus(`${ws}/any/websocket`, { Authorization: basic('wrong') })), /^(401|429)$/);
      // The editor's comms: Node-RED checks adminAuth's token inside the websocket itself.
      assert.equal(await upgradeStatus(`${ws}/comms`), 101);
    });

    it('xcast deploy to it needs the admin password, and logs in with it (last: it replaces the flow)', async () => {
      const free = await freePortMap();
      const map = Object.entries(free).map(([a, b]) => `${a}=${b}`).join(',');
      const no = xcast(['deploy', 'peer', '--url', url, '--port-map', map]);
      assert.notEqual(await no.code, 0);
      assert.match(no.output(), /wants its admin password \(adminAuth\): give --admin-password-file FILE or XCAST_ADMIN_PASSWORD/);
      const wrong = xcast(['deploy', 'peer', '--url', url, '--port-map', map], { XCAST_ADMIN_PASSWORD: 'nope' });
      assert.notEqual(await wrong.code, 0);
      assert.match(wrong.output(), /refused the admin login for admin/);
      const yes = xcast(['deploy', 'peer', '--url', url, '--port-map', map, '--admin-password-file', path.join(dir, 'admin-password')]);
      assert.equal(await yes.code, 0, yes.output());
      assert.match(yes.output(), /deployed peer/);
    });
  });
});

describe('trust settings in the socket nodes\' edit dialogs (Chromium)', function () {
  this.timeout(120000);

  it("offers Node-RED's TLS configurations, the users list and the limits with their defaults (server), the pinned certificate (client)", async () => {
    const chromiumPath = process.env.XCAST_CHROMIUM ?? '/usr/bin/chromium';
    assert.ok(fs.existsSync(chromiumPath), `${chromiumPath} is missing: apt-get install -y chromium, or set XCAST_CHROMIUM`);
    const x = await startXcast({ flows: ['xcast', 'peer'], portMap: await freePortMap() });
    const profile = tmpDir('xcast-chromium-');
    const context = await chromium.launchPersistentContext(profile, { executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
    try {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`${x.url}/`);
      await page.waitForSelector('.red-ui-flow-node', { timeout: 20000 });
      const dialog = async (type: string, mode: string) => {
        await page.evaluate(([t, m]) => {
          const w = window as unknown as { RED: { nodes: { eachNode(f: (n: { type: string; mode?: string }) => boolean | void): void }; editor: { edit(n: unknown): void } } };
          let found: unknown;
          w.RED.nodes.eachNode((n) => { if (n.type === t && n.mode === m) { found = n; return false; } });
          w.RED.editor.edit(found);
        }, [type, mode]);
        await page.waitForSelector('#dialog-form label', { timeout: 20000 });
        const seen = await page.evaluate(() => {
          const $ = (window as unknown as { $: (s: string) => { is(s: string): boolean; prop(p: string): string; attr(a: string): string } }).$;
          const visible = (id: string) => $(`#node-input-${id}`).is(':visible');
          return {
            tls: $('#node-input-tls').prop('tagName'), fingerprint: visible('fingerprint'), requireClientCert: visible('requireClientCert'),
            usersFile: visible('usersFile'), users: $('#node-input-users').attr('type'), limitsRow: $('#node-xcast-limits').is(':visible'),
            maxConnections: $('#node-input-maxConnections').attr('placeholder'), helloTimeoutMs: $('#node-input-helloTimeoutMs').attr('placeholder'),
          };
        });
        await page.evaluate(() => (window as unknown as { RED: { tray: { close(): void } } }).RED.tray.close());
        await page.waitForSelector('#dialog-form', { state: 'detached', timeout: 20000 });
        return seen;
      };
      // The xcast's ingest reader is a server; the peer's writer a client.
      assert.deepEqual(await dialog('xcast-socket-reader', 'server'), {
        tls: 'SELECT', fingerprint: false, requireClientCert: true, usersFile: true, users: 'password', limitsRow: true, maxConnections: '1024', helloTimeoutMs: '5000',
      });
      const writer = await dialog('xcast-socket-writer', 'client');
      assert.equal(writer.tls, 'SELECT');
      assert.equal(writer.fingerprint, true);
      assert.equal(writer.usersFile, false);
      assert.equal(writer.limitsRow, false);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
      await x.stop();
    }
  });
});

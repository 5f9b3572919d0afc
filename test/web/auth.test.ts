// The web side's credentials (runtime/web/auth.ts): a real websocket upgrade on a real HTTP server is refused 401
// without httpNodeAuth's credentials or a bearer token, and accepted with them; the HTTP middleware does the same.
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { basicAuthMiddleware, checkUpgradeAuth, guardUpgrades, hashPassword, refuseUpgrade, PasswordBudget, type UpgradeAuthSettings } from '../../runtime/web/auth';

// Node-RED's own WebSocket library (ws, a dependency of its editor API).
// eslint-disable-next-line @typescript-eslint/no-var-requires
const WebSocket = require(require.resolve('ws', { paths: [path.dirname(require.resolve('@node-red/editor-api'))] }));

/** A budget no test but the budget's own spends (the process's allows 6 hashes at once, then 2 a second). */
const plenty = new PasswordBudget(1e6, 1e6);

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

/** A websocket server that checks each upgrade with checkUpgradeAuth, as a signalling or console server would. */
async function wsServer(settings: UpgradeAuthSettings): Promise<{ port: number; accepted: string[]; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => { res.writeHead(404); res.end(); });
  const wss = new WebSocket.Server({ noServer: true });
  const accepted: string[] = [];
  server.on('upgrade', (req: http.IncomingMessage, socket, head) => {
    void checkUpgradeAuth(req, settings, plenty).then((r) => {
      if (!r.ok) { refuseUpgrade(socket, r); return; }
      wss.handleUpgrade(req, socket, head, (ws: { send(s: string): void; close(): void }) => {
        accepted.push(r.user ?? r.via);
        ws.send('welcome');
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    accepted,
    async close() {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Opens a websocket; resolves with its first message, or with the HTTP status the upgrade was refused with. */
function tryWs(url: string, headers: Record<string, string> = {}): Promise<{ message?: string; status?: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('message', (d: Buffer) => { ws.close(); resolve({ message: String(d) }); });
    ws.on('unexpected-response', (_req: unknown, res: http.IncomingMessage) => { res.resume(); resolve({ status: res.statusCode }); });
    ws.on('error', (e: Error) => { if (!/Unexpected server response/.test(e.message)) reject(e); });
  });
}

describe('web auth (runtime/web/auth.ts)', function () {
  this.timeout(20000);
  const hash = hashPassword('s3cret pass', 4);

  it('refuses an unauthenticated websocket upgrade with 401 and accepts Basic credentials or a bearer token', async () => {
    const s = await wsServer({ httpNodeAuth: { user: 'admin', pass: hash }, bearerTokens: ['tok-123'] });
    try {
      const url = `ws://127.0.0.1:${s.port}/signal`;
      assert.deepEqual(await tryWs(url), { status: 401 });
      assert.deepEqual(await tryWs(url, { Authorization: basic('admin', 'wrong') }), { status: 401 });
      assert.deepEqual(await tryWs(url, { Authorization: basic('root', 's3cret pass') }), { status: 401 });
      assert.deepEqual(await tryWs(url, { Authorization: 'Bearer tok-1234' }), { status: 401 });
      assert.deepEqual(s.accepted, [], 'no refused upgrade reached the websocket server');
      assert.deepEqual(await tryWs(url, { Authorization: basic('admin', 's3cret pass') }), { message: 'welcome' });
      assert.deepEqual(await tryWs(url, { Authorization: 'Bearer tok-123' }), { message: 'welcome' });
      // A browser's WebSocket cannot set a header: the token may ride in the query.
      assert.deepEqual(await tryWs(`${url}?access_token=tok-123`), { message: 'welcome' });
      assert.deepEqual(s.accepted, ['admin', 'bearer', 'bearer']);
    } finally {
      await s.close();
    }
  });

  it('with no credentials configured lets every upgrade through (Node-RED without httpNodeAuth)', async () => {
    const s = await wsServer({});
    try {
      assert.deepEqual(await tryWs(`ws://127.0.0.1:${s.port}/`), { message: 'welcome' });
    } finally {
      await s.close();
    }
  });

  it('guardUpgrades checks every upgrade before the listeners, except the exempt paths', async () => {
    const server = http.createServer();
    const wss = new WebSocket.Server({ server });
    const reached: string[] = [];
    wss.on('connection', (ws: { send(s: string): void }, req: http.IncomingMessage) => { reached.push(req.url ?? ''); ws.send('hi'); });
    guardUpgrades(server, { httpNodeAuth: { user: 'admin', pass: hash } }, (p) => p === '/comms', plenty);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as AddressInfo).port;
    try {
      assert.deepEqual(await tryWs(`ws://127.0.0.1:${port}/ws/console`), { status: 401 });
      assert.deepEqual(reached, []);
      assert.deepEqual(await tryWs(`ws://127.0.0.1:${port}/ws/console`, { Authorization: basic('admin', 's3cret pass') }), { message: 'hi' });
      assert.deepEqual(await tryWs(`ws://127.0.0.1:${port}/comms`), { message: 'hi' });
      assert.deepEqual(reached, ['/ws/console', '/comms']);
    } finally {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('the HTTP middleware answers 401 with WWW-Authenticate, and passes good credentials and OPTIONS', async () => {
    const mw = basicAuthMiddleware({ user: 'admin', pass: hash }, [], plenty);
    const server = http.createServer((req, res) => mw(req, res, () => { res.writeHead(200); res.end('ok'); }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const no = await fetch(`${base}/metrics`);
      assert.equal(no.status, 401);
      assert.match(no.headers.get('www-authenticate') ?? '', /^Basic /);
      assert.equal((await fetch(`${base}/metrics`, { headers: { Authorization: basic('admin', 'nope') } })).status, 401);
      assert.equal((await fetch(`${base}/metrics`, { headers: { Authorization: basic('admin', 's3cret pass') } })).status, 200);
      assert.equal((await fetch(`${base}/metrics`, { method: 'OPTIONS' })).status, 200);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('checks bcrypt hashes (what Node-RED compares httpNodeAuth with): the password in two salted hashes, and a near miss', async () => {
    const req = (auth: string) => ({ headers: { authorization: auth }, url: '/' }) as unknown as http.IncomingMessage;
    const other = hashPassword('s3cret pass', 4);
    assert.notEqual(other, hash, 'salted');
    assert.ok(/^\$2[aby]\$04\$/.test(hash), hash);
    for (const h of [hash, other]) {
      assert.equal((await checkUpgradeAuth(req(basic('admin', 's3cret pass')), { httpNodeAuth: { user: 'admin', pass: h } }, plenty)).ok, true);
      assert.equal((await checkUpgradeAuth(req(basic('admin', 's3cret pasS')), { httpNodeAuth: { user: 'admin', pass: h } }, plenty)).ok, false);
    }
  });

  it('hashes at most its budget of passwords a second: guesses beyond it get 429 at once, a password already accepted still passes', async () => {
    let now = 0;
    const budget = new PasswordBudget(2, 4, () => now);
    const creds = { user: 'admin', pass: hashPassword('right', 4) };
    const mw = basicAuthMiddleware(creds, [], budget);
    const server = http.createServer((req, res) => mw(req, res, () => { res.writeHead(200); res.end('ok'); }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const get = async (pass: string) => {
      const r = await fetch(`${base}/metrics`, { headers: { Authorization: basic('admin', pass) } });
      return { status: r.status, retryAfter: r.headers.get('retry-after') };
    };
    try {
      assert.equal((await get('right')).status, 200, 'one hash: accepted, remembered');
      const guesses = [];
      for (let i = 0; i < 6; i++) guesses.push((await get(`guess${i}`)).status);
      assert.deepEqual(guesses, [401, 401, 401, 429, 429, 429], 'the burst of 4 spent (1 on the right password), then 429 without hashing');
      assert.deepEqual(await get('guess9'), { status: 429, retryAfter: '1' });
      assert.equal((await get('right')).status, 200, 'the accepted password passes without the budget');
      now += 1000;
      assert.deepEqual([(await get('a')).status, (await get('b')).status, (await get('c')).status], [401, 401, 429], 'two a second again');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('compares in a thread of its own: guesses at a password do not hold the event loop', async () => {
    const { monitorEventLoopDelay } = await import('node:perf_hooks');
    const costly = hashPassword('right', 10);
    const h = monitorEventLoopDelay({ resolution: 5 });
    const req = { headers: { authorization: basic('admin', 'guess') }, url: '/' } as unknown as http.IncomingMessage;
    const started = Date.now();
    h.enable();
    const results = await Promise.all(Array.from({ length: 4 }, () => checkUpgradeAuth(req, { httpNodeAuth: { user: 'admin', pass: costly } }, plenty)));
    h.disable();
    const took = Date.now() - started;
    assert.ok(results.every((r) => !r.ok && r.status === 401));
    // Four cost-10 compares take a few hundred ms of a core; the loop meanwhile keeps answering within a tick or two.
    console.log(`      4 bcrypt compares: ${took} ms; event loop delay max ${(h.max / 1e6).toFixed(1)} ms`);
    assert.ok(h.max / 1e6 < took / 2, `the event loop was held ${(h.max / 1e6).toFixed(0)} ms of ${took} ms`);
  });
});

// Browser test of the QoS dashboard (runtime/web/qos) in Debian's chromium, against a fake getMetrics server.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const WEB = path.join(ROOT, 'runtime', 'web', 'qos');
const CHROMIUM = process.env.XCAST_CHROMIUM ?? '/usr/bin/chromium';
const METRICS_PATH = '/service/mixeradminclient?getMetrics';
const WAIT = { timeout: 15_000 };

type Mode = 'ok' | '503' | 'destroy' | 'notjson';

/** One connection entry with every metrics.md field plus the extras the aggregator adds. */
function conn(over: Record<string, unknown> = {}): Record<string, any> {
  return {
    remote: '127.0.0.1:51234', role: 'peer', connectedAt: 1763739990000, isIncomingAudioTrackConnected: true,
    packetsReceived: 6000, packetsLost: 3, packetsLate: 1, packetsDuplicate: 0, packetsOutOfOrder: 2,
    concealedSamples: 1440, jitterMs: 0.8, latencyMs: 12.4, rttMs: 1.9, bufferDepthSamples: 960, bitrateKbps: 64.2,
    lastSeq: 5999, lastQOS: { head: { trackId: 1, seq: 5999 }, qosTimestamp: 1763740000120000 },
    connected: true, disconnectedAt: null, clockOffsetMs: 0.3, protocolErrors: 0,
    downstream: {
      trackId: 1, reportsReceived: 5990, packetsLost: 10, packetsDuplicate: 0, packetsOutOfOrder: 0, jitterMs: 1.2,
      latencyMs: 12.4, loopMs: 13.1, bufferDepthSamples: 1920, misses: 0, bitrateKbps: 96, lastQosAt: 1763740000110,
    },
    ...over,
  };
}

function answer(at = 1763740000123): any {
  return {
    aggregatedStatesSnapshot: {
      at,
      currentSpeakerBufferDepthInFloat32Samples: 1920,
      currentSpeakerSampleRate: 48000,
      speakerScriptProcessorLatencyMS: 42.5,
      speakerScriptProcessorIncomingBufferMisses: 7,
      speakerSilenceDetected: false,
      incomingAudioTracks: [{ userId: 'alice', trackId: 1, connected: true }, { userId: 'bob', trackId: 1, connected: true }],
      outgoingAudioTracks: [{ userId: 'monitor-1', trackId: 1 }],
      connections: {
        alice: conn(),
        bob: conn({ remote: '127.0.0.1:51300', jitterMs: 3.25, latencyMs: 20.05, packetsLost: 0, bitrateKbps: 63.9 }),
        'monitor-1': conn({
          remote: '127.0.0.1:40000', role: 'monitor', isIncomingAudioTrackConnected: false, packetsReceived: 0,
          packetsLost: 0, packetsLate: 0, packetsOutOfOrder: 0, concealedSamples: 0, jitterMs: 0, bufferDepthSamples: 0,
          bitrateKbps: 0, lastSeq: null,
        }),
      },
      sharedStateAt: at - 200,
      refused: { frames: 2, byCode: { bad_magic: 2 }, qos: 0 },
    },
  };
}

/** A tiny server: the dashboard's files under /qos/ and a scriptable getMetrics. */
class FakeServer {
  mode: Mode = 'ok';
  body: () => unknown = () => answer();
  requests: string[] = [];
  private server = http.createServer((req, res) => this.handle(req, res));
  base = '';

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as { port: number };
    this.base = `http://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    if (!this.server.listening) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '/';
    this.requests.push(url);
    const file = url.split('?')[0];
    const statics: Record<string, [string, string]> = {
      '/qos/': ['index.html', 'text/html; charset=utf-8'],
      '/qos/index.html': ['index.html', 'text/html; charset=utf-8'],
      '/qos/qos.js': ['qos.js', 'text/javascript; charset=utf-8'],
      '/qos/qos.css': ['qos.css', 'text/css; charset=utf-8'],
    };
    if (statics[file]) {
      const [name, type] = statics[file];
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(fs.readFileSync(path.join(WEB, name)));
      return;
    }
    if (url === METRICS_PATH || file === '/custom/metrics') {
      if (this.mode === 'destroy') { req.socket.destroy(); return; }
      if (this.mode === '503') { res.writeHead(503, { 'content-type': 'text/plain' }); res.end('down'); return; }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(this.mode === 'notjson' ? '<html>' : JSON.stringify(this.body()));
      return;
    }
    res.writeHead(404);
    res.end();
  }
}

describe('QoS dashboard (chromium)', function () {
  this.timeout(60_000);
  let context: BrowserContext;
  let userDataDir: string;
  let server: FakeServer;
  let page: Page;

  before(async () => {
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium) or set XCAST_CHROMIUM`);
    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-qos-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
      viewport: { width: 1500, height: 1000 },
    });
  });

  after(async () => {
    await context?.close();
    if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    server = new FakeServer();
    await server.start();
    page = await context.newPage();
  });

  afterEach(async () => {
    await page?.close();
    await server?.stop();
  });

  const field = (user: string, f: string) => page.locator(`#rows [data-user="${user}"] [data-field="${f}"]`);

  async function waitForRow(user: string): Promise<void> {
    await page.waitForSelector(`#rows [data-user="${user}"]`, WAIT);
  }

  it('fetches ../service/mixeradminclient?getMetrics relative to /qos/ and shows the values it got', async () => {
    await page.goto(`${server.base}/qos/?interval=200`);
    await waitForRow('alice');
    assert.ok(server.requests.includes(METRICS_PATH), `requests: ${server.requests.join(', ')}`);
    const a = answer().aggregatedStatesSnapshot;
    for (const user of ['alice', 'bob']) {
      const c = a.connections[user];
      for (const f of ['latencyMs', 'rttMs', 'jitterMs', 'packetsLost', 'packetsLate', 'bufferDepthSamples', 'bitrateKbps']) {
        assert.equal(await field(user, f).getAttribute('data-value'), JSON.stringify(c[f]), `${user}.${f}`);
      }
      assert.equal(await field(user, 'remote').textContent(), c.remote);
      assert.equal(await field(user, 'downstream.jitterMs').getAttribute('data-value'), JSON.stringify(c.downstream.jitterMs));
      assert.equal(await field(user, 'downstream.bufferDepthSamples').getAttribute('data-value'), JSON.stringify(c.downstream.bufferDepthSamples));
    }
    // what a person reads
    assert.equal(await field('alice', 'latencyMs').textContent(), '12.4');
    assert.equal(await field('bob', 'latencyMs').textContent(), '20.1');
    assert.equal(await field('bob', 'jitterMs').textContent(), '3.3');
    assert.equal(await field('alice', 'bitrateKbps').textContent(), '64.2');
    assert.equal(await field('alice', 'lossPercent').textContent(), (3 / 6003 * 100).toFixed(2));
    assert.equal(await field('alice', 'downstream.lossPercent').textContent(), (10 / 6000 * 100).toFixed(2));
    assert.equal(await field('monitor-1', 'rttMs').textContent(), '1.9');
    const sp = (f: string) => page.locator(`#speaker [data-field="${f}"]`);
    assert.equal(await sp('currentSpeakerBufferDepthInFloat32Samples').getAttribute('data-value'), '1920');
    assert.equal(await sp('currentSpeakerSampleRate').getAttribute('data-value'), '48000');
    assert.equal(await sp('speakerScriptProcessorLatencyMS').textContent(), '42.5 ms');
    assert.equal(await sp('speakerScriptProcessorIncomingBufferMisses').textContent(), '7');
    assert.equal(await sp('speakerSilenceDetected').textContent(), 'no');
    assert.match((await page.locator('#updated').textContent()) ?? '', /^updated \d\d:\d\d:\d\d$/);
    assert.equal(await page.locator('#error').isHidden(), true);
    assert.equal(await page.locator('#outgoing li[data-user="monitor-1"]').count(), 1);
    assert.equal(await page.locator('#rows tr').count(), 3);
    assert.equal(await page.locator('#charts .chart-user').count(), 3);
    // a receive-only monitor with an open connection is fine without incoming audio
    assert.equal(await field('monitor-1', 'status').getAttribute('data-status'), 'ok');
    assert.ok((await page.locator('#thresholds').textContent())!.includes('150 ms'));
  });

  it('turns a user red when it disconnects and yellow when its jitter passes the threshold', async () => {
    await page.goto(`${server.base}/qos/?interval=200`);
    await waitForRow('alice');
    assert.equal(await field('alice', 'status').getAttribute('data-status'), 'ok');
    const green = await page.locator('#rows [data-user="alice"] .light').evaluate((e) => getComputedStyle(e).backgroundColor);
    assert.equal(green, 'rgb(26, 158, 63)');
    server.body = () => {
      const a = answer();
      a.aggregatedStatesSnapshot.connections.alice.connected = false;
      a.aggregatedStatesSnapshot.connections.alice.isIncomingAudioTrackConnected = false;
      a.aggregatedStatesSnapshot.connections.bob.jitterMs = 35;
      return a;
    };
    await page.waitForSelector('#rows [data-user="alice"][data-status="down"]', WAIT);
    const red = await page.locator('#rows [data-user="alice"] .light').evaluate((e) => getComputedStyle(e).backgroundColor);
    assert.equal(red, 'rgb(214, 40, 40)');
    assert.match((await field('alice', 'status').textContent()) ?? '', /disconnected/);
    await page.waitForSelector('#rows [data-user="bob"][data-status="degraded"]', WAIT);
    assert.match((await field('bob', 'status').textContent()) ?? '', /jitter 35\.0 ms/);
    // a peer whose socket is open but whose audio stopped is red too
    server.body = () => {
      const a = answer();
      a.aggregatedStatesSnapshot.connections.bob.isIncomingAudioTrackConnected = false;
      return a;
    };
    await page.waitForSelector('#rows [data-user="bob"][data-status="down"]', WAIT);
    assert.match((await field('bob', 'status').textContent()) ?? '', /no incoming audio/);
  });

  it('says "getMetrics unreachable: <reason>" when a fetch fails, and recovers', async () => {
    await page.goto(`${server.base}/qos/?interval=200`);
    await waitForRow('alice');
    server.mode = '503';
    await page.waitForSelector('#error:not([hidden])', WAIT);
    assert.equal(await page.locator('#error').textContent(), 'getMetrics unreachable: HTTP 503 Service Unavailable');
    assert.equal(await page.locator('#rows [data-user="alice"]').getAttribute('class'), 'stale', 'old values stay, marked stale');
    server.mode = 'destroy';
    await page.waitForFunction(() => !document.getElementById('error')!.textContent!.includes('503'), undefined, WAIT);
    assert.match((await page.locator('#error').textContent()) ?? '', /^getMetrics unreachable: \S/);
    server.mode = 'notjson';
    await page.waitForFunction(() => document.getElementById('error')!.textContent!.includes('not JSON'), undefined, WAIT);
    server.mode = 'ok';
    await page.waitForSelector('#error[hidden]', { ...WAIT, state: 'attached' });
    assert.equal(await page.locator('#rows [data-user="alice"]').getAttribute('class'), '');
  });

  it('says unreachable with the browser\'s reason when the server is gone, and HTTP 404 for a wrong path', async () => {
    await page.goto(`${server.base}/qos/?interval=200`);
    await waitForRow('alice');
    await server.stop(); // connection refused from now on
    await page.waitForSelector('#error:not([hidden])', WAIT);
    assert.equal(await page.locator('#error').textContent(), 'getMetrics unreachable: Failed to fetch');
    assert.equal(await page.locator('#rows [data-user="alice"] [data-field="latencyMs"]').textContent(), '12.4', 'last values stay');
    server = new FakeServer();
    await server.start();
    await page.goto(`${server.base}/qos/?interval=200&src=/nothing/here`);
    await page.waitForSelector('#error:not([hidden])', WAIT);
    assert.equal(await page.locator('#error').textContent(), 'getMetrics unreachable: HTTP 404 Not Found');
    assert.equal(await page.locator('#rows tr').count(), 0);
  });

  it('reads the URL given by ?src= and refuses one on another origin', async () => {
    await page.goto(`${server.base}/qos/?interval=200&src=/custom/metrics`);
    await waitForRow('bob');
    assert.ok(server.requests.includes('/custom/metrics'));
    assert.ok(!server.requests.includes(METRICS_PATH));
    await page.goto(`${server.base}/qos/?src=http://example.invalid/metrics`);
    await page.waitForSelector('#error:not([hidden])', WAIT);
    assert.match((await page.locator('#error').textContent()) ?? '', /not on this page's origin/);
  });

  it('draws 5-minute charts and drops a user that left; saves a screenshot', async () => {
    // each poll advances the snapshot clock by 5 s, so a few seconds of polling fill the 5-minute charts
    let n = 0;
    server.body = () => {
      n++;
      const a = answer(1763740000000 + n * 5000);
      const c = a.aggregatedStatesSnapshot.connections;
      c.alice.latencyMs = 12 + 4 * Math.sin(n / 6);
      c.alice.jitterMs = 0.8 + 0.5 * Math.abs(Math.sin(n / 4));
      c.alice.bufferDepthSamples = 960 + 480 * Math.round(Math.abs(Math.sin(n / 9)) * 2);
      c.bob.latencyMs = 20 + 8 * Math.abs(Math.sin(n / 11));
      c.bob.jitterMs = n > 40 ? 24 + Math.sin(n) * 3 : 4 + Math.sin(n / 3) * 2;
      c.bob.downstream.jitterMs = 2 + Math.abs(Math.sin(n / 5));
      if (n > 64) { c.alice.connected = false; c.alice.isIncomingAudioTrackConnected = false; }
      return a;
    };
    await page.goto(`${server.base}/qos/?interval=100`);
    await page.waitForFunction(() => {
      const p = document.querySelector('#charts [data-user="bob"] [data-chart="latency"] polyline.a');
      return !!p && p.getAttribute('points')!.split(' ').length >= 60;
    }, undefined, { timeout: 30_000 });
    const pts = await page.locator('#charts [data-user="alice"] [data-chart="jitter"] polyline.a').getAttribute('points');
    const xs = pts!.split(' ').map((p) => Number(p.split(',')[0]));
    assert.ok(xs.every((x, i) => i === 0 || x >= xs[i - 1]), 'time runs left to right');
    assert.equal(xs[xs.length - 1], 300, 'the newest sample sits at the right edge');
    await page.waitForSelector('#rows [data-user="alice"][data-status="down"]', WAIT);
    await page.waitForSelector('#rows [data-user="bob"][data-status="degraded"]', WAIT);
    const out = path.join(ROOT, 'test', 'output');
    fs.mkdirSync(out, { recursive: true });
    await page.screenshot({ path: path.join(out, 'qos-dashboard.png'), fullPage: true });
    assert.ok(fs.statSync(path.join(out, 'qos-dashboard.png')).size > 10_000);
    server.body = () => {
      const a = answer();
      delete a.aggregatedStatesSnapshot.connections.bob;
      return a;
    };
    await page.waitForFunction(() => !document.querySelector('#rows [data-user="bob"]'), undefined, WAIT);
    assert.equal(await page.locator('#charts [data-user="bob"]').count(), 0);
  });
});

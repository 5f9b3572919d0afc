// The QoS dashboard in headless Chromium against a real monitor's getMetrics, fed by the real QoS loop.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startXcast, freePortMap, tmpDir, XcastProcess } from '../support/xcast-process';
import { PACKAGE_ROOT } from '../../runtime/launcher';

const CHROMIUM = process.env.XCAST_CHROMIUM ?? '/usr/bin/chromium';
const WAIT = { timeout: 20_000 };

describe('QoS dashboard on a live monitor (Chromium)', function () {
  this.timeout(120000);
  let hub: XcastProcess, peer: XcastProcess | undefined;
  let context: BrowserContext, page: Page, userDataDir: string;
  const answers: Array<{ aggregatedStatesSnapshot: Record<string, any> }> = [];

  before(async () => {
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium, or set XCAST_CHROMIUM`);
    const ports = await freePortMap();
    hub = await startXcast({ flows: ['xcast', 'monitor'], portMap: ports });
    peer = await startXcast({ flows: ['peer'], portMap: ports, userDir: tmpDir() });
    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM, headless: true, viewport: { width: 1500, height: 1000 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
    page = await context.newPage();
    // What the page itself received: the values it shows must be these.
    page.on('response', async (r) => {
      if (r.url().includes('/service/mixeradminclient?getMetrics') && r.ok()) {
        try { answers.push(await r.json()); } catch { /* page closing */ }
      }
    });
  });
  after(async () => {
    await context?.close();
    if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
    await Promise.all([peer?.stop(), hub?.stop()]);
  });

  const field = (user: string, f: string) => page.locator(`#rows [data-user="${user}"] [data-field="${f}"]`);

  it('shows the values getMetrics answered, for each connection and the speaker, and saves a screenshot', async () => {
    await page.goto(`${hub.url}/qos/`);
    await page.waitForSelector('#rows [data-user="alice"][data-status="ok"]', WAIT);
    await page.waitForTimeout(2500);
    // Freeze the page on one answer: stop the server's answers reaching it, then compare with the last it got.
    await page.route('**/service/mixeradminclient*', (route) => route.abort());
    try {
      await page.waitForSelector('#error:not([hidden])', WAIT);
      const last = answers[answers.length - 1].aggregatedStatesSnapshot;
      assert.ok(last.connections.alice, 'alice is in the answer');
      for (const user of Object.keys(last.connections)) {
        const c = last.connections[user];
        for (const f of ['packetsLost', 'packetsLate', 'jitterMs', 'latencyMs', 'rttMs', 'bufferDepthSamples', 'bitrateKbps']) {
          assert.equal(await field(user, f).getAttribute('data-value'), JSON.stringify(c[f]), `${user}.${f}`);
        }
      }
      const sp = (f: string) => page.locator(`#speaker [data-field="${f}"]`);
      assert.equal(await sp('currentSpeakerBufferDepthInFloat32Samples').getAttribute('data-value'), JSON.stringify(last.currentSpeakerBufferDepthInFloat32Samples));
      assert.equal(await sp('currentSpeakerSampleRate').getAttribute('data-value'), '48000');
    } finally {
      await page.unroute('**/service/mixeradminclient*');
    }
    await page.waitForSelector('#error', { state: 'hidden', ...WAIT });
    const shot = path.join(PACKAGE_ROOT, 'test', 'output', 'qos-dashboard-live.png');
    fs.mkdirSync(path.dirname(shot), { recursive: true });
    await page.screenshot({ path: shot, fullPage: true });
  });

  it('turns a peer red when it is killed', async () => {
    await peer!.kill('SIGKILL');
    peer = undefined;
    await page.waitForSelector('#rows [data-user="alice"][data-status="down"]', WAIT);
  });

  it('says getMetrics is unreachable when the monitor is gone', async () => {
    await hub.stop();
    await page.waitForFunction(() => /^getMetrics unreachable: /.test(document.getElementById('error')?.textContent ?? ''), undefined, WAIT);
  });
});

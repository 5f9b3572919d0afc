// The edit dialogs of xcast-raw-udp-in, xcast-raw-udp-out and xcast-sap-listen in the embedded editor (headless
// Chromium): each opens without a script error, every field is labelled from its catalog (words, no keys), and the
// defaults the editor gives a new node pass its own validators.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startXcast, freePortMap, XcastProcess } from '../support/xcast-process';

const CHROMIUM = process.env.XCAST_CHROMIUM ?? '/usr/bin/chromium';
const WAIT = { timeout: 20_000 };

describe('the seed 002 and SAP nodes in the editor (Chromium)', function () {
  this.timeout(120000);
  let x: XcastProcess;
  let context: BrowserContext, page: Page, userDataDir: string;
  const pageErrors: string[] = [];

  before(async () => {
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium, or set XCAST_CHROMIUM`);
    x = await startXcast({
      flows: ['xcast'], portMap: await freePortMap(),
      edit: (nodes) => {
        const z = nodes.find((n) => n.type === 'tab')!.id;
        // Port 0 and a unicast SAP address: nothing fixed is bound by the test.
        nodes.push({ id: 'ed-in', type: 'xcast-raw-udp-in', z, x: 100, y: 800, port: '0', wires: [[], []] });
        nodes.push({ id: 'ed-out', type: 'xcast-raw-udp-out', z, x: 300, y: 800, port: '9', wires: [] });
        nodes.push({ id: 'ed-sap', type: 'xcast-sap-listen', z, x: 500, y: 800, address: '127.0.0.1', port: '0', wires: [[]] });
      },
    });
    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM, headless: true, viewport: { width: 1500, height: 1000 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${x.url}/`);
    await page.waitForSelector('.red-ui-flow-node', WAIT);
  });
  after(async () => {
    await context?.close();
    if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
    await x?.stop();
  });

  /** Opens node `id`'s edit dialog; its labels once filled in, and whether the node is valid by the editor's validators. */
  async function dialog(id: string): Promise<{ labels: string[]; valid: boolean; bad: string[] }> {
    await page.evaluate((nid) => {
      const w = window as unknown as { RED: { nodes: { node(i: string): unknown }; editor: { edit(n: unknown): void } } };
      w.RED.editor.edit(w.RED.nodes.node(nid));
    }, id);
    await page.waitForSelector('#dialog-form label', WAIT);
    await page.waitForFunction(() => Array.from(document.querySelectorAll('#dialog-form label')).some((l) => (l.textContent ?? '').trim().length > 4), undefined, WAIT);
    const labels = await page.locator('#dialog-form label').evaluateAll((ls) => ls.map((l) => (l.textContent ?? '').trim()).filter((s) => s !== ''));
    const unlabelled = await page.locator('#dialog-form input[id^="node-input-"], #dialog-form select[id^="node-input-"]').evaluateAll((els) =>
      els.filter((e) => (e as HTMLElement).offsetParent !== null && !document.querySelector(`label[for="${e.id}"]`)).map((e) => e.id));
    await page.evaluate(() => (window as unknown as { RED: { tray: { close(): void } } }).RED.tray.close());
    await page.waitForSelector('#dialog-form', { state: 'detached', ...WAIT });
    const valid = await page.evaluate((nid) => {
      const w = window as unknown as { RED: { nodes: { node(i: string): { valid?: boolean } } } };
      return w.RED.nodes.node(nid).valid !== false;
    }, id);
    return { labels, valid, bad: unlabelled };
  }

  it('opens each dialog with every field labelled in words from its catalog, no script error, and valid defaults', async () => {
    const want: Record<string, string[]> = {
      'ed-in': ['Listen on', 'Port', 'Sample format', 'Sample rate', 'Channels', 'Hand on as', 'Silence timeout', 'User ids', 'Room', 'Name'],
      'ed-out': ['Send to', 'Port', 'Name'],
      'ed-sap': ['Group', 'Port', 'Interface', 'Timeout', 'List every', 'Name'],
    };
    for (const [id, labels] of Object.entries(want)) {
      const d = await dialog(id);
      for (const l of labels) assert.ok(d.labels.includes(l), `${id}: ${JSON.stringify(d.labels)} lacks ${l}`);
      for (const l of d.labels) assert.doesNotMatch(l, /^[a-z-]+\.label\./, `${id}: a raw catalog key`);
      assert.deepEqual(d.bad, [], `${id}: fields without a label`);
      assert.ok(d.valid, `${id} is invalid by its own validators`);
    }
    assert.deepEqual(pageErrors, []);
  });
});

// The embedded editor in headless Chromium: the demo shows with no update-notification dialog, and the xcast nodes' edit dialogs read their labels from the catalogs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startXcast, freePortMap, XcastProcess } from '../support/xcast-process';

const CHROMIUM = process.env.XCAST_CHROMIUM ?? '/usr/bin/chromium';
const WAIT = { timeout: 20_000 };

describe('the embedded editor in Chromium', function () {
  this.timeout(120000);
  let x: XcastProcess;
  let context: BrowserContext, page: Page, userDataDir: string;

  before(async () => {
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium, or set XCAST_CHROMIUM`);
    x = await startXcast({
      flows: ['xcast'], portMap: await freePortMap(),
      // The RTP nodes (not in the preset yet), on free ports, so their dialogs can be opened too.
      edit: (nodes) => {
        const z = nodes.find((n) => n.type === 'tab')!.id;
        nodes.push({ id: 'edit-rtp-in', type: 'xcast-rtp-in', z, port: '0', x: 100, y: 900, wires: [[], []] });
        nodes.push({ id: 'edit-rtp-out', type: 'xcast-rtp-out', z, codec: 'L24', port: '9', x: 300, y: 900, wires: [] });
      },
    });
    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM, headless: true, viewport: { width: 1500, height: 1000 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
    page = await context.newPage();
    await page.goto(`${x.url}/`);
    // The flow drawn: the editor has loaded its settings, the node types and the flows.
    await page.waitForSelector('.red-ui-flow-node', WAIT);
  });
  after(async () => {
    await context?.close();
    if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
    await x?.stop();
  });

  it('opens on the flow, with no "Enable Update Notifications" dialog over it', async () => {
    // Node-RED asks before it draws the flow when it asks at all (checkTelemetry runs in the editor's start-up chain).
    assert.equal(await page.getByText('Update Notifications').count(), 0);
  });

  /** Opens a node's edit dialog and returns its labels' texts once they are filled in. */
  async function dialogLabels(type: string): Promise<string[]> {
    await page.evaluate((t) => {
      const w = window as unknown as { RED: { nodes: { eachNode(f: (n: { type: string }) => boolean | void): void }; editor: { edit(n: unknown): void; } } };
      let found: unknown;
      w.RED.nodes.eachNode((n) => { if (n.type === t) { found = n; return false; } });
      w.RED.editor.edit(found);
    }, type);
    await page.waitForSelector('#dialog-form label', WAIT);
    const labels = await page.locator('#dialog-form label').evaluateAll((ls) => ls.map((l) => (l.textContent ?? '').trim()).filter((s) => s !== ''));
    await page.evaluate(() => (window as unknown as { RED: { tray: { close(): void } } }).RED.tray.close());
    await page.waitForSelector('#dialog-form', { state: 'detached', ...WAIT });
    return labels;
  }

  it('labels the edit dialogs from the catalogs: words, no keys', async () => {
    const reader = await dialogLabels('xcast-socket-reader');
    for (const want of ['Mode', 'Listen on', 'Port', 'Server name', 'Name']) assert.ok(reader.includes(want), `socket reader: ${JSON.stringify(reader)}`);
    const mixer = await dialogLabels('xcast-mixer');
    for (const want of ['Sample rate', 'Jitter buffer', 'Mix-minus: also send each user the mix without their own audio']) assert.ok(mixer.includes(want), `mixer: ${JSON.stringify(mixer)}`);
    const rtpIn = await dialogLabels('xcast-rtp-in');
    for (const want of ['RTP port', 'RTCP port', 'RTCP on the RTP port (rtcp-mux)', 'SDP', 'SDP file', 'Users', 'Name']) assert.ok(rtpIn.includes(want), `rtp in: ${JSON.stringify(rtpIn)}`);
    const rtpOut = await dialogLabels('xcast-rtp-out');
    for (const want of ['Codec', 'To address', 'Packet, ms', 'SDP file', 'Mix-minus of', 'Announce with SAP', 'Name']) assert.ok(rtpOut.includes(want), `rtp out: ${JSON.stringify(rtpOut)}`);
    for (const l of [...reader, ...mixer, ...rtpIn, ...rtpOut]) assert.doesNotMatch(l, /[a-z-]+\.label\.|node-red:/, 'a raw key');
  });
});

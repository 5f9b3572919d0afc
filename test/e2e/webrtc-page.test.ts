// The join page itself in headless Chromium: accessible names, keyboard use, phone width, what it sends (the offer's
// body and SDP per docs/webrtc.md) and how it shows a refusal. The page's files are served as they ship; the
// signaling requests are caught in the browser (page.route) — the real server is in webrtc.test.ts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Page, Request } from 'playwright-core';
import { RtcBrowsers, toneWav, pageWaitFor } from '../support/browser';

const WEB = path.join(__dirname, '..', '..', 'runtime', 'web', 'join');
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };

/** Serves the join page's directory at /xcast/join/ and nothing else (the signaling is caught in the browser). */
function pageServer(): Promise<{ url: string; close(): Promise<void> }> {
  const srv = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const m = /^\/xcast\/join\/([a-z.]*)$/.exec(u.pathname);
    const file = m ? (m[1] || 'index.html') : '';
    if (file && fs.existsSync(path.join(WEB, file))) {
      res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
      res.end(fs.readFileSync(path.join(WEB, file)));
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not here');
    }
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${(srv.address() as { port: number }).port}`,
    close: () => new Promise((r) => srv.close(() => r())),
  })));
}

interface Caught { method: string; url: string; body: any }

/** Catches the page's signaling requests; `answer` says what each gets (a contract refusal, typically). */
async function catchSignaling(page: Page, answer: (r: Caught) => { status: number; body?: unknown }): Promise<Caught[]> {
  const caught: Caught[] = [];
  await page.route('**/xcast/rtc/**', (route) => {
    const req: Request = route.request();
    const c = { method: req.method(), url: req.url(), body: req.postData() ? JSON.parse(req.postData()!) : undefined };
    caught.push(c);
    const a = answer(c);
    void route.fulfill({ status: a.status, contentType: 'application/json', body: a.body === undefined ? '' : JSON.stringify(a.body) });
  });
  return caught;
}

const refusal = (code: string, message: string) => ({ error: { code, message } });

describe('join page (Chromium): names, keyboard, phone width, the offer it sends, refusals', function () {
  this.timeout(60000);
  const browsers = new RtcBrowsers();
  let server: { url: string; close(): Promise<void> };
  let errors: string[];

  before(async () => { server = await pageServer(); });
  after(async () => { await server?.close(); });
  beforeEach(() => { errors = []; });
  afterEach(async () => {
    await browsers.closeAll();
    assert.deepEqual(errors, [], 'the page logged no error');
  });

  it('names every control (label, role, aria) and keeps the state in a live region', async () => {
    const page = await browsers.page('', errors);
    await catchSignaling(page, () => ({ status: 200, body: { rooms: [] } }));
    await page.goto(`${server.url}/xcast/join/`);
    await page.getByRole('textbox', { name: 'Name' }).waitFor();
    await page.getByRole('combobox', { name: 'Room' }).waitFor(); // an input with a datalist is a combobox
    await page.getByRole('checkbox', { name: /^Microphone on/ }).waitFor();
    await page.getByRole('checkbox', { name: /Echo cancellation/ }).waitFor();
    await page.getByRole('button', { name: 'Join' }).waitFor();
    await page.getByRole('button', { name: 'Leave' }).waitFor();
    await page.getByRole('button', { name: 'Mute' }).waitFor();
    await page.getByRole('meter', { name: 'input level' }).waitFor();
    assert.equal(await page.getByRole('status').getAttribute('aria-live'), 'polite');
    assert.equal(await page.getByRole('status').textContent(), 'not joined');
    assert.equal(await page.getByRole('combobox', { name: 'Room' }).inputValue(), 'main');
    // Nothing focusable without a name.
    const unnamed = await page.evaluate(() => Array.from(document.querySelectorAll('input, button, select, textarea, a[href], [role]'))
      .filter((el) => {
        const e = el as HTMLInputElement;
        const label = (e.labels && e.labels.length > 0) || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby') || (e.textContent ?? '').trim();
        return !label && !['status', 'alert'].includes(el.getAttribute('role') ?? '');
      }).map((el) => el.outerHTML.slice(0, 80)));
    assert.deepEqual(unnamed, []);
    assert.equal(await page.getByRole('button', { name: 'Mute' }).getAttribute('aria-pressed'), 'false');
  });

  it('is usable 360 px wide: nothing wider than the screen, every control on it and 44 px high to touch', async () => {
    const page = await browsers.page('', errors);
    await page.setViewportSize({ width: 360, height: 740 });
    await catchSignaling(page, () => ({ status: 200, body: { rooms: [] } }));
    await page.goto(`${server.url}/xcast/join/`);
    await page.getByRole('button', { name: 'Join' }).waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth) <= 360, 'no sideways scrolling');
    for (const sel of ['#name', '#room', '#mic', '#join', '#leave', '#mute', '#level']) {
      const b = (await page.locator(sel).boundingBox())!;
      assert.ok(b && b.x >= 0 && b.x + b.width <= 360, `${sel} inside the screen: ${JSON.stringify(b)}`);
      if (['#name', '#room', '#join', '#leave', '#mute'].includes(sel)) assert.ok(b.height >= 44, `${sel} at least 44 px high: ${b.height}`);
    }
  });

  it('joins from the keyboard listen-only: the offer is recvonly, says publish false / listen true, carries ?token=, and no microphone is opened', async () => {
    const page = await browsers.page('', errors);
    await page.addInitScript(() => {
      (window as any).gumCalls = 0;
      const orig = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
      navigator.mediaDevices.getUserMedia = (c) => { (window as any).gumCalls++; return orig(c); };
    });
    const caught = await catchSignaling(page, (r) => r.url.endsWith('/offer')
      ? { status: 401, body: refusal('unauthorized', 'token: wrong token') }
      : { status: 200, body: { rooms: [{ room: 'stage', peers: [] }, { room: 'main', peers: [] }] } });
    await page.goto(`${server.url}/xcast/join/?token=s3cret`);
    // The rooms the server answered are offered to pick from.
    await pageWaitFor(page, 'the rooms datalist', 5000, () => document.querySelectorAll('#rooms-list option').length === 2);
    assert.deepEqual(await page.locator('#rooms-list option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value)), ['main', 'stage']);
    // Tab order: name, room, microphone, processing, Join.
    await page.locator('#name').focus();
    await page.keyboard.type('Zoë Listener');
    await page.keyboard.press('Tab');
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.type('stage');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'mic');
    await page.keyboard.press('Space');
    assert.equal(await page.locator('#mic').isChecked(), false);
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'join');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'leave', 'the focus goes to Leave');
    await pageWaitFor(page, 'the refusal shown', 10000, () => !document.getElementById('error')!.hidden);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'join', 'refused: the focus is back on Join');
    const offer = caught.find((c) => c.url.endsWith('/xcast/rtc/offer'))!;
    assert.ok(offer, 'an offer was posted to {base}/offer');
    assert.equal(offer.method, 'POST');
    const { sdp, ...rest } = offer.body;
    assert.deepEqual(rest, { type: 'offer', room: 'stage', userId: 'Zoë Listener', name: 'Zoë Listener', publish: false, listen: true, token: 's3cret' });
    assert.match(sdp, /^m=audio /m);
    assert.equal(sdp.match(/^m=/gm).length, 1, 'one m-line');
    assert.match(sdp, /^a=recvonly\r?$/m);
    assert.match(sdp, /^a=rtpmap:\d+ opus\/48000\/2\r?$/m);
    assert.doesNotMatch(sdp, /stereo=1/, 'a mono mix is asked for');
    assert.match(sdp, /^a=candidate:/m, 'complete gathering: the candidates are in the offer');
    assert.equal(await page.evaluate(() => (window as any).gumCalls), 0, 'listen-only opens no microphone');
    // The server's message, as it wrote it; a 4xx is final: no retry.
    assert.equal(await page.getByRole('alert').textContent(), 'token: wrong token');
    assert.equal(await page.getByRole('alert').getAttribute('data-code'), 'unauthorized');
    assert.equal(await page.evaluate(() => (window as any).xcastJoin.state), 'failed');
    assert.equal(await page.getByRole('button', { name: 'Join' }).isEnabled(), true, 'Join again is possible');
    assert.equal(caught.filter((c) => c.url.endsWith('/offer')).length, 1, 'a refusal is not retried');
  });

  it('publishing: asks for the microphone, offers sendrecv, and keeps retrying with backoff while the server is full (503)', async () => {
    const page = await browsers.page(toneWav(440), errors);
    const caught = await catchSignaling(page, (r) => r.url.endsWith('/offer')
      ? { status: 503, body: refusal('full', 'maxPeers: all 64 places are taken') }
      : { status: 200, body: { rooms: [] } });
    await page.goto(`${server.url}/xcast/join/?processing=0`);
    await page.getByRole('textbox', { name: 'Name' }).fill('al\u0007ice  smith');
    await page.getByRole('button', { name: 'Join' }).click();
    await pageWaitFor(page, 'the retry', 10000, () => document.getElementById('state')!.textContent!.startsWith('reconnecting'));
    const offers = () => caught.filter((c) => c.url.endsWith('/offer'));
    const end = Date.now() + 10000;
    while (offers().length < 2 && Date.now() < end) await page.waitForTimeout(100);
    assert.ok(offers().length >= 2, `retried: ${offers().length} offers`);
    const b = offers()[0].body;
    assert.equal(b.userId, 'alice smith', 'the userId is the name made safe');
    assert.equal(b.publish, true);
    assert.match(b.sdp, /^a=sendrecv\r?$/m);
    assert.equal(await page.getByRole('alert').textContent(), 'maxPeers: all 64 places are taken');
    // The meter shows the fake microphone's tone (−9 dBFS RMS).
    const now = Number(await page.getByRole('meter', { name: 'input level' }).getAttribute('aria-valuenow'));
    assert.ok(now >= -11 && now <= -7, `input level ${now} dBFS`);
    await page.getByRole('button', { name: 'Leave' }).click();
    assert.equal(await page.evaluate(() => (window as any).xcastJoin.state), 'left');
    const n = offers().length;
    await page.waitForTimeout(1200); // no event tells "nothing happened": a window longer than the first backoff
    assert.equal(offers().length, n, 'no offer after Leave');
  });

  it('refuses a room name outside the contract before sending anything', async () => {
    const page = await browsers.page('', errors);
    const caught = await catchSignaling(page, () => ({ status: 200, body: { rooms: [] } }));
    await page.goto(`${server.url}/xcast/join/?mic=0`);
    await page.fill('#name', 'x');
    await page.fill('#room', 'no spaces!');
    await page.click('#join');
    assert.match((await page.getByRole('alert').textContent())!, /room is 1–64 letters/i);
    assert.equal(caught.filter((c) => c.url.endsWith('/offer')).length, 0);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'room');
  });
});

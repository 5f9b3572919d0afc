// Browsers join the session end to end: real headless Chromium (fake microphones playing 440 / 660 Hz tone files)
// on the join page, the real xcast preset (WebRTC node, mixer with rooms, Opus encoders) and the monitor preset
// (streamproto1 mix → WAV, getMetrics) in one real xcast process; one streamproto1 tone peer beside them.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { readWav } from '../../runtime/audio/wav';
import { estimateFrequency, rms, dbfs, toneLevelDb } from '../../runtime/audio/analysis';
import { startXcast, freePortMap, sleep, tmpDir, XcastProcess } from '../support/xcast-process';
import { getMetrics, getMetricsWhere } from '../support/get-metrics';
import { TonePeers } from '../support/tone-peers';
import { RtcBrowsers, toneWav, pageWaitFor } from '../support/browser';
import { PACKAGE_ROOT } from '../../runtime/launcher';

type Analysis = { frequency: number | null; rmsDb: number | null; at: Record<string, number | null> };
type RoomsAnswer = { rooms: Array<{ room: string; peers: Array<{ userId: string; name: string; publish: boolean; listen: boolean; state: string; connectedAt: number | null }> }> };

const analyse = (page: Page): Promise<Analysis> => page.evaluate(() => (window as any).xcastJoin.analyse([440, 660]));

/**
 * Waits until the page hears `hear` Hz (> −45 dB in its analyser, where a heard tone shows at −25…−35) and not `not`
 * Hz (below −55 dB and 25 dB under the heard one; Opus's noise floor beside a tone measured −65…−95).
 */
async function hears(page: Page, hear: number, not: number, what: string, timeoutMs = 15000): Promise<Analysis> {
  await pageWaitFor(page, what, timeoutMs, ([h, n]) => {
    const a = (window as any).xcastJoin.analyse([h, n]);
    return a.frequency !== null && Math.abs(a.frequency - h) < 4 && a.at[h] > -45 && a.at[n] < -55 && a.at[n] < a.at[h] - 25;
  }, [hear, not]);
  return analyse(page);
}

describe('browsers join the session over WebRTC (Chromium, xcast + monitor presets)', function () {
  this.timeout(120000);
  let x: XcastProcess;
  let ports: Record<number, number>;
  let wavPath: string;
  const browsers = new RtcBrowsers();
  const errors: string[] = [];
  let tones: TonePeers | undefined;
  const rtc = () => `${x.url}/xcast/rtc`;
  const rooms = async (): Promise<RoomsAnswer> => (await fetch(`${rtc()}/rooms`)).json() as Promise<RoomsAnswer>;
  const peersIn = async (room: string) => (await rooms()).rooms.find((r) => r.room === room)?.peers ?? [];

  /** A tab of the browser whose microphone plays `tone` (0: microphone off), joined to `room` as `name`. */
  async function join(tone: number, name: string, room: string, query = ''): Promise<Page> {
    const page = await browsers.page(tone ? toneWav(tone) : '', errors);
    await page.goto(`${x.url}/xcast/join/?processing=0${tone ? '' : '&mic=0'}${query}`);
    await page.getByRole('textbox', { name: 'Name' }).fill(name);
    await page.getByRole('combobox', { name: 'Room' }).fill(room);
    await page.getByRole('button', { name: 'Join' }).click();
    const t0 = Date.now();
    await pageWaitFor(page, `${name} connected`, 15000, () => (window as any).xcastJoin.state === 'connected');
    console.log(`      ${name}: connected ${Date.now() - t0} ms after Join`);
    return page;
  }

  before(async () => {
    ports = await freePortMap();
    const dir = tmpDir();
    wavPath = path.join(dir, 'monitor.wav');
    x = await startXcast({ flows: ['xcast', 'monitor'], portMap: ports, overrides: { 'xcast-audio-out': { path: wavPath } }, userDir: dir });
  });
  after(async () => {
    await tones?.close();
    await browsers.closeAll();
    await x?.stop();
  });
  afterEach(() => { assert.deepEqual(errors.splice(0), [], 'the pages logged no error'); });

  let solo440: Page;
  it('one browser publishes 440 Hz into main: the monitor WAV (streamproto1) holds 440 ± 1 Hz at the tone level, and the browser does not hear itself', async () => {
    const framesAt = () => { try { return readWav(wavPath).frames; } catch { return 0; } };
    const from = framesAt();
    solo440 = await join(440, 'solo-440', 'main');
    // The monitor records main's mix: take 2 s of it from 0.5 s after the browser's tone first reached it.
    let seg: Float32Array | undefined;
    const end = Date.now() + 20000;
    while (!seg && Date.now() < end) {
      await sleep(250); // the WAV is a file: no event says it grew
      let wav;
      try { wav = readWav(wavPath); } catch { continue; }
      let start = -1;
      for (let i = from; i < wav.frames; i++) if (Math.abs(wav.samples[i * 2]) > 0.05) { start = i; break; }
      if (start >= 0 && wav.frames >= start + 2.5 * 48000) seg = wav.samples.subarray((start + 24000) * 2, (start + 24000 + 96000) * 2);
    }
    assert.ok(seg, 'the monitor recorded');
    const f = estimateFrequency(seg, 48000, 2, 0);
    const level = dbfs(rms(seg, 2, 0));
    // The fake microphone's tone: amplitude 0.5 → RMS −9.03 dBFS, through Chromium's Opus at unity gain (no processing).
    console.log(`      monitor WAV: ${f.toFixed(2)} Hz, ${level.toFixed(2)} dBFS (expected 440 Hz, −9.03 dBFS)`);
    assert.ok(Math.abs(f - 440) <= 1, `frequency ${f}`);
    assert.ok(Math.abs(level - -9.03) <= 1.5, `level ${level} dBFS`);
    // Alone in main, the browser's mix-minus holds nothing of itself.
    const a = await analyse(solo440);
    assert.ok(!(a.at['440']! > -70), `solo-440 hears itself: ${JSON.stringify(a)}`);
  });

  it('shows the browser in GET rooms, getMetrics (role webrtc, its room) and its own figures on the page', async () => {
    const p = (await peersIn('main')).find((q) => q.userId === 'solo-440');
    assert.ok(p, 'solo-440 listed in main');
    assert.equal(p.state, 'connected');
    assert.equal(p.publish, true);
    assert.equal(p.listen, true);
    assert.equal(typeof p.connectedAt, 'number');
    const m = await getMetricsWhere(x.url, (a) => (a.aggregatedStatesSnapshot.connections['solo-440']?.packetsReceived ?? 0) > 50, 10000);
    const c = m.aggregatedStatesSnapshot.connections['solo-440'] as any;
    assert.equal(c.role, 'webrtc');
    assert.equal(c.room, 'main');
    assert.equal(c.isIncomingAudioTrackConnected, true);
    await pageWaitFor(solo440, 'round trip and loss on the page', 10000, () =>
      /^\d+ ms$/.test(document.querySelector('#stats [data-field="rtt"]')!.textContent!) &&
      /^\d+ packets/.test(document.querySelector('#stats [data-field="loss"]')!.textContent!));
    const st = await solo440.evaluate(() => (window as any).xcastJoin.stats());
    console.log(`      solo-440 getStats: received ${st.packetsReceived}, lost ${st.packetsLost}, jitter ${st.jitterMs} ms, rtt ${st.rttMs} ms (${st.rttSource}); sent ${st.packetsSent}; xcast: received ${c.packetsReceived}, lost ${c.packetsLost}, jitter ${c.jitterMs.toFixed(2)} ms, rtt ${c.rttMs} ms`);
    const listed = await solo440.locator('#peers li[data-user="solo-440"]').textContent();
    assert.match(listed!, /solo-440.*\(you\)/);
    // The QoS dashboard links here.
    const qos = await (await fetch(`${x.url}/qos/`)).text();
    const href = /<a id="join-link" href="([^"]+)"/.exec(qos)?.[1];
    assert.ok(href, 'the dashboard has the join link');
    const linked = await fetch(new URL(href, `${x.url}/qos/`));
    assert.equal(linked.status, 200);
    assert.match(await linked.text(), /<title>xcast — join<\/title>/);
  });

  let duo440: Page, duo660: Page;
  it('two browsers in one room publish 440 and 660 Hz and listen: each hears the other and not itself (one offer trickled)', async () => {
    [duo440, duo660] = await Promise.all([join(440, 'duo-440', 'duo'), join(660, 'duo-660', 'duo', '&trickle=always')]);
    const [a, b] = await Promise.all([hears(duo440, 660, 440, 'duo-440 hearing 660 only'), hears(duo660, 440, 660, 'duo-660 hearing 440 only')]);
    console.log(`      duo-440 hears ${a.frequency?.toFixed(1)} Hz (440: ${a.at['440']?.toFixed(0)} dB, 660: ${a.at['660']?.toFixed(0)} dB); duo-660 hears ${b.frequency?.toFixed(1)} Hz (440: ${b.at['440']?.toFixed(0)} dB, 660: ${b.at['660']?.toFixed(0)} dB)`);
    assert.deepEqual((await peersIn('duo')).map((q) => q.userId).sort(), ['duo-440', 'duo-660']);
    // What a user sees (the README's picture is a copy of it: docs/join-page.png).
    await pageWaitFor(duo440, 'both in the page\'s list, figures shown', 10000, () =>
      document.querySelectorAll('#peers li[data-state="connected"]').length === 2 && /ms$/.test(document.querySelector('#stats [data-field="rtt"]')!.textContent!));
    const shot = path.join(PACKAGE_ROOT, 'test', 'output', 'join-page.png');
    fs.mkdirSync(path.dirname(shot), { recursive: true });
    await duo440.setViewportSize({ width: 680, height: 700 });
    await duo440.screenshot({ path: shot, fullPage: true });
  });

  it('mute silences the track: the other side stops hearing it, and hears it again on unmute', async () => {
    const mute = duo440.getByRole('button', { name: 'Mute' });
    await mute.click();
    assert.equal(await mute.getAttribute('aria-pressed'), 'true');
    await pageWaitFor(duo660, 'duo-660 hearing silence', 10000, () => !((window as any).xcastJoin.analyse([440]).at[440] > -70));
    await duo440.getByRole('button', { name: 'Unmute' }).click();
    assert.equal(await mute.getAttribute('aria-pressed'), 'false');
    await hears(duo660, 440, 660, 'duo-660 hearing 440 again');
  });

  it('a listen-only browser joined from the keyboard hears its room and nothing of the others', async () => {
    // Room 'b': one 660 Hz publisher. 440 Hz plays in main and in duo: none of it may reach b's listener.
    const pub = await join(660, 'b-660', 'b');
    const page = await browsers.page('', errors);
    await page.goto(`${x.url}/xcast/join/`);
    // The rooms that exist are offered.
    await pageWaitFor(page, 'the datalist of rooms', 5000, () => ['b', 'duo', 'main'].every((r) => document.querySelector(`#rooms-list option[value="${r}"]`)));
    await page.locator('#name').focus();
    await page.keyboard.type('b-listener');
    await page.keyboard.press('Tab');
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.type('b');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Space'); // microphone off
    await page.keyboard.press('Enter');
    const t0 = Date.now();
    await pageWaitFor(page, 'b-listener connected', 15000, () => (window as any).xcastJoin.state === 'connected');
    console.log(`      b-listener: connected ${Date.now() - t0} ms after Enter`);
    assert.equal(await page.evaluate(() => (window as any).xcastJoin.publish), false);
    assert.equal(await page.getByRole('button', { name: 'Mute' }).isDisabled(), true);
    const a = await hears(page, 660, 440, 'b-listener hearing 660 and no 440');
    console.log(`      b-listener: ${a.frequency?.toFixed(1)} Hz; 440 Hz at ${a.at['440']?.toFixed(0)} dB, 660 at ${a.at['660']?.toFixed(0)} dB`);
    const me = (await peersIn('b')).find((q) => q.userId === 'b-listener')!;
    assert.deepEqual([me.publish, me.listen], [false, true]);
    await Promise.all([page.close({ runBeforeUnload: true }), pub.close({ runBeforeUnload: true })]);
  });

  it('closing a tab: the peer leaves its room within 1 s, then the mix, and getMetrics says so', async () => {
    // The monitor's own playout buffer (adaptive: it deepens after a stall on a loaded machine) holds audio mixed before
    // the close; what it held then is not the xcast's doing, so the 1 s bound below is on top of it.
    const monitorMs = (await getMetrics(x.url)).aggregatedStatesSnapshot.speakerScriptProcessorLatencyMS ?? 0;
    const wavAtClose = readWav(wavPath);
    const atClose = wavAtClose.frames;
    const closedAt = Date.now();
    await solo440.close({ runBeforeUnload: true });
    let goneAfter = -1;
    while (Date.now() - closedAt < 1000) {
      if (!(await peersIn('main')).some((q) => q.userId === 'solo-440')) { goneAfter = Date.now() - closedAt; break; }
      await sleep(20);
    }
    assert.ok(goneAfter >= 0, 'solo-440 left main within 1 s');
    // The mix, as the monitor recorded it: 440 Hz up to the close, then none (or no mix: main's ends with its last
    // track). The DELETE's (or the connection's) close reaches the mixer, which drops the peer's track at once (no
    // concealment tail until its track timeout); what is heard after the close is the DELETE's way, the xcast's playout
    // buffer and the monitor's own buffer (~0.4 s here), measured in 100 ms windows, asserted within 1 s. The WAV is a
    // file: polled until it holds 2.5 s more or stops growing.
    const W = 4800;
    const level = (s: Float32Array, from: number) => toneLevelDb(s.subarray(from * 2, (from + W) * 2), 2, 0, 440, 48000);
    let before = -Infinity;
    for (let k = 1; k <= 10; k++) before = Math.max(before, level(wavAtClose.samples, atClose - k * W));
    assert.ok(before > -10.5, `440 Hz in main's mix before the close: ${before.toFixed(1)} dBFS`);
    let frames = atClose, changedAt = Date.now();
    while (Date.now() - changedAt < 1000 && frames < atClose + 2.5 * 48000) {
      await sleep(100);
      const f = readWav(wavPath).frames;
      if (f !== frames) { frames = f; changedAt = Date.now(); }
    }
    const wav = readWav(wavPath);
    const windows: number[] = [];
    for (let at = atClose; at + W <= wav.frames; at += W) windows.push(level(wav.samples, at));
    let tail = windows.length;
    while (tail > 0 && windows[tail - 1] < -60) tail--;
    console.log(`      main's mix after the close: 440 Hz heard for ${tail * 100} ms more at the monitor (${windows.length * 100} ms recorded; the monitor's buffer held ${monitorMs.toFixed(0)} ms at the close)`);
    assert.ok(tail * 100 <= 1000 + monitorMs, `440 Hz still in main's mix ${tail * 100} ms after the close (the monitor's buffer ${monitorMs.toFixed(0)} ms): ${windows.map((l) => l.toFixed(0)).join(' ')}`);
    const m = await getMetricsWhere(x.url, (a) => {
      const c = a.aggregatedStatesSnapshot.connections['solo-440'];
      const tr = a.aggregatedStatesSnapshot.incomingAudioTracks.find((q) => q.userId === 'solo-440');
      return (!c || c.isIncomingAudioTrackConnected === false) && (!tr || tr.connected === false);
    }, 10000);
    console.log(`      left GET rooms ${goneAfter} ms after the tab closed; getMetrics says so after ${Date.now() - closedAt} ms`);
    assert.ok(m);
  });

  it('a streamproto1 peer and a browser in one session (main) hear each other', async () => {
    tones = new TonePeers(ports[7010]);
    tones.add('sp1-440');
    const page = await join(660, 'main-660', 'main');
    // The browser hears the streamproto1 peer's 440 Hz and not its own 660 Hz.
    const a = await hears(page, 440, 660, 'main-660 hearing the streamproto1 peer');
    // The streamproto1 side (the monitor, a streamproto1 receiver of main's mix) hears the browser's 660 Hz.
    let l660 = -Infinity, l440 = -Infinity;
    const end = Date.now() + 15000;
    while (Date.now() < end) {
      const wav = readWav(wavPath);
      const last = wav.samples.subarray(wav.samples.length - 24000 * 2);
      l660 = toneLevelDb(last, 2, 0, 660, 48000);
      l440 = toneLevelDb(last, 2, 0, 440, 48000);
      if (Math.abs(l660 - -9.03) <= 1.5 && Math.abs(l440 - -16.99) <= 1.5) break;
      await sleep(250);
    }
    console.log(`      main-660 hears ${a.frequency?.toFixed(1)} Hz; the monitor's WAV: 660 Hz at ${l660.toFixed(1)} dBFS (browser, expected −9), 440 Hz at ${l440.toFixed(1)} dBFS (streamproto1 peer, expected −17)`);
    assert.ok(Math.abs(l660 - -9.03) <= 1.5, `the browser's 660 Hz in main's mix at ${l660} dBFS`);
    assert.ok(Math.abs(l440 - -16.99) <= 1.5, `the streamproto1 peer's 440 Hz in main's mix at ${l440} dBFS`);
    await page.close({ runBeforeUnload: true });
    await tones.close();
    tones = undefined;
  });

  it('shows a refusal as the server wrote it (a userId longer than 64 characters)', async () => {
    const page = await browsers.page('', errors);
    await page.goto(`${x.url}/xcast/join/?mic=0&userId=${'u'.repeat(65)}`);
    await page.fill('#name', 'too long');
    await page.click('#join');
    await pageWaitFor(page, 'the refusal', 10000, () => !document.getElementById('error')!.hidden);
    const text = await page.getByRole('alert').textContent();
    assert.match(text!, /userId/, 'the message names the field');
    assert.equal(await page.getByRole('alert').getAttribute('data-code'), 'bad_request');
    assert.equal(await page.evaluate(() => (window as any).xcastJoin.state), 'failed');
    await page.close();
  });

  it('reconnects by itself with the same userId when the server ends its peer', async () => {
    const clientId = await duo440.evaluate(() => (window as any).xcastJoin.clientId);
    const r = await fetch(`${rtc()}/session/${clientId}`, { method: 'DELETE' });
    assert.equal(r.status, 204);
    await pageWaitFor(duo440, 'duo-440 noticing', 10000, () => (window as any).xcastJoin.state !== 'connected');
    await pageWaitFor(duo440, 'duo-440 back', 15000, () => (window as any).xcastJoin.state === 'connected');
    assert.notEqual(await duo440.evaluate(() => (window as any).xcastJoin.clientId), clientId, 'a new session');
    assert.ok((await peersIn('duo')).some((q) => q.userId === 'duo-440'));
    await hears(duo660, 440, 660, 'duo-660 hearing duo-440 again');
  });
  it('a second page joining as the same user replaces the first, which stops instead of taking the name back', async () => {
    const first = await join(0, 'twin', 'dup');
    // The page knows its connection as the server lists it (GET rooms' connectedAt): that is how it tells "replaced".
    await pageWaitFor(first, 'twin listed connected', 10000, () => typeof (window as any).xcastJoin.serverConnectedAt === 'number');
    const second = await join(0, 'twin', 'dup');
    await pageWaitFor(first, 'the first page replaced', 10000, () => (window as any).xcastJoin.state === 'replaced');
    assert.match((await first.getByRole('alert').textContent())!, /Another page joined room “dup” as “twin”/);
    assert.equal(await first.getByRole('button', { name: 'Join' }).isEnabled(), true);
    const offers: string[] = [];
    first.on('request', (r) => { if (r.url().endsWith('/offer')) offers.push(r.url()); });
    // Two of the second page's GET rooms cycles: it stays connected, the first sends no offer.
    const secondId = await second.evaluate(() => (window as any).xcastJoin.clientId);
    await second.waitForResponse((r) => r.url().endsWith('/rooms'));
    await second.waitForResponse((r) => r.url().endsWith('/rooms'));
    assert.equal(await second.evaluate(() => (window as any).xcastJoin.state), 'connected');
    assert.equal(await second.evaluate(() => (window as any).xcastJoin.clientId), secondId);
    assert.deepEqual(offers, []);
    assert.deepEqual((await peersIn('dup')).map((q) => q.userId), ['twin']);
    await Promise.all([first.close(), second.close({ runBeforeUnload: true })]);
  });

  it('reconnects by itself after a network drop (the xcast frozen with SIGSTOP until the page gives the connection up)', async () => {
    const before = await duo440.evaluate(() => (window as any).xcastJoin.clientId);
    const frozenAt = Date.now();
    x.proc.kill('SIGSTOP');
    let resumedAfter = -1;
    try {
      // No STUN answer, no RTP: Chromium calls it disconnected, the page waits 3 s more and starts a new offer.
      await pageWaitFor(duo440, 'duo-440 giving the connection up', 30000, () => /^reconnecting/.test((window as any).xcastJoin.stateText));
    } finally {
      resumedAfter = Date.now() - frozenAt;
      x.proc.kill('SIGCONT');
    }
    await pageWaitFor(duo440, 'duo-440 back', 20000, () => (window as any).xcastJoin.state === 'connected');
    console.log(`      duo-440 gave up ${resumedAfter} ms into the drop; connected again ${Date.now() - frozenAt - resumedAfter} ms after it ended`);
    assert.notEqual(await duo440.evaluate(() => (window as any).xcastJoin.clientId), before, 'a new session, same userId');
    assert.equal(await duo440.evaluate(() => (window as any).xcastJoin.userId), 'duo-440');
    await hears(duo660, 440, 660, 'duo-660 hearing duo-440 after the drop');
  });
});

describe('a browser whose tab dies leaves within the inactivity timeout (Chromium, xcast + monitor, inactivity 2 s)', function () {
  this.timeout(60000);
  let x: XcastProcess;
  const browsers = new RtcBrowsers();
  before(async () => {
    x = await startXcast({ flows: ['xcast', 'monitor'], portMap: await freePortMap(), overrides: { 'xcast-webrtc': { inactivityTimeout: '2' } } });
  });
  after(async () => {
    await browsers.closeAll();
    await x?.stop();
  });

  it('a crashed renderer sends no DELETE; its media stops and the xcast closes the peer after 2 s (+ its sweep)', async () => {
    const page = await browsers.page(toneWav(440));
    await page.goto(`${x.url}/xcast/join/?processing=0`);
    await page.getByRole('textbox', { name: 'Name' }).fill('crasher');
    await page.getByRole('button', { name: 'Join' }).click();
    await pageWaitFor(page, 'crasher connected', 15000, () => (window as any).xcastJoin.state === 'connected');
    await getMetricsWhere(x.url, (a) => a.aggregatedStatesSnapshot.connections.crasher?.isIncomingAudioTrackConnected === true, 10000);
    const deletes: string[] = [];
    page.on('request', (r) => { if (r.method() === 'DELETE') deletes.push(r.url()); });
    const cdp = await page.context().newCDPSession(page);
    const crashedAt = Date.now();
    void cdp.send('Page.crash').catch(() => undefined); // answers never: the renderer is gone
    const listed = async () => ((await (await fetch(`${x.url}/xcast/rtc/rooms`)).json()) as RoomsAnswer).rooms.some((r) => r.peers.some((q) => q.userId === 'crasher'));
    let goneAfter = -1;
    while (Date.now() - crashedAt < 2000 + 5000) {
      if (!(await listed())) { goneAfter = Date.now() - crashedAt; break; }
      await sleep(100);
    }
    assert.ok(goneAfter >= 0, 'the peer left within the inactivity timeout + 5 s');
    assert.ok(goneAfter >= 1500, `it left only when its media had stopped for the timeout (${goneAfter} ms)`);
    await getMetricsWhere(x.url, (a) => {
      const c = a.aggregatedStatesSnapshot.connections.crasher;
      return !c || c.isIncomingAudioTrackConnected === false;
    }, 8000);
    console.log(`      crashed tab: left GET rooms ${goneAfter} ms after the crash (inactivity 2 s), getMetrics says so after ${Date.now() - crashedAt} ms`);
    assert.deepEqual(deletes, [], 'a crashed page sent nothing');
  });
});

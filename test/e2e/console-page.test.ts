// The console page's own behaviour in headless Chromium, on the real xcast preset with streamproto1 tone peers: the
// keyboard alone, a 360 px phone, the fader's send rate and its echo rule (what it sends is watched on the websocket,
// what the mixer took is read back from GET /xcast/mixer/state), the monitor (AudioWorklet, solo as pre-fader listen
// on this console only, the spectrum source), and the websocket reconnecting by itself after a network drop.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { startXcast, freePortMap, tmpDir, XcastProcess } from '../support/xcast-process';
import { MixListener } from '../support/console-peers';
import { TonePeers } from '../support/tone-peers';
import { ConsoleBrowser, ui, seenAt, until, consoleState } from '../support/console-browser';
import { TcpForward } from '../support/tcp-forward';
import { PACKAGE_ROOT } from '../../runtime/launcher';

interface Sent { at: number; msg: Record<string, unknown> }
type Analysis = { on: boolean; rmsDb: number; at: Record<string, number> };

describe('console page (Chromium, xcast preset): keyboard, 360 px, fader rate and echoes, monitor and solo, reconnect', function () {
  this.timeout(120000);
  let x: XcastProcess;
  let fwd: TcpForward;
  let tones: TonePeers;
  let mix: MixListener;
  const browser = new ConsoleBrowser();
  let page: Page;
  const sent: Sent[] = [];
  const url = () => `${fwd.url}/xcast/mixer/`;
  const gainOf = async (u: string) => (await consoleState(x.url)).tracks.find((t) => t.userId === u)?.gainDb;
  const control = (body: unknown) => fetch(`${x.url}/xcast/mixer/control`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

  before(async () => {
    const ports = await freePortMap();
    x = await startXcast({ flows: ['xcast'], portMap: ports, userDir: tmpDir('xcast-console-page-') });
    fwd = new TcpForward(Number(new URL(x.url).port));
    await fwd.listen();
    tones = new TonePeers(ports[7010]);
    tones.add('alice', { frequency: 440, amplitude: 0.25 });
    tones.add('bob', { frequency: 660, amplitude: 0.25 });
    tones.add('carol', { frequency: 550, amplitude: 0.25, room: 'studio' });
    mix = new MixListener(ports[7011]);
    await until('three tracks in GET state', 15000, async () => ((await consoleState(x.url)).tracks.length === 3 ? true : undefined));
    page = await browser.page(url(), { width: 1200, height: 900 }, (p) => p.on('websocket', (ws) => {
      ws.on('framesent', (f) => { if (typeof f.payload === 'string') sent.push({ at: Date.now(), msg: JSON.parse(f.payload) }); });
    }));
    await seenAt(page, 'the console connected with meters', 15000, () => (window as any).xcastConsole.state === 'connected' && (window as any).xcastConsole.frames > 5);
  });
  after(async () => {
    await browser.close();
    await tones?.close();
    await mix?.close();
    await fwd?.close();
    await x?.stop();
  });
  afterEach(() => { assert.deepEqual(browser.errors.splice(0), [], 'the page logged no error'); });

  /** Presses Tab until the focused element has accessible name `name` (at most 40 times); returns the presses. */
  async function tabTo(name: string): Promise<number> {
    for (let i = 1; i <= 40; i++) {
      await page.keyboard.press('Tab');
      const n = await page.evaluate(() => { const a = document.activeElement as HTMLElement | null; return a?.getAttribute('aria-label') ?? (a?.id ? document.querySelector(`label[for="${a.id}"]`)?.textContent : null) ?? null; });
      if (n === name) return i;
    }
    throw new Error(`Tab never reached ${name}`);
  }

  it('is linked from the QoS dashboard and the join page (relative links), and links back to them', async () => {
    for (const from of ['/qos/', '/xcast/join/']) {
      const html = await (await fetch(`${x.url}${from}`)).text();
      const href = /<a id="console-link" href="([^"]+)"/.exec(html)?.[1];
      assert.ok(href && !/^[a-z]+:|^\//.test(href), `${from} links to the console relatively: ${href}`);
      const r = await fetch(new URL(href, `${x.url}${from}`));
      assert.equal(r.status, 200, `${from} → ${href}`);
      assert.match(await r.text(), /<title>xcast — console<\/title>/);
    }
    for (const name of ['Join', 'QoS dashboard']) {
      const href = await page.getByRole('link', { name, exact: true }).getAttribute('href');
      assert.equal((await fetch(new URL(href!, `${x.url}/xcast/mixer/`))).status, 200, `${name}: ${href}`);
    }
  });

  it('gets its meters as binary frames at least 20 times a second and draws them (the bars follow the level)', async () => {
    const r = await page.evaluate(() => new Promise<{ frames: number; ms: number; clip: string }>((resolve) => {
      const c = (window as any).xcastConsole, f0 = c.frames, t0 = performance.now();
      setTimeout(() => resolve({ frames: c.frames - f0, ms: performance.now() - t0, clip: (document.querySelector('[role=meter][aria-label="level alice"] .bar.level') as HTMLElement).style.clipPath }), 2000);
    }));
    const perSecond = (r.frames * 1000) / r.ms;
    console.log(`      meter frames: ${perSecond.toFixed(1)} a second; alice's bar clipped at ${r.clip}`);
    assert.ok(perSecond >= 20, `${perSecond} meter frames a second`);
    // alice at −15 dBFS RMS sine-referenced −12.0: the bar covers (−12 − −60) / 66 of the scale
    const right = Number(/inset\(0(?:px)? ([\d.]+)%/.exec(r.clip)?.[1]);
    assert.ok(Math.abs((100 - right) - ((-12.04 + 60) / 66) * 100) < 3, `bar at ${100 - right} %`);
  });

  it('works from the keyboard alone: faders, pan, mute, solo, monitor, the spectrum source; the focus is shown', async () => {
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await tabTo('monitor');
    assert.notEqual(await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle), 'none', 'the focus ring shows');
    await page.keyboard.press('Space');
    assert.equal(await ui.monitor(page).getAttribute('aria-pressed'), 'true');
    await seenAt(page, 'the monitor playing', 10000, () => (window as any).xcastConsole.monitor.stats.played > 0);
    await page.keyboard.press('Space');
    assert.equal(await ui.monitor(page).getAttribute('aria-pressed'), 'false');
    await tabTo('gain alice');
    for (let i = 0; i < 4; i++) await page.keyboard.press('ArrowDown');
    assert.equal(await ui.gain(page, 'alice').inputValue(), '-2');
    await until('alice at −2 dB in the mixer', 3000, async () => ((await gainOf('alice')) === -2 ? true : undefined));
    await page.keyboard.press('PageUp');
    await until('alice at +4 dB', 3000, async () => ((await gainOf('alice')) === 4 ? true : undefined));
    await page.keyboard.press('Home');
    assert.equal(await ui.gain(page, 'alice').getAttribute('aria-valuetext'), '\u2212\u221e dB');
    await until('alice at −∞ (null)', 3000, async () => ((await gainOf('alice')) === null ? true : undefined));
    await page.keyboard.press('End');
    await until('alice at +12 dB', 3000, async () => ((await gainOf('alice')) === 12 ? true : undefined));
    await page.keyboard.press('PageDown');
    await page.keyboard.press('PageDown');
    await until('alice at 0 dB', 3000, async () => ((await gainOf('alice')) === 0 ? true : undefined));
    await tabTo('pan alice');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');
    await until('alice panned −0.1', 3000, async () => {
      const p = (await consoleState(x.url)).tracks.find((t) => t.userId === 'alice')?.pan;
      return p !== undefined && Math.abs(p - -0.1) < 1e-9 ? true : undefined;
    });
    await page.keyboard.press('End');
    assert.equal(await ui.pan(page, 'alice').getAttribute('aria-valuetext'), 'right 100 %');
    for (let i = 0; i < 20; i++) await page.keyboard.press('ArrowLeft');
    assert.equal(await ui.pan(page, 'alice').inputValue(), '0');
    assert.equal(await ui.pan(page, 'alice').getAttribute('aria-valuetext'), 'centre');
    await tabTo('mute alice');
    await page.keyboard.press('Space');
    await until('alice muted', 3000, async () => ((await consoleState(x.url)).tracks.find((t) => t.userId === 'alice')?.mute === true ? true : undefined));
    await page.keyboard.press('Enter');
    await until('alice unmuted', 3000, async () => ((await consoleState(x.url)).tracks.find((t) => t.userId === 'alice')?.mute === false ? true : undefined));
    await tabTo('solo alice');
    await page.keyboard.press('Space');
    assert.equal(await ui.solo(page, 'alice').getAttribute('aria-pressed'), 'true');
    await page.keyboard.press('Space');
    assert.equal(await ui.solo(page, 'alice').getAttribute('aria-pressed'), 'false');
    // the spectrum source: arrows on the focused select choose, a track solos it
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await tabTo('Spectrum source');
    const opts = await ui.source(page).evaluate((s: HTMLSelectElement) => Array.from(s.options).map((o) => o.text));
    assert.deepEqual(opts, ['master', 'master studio', 'alice', 'bob', 'carol (studio)']);
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    assert.equal(await ui.source(page).evaluate((s: HTMLSelectElement) => s.options[s.selectedIndex].text), 'alice');
    assert.equal(await ui.solo(page, 'alice').getAttribute('aria-pressed'), 'true');
    await page.keyboard.press('Home');
    assert.equal(await ui.solo(page, 'alice').getAttribute('aria-pressed'), 'false');
  });

  it('is usable 360 px wide: nothing wider than the screen, strips in one column, controls big enough to touch', async () => {
    const phone = await browser.page(url(), { width: 360, height: 740 });
    await seenAt(phone, 'the phone console with strips', 15000, () => document.querySelectorAll('.strip').length === 5);
    const m = await phone.evaluate(() => {
      const boxes = Array.from(document.querySelectorAll('input, button, select, [role=meter]')).map((e) => {
        const r = e.getBoundingClientRect();
        return { name: e.getAttribute('aria-label') ?? e.id, left: r.left, right: r.right, width: r.width, height: r.height, tag: e.tagName };
      });
      const lefts = new Set(Array.from(document.querySelectorAll('section.room[data-room="main"] .strip')).map((e) => Math.round(e.getBoundingClientRect().left)));
      return { scrollWidth: document.documentElement.scrollWidth, boxes, columns: lefts.size };
    });
    assert.ok(m.scrollWidth <= 360, `the page is ${m.scrollWidth} px wide`);
    assert.equal(m.columns, 1, 'one column of strips');
    for (const b of m.boxes) {
      assert.ok(b.left >= 0 && b.right <= 360, `${b.name} at ${b.left}…${b.right}`);
      if (b.tag === 'BUTTON' || b.tag === 'SELECT') assert.ok(b.height >= 44, `${b.name} is ${b.height} px high`);
      if (b.tag === 'INPUT') assert.ok(b.width >= 150 && b.height >= 24, `${b.name} is ${b.width}×${b.height}`);
    }
    // one finger: a tap on mute works
    await ui.mute(phone, 'bob').tap().catch(async () => ui.mute(phone, 'bob').click());
    await until('bob muted from the phone', 3000, async () => ((await consoleState(x.url)).tracks.find((t) => t.userId === 'bob')?.mute === true ? true : undefined));
    await ui.mute(phone, 'bob').click();
    await until('bob unmuted', 3000, async () => ((await consoleState(x.url)).tracks.find((t) => t.userId === 'bob')?.mute === false ? true : undefined));
    const shot = path.join(PACKAGE_ROOT, 'test', 'output', 'console-360.png');
    fs.mkdirSync(path.dirname(shot), { recursive: true });
    await phone.screenshot({ path: shot, fullPage: true });
    await phone.context().close();
  });

  it('a fader dragged (140 moves of the mouse, 2–3 s) sends at most ~30 updates a second, the final value always, and never jumps back from its echoes', async () => {
    const g = ui.gain(page, 'bob');
    // Watch the slider in the page: every value a user gesture gave it, and any other value it showed.
    await g.evaluate((el: HTMLInputElement) => {
      const w = { last: el.value, foreign: [] as string[], inputs: 0 };
      (window as any).__watch = w;
      el.addEventListener('input', () => { w.last = el.value; w.inputs++; });
      const tick = () => { if (el.value !== w.last) { w.foreign.push(el.value); w.last = el.value; } (window as any).__watchTimer = setTimeout(tick, 2); };
      tick();
    });
    const box = (await g.boundingBox())!;
    const y = box.y + box.height / 2;
    const xAt = (db: number) => box.x + 8 + ((db + 80) / 92) * (box.width - 16); // the thumb's centre at that value (16 px thumb)
    const from = sent.length;
    await page.mouse.move(xAt(0), y);
    await page.mouse.down();
    const t0 = Date.now();
    // A hand's drag: 140 small moves (0.5 dB each, one input event each), as fast as the browser takes them.
    for (let i = 1; i <= 140; i++) await page.mouse.move(xAt(-(70 * i) / 140), y);
    await page.mouse.up();
    const dragMs = Date.now() - t0;
    const final = await g.inputValue();
    // 1.5 s after the release (the echo hold is a time, 500 ms): every echo is in by then
    await seenAt(page, 'the hold over', 5000, (t: number) => Date.now() > t, Date.now() + 1500);
    const w = await page.evaluate(() => { clearTimeout((window as any).__watchTimer); return (window as any).__watch; });
    const mine = sent.slice(from).filter((s) => s.msg.t === 'control' && s.msg.userId === 'bob' && 'gainDb' in s.msg);
    let maxPerSecond = 0;
    for (const s of mine) maxPerSecond = Math.max(maxPerSecond, mine.filter((o) => o.at >= s.at && o.at < s.at + 1000).length);
    const minGap = Math.min(...mine.slice(1).map((s, i) => s.at - mine[i].at));
    console.log(`      drag of ${dragMs} ms: ${w.inputs} input events, ${mine.length} updates sent (at most ${maxPerSecond} in a second, gaps ≥ ${minGap} ms as the page saw them leave), final ${final} dB; values not of the hand: ${JSON.stringify(w.foreign)}`);
    assert.ok(w.inputs > mine.length, 'coalesced: fewer updates than input events');
    assert.ok(maxPerSecond <= 31, `${maxPerSecond} updates in one second`);
    assert.equal(String(mine[mine.length - 1].msg.gainDb), final, 'the final value was sent last');
    assert.deepEqual(w.foreign, [], 'the slider showed only what the hand gave it');
    assert.equal(String(await gainOf('bob')), final, 'the mixer took the final value');
  });

  it('on a slow link (300 ms each way) a drag still never jumps back: the hold lasts until the echo of its last value', async () => {
    const g = ui.gain(page, 'alice');
    await g.evaluate((el: HTMLInputElement) => {
      const w = { last: el.value, foreign: [] as string[], inputs: 0 };
      (window as any).__watch = w;
      el.addEventListener('input', () => { w.last = el.value; w.inputs++; });
      const tick = () => { if (el.value !== w.last) { w.foreign.push(el.value); w.last = el.value; } (window as any).__watchTimer = setTimeout(tick, 2); };
      tick();
    });
    fwd.delayMs = 300;
    try {
      const box = (await g.boundingBox())!;
      const y = box.y + box.height / 2;
      const xAt = (db: number) => box.x + 8 + ((db + 80) / 92) * (box.width - 16);
      await page.mouse.move(xAt(0), y);
      await page.mouse.down();
      for (let i = 1; i <= 40; i++) await page.mouse.move(xAt(-(20 * i) / 40), y);
      await page.mouse.up();
      const final = await g.inputValue();
      await until('the mixer at the final value', 5000, async () => (String(await gainOf('alice')) === final ? true : undefined));
      // the echoes come 300 ms + after the mixer took them: 1.5 s more sees them all in
      await seenAt(page, 'the echoes in', 5000, (t: number) => Date.now() > t, Date.now() + 1500);
      const w = await page.evaluate(() => { clearTimeout((window as any).__watchTimer); return (window as any).__watch; });
      console.log(`      slow link: ${w.inputs} input events, final ${final} dB; values not of the hand: ${JSON.stringify(w.foreign)}`);
      assert.deepEqual(w.foreign, [], 'the slider showed only what the hand gave it');
    } finally {
      fwd.delayMs = 0;
    }
    await g.fill('0');
    await until('alice back at 0 dB', 5000, async () => ((await gainOf('alice')) === 0 ? true : undefined));
  });

  it('holds a remote value back while its own change is fresh (500 ms), then shows the latest remote one', async () => {
    const g = ui.gain(page, 'bob');
    await g.fill('-3');
    const t0 = Date.now();
    // the page's −3 reaches the mixer first (its websocket, and an HTTP control posted at once, race: on a loaded
    // machine the control came first and the page's −3 then overrode it)
    await until('bob at −3 in the mixer', 3000, async () => ((await gainOf('bob')) === -3 ? true : undefined));
    // another tool sets −9 right after: the mixer ends at −9; the page keeps −3 until its hold is over
    assert.equal((await control({ userId: 'bob', gainDb: -9 })).status, 200);
    await until('bob at −9 in the mixer', 3000, async () => ((await gainOf('bob')) === -9 ? true : undefined));
    const heldUntil = await seenAt(page, 'the page taking −9', 3000, (l: string) => (window as any).__v(l) === '-9', 'gain bob');
    console.log(`      own −3 held for ${heldUntil - t0} ms, then the remote −9 shown`);
    assert.ok(heldUntil - t0 >= 450, `the remote value came in after ${heldUntil - t0} ms`);
    // and with no change of its own, a remote one shows at once
    const t1 = Date.now();
    await control({ userId: 'bob', gainDb: -20 });
    const at = await seenAt(page, 'the page taking −20', 3000, (l: string) => (window as any).__v(l) === '-20', 'gain bob');
    console.log(`      a control from POST /xcast/mixer/control shown ${at - t1} ms after it was posted`);
    assert.ok(at - t1 < 400, `${at - t1} ms`);
    await g.fill('0');
  });

  it('monitors through an AudioWorklet: the master of the chosen room, solo as pre-fader listen heard only here, the spectrum source', async () => {
    const analyse = (): Promise<Analysis> => page.evaluate(() => (window as any).xcastConsole.analyse([440, 550, 660]));
    const hears = async (what: string, ok: (a: Analysis) => boolean) => {
      try {
        await seenAt(page, what, 8000, (f: string) => {
          const a = (window as any).xcastConsole.analyse([440, 550, 660]);
          return new Function('a', `return (${f})(a)`)(a);
        }, ok.toString());
      } catch (e) { throw new Error(`${(e as Error).message}; heard ${JSON.stringify(await analyse())}`); }
      return analyse();
    };
    await ui.monitor(page).click();
    // heard: above −45 dB on the analyser's scale (a tone of this level shows at −25…−40); not heard: 40 dB under it
    // (what is left there is the peers' own Opus coding noise, −70…−90)
    const main = await hears('main\'s master: 440 and 660, no 550', (a) => a.at[440] > -45 && a.at[660] > -45 && a.at[550] < a.at[440] - 40);
    // bob muted in the mix, then soloed here: the monitor hears him (pre-fader, mute ignored), the mix does not
    await ui.mute(page, 'bob').click();
    await ui.solo(page, 'bob').click();
    assert.equal(await ui.source(page).evaluate((s: HTMLSelectElement) => s.options[s.selectedIndex].text), 'bob');
    const solo = await hears('bob soloed: 660 only', (a) => a.at[660] > -45 && a.at[440] < a.at[660] - 40);
    const t = Date.now();
    const inMix = await mix.levelsOver(660, t, 1000);
    const aliceInMix = await mix.levelsOver(440, t, 1000);
    console.log(`      monitor main: 440 ${main.at[440].toFixed(0)}, 660 ${main.at[660].toFixed(0)}, 550 ${main.at[550].toFixed(0)} dB; solo bob (muted in the mix): 660 ${solo.at[660].toFixed(0)}, 440 ${solo.at[440].toFixed(0)} dB; the mix meanwhile: 660 ${inMix.left.toFixed(0)}, 440 ${aliceInMix.left.toFixed(1)} dBFS`);
    assert.ok(inMix.left < -60, `bob is muted in the mix: ${inMix.left} dBFS`);
    assert.ok(aliceInMix.left > -20, `the mix still has alice: ${aliceInMix.left} dBFS`);
    await ui.mute(page, 'bob').click();
    // choosing a track as the spectrum source solos it (and only it)
    await ui.source(page).selectOption({ label: 'alice' });
    assert.deepEqual([await ui.solo(page, 'alice').getAttribute('aria-pressed'), await ui.solo(page, 'bob').getAttribute('aria-pressed')], ['true', 'false']);
    await hears('alice soloed: 440 only', (a) => a.at[440] > -45 && a.at[660] < a.at[440] - 40);
    // two soloed: the select says so
    await ui.solo(page, 'bob').click();
    assert.match(await ui.source(page).evaluate((s: HTMLSelectElement) => s.options[s.selectedIndex].text), /^soloed strips \(2\)$/);
    await hears('alice and bob soloed', (a) => a.at[440] > -45 && a.at[660] > -45);
    // another room's master: solo off, studio's mix
    await ui.source(page).selectOption({ label: 'master studio' });
    assert.equal(await ui.solo(page, 'alice').getAttribute('aria-pressed'), 'false');
    await hears('studio\'s master: 550 only', (a) => a.at[550] > -45 && a.at[440] < a.at[550] - 40 && a.at[660] < a.at[550] - 40);
    const st = await page.evaluate(() => (window as any).xcastConsole.monitor);
    console.log(`      monitor buffer: ${st.stats.depthMs.toFixed(1)} ms deep, ${st.stats.received} frames, ${st.stats.underruns} underruns, ${st.stats.dropped} samples dropped, ${st.stats.missing} missing; context at ${st.sampleRate} Hz`);
    assert.ok(st.stats.depthMs <= 100, `buffer ${st.stats.depthMs} ms`);
    await ui.source(page).selectOption({ label: 'master' });
    await ui.monitor(page).click();
    // off: the server stops the feed
    const n0 = await page.evaluate(() => (window as any).xcastConsole.monitor.frames);
    await seenAt(page, 'a meter frame 300 ms after monitor off', 5000, (t0: number) => Date.now() > t0 + 300 && (window as any).xcastConsole.frames > 0, Date.now());
    const n1 = await page.evaluate(() => (window as any).xcastConsole.monitor.frames);
    assert.ok(n1 - n0 <= 5, `${n1 - n0} monitor frames after off`);
  });

  it('passes ?token= along when the xcast asks for one, and says why it is refused without it (an xcast started with XCAST_TOKEN)', async () => {
    const guarded = await startXcast({ flows: ['xcast'], portMap: await freePortMap(), env: { XCAST_TOKEN: 'console-s3cret' } });
    try {
      const bare = await browser.page(`${guarded.url}/xcast/mixer/`);
      await seenAt(bare, 'the refusal shown', 10000, () => !document.getElementById('error')!.hidden && /401/.test(document.getElementById('error')!.textContent!));
      assert.match((await bare.getByRole('alert').textContent())!, /token: required.*\?token=/);
      assert.notEqual(await bare.evaluate(() => (window as any).xcastConsole.state), 'connected');
      await bare.context().close();
      const withToken = await browser.page(`${guarded.url}/xcast/mixer/?token=console-s3cret`);
      await seenAt(withToken, 'connected with the token', 10000, () => (window as any).xcastConsole.state === 'connected' && (window as any).xcastConsole.clientId !== null);
      assert.equal(await withToken.getByRole('alert').isHidden(), true);
      await withToken.context().close();
    } finally {
      await guarded.stop();
    }
  });

  it('reconnects its websocket by itself after a network drop, with the state as it is and its monitor back on', async () => {
    await ui.monitor(page).click();
    await seenAt(page, 'monitor frames', 5000, () => (window as any).xcastConsole.monitor.frames > 10);
    await control({ userId: 'alice', gainDb: -7.5 });
    await seenAt(page, 'alice −7.5', 3000, (l: string) => (window as any).__v(l) === '-7.5', 'gain alice');
    const t0 = Date.now();
    fwd.dropAll();
    await seenAt(page, 'the page noticing', 5000, () => (window as any).xcastConsole.state !== 'connected');
    // changed while the page was away
    await control({ userId: 'alice', gainDb: -9.5 });
    const back = await seenAt(page, 'the page back', 10000, () => (window as any).xcastConsole.state === 'connected');
    await seenAt(page, 'alice −9.5 after the reconnect', 3000, (l: string) => (window as any).__v(l) === '-9.5', 'gain alice');
    const f0 = await page.evaluate(() => (window as any).xcastConsole.monitor.frames);
    const since = sent.length;
    await seenAt(page, 'the monitor feed again', 5000, (n: number) => (window as any).xcastConsole.monitor.frames > n + 10, f0).catch(async (e) => {
      throw new Error(`${(e as Error).message}; sent since: ${JSON.stringify(sent.slice(since - 5).map((q) => q.msg))}; monitor ${JSON.stringify(await page.evaluate(() => (window as any).xcastConsole.monitor))}`);
    });
    console.log(`      connection cut: the page was connected again ${back - t0} ms later, with the gain changed meanwhile and its monitor feed`);
    await ui.monitor(page).click();
  });
});

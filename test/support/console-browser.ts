// Test support for the console page: one headless Chromium with a context per console page (two consoles are two
// operators: nothing shared), the page's errors collected, and in-page waits that time what they wait for with the
// page's own clock (Date.now(), one clock for the test and every page on this machine).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { CHROMIUM, BASE_FLAGS } from './browser';

export class ConsoleBrowser {
  private browser: Browser | undefined;
  readonly errors: string[] = [];

  /** A console page in a context of its own; `before` runs before it loads (to watch its websocket from the start). */
  async page(url: string, viewport = { width: 1200, height: 900 }, before?: (p: Page) => void): Promise<Page> {
    if (!this.browser) {
      assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium, or set XCAST_CHROMIUM`);
      this.browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: BASE_FLAGS });
    }
    const context = await this.browser.newContext({ viewport });
    // window.__v(label): the value of the range input with that accessible name, null when there is none (for waits in the page)
    await context.addInitScript(() => {
      (window as unknown as { __v: (l: string) => string | null }).__v = (l: string) => {
        const el = document.querySelector(`input[type="range"][aria-label="${l}"]`) as HTMLInputElement | null;
        return el ? el.value : null;
      };
    });
    const page = await context.newPage();
    before?.(page);
    page.on('pageerror', (e) => this.errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error' && !/^Failed to load resource|WebSocket connection to/.test(m.text())) this.errors.push(`console: ${m.text()}`); });
    await page.goto(url);
    return page;
  }

  async close(): Promise<void> {
    await this.browser?.close().catch(() => undefined);
    this.browser = undefined;
  }
}

/** The console's controls by role and accessible name, exactly as the page names them. */
export const ui = {
  gain: (p: Page, user: string): Locator => p.getByRole('slider', { name: `gain ${user}`, exact: true }),
  pan: (p: Page, user: string): Locator => p.getByRole('slider', { name: `pan ${user}`, exact: true }),
  mute: (p: Page, user: string): Locator => p.getByRole('button', { name: `mute ${user}`, exact: true }),
  solo: (p: Page, user: string): Locator => p.getByRole('button', { name: `solo ${user}`, exact: true }),
  level: (p: Page, user: string): Locator => p.getByRole('meter', { name: `level ${user}`, exact: true }),
  masterGain: (p: Page, room = 'main'): Locator => p.getByRole('slider', { name: room === 'main' ? 'master gain' : `master gain ${room}`, exact: true }),
  masterLevel: (p: Page, room = 'main'): Locator => p.getByRole('meter', { name: room === 'main' ? 'level master' : `level master ${room}`, exact: true }),
  monitor: (p: Page): Locator => p.getByRole('button', { name: 'monitor', exact: true }),
  source: (p: Page): Locator => p.getByRole('combobox', { name: 'spectrum source', exact: false }),
};

/**
 * Waits in the page for `fn(arg)` to be truthy, polling every 5 ms; resolves with the page's Date.now() when it first
 * was (or rejects after `timeoutMs`, saying `what`).
 */
export async function seenAt<A>(page: Page, what: string, timeoutMs: number, fn: (arg: A) => unknown, arg?: A): Promise<number> {
  const src = fn.toString();
  try {
    return await page.evaluate(([s, a, t]) => new Promise<number>((resolve, reject) => {
      // eslint-disable-next-line no-new-func
      const f = new Function(`return (${s as string})`)() as (x: unknown) => unknown;
      const end = Date.now() + (t as number);
      const tick = () => {
        let ok = false;
        try { ok = !!f(a); } catch { ok = false; }
        if (ok) { resolve(Date.now()); return; }
        if (Date.now() > end) { reject(new Error('timeout')); return; }
        setTimeout(tick, 5);
      };
      tick();
    }), [src, arg, timeoutMs] as const);
  } catch (e) {
    const state = await page.evaluate(() => {
      const c = (window as unknown as { xcastConsole?: { state: string; stateText: string } }).xcastConsole;
      const sliders = Object.fromEntries(Array.from(document.querySelectorAll('input[type="range"]')).map((e) => [e.getAttribute('aria-label'), (e as HTMLInputElement).value]));
      return { state: c?.state, stateText: c?.stateText, error: document.getElementById('error')?.textContent, sliders };
    }).catch(() => null);
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; page: ${JSON.stringify(state)} (${(e as Error).message.split('\n')[0]})`);
  }
}

/** Polls `fn` in Node (every 50 ms) until it gives a value, or fails after `timeoutMs` with `what`. */
export async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try { const v = await fn(); if (v !== undefined) return v; } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface ConsoleStateAnswer {
  tracks: Array<{ key: string; userId: string; trackId: number; name: string; room: string; gainDb: number | null; pan: number; mute: boolean; level: number | null; peak: number | null; qos: string; connected: boolean }>;
  masters: Array<{ room: string; gainDb: number | null; level: number | null; peak: number | null }>;
}

export async function consoleState(url: string): Promise<ConsoleStateAnswer> {
  const r = await fetch(`${url}/xcast/mixer/state`);
  assert.equal(r.status, 200, `GET /xcast/mixer/state answered ${r.status}`);
  return (await r.json()) as ConsoleStateAnswer;
}

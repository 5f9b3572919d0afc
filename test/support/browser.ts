// Test support: headless Chromium for WebRTC with playwright-core. The fake microphone's file is browser-wide, so
// there is one browser process per distinct tone file, each with a fresh user-data-dir; closeAll() ends them all.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { WavWriter } from '../../runtime/audio/wav';
import { ToneGenerator } from '../../runtime/audio/signals';

export const CHROMIUM = process.env.XCAST_CHROMIUM ?? '/usr/bin/chromium';

export const BASE_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic', '--autoplay-policy=no-user-gesture-required'];

export function webrtcFlags(toneFile?: string): string[] {
  const f = ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', '--allow-loopback-in-peer-connection'];
  if (toneFile) f.push(`--use-file-for-fake-audio-capture=${toneFile}`);
  return f;
}

const toneDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-tones-'));
process.once('exit', () => fs.rmSync(toneDir, { recursive: true, force: true }));
const tones = new Map<string, string>();

/**
 * A mono 48 kHz 16-bit WAV of a sine (1 s: a whole number of cycles for 440 and 660 Hz, so Chromium's loop of it is
 * seamless). amplitude 0.5 → RMS −9.03 dBFS.
 */
export function toneWav(frequency: number, amplitude = 0.5): string {
  const key = `${frequency}@${amplitude}`;
  const have = tones.get(key);
  if (have) return have;
  const file = path.join(toneDir, `tone-${frequency}hz-${amplitude}.wav`);
  const w = new WavWriter(file, { sampleRate: 48000, channels: 1, format: 's16' });
  const g = new ToneGenerator({ frequency, amplitude, sampleRate: 48000, channels: 1 });
  for (let i = 0; i < 100; i++) w.write(g.next(480));
  w.close();
  tones.set(key, file);
  return file;
}

interface Launched { context: BrowserContext; userDataDir: string }

/** Browsers by fake-microphone file ('' = no file: Chromium's own beep). */
export class RtcBrowsers {
  private readonly launched = new Map<string, Promise<Launched>>();

  /** The browser whose fake microphone plays `toneFile` (launched on first use). */
  context(toneFile = '', viewport = { width: 900, height: 900 }): Promise<BrowserContext> {
    let l = this.launched.get(toneFile);
    if (!l) {
      assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium, or set XCAST_CHROMIUM`);
      const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-chromium-'));
      l = chromium.launchPersistentContext(userDataDir, {
        executablePath: CHROMIUM, headless: true, viewport, args: [...BASE_FLAGS, ...webrtcFlags(toneFile || undefined)],
      }).then((context) => ({ context, userDataDir }), (e) => {
        fs.rmSync(userDataDir, { recursive: true, force: true });
        throw e;
      });
      this.launched.set(toneFile, l);
    }
    return l.then((x) => x.context);
  }

  /** A new tab in the browser for `toneFile`, with the page's console errors collected into `errors`. */
  async page(toneFile = '', errors?: string[]): Promise<Page> {
    const page = await (await this.context(toneFile)).newPage();
    if (errors) {
      page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
      // A refused request is logged by Chromium itself ("Failed to load resource"): that is the server's answer, not a page error.
      page.on('console', (m) => { if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) errors.push(`console: ${m.text()}`); });
    }
    return page;
  }

  async closeAll(): Promise<void> {
    const all = [...this.launched.values()];
    this.launched.clear();
    await Promise.all(all.map(async (p) => {
      let l: Launched;
      try { l = await p; } catch { return; }
      await l.context.close().catch(() => undefined);
      fs.rmSync(l.userDataDir, { recursive: true, force: true });
    }));
  }
}

/** Polls `fn` in the page (every 100 ms) until it returns a truthy value, or fails after `timeoutMs` with `what`. */
export async function pageWaitFor<T, A = undefined>(page: Page, what: string, timeoutMs: number, fn: (arg: A) => T | Promise<T>, arg?: A): Promise<T> {
  try {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const h = await page.waitForFunction(fn as any, arg, { timeout: timeoutMs, polling: 100 });
    return (await h.jsonValue()) as T;
  } catch (e) {
    const state = await page.evaluate(() => {
      const j = (window as unknown as { xcastJoin?: { state: string; stateText: string } }).xcastJoin;
      return { state: j?.state, stateText: j?.stateText, error: document.getElementById('error')?.textContent };
    }).catch(() => null);
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; page: ${JSON.stringify(state)} (${(e as Error).message.split('\n')[0]})`);
  }
}

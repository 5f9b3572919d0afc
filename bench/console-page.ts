// Bench: the console page's cost in the browser with N strips (`node dist/bench/console-page.js [N …]`, default 10 30
// 60): the real xcast preset, N streamproto1 tone peers over three rooms, one console page in headless Chromium;
// over 5 s, Chromium's own counters (CDP Performance.getMetrics): meter frames a second, how busy the page's main
// thread is, layouts and style recalculations a second (one per meter frame is the design: no layout thrash, where
// a page reading layout between writes makes one per meter). Written to bench/results/console-page.json.
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startXcast, freePortMap } from '../test/support/xcast-process';
import { TonePeers } from '../test/support/tone-peers';
import { CHROMIUM, BASE_FLAGS } from '../test/support/browser';
import { PACKAGE_ROOT } from '../runtime/launcher';

interface Row { strips: number; meterFramesPerS: number; mainThreadBusyPct: number; scriptPct: number; layoutPct: number; stylePct: number; layoutsPerS: number; styleRecalcsPerS: number }

async function measure(n: number): Promise<Row> {
  const ports = await freePortMap();
  const x = await startXcast({ flows: ['xcast'], portMap: ports });
  const tones = new TonePeers(ports[7010]);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: BASE_FLAGS });
  try {
    for (let i = 0; i < n; i++) tones.add(`peer${i}`, { frequency: 200 + i * 37, amplitude: 0.05 + 0.01 * (i % 10), room: i % 3 ? 'main' : `room${i % 2}` });
    const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
    await page.goto(`${x.url}/xcast/mixer/`);
    await page.waitForFunction((k) => document.querySelectorAll('.strip:not(.master)').length >= k && (window as any).xcastConsole.frames > 25, n, { timeout: 60000 });
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((q) => [q.name, q.value]));
    const frames = () => page.evaluate(() => (window as any).xcastConsole.frames as number);
    const a = await metrics(), f0 = await frames(), t0 = Date.now();
    await new Promise((r) => setTimeout(r, 5000)); // the window measured
    const z = await metrics(), f1 = await frames(), s = (Date.now() - t0) / 1000;
    const d = (k: string) => (z[k] ?? 0) - (a[k] ?? 0);
    const pct = (k: string) => Math.round((d(k) / s) * 1000) / 10;
    return {
      strips: n, meterFramesPerS: Math.round(((f1 - f0) / s) * 10) / 10, mainThreadBusyPct: pct('TaskDuration'), scriptPct: pct('ScriptDuration'),
      layoutPct: pct('LayoutDuration'), stylePct: pct('RecalcStyleDuration'), layoutsPerS: Math.round(d('LayoutCount') / s), styleRecalcsPerS: Math.round(d('RecalcStyleCount') / s),
    };
  } finally {
    await browser.close();
    await tones.close();
    await x.stop();
  }
}

async function main(): Promise<void> {
  const ns = process.argv.slice(2).map(Number).filter((v) => v > 0);
  const rows: Row[] = [];
  for (const n of ns.length ? ns : [10, 30, 60]) {
    const r = await measure(n);
    rows.push(r);
    console.log(`${r.strips} strips: ${r.meterFramesPerS} meter frames/s; main thread busy ${r.mainThreadBusyPct} % (script ${r.scriptPct} %, layout ${r.layoutPct} %, style ${r.stylePct} %); ${r.layoutsPerS} layouts/s, ${r.styleRecalcsPerS} style recalcs/s`);
  }
  const out = path.join(PACKAGE_ROOT, 'bench', 'results', 'console-page.json');
  fs.writeFileSync(out, JSON.stringify({ at: new Date().toISOString(), rows }, null, 2) + '\n');
  console.log(`written to ${path.relative(process.cwd(), out)}`);
}

main().catch((e) => { console.error(e); process.exit(1); });

import fs from 'node:fs'; import os from 'node:os'; import path from 'node:path';
import { chromium } from 'playwright-core';
import { startHub } from './fixture';
(async () => {
  const f = await startHub({ inactivityMs: 4000 });
  const t0 = Date.now();
  f.hub.on('connected', (p) => console.log('hub connected', Date.now() - t0, p.remote));
  f.hub.on('leave', (p, r) => console.log('leave', p.userId, r, Date.now() - t0));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbgc-'));
  const ctx = await chromium.launchPersistentContext(dir, { executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox','--disable-background-networking','--disable-component-update','--disable-sync','--no-first-run','--allow-loopback-in-peer-connection'] });
  const page = await ctx.newPage();
  await page.goto(`${f.base}/rooms`);
  await page.evaluate(async ({ base }) => {
    const pc = new RTCPeerConnection(); (window as any).pc = pc;
    pc.addTransceiver('audio', { direction: 'recvonly' });
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise<void>((r) => { if (pc.iceGatheringState === 'complete') r(); pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); });
    const res = await fetch(`${base}/offer`, { method: 'POST', body: JSON.stringify({ type: 'offer', sdp: pc.localDescription!.sdp, room: 'main', userId: 'listener', publish: false, listen: true }) });
    const a = await res.json();
    await pc.setRemoteDescription({ type: 'answer', sdp: a.sdp });
  }, { base: f.base });
  setTimeout(() => { console.log('peers', JSON.stringify(f.hub.rooms())); }, 9000);
  await new Promise(r => setTimeout(r, 10000));
  await ctx.close(); await f.close(); process.exit(0);
})();

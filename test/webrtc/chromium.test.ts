// The hub against real headless Chromium (its own WebRTC stack, fake microphone from a tone file): which candidates
// pair on this host, Opus in and out, trickle with mDNS names, and the server ending the peer.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { WavWriter } from '../../runtime/audio/wav';
import { ToneGenerator } from '../../runtime/audio/signals';
import { OpusDecoder, OpusEncoder } from '../../runtime/audio/opus';
import { estimateFrequency } from '../../runtime/audio/analysis';
import type { RtcPeerInfo, RtcAudioHeader } from '../../runtime/webrtc';
import { startHub, HubFixture } from './fixture';
import { waitFor } from '../support/rtc-client';

const CHROMIUM = process.env.XCAST_CHROMIUM ?? '/usr/bin/chromium';

/** A 10 s 440 Hz WAV for Chromium's fake microphone. */
async function toneWav(dir: string, hz: number): Promise<string> {
  const file = path.join(dir, `tone-${hz}.wav`);
  const w = new WavWriter(file, { sampleRate: 48000, channels: 1, format: 's16' });
  const tone = new ToneGenerator({ frequency: hz, amplitude: 0.5, sampleRate: 48000 });
  for (let i = 0; i < 1000; i++) w.write(tone.next(480));
  w.close();
  return file;
}

/** Joins from the page by the contract; `publish` takes the fake microphone. Candidates trickle through /ice-candidate. */
async function joinFromPage(page: Page, base: string, o: { userId: string; publish: boolean; listen: boolean; room?: string }): Promise<{ clientId: string; answerSdp: string }> {
  return page.evaluate(async ({ base, o }) => {
    const pc = new RTCPeerConnection();
    (window as unknown as { pc: RTCPeerConnection }).pc = pc;
    if (o.publish) {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      for (const t of stream.getTracks()) pc.addTrack(t, stream);
      if (!o.listen) pc.getTransceivers()[0].direction = 'sendonly';
    } else {
      pc.addTransceiver('audio', { direction: 'recvonly' });
    }
    const pending: Array<RTCIceCandidateInit | null> = [];
    let clientId: string | null = null;
    const post = (candidate: RTCIceCandidateInit | null) => fetch(`${base}/ice-candidate`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ clientId, candidate }) });
    pc.onicecandidate = (e) => { const c = e.candidate ? e.candidate.toJSON() : null; if (clientId) void post(c); else pending.push(c); };
    await pc.setLocalDescription(await pc.createOffer());
    const res = await fetch(`${base}/offer`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ type: 'offer', sdp: pc.localDescription!.sdp, room: o.room ?? 'main', userId: o.userId, publish: o.publish, listen: o.listen }) });
    const a = await res.json();
    if (res.status !== 200) throw new Error(JSON.stringify(a));
    clientId = a.clientId;
    await pc.setRemoteDescription({ type: 'answer', sdp: a.sdp });
    for (const c of pending) void post(c);
    return { clientId: a.clientId as string, answerSdp: a.sdp as string };
  }, { base, o });
}

/** The page's selected candidate pair and its inbound audio counters. */
function pageStats(page: Page): Promise<{ state: string; dtls: string; pair: { local: string; remote: string } | null; packetsReceived: number }> {
  return page.evaluate(async () => {
    const pc = (window as unknown as { pc: RTCPeerConnection }).pc;
    const stats = await pc.getStats();
    let pair: { local: string; remote: string } | null = null;
    let packetsReceived = 0;
    const byId = new Map<string, any>();
    stats.forEach((s) => byId.set(s.id, s));
    stats.forEach((s: any) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) {
        const p = byId.get(s.selectedCandidatePairId);
        const l = byId.get(p.localCandidateId);
        const r = byId.get(p.remoteCandidateId);
        pair = { local: `${l.address ?? l.ip}:${l.port} ${l.candidateType}`, remote: `${r.address ?? r.ip}:${r.port} ${r.candidateType}` };
      }
      if (s.type === 'inbound-rtp' && s.kind === 'audio') packetsReceived = s.packetsReceived;
    });
    const dtls = pc.getTransceivers()[0]?.sender.transport?.state ?? 'none';
    return { state: pc.connectionState, dtls, pair, packetsReceived };
  });
}

describe('webrtc hub with real Chromium', function () {
  this.timeout(60_000);
  let context: BrowserContext | null = null;
  let userDataDir = '';
  let f: HubFixture;
  let dir = '';

  before(async function () {
    if (!fs.existsSync(CHROMIUM)) this.skip();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-rtc-chromium-'));
    const wav = await toneWav(dir, 440);
    userDataDir = path.join(dir, 'profile');
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM, headless: true,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
        '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${wav}`,
        '--allow-loopback-in-peer-connection'],
    });
  });
  after(async () => {
    await context?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => { await f?.close(); });

  it('a publishing Chromium connects on an uncrossed pair (fd00::2 with itself on this host), its Opus reaches the hub as 440 Hz, it hears the mix; DELETE closes its DTLS transport at once (its connectionState stays "connected")', async () => {
    f = await startHub();
    const connected: RtcPeerInfo[] = [];
    f.hub.on('connected', (p) => connected.push(p));
    const got: Array<{ h: RtcAudioHeader; data: Buffer }> = [];
    f.hub.on('audio', (_p, h, data) => got.push({ h, data }));
    const page = await context!.newPage();
    await page.goto(`${f.base}/rooms`);
    const t0 = Date.now();
    const { clientId, answerSdp } = await joinFromPage(page, f.base, { userId: 'chrome', publish: true, listen: true });
    assert.doesNotMatch(answerSdp, /stereo=1/, 'Chromium offers no stereo=1: a mono answer');
    await waitFor(() => connected.length === 1, 10_000, 'the hub connected');
    const connectMs = Date.now() - t0;
    await waitFor(() => got.length >= 100, 15_000, '100 packets from Chromium');
    const s = await pageStats(page);
    console.log(`      Chromium: offer → connected ${connectMs} ms; selected pair ${JSON.stringify(s.pair)}; hub sees ${connected[0].remote}; frames of ${got[0].h.frameSamples} samples`);
    assert.equal(s.state, 'connected');
    assert.ok(s.pair, 'a selected pair');
    // Both ends of the pair on one family and scope (loopback with loopback, or the LAN address with itself).
    const [lip] = s.pair!.local.split(':');
    const [rip] = s.pair!.remote.split(':');
    assert.equal(lip.startsWith('127.'), rip.startsWith('127.'), `no crossed pair: ${JSON.stringify(s.pair)}`);
    const dec = new OpusDecoder({ sampleRate: 48000, channels: 1 });
    const pcm = Buffer.concat(got.slice(got.length - 50).map((g) => dec.decode(g.data)));
    const hz = estimateFrequency(new Float32Array(pcm.buffer, pcm.byteOffset, pcm.length / 4), 48000);
    assert.ok(Math.abs(hz - 440) < 1, `440 Hz from Chromium's microphone, got ${hz}`);
    for (let i = 1; i < got.length; i++) assert.equal(got[i].h.seq, (got[i - 1].h.seq + 1) >>> 0);
    assert.equal(got[got.length - 1].h.frameSamples, 480, 'Chromium sends the 10 ms frames the answer asks for (a=ptime:10)');
    // The mix to it (not in `used`): Chromium's inbound RTP counts it.
    const enc = new OpusEncoder({ sampleRate: 48000, channels: 1, frameSamples: 480 });
    const tone = new ToneGenerator({ frequency: 660, sampleRate: 48000 });
    for (let i = 0; i < 100; i++) f.hub.sendRoom('main', enc.encode(tone.next(480)), 480);
    let st = s;
    const end = Date.now() + 10_000;
    while ((st = await pageStats(page)).packetsReceived < 90 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.ok(st.packetsReceived >= 90, `Chromium received ${st.packetsReceived} of 100 packets`);
    // Its receiver reports against our sender reports: a round trip (RTCP LSR/DLSR).
    const rtts: number[] = [];
    f.hub.on('rtt', (_p, ms) => rtts.push(ms));
    const pace = setInterval(() => f.hub.sendRoom('main', enc.encode(tone.next(480)), 480), 10);
    try {
      await waitFor(() => rtts.length > 0, 15_000, 'an RTT from Chromium\'s receiver reports');
    } finally {
      clearInterval(pace);
    }
    console.log(`      RTT from Chromium's RTCP: ${rtts[0].toFixed(1)} ms`);
    assert.ok(rtts[0] >= 0 && rtts[0] < 1000);
    // DELETE: the server closes its side; Chromium's DTLS transport learns it from the close_notify.
    const del = await fetch(`${f.base}/session/${clientId}`, { method: 'DELETE' });
    assert.equal(del.status, 204);
    const t1 = Date.now();
    while ((st = await pageStats(page)).dtls === 'connected' && Date.now() - t1 < 10_000) await new Promise((r) => setTimeout(r, 50));
    console.log(`      after DELETE: Chromium connectionState ${st.state}, DTLS ${st.dtls} after ${Date.now() - t1} ms`);
    assert.equal(st.dtls, 'closed');
    await page.close();
  });

  it('a listen-only Chromium (no microphone: mDNS names only, trickled) connects by its own checks, stays in a silent room (it sends no RTCP there), and hears the mix', async () => {
    f = await startHub({ inactivityMs: 2500 });
    const left: string[] = [];
    f.hub.on('leave', (p: RtcPeerInfo, reason: string) => left.push(`${p.userId} ${reason}`));
    const connected: RtcPeerInfo[] = [];
    f.hub.on('connected', (p) => connected.push(p));
    const ctx2 = await chromium.launchPersistentContext(path.join(dir, 'profile-listen'), {
      executablePath: CHROMIUM, headless: true,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--allow-loopback-in-peer-connection'],
    });
    try {
      const page = await ctx2.newPage();
      await page.goto(`${f.base}/rooms`);
      await joinFromPage(page, f.base, { userId: 'listener', publish: false, listen: true });
      await waitFor(() => connected.length === 1, 15_000, 'the hub connected');
      const sweeps = f.hub.stats.sweeps;
      await waitFor(() => f.hub.stats.sweeps >= sweeps + 5, 10_000, 'five sweeps (> the timeout) of a silent room');
      assert.deepEqual(left, []);
      const enc = new OpusEncoder({ sampleRate: 48000, channels: 1, frameSamples: 480 });
      const tone = new ToneGenerator({ frequency: 660, sampleRate: 48000 });
      for (let i = 0; i < 50; i++) f.hub.sendRoom('main', enc.encode(tone.next(480)), 480);
      let st = await pageStats(page);
      const end = Date.now() + 10_000;
      while ((st = await pageStats(page)).packetsReceived < 45 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      console.log(`      listen-only Chromium: pair ${JSON.stringify(st.pair)}, ${st.packetsReceived} packets`);
      assert.ok(st.packetsReceived >= 45, `received ${st.packetsReceived}`);
    } finally {
      await ctx2.close();
    }
  });
});

// The RTP nodes in a real embedded Node-RED flow, with ffmpeg and GStreamer themselves at the other end.
// In: ffmpeg (Opus RTP; L24 RTP at 1 ms packets) and GStreamer (opusenc ! rtpopuspay) send tones into xcast-rtp-in →
// mixer; each arrives in the mix at its frequency (± 1 Hz) and level. Out: mixer → opus encode → xcast-rtp-out, and
// mixer → xcast-rtp-out (L24): ffmpeg (from the SDP served over HTTP, or the SDP file) and GStreamer decode the tones.
//
// Expected levels: the mixer's gain law is a plain sum at unity (gain 1, master 1); a mono track is copied to both
// channels and pan −1 / +1 keeps one side at 1 and the other at 0 (runtime/audio/mixer.ts addTrack). So a source
// tone of amplitude A reads toneLevelDb = 20·log10(A/√2) on its side: ffmpeg's lavfi sine (A = 1/8) −21.07 dBFS,
// GStreamer's audiotestsrc volume=0.25 −15.05 dBFS.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { estimateFrequency, toneLevelDb } from '../../runtime/audio/analysis';
import { OpusEncoder } from '../../runtime/audio/opus';
import { buildRtp } from '../../runtime/rtp/packet';
import { buildBye, buildCompound, buildReceiverReport, parseRtcp } from '../../runtime/rtp/rtcp';
import { parseSap } from '../../runtime/rtp/sap';
import { parseSdp } from '../../runtime/rtp/sdp';
import { helper, loadFlow, nodeModules, useNodeRed, statusOf, light, type LoadedFlow } from '../support/node-red';
import { until } from '../support/resources';
import { Tool, bindUdp, freePortPair, requireTool, steadyLevelDb, toneFrequencyNear } from '../support/rtp-tools';
import type { UsedFrame } from '../../runtime/audio/used';

// The helper's httpNode is an express app of its own, not on its server: served here for ffmpeg to GET the SDP.
let httpNode: ((req: unknown, res: unknown) => void) | null = null;
const rtpOutModule = (RED: { httpNode: (req: unknown, res: unknown) => void }) => { httpNode = RED.httpNode; return nodeModules.rtpOut(RED); };

const LAVFI_SINE_DB = 20 * Math.log10(0.125 / Math.SQRT2); // −21.07
const GST_025_DB = 20 * Math.log10(0.25 / Math.SQRT2); // −15.05

interface RtpStats { dropped: Record<string, number>; sources: number; reportsSent: number; rtpPort: number; rtcpPort: number }
const statsOf = (flow: LoadedFlow, id: string) => (flow.node(id) as unknown as { rtpStats(): RtpStats }).rtpStats();

async function bindUdpOn(address: string) {
  const s = createSocket('udp4');
  s.bind(0, address);
  await once(s, 'listening');
  return s;
}

async function listeningPort(flow: LoadedFlow, id: string): Promise<RtpStats> {
  assert.ok(await until(() => statsOf(flow, id).rtpPort > 0, 5000), 'rtp-in never listened');
  return statsOf(flow, id);
}

type Used = UsedFrame;
/**
 * The next `frames` mix frames (f32 stereo, 10 ms each) in which every one of `users` is mixed, after `settle` such
 * frames (the playout's start and the encoders' start-up), concatenated.
 */
async function mixWhere(flow: LoadedFlow, users: string[], frames: number, settle = 50, timeoutMs = 15000): Promise<Float32Array> {
  const list = flow.received('mix');
  const from = list.length;
  const ok = (m: Record<string, unknown>) => {
    const used = ((m.mixed as { used?: Used } | undefined)?.used?.entries() ?? []).map((u) => u.userId);
    return users.every((u) => used.includes(u));
  };
  let picked: Array<Record<string, unknown>> = [];
  const done = await until(() => {
    picked = list.slice(from).filter(ok);
    return picked.length >= settle + frames;
  }, timeoutMs);
  assert.ok(done, `${picked.length} of ${settle + frames} mix frames had ${users.join(' + ')}; tracks: ${JSON.stringify(flow.received('tracks').at(-1)?.payload)?.slice(0, 1500)}`);
  const out = new Float32Array(frames * 480 * 2);
  picked.slice(settle, settle + frames).forEach((m, i) => {
    const p = m.payload as Buffer;
    out.set(new Float32Array(p.buffer.slice(p.byteOffset, p.byteOffset + p.length)), i * 960);
  });
  return out;
}

function connectionEvents(flow: LoadedFlow, event: string): Array<{ userId: string; connectionId: string; reason?: string }> {
  return flow.received('events').filter((m) => m.topic === 'connection' && (m.payload as { event: string }).event === event)
    .map((m) => m.payload as { userId: string; connectionId: string; reason?: string });
}

function ffmpegSend(lavfi: string, codecArgs: string[], port: number, rtcpPort: number, extra: string[] = []): Tool {
  return new Tool('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', '-f', 'lavfi', '-i', lavfi, ...extra, ...codecArgs,
    '-f', 'rtp', `rtp://127.0.0.1:${port}?rtcpport=${rtcpPort}`]);
}

describe('rtp nodes in a flow, with ffmpeg and GStreamer', function () {
  this.timeout(40000);
  useNodeRed();
  const tools: Tool[] = [];
  const dirs: string[] = [];
  const closeAfter: Array<() => void> = [];
  before(() => {
    requireTool('ffmpeg', '-version', 'ffmpeg');
    requireTool('gst-launch-1.0', '--version', 'gstreamer1.0-tools');
  });
  afterEach(async () => {
    for (const t of tools.splice(0)) await t.stop();
    for (const c of closeAfter.splice(0)) c();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('ffmpeg (Opus, 440 Hz) and GStreamer (Opus, 660 Hz) on one port: two tracks, each at its frequency and level; BYE and silence end them', async () => {
    const flow = await loadFlow([nodeModules.rtpIn, nodeModules.mixer], [
      { id: 'in', type: 'xcast-rtp-in', port: '0', timeoutS: '1', users: JSON.stringify({ '0x440': 'ffmpeg-440', 1632: 'gst-660' }), wires: [['mixer'], ['mixer', 'events']] },
      { id: 'mixer', type: 'xcast-mixer', channels: '2', frameMs: '10', settingsStore: 'none', wires: [['mix'], ['tracks'], [], [], []] },
    ], { helpers: ['events', 'mix', 'tracks'] });
    // One source to each side, so each tone is measured alone.
    flow.node('mixer').receive({ topic: 'pan', userId: 'ffmpeg-440', payload: -1 });
    flow.node('mixer').receive({ topic: 'pan', userId: 'gst-660', payload: 1 });
    const { rtpPort, rtcpPort } = await listeningPort(flow, 'in');
    await statusOf('in', light('yellow', 'ring', new RegExp(`RTP :${rtpPort}, 0 sources`)));

    tools.push(ffmpegSend('sine=f=440:d=4:sample_rate=48000', ['-c:a', 'libopus', '-b:a', '96k', '-ssrc', '1088', '-rtpflags', 'send_bye'], rtpPort, rtcpPort));
    tools.push(new Tool('gst-launch-1.0', ['-q', 'audiotestsrc', 'is-live=true', 'freq=660', 'volume=0.25', 'num-buffers=180', '!', 'audioconvert', '!', 'audioresample', '!',
      'opusenc', 'bitrate=96000', '!', 'rtpopuspay', 'pt=96', 'ssrc=1632', '!', 'udpsink', 'host=127.0.0.1', `port=${rtpPort}`]));

    const mix = await mixWhere(flow, ['ffmpeg-440', 'gst-660'], 150);
    const opens = connectionEvents(flow, 'open');
    assert.deepEqual(opens.map((o) => o.userId).sort(), ['ffmpeg-440', 'gst-660']);
    assert.notEqual(opens[0].connectionId, opens[1].connectionId);
    const left = toneFrequencyNear(mix, 2, 0, 440, 48000);
    const right = toneFrequencyNear(mix, 2, 1, 660, 48000);
    assert.ok(Math.abs(left - 440) <= 1, `ffmpeg's tone at ${left} Hz`);
    assert.ok(Math.abs(right - 660) <= 1, `GStreamer's tone at ${right} Hz`);
    const l = steadyLevelDb(mix, 2, 0, 440, 48000), r = steadyLevelDb(mix, 2, 1, 660, 48000);
    assert.ok(Math.abs(l - LAVFI_SINE_DB) <= 1, `ffmpeg's tone at ${l.toFixed(2)} dBFS, expected ${LAVFI_SINE_DB.toFixed(2)}`);
    assert.ok(Math.abs(r - GST_025_DB) <= 1, `GStreamer's tone at ${r.toFixed(2)} dBFS, expected ${GST_025_DB.toFixed(2)}`);
    assert.ok(toneLevelDb(mix, 2, 1, 440, 48000) < -60, 'the 440 Hz track leaks right');
    const tracks = flow.received('tracks').at(-1)!.payload as Array<{ userId: string; codec: string; lost: number; connectionId: string }>;
    assert.deepEqual(tracks.map((t) => t.codec), ['opus', 'opus']);
    assert.deepEqual(new Set(tracks.map((t) => t.connectionId)), new Set(opens.map((o) => o.connectionId)));

    // ffmpeg ends with an RTCP BYE; GStreamer's bare udpsink sends no RTCP: its track ends after the 1 s timeout.
    assert.equal(await tools[0].exited, 0, tools[0].err);
    assert.equal(await tools[1].exited, 0, tools[1].err);
    assert.ok(await until(() => connectionEvents(flow, 'close').length === 2, 5000), JSON.stringify(connectionEvents(flow, 'close')));
    const closes = connectionEvents(flow, 'close');
    assert.equal(closes.find((c) => c.userId === 'ffmpeg-440')?.reason, 'bye');
    assert.equal(closes.find((c) => c.userId === 'gst-660')?.reason, 'timeout');
    assert.deepEqual(Object.values(statsOf(flow, 'in').dropped).reduce((a, b) => a + b, 0), 0);
  });

  it('ffmpeg L24 at 1 ms packets (SDP in the node): 48-sample frames in the playout, 440 Hz at its level; a garbage flood is dropped, counted, the tone goes on', async () => {
    const sdp = 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=ffmpeg L24\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 0 RTP/AVP 97\r\na=rtpmap:97 L24/48000/1\r\n';
    const flow = await loadFlow([nodeModules.rtpIn, nodeModules.mixer], [
      { id: 'in', type: 'xcast-rtp-in', port: '0', sdp, wires: [['mixer'], ['mixer', 'events']] },
      { id: 'mixer', type: 'xcast-mixer', channels: '2', frameMs: '10', settingsStore: 'none', wires: [['mix'], ['tracks'], [], [], []] },
    ], { helpers: ['events', 'mix', 'tracks'] });
    const { rtpPort, rtcpPort } = await listeningPort(flow, 'in');
    // `-af asetnsamples=n=48` makes 1 ms frames, one per packet; `-payload_type 97` the SDP's type.
    tools.push(ffmpegSend('sine=f=440:d=8:sample_rate=48000', ['-c:a', 'pcm_s24be', '-payload_type', '97', '-ssrc', '77'], rtpPort, rtcpPort, ['-af', 'asetnsamples=n=48:p=0']));
    const user = 'rtp-0000004d';
    const before = await mixWhere(flow, [user], 150);
    const track = (flow.received('tracks').at(-1)!.payload as Array<{ userId: string; frameSamples: number; codec: string; sampleRate: number }>).find((t) => t.userId === user)!;
    assert.deepEqual([track.codec, track.sampleRate, track.frameSamples], ['pcm_f32le', 48000, 48]);

    // The flood: each kind of garbage a port sees, none of it a packet of the source.
    const junk = await bindUdp();
    const kinds: Array<[string, Buffer, number]> = [];
    for (let i = 0; i < 500; i++) {
      kinds.push(['malformed', Buffer.from([0x00, 0x61, i & 0xff, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9]), rtpPort]); // version 0
      kinds.push(['malformed', Buffer.alloc(i % 12, 0x80), rtpPort]); // shorter than the header
      kinds.push(['payload-type', buildRtp({ payloadType: 111, seq: i, timestamp: 0, ssrc: 9 }, Buffer.alloc(30)), rtpPort]);
      kinds.push(['pcm-size', buildRtp({ payloadType: 97, seq: i, timestamp: 0, ssrc: 77 }, Buffer.alloc(3 * 48 + 1)), rtpPort]); // the source's SSRC, a broken frame
      kinds.push(['rtcp-malformed', Buffer.from([0x81, 0xc9, 0xff, 0xff, 1, 2, 3, 4]), rtcpPort]);
    }
    // In bursts the socket's buffer holds, each counted before the next: loopback UDP drops what overflows it.
    const total = () => Object.values(statsOf(flow, 'in').dropped).reduce((a, b) => a + b, 0);
    for (let k = 0; k < kinds.length; k += 50) {
      for (const [, b, p] of kinds.slice(k, k + 50)) junk.send(b, p, '127.0.0.1');
      const n = Math.min(kinds.length, k + 50);
      assert.ok(await until(() => total() >= n, 5000), `${total()} of ${n} counted: ${JSON.stringify(statsOf(flow, 'in').dropped)}`);
    }
    const want: Record<string, number> = { 'too-many-sources': 0, 'opus-toc': 0 };
    for (const [k] of kinds) want[k] = (want[k] ?? 0) + 1;
    const dropped = statsOf(flow, 'in').dropped;
    assert.deepEqual(dropped, want);
    junk.close();
    await statusOf('in', (s) => /dropped/.test(s.text ?? ''), 'a dropped count');

    const after = await mixWhere(flow, [user], 150, 10);
    for (const [name, mix] of [['before', before], ['after', after]] as const) {
      const f = estimateFrequency(mix, 48000, 2, 0);
      assert.ok(Math.abs(f - 440) <= 1, `${name} the flood: ${f} Hz`);
      const db = steadyLevelDb(mix, 2, 0, 440, 48000);
      assert.ok(Math.abs(db - LAVFI_SINE_DB) <= 0.2, `${name} the flood: ${db.toFixed(2)} dBFS, expected ${LAVFI_SINE_DB.toFixed(2)}`);
    }
    assert.equal(statsOf(flow, 'in').sources, 1, 'the garbage made no source');
    // Junk of its SSRC (seqs 0…499, far from ffmpeg's random start) taken in would be duplicates or a restart.
    const st = (flow.received('tracks').at(-1)!.payload as Array<{ userId: string; duplicate: number; resets: number }>).find((t) => t.userId === user)!;
    assert.deepEqual([st.duplicate, st.resets], [0, 0], `the pcm-size junk of its SSRC touched the track: ${JSON.stringify(st)}`);
  });

  it('RTP statistics: a sender\'s 16-bit seq wraps, its losses, duplicates and reordering are the track\'s counts and its RR\'s', async () => {
    // The QoS path of every ingest: the mixer's track states and the connection events into the admin aggregator,
    // its state to the mixeradmin client, which answers getMetrics.
    const flow = await loadFlow([nodeModules.rtpIn, nodeModules.mixer, nodeModules.adminAggregator, nodeModules.mixeradminClient], [
      { id: 'in', type: 'xcast-rtp-in', port: '0', users: JSON.stringify({ '127.0.0.1': 'by-address' }), wires: [['mixer'], ['mixer', 'events', 'agg']] },
      { id: 'mixer', type: 'xcast-mixer', channels: '2', frameMs: '10', jitterFrames: '6', settingsStore: 'none', wires: [['mix'], ['tracks', 'agg'], [], [], []] },
      { id: 'agg', type: 'xcast-admin-aggregator', intervalMs: '100', wires: [['client']] },
      { id: 'client', type: 'xcast-mixeradmin-client', wires: [['metrics']] },
    ], { helpers: ['events', 'mix', 'tracks', 'metrics'] });
    const { rtpPort, rtcpPort } = await listeningPort(flow, 'in');
    // The sender: RTP from an even port, RTCP (its RR) to the port above it.
    let tx, rx;
    for (;;) {
      tx = await bindUdp();
      if ((tx.address().port & 1) === 0) {
        try { rx = await bindUdp(tx.address().port + 1); break; } catch { /* taken */ }
      }
      tx.close();
    }
    const rrs: ReturnType<typeof parseRtcp>[] = [];
    rx.on('message', (m) => rrs.push(parseRtcp(m)));
    const enc = new OpusEncoder({ channels: 1, frameSamples: 960, bitrate: 32000 });
    const pcm = Buffer.alloc(960 * 4);
    const ssrc = 0xfeed;
    const seq0 = 65500; // wraps after 36 packets
    const lost = new Set([10, 40, 41]);
    const dup = new Set([20, 50]);
    const swap = new Set([30, 60]); // sent after the next one
    const N = 100;
    const packet = (i: number) => {
      for (let k = 0; k < 960; k++) pcm.writeFloatLE(0.2 * Math.sin((2 * Math.PI * 440 * (i * 960 + k)) / 48000), k * 4);
      return buildRtp({ payloadType: 96, seq: (seq0 + i) & 0xffff, timestamp: i * 960, ssrc }, enc.encode(pcm));
    };
    const t0 = Date.now();
    let i = 0;
    await new Promise<void>((resolve) => {
      // Paced as a live 20 ms stream: each tick sends what the clock says is due.
      const timer = setInterval(() => {
        const due = Math.min(N, Math.floor((Date.now() - t0) / 20) + 1);
        for (; i < due; i++) {
          if (lost.has(i)) continue;
          if (swap.has(i)) { tx.send(packet(i + 1), rtpPort, '127.0.0.1'); tx.send(packet(i), rtpPort, '127.0.0.1'); i++; continue; }
          tx.send(packet(i), rtpPort, '127.0.0.1');
          if (dup.has(i)) tx.send(packet(i), rtpPort, '127.0.0.1');
        }
        if (i >= N) { clearInterval(timer); resolve(); }
      }, 5);
    });
    // RFC 3550 §6.1: the RR's sender (the rtp-in) sends no SR here; a BYE ends the source at once.
    const trackOf = () => (flow.received('tracks').at(-1)?.payload as Array<Record<string, number | string>> | undefined)?.find((t) => t.userId === 'by-address');
    assert.ok(await until(() => (trackOf()?.received as number) === N - lost.size && (trackOf()?.lost as number) === lost.size, 5000), JSON.stringify(trackOf()));
    const st = trackOf()!;
    assert.deepEqual([st.lost, st.duplicate, st.outOfOrder, st.late], [lost.size, dup.size, swap.size, 0]);
    // The playout's seq is the extended one: no restart at the wrap.
    assert.equal(st.resets, 0);
    assert.equal(st.lastSeq, seq0 + N - 1);
    // getMetrics says the same of the user.
    let entry: Record<string, unknown> | undefined;
    assert.ok(await until(() => {
      flow.node('client').receive({ topic: 'getMetrics' });
      const a = flow.received('metrics').at(-1)?.payload as { aggregatedStatesSnapshot?: { connections?: Record<string, Record<string, unknown>> } } | undefined;
      entry = a?.aggregatedStatesSnapshot?.connections?.['by-address'];
      return entry?.packetsLost === lost.size && entry?.packetsReceived === N - lost.size;
    }, 5000), JSON.stringify(entry));
    assert.deepEqual([entry!.packetsLost, entry!.packetsDuplicate, entry!.packetsOutOfOrder, entry!.packetsLate, entry!.role], [lost.size, dup.size, swap.size, 0, 'rtp']);
    assert.equal(typeof entry!.jitterMs, 'number');
    // Its RR (sent every 5 s): the same loss, the extended highest seq.
    assert.ok(await until(() => rrs.length > 0, 7000), 'no RR came back');
    const rr = rrs[0][0];
    assert.equal(rr.type, 'rr');
    if (rr.type === 'rr') {
      assert.equal(rr.reports[0].ssrc, ssrc);
      assert.equal(rr.reports[0].cumulativeLost, lost.size - dup.size); // RFC 3550 A.3: duplicates count as received
      assert.equal(rr.reports[0].highestSeq, seq0 + N - 1);
    }
    tx.send(buildCompound([buildReceiverReport(ssrc), buildBye([ssrc])]), rtcpPort, '127.0.0.1');
    assert.ok(await until(() => connectionEvents(flow, 'close').some((c) => c.reason === 'bye'), 3000));
    tx.close();
    rx.close();
  });

  it('an SSRC flood from one host fills its share (per address, 16), not the table: a sender from elsewhere still gets in', async () => {
    const flow = await loadFlow([nodeModules.rtpIn], [
      { id: 'in', type: 'xcast-rtp-in', port: '0', maxSources: '20', wires: [[], ['events']] },
    ], { helpers: ['events'] });
    const { rtpPort } = await listeningPort(flow, 'in');
    const opus = new OpusEncoder({ channels: 2, frameSamples: 480 }).encode(Buffer.alloc(480 * 8));
    // 200 SSRCs from 127.0.0.2, 20 sockets of their own (ports), in bursts the socket's buffer holds
    const flooders = await Promise.all(Array.from({ length: 20 }, () => bindUdpOn('127.0.0.2')));
    for (let k = 0; k < 200; k += 40) {
      for (let i = k; i < k + 40; i++) flooders[i % 20].send(buildRtp({ payloadType: 97, seq: 1, timestamp: 0, ssrc: 0x10000 + i }, opus), rtpPort, '127.0.0.1');
      assert.ok(await until(() => statsOf(flow, 'in').sources + statsOf(flow, 'in').dropped['too-many-sources'] >= k + 40, 5000), JSON.stringify(statsOf(flow, 'in')));
    }
    assert.deepEqual([statsOf(flow, 'in').sources, statsOf(flow, 'in').dropped['too-many-sources']], [16, 184]);
    // a sender from 127.0.0.1 comes in after it
    const tx = await bindUdp();
    tx.send(buildRtp({ payloadType: 97, seq: 1, timestamp: 0, ssrc: 0xabc }, opus), rtpPort, '127.0.0.1');
    assert.ok(await until(() => flow.received('events').some((m) => (m.payload as { event?: string }).event === 'open' && m.userId === 'rtp-00000abc'), 5000), 'the sender from elsewhere was let in');
    assert.equal(statsOf(flow, 'in').sources, 17);
    for (const f of [...flooders, tx]) f.close();
  });

  it('the mix out: ffmpeg (SDP over HTTP) and GStreamer decode the Opus RTP, ffmpeg the L24 (SDP file); SAP announces it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'xcast-rtp-out-'));
    dirs.push(dir);
    const [pMix, pGst, pL24] = [await freePortPair(), await freePortPair(), await freePortPair()];
    const sap = await bindUdp();
    const saps: Buffer[] = [];
    sap.on('message', (m) => saps.push(m));
    const l24File = path.join(dir, 'l24.sdp');
    const flow = await loadFlow([nodeModules.mixer, nodeModules.opusEncode, rtpOutModule], [
      // A deep buffer: the tone comes from this test's own timer, which a loaded machine makes late.
      { id: 'mixer', type: 'xcast-mixer', channels: '2', frameMs: '10', jitterFrames: '10', settingsStore: 'none', wires: [['enc', 'outL24'], [], [], [], []] },
      { id: 'enc', type: 'xcast-opus-encode', frameMs: '20', bitrate: '128', wires: [['outMix', 'outGst']] },
      { id: 'outMix', type: 'xcast-rtp-out', name: 'mix', codec: 'opus', port: String(pMix), sap: true, sapAddress: '127.0.0.1', sapPort: String(sap.address().port), wires: [] },
      { id: 'outGst', type: 'xcast-rtp-out', name: 'for gst', codec: 'opus', port: String(pGst), wires: [] },
      { id: 'outL24', type: 'xcast-rtp-out', name: 'l24', codec: 'L24', ptimeMs: '1', port: String(pL24), sdpFile: l24File, wires: [] },
    ]);
    const server = createServer((req, res) => httpNode!(req, res)).listen(0, '127.0.0.1');
    await once(server, 'listening');
    closeAfter.push(() => server.close());
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const mixSdp = await (await fetch(`${base}/xcast/rtp/mix.sdp`)).text();
    assert.equal(parseSdp(mixSdp).audio[0].port, pMix);
    const gstSdp = parseSdp(await (await fetch(`${base}/xcast/rtp/for-gst.sdp`)).text());
    assert.equal(gstSdp.audio[0].port, pGst);
    assert.equal(gstSdp.audio[0].formats[0].encoding.toLowerCase(), 'opus');
    assert.match(readFileSync(l24File, 'utf8'), /a=rtpmap:96 L24\/48000\/2/);

    // The tone: 440 Hz left, 660 Hz right, amplitude 0.25, fed to the mixer at a live 10 ms pace.
    const frame = (i: number) => {
      const b = Buffer.alloc(480 * 2 * 4);
      for (let k = 0; k < 480; k++) {
        const t = (i * 480 + k) / 48000;
        b.writeFloatLE(0.25 * Math.sin(2 * Math.PI * 440 * t), k * 8);
        b.writeFloatLE(0.25 * Math.sin(2 * Math.PI * 660 * t), k * 8 + 4);
      }
      return { topic: 'audio', payload: b, userId: 'tone', audio: { codec: 'pcm_f32le', sampleRate: 48000, channels: 2, frameSamples: 480, seq: i, captureTime: 0, trackId: 1 } };
    };
    const t0 = Date.now();
    let sent = 0;
    const pace = setInterval(() => {
      const due = Math.floor((Date.now() - t0) / 10) + 1;
      for (; sent < due; sent++) flow.node('mixer').receive(frame(sent));
    }, 5);
    try {
      // The receivers start on a running stream (a receiver that joins late is the usual case, and the mix's first
      // frames are the playout's prebuffering).
      const out = (id: string) => (flow.node(id) as unknown as { rtpOut: { sender: { packetCount: number } } }).rtpOut.sender;
      assert.ok(await until(() => out('outL24').packetCount >= 500 && out('outMix').packetCount >= 25, 5000), 'the rtp outs sent nothing');
      const seconds = 2;
      const ffArgs = (input: string) => ['-hide_banner', '-loglevel', 'error', '-nostdin', '-protocol_whitelist', 'file,udp,rtp,http,tcp', '-i', input,
        '-t', String(seconds + 0.5), '-f', 'f32le', '-ac', '2', '-ar', '48000', '-'];
      const ff = new Tool('ffmpeg', ffArgs(`${base}/xcast/rtp/mix.sdp`));
      const ffL24 = new Tool('ffmpeg', ffArgs(l24File));
      const gst = new Tool('gst-launch-1.0', ['-q', 'udpsrc', 'address=127.0.0.1', `port=${pGst}`, 'caps=application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload=96', '!',
        'rtpjitterbuffer', '!', 'rtpopusdepay', '!', 'opusdec', '!', 'audioconvert', '!', 'audio/x-raw,format=F32LE,channels=2,rate=48000', '!', 'fdsink', 'fd=1']);
      tools.push(ff, ffL24, gst);
      const need = (seconds + 0.5) * 48000 * 8;
      assert.ok(await until(() => ff.outBytes >= need && ffL24.outBytes >= need && gst.outBytes >= need, 20000),
        `decoded bytes: ffmpeg ${ff.outBytes} (${ff.err}), ffmpeg L24 ${ffL24.outBytes} (${ffL24.err}), gst ${gst.outBytes} (${gst.err}) of ${need}`);
      for (const [name, t] of [['ffmpeg Opus', ff], ['ffmpeg L24', ffL24], ['GStreamer Opus', gst]] as const) {
        const pcm = t.f32();
        const mid = pcm.subarray(pcm.length - seconds * 48000 * 2);
        const l = estimateFrequency(mid, 48000, 2, 0), r = estimateFrequency(mid, 48000, 2, 1);
        assert.ok(Math.abs(l - 440) <= 1, `${name}: left ${l} Hz`);
        assert.ok(Math.abs(r - 660) <= 1, `${name}: right ${r} Hz`);
        // The steady level: the median of four 0.5 s windows (a frame the shared machine made late is concealed once).
        const db = steadyLevelDb(mid, 2, 0, 440, 48000);
        assert.ok(Math.abs(db - GST_025_DB) <= (name === 'ffmpeg L24' ? 0.2 : 1), `${name}: ${db.toFixed(2)} dBFS, expected ${GST_025_DB.toFixed(2)}`);
      }
    } finally {
      clearInterval(pace);
    }
    assert.ok(saps.length >= 1, 'no SAP announcement');
    const ann = parseSap(saps[0]);
    assert.equal(ann.deletion, false);
    assert.equal(ann.payload, mixSdp);
    await helper.unload();
    assert.ok(await until(() => saps.some((m) => parseSap(m).deletion), 3000), 'no SAP deletion at close');
    sap.close();
  });

  it('refuses a bad mapping, a bad SDP and a bad address naming the field; a mix-minus goes to the node set to its user, to another it is said once', async () => {
    const flow = await loadFlow([nodeModules.rtpIn, nodeModules.rtpOut], [
      { id: 'badUsers', type: 'xcast-rtp-in', port: '0', users: '{"not-an-address": "x"}', wires: [[], []] },
      { id: 'badSdp', type: 'xcast-rtp-in', port: '0', sdp: 'v=0\nm=audio 5004 RTP/AVP 97\n', wires: [[], []] },
      { id: 'badHost', type: 'xcast-rtp-out', host: 'example.com', wires: [] },
      { id: 'out', type: 'xcast-rtp-out', codec: 'opus', port: String(await freePortPair()), wires: [] },
      { id: 'outAlice', type: 'xcast-rtp-out', name: 'alice', codec: 'opus', port: String(await freePortPair()), targetUserId: 'alice', wires: [] },
    ]);
    await statusOf('badUsers', light('red', 'ring', /bad users/));
    await statusOf('badSdp', light('red', 'ring', /bad sdp/));
    await statusOf('badHost', light('red', 'ring', /bad host/));
    const opus = new OpusEncoder({ channels: 2, frameSamples: 960 }).encode(Buffer.alloc(960 * 8));
    const msg = { topic: 'audio', payload: opus, targetUserId: 'alice', audio: { codec: 'opus', sampleRate: 48000, channels: 2, frameSamples: 960, seq: 0, captureTime: 0, trackId: 1 } };
    for (const id of ['out', 'outAlice']) {
      flow.node(id).receive(msg);
      flow.node(id).receive({ ...msg });
      flow.node(id).receive({ ...msg, targetUserId: undefined }); // the room's mix: not alice's node's
    }
    const c = await flow.nextCaught();
    assert.match(c.error.message, /mix-minus for "alice"/);
    await new Promise((r) => setImmediate(r));
    assert.equal(flow.caught.length, 1, 'said once');
    const sent = (id: string) => (flow.node(id) as unknown as { rtpOut: { sender: { packetCount: number } } }).rtpOut.sender.packetCount;
    assert.deepEqual([sent('out'), sent('outAlice')], [1, 2], 'the mix to the mix node, alice\'s mix-minus to hers');
  });
});

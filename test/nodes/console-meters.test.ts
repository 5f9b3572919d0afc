// Node test: the console on a real mixer's output 5 — meter frames computed on the mix thread reach a page as binary
// after their layout, at ≥ 20 a second; GET state (with or without a page open) reads a −12 dBFS sine as −12 (the AES17 law); a page's monitor
// with a solo plays that track (s16, the 'A' header) at its level; a room's master set from a page comes back as params.
import assert from 'node:assert/strict';
import type { NodeAPI } from 'node-red';
import request from 'supertest';
import WebSocket from 'ws';
import { audioMsg, helper, loadFlow, useNodeRed, type LoadedFlow } from '../support/node-red';
import { until } from '../support/resources';
import { streamKey } from '../../runtime/audio/stream-key';
import { ToneGenerator } from '../../runtime/audio/signals';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const consoleNode = require('../../nodes/console/console') as (RED: NodeAPI) => void;
// eslint-disable-next-line @typescript-eslint/no-var-requires
const mixerNode = require('../../nodes/mixer/mixer') as (RED: NodeAPI) => void;
let red: NodeAPI | null = null;
const consoleModule = (RED: NodeAPI) => { red = RED; return consoleNode(RED); };
const app = () => (red as unknown as { httpNode: Parameters<typeof request>[0] }).httpNode;
const wsUrl = () => `ws://127.0.0.1:${(helper as { _port: number })._port}/xcast/mixer/ws`;
const ALICE = streamKey({ userId: 'alice', trackId: 1, connectionId: 'c-alice' });
const AMP_12 = Math.pow(10, -12 / 20);

/** Alice plays a 1 kHz sine at −12 dBFS, a 10 ms frame every 10 ms, while `p` runs. */
async function whileAlicePlays<T>(f: LoadedFlow, p: () => Promise<T>): Promise<T> {
  const tone = new ToneGenerator({ frequency: 1000, amplitude: AMP_12, sampleRate: 48000 });
  let seq = 0;
  const send = () => f.node('mix').receive(audioMsg({ userId: 'alice', connectionId: 'c-alice', seq: seq++, payload: tone.next(480) }));
  send();
  const timer = setInterval(send, 10);
  try { return await p(); } finally { clearInterval(timer); }
}

describe('console on the mixer\'s meters and monitor', function () {
  this.timeout(30_000);
  useNodeRed();
  let ws: WebSocket | null = null;
  afterEach(() => { ws?.terminate(); ws = null; });

  it('meters: layout then frames at ≥ 20/s; a −12 dBFS sine reads −12 ± 0.5; the solo monitor plays it at −12; a room master from the page comes back', async () => {
    const f = await loadFlow([mixerNode, consoleModule], [
      { id: 'mix', type: 'xcast-mixer', sampleRate: '48000', channels: '2', frameMs: '10', settingsStore: 'none', wires: [[], ['con'], [], [], ['con']] },
      { id: 'con', type: 'xcast-console', wires: [['mix']] },
    ]);
    await whileAlicePlays(f, async () => {
      // No page open: GET state turns metering on for a while (a polling tool reads levels too).
      const end = Date.now() + 5000;
      for (;;) {
        const t = ((await request(app()).get('/xcast/mixer/state').expect(200)).body.tracks as Array<{ level: number | null }>)[0];
        if (t && t.level !== null && Math.abs(t.level + 12) <= 0.5) break;
        assert.ok(Date.now() < end, `no level without a page: ${JSON.stringify(t)}`);
      }
      const text: Array<Record<string, unknown>> = [];
      const meters: Array<{ at: number; buf: Buffer }> = [];
      const audio: Buffer[] = [];
      const w = (ws = new WebSocket(wsUrl()));
      w.on('message', (d: Buffer, bin) => {
        if (!bin) text.push(JSON.parse(String(d)));
        else if (d[0] === 0x4d) meters.push({ at: performance.now(), buf: d });
        else if (d[0] === 0x41) audio.push(d);
      });
      await new Promise((r) => w.once('open', r));
      assert.ok(await until(() => meters.length >= 30, 10_000), `${meters.length} meter frames`);
      const layout = text.find((m) => m.t === 'layout')?.layout as { layoutId: number; tracks: Array<{ key: string }>; rooms: string[] };
      assert.ok(layout, 'a layout came');
      assert.ok(text.findIndex((m) => m.t === 'layout') >= 0);
      const last = meters[meters.length - 1].buf;
      assert.equal(last.readUInt32LE(8), layout.layoutId);
      const span = (meters[meters.length - 1].at - meters[10].at) / 1000;
      const rate = (meters.length - 11) / span;
      assert.ok(rate >= 20, `${rate.toFixed(1)} meter frames a second`);

      // GET state: the track's level (pre-fader) and the master's.
      const deadline = Date.now() + 5000;
      let st: { tracks: Array<{ key: string; level: number | null; peak: number | null }>; masters: Array<{ room: string; level: number | null }> };
      for (;;) {
        st = (await request(app()).get('/xcast/mixer/state').expect(200)).body;
        const t = st.tracks.find((x) => x.key === ALICE);
        if (t && t.level !== null && Math.abs(t.level + 12) <= 0.5) break;
        assert.ok(Date.now() < deadline, `alice's level: ${JSON.stringify(st)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const a = st.tracks.find((x) => x.key === ALICE)!;
      assert.ok(Math.abs(a.peak! + 12) <= 0.5, `peak ${a.peak}`);
      assert.ok(Math.abs(st.masters[0].level! + 12) <= 0.5, `master level ${st.masters[0].level}`);

      // The monitor with alice soloed (PFL): s16 frames with the 'A' header, at her level even with her fader down.
      w.send(JSON.stringify({ t: 'control', userId: 'alice', gainDb: -20 }));
      w.send(JSON.stringify({ t: 'monitor', on: true, room: 'main', solo: [ALICE] }));
      assert.ok(await until(() => audio.length >= 60, 10_000), `${audio.length} monitor frames`);
      const frame = audio[audio.length - 1];
      const ch = frame[1];
      const n = frame.readUInt16LE(2);
      assert.equal(ch, 2);
      assert.equal(frame.length, 8 + ch * n * 2);
      let sum = 0;
      let count = 0;
      for (const b of audio.slice(-30)) for (let o = 8; o < b.length; o += 2) { const x = b.readInt16LE(o) / 32767; sum += x * x; count++; }
      const level = 10 * Math.log10(sum / count) + 3.0103;
      assert.ok(Math.abs(level + 12) <= 0.5, `the soloed monitor reads ${level.toFixed(2)} dBFS`);

      w.send(JSON.stringify({ t: 'master', room: 'blue', gainDb: -3 }));
      assert.ok(await until(() => text.some((m) => m.t === 'params' && (m.masters as Record<string, number>)?.blue === -3), 5000), 'the blue room\'s master came back');
      const masters = (await request(app()).get('/xcast/mixer/state').expect(200)).body.masters as Array<{ room: string; gainDb: number }>;
      assert.equal(masters.find((m) => m.room === 'blue')?.gainDb, -3);
    });
  });

  it('a mixer redeployed alone (metering off again) is asked again for meters and the page\'s monitor', async () => {
    const mixer = { id: 'mix', type: 'xcast-mixer', z: 'tab', x: 100, y: 100, sampleRate: '48000', channels: '2', frameMs: '10', settingsStore: 'none', wires: [[], ['con'], [], [], ['con']] };
    const flow = [{ id: 'tab', type: 'tab', label: 't' }, mixer, { id: 'con', z: 'tab', x: 300, y: 100, type: 'xcast-console', wires: [['mix']] }];
    await helper.load([mixerNode, consoleModule], flow);
    const meters: number[] = [];
    let audio = 0;
    const w = (ws = new WebSocket(wsUrl()));
    w.on('message', (d: Buffer, bin) => { if (bin && d[0] === 0x4d) meters.push(performance.now()); if (bin && d[0] === 0x41) audio++; });
    await new Promise((r) => w.once('open', r));
    w.send(JSON.stringify({ t: 'monitor', on: true, room: 'main', solo: [] }));
    assert.ok(await until(() => meters.length >= 5 && audio >= 5, 10_000), 'meters and monitor before');
    // Only the mixer is replaced (a 'nodes' deploy of a changed mixer): the console and the page stay.
    await helper.setFlows([flow[0], { ...mixer, masterGain: '0.5' }, flow[2]], 'nodes');
    const at = performance.now();
    const audioBefore = audio;
    assert.ok(await until(() => meters.some((t) => t > at + 200) && audio > audioBefore + 5, 10_000), 'meters and monitor again after the mixer came back');
  });
});

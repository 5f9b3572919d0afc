// Node test: the console node in a real embedded Node-RED with a real mixer — the HTTP API through supertest on
// RED.httpNode, the websocket with `ws` clients on the helper's real server (RED.server's upgrade): hello, a control
// from page A changes the mixer and reaches page B as params, bad messages answered and the socket kept, metering on
// while a page is open, credentials and cross-origin refused on the upgrade, routes kept across a redeploy.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NodeAPI } from 'node-red';
import request from 'supertest';
import WebSocket from 'ws';
import { audioMsg, helper, loadFlow, nodeContract, useNodeRed, type FlowNode, type LoadedFlow } from '../support/node-red';
import { until } from '../support/resources';
import { streamKey } from '../../runtime/audio/stream-key';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const consoleNode = require('../../nodes/console/console') as (RED: NodeAPI) => void;
// eslint-disable-next-line @typescript-eslint/no-var-requires
const mixerNode = require('../../nodes/mixer/mixer') as (RED: NodeAPI) => void;
let red: NodeAPI | null = null;
const consoleModule = (RED: NodeAPI) => { red = RED; return consoleNode(RED); };
const app = () => (red as unknown as { httpNode: Parameters<typeof request>[0] }).httpNode;
const wsUrl = (q = '') => `ws://127.0.0.1:${(helper as { _port: number })._port}/xcast/mixer/ws${q}`;

/** A page: the text messages it got, in order, and a way to wait for one. */
class Page {
  readonly got: Array<Record<string, unknown>> = [];
  readonly binary: Buffer[] = [];
  readonly ws: WebSocket;
  readonly open: Promise<void>;
  constructor(url = wsUrl(), opts: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url, opts);
    this.ws.on('message', (d, isBinary) => {
      if (isBinary) this.binary.push(d as Buffer);
      else this.got.push(JSON.parse(String(d)));
    });
    this.open = new Promise((resolve, reject) => { this.ws.once('open', () => resolve()); this.ws.once('error', reject); });
  }
  async next(match: (m: Record<string, unknown>) => boolean, what: string, timeoutMs = 5000): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    assert.ok(await until(() => (found = this.got.find(match)) !== undefined, timeoutMs), `the page never got ${what}; it got ${JSON.stringify(this.got).slice(0, 800)}`);
    return found!;
  }
  send(m: unknown): void { this.ws.send(typeof m === 'string' ? m : JSON.stringify(m)); }
  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((r) => { this.ws.once('close', () => r()); this.ws.close(); });
  }
}

/** What an upgrade was answered with when refused: the HTTP status. */
function refusedWith(url: string, opts: WebSocket.ClientOptions = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    ws.once('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); res.resume(); ws.terminate(); });
    ws.once('open', () => { ws.close(); reject(new Error('the upgrade was accepted')); });
    ws.once('error', () => { /* after unexpected-response */ });
  });
}

let pages: Page[] = [];
const page = (url?: string, opts?: WebSocket.ClientOptions) => { const p = new Page(url, opts); pages.push(p); return p; };

function flow(consoleExtra: Record<string, unknown> = {}): FlowNode[] {
  return [
    { id: 'mix', type: 'xcast-mixer', sampleRate: '48000', channels: '2', frameMs: '10', settingsStore: 'none', trackTimeoutMs: '2000', wires: [[], ['con'], [], []] },
    { id: 'con', type: 'xcast-console', ...consoleExtra, wires: [['mix', 'out']] },
  ];
}

/** Alice sends a packet every 10 ms while `p` is pending. */
async function whileAliceSends<T>(f: LoadedFlow, p: () => Promise<T>): Promise<T> {
  let seq = 0;
  const send = () => f.node('mix').receive(audioMsg({ userId: 'alice', connectionId: 'c-alice', seq: seq++, channels: 2 }));
  send();
  const timer = setInterval(send, 10);
  try { return await p(); } finally { clearInterval(timer); }
}

const ALICE = streamKey({ userId: 'alice', trackId: 1, connectionId: 'c-alice' });

describe('console node', function () {
  this.timeout(30_000);
  useNodeRed();
  afterEach(async () => { await Promise.all(pages.map((p) => p.close())); pages = []; });

  nodeContract({
    type: 'xcast-console',
    module: consoleModule,
    config: async () => ({}),
    refused: { config: { allowedOrigins: 'ftp:/nowhere' }, field: 'allowedOrigins' },
    badInput: [
      { what: 'a meters message without its layout', msg: () => ({ topic: 'meters', payload: Buffer.alloc(16) }), error: /layout/ },
      { what: 'a monitor frame without its listener', msg: () => ({ topic: 'monitor', payload: Buffer.alloc(8), audio: { channels: 2, frameSamples: 1 } }), error: /listener/ },
    ],
    // A page is connected (the websocket and its timers) until the node closes it. (Node-RED's runtime holds a 5 s
    // timer per upgrade of its own, lib/index.js #2956: the release check waits it out.)
    async exercise() {
      await request(app()).get('/xcast/mixer/state').expect(200);   // its metering lease (a timer)
      const p = page();
      await p.open;
      await p.next((m) => m.t === 'hello', 'hello');
    },
  });

  it('GET state lists the mixer\'s tracks; POST control changes the mixer (its mixParameters), a bad field is a 400 naming it', async () => {
    const f = await loadFlow([mixerNode, consoleModule], flow(), { helpers: ['out'] });
    await whileAliceSends(f, async () => {
      let st: { tracks: Array<Record<string, unknown>>; masters: Array<Record<string, unknown>> } | undefined;
      const deadline = Date.now() + 5000;
      for (;;) {
        st = (await request(app()).get('/xcast/mixer/state').expect(200)).body;
        if (st!.tracks.length === 1) break;
        assert.ok(Date.now() < deadline, `alice never got a strip: ${JSON.stringify(st)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const a = st!.tracks[0];
      assert.equal(a.key, ALICE);
      assert.equal(a.userId, 'alice');
      assert.equal(a.trackId, 1);
      assert.equal(a.room, 'main');
      assert.equal(a.gainDb, 0);
      assert.equal(a.pan, 0);
      assert.equal(a.mute, false);
      assert.equal(a.connected, true);
      assert.ok(['good', 'fair', 'poor', 'unknown'].includes(a.qos as string));
      assert.deepEqual(st!.masters.map((m) => m.room), ['main']);

      await request(app()).post('/xcast/mixer/control').set('Content-Type', 'application/json').send({ userId: 'alice', gainDb: -6, pan: -1, mute: true }).expect(200, { ok: true });
      const out = f.received('out');
      assert.ok(out.some((m) => m.topic === 'gain' && m.userId === 'alice' && Math.abs((m.payload as number) - 0.501187) < 1e-5), 'gain sent as linear');
      const moved = async () => {
        const end = Date.now() + 5000;
        for (;;) {
          const t = (await request(app()).get('/xcast/mixer/state').expect(200)).body.tracks[0];
          if (t && t.gainDb === -6 && t.pan === -1 && t.mute === true) return;
          assert.ok(Date.now() < end, `the mixer never took the control: ${JSON.stringify(t)}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      await moved();
      await request(app()).post('/xcast/mixer/control').send({ masterGainDb: null }).expect(200);

      const bad = async (body: unknown, field: string) => {
        const r = await request(app()).post('/xcast/mixer/control').set('Content-Type', 'application/json').send(body as object).expect(400);
        assert.equal(r.body.error.code, 'bad_request');
        assert.equal(r.body.error.field, field, JSON.stringify(r.body));
        assert.match(r.body.error.message, new RegExp(field.replace(/[[\]]/g, '\\$&')));
      };
      await bad({ userId: 'alice', gainDb: 13 }, 'gainDb');
      await bad({ userId: 'alice', pan: -2 }, 'pan');
      await bad({ userId: 'alice', mute: 'on' }, 'mute');
      await bad({ gainDb: 0 }, 'userId');
      await bad({ room: 'not a room', masterGainDb: 0 }, 'room');
      const notJson = await request(app()).post('/xcast/mixer/control').set('Content-Type', 'text/plain').send('{nope').expect(400);
      assert.equal(notJson.body.error.field, 'body');
      assert.match(notJson.body.error.message, /^body: not JSON/);
      await request(app()).put('/xcast/mixer/state').expect(405);
    });
  });

  it('websocket: hello with the strips; a control from page A reaches the mixer and page B as params; a bad message is answered and the socket stays; metering while a page is open', async () => {
    const f = await loadFlow([mixerNode, consoleModule], flow(), { helpers: ['out'] });
    await whileAliceSends(f, async () => {
      const a = page();
      await a.open;
      const hello = await a.next((m) => m.t === 'hello', 'hello');
      assert.match(String(hello.clientId), /^c-[0-9a-f]+$/);
      assert.ok((hello.meterLaw as { level: string }).level.includes('3.0103'));
      assert.ok(Array.isArray(hello.strips) && Array.isArray(hello.masters));
      await f.receivedAtLeast('out', 1);
      assert.deepEqual(f.received('out').filter((m) => m.topic === 'metering').map((m) => m.payload), [true]);
      // Alice's strip: in hello, or told when it appeared.
      if (!(hello.strips as Array<{ key: string }>).some((s) => s.key === ALICE)) await a.next((m) => m.t === 'strip' && (m.strip as { key: string }).key === ALICE, 'alice\'s strip');
      const b = page();
      await b.open;
      const helloB = await b.next((m) => m.t === 'hello', 'hello');
      assert.ok((helloB.strips as Array<{ key: string }>).some((s) => s.key === ALICE), 'page B\'s hello has alice');
      assert.notEqual(helloB.clientId, hello.clientId);

      a.send({ t: 'control', userId: 'alice', gainDb: -6 });
      const p = await b.next((m) => m.t === 'params' && (m.users as Record<string, { gainDb: number }>)?.alice?.gainDb === -6, 'params with alice at −6 dB');
      assert.deepEqual((p.users as Record<string, unknown>).alice, { gainDb: -6, pan: 0, mute: false });
      await a.next((m) => m.t === 'params' && (m.users as Record<string, { gainDb: number }>)?.alice?.gainDb === -6, 'its own echo (the mixer is the truth)');
      const st = (await request(app()).get('/xcast/mixer/state').expect(200)).body;
      assert.equal(st.tracks[0].gainDb, -6);

      a.send('not json');
      const e1 = await a.next((m) => m.t === 'error' && m.field === 'message', 'an error for text that is not JSON');
      assert.match(String(e1.message), /JSON/);
      a.send({ t: 'control', userId: 'alice', pan: 3 });
      await a.next((m) => m.t === 'error' && m.field === 'pan', 'an error naming pan');
      a.send({ t: 'master', room: 'main', gainDb: 99 });
      await a.next((m) => m.t === 'error' && m.field === 'gainDb', 'an error naming gainDb');
      assert.equal(a.ws.readyState, WebSocket.OPEN, 'the socket stays');
      a.send({ t: 'master', room: 'main', gainDb: -3 });
      await b.next((m) => m.t === 'params' && (m.masters as Record<string, number>)?.main === -3, 'the master at −3 dB on page B');

      // A burst of 200 fader moves: cut to the rate, the last one always taken.
      const before = f.received('out').filter((m) => m.topic === 'gain').length;
      for (let i = 0; i <= 200; i++) a.send({ t: 'control', userId: 'alice', gainDb: -40 + i * 0.1 });
      await b.next((m) => m.t === 'params' && (m.users as Record<string, { gainDb: number }>)?.alice?.gainDb === -20, 'the last of the burst (−20 dB)');
      const taken = f.received('out').filter((m) => m.topic === 'gain').length - before;
      assert.ok(taken < 100, `${taken} of 201 gain moves passed on (coalesced)`);

      // Monitor on, then the page leaves: off for it, and metering off when no page is left.
      a.send({ t: 'monitor', on: true, room: 'main', solo: [ALICE] });
      await until(() => f.received('out').some((m) => m.topic === 'monitor'), 5000);
      const mon = f.received('out').find((m) => m.topic === 'monitor')!;
      assert.equal(mon.listener, hello.clientId);
      assert.deepEqual(mon.payload, { room: 'main', solo: [ALICE] });
      await a.close();
      await b.close();
      assert.ok(await until(() => f.received('out').filter((m) => m.topic === 'metering').length === 2, 5000));
      assert.deepEqual(f.received('out').filter((m) => m.topic === 'metering').map((m) => m.payload), [true, false]);
      assert.deepEqual(f.received('out').filter((m) => m.topic === 'monitor').map((m) => m.payload), [{ room: 'main', solo: [ALICE] }, null]);
    });
  });

  it('a track that stops sending is gone from every page after the mixer\'s timeout; a peer\'s HELLO names its strip', async () => {
    const f = await loadFlow([mixerNode, consoleModule], [
      { id: 'mix', type: 'xcast-mixer', sampleRate: '48000', channels: '2', frameMs: '10', settingsStore: 'none', trackTimeoutMs: '300', wires: [[], ['con'], [], [], []] },
      { id: 'con', type: 'xcast-console', wires: [['mix']] },
    ]);
    const p = page();
    await p.open;
    await p.next((m) => m.t === 'hello', 'hello');
    f.node('con').receive({ topic: 'connection', payload: { event: 'open', connectionId: 'c-alice', userId: 'alice', hello: { userId: 'alice', name: 'Alice A.', profile: { instrument: 'viola' } } } });
    await whileAliceSends(f, () => p.next((m) => m.t === 'strip' && (m.strip as { key: string; name: string }).key === ALICE && (m.strip as { name: string }).name === 'Alice A.', 'alice\'s strip, named from her HELLO'));
    const strip = p.got.find((m) => m.t === 'strip')!.strip as { profile: unknown };
    assert.deepEqual(strip.profile, { instrument: 'viola' });
    await p.next((m) => m.t === 'gone' && m.key === ALICE, 'alice gone after the timeout');
    const st = (await request(app()).get('/xcast/mixer/state').expect(200)).body;
    assert.deepEqual(st.tracks, []);
  });

  it('meter frames go to every page as the same bytes, after the layout; monitor audio to its page only, as s16 with the A header', async () => {
    const f = await loadFlow([consoleModule], [{ id: 'con', type: 'xcast-console', wires: [['out']] }], { helpers: ['out'] });
    const a = page();
    const b = page();
    await Promise.all([a.open, b.open]);
    const ha = await a.next((m) => m.t === 'hello', 'hello');
    await b.next((m) => m.t === 'hello', 'hello');
    const layout = { layoutId: 5, tracks: [{ key: ALICE, userId: 'alice', trackId: 1, connectionId: 'c-alice', room: 'main' }], rooms: ['main'] };
    const frame = Buffer.from([0x4d, 1, 1, 0, 1, 0, 0, 0, 5, 0, 0, 0, 9, 0, 0, 0, 0xd0, 0xfb, 0x40, 0xfb, 0xd0, 0xfb, 0x40, 0xfb]);
    f.node('con').receive({ topic: 'meters', payload: frame, layout, sampleRate: 44100 });
    for (const p of [a, b]) {
      assert.ok(await until(() => p.binary.length === 1, 5000), 'the meter frame arrived');
      assert.deepEqual(p.binary[0], frame);
      const li = p.got.findIndex((m) => m.t === 'layout');
      assert.ok(li >= 0, 'the layout came first');
      assert.deepEqual(p.got[li].layout, layout);
      assert.equal(p.got[li].sampleRate, 44100, 'the layout says the mixer\'s rate (the monitor plays at it)');
    }
    const pcm = Buffer.alloc(4 * 4);
    [0.5, -0.5, 1.5, -1].forEach((x, i) => pcm.writeFloatLE(x, i * 4));
    a.send({ t: 'monitor', on: true, room: 'main', solo: [] });
    await until(() => f.received('out').some((m) => m.topic === 'monitor'), 5000);
    f.node('con').receive({ topic: 'monitor', listener: ha.clientId, payload: pcm, audio: { codec: 'pcm_f32le', sampleRate: 48000, channels: 2, frameSamples: 2, seq: 77, captureTime: 0, trackId: 1 } });
    assert.ok(await until(() => a.binary.length === 2, 5000), 'monitor audio arrived');
    const m = a.binary[1];
    assert.equal(m[0], 0x41);
    assert.equal(m[1], 2);
    assert.equal(m.readUInt16LE(2), 2);
    assert.equal(m.readUInt32LE(4), 77);
    assert.deepEqual([0, 1, 2, 3].map((i) => m.readInt16LE(8 + 2 * i)), [16384, -16384, 32767, -32768].map((x, i) => (i === 0 ? Math.round(0.5 * 32767) : i === 1 ? Math.round(-0.5 * 32767) : x)));
    // The layout is not sent again for the same layoutId.
    f.node('con').receive({ topic: 'meters', payload: frame, layout });
    assert.ok(await until(() => b.binary.length === 2, 5000));
    assert.equal(b.got.filter((x) => x.t === 'layout').length, 1);
    assert.equal(b.binary.length, 2, 'page B got no monitor audio');
  });

  it('with a token: HTTP and the upgrade refused without it (401), taken with ?token= or Bearer', async () => {
    await loadFlow([consoleModule], [{ id: 'con', type: 'xcast-console', wires: [[]] }], { credentials: { con: { token: 's3cret' } } });
    assert.equal(await refusedWith(wsUrl()), 401);
    assert.equal(await refusedWith(wsUrl('?token=wrong')), 401);
    const p = page(wsUrl('?token=s3cret'));
    await p.open;
    await p.next((m) => m.t === 'hello', 'hello');
    const q = page(wsUrl(), { headers: { Authorization: 'Bearer s3cret' } });
    await q.open;
    await request(app()).get('/xcast/mixer/state').expect(401);
    await request(app()).get('/xcast/mixer/state?token=s3cret').expect(200);
    await request(app()).post('/xcast/mixer/control').set('Authorization', 'Bearer s3cret').send({ masterGainDb: 0 }).expect(200);
    // The page itself and its config are not secret: the page asks for the token.
    const cfg = (await request(app()).get('/xcast/mixer/config.json').expect(200)).body;
    assert.equal(cfg.tokenRequired, true);
  });

  it('with a users file: a listed user\'s token with ?userId= opens the websocket and the API; another user\'s or a wrong one is refused', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-console-users-'));
    try {
      const file = path.join(dir, 'users.json');
      fs.writeFileSync(file, JSON.stringify([{ userId: 'op', token: 'op-token' }, { userId: 'eve', token: 'eve-token' }]));
      await loadFlow([consoleModule], [{ id: 'con', type: 'xcast-console', usersFile: file, wires: [[]] }]);
      const p = page(wsUrl('?userId=op&token=op-token'));
      await p.open;
      assert.equal(await refusedWith(wsUrl('?userId=op&token=eve-token')), 401);
      assert.equal(await refusedWith(wsUrl('?token=op-token')), 401);
      await request(app()).get('/xcast/mixer/state?userId=eve&token=eve-token').expect(200);
      await request(app()).get('/xcast/mixer/state?userId=eve&token=nope').expect(401);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cross-origin pages are refused (403) unless listed; the server\'s own host is always allowed', async () => {
    await loadFlow([consoleModule], [{ id: 'con', type: 'xcast-console', allowedOrigins: 'https://desk.example', wires: [[]] }]);
    assert.equal(await refusedWith(wsUrl(), { headers: { Origin: 'http://evil.example' } }), 403);
    const own = page(wsUrl(), { headers: { Origin: `http://127.0.0.1:${(helper as { _port: number })._port}` } });
    await own.open;
    const listed = page(wsUrl(), { headers: { Origin: 'https://desk.example' } });
    await listed.open;
    await request(app()).post('/xcast/mixer/control').set('Origin', 'http://evil.example').send({ masterGainDb: 0 }).expect(403);
    const r = await request(app()).get('/xcast/mixer/state').set('Origin', 'https://desk.example').expect(200);
    assert.equal(r.headers['access-control-allow-origin'], 'https://desk.example');
  });

  it('routes and the upgrade listener survive a redeploy: one of each, served by the new node; /xcast/mixer redirects to /xcast/mixer/', async () => {
    await loadFlow([consoleModule], [{ id: 'con', type: 'xcast-console', wires: [[]] }]);
    const srv = (red as unknown as { server: import('node:http').Server }).server;
    const stack = (red as unknown as { httpNode: { _router: { stack: unknown[] } } }).httpNode._router.stack;
    const listeners = srv.listenerCount('upgrade');
    const layers = stack.length;
    const old = page();
    await old.open;
    const closed = new Promise<void>((r) => old.ws.once('close', () => r()));
    await helper.setFlows([{ id: 'tab', type: 'tab', label: 't' }, { id: 'con2', z: 'tab', type: 'xcast-console', x: 100, y: 100, wires: [[]] }], 'full', { con2: { token: 't2' } });
    await closed;
    assert.equal(srv.listenerCount('upgrade'), listeners, 'one upgrade listener, the new node\'s');
    assert.equal(stack.length, layers, 'no route added by a redeploy');
    // The new node's settings answer (its token), through the one middleware.
    await until(() => helper.getNode('con2') !== null, 5000);
    await request(app()).get('/xcast/mixer/state').expect(401);
    await request(app()).get('/xcast/mixer/state?token=t2').expect(200);
    assert.equal(await refusedWith(wsUrl()), 401);
    const r = await request(app()).get('/xcast/mixer?x=1').expect(301);
    assert.equal(r.headers.location, 'mixer/?x=1');
    await helper.setFlows([{ id: 'tab', type: 'tab', label: 't' }], 'full');
    assert.equal(srv.listenerCount('upgrade'), listeners - 1, 'the upgrade listener went with the node');
    await request(app()).get('/xcast/mixer/state').expect(404);
  });

  it('a page that does not read is skipped for meter frames (never queued) while the others get them; it keeps its socket', async () => {
    const f = await loadFlow([consoleModule], [{ id: 'con', type: 'xcast-console', wires: [['out']] }], { helpers: ['out'] });
    const slow = page();
    const fast = page();
    await Promise.all([slow.open, fast.open]);
    await slow.next((m) => m.t === 'hello', 'hello');
    await fast.next((m) => m.t === 'hello', 'hello');
    // The slow page stops reading its socket: what the server sends piles up in the kernel, then in ws.
    (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const n = 32768;
    const layout = { layoutId: 9, tracks: Array.from({ length: n }, (_, i) => ({ key: `k${i}`, userId: `u${i}`, trackId: 1, connectionId: '', room: 'main' })), rooms: ['main'] };
    const frame = Buffer.alloc(16 + 4 * (n + 1));
    frame.set([0x4d, 1]);
    frame.writeUInt16LE(n, 2);
    frame.writeUInt16LE(1, 4);
    frame.writeUInt32LE(9, 8);
    const server = (f.node('con') as unknown as { consoleServer: { stats: { metersSkipped: number; metersSent: number } } }).consoleServer;
    const frames = 200;
    for (let i = 0; i < frames; i++) {
      f.node('con').receive({ topic: 'meters', payload: frame, layout });
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(await until(() => fast.binary.length >= frames * 0.9, 10_000), `the reading page got ${fast.binary.length} of ${frames}`);
    assert.ok(server.stats.metersSkipped > 0, 'frames were skipped for the page that does not read');
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    assert.ok(await until(() => slow.binary.length + server.stats.metersSkipped >= frames, 10_000));
    assert.ok(slow.binary.length < frames, `the slow page got ${slow.binary.length} of ${frames}: the rest were skipped, not queued`);
    assert.equal(slow.ws.readyState, WebSocket.OPEN);
    slow.send({ t: 'master', room: 'main', gainDb: 0 });
    await until(() => f.received('out').some((m) => m.topic === 'master'), 5000);
  });

  it('a second console node is refused naming it', async () => {
    const f = await loadFlow([consoleModule], [{ id: 'c1', type: 'xcast-console', wires: [[]] }, { id: 'c2', type: 'xcast-console', wires: [[]] }]);
    f.node('c2').receive({ topic: 'tracks', payload: [] });
    const caught = await f.nextCaught();
    assert.equal(caught.error.source?.id, 'c2');
    assert.match(caught.error.message, /another console/);
  });
});

// Node test (node-red-node-test-helper): the WebRTC node on Node-RED's real httpNode app, served on a real port, with
// real werift clients joining through the HTTP contract — outputs, input routing, status, refusals, close, redeploy.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NodeAPI } from 'node-red';
import { audioMsg, helper, light, loadFlow, nodeContract, statuses, statusOf, useNodeRed } from '../support/node-red';
import { until } from '../support/resources';
import { RtcClient, waitFor } from '../support/rtc-client';
import { OpusEncoder } from '../../runtime/audio/opus';
import { ToneGenerator } from '../../runtime/audio/signals';
import { UsedFrame } from '../../runtime/audio/used';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const webrtcNode = require('../../nodes/webrtc/webrtc') as (RED: NodeAPI) => void;
/** The RED the node set was loaded with: its httpNode is the app the routes are on. */
let red: NodeAPI | null = null;
const webrtcModule = (RED: NodeAPI) => { red = RED; return webrtcNode(RED); };

/** Serves the node set's httpNode app on a free port (what Node-RED's own server does). */
async function serveHttpNode(): Promise<{ url: string; close(): Promise<void> }> {
  const app = (red as unknown as { httpNode: http.RequestListener }).httpNode;
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, async close() { server.closeAllConnections(); await new Promise<void>((r) => server.close(() => r())); } };
}

const opusPackets = (n: number) => {
  const enc = new OpusEncoder({ sampleRate: 48000, channels: 1, frameSamples: 480 });
  const tone = new ToneGenerator({ frequency: 440, sampleRate: 48000 });
  return Array.from({ length: n }, () => enc.encode(tone.next(480)));
};
const mixMsg = (payload: Buffer, seq: number, extra: Record<string, unknown> = {}) => ({
  topic: 'audio', payload, userId: 'xcast', audio: { codec: 'opus', sampleRate: 48000, channels: 1, frameSamples: 480, seq, captureTime: 0, trackId: 1 }, ...extra,
});

let clients: RtcClient[] = [];
let served: { url: string; close(): Promise<void> } | null = null;
async function cleanup(): Promise<void> {
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
  await served?.close();
  served = null;
}

describe('webrtc node', function () {
  this.timeout(30_000);
  useNodeRed();
  afterEach(cleanup);

  nodeContract({
    type: 'xcast-webrtc',
    module: webrtcModule,
    config: async () => ({ basePath: '/xcast/rtc', inactivityTimeout: '30' }),
    refused: { config: { maxPeers: 'many' }, field: 'maxPeers' },
    badInput: [
      { what: 'a message that is not audio', msg: () => ({ payload: 'hello' }), error: /audio/ },
      { what: 'PCM instead of Opus', msg: () => audioMsg({ codec: 'pcm_f32le' }), error: /opus/ },
      { what: 'bytes that are not an Opus packet', msg: () => mixMsg(Buffer.from([0x03]), 0), error: /Opus/ },
    ],
    // A browser-like peer joins and publishes: the node holds its UDP sockets and timers until it is closed.
    async exercise(f) {
      served = await serveHttpNode();
      const c = new RtcClient({ base: `${served.url}/xcast/rtc`, userId: 'alice', publish: true, listen: true });
      clients.push(c);
      await c.connect();
      c.startTone();
      // Connected on the server's side too (werift's DTLS flights retransmit on a timer of their own, up to ~30 s,
      // when a peer goes in the middle of the handshake).
      const connected = async () => ((await (await fetch(`${served!.url}/xcast/rtc/rooms`)).json()) as { rooms: Array<{ peers: Array<{ state: string }> }> }).rooms[0]?.peers[0]?.state === 'connected';
      const end = Date.now() + 10_000;
      while (!(await connected())) {
        assert.ok(Date.now() < end, 'the server side connected');
        await new Promise((r) => setTimeout(r, 10));
      }
      void f;
      await cleanup();
    },
  });

  it('refuses a bad basePath, rooms list, port range and ICE servers, naming each', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ basePath: 'no-slash' }, 'basePath'],
      [{ rooms: 'main, bad room!' }, 'rooms'],
      [{ portRange: '5000' }, 'portRange'],
      [{ iceServers: '{not json' }, 'iceServers'],
      [{ iceServers: '[{"urls":"http://x"}]' }, 'iceServers[0].urls'],
      [{ inactivityTimeout: '0' }, 'inactivityTimeout'],
      [{ usersFile: '/nonexistent/users.json' }, 'usersFile'],
    ];
    for (const [config, field] of cases) {
      await loadFlow([webrtcModule], [{ id: 'w', type: 'xcast-webrtc', ...config }]);
      await statusOf('w', light('red', 'ring', new RegExp(field.replace(/[[\].]/g, '\\$&'))), `the red ring naming ${field}`);
      await helper.unload();
    }
  });

  it('a browser peer\'s audio leaves output 1 as audio messages, its open/close and RTT output 2; the mixes on its input reach the right listeners', async () => {
    const f = await loadFlow([webrtcModule], [{ id: 'w', type: 'xcast-webrtc', basePath: '/xcast/rtc', wires: [['audio'], ['events']] }], { helpers: ['audio', 'events'] });
    await statusOf('w', light('yellow', 'ring', /no peers/), 'the yellow ring of no peers');
    served = await serveHttpNode();
    const base = `${served.url}/xcast/rtc`;
    const alice = new RtcClient({ base, userId: 'alice', name: 'Alice', room: 'studio', toneHz: 440 });
    const bob = new RtcClient({ base, userId: 'bob', room: 'studio', publish: false });
    clients.push(alice, bob);
    await alice.connect();
    await bob.connect();
    alice.startTone();
    const audio = await f.receivedAtLeast('audio', 20);
    const m = audio[5];
    assert.equal(m.topic, 'audio');
    assert.equal(m.userId, 'alice');
    assert.equal(m.room, 'studio');
    assert.equal(m.mixMinus, true);
    assert.match(String(m.connectionId), /^webrtc-\d+$/);
    assert.equal(typeof m.arrivalTime, 'number');
    assert.ok(Buffer.isBuffer(m.payload));
    assert.deepEqual(Object.keys(m.audio as object).sort(), ['captureTime', 'channels', 'codec', 'frameSamples', 'sampleRate', 'seq', 'trackId']);
    assert.equal((m.audio as { codec: string }).codec, 'opus');
    assert.equal((audio[6].audio as { seq: number }).seq, ((m.audio as { seq: number }).seq + 1) >>> 0);
    const opened = await until(() => f.received('events').filter((e) => e.topic === 'connection').length >= 2, 10_000);
    assert.ok(opened, JSON.stringify(f.received('events')));
    const open = f.received('events').find((e) => e.topic === 'connection' && (e.payload as { userId: string }).userId === 'alice')!;
    const p = open.payload as Record<string, any>;
    assert.equal(p.event, 'open');
    assert.equal(p.role, 'webrtc');
    assert.equal(p.room, 'studio');
    assert.equal(p.connectionId, m.connectionId);
    assert.deepEqual(p.hello, { userId: 'alice', name: 'Alice', role: 'webrtc', profile: { room: 'studio', name: 'Alice' } });
    await statusOf('w', light('green', 'dot', /2 peers: studio: 2/), 'the peers per room');

    // The room's mix with alice in it: bob hears it, alice does not; her mix-minus reaches her alone.
    const packets = opusPackets(30);
    packets.forEach((pk, i) => f.node('w').receive(mixMsg(pk, i, { room: 'studio', mixed: { frameSeq: i, used: UsedFrame.from([{ userId: 'alice', connectionId: m.connectionId as string, room: 'studio', wireSeq: i, concealed: false, codec: 'opus', channels: 1, frameSamples: 480 }]), room: 'studio' } })));
    await bob.heardPackets(30);
    assert.equal(alice.received, 0);
    packets.forEach((pk, i) => f.node('w').receive(mixMsg(pk, i, { room: 'studio', targetUserId: 'alice' })));
    await alice.heardPackets(30);
    assert.equal(bob.received, 30);
    // The main room's mix (no room on the message) reaches no one in studio.
    f.node('w').receive(mixMsg(packets[0], 99));
    // RTT from RTCP for the listeners.
    assert.ok(await until(() => f.received('events').some((e) => e.topic === 'pong'), 10_000), 'a pong');
    const pong = f.received('events').find((e) => e.topic === 'pong')!;
    assert.equal(typeof (pong.payload as { rttMs: number }).rttMs, 'number');
    assert.equal(bob.received, 30);

    // Leaving: DELETE, and its close event.
    assert.equal(await alice.leave(), 204);
    assert.ok(await until(() => f.received('events').some((e) => e.topic === 'connection' && (e.payload as { event: string; userId: string }).event === 'close' && (e.payload as { userId: string }).userId === 'alice')), 'a close event');
    const close = f.received('events').find((e) => (e.payload as { event?: string }).event === 'close')!;
    assert.equal((close.payload as { reason: string }).reason, 'deleted');
    await statusOf('w', light('green', 'dot', /1 peer: studio: 1/), 'one peer left');
  });

  it('answers the contract on httpNode: raw bodies (not JSON is bad_request), GET rooms, the join page\'s config.json', async () => {
    await loadFlow([webrtcModule], [{ id: 'w', type: 'xcast-webrtc', basePath: '/custom/rtc' }]);
    served = await serveHttpNode();
    const bad = await fetch(`${served.url}/custom/rtc/offer`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{oops' });
    assert.equal(bad.status, 400);
    assert.match(bad.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'bad_request');
    const rooms = await fetch(`${served.url}/custom/rtc/rooms`);
    assert.deepEqual(await rooms.json(), { rooms: [] });
    const cfg = await fetch(`${served.url}/xcast/join/config.json`);
    assert.equal(cfg.status, 200);
    assert.deepEqual(await cfg.json(), { base: '/custom/rtc' });
    const redirect = await fetch(`${served.url}/xcast/join`, { redirect: 'manual' });
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get('location'), '/xcast/join/');
  });

  it('a token credential guards /offer and GET /rooms', async () => {
    await loadFlow([webrtcModule], [{ id: 'w', type: 'xcast-webrtc' }], { credentials: { w: { token: 'tok-1' } } });
    served = await serveHttpNode();
    assert.equal((await fetch(`${served.url}/xcast/rtc/rooms`)).status, 401);
    assert.equal((await fetch(`${served.url}/xcast/rtc/rooms`, { headers: { Authorization: 'Bearer tok-1' } })).status, 200);
    const c = new RtcClient({ base: `${served.url}/xcast/rtc`, userId: 'alice', token: 'tok-1' });
    clients.push(c);
    await c.connect();
  });

  it('a redeploy swaps the hub behind one route (none stacked); the old base path goes, a second node on the same path is refused', async () => {
    const flow = (basePath: string) => [{ id: 'tab', type: 'tab' }, { id: 'w', z: 'tab', type: 'xcast-webrtc', basePath, x: 100, y: 100, wires: [[], []] }];
    await loadFlow([webrtcModule], flow('/one/rtc').slice(1) as never);
    served = await serveHttpNode();
    assert.equal((await fetch(`${served.url}/one/rtc/rooms`)).status, 200);
    const app = (red as unknown as { httpNode: { _router: { stack: unknown[] } } }).httpNode;
    const layers = app._router.stack.length;
    for (const p of ['/two/rtc', '/three/rtc']) {
      await helper.setFlows([{ id: 'tab', type: 'tab', label: 't' }, { id: 'w', z: 'tab', type: 'xcast-webrtc', basePath: p, x: 100, y: 100, wires: [[], []] }], 'full');
      await waitFor(() => statuses('w').length > 0, 5000, 'the redeployed node');
    }
    assert.equal(app._router.stack.length, layers, 'no route added by a redeploy');
    assert.equal((await fetch(`${served.url}/three/rtc/rooms`)).status, 200);
    assert.equal((await fetch(`${served.url}/one/rtc/rooms`)).status, 404);
    await helper.setFlows([{ id: 'tab', type: 'tab', label: 't' },
      { id: 'a', z: 'tab', type: 'xcast-webrtc', basePath: '/same', x: 100, y: 100, wires: [[], []] },
      { id: 'b', z: 'tab', type: 'xcast-webrtc', basePath: '/same', x: 100, y: 200, wires: [[], []] }], 'full');
    await until(() => statuses('a').length + statuses('b').length >= 2, 5000);
    const red2 = [...statuses('a'), ...statuses('b')].filter(light('red', 'ring', /basePath/));
    assert.equal(red2.length, 1, JSON.stringify([statuses('a'), statuses('b')]));
  });
});

// Node tests: the socket reader and writer with transport UDP, in the embedded Node-RED, over real sockets. A PCM
// source over UDP into reader → mixer comes out of the mix bit-exact as it does over TCP (the same check on both),
// and over UDP with nothing on the event loop (the ring: no message on the reader's output 1, no audio event on any
// link, none posted by the ingest thread); the mixer redeployed while a peer sends gets the ring of its new engine;
// QOS from a qos writer goes back to the sender's address; a server-mode writer over UDP sends to the receivers
// that HELLO'd, a targetUserId frame to that user only.
import assert from 'node:assert/strict';
import { StreamClient, type StreamConnection } from '../../runtime/protocol/transport';
import { Codec, FrameType, decodeAudioPayload, decodeJsonPayload, encodeAudioFrame } from '../../runtime/protocol/frame';
import type { UdpLink, UdpStreamServer } from '../../runtime/protocol/udp-server';
import { freePort } from '../support/xcast-process';
import fs from 'node:fs';
import dgram from 'node:dgram';
import request from 'supertest';
import type { NodeAPI } from 'node-red';
import path from 'node:path';
import { helper, loadFlow, nodeModules, useNodeRed, audioMsg, statusOf, light, loggedErrors, baseline, assertReleasedOnClose, type LoadedFlow } from '../support/node-red';
import { makeTestCerts } from '../support/tls-certs';
import { until } from '../support/resources';
import { UdpTestSender } from '../support/udp-sender';

const N = 480;
// Node-RED's own tls-config node, as the MQTT, HTTP request and TCP nodes use it.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const tlsConfigModule = require(require.resolve('@node-red/nodes/core/network/05-tls.js', { paths: [path.dirname(require.resolve('node-red'))] }));

/** Seeded noise in 16-bit steps (s16 → f32 is exact), `frames` frames of N mono samples. */
function noise(frames: number): Int16Array {
  let state = 12345;
  const s = new Int16Array(frames * N);
  for (let i = 0; i < s.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    s[i] = ((state >>> 8) % 16001) - 8000;
  }
  return s;
}

function frameOf(src: Int16Array, k: number): Buffer {
  return Buffer.from(src.buffer, k * N * 2, N * 2);
}

/** The mix's samples, concatenated (mono f32). */
function mixSamples(msgs: Array<Record<string, unknown>>): Float32Array {
  const bufs = msgs.map((m) => m.payload as Buffer);
  const all = Buffer.concat(bufs);
  return new Float32Array(all.buffer, all.byteOffset, all.length / 4);
}

/**
 * Blocks of 100 ms of the mix from `fromFrame` on, each found in the source by its first 64 samples and compared
 * sample for sample: how many are exact (a latency trim of the fixed-depth buffer, with its fade, spoils the one block
 * it falls in, as in the e2e PCM test).
 */
function exactBlocks(mix: Float32Array, src: Int16Array, blocks: number): number {
  let first = 0;
  while (first < mix.length && mix[first] === 0) first++;
  const r0 = first + 50 * N;
  let exact = 0;
  for (let b = 0; b < blocks; b++) {
    const at = r0 + b * 4800;
    if (at + 4800 > mix.length) break;
    let j = -1;
    for (let k = 0; k + 4800 <= src.length && j < 0; k++) {
      let ok = true;
      for (let i = 0; i < 64 && ok; i++) ok = src[k + i] / 32768 === mix[at + i];
      if (ok) j = k;
    }
    if (j < 0) continue;
    let same = true;
    for (let i = 0; i < 4800 && same; i++) same = mix[at + i] === src[j + i] / 32768;
    if (same) exact++;
  }
  return exact;
}

/** Sends `frames` frames of `src` every 10 ms (on a schedule, not drifting with the timer). */
async function paced(frames: number, sendFrame: (k: number) => void): Promise<void> {
  const t0 = Date.now();
  for (let k = 0; k < frames; k++) {
    sendFrame(k);
    const wait = t0 + (k + 1) * 10 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

const MIXER = { type: 'xcast-mixer', channels: '1', frameMs: '10', jitterFrames: '10', jitterMaxFrames: '50', jitterAdaptive: false, stateIntervalMs: '100' };

describe('socket nodes over UDP', function () {
  this.timeout(30_000);
  useNodeRed();

  const senders: UdpTestSender[] = [];
  afterEach(() => { for (const s of senders.splice(0)) s.close(); });
  async function udpSender(port: number): Promise<UdpTestSender> {
    const s = await new UdpTestSender(port).start();
    senders.push(s);
    return s;
  }

  function udpServerOf(id: string): UdpStreamServer {
    const srv = (helper.getNode(id) as unknown as { udpServer?: UdpStreamServer }).udpServer;
    assert.ok(srv, `${id} has no UDP server`);
    return srv;
  }

  async function listening(id: string): Promise<number> {
    const srv = udpServerOf(id);
    assert.ok(await until(() => srv.address !== undefined, 5000), 'the UDP server never listened');
    return srv.address!.port;
  }

  /** Counts the audio messages the node `id` sends on output 1 (node.send, whatever the wiring). */
  function countAudioSends(id: string): () => number {
    const n = helper.getNode(id) as { send(m: unknown): void };
    const orig = n.send.bind(n);
    let count = 0;
    n.send = (m: unknown) => {
      const first = Array.isArray(m) ? m[0] : m;
      if (first && (first as { topic?: string }).topic === 'audio') count++;
      orig(m);
    };
    return () => count;
  }

  for (const transport of ['tcp', 'udp'] as const) {
    it(`a PCM source at unity gain over ${transport.toUpperCase()} into reader → mixer comes out of the mix bit-exact (18 or more of 20 blocks of 100 ms, as the e2e PCM test asks)${transport === 'udp' ? '; the reader sent nothing on output 1, no link emitted audio, the ingest thread posted none' : ''}`, async () => {
      const port = transport === 'tcp' ? await freePort() : 0;
      const flow = await loadFlow([nodeModules.socketReader, nodeModules.mixer], [
        { id: 'r', type: 'xcast-socket-reader', mode: 'server', transport, port: String(port), wires: [['m'], [], [], []] },
        { id: 'm', ...MIXER, wires: [['mix'], [], [], [], []] },
      ], { helpers: ['mix'] });
      const src = noise(300);
      const audioSends = countAudioSends('r');
      const h = { trackId: 1, seq: 0, captureTime: 0, sampleRate: 48000, channels: 1, codec: Codec.PCM_S16LE, frameSamples: N };
      let linkAudio = 0;
      if (transport === 'udp') {
        const p = await listening('r');
        const srv = udpServerOf('r');
        srv.on('connection', (l: UdpLink) => l.on('audio', () => { linkAudio++; }));
        // The ring is attached once the reader has seen its one target, the mixer (at once, or at flows:started).
        assert.ok(await until(() => srv.ringAttached, 5000), 'no ring attached');
        const s = await udpSender(p);
        await s.hello('alice');
        await paced(300, (k) => { void s.audio(frameOf(src, k), { seq: k }); });
      } else {
        const client = new StreamClient({ port, hello: { userId: 'alice', role: 'peer' }, reconnect: false });
        const conn = await new Promise<StreamConnection>((resolve) => { client.on('connect', resolve); client.start(); });
        await paced(300, (k) => { h.seq = k; conn.send(encodeAudioFrame(h, frameOf(src, k))); });
        await client.close();
      }
      await until(() => mixSamples(flow.received('mix')).length >= 320 * N, 3000);
      const exact = exactBlocks(mixSamples(flow.received('mix')), src, 20);
      assert.ok(exact >= 18, `${exact} of 20 blocks bit-exact over ${transport}`);
      if (transport === 'udp') {
        const st = udpServerOf('r').stats;
        assert.equal(audioSends(), 0, 'the reader sent audio messages');
        assert.equal(linkAudio, 0, 'a link emitted audio on the event loop');
        assert.equal(st.audioPosted, 0);
        assert.ok(st.ringWritten >= 295, `${st.ringWritten} packets into the ring`);
      } else {
        // The TCP reader hands its packets to the mixer by a call (no message either), one per packet on the event loop.
        assert.equal(audioSends(), 0);
      }
    });
  }

  it('UDP into a reader wired to a mixer and a debug-like helper: no ring, every packet a message to both (as the wires say)', async () => {
    const flow = await loadFlow([nodeModules.socketReader, nodeModules.mixer], [
      { id: 'r', type: 'xcast-socket-reader', mode: 'server', transport: 'udp', port: '0', wires: [['m', 'tap'], [], ['events'], []] },
      { id: 'm', ...MIXER, wires: [['mix'], [], [], [], []] },
    ], { helpers: ['mix', 'tap', 'events'] });
    const p = await listening('r');
    const s = await udpSender(p);
    await s.hello('alice');
    const src = noise(20);
    await paced(20, (k) => { void s.audio(frameOf(src, k), { seq: k }); });
    const got = await flow.receivedAtLeast('tap', 20, 5000);
    assert.deepEqual(got.map((m) => (m.audio as { seq: number }).seq), Array.from({ length: 20 }, (_, k) => k));
    assert.ok((got[3].payload as Buffer).equals(frameOf(src, 3)));
    assert.equal(got[0].userId, 'alice');
    assert.equal(udpServerOf('r').ringAttached, false);
    const open = flow.received('events').find((m) => (m.payload as { event?: string }).event === 'open');
    assert.ok(open, 'no connection open event');
    assert.equal(got[0].connectionId, (open!.payload as { connectionId: string }).connectionId);
    assert.ok(await until(() => flow.received('mix').length > 0, 5000), 'the mixer mixed nothing');
  });

  it('the mixer redeployed while a UDP peer sends: the reader takes the new engine\'s ring and the new mix has the peer', async () => {
    const flow = await loadFlow([nodeModules.socketReader, nodeModules.mixer], [
      { id: 'r', type: 'xcast-socket-reader', mode: 'server', transport: 'udp', port: '0', wires: [['m'], [], [], []] },
      { id: 'm', ...MIXER, wires: [['mix'], [], [], [], []] },
    ], { helpers: ['mix'] });
    const p = await listening('r');
    const srv = udpServerOf('r');
    const s = await udpSender(p);
    await s.hello('alice');
    const data = Buffer.alloc(N * 2);
    for (let i = 0; i < N; i++) data.writeInt16LE(8192, 2 * i);
    let running = true;
    let seq = 0;
    const sending = (async () => {
      const t0 = Date.now();
      while (running) {
        await s.audio(data, { seq: seq++ });
        if (seq % 100 === 0) await s.hello('alice');
        const wait = t0 + seq * 10 - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    })();
    const level = (v: number) => flow.received('mix').some((m) => new Float32Array((m.payload as Buffer).buffer, (m.payload as Buffer).byteOffset, N).every((x) => x === v));
    try {
      assert.ok(await until(() => level(0.25), 8000), 'the first mixer never mixed the peer');
      const firstRing = srv.ringAttached;
      assert.ok(firstRing);
      const written = srv.stats.ringWritten;
      // Only the mixer changes: its master gain to 0.5 (the new engine's mix is 0.125).
      const nodes = [
        { id: 'tab', type: 'tab', label: 'test' },
        { id: 'r', z: 'tab', x: 100, y: 100, type: 'xcast-socket-reader', mode: 'server', transport: 'udp', port: '0', wires: [['m'], [], [], []] },
        { id: 'm', z: 'tab', x: 100, y: 140, ...MIXER, masterGain: '0.5', wires: [['mix'], [], [], [], []] },
        { id: 'mix', z: 'tab', type: 'helper', x: 400, y: 100, wires: [] },
      ];
      await helper.setFlows(nodes, 'nodes');
      assert.equal(udpServerOf('r'), srv, 'the reader was redeployed too');
      assert.ok(await until(() => level(0.125), 8000), 'the new mixer never mixed the peer');
      assert.ok(srv.ringAttached);
      // Between the old mixer's close and the new one's start the packets may go as calls; then into the new ring
      // only: the ring grows, the event loop gets no more, and the new mix keeps the peer.
      assert.ok(await until(() => srv.stats.ringWritten > written + 20, 5000), 'nothing into the new ring');
      const posted = srv.stats.audioPosted;
      const mixes = flow.received('mix').length;
      const ringAt = srv.stats.ringWritten;
      assert.ok(await until(() => srv.stats.ringWritten > ringAt + 50, 5000));
      assert.equal(srv.stats.audioPosted, posted, 'audio still posted to the event loop after the switch');
      const after = flow.received('mix').slice(mixes);
      assert.ok(after.some((m) => new Float32Array((m.payload as Buffer).buffer, (m.payload as Buffer).byteOffset, N).every((x) => x === 0.125)), 'the new mixer lost the peer');
    } finally {
      running = false;
      await sending;
    }
  });

  it('QOS from a qos writer goes back to the UDP sender\'s address, on the connection its audio came in on', async () => {
    await loadFlow([nodeModules.socketReader, nodeModules.qosWriter], [
      { id: 'r', type: 'xcast-socket-reader', mode: 'server', transport: 'udp', port: '0', enableQOSMetrics: true, wires: [[], [], [], ['q']] },
      { id: 'q', type: 'xcast-qos-writer', wires: [] },
    ]);
    const p = await listening('r');
    const s = await udpSender(p);
    await s.hello('alice');
    assert.ok(await until(() => s.of(FrameType.HELLO).length === 1, 5000));
    for (let k = 0; k < 5; k++) await s.audio(Buffer.alloc(N * 2), { seq: 100 + k });
    assert.ok(await until(() => s.of(FrameType.QOS).length === 5, 5000), `${s.of(FrameType.QOS).length} QOS frames back`);
    const seqs = s.of(FrameType.QOS).map((q) => ((decodeJsonPayload(q, FrameType.QOS) as { head: { seq: number } }).head.seq));
    assert.deepEqual(seqs, [100, 101, 102, 103, 104]);
  });

  it('a server-mode writer over UDP sends to the two receivers that HELLO\'d (metadata and the mix to both, a targetUserId frame to that user only)', async () => {
    const flow: LoadedFlow = await loadFlow([nodeModules.socketWriter], [
      { id: 'w', type: 'xcast-socket-writer', mode: 'server', transport: 'udp', port: '0', metaSource: 'msg', wires: [['events']] },
    ], { helpers: ['events'] });
    const p = await listening('w');
    const alice = await udpSender(p);
    const bob = await udpSender(p);
    await alice.hello('alice', { role: 'monitor' });
    await bob.hello('bob', { role: 'peer' });
    assert.ok(await until(() => flow.received('events').filter((m) => (m.payload as { event?: string }).event === 'open').length === 2, 5000), 'two receivers never opened');
    const w = flow.node('w');
    // METADATA too: a UDP link has no write queue, so StreamSender never holds it back for one.
    w.receive({ topic: 'metadata', payload: { title: 'the mix' } });
    assert.ok(await until(() => alice.of(FrameType.METADATA).length >= 1 && bob.of(FrameType.METADATA).length >= 1, 5000), 'no METADATA reached the receivers');
    assert.deepEqual(decodeJsonPayload(alice.of(FrameType.METADATA)[0], FrameType.METADATA), { title: 'the mix' });
    for (let k = 0; k < 5; k++) w.receive(audioMsg({ seq: k, value: 0.5, userId: 'xcast' }));
    w.receive(audioMsg({ seq: 5, value: 0.25, userId: 'xcast', targetUserId: 'bob' }));
    assert.ok(await until(() => alice.of(FrameType.AUDIO).length >= 5 && bob.of(FrameType.AUDIO).length >= 6, 5000),
      `alice ${alice.of(FrameType.AUDIO).length}, bob ${bob.of(FrameType.AUDIO).length}`);
    const seqsOf = (r: UdpTestSender) => r.of(FrameType.AUDIO).map((a) => decodeAudioPayload(a).header.seq);
    assert.deepEqual(seqsOf(alice), [0, 1, 2, 3, 4]);
    assert.deepEqual(seqsOf(bob), [0, 1, 2, 3, 4, 5]);
    const last = decodeAudioPayload(bob.of(FrameType.AUDIO)[5]).data;
    assert.equal(last.readFloatLE(0), 0.25);
  });

  it('refuses TLS over UDP naming the field tls, and a transport that is neither, naming transport', async () => {
    const certs = makeTestCerts();
    try {
      await loadFlow([tlsConfigModule, nodeModules.socketReader, nodeModules.socketWriter], [
        { id: 'tlsS', type: 'tls-config', name: 'tlsS', cert: certs.serverCert, key: certs.serverKey, ca: '', certname: '', keyname: '', caname: '', servername: '', verifyservercert: true },
        { id: 'r', type: 'xcast-socket-reader', mode: 'server', transport: 'udp', port: '0', tls: 'tlsS', wires: [[], [], [], []] },
        { id: 'w', type: 'xcast-socket-writer', mode: 'server', transport: 'quic', port: '0', wires: [[]] },
      ]);
      await statusOf('r', light('red', 'ring', /^bad tls$/), 'the red ring of a bad tls');
      await statusOf('w', light('red', 'ring', /^bad transport$/), 'the red ring of a bad transport');
      assert.ok(await until(() => loggedErrors().some((e) => /tls: TLS is not offered over UDP/.test(e))), `logged: ${JSON.stringify(loggedErrors())}`);
      assert.ok(loggedErrors().some((e) => /transport: "quic" is not one of tcp, udp/.test(e)), `logged: ${JSON.stringify(loggedErrors())}`);
    } finally {
      fs.rmSync(certs.dir, { recursive: true, force: true });
    }
  });

  it('a UDP reader (its ingest thread, socket and ring) and writer release everything on close: no thread, socket or timer left', async () => {
    const before = await baseline();
    await loadFlow([nodeModules.socketReader, nodeModules.socketWriter, nodeModules.mixer], [
      { id: 'r', type: 'xcast-socket-reader', mode: 'server', transport: 'udp', port: '0', wires: [['m'], [], [], []] },
      { id: 'm', ...MIXER, wires: [[], [], [], [], []] },
      { id: 'w', type: 'xcast-socket-writer', mode: 'server', transport: 'udp', port: '0', wires: [[]] },
    ]);
    const p = await listening('r');
    await listening('w');
    assert.ok(await until(() => udpServerOf('r').ringAttached, 5000));
    const s = await udpSender(p);
    await s.hello('alice');
    for (let k = 0; k < 10; k++) await s.audio(Buffer.alloc(N * 2), { seq: k });
    assert.ok(await until(() => udpServerOf('r').stats.ringWritten === 10, 5000));
    s.close();
    senders.splice(senders.indexOf(s), 1);
    await assertReleasedOnClose(before);
  });

  it('a garbled datagram and audio from an address without a HELLO are dropped and counted in /metrics; the sender\'s session goes on', async () => {
    const metric = async (line: RegExp): Promise<number> => {
      const text = (await request((red as unknown as { httpNode: Parameters<typeof request>[0] }).httpNode).get('/metrics').expect(200)).text;
      return Number(line.exec(text)?.[1] ?? 0);
    };
    const badMagic = /^xcast_udp_dropped_total\{reason="bad_magic"\} (\d+)$/m;
    const noSession = /^xcast_udp_dropped_total\{reason="no_session"\} (\d+)$/m;
    // The reader's module with its RED kept: /metrics is on RED.httpNode.
    let red: NodeAPI | null = null;
    const readerModule = (RED: NodeAPI) => { red = RED; return (nodeModules.socketReader as (r: NodeAPI) => void)(RED); };
    const flow = await loadFlow([readerModule], [
      { id: 'r', type: 'xcast-socket-reader', mode: 'server', transport: 'udp', port: '0', wires: [['out'], [], [], []] },
    ], { helpers: ['out'] });
    const before = [await metric(badMagic), await metric(noSession)];
    const p = await listening('r');
    const s = await udpSender(p);
    const stranger = await udpSender(p);
    await s.hello('alice');
    await stranger.audio(Buffer.alloc(N * 2), { seq: 1 });
    await s.send(Buffer.from('not a streamproto1 frame at all'));
    await s.audio(Buffer.alloc(N * 2), { seq: 7 });
    const out = await flow.receivedAtLeast('out', 1, 5000);
    assert.equal((out[0].audio as { seq: number }).seq, 7);
    assert.equal(out.length, 1, 'the stranger\'s audio passed');
    assert.ok(await until(() => udpServerOf('r').stats.dropped === 2, 5000), JSON.stringify(udpServerOf('r').stats.drops));
    assert.equal(await metric(badMagic), before[0] + 1);
    assert.equal(await metric(noSession), before[1] + 1);
  });

  it('a UDP sender that goes silent: its session ends at the UDP idle timeout, a close event, and its track leaves the mix at once (ring path, its packets all counted)', async () => {
    const flow = await loadFlow([nodeModules.socketReader, nodeModules.mixer], [
      { id: 'r', type: 'xcast-socket-reader', mode: 'server', transport: 'udp', port: '0', udpIdleTimeoutMs: '500', wires: [['m'], [], ['m', 'events'], []] },
      { id: 'm', ...MIXER, trackTimeoutMs: '20000', wires: [[], ['state'], [], [], []] },
    ], { helpers: ['events', 'state'] });
    const p = await listening('r');
    assert.ok(await until(() => udpServerOf('r').ringAttached, 5000));
    const s = await udpSender(p);
    await s.hello('alice');
    await paced(40, (k) => { void s.audio(Buffer.alloc(N * 2, 1), { seq: k }); });
    const silentAt = Date.now();
    const closed = () => flow.received('events').find((m) => (m.payload as { event?: string }).event === 'close');
    assert.ok(await until(() => closed() !== undefined, 5000), 'no close event');
    const waited = Date.now() - silentAt;
    assert.ok(waited >= 400 && waited < 3000, `closed ${waited} ms after the last packet (idle timeout 500)`);
    const connectionId = (closed()!.payload as { connectionId: string }).connectionId;
    type St = { connectionId: string; connected: boolean; removedReason?: string; received: number };
    const removed = () => flow.received('state').flatMap((m) => m.payload as St[]).find((t) => t.connectionId === connectionId && t.removedReason !== undefined);
    assert.ok(await until(() => removed() !== undefined, 5000), 'the track never left the mix');
    assert.equal(removed()!.removedReason, 'closed', 'it left by its connection\'s close, not its 20 s timeout');
    assert.equal(removed()!.received, 40);
  });

  it('a red ring, and the error logged, when a UDP reader cannot bind its port (another socket holds it)', async () => {
    const taken = dgram.createSocket('udp4');
    await new Promise<void>((r) => taken.bind(0, '127.0.0.1', () => r()));
    try {
      const port = taken.address().port;
      await loadFlow([nodeModules.socketReader], [{ id: 'n', type: 'xcast-socket-reader', mode: 'server', transport: 'udp', port: String(port), wires: [[], [], [], []] }]);
      await statusOf('n', light('red', 'ring', /listen/), 'the red ring of a failed bind');
      assert.ok(await until(() => loggedErrors().some((e) => /cannot listen on udp 127\.0\.0\.1:\d+: .*EADDRINUSE/.test(e))), `logged: ${JSON.stringify(loggedErrors())}`);
    } finally {
      taken.close();
    }
  });

  it('UDP into a reader wired to a mixer and a socket writer (both take audio directly): the mixer gets the ring, the writer every packet by call, none twice', async () => {
    await loadFlow([nodeModules.socketReader, nodeModules.mixer, nodeModules.socketWriter], [
      { id: 'r', type: 'xcast-socket-reader', mode: 'server', transport: 'udp', port: '0', wires: [['m', 'w'], [], [], []] },
      { id: 'm', ...MIXER, stateIntervalMs: '50', wires: [[], ['state'], [], [], []] },
      { id: 'w', type: 'xcast-socket-writer', mode: 'server', transport: 'udp', port: '0', wires: [[]] },
    ], { helpers: ['state'] });
    const p = await listening('r');
    const pw = await listening('w');
    const srv = udpServerOf('r');
    assert.ok(await until(() => srv.ringAttached, 5000), 'no ring attached');
    const monitor = await udpSender(pw);
    await monitor.hello('monitor', { role: 'monitor' });
    assert.ok(await until(() => monitor.of(FrameType.HELLO).length === 1, 5000));
    const s = await udpSender(p);
    await s.hello('alice');
    const src = noise(50);
    await paced(50, (k) => { void s.audio(frameOf(src, k), { seq: k }); });
    assert.ok(await until(() => monitor.of(FrameType.AUDIO).length === 50, 5000), `${monitor.of(FrameType.AUDIO).length} of 50 frames through the writer`);
    assert.deepEqual(monitor.of(FrameType.AUDIO).map((a) => decodeAudioPayload(a).header.seq), Array.from({ length: 50 }, (_, k) => k));
    assert.ok(await until(() => srv.stats.ringWritten === 50 && srv.stats.audioPosted === 50, 5000), JSON.stringify(srv.stats));
    type St = { userId: string; received: number; duplicate: number };
    const track = () => (helper.getNode('m') as unknown as { tickSource: { tracks(): St[] } }).tickSource.tracks().find((t) => t.userId === 'alice');
    assert.ok(await until(() => track()?.received === 50, 5000), JSON.stringify(track()));
    assert.equal(track()!.duplicate, 0, 'the mixer got packets twice (ring and call)');
  });
});

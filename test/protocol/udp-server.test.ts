// streamproto1 over UDP, the server (runtime/protocol/udp-server.ts): its worker thread owns a real dgram socket on
// 127.0.0.1; senders are a few lines of dgram (test/support/udp-sender.ts). HELLO-ack, PING/PONG, QOS both ways,
// drops by reason, the idle timeout, audio batched to the links or — a MixEngine's ring attached — straight into the
// mix thread with nothing on the event loop, and the thread started again after it dies.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  FrameType, decodeErrorPayload, decodeJsonPayload, decodePing, decodePong, encodeFrame, encodePing, encodePong, encodeJsonFrame, validateServerHello,
  type AudioHeader,
} from '../../runtime/protocol/frame';
import { UdpStreamServer, type UdpLink, type UdpStreamServerOptions } from '../../runtime/protocol/udp-server';
import { createMixEngine, type MixEngine } from '../../runtime/audio/mix-engine';
import type { TrackState } from '../../runtime/audio/mixer';
import { nowMicros } from '../../runtime/clock';
import { UdpTestSender } from '../support/udp-sender';
import { until } from '../support/resources';

/** Frame `seq` of mono pcm_s16le, 480 samples whose values say which frame and sample they are. */
function pcm(seq: number): Buffer {
  const d = Buffer.alloc(960);
  for (let i = 0; i < 480; i++) d.writeInt16LE(((seq * 97 + i * 13) % 60000) - 30000, 2 * i);
  return d;
}

describe('protocol/udp-server: streamproto1 over UDP on a thread of its own', function () {
  this.timeout(20_000);
  const servers: UdpStreamServer[] = [];
  const senders: UdpTestSender[] = [];
  const engines: MixEngine[] = [];

  async function server(opts: UdpStreamServerOptions = {}): Promise<{ srv: UdpStreamServer; port: number; links: UdpLink[] }> {
    const srv = new UdpStreamServer({ statsIntervalMs: 50, ...opts });
    servers.push(srv);
    const links: UdpLink[] = [];
    srv.on('connection', (l) => links.push(l));
    const { port } = await srv.listen();
    return { srv, port, links };
  }

  async function sender(port: number): Promise<UdpTestSender> {
    const s = await new UdpTestSender(port).start();
    senders.push(s);
    return s;
  }

  afterEach(async () => {
    for (const s of senders.splice(0)) s.close();
    for (const e of engines.splice(0)) e.close();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('a HELLO opens a link (its userId, role, remote) and is answered with the HELLO-ack naming it; PING is answered with PONG; the server\'s own PINGs come back as pong events', async () => {
    const { port, links } = await server({ serverName: 'hub', pingIntervalMs: 100 });
    const s = await sender(port);
    await s.hello('alice', { role: 'monitor' });
    assert.ok(await until(() => links.length === 1 && s.of(FrameType.HELLO).length === 1, 5000), 'no link, or no HELLO-ack');
    const link = links[0];
    const ack = validateServerHello(decodeJsonPayload(s.of(FrameType.HELLO)[0], FrameType.HELLO) as never);
    assert.equal(ack.sessionId, link.id);
    assert.equal(ack.name, 'hub');
    assert.deepEqual([link.userId, link.role, link.remote, link.transport, link.isOpen, link.secure], ['alice', 'monitor', `127.0.0.1:${s.port}`, 'udp', true, false]);

    await s.send(encodePing(123_456_789));
    assert.ok(await until(() => s.of(FrameType.PONG).length === 1, 5000), 'no PONG');
    assert.equal(decodePong(s.of(FrameType.PONG)[0]).t0, 123_456_789);

    // The server pings its senders (as the TCP server does): answer one, and the link has a round trip.
    assert.ok(await until(() => s.of(FrameType.PING).length >= 1, 5000), 'the server never pinged');
    const pong = once(link, 'pong');
    const t0 = decodePing(s.of(FrameType.PING)[0]);
    await s.send(encodePong(t0, Math.floor(nowMicros()), Math.floor(nowMicros())));
    const [info] = await pong;
    assert.ok(info.rttMs >= 0 && info.rttMs < 1000, `rtt ${info.rttMs}`);
    assert.equal(link.rttMs, info.rttMs);
  });

  it('without a ring, AUDIO reaches its link as audio events, bit-exact and in order, many frames to one message from the thread', async () => {
    const { srv, port, links } = await server();
    const s = await sender(port);
    await s.hello('alice');
    assert.ok(await until(() => links.length === 1, 5000));
    const got: Array<{ h: AudioHeader; d: Buffer; at: number }> = [];
    links[0].on('audio', (h, d) => got.push({ h, d, at: links[0].arrivalMicros }));
    const before = nowMicros();
    // A burst: the thread reads many datagrams per turn of its loop and posts them as one batch.
    await Promise.all(Array.from({ length: 200 }, (_, k) => s.audio(pcm(k), { seq: k })));
    assert.ok(await until(() => got.length === 200, 5000), `${got.length} of 200 frames`);
    got.forEach((g, k) => {
      assert.equal(g.h.seq, k);
      assert.ok(g.d.equals(pcm(k)), `frame ${k} differs`);
      // The thread's clock is the event loop's (timeOrigin-based µs since the epoch).
      assert.ok(g.at >= before - 1000 && g.at <= nowMicros() + 1000, `arrival ${g.at} not between ${before} and now`);
    });
    assert.ok(await until(() => srv.stats.audioPosted === 200, 3000));
    const st = srv.stats;
    assert.ok(st.batches <= 100, `${st.batches} messages for 200 frames`);
    assert.equal(st.audioFrames, 200);
    assert.equal(links[0].counters.framesIn >= 200, true);
  });

  it('a garbled datagram is dropped and counted by reason, never a close: the session goes on', async () => {
    const { srv, port, links } = await server();
    const s = await sender(port);
    await s.hello('alice');
    assert.ok(await until(() => links.length === 1, 5000));
    let audio = 0;
    links[0].on('audio', () => { audio++; });
    await s.send(Buffer.from('definitely not a frame, but long enough'));
    const bad = encodeFrame(FrameType.AUDIO, Buffer.alloc(30));
    bad[0] = 0x00;   // bad magic
    await s.send(bad);
    await s.send(Buffer.concat([encodeJsonFrame(FrameType.QOS, { a: 1 }), Buffer.from([1, 2, 3])]));   // trailing bytes
    await s.audio(pcm(1), { seq: 1 });
    assert.ok(await until(() => audio === 1 && srv.stats.dropped === 3, 5000), `audio ${audio}, drops ${JSON.stringify(srv.stats.drops)}`);
    assert.deepEqual(srv.stats.drops, { bad_magic: 2, trailing: 1 });
    assert.ok(links[0].isOpen);
    assert.equal(s.of(FrameType.ERROR).length, 0, 'a bad datagram is never answered');
  });

  it('AUDIO from an address with no accepted HELLO, and a HELLO with a wrong token, are dropped and counted; the wrong token is answered ERROR unauthorized; no link opens', async () => {
    const { srv, port, links } = await server({ token: 's3cret' });
    const refused: Array<{ code: string; remote: string }> = [];
    srv.on('refused', (r) => refused.push(r));
    const stranger = await sender(port);
    await stranger.audio(pcm(0));
    const wrong = await sender(port);
    await wrong.hello('mallory', { token: 'guess' });
    assert.ok(await until(() => wrong.of(FrameType.ERROR).length === 1, 5000), 'no ERROR for the wrong token');
    assert.equal(decodeErrorPayload(wrong.of(FrameType.ERROR)[0]).code, 'unauthorized');
    await wrong.audio(pcm(1));
    assert.ok(await until(() => srv.stats.dropped === 3, 5000), JSON.stringify(srv.stats.drops));
    assert.deepEqual(srv.stats.drops, { no_session: 2, unauthorized: 1 });
    assert.equal(links.length, 0);
    assert.deepEqual(refused.map((r) => [r.code, r.remote]), [['unauthorized', `127.0.0.1:${wrong.port}`]]);
    // The right token opens one.
    const ok = await sender(port);
    await ok.hello('alice', { token: 's3cret' });
    assert.ok(await until(() => links.length === 1, 5000));
    assert.equal(links[0].authenticated, true);
  });

  it('QOS and METADATA sent on a link reach the sender\'s address; the sender\'s QOS and METADATA are the link\'s events', async () => {
    const { port, links } = await server();
    const s = await sender(port);
    await s.hello('alice');
    assert.ok(await until(() => links.length === 1, 5000));
    const link = links[0];
    const qos = once(link, 'qos');
    const meta = once(link, 'metadata');
    await s.send(encodeJsonFrame(FrameType.QOS, [{ head: { seq: 1 } }]));
    await s.send(encodeJsonFrame(FrameType.METADATA, { title: 'x' }));
    assert.deepEqual((await qos)[0], [{ head: { seq: 1 } }]);
    assert.deepEqual((await meta)[0], { title: 'x' });
    assert.ok(link.sendQos({ head: { seq: 7 }, qosTimestamp: 1 }));
    assert.ok(link.sendMetadata({ hello: 'back' }));
    assert.ok(await until(() => s.of(FrameType.QOS).length === 1 && s.of(FrameType.METADATA).length === 1, 5000), 'nothing came back');
    assert.deepEqual(decodeJsonPayload(s.of(FrameType.QOS)[0], FrameType.QOS), { head: { seq: 7 }, qosTimestamp: 1 });
    assert.deepEqual(decodeJsonPayload(s.of(FrameType.METADATA)[0], FrameType.METADATA), { hello: 'back' });
    assert.equal(link.counters.framesOut, 2);
  });

  it('with a mix engine\'s ring attached the thread writes AUDIO into the mix: the samples in the mix exact, no link emits audio, nothing posted; a refused packet is counted on its track; the idle session ends and its track leaves the mix', async () => {
    const engine = createMixEngine({ sampleRate: 48000, channels: 1, frameSamples: 480, trackTimeoutMs: 10_000, playout: { targetDepthFrames: 3, adaptive: false }, statsEveryTicks: 5, realtime: null, nice: null });
    engines.push(engine);
    engine.start();
    const { srv, port, links } = await server({ idleTimeoutMs: 600 });
    const att = engine.attachRing();
    srv.attachRing(att.ring, att.sampleRate);
    const s = await sender(port);
    await s.hello('alice');
    assert.ok(await until(() => links.length === 1, 5000));
    const link = links[0];
    const audioRefused: string[] = [];
    srv.on('audioRefused', (l, m) => { if (l === link) audioRefused.push(m); });
    let audioEvents = 0;
    link.on('audio', () => { audioEvents++; });
    // A constant 0.25 (8192 of 32768): every sample of a mixed frame is exactly that at unity gain.
    const data = Buffer.alloc(960);
    for (let i = 0; i < 480; i++) data.writeInt16LE(8192, 2 * i);
    let exact = 0;
    engine.on('mix', (r) => {
      if (r.used.length === 0) return;
      const f = new Float32Array(r.mix.buffer, r.mix.byteOffset, 480);
      if (f.every((v) => v === 0.25)) exact++;
    });
    for (let k = 0; k < 60; k++) {
      await s.audio(data, { seq: k });
      await new Promise((r) => setTimeout(r, 10));
    }
    await s.audio(Buffer.alloc(882), { seq: 60, sampleRate: 44100, frameSamples: 441 });
    await s.audio(Buffer.alloc(882), { seq: 61, sampleRate: 44100, frameSamples: 441 });
    assert.ok(await until(() => exact >= 30, 5000), `${exact} exact frames in the mix`);
    let track: TrackState | undefined;
    assert.ok(await until(() => (track = engine.tracks().find((t) => t.connectionId === link.id)) !== undefined && track.refused === 2, 5000), JSON.stringify(engine.tracks()));
    assert.equal(track!.userId, 'alice');
    assert.ok(await until(() => srv.stats.ringWritten === 60 && srv.stats.ringRefused === 2, 3000), JSON.stringify(srv.stats));
    assert.equal(audioRefused.length, 1, 'said once per session and reason');
    assert.match(audioRefused[0], /44100 Hz/);
    assert.equal(srv.stats.audioPosted, 0, 'no audio posted to the event loop');
    assert.equal(srv.stats.batches, 0);
    assert.equal(audioEvents, 0, 'the link emitted no audio');

    // Silence: the session ends at its idle timeout; its connection's close takes its track out of the mix (what
    // the mixer node does on the reader's close event), long before the track's own 10 s timeout.
    const removed = new Promise<TrackState>((resolve) => engine.on('track-removed', (t) => { if (t.connectionId === link.id) resolve(t); }));
    const [reason] = await once(link, 'close');
    assert.equal(reason, 'idle_timeout');
    engine.removeConnection(link.id);
    const gone = await removed;
    assert.equal(gone.removedReason, 'closed');
    assert.equal(gone.received, 60);
    att.detach();
  });

  it('with a ring, a sender\'s packets go to the room its HELLO names (room, else profile.room), as the socket reader tags them on TCP', async () => {
    const engine = createMixEngine({ sampleRate: 48000, channels: 1, frameSamples: 480, playout: { targetDepthFrames: 1 }, statsEveryTicks: 2, realtime: null, nice: null });
    engines.push(engine);
    engine.start();
    const { srv, port, links } = await server();
    const att = engine.attachRing();
    srv.attachRing(att.ring, att.sampleRate);
    const blue = await sender(port);
    const green = await sender(port);
    const main = await sender(port);
    await blue.hello('b', { room: 'blue' });
    await green.hello('g', { profile: { room: 'green' } });
    await main.hello('m', { room: 'not a room name' });
    assert.ok(await until(() => links.length === 3, 5000));
    for (let k = 0; k < 5; k++) for (const s of [blue, green, main]) await s.audio(pcm(k), { seq: k });
    const roomOf = (u: string) => engine.tracks().find((t) => t.userId === u)?.room;
    assert.ok(await until(() => roomOf('b') !== undefined && roomOf('g') !== undefined && roomOf('m') !== undefined, 5000), JSON.stringify(engine.tracks()));
    assert.deepEqual([roomOf('b'), roomOf('g'), roomOf('m')], ['blue', 'green', 'main']);
  });

  it('the thread dying is an error; it is started again on the same port, its links close, and the sender\'s next HELLO opens a new session', async () => {
    const { srv, port, links } = await server();
    const errors: Error[] = [];
    srv.on('error', (e) => errors.push(e));
    const s = await sender(port);
    await s.hello('alice');
    assert.ok(await until(() => links.length === 1, 5000));
    const closed = once(links[0], 'close');
    await srv.thread!.terminate();
    await closed;
    assert.equal(links[0].isOpen, false);
    assert.ok(await until(() => errors.length === 1, 5000));
    assert.match(errors[0].message, /starting it again/);
    await once(srv, 'listening');
    assert.equal(srv.address?.port, port);
    await s.hello('alice');
    assert.ok(await until(() => links.length === 2 && links[1].isOpen, 5000), 'no new session after the restart');
    assert.equal(srv.stats.restarts, 1);
  });

  it('with a ring, a thread started again takes the ring on: the next session\'s packets reach the mix under its own user and connection', async () => {
    const engine = createMixEngine({ sampleRate: 48000, channels: 1, frameSamples: 480, playout: { targetDepthFrames: 1 }, statsEveryTicks: 2, realtime: null, nice: null });
    engines.push(engine);
    engine.on('error', () => { /* not this engine's thread */ });
    engine.start();
    const { srv, port, links } = await server();
    srv.on('error', () => { /* the restart says so */ });
    const att = engine.attachRing();
    srv.attachRing(att.ring, att.sampleRate);
    const bob = await sender(port);
    await bob.hello('bob');
    assert.ok(await until(() => links.length === 1, 5000));
    for (let k = 0; k < 5; k++) await bob.audio(pcm(k), { seq: k });
    assert.ok(await until(() => engine.tracks().some((t) => t.userId === 'bob' && t.received === 5), 5000), JSON.stringify(engine.tracks()));
    await srv.thread!.terminate();
    await once(srv, 'listening');
    const alice = await sender(port);
    await alice.hello('alice');
    assert.ok(await until(() => links.length === 2, 5000));
    for (let k = 0; k < 5; k++) await alice.audio(pcm(k), { seq: k });
    const track = () => engine.tracks().find((t) => t.connectionId === links[1].id);
    assert.ok(await until(() => track()?.received === 5, 5000), JSON.stringify(engine.tracks()));
    assert.equal(track()!.userId, 'alice');
    assert.equal(engine.tracks().find((t) => t.connectionId === links[0].id)?.received ?? 5, 5, 'a packet of alice\'s counted on bob\'s track');
  });

  it('a frame sent on several links in one turn goes to each sender (one message to the thread), and none after a link closed', async () => {
    const { port, links } = await server();
    const a = await sender(port);
    const b = await sender(port);
    await a.hello('a');
    await b.hello('b');
    assert.ok(await until(() => links.length === 2, 5000));
    const frame = encodeJsonFrame(FrameType.METADATA, { n: 1 });
    for (const l of links) assert.ok(l.send(frame));
    assert.ok(await until(() => a.of(FrameType.METADATA).length === 1 && b.of(FrameType.METADATA).length === 1, 5000));
    const closedA = once(links[0], 'close');
    links[0].close('bye', 'test over');
    await closedA;
    assert.equal(links[0].send(frame), false);
    assert.ok(await until(() => a.of(FrameType.ERROR).length === 1, 5000), 'no ERROR on close');
    assert.equal(decodeErrorPayload(a.of(FrameType.ERROR)[0]).code, 'bye');
  });
});

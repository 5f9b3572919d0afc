// streamproto1 over UDP, the sender's end (runtime/protocol/udp-client.ts UdpStreamClient): a real connected dgram
// socket against a receiver made of the project's UdpSessionTable on a real socket (the table's clock is
// performance.now(), so its idle timeout is real time; HELLO refreshes are 100 ms here so the tests are short).

import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Codec, FrameType, encodeAudioFrame, encodeFrame, type AudioHeader } from '../../runtime/protocol/frame';
import { UdpSessionTable, type UdpSession, type UdpSessionTableOptions } from '../../runtime/protocol/udp-sessions';
import { UdpStreamClient, type UdpClientLink } from '../../runtime/protocol/udp-client';
import { UdpStreamServer, type UdpLink } from '../../runtime/protocol/udp-server';
import { opusEncode, until } from './helpers';

class Receiver {
  readonly socket = dgram.createSocket('udp4');
  table: UdpSessionTable;
  readonly audio: Array<{ session: UdpSession; header: AudioHeader; bytes: number }> = [];
  readonly qos: unknown[] = [];
  readonly from = new Map<string, dgram.RemoteInfo>();
  helloes = 0;
  port = 0;

  constructor(opts: UdpSessionTableOptions = {}) {
    this.table = new UdpSessionTable(opts);
    this.socket.on('message', (msg, rinfo) => {
      const r = this.table.handle(msg, rinfo, performance.now());
      if (r.kind === 'hello') this.helloes++;
      if (r.kind === 'audio') this.audio.push({ session: r.session!, header: r.header!, bytes: r.data!.length });
      if (r.kind === 'qos') this.qos.push(r.json);
      if (r.session) this.from.set(r.session.id, rinfo);
      if (r.reply) this.socket.send(r.reply, rinfo.port, rinfo.address);
    });
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
    return (this.port = this.socket.address().port);
  }

  /** Sends a raw datagram to a session's sender. */
  sendTo(session: UdpSession, datagram: Buffer): void {
    this.socket.send(datagram, session.port, session.address);
  }
}

const hello = { userId: 'alice', role: 'peer' as const };

function header(seq: number, frameSamples = 480): AudioHeader {
  return { trackId: 1, seq, captureTime: 1_763_740_000_000_000 + seq * 10_000, sampleRate: 48000, channels: 1, codec: Codec.OPUS, frameSamples };
}

describe('UdpStreamClient (streamproto1 over UDP, sender side)', function () {
  let rx: Receiver;
  let client: UdpStreamClient | undefined;

  afterEach(async () => {
    await client?.close();
    client = undefined;
    rx.socket.close();
  });

  async function connected(opts: Partial<ConstructorParameters<typeof UdpStreamClient>[0]> = {}): Promise<UdpClientLink> {
    client = new UdpStreamClient({ port: rx.port, hello, helloIntervalMs: 100, ...opts });
    const p = once(client, 'connect') as Promise<[UdpClientLink]>;
    client.start();
    return (await p)[0];
  }

  it('connects at the first HELLO-ack (the link id is the sessionId) and its AUDIO frames reach the session, one per datagram', async () => {
    rx = new Receiver();
    await rx.start();
    const link = await connected();
    assert.equal(rx.table.size, 1);
    const session = rx.table.list()[0];
    assert.equal(link.id, session.id);
    assert.equal(link.transport, 'udp');
    assert.equal(link.isOpen, true);
    assert.equal(session.userId, 'alice');
    assert.equal(session.port, client!.localPort);
    const opus = opusEncode(48000, 1, 480);
    for (let seq = 0; seq < 50; seq++) assert.equal(link.sendAudio(header(seq), opus), true);
    await until(() => rx.audio.length === 50, 5000, '50 AUDIO frames');
    assert.deepEqual(rx.audio.map((a) => a.header.seq), [...Array(50).keys()]);
    assert.ok(rx.audio.every((a) => a.session === session && a.bytes === opus.length));
    assert.equal(link.counters.framesOut >= 50, true);
  });

  it('receives AUDIO (the mix), QOS and answers PING; PONG gives the round-trip time', async () => {
    rx = new Receiver();
    await rx.start();
    const link = await connected({ pingIntervalMs: 50 });
    const session = rx.table.list()[0];
    const got: AudioHeader[] = [];
    link.on('audio', (h) => got.push(h));
    const qos: unknown[] = [];
    link.on('qos', (q) => qos.push(q));
    const opus = opusEncode(48000, 1, 480);
    for (let seq = 7; seq < 17; seq++) rx.sendTo(session, encodeAudioFrame(header(seq), opus));
    rx.sendTo(session, encodeFrame(FrameType.QOS, Buffer.from('{"head":{"seq":1},"qosTimestamp":1,"userId":"x"}')));
    await until(() => got.length === 10 && qos.length === 1 && link.rttMs !== undefined, 5000, 'mix frames, a QOS and a PONG');
    assert.deepEqual(got.map((h) => h.seq), [7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    assert.ok(link.rttMs! >= 0 && link.rttMs! < 1000);
    // The link's QOS goes back to the receiver's session.
    link.sendQos({ head: { seq: 1 }, qosTimestamp: 2, userId: 'alice' });
    await until(() => rx.qos.length === 1, 5000, 'QOS at the receiver');
  });

  it('a malformed datagram from the receiver is dropped and counted; the link stays open', async () => {
    rx = new Receiver();
    await rx.start();
    const link = await connected();
    const session = rx.table.list()[0];
    const errors: string[] = [];
    link.on('protocolError', (e) => errors.push(e.code));
    rx.sendTo(session, Buffer.from('not a frame at all'));
    rx.sendTo(session, Buffer.concat([encodeFrame(FrameType.QOS, Buffer.from('{}')), Buffer.from([1])]));
    await until(() => client!.stats.dropped === 2, 5000, 'two drops');
    assert.deepEqual(errors, ['bad_magic', 'trailing']);
    assert.equal(link.isOpen, true);
  });

  it('HELLO refreshes keep the session past the receiver’s idle timeout while silent', async () => {
    rx = new Receiver({ idleTimeoutMs: 400 });
    await rx.start();
    const link = await connected();
    const id = link.id;
    const closed: string[] = [];
    link.on('close', (r) => closed.push(r));
    const start = rx.helloes;
    // 3 idle timeouts of silence (no AUDIO): the refreshes alone hold the session.
    await until(() => rx.helloes - start >= 12, 5000, '12 refreshes');
    rx.table.sweep(performance.now());
    assert.equal(rx.table.size, 1);
    assert.equal(rx.table.list()[0].id, id);
    assert.equal(rx.table.stats.opened, 1);
    assert.deepEqual(closed, []);
    assert.equal(link.isOpen, true);
  });

  it('a receiver that forgot the session (a new sessionId) gives disconnect, then a new link', async () => {
    rx = new Receiver();
    await rx.start();
    const first = await connected();
    const reasons: string[] = [];
    first.on('close', (r) => reasons.push(r));
    const next = once(client!, 'connect') as Promise<[UdpClientLink]>;
    const gone = once(client!, 'disconnect');
    rx.table.closeAll();   // the receiver forgets: the next refresh opens a new session
    const [second] = await next;
    await gone;
    assert.notEqual(second.id, first.id);
    assert.equal(second.id, rx.table.list()[0].id);
    assert.equal(first.isOpen, false);
    assert.equal(second.isOpen, true);
    assert.match(reasons[0], /new session/);
    assert.equal(first.sendAudio(header(0), opusEncode(48000, 1, 480)), false);
  });

  it('a wrong token: connectError once, code unauthorized with the receiver’s message, however many refreshes are refused', async () => {
    rx = new Receiver({ token: 's3cret' });
    await rx.start();
    client = new UdpStreamClient({ port: rx.port, hello: { ...hello, token: 'wrong' }, helloIntervalMs: 100 });
    const errors: Array<Error & { code?: string }> = [];
    client.on('connectError', (e) => errors.push(e));
    let connects = 0;
    client.on('connect', () => connects++);
    client.start();
    await until(() => client!.stats.refusals >= 4, 5000, '4 refused HELLOs');
    assert.equal(errors.length, 1);
    assert.equal(errors[0].code, 'unauthorized');
    assert.match(errors[0].message, /unauthorized/);
    assert.equal(connects, 0);
    assert.equal(rx.table.size, 0);
  });

  it('a frame larger than a UDP datagram is refused with an error naming the limit', async () => {
    rx = new Receiver();
    await rx.start();
    const link = await connected();
    const pcm = Buffer.alloc(35_000 * 2);
    const h: AudioHeader = { ...header(0, 35_000), codec: Codec.PCM_S16LE };
    assert.throws(() => link.sendAudio(h, pcm), (e: Error) => e instanceof RangeError && /70032 bytes.*65507/.test(e.message));
    assert.throws(() => link.sendMetadata({ big: 'x'.repeat(70_000) }), /65507/);
    // What fits still goes.
    assert.equal(link.sendAudio(header(1), opusEncode(48000, 1, 480)), true);
    await until(() => rx.audio.length === 1, 5000, 'the small frame');
  });

  it('close() sends nothing more and closes the socket; HELLOs wait while nothing listens', async () => {
    rx = new Receiver();
    await rx.start();
    const port = rx.port;
    rx.socket.close();
    // Nothing listens: HELLOs go out (ICMP refusals counted), no connect.
    client = new UdpStreamClient({ port, hello, helloIntervalMs: 100 });
    client.start();
    await until(() => client!.stats.helloes >= 3, 5000, '3 HELLOs');
    assert.equal(client.connection, undefined);
    await client.close();
    assert.equal(client.sendDatagram(encodeFrame(FrameType.QOS, Buffer.from('{}'))), false);
    client = undefined;
    rx = new Receiver();
    await rx.start();
  });
});

describe('UdpStreamClient against UdpStreamServer (its worker thread owns the socket)', function () {
  this.timeout(20000);
  let server: UdpStreamServer | undefined;
  let client: UdpStreamClient | undefined;

  afterEach(async () => {
    await client?.close();
    await server?.close();
    client = undefined;
    server = undefined;
  });

  async function pair(serverOpts: ConstructorParameters<typeof UdpStreamServer>[0], h = hello): Promise<{ link: UdpClientLink; peer: UdpLink }> {
    server = new UdpStreamServer({ port: 0, ...serverOpts });
    const { port } = await server.listen();
    const peerP = once(server, 'connection') as Promise<[UdpLink]>;
    client = new UdpStreamClient({ port, hello: h, helloIntervalMs: 100 });
    const linkP = once(client, 'connect') as Promise<[UdpClientLink]>;
    client.start();
    const [[link], [peer]] = await Promise.all([linkP, peerP]);
    return { link, peer };
  }

  it('AUDIO both ways (the sender’s frames to its session, the mix back), QOS back on the same link, PING answered both ways', async () => {
    const { link, peer } = await pair({ pingIntervalMs: 50 });
    assert.equal(link.id, peer.id);
    assert.equal(peer.userId, 'alice');
    const inbound: number[] = [];
    peer.on('audio', (h) => inbound.push(h.seq));
    const mix: number[] = [];
    link.on('audio', (h) => mix.push(h.seq));
    const qos: unknown[] = [];
    peer.on('qos', (q) => qos.push(q));
    const opus = opusEncode(48000, 1, 480);
    for (let seq = 0; seq < 20; seq++) link.sendAudio(header(seq), opus);
    for (let seq = 100; seq < 110; seq++) peer.sendAudio(header(seq), opus);
    link.sendQos({ head: { seq: 100 }, qosTimestamp: 1, userId: 'alice' });
    await until(() => inbound.length === 20 && mix.length === 10 && qos.length === 1 && peer.rttMs !== undefined, 10000, 'frames both ways, QOS and the server’s PONG');
    assert.deepEqual(inbound, [...Array(20).keys()]);
    assert.deepEqual(mix, [...Array(10).keys()].map((k) => 100 + k));
  });

  it('HELLO refreshes alone keep the session past the server’s idle timeout (no audio, the server not pinging)', async () => {
    const { link, peer } = await pair({ idleTimeoutMs: 400, pingIntervalMs: 0 });
    const start = client!.stats.helloes;
    await until(() => client!.stats.helloes - start >= 12, 5000, '12 refreshes (3 idle timeouts)');
    assert.equal(peer.isOpen, true);
    assert.equal(link.isOpen, true);
    assert.equal(server!.connections.size, 1);
    assert.equal([...server!.connections][0].id, link.id);
  });

  it('a session the server ends: the client’s old link ends and its next refresh opens a new session (a new link)', async () => {
    const { link, peer } = await pair({ idleTimeoutMs: 400, pingIntervalMs: 0 });
    const closed = once(peer, 'close');
    const reopened = once(server!, 'connection') as Promise<[UdpLink]>;
    const again = once(client!, 'connect') as Promise<[UdpClientLink]>;
    peer.close();   // the server forgets the session; the next refresh opens another
    await closed;
    const [[next], [nextPeer]] = await Promise.all([again, reopened]);
    assert.notEqual(next.id, link.id);
    assert.equal(next.id, nextPeer.id);
    assert.equal(link.isOpen, false);
  });

  it('a wrong token: one connectError naming unauthorized with the server’s message; no session', async () => {
    server = new UdpStreamServer({ port: 0, token: 's3cret' });
    const { port } = await server.listen();
    client = new UdpStreamClient({ port, hello: { ...hello, token: 'nope' }, helloIntervalMs: 100 });
    const errs: Array<Error & { code?: string }> = [];
    client.on('connectError', (e) => errs.push(e));
    client.start();
    await until(() => client!.stats.refusals >= 3, 10000, '3 refusals');
    assert.equal(errs.length, 1);
    assert.equal(errs[0].code, 'unauthorized');
    assert.match(errs[0].message, /unauthorized/);
    assert.equal(server.connections.size, 0);
  });
});

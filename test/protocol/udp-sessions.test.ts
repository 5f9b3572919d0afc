// streamproto1 over UDP (runtime/protocol/udp-sessions.ts): a real dgram socket pair on 127.0.0.1 — the receiver's
// socket feeds UdpSessionTable.handle() and sends back its replies; senders HELLO and stream frames. Time is the
// injected `now` (ms), never a sleep.

import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import {
  Codec, FrameType, decodeErrorPayload, decodeJsonPayload, decodePong, encodeAudioFrame, encodeFrame, encodeJsonFrame,
  encodePing, validateServerHello, type AudioHeader, type ServerHello,
} from '../../runtime/protocol/frame';
import { FrameParser } from '../../runtime/protocol/parser';
import { UsersList } from '../../runtime/protocol/auth';
import {
  UdpClientSession, UdpSessionTable, type UdpCloseReason, type UdpSession, type UdpSessionTableOptions,
} from '../../runtime/protocol/udp-sessions';
import { rawHeader, until } from './helpers';

interface Accepted { session: UdpSession; header: AudioHeader; data: Buffer }

/** The receiver: one socket, one table, everything it did recorded. */
class Receiver {
  readonly socket = dgram.createSocket('udp4');
  readonly table: UdpSessionTable;
  now = 0;
  datagrams = 0;
  readonly audio: Accepted[] = [];
  readonly opened: UdpSession[] = [];
  readonly closed: Array<{ session: UdpSession; reason: UdpCloseReason }> = [];
  readonly drops: string[] = [];
  readonly metadata: unknown[] = [];
  port = 0;

  constructor(opts: UdpSessionTableOptions = {}) {
    this.table = new UdpSessionTable(opts);
    this.table.on('open', (s) => this.opened.push(s));
    this.table.on('close', (session, reason) => this.closed.push({ session, reason }));
    this.socket.on('message', (msg, rinfo) => {
      this.datagrams++;
      const r = this.table.handle(msg, rinfo, this.now);
      if (r.kind === 'audio') this.audio.push({ session: r.session as UdpSession, header: r.header as AudioHeader, data: Buffer.from(r.data as Buffer) });
      if (r.kind === 'drop') this.drops.push(r.reason as string);
      if (r.kind === 'metadata') this.metadata.push(r.json);
      if (r.reply) this.socket.send(r.reply, rinfo.port, rinfo.address);
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
    this.port = this.socket.address().port;
  }

  close(): void {
    this.socket.close();
  }
}

/** A sender: its own socket; the frames the receiver sent back, parsed. */
class Sender {
  readonly socket = dgram.createSocket('udp4');
  readonly replies: Array<{ type: number; payload: Buffer }> = [];
  port = 0;

  constructor(private readonly to: Receiver) {
    const parser = new FrameParser();
    this.socket.on('message', (msg) => parser.push(msg, (type, payload) => this.replies.push({ type, payload: Buffer.from(payload) })));
  }

  async start(address = '127.0.0.1'): Promise<void> {
    await new Promise<void>((resolve) => this.socket.bind(0, address, resolve));
    this.port = this.socket.address().port;
  }

  send(datagram: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(datagram, this.to.port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  }

  hello(userId: string, extra: Record<string, unknown> = {}): Promise<void> {
    return this.send(encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId, role: 'peer', ...extra }));
  }

  of(type: FrameType): Buffer[] {
    return this.replies.filter((r) => r.type === type).map((r) => r.payload);
  }

  close(): void {
    this.socket.close();
  }
}

/** Frame `seq` of a mono pcm_s16le track: 48 samples whose values say which frame and sample they are. */
function pcmFrame(seq: number, trackId = 1): { header: AudioHeader; data: Buffer; frame: Buffer } {
  const data = Buffer.alloc(96);
  for (let i = 0; i < 48; i++) data.writeInt16LE(((seq * 97 + i * 13) % 60000) - 30000, 2 * i);
  const header: AudioHeader = { trackId, seq, captureTime: 1_763_740_000_000_000 + seq * 1000, sampleRate: 48000, channels: 1, codec: Codec.PCM_S16LE, frameSamples: 48 };
  return { header, data, frame: encodeAudioFrame(header, data) };
}

describe('protocol/udp-sessions: streamproto1 over UDP', () => {
  let rx: Receiver;
  let rxOpen = false;
  const senders: Sender[] = [];
  /** Bare sockets a test made (closed after it). */
  const sockets: dgram.Socket[] = [];

  async function receiver(opts?: UdpSessionTableOptions): Promise<Receiver> {
    rx = new Receiver(opts);
    rxOpen = true;
    await rx.start();
    return rx;
  }

  async function sender(address?: string): Promise<Sender> {
    const s = new Sender(rx);
    await s.start(address);
    senders.push(s);
    return s;
  }

  afterEach(() => {
    for (const s of senders.splice(0)) s.close();
    for (const s of sockets.splice(0)) s.close();
    if (rxOpen) rx.close();
    rxOpen = false;
  });

  it('a sender that HELLOs: opened, acknowledged, its frames accepted bit-exact in order, PING answered with PONG', async () => {
    await receiver({ serverName: 'xcast-test' });
    const s = await sender();
    await s.hello('alice', { name: 'Alice' });
    await until(() => s.of(FrameType.HELLO).length === 1, 5000, 'HELLO-ack');
    const ack = validateServerHello(decodeJsonPayload(s.of(FrameType.HELLO)[0], FrameType.HELLO) as Record<string, unknown>) as ServerHello;
    assert.equal(rx.opened.length, 1);
    const session = rx.opened[0];
    assert.equal(ack.sessionId, session.id);
    assert.equal(ack.name, 'xcast-test');
    // The connection-event fields, as a TCP StreamConnection has them.
    assert.equal(session.connectionId, session.id);
    assert.equal(session.remote, `127.0.0.1:${s.port}`);
    assert.equal(session.userId, 'alice');
    assert.equal(session.role, 'peer');
    assert.equal(session.hello.name, 'Alice');
    assert.equal(session.authenticated, false);

    const sent = Array.from({ length: 50 }, (_, i) => pcmFrame(i));
    for (const f of sent) await s.send(f.frame);
    await until(() => rx.audio.length === 50, 5000, '50 AUDIO frames');
    rx.audio.forEach((a, i) => {
      assert.equal(a.session, session);
      assert.deepEqual(a.header, sent[i].header);
      assert.deepEqual(a.data, sent[i].data);
    });

    await s.send(encodePing(123_456_789));
    await until(() => s.of(FrameType.PONG).length === 1, 5000, 'PONG');
    assert.equal(decodePong(s.of(FrameType.PONG)[0]).t0, 123_456_789);
    assert.equal(rx.table.stats.dropped, 0);
    assert.equal(rx.closed.length, 0);
  });

  it('AUDIO (and PING) from an address without an accepted HELLO is dropped and counted; no session, no reply', async () => {
    await receiver();
    const s = await sender();
    for (let i = 0; i < 10; i++) await s.send(pcmFrame(i).frame);
    await s.send(encodePing(1));
    await until(() => rx.datagrams === 11, 5000, '11 datagrams');
    assert.equal(rx.audio.length, 0);
    assert.equal(rx.table.size, 0);
    assert.equal(rx.table.stats.drops.no_session, 11);
    assert.deepEqual(rx.opened, []);
    // The same sender after its HELLO is heard.
    await s.hello('late');
    await s.send(pcmFrame(10).frame);
    await until(() => rx.audio.length === 1, 5000, 'AUDIO after HELLO');
    assert.equal(s.of(FrameType.PONG).length, 0);
    assert.equal(rx.table.stats.drops.no_session, 11);
  });

  it('a bad datagram among good ones: only it is dropped (counted by reason), the session goes on', async () => {
    await receiver();
    const s = await sender();
    await s.hello('bob');
    const good = Array.from({ length: 8 }, (_, i) => pcmFrame(i));
    const twoFrames = Buffer.concat([pcmFrame(100).frame, pcmFrame(101).frame]);
    const badLength = pcmFrame(102).frame.subarray(0, 8 + 24 + 10);     // header says 120 bytes, 34 there
    const f = pcmFrame(103).frame;
    const badAudio = Buffer.concat([rawHeader(0x5350, 1, FrameType.AUDIO, f.length - 8 - 2), f.subarray(8, f.length - 2)]);  // PCM data 2 bytes short
    const bad = [
      Buffer.from('not a frame at all'),
      Buffer.concat([rawHeader(0x5351, 1, FrameType.AUDIO, 0)]),
      Buffer.concat([rawHeader(0x5350, 2, FrameType.AUDIO, 0)]),
      Buffer.concat([rawHeader(0x5350, 1, 0x42, 0)]),
      badLength,
      twoFrames,
      badAudio,
      encodeFrame(FrameType.METADATA, Buffer.from('{nope')),
    ];
    for (let i = 0; i < good.length; i++) {
      await s.send(good[i].frame);
      await s.send(bad[i]);
    }
    await until(() => rx.datagrams === 1 + 16, 5000, 'all datagrams');
    assert.deepEqual(rx.audio.map((a) => a.header.seq), [0, 1, 2, 3, 4, 5, 6, 7]);
    rx.audio.forEach((a, i) => assert.deepEqual(a.data, good[i].data));
    assert.deepEqual(rx.drops, ['bad_magic', 'bad_magic', 'bad_version', 'unknown_type', 'truncated', 'trailing', 'bad_audio', 'bad_json']);
    assert.equal(rx.table.stats.dropped, 8);
    assert.equal(rx.table.size, 1);
    assert.deepEqual(rx.closed, []);
    // The parser is not left mid-frame by the truncated one: the next good frame is whole.
    await s.send(pcmFrame(8).frame);
    await until(() => rx.audio.length === 9, 5000, 'frame after the bad ones');
  });

  it('a wrong or missing token is refused with ERROR unauthorized; its audio is dropped; the right one (or a user\'s own) is accepted', async () => {
    const users = UsersList.parse([{ userId: 'alice', token: 'alice-secret' }, { userId: 'bob', token: 'bob-secret', roles: ['monitor'] }]);
    await receiver({ token: 'room-token', users });
    const s = await sender();
    await s.hello('mallory', { token: 'guess' });
    await s.send(pcmFrame(0).frame);
    await s.hello('alice', { token: 'bob-secret' });
    await s.hello('bob', { token: 'bob-secret' });          // bob may only be a monitor
    await s.hello('nobody');
    await until(() => s.of(FrameType.ERROR).length === 4, 5000, 'four ERRORs');
    const codes = s.of(FrameType.ERROR).map((p) => decodeErrorPayload(p));
    assert.deepEqual(codes.map((c) => c.code), ['unauthorized', 'unauthorized', 'unauthorized', 'unauthorized']);
    assert.ok(!codes.some((c) => c.message.includes('guess') || c.message.includes('secret')), 'no token echoed');
    assert.equal(rx.table.size, 0);
    assert.equal(rx.audio.length, 0);
    assert.equal(rx.table.stats.drops.unauthorized, 4);
    assert.equal(rx.table.stats.drops.no_session, 1);

    await s.hello('alice', { token: 'alice-secret' });
    await until(() => rx.opened.length === 1, 5000, 'alice opened');
    assert.equal(rx.opened[0].authenticated, true);
    const t = await sender();
    await t.hello('carol', { token: 'room-token' });
    await t.send(pcmFrame(0, 7).frame);
    await until(() => rx.audio.length === 1, 5000, 'carol audio');
    assert.equal(rx.audio[0].session.userId, 'carol');
    // A refused HELLO from an address with a session ends it: it no longer proves who it is.
    await s.hello('alice', { token: 'wrong' });
    await until(() => rx.closed.length === 1, 5000, 'alice closed');
    assert.equal(rx.closed[0].reason, 'unauthorized');
    assert.equal(rx.closed[0].session.userId, 'alice');
  });

  it('idle timeout (injected clock): HELLO and audio refresh; nothing for idleTimeoutMs ends the session with a close', async () => {
    await receiver({ idleTimeoutMs: 15000 });
    const s = await sender();
    rx.now = 1000;
    await s.hello('dave');
    await until(() => rx.opened.length === 1, 5000, 'opened');
    rx.now = 12000;
    await s.send(pcmFrame(0).frame);                    // audio refreshes
    await until(() => rx.audio.length === 1, 5000, 'audio');
    rx.now = 26000;
    await s.hello('dave');                              // a HELLO refresh: same session, acknowledged again
    await until(() => s.of(FrameType.HELLO).length === 2, 5000, 'second ack');
    assert.equal(rx.opened.length, 1);
    assert.equal(rx.table.sweep(40999), 0);
    assert.equal(rx.closed.length, 0);
    assert.equal(rx.table.sweep(41000), 1);
    assert.equal(rx.closed.length, 1);
    assert.equal(rx.closed[0].reason, 'idle_timeout');
    assert.equal(rx.closed[0].session, rx.opened[0]);
    assert.equal(rx.table.stats.ended.idle_timeout, 1);
    // Its audio after the end is from an address without a session again.
    rx.now = 41001;
    await s.send(pcmFrame(1).frame);
    await until(() => rx.drops.length === 1, 5000, 'drop');
    assert.deepEqual(rx.drops, ['no_session']);

    // handle() sweeps too: another sender's datagram ends a session idle past the timeout.
    await s.hello('dave');
    await until(() => rx.opened.length === 2, 5000, 'reopened');
    const t = await sender();
    rx.now = 41001 + 15000;
    await t.hello('erin');
    await until(() => rx.closed.length === 2, 5000, 'dave closed by the sweep in handle()');
    assert.equal(rx.closed[1].session.userId, 'dave');
    assert.equal(rx.table.size, 1);
  });

  it('the table is bounded (limits.maxConnections): a new HELLO evicts the least recently active session, counted', async () => {
    await receiver({ limits: { maxConnections: 3 } });
    const s = await Promise.all([sender(), sender(), sender(), sender()]);
    for (let i = 0; i < 3; i++) {
      rx.now = i;
      await s[i].hello(`u${i}`);
      await until(() => rx.opened.length === i + 1, 5000, `u${i} opened`);
    }
    rx.now = 10;
    await s[0].send(pcmFrame(0).frame);                 // u0 active again: u1 is now the most idle
    await until(() => rx.audio.length === 1, 5000, 'u0 audio');
    rx.now = 11;
    await s[3].hello('u3');
    await until(() => rx.closed.length === 1, 5000, 'eviction');
    assert.equal(rx.closed[0].reason, 'evicted');
    assert.equal(rx.closed[0].session.userId, 'u1');
    assert.equal(rx.table.size, 3);
    assert.deepEqual(rx.table.list().map((x) => x.userId).sort(), ['u0', 'u2', 'u3']);
    assert.equal(rx.table.stats.ended.evicted, 1);
  });

  it('one IP holds at most limits.maxConnectionsPerAddress sessions (any ports): the next HELLO is ERROR too_many_connections, small, and evicts no one', async () => {
    await receiver({ limits: { maxConnections: 10, maxConnectionsPerAddress: 2 } });
    const s = await Promise.all([sender(), sender(), sender()]);
    await s[0].hello('u0');
    await s[1].hello('u1');
    await until(() => rx.opened.length === 2, 5000, 'u0 and u1 opened');
    const hello = encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId: 'u2', role: 'peer' });
    await s[2].send(hello);
    await until(() => s[2].of(FrameType.ERROR).length === 1, 5000, 'the third HELLO answered');
    const err = decodeErrorPayload(s[2].of(FrameType.ERROR)[0]);
    assert.equal(err.code, 'too_many_connections');
    assert.match(err.message, /limits\.maxConnectionsPerAddress \(2\)/);
    assert.ok(s[2].of(FrameType.ERROR)[0].length + 8 <= hello.length + 30, `the ERROR (${s[2].of(FrameType.ERROR)[0].length + 8} bytes) against the HELLO (${hello.length})`);
    assert.deepEqual([rx.table.size, rx.closed.length, rx.table.stats.drops.too_many_connections], [2, 0, 1]);
    // a refresh of a session it has is still taken; another IP gets in
    await s[0].hello('u0');
    await until(() => s[0].of(FrameType.HELLO).length === 2, 5000, 'u0 refreshed');
    const other = await sender('127.0.0.2');
    await other.hello('v0');
    await until(() => rx.opened.length === 3, 5000, 'the other IP opened');
    // a session of the IP that ends gives its place back
    rx.table.close(rx.table.list().find((x) => x.userId === 'u1') as UdpSession);
    await s[2].send(hello);
    await until(() => rx.opened.length === 4, 5000, 'u2 opened in the freed place');
    assert.deepEqual(rx.table.list().map((x) => x.userId).sort(), ['u0', 'u2', 'v0']);
  });

  it('another identity from the same address and port replaces the session (the old one closes)', async () => {
    await receiver();
    const s = await sender();
    await s.hello('first');
    await until(() => rx.opened.length === 1, 5000, 'first');
    await s.hello('second');
    await until(() => rx.opened.length === 2, 5000, 'second');
    assert.deepEqual(rx.closed.map((c) => [c.session.userId, c.reason]), [['first', 'replaced']]);
    assert.notEqual(rx.opened[0].id, rx.opened[1].id);
    assert.equal(rx.table.size, 1);
  });

  it('METADATA: the TCP limits per session — size and rate (token bucket on the injected clock)', async () => {
    await receiver({ limits: { metadataPerSecond: 2, maxMetadataBytes: 100 } });
    const s = await sender();
    await s.hello('meta');
    await until(() => rx.opened.length === 1, 5000, 'opened');
    const big = encodeJsonFrame(FrameType.METADATA, { x: 'y'.repeat(200) });
    await s.send(big);
    for (let i = 0; i < 6; i++) await s.send(encodeJsonFrame(FrameType.METADATA, { i }));   // burst 4, then refused
    await until(() => rx.datagrams === 8, 5000, 'datagrams');
    assert.deepEqual(rx.drops, ['metadata_size', 'metadata_rate', 'metadata_rate']);
    rx.now = 1000;                                      // one second refills two
    for (let i = 0; i < 3; i++) await s.send(encodeJsonFrame(FrameType.METADATA, { i }));
    await until(() => rx.datagrams === 11, 5000, 'datagrams');
    assert.equal(rx.table.stats.drops.metadata_rate, 3);
    assert.equal(rx.table.size, 1);
    assert.deepEqual(rx.metadata, [{ i: 0 }, { i: 1 }, { i: 2 }, { i: 3 }, { i: 0 }, { i: 1 }]);
  });

  it('auth slow-down: past limits.authFailuresBeforeSlowdown an address gets one HELLO checked per hold, the rest unanswered; a working session\'s refresh is never held', async () => {
    await receiver({ token: 'right', limits: { authFailuresBeforeSlowdown: 2 } });
    const good = await sender();
    const bad = await sender();
    await good.hello('ok', { token: 'right' });
    await until(() => rx.opened.length === 1, 5000, 'good opened');
    for (let i = 0; i < 3; i++) await bad.hello('x', { token: 'wrong' });   // failures 1, 2, 3 (the 3rd is checked: first in its hold)
    await until(() => bad.of(FrameType.ERROR).length === 3, 5000, 'three ERRORs');
    await bad.hello('x', { token: 'wrong' });           // within the hold: dropped unanswered
    await bad.hello('x', { token: 'right' });           // even with the right token: not checked within the hold
    await good.hello('ok', { token: 'right' });         // the session's refresh from the same IP: answered
    await until(() => good.of(FrameType.HELLO).length === 2, 5000, 'refresh ack');
    assert.equal(rx.table.stats.drops.auth_slowdown, 2);
    assert.equal(bad.of(FrameType.ERROR).length, 3);
    rx.now = 10_000;                                    // past the hold (250 ms × 2): checked again, and accepted
    await bad.hello('x', { token: 'right' });
    await until(() => rx.opened.length === 2, 5000, 'bad opened after the hold');
    assert.equal(rx.table.size, 2);
  });

  it('UdpClientSession (the sender side): HELLO at once and every helloIntervalMs, the ack\'s sessionId, PONG round trip, ERROR unauthorized', async () => {
    await receiver({ token: 'right' });
    const sock = dgram.createSocket('udp4');
    sockets.push(sock);
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
    const client = new UdpClientSession({ hello: { userId: 'cli', role: 'peer', token: 'right' }, helloIntervalMs: 2000 });
    const kinds: string[] = [];
    sock.on('message', (msg) => {
      const r = client.handle(msg);
      kinds.push(r.kind);
      if (r.reply) sock.send(r.reply, rx.port, '127.0.0.1');
    });
    const send = (b: Buffer) => new Promise<void>((resolve, reject) => sock.send(b, rx.port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
    let t = 0;
    const due = client.poll(t);
    assert.ok(due);
    assert.equal(client.poll(t + 1999), undefined);
    await send(due);
    await until(() => client.sessionId !== undefined, 5000, 'ack');
    assert.equal(client.sessionId, rx.opened[0].id);
    for (let seq = 0; seq < 5; seq++) await send(pcmFrame(seq).frame);
    await send(client.ping());
    await until(() => client.rttMs !== undefined && rx.audio.length === 5, 5000, 'pong and audio');
    assert.ok((client.rttMs as number) >= 0 && (client.rttMs as number) < 1000);
    t = 2000;
    const again = client.poll(t);
    assert.ok(again);
    assert.equal(client.helloesSent, 2);
    await send(again);
    await until(() => kinds.filter((k) => k === 'hello-ack').length === 2, 5000, 'second ack');
    assert.equal(rx.opened.length, 1);                  // a refresh, not a new session

    const wrong = new UdpClientSession({ hello: { userId: 'cli2', role: 'peer', token: 'nope' } });
    const sock2 = dgram.createSocket('udp4');
    sockets.push(sock2);
    await new Promise<void>((resolve) => sock2.bind(0, '127.0.0.1', resolve));
    sock2.on('message', (msg) => wrong.handle(msg));
    sock2.send(wrong.poll(0) as Buffer, rx.port, '127.0.0.1');
    await until(() => wrong.refused !== undefined, 5000, 'refusal');
    assert.equal(wrong.refused?.code, 'unauthorized');
    assert.equal(wrong.sessionId, undefined);
    assert.throws(() => new UdpClientSession({ hello: { userId: '', role: 'peer' } }), /^Error: hello: HELLO userId/);
    assert.throws(() => new UdpClientSession({ hello: { userId: 'a', role: 'peer' }, helloIntervalMs: 6000 }), /helloIntervalMs/);
  });

  it('refuses a bad option naming it', () => {
    assert.throws(() => new UdpSessionTable({ limits: { maxConnections: 0 } }), /limits\.maxConnections/);
    assert.throws(() => new UdpSessionTable({ idleTimeoutMs: -1 }), /idleTimeoutMs/);
    assert.throws(() => new UdpSessionTable({ token: '' }), /token/);
  });
});

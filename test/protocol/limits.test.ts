// StreamServer limits (runtime/protocol/limits.ts): the config check, connections at accept and per address, pending
// handshakes (the oldest goes), the HELLO timeout from accept, METADATA size and rate, tracks per connection, the
// 'limit' event said once, and HELLO identity bounds.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { PACKAGE_ROOT } from '../../runtime/launcher';
import { EventEmitter, once } from 'node:events';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Codec, FrameType, encodeAudioFrame, encodeFrame, encodeJsonFrame, type AudioHeader } from '../../runtime/protocol/frame';
import { DEFAULT_SERVER_LIMITS, TRANSPORT_STAT_NAMES, checkServerLimits, transportStats } from '../../runtime/protocol/limits';
import { StreamClient, StreamConnection, StreamServer, type ConnectionInfo, type StreamServerOptions } from '../../runtime/protocol/transport';
import { RawClient, TransportFixture, opusEncode, until } from './helpers';

function next<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string, ms = 5000): Promise<T> {
  return once(emitter, event, { signal: AbortSignal.timeout(ms) }) as Promise<T>;
}

const opus10ms = opusEncode(48000, 2, 480);
function opusHeader(seq: number, trackId = 1): AudioHeader {
  return { trackId, seq, captureTime: 1763740000000000 + seq * 10000, sampleRate: 48000, channels: 2, codec: Codec.OPUS, frameSamples: 480 };
}

describe('protocol/limits checkServerLimits', () => {
  it('the edit dialogs\' table of limits (resources/xcast-editor.js LIMITS) is the runtime\'s: each default, range and integer rule', () => {
    // The editor's script as Node-RED serves it, run with a bare window: its LIMITS against checkServerLimits.
    const sandbox: { window: { xcastEditor?: { LIMITS: Record<string, { def: number; min: number; max: number; int: boolean }> } } } = { window: {} };
    vm.runInNewContext(fs.readFileSync(path.join(PACKAGE_ROOT, 'resources', 'xcast-editor.js'), 'utf8'), sandbox);
    const editor = sandbox.window.xcastEditor!.LIMITS;
    assert.deepEqual(Object.keys(editor), Object.keys(DEFAULT_SERVER_LIMITS), 'the same limits, in the same order');
    for (const [name, l] of Object.entries(editor)) {
      const ok = (v: number) => { try { checkServerLimits({ [name]: v }); return true; } catch { return false; } };
      assert.equal(l.def, DEFAULT_SERVER_LIMITS[name as keyof typeof DEFAULT_SERVER_LIMITS], `${name}: default`);
      assert.deepEqual([ok(l.min), ok(l.max)], [true, true], `${name}: ${l.min} and ${l.max} taken`);
      const step = l.int ? 1 : l.min / 2;
      assert.deepEqual([ok(l.min - step), ok(l.max + 1)], [false, false], `${name}: below ${l.min} and above ${l.max} refused`);
      assert.equal(ok(l.min + 0.5), !l.int, `${name}: a fraction ${l.int ? 'refused' : 'taken'}`);
    }
  });

  it('fills in the defaults and keeps what is given', () => {
    assert.deepEqual(checkServerLimits(undefined), DEFAULT_SERVER_LIMITS);
    assert.deepEqual(DEFAULT_SERVER_LIMITS, {
      maxConnections: 1024, maxConnectionsPerAddress: 64, maxPendingHandshakes: 128, helloTimeoutMs: 5000,
      maxMetadataBytes: 65536, metadataPerSecond: 20, maxTracksPerConnection: 16, authFailuresBeforeSlowdown: 5,
    });
    assert.equal(checkServerLimits({ maxConnections: 10, metadataPerSecond: 0.5 }).maxConnections, 10);
    assert.equal(checkServerLimits({ helloTimeoutMs: 0 }).helloTimeoutMs, 0);
  });

  it('refuses a bad value or an unknown field, naming it', () => {
    const bad: [unknown, string][] = [
      [{ maxConnections: -1 }, 'limits.maxConnections: must be an integer 1 … 1000000, got -1'],
      [{ maxConnections: 1.5 }, 'limits.maxConnections: must be an integer 1 … 1000000, got 1.5'],
      [{ maxPendingHandshakes: '8' }, 'limits.maxPendingHandshakes: must be an integer 1 … 1000000, got "8"'],
      [{ metadataPerSecond: 0 }, 'limits.metadataPerSecond: must be a number 0.01 … 1000000, got 0'],
      [{ helloTimeoutMs: Number.NaN }, 'limits.helloTimeoutMs: must be an integer 0 … 600000, got NaN'],
      [{ maxConection: 3 }, 'limits.maxConection: not a limit (known: maxConnections, maxConnectionsPerAddress, maxPendingHandshakes, helloTimeoutMs, maxMetadataBytes, metadataPerSecond, maxTracksPerConnection, authFailuresBeforeSlowdown)'],
      [[1], 'limits: must be an object, got an array'],
    ];
    for (const [v, message] of bad) assert.throws(() => checkServerLimits(v), { message });
    assert.throws(() => new StreamServer({ limits: { maxTracksPerConnection: 0 } }), /^Error: limits\.maxTracksPerConnection:/);
  });

  it('transportStats has every stable name, starting from what the process counted so far', () => {
    const snap = transportStats.snapshot();
    for (const n of TRANSPORT_STAT_NAMES) assert.equal(typeof snap[n], 'number', n);
    assert.deepEqual(new StreamServer().stats.snapshot(), Object.fromEntries(TRANSPORT_STAT_NAMES.map((n) => [n, 0])));
  });
});

describe('protocol/transport limits', () => {
  const fx = new TransportFixture();
  const { raws, sockets, clients } = fx;
  afterEach(() => fx.closeAll());
  const startServer = (opts: StreamServerOptions = {}) => fx.startServer(opts);

  async function rawHello(port: number, userId: string): Promise<RawClient> {
    const r = await RawClient.hello(port, userId);
    raws.push(r);
    return r;
  }

  /** A connection that sends nothing; resolves once the server side has accepted it. */
  async function idle(port: number): Promise<net.Socket> {
    const s = net.connect({ host: '127.0.0.1', port });
    sockets.push(s);
    s.on('error', () => { /* reset when the server drops it */ });
    await once(s, 'connect');
    return s;
  }

  async function connectClient(port: number, userId: string): Promise<{ client: StreamClient; conn: StreamConnection }> {
    const client = new StreamClient({ port, hello: { userId, role: 'peer' }, pingIntervalMs: 0, backoffMinMs: 20, backoffMaxMs: 200 });
    clients.push(client);
    const connected = next<[StreamConnection]>(client, 'connect');
    client.start();
    const [conn] = await connected;
    return { client, conn };
  }

  it('maxConnections: a socket over the limit is closed at accept with no byte, counted; a place freed is usable again', async () => {
    const { server, port } = await startServer({ limits: { maxConnections: 2 } });
    const a = await rawHello(port, 'a');
    await rawHello(port, 'b');
    const limit = next<[string, ConnectionInfo]>(server, 'limit');
    const over = await idle(port);
    const overPort = over.localPort;
    const got: Buffer[] = [];
    over.on('data', (d: Buffer) => got.push(d));
    over.write(encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId: 'c', role: 'peer' }));
    await once(over, 'close');
    assert.equal(Buffer.concat(got).length, 0);
    assert.equal(server.stats.snapshot().connections, 1);
    const [name, info] = await limit;
    assert.equal(name, 'connections');
    assert.equal(info.remote, `127.0.0.1:${overPort}`);
    a.destroy();
    await until(() => server.connections.size === 1, 2000, 'a to go');
    await rawHello(port, 'd');
    assert.equal(server.connections.size, 2);
  });

  it('maxConnectionsPerAddress: the HELLO over it is ERROR too_many_connections, counted, the others stream on', async () => {
    const { server, port } = await startServer({ limits: { maxConnectionsPerAddress: 2 } });
    await rawHello(port, 'a');
    const b = await rawHello(port, 'b');
    const c = await RawClient.connect(port);
    raws.push(c);
    c.write(encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId: 'c', role: 'peer' }));
    assert.deepEqual(await c.waitClosed(), { code: 'too_many_connections', message: 'this address already has 2 connections (limits.maxConnectionsPerAddress)' });
    assert.equal(server.stats.snapshot().connections_per_address, 1);
    const got = next<[Record<string, unknown>]>(server.findByUserId('b')!, 'metadata');
    b.write(encodeJsonFrame(FrameType.METADATA, { ok: 1 }));
    assert.deepEqual((await got)[0], { ok: 1 });
    b.destroy();
    await until(() => server.connections.size === 1, 2000, 'b to go');
    await rawHello(port, 'c');
    // Per address: another loopback address has its own count.
    const other = await RawClient.connect(port, '127.0.0.2');
    raws.push(other);
    other.write(encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId: 'elsewhere', role: 'peer' }));
    assert.equal((await other.nextFrame()).type, FrameType.HELLO);
    assert.equal(server.findByUserId('elsewhere')?.remote, `127.0.0.2:${other.socket.localPort}`);
  });

  it('maxPendingHandshakes: past 1,000 idle connections from one address the oldest pending go, and a healthy peer joins and streams', async function () {
    this.timeout(60000);
    const { server, port } = await startServer();
    for (let i = 0; i < 10; i++) await Promise.all(Array.from({ length: 100 }, () => idle(port)));
    await until(() => server.stats.snapshot().pending_handshakes === 1000 - 128, 10000, 'the oldest pending handshakes to be dropped');
    assert.equal(server.pendingCount, 128);
    const { conn } = await connectClient(port, 'healthy');
    const sconn = server.findByUserId('healthy')!;
    const got = next<[AudioHeader, Buffer]>(sconn, 'audio');
    conn.sendAudio(opusHeader(1), opus10ms);
    const [h, data] = await got;
    assert.equal(h.seq, 1);
    assert.ok(data.equals(opus10ms));
    assert.ok(server.pendingCount <= 128);
  });

  it('helloTimeoutMs runs from accept: a HELLO sent one byte at a time is closed at the limit with ERROR hello_timeout', async () => {
    const { server, port } = await startServer({ limits: { helloTimeoutMs: 300 } });
    const raw = await RawClient.connect(port);
    raws.push(raw);
    const hello = encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId: 'slow', role: 'peer', name: 'x'.repeat(60) });
    let sent = 0;
    const drip = setInterval(() => { if (sent < hello.length && !raw.closed) raw.write(hello.subarray(sent, ++sent)); }, 10);
    try {
      const err = await raw.waitClosed();
      assert.equal(err?.code, 'hello_timeout');
      assert.ok(sent < hello.length, `closed before the HELLO was complete (${sent} of ${hello.length} bytes)`);
    } finally {
      clearInterval(drip);
    }
    assert.equal(server.stats.snapshot().hello_timeout, 1);
    assert.equal(server.findByUserId('slow'), undefined);
  });

  it('maxMetadataBytes: a larger METADATA is dropped and counted, the connection stays, the limit said once', async () => {
    const { server, port } = await startServer({ limits: { maxMetadataBytes: 1000 } });
    const raw = await rawHello(port, 'meta');
    const sconn = server.findByUserId('meta')!;
    const seen: unknown[] = [];
    sconn.on('metadata', (m) => seen.push(m));
    const limits: [string, ConnectionInfo][] = [];
    server.on('limit', (name, info) => limits.push([name, info]));
    const big = { blob: 'x'.repeat(2000) };
    raw.write(encodeJsonFrame(FrameType.METADATA, big));
    raw.write(encodeJsonFrame(FrameType.METADATA, big));
    raw.write(encodeJsonFrame(FrameType.METADATA, { small: true }));
    const audio = next(sconn, 'audio');
    raw.write(encodeAudioFrame(opusHeader(1), opus10ms));
    await audio;
    assert.deepEqual(seen, [{ small: true }]);
    assert.equal(server.stats.snapshot().metadata_size, 2);
    assert.deepEqual(limits, [['metadata_size', { id: sconn.id, remote: sconn.remote, userId: 'meta', role: 'peer' }]]);
    assert.equal(raw.closed, false);
    assert.equal(sconn.counters.protocolErrors, 0);
  });

  it('metadataPerSecond: a METADATA flood beyond the burst is dropped and counted; the connection stays', async () => {
    const { server, port } = await startServer({ limits: { metadataPerSecond: 1 } });
    const raw = await rawHello(port, 'flood');
    const sconn = server.findByUserId('flood')!;
    let emitted = 0;
    sconn.on('metadata', () => emitted++);
    let said = 0;
    server.on('limit', (name) => { if (name === 'metadata_rate') said++; });
    const t0 = performance.now();
    for (let i = 0; i < 50; i++) raw.write(encodeJsonFrame(FrameType.METADATA, { i }));
    const audio = next(sconn, 'audio');
    raw.write(encodeAudioFrame(opusHeader(1), opus10ms));
    await audio;
    const dropped = server.stats.snapshot().metadata_rate;
    assert.equal(emitted + dropped, 50);
    // The burst (2), plus one per second the flood took to arrive (none on an idle machine).
    const refills = Math.floor((performance.now() - t0) / 1000);
    assert.ok(emitted >= 2 && emitted <= 2 + refills, `burst of 2 + ${refills} refills, got ${emitted}`);
    assert.equal(said, 1);
    assert.equal(raw.closed, false);
  });

  it('maxTracksPerConnection: AUDIO of a track beyond the limit is dropped and counted, known tracks go on, said once', async () => {
    const { server, port } = await startServer({ limits: { maxTracksPerConnection: 2 } });
    const raw = await rawHello(port, 'tracks');
    const sconn = server.findByUserId('tracks')!;
    const got: number[] = [];
    sconn.on('audio', (h) => got.push(h.trackId));
    const said: string[] = [];
    server.on('limit', (name) => said.push(name));
    const order = [1, 2, 3, 1, 3, 4, 2];
    order.forEach((t, i) => raw.write(encodeAudioFrame(opusHeader(i, t), opus10ms)));
    const ping = next(sconn, 'ping');
    const p = Buffer.alloc(8);
    raw.write(encodeFrame(FrameType.PING, p));
    await ping;
    assert.deepEqual(got, [1, 2, 1, 2]);
    assert.equal(server.stats.snapshot().tracks_per_connection, 3);
    assert.deepEqual(said, ['tracks_per_connection']);
  });

  describe('HELLO identity bounds', () => {
    it('a legal HELLO with a 900 KB userId is refused bad_hello naming userId; the server keeps serving', async () => {
      const { server, port } = await startServer();
      const { conn } = await connectClient(port, 'monitor-before');
      const before = transportStats.snapshot().bad_hello;
      for (let i = 0; i < 8; i++) {
        const raw = await RawClient.connect(port);
        raws.push(raw);
        raw.write(encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId: `${i}${'u'.repeat(900 * 1024)}`, role: 'monitor' }));
        const err = await raw.waitClosed();
        assert.equal(err?.code, 'bad_hello');
        assert.match(err!.message, /^HELLO userId is longer than 128 characters \(921601 bytes\)$/);
      }
      assert.equal(server.stats.snapshot().bad_hello, 8);
      assert.equal(transportStats.snapshot().bad_hello - before, 8);
      const { conn: after } = await connectClient(port, 'monitor-after');
      const got = next<[AudioHeader, Buffer]>(server.findByUserId('monitor-after')!, 'audio');
      after.sendAudio(opusHeader(1), opus10ms);
      await got;
      assert.equal(conn.isOpen, true);
      assert.equal(server.connections.size, 2);
    });

    it('a userId with a newline is refused, and no message carries the newline', async () => {
      const { server, port } = await startServer();
      const errors: string[] = [];
      server.on('protocolError', (e) => errors.push(e.message));
      const raw = await RawClient.connect(port);
      raws.push(raw);
      raw.write(encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId: 'a\n[error] forged', role: 'peer' }));
      const err = await raw.waitClosed();
      assert.deepEqual(err, { code: 'bad_hello', message: 'HELLO userId "a\\n[error] forged" contains a control character' });
      assert.equal(errors.length, 1);
      assert.equal(/[\n\r]/.test(errors[0]), false);
    });
  });
});

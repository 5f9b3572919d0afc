// Tests of streamproto1 over real TCP on 127.0.0.1 (runtime/protocol/transport.ts): handshake, rejection, reconnect, PING/PONG, back-pressure.

import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import * as net from 'node:net';
import {
  Codec, FrameType, ProtocolError, encodeAudioFrame, encodeFrame, encodeJsonFrame, type AudioHeader,
} from '../../runtime/protocol/frame';
import {
  StreamClient, StreamConnection, StreamServer, defaultClockMicros,
  type StreamClientOptions, type StreamServerOptions,
} from '../../runtime/protocol/transport';
import { RawClient, opusEncode, rawHeader, until } from './helpers';

/** Resolves with the arguments of the next `event`, or rejects after `ms`. */
function next<T extends unknown[] = unknown[]>(emitter: EventEmitter<never> | EventEmitter, event: string, ms = 5000): Promise<T> {
  return once(emitter as EventEmitter, event, { signal: AbortSignal.timeout(ms) }) as Promise<T>;
}

const opus10ms = opusEncode(48000, 2, 480);

function opusHeader(seq: number, trackId = 1): AudioHeader {
  return { trackId, seq, captureTime: 1763740000000000 + seq * 10000, sampleRate: 48000, channels: 2, codec: Codec.OPUS, frameSamples: 480 };
}

/** Hand-built AUDIO frame bytes (no validation), for sending malformed audio. */
function rawAudioFrame(h: AudioHeader, data: Buffer): Buffer {
  const p = Buffer.alloc(24 + data.length);
  p.writeUInt32BE(h.trackId, 0);
  p.writeUInt32BE(h.seq, 4);
  p.writeBigUInt64BE(BigInt(h.captureTime), 8);
  p.writeUInt32BE(h.sampleRate, 16);
  p[20] = h.channels;
  p[21] = h.codec;
  p.writeUInt16BE(h.frameSamples, 22);
  data.copy(p, 24);
  return encodeFrame(FrameType.AUDIO, p);
}

describe('protocol/transport (TCP on 127.0.0.1)', () => {
  const servers: StreamServer[] = [];
  const clients: StreamClient[] = [];
  const raws: RawClient[] = [];

  async function startServer(opts: StreamServerOptions = {}): Promise<{ server: StreamServer; port: number }> {
    const server = new StreamServer({ pingIntervalMs: 0, ...opts });
    servers.push(server);
    const { port } = await server.listen();
    return { server, port };
  }

  function makeClient(port: number, userId: string, opts: Partial<StreamClientOptions> = {}): StreamClient {
    const client = new StreamClient({ port, hello: { userId, role: 'peer' }, pingIntervalMs: 0, backoffMinMs: 20, backoffMaxMs: 200, ...opts });
    clients.push(client);
    return client;
  }

  async function connectClient(port: number, userId: string, opts: Partial<StreamClientOptions> = {}): Promise<{ client: StreamClient; conn: StreamConnection }> {
    const client = makeClient(port, userId, opts);
    const connected = next<[StreamConnection]>(client, 'connect');
    client.start();
    const [conn] = await connected;
    return { client, conn };
  }

  async function raw(port: number, userId?: string): Promise<RawClient> {
    const r = userId === undefined ? await RawClient.connect(port) : await RawClient.hello(port, userId);
    raws.push(r);
    return r;
  }

  afterEach(async () => {
    for (const r of raws.splice(0)) r.destroy();
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('a client completes HELLO: the server knows its userId, role and remote, the client gets the sessionId', async () => {
    const { server, port } = await startServer({ serverName: 'xcast-test' });
    const serverSide = next<[StreamConnection]>(server, 'connection');
    const { conn } = await connectClient(port, 'alice', { hello: { userId: 'alice', role: 'monitor', name: 'Alice', capabilities: ['opus'] } });
    const [sconn] = await serverSide;
    assert.equal(sconn.userId, 'alice');
    assert.equal(sconn.role, 'monitor');
    assert.deepEqual(sconn.hello && (sconn.hello as { capabilities?: string[] }).capabilities, ['opus']);
    assert.match(sconn.remote, /^127\.0\.0\.1:\d+$/);
    assert.ok(server.connections.has(sconn));
    assert.equal(server.findByUserId('alice'), sconn);
    assert.equal(conn.id, sconn.id, 'client connection id is the server sessionId');
    assert.equal(conn.hello?.name, 'xcast-test');
    assert.equal(typeof conn.hello?.serverTime, 'number');
    assert.ok(Math.abs((conn.hello!.serverTime as number) - defaultClockMicros()) < 5_000_000);
  });

  it('AUDIO, METADATA and QOS flow both ways and arrive intact', async () => {
    const { server, port } = await startServer();
    const serverSide = next<[StreamConnection]>(server, 'connection');
    const { conn } = await connectClient(port, 'alice');
    const [sconn] = await serverSide;

    const audioAtServer: { h: AudioHeader; d: Buffer }[] = [];
    sconn.on('audio', (h, d) => audioAtServer.push({ h, d }));
    for (let seq = 0; seq < 20; seq++) assert.equal(conn.sendAudio(opusHeader(seq), opus10ms), true);
    await until(() => audioAtServer.length === 20, 5000, '20 audio frames at the server');
    assert.deepEqual(audioAtServer.map((a) => a.h), Array.from({ length: 20 }, (_, i) => opusHeader(i)));
    for (const a of audioAtServer) assert.deepEqual(a.d, opus10ms);

    const pcm = Buffer.alloc(480 * 2 * 4);
    for (let i = 0; i < pcm.length / 4; i++) pcm.writeFloatLE(Math.sin(i / 10), i * 4);
    const pcmHeader: AudioHeader = { trackId: 9, seq: 0xffffffff, captureTime: 1, sampleRate: 48000, channels: 2, codec: Codec.PCM_F32LE, frameSamples: 480 };
    const gotAudio = next<[AudioHeader, Buffer]>(conn, 'audio');
    const gotMeta = next<[object]>(conn, 'metadata');
    sconn.sendMetadata({ mixeradminSharedState: { users: ['alice'] } });
    sconn.sendAudio(pcmHeader, pcm);
    assert.deepEqual((await gotMeta)[0], { mixeradminSharedState: { users: ['alice'] } });
    const [h, d] = await gotAudio;
    assert.deepEqual(h, pcmHeader);
    assert.deepEqual(d, pcm);

    const batch = [{ head: opusHeader(1), qosTimestamp: 5 }, { head: opusHeader(2), qosTimestamp: 6 }];
    const qos1 = next<[unknown]>(sconn, 'qos');
    conn.sendQos(batch);
    assert.deepEqual((await qos1)[0], batch);
    const qos2 = next<[unknown]>(sconn, 'qos');
    conn.sendQos(batch[0]);
    assert.deepEqual((await qos2)[0], batch[0]);
    assert.equal(sconn.counters.framesIn, 1 + 20 + 2, 'HELLO + 20 AUDIO + 2 QOS');
    assert.equal(sconn.counters.protocolErrors, 0);
  });

  it('audio data handed to listeners stays intact after later frames arrive (it is not a view of the socket chunk)', async () => {
    const { server, port } = await startServer();
    const serverSide = next<[StreamConnection]>(server, 'connection');
    const { conn } = await connectClient(port, 'alice');
    const [sconn] = await serverSide;
    const kept: Buffer[] = [];
    sconn.on('audio', (_h, d) => kept.push(d));
    // Distinct PCM payloads, many per TCP chunk.
    const frames = Array.from({ length: 200 }, (_, i) => Buffer.alloc(16, i));
    for (let i = 0; i < frames.length; i++) {
      conn.sendAudio({ trackId: 1, seq: i, captureTime: 0, sampleRate: 8000, channels: 1, codec: Codec.PCM_S16LE, frameSamples: 8 }, frames[i]);
    }
    await until(() => kept.length === frames.length, 5000, 'all frames');
    for (let i = 0; i < frames.length; i++) assert.deepEqual(kept[i], frames[i], `frame ${i}`);
  });

  it('a token-protected server answers a wrong or missing token with ERROR unauthorized and closes', async () => {
    const { server, port } = await startServer({ token: 's3cret' });
    const serverErrors: ProtocolError[] = [];
    server.on('protocolError', (err) => serverErrors.push(err));

    const wrong = makeClient(port, 'mallory', { hello: { userId: 'mallory', role: 'peer', token: 'guess' }, reconnect: false });
    const failed = next<[Error]>(wrong, 'connectError');
    wrong.start();
    const [err] = await failed;
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.code, 'unauthorized');
    assert.equal(wrong.connection, undefined);

    const missing = await raw(port);
    missing.write(encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId: 'eve', role: 'peer' }));
    assert.equal((await missing.waitClosed())?.code, 'unauthorized');

    assert.deepEqual(serverErrors.map((e) => e.code), ['unauthorized', 'unauthorized']);
    assert.equal(server.connections.size, 0);

    const { conn } = await connectClient(port, 'alice', { hello: { userId: 'alice', role: 'peer', token: 's3cret' } });
    assert.ok(conn.isOpen);
    assert.equal(server.connections.size, 1);
  });

  it('the first frame must be a valid HELLO, else ERROR bad_hello and close', async () => {
    const { port } = await startServer();
    const notHello = await raw(port);
    notHello.write(encodeJsonFrame(FrameType.METADATA, { a: 1 }));
    assert.equal((await notHello.waitClosed())?.code, 'bad_hello');

    const wrongProtocol = await raw(port);
    wrongProtocol.write(encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto2', userId: 'x', role: 'peer' }));
    const e = await wrongProtocol.waitClosed();
    assert.equal(e?.code, 'bad_hello');
    assert.match(e!.message, /protocol/);

    const noUser = await raw(port);
    noUser.write(encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', role: 'peer' }));
    assert.match((await noUser.waitClosed())!.message, /userId/);

    const notJson = await raw(port);
    notJson.write(encodeFrame(FrameType.HELLO, Buffer.from('hello?')));
    assert.equal((await notJson.waitClosed())?.code, 'bad_hello');
  });

  it('a client that sends no HELLO within helloTimeoutMs gets ERROR hello_timeout and is closed', async () => {
    const { server, port } = await startServer({ helloTimeoutMs: 150 });
    const silent = await raw(port);
    const errs = next<[ProtocolError]>(server, 'protocolError');
    assert.equal((await silent.waitClosed())?.code, 'hello_timeout');
    assert.equal((await errs)[0].code, 'hello_timeout');
  });

  it('a second HELLO on an open connection is ERROR protocol', async () => {
    const { port } = await startServer();
    const r = await raw(port, 'twice');
    r.write(encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId: 'twice', role: 'peer' }));
    const e = await r.waitClosed();
    assert.equal(e?.code, 'protocol');
    assert.match(e!.message, /second HELLO/);
  });

  describe('a malformed frame closes only its own connection', () => {
    let server: StreamServer;
    let port: number;
    let good: StreamConnection;
    let goodAtServer: StreamConnection;
    let client: StreamClient;
    let seq = 0;

    // One server and one good client for every case, so each case also shows the good one survived the earlier ones.
    before(async () => {
      server = new StreamServer({ pingIntervalMs: 0, maxFrameBytes: 65536 });
      port = (await server.listen()).port;
      client = new StreamClient({ port, hello: { userId: 'good', role: 'peer' }, pingIntervalMs: 0, reconnect: false });
      const c = next<[StreamConnection]>(server, 'connection');
      const g = next<[StreamConnection]>(client, 'connect');
      client.start();
      [good] = await g;
      [goodAtServer] = await c;
    });

    after(async () => {
      await client.close();
      await server.close();
    });

    async function goodStillWorks(): Promise<void> {
      const atServer = next<[AudioHeader, Buffer]>(goodAtServer, 'audio');
      const atClient = next<[AudioHeader, Buffer]>(good, 'audio');
      good.sendAudio(opusHeader(seq++), opus10ms);
      goodAtServer.sendAudio(opusHeader(seq++), opus10ms);
      assert.deepEqual((await atServer)[1], opus10ms);
      assert.deepEqual((await atClient)[1], opus10ms);
      assert.ok(good.isOpen && goodAtServer.isOpen && server.connections.has(goodAtServer));
    }

    const opus20ms = opusEncode(48000, 2, 960);
    const cases: { name: string; code: string; bytes: () => Buffer }[] = [
      { name: 'bad magic', code: 'bad_magic', bytes: () => Buffer.concat([rawHeader(0x4242, 1, FrameType.METADATA, 2), Buffer.from('{}')]) },
      { name: 'wrong version', code: 'bad_version', bytes: () => Buffer.concat([rawHeader(0x5350, 2, FrameType.METADATA, 2), Buffer.from('{}')]) },
      { name: 'unknown type', code: 'unknown_type', bytes: () => Buffer.concat([rawHeader(0x5350, 1, 0x42, 2), Buffer.from('{}')]) },
      // header only: the payload is never sent, so the ERROR proves rejection before the payload
      { name: 'length over maxFrameBytes', code: 'frame_too_large', bytes: () => rawHeader(0x5350, 1, FrameType.AUDIO, 65537) },
      {
        name: 'PCM data length not matching its header', code: 'bad_audio',
        bytes: () => rawAudioFrame({ trackId: 1, seq: 0, captureTime: 0, sampleRate: 48000, channels: 2, codec: Codec.PCM_S16LE, frameSamples: 480 }, Buffer.alloc(480 * 2 * 2 - 2)),
      },
      { name: 'Opus frameSamples not matching the TOC', code: 'bad_opus_frame', bytes: () => rawAudioFrame({ ...opusHeader(0), frameSamples: 480 }, opus20ms) },
      { name: 'Opus frameSamples not a legal duration', code: 'bad_opus_frame', bytes: () => rawAudioFrame({ ...opusHeader(0), frameSamples: 700 }, opus10ms) },
      { name: 'empty Opus packet', code: 'bad_opus_frame', bytes: () => rawAudioFrame(opusHeader(0), Buffer.alloc(0)) },
      { name: 'METADATA that is not a JSON object', code: 'bad_json', bytes: () => encodeFrame(FrameType.METADATA, Buffer.from('[1,2]')) },
      { name: 'PING of the wrong length', code: 'protocol', bytes: () => encodeFrame(FrameType.PING, Buffer.alloc(4)) },
    ];

    for (const c of cases) {
      it(`${c.name}: ERROR ${c.code} to the sender, its connection closed, the other connection keeps streaming`, async () => {
        const bad = await raw(port, `bad-${c.code}`);
        const serverErr = next<[ProtocolError, { userId?: string }]>(server, 'protocolError');
        // Split the bad bytes across two writes to exercise the incremental path too.
        const bytes = c.bytes();
        bad.write(bytes.subarray(0, 5));
        await new Promise((r) => setTimeout(r, 20));
        bad.write(bytes.subarray(5));
        const e = await bad.waitClosed();
        assert.equal(e?.code, c.code, `ERROR code (message: ${e?.message})`);
        const [err, info] = await serverErr;
        assert.equal(err.code, c.code);
        assert.equal(info.userId, `bad-${c.code}`);
        assert.equal(server.findByUserId(`bad-${c.code}`), undefined);
        await goodStillWorks();
      });
    }
  });

  it('a StreamClient reconnects to a server restarted on the same port', async () => {
    const first = await startServer();
    const port = first.port;
    const { client, conn } = await connectClient(port, 'alice');
    const disconnected = next<[{ reason: string }]>(client, 'disconnect');
    await first.server.close();
    await disconnected;
    assert.equal(client.connection, undefined);

    const reconnected = next<[StreamConnection]>(client, 'connect', 10000);
    const second = await startServer({ port });
    const [conn2] = await reconnected;
    assert.notEqual(conn2, conn);
    assert.equal(client.connection, conn2);
    await until(() => second.server.findByUserId('alice') !== undefined, 2000, 'alice on the new server');
    const got = next<[AudioHeader, Buffer]>(second.server.findByUserId('alice')!, 'audio');
    conn2.sendAudio(opusHeader(0), opus10ms);
    assert.deepEqual((await got)[1], opus10ms);
  });

  it('a client whose server is not there retries with backoff and never throws, even with no listener', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));

    const client = makeClient(port, 'alice', { backoffMinMs: 10, backoffMaxMs: 40 });
    client.start();                                  // no 'connectError' listener: must not crash
    await new Promise((r) => setTimeout(r, 100));
    const errors: Error[] = [];
    client.on('connectError', (e) => errors.push(e));
    await until(() => errors.length >= 2, 5000, 'two more failed attempts');
    assert.equal((errors[0] as NodeJS.ErrnoException).code, 'ECONNREFUSED');
    assert.equal(client.connection, undefined);
  });

  it('PING/PONG gives rttMs ≥ 0 and a near-zero clock offset on loopback', async () => {
    const { server, port } = await startServer({ pingIntervalMs: 50 });
    const serverSide = next<[StreamConnection]>(server, 'connection');
    const { conn } = await connectClient(port, 'alice', { pingIntervalMs: 50 });
    const [sconn] = await serverSide;
    const [p] = await next<[{ rttMs: number; offsetMs: number; t0: number; t3: number }]>(conn, 'pong');
    assert.ok(p.rttMs >= 0 && p.rttMs < 1000, `rttMs ${p.rttMs}`);
    assert.ok(Math.abs(p.offsetMs) < 100, `offsetMs ${p.offsetMs}`);
    assert.ok(p.t3 >= p.t0);
    const [sp] = await next<[{ rttMs: number; offsetMs: number }]>(sconn, 'pong');
    assert.ok(sp.rttMs >= 0 && Math.abs(sp.offsetMs) < 100);
    assert.equal(conn.rttMs !== undefined && sconn.clockOffsetMs !== undefined, true);
  });

  it('PING/PONG measures a remote clock that runs 5 s ahead as offsetMs ≈ +5000 (and the other side ≈ −5000)', async () => {
    const ahead = (): number => defaultClockMicros() + 5_000_000;
    const { server, port } = await startServer({ pingIntervalMs: 50, clock: ahead });
    const serverSide = next<[StreamConnection]>(server, 'connection');
    const { conn } = await connectClient(port, 'alice', { pingIntervalMs: 50 });
    const [sconn] = await serverSide;
    const [p] = await next<[{ offsetMs: number }]>(conn, 'pong');
    assert.ok(Math.abs(p.offsetMs - 5000) < 200, `client sees server offset ${p.offsetMs}`);
    const [sp] = await next<[{ offsetMs: number }]>(sconn, 'pong');
    assert.ok(Math.abs(sp.offsetMs + 5000) < 200, `server sees client offset ${sp.offsetMs}`);
  });

  it('a peer that stops answering is closed with ERROR idle_timeout', async () => {
    const { port } = await startServer({ pingIntervalMs: 30, idleTimeoutMs: 200 });
    const mute = await raw(port, 'mute');            // RawClient never sends PONG
    const e = await mute.waitClosed();
    assert.equal(e?.code, 'idle_timeout');
    assert.ok(mute.frames.some((f) => f.type === FrameType.PING), 'it was pinged first');
  });

  it('back-pressure: audio to a receiver that never reads is dropped with a bounded queue; control frames still queue; others unaffected', async () => {
    const maxQueueBytes = 256 * 1024;
    const { server, port } = await startServer({ maxQueueBytes });
    const stalled = await raw(port, 'stalled');
    stalled.socket.pause();
    const { conn: good } = await connectClient(port, 'good');
    const toStalled = server.findByUserId('stalled')!;
    const toGood = server.findByUserId('good')!;

    // 150 KiB PCM frames: the kernel's socket buffers fill after some tens of them.
    const big: AudioHeader = { trackId: 1, seq: 0, captureTime: 0, sampleRate: 48000, channels: 8, codec: Codec.PCM_F32LE, frameSamples: 4800 };
    const data = Buffer.alloc(4800 * 8 * 4);
    let refused = 0;
    let maxQueued = 0;
    for (let i = 0; i < 600; i++) {
      if (!toStalled.sendAudio({ ...big, seq: i }, data)) refused++;
      maxQueued = Math.max(maxQueued, toStalled.socket.writableLength);
    }
    assert.ok(refused > 0, 'some audio was refused');
    assert.equal(toStalled.counters.audioDropped, refused);
    assert.ok(maxQueued <= maxQueueBytes, `queue peaked at ${maxQueued} bytes`);
    // encodeAudioFrame + send() follows the same rule
    assert.equal(toStalled.send(encodeAudioFrame(big, data)), false);
    // control frames are not dropped
    assert.equal(toStalled.sendMetadata({ note: 'still queued' }), true);
    assert.ok(toStalled.isOpen);

    // The good connection is unaffected in both directions.
    const received: number[] = [];
    good.on('audio', (h) => received.push(h.seq));
    for (let s = 0; s < 50; s++) toGood.sendAudio(opusHeader(s), opus10ms);
    await until(() => received.length === 50, 5000, '50 frames at the good client');
    assert.deepEqual(received, Array.from({ length: 50 }, (_, i) => i));
    assert.equal(toGood.counters.audioDropped, 0);
    const atServer = next<[AudioHeader]>(toGood, 'audio');
    good.sendAudio(opusHeader(99), opus10ms);
    assert.equal((await atServer)[0].seq, 99);
  });

  it('a receiver that never reads is disconnected once queued control frames pass maxControlQueueBytes', async () => {
    const { server, port } = await startServer({ maxQueueBytes: 64 * 1024, maxControlQueueBytes: 512 * 1024 });
    const stalled = await raw(port, 'stalled');
    stalled.socket.pause();
    const conn = server.findByUserId('stalled')!;
    const gone = next<[StreamConnection, string]>(server, 'disconnect');
    const blob = { state: 'x'.repeat(100_000) };
    for (let i = 0; i < 2000 && conn.isOpen; i++) conn.sendMetadata(blob);
    assert.equal(conn.isOpen, false);
    const [c, reason] = await gone;
    assert.equal(c, conn);
    assert.match(reason, /does not read/);
  });

  it('broadcast reaches every open connection and server.close() disconnects them all', async () => {
    const { server, port } = await startServer();
    const a = await connectClient(port, 'alice');
    const b = await connectClient(port, 'bob');
    await until(() => server.connections.size === 2, 2000, 'two connections');
    assert.equal(server.findByUserId('bob')?.userId, 'bob');
    const gotA = next<[AudioHeader]>(a.conn, 'audio');
    const gotB = next<[AudioHeader]>(b.conn, 'audio');
    assert.equal(server.broadcast(encodeAudioFrame(opusHeader(5), opus10ms)), 2);
    assert.equal((await gotA)[0].seq, 5);
    assert.equal((await gotB)[0].seq, 5);

    const offA = next<[{ reason: string }]>(a.client, 'disconnect');
    const offB = next<[{ reason: string }]>(b.client, 'disconnect');
    await server.close();
    await Promise.all([offA, offB]);
    assert.equal(server.connections.size, 0);
  });
});

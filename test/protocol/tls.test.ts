// streamproto1 over TLS (runtime/protocol/transport.ts): CA-verified and pinned clients, client certificates, refused
// clients that receive nothing of the session, plain TCP against a TLS server, a stalled handshake, and openssl
// s_client as the outside referee. Certificates are made at test time by openssl (tls-certs.ts).

import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { Codec, FrameType, encodeJsonFrame, type AudioHeader } from '../../runtime/protocol/frame';
import {
  StreamClient, StreamConnection, StreamServer, normalizeFingerprint256, type StreamClientOptions, type StreamServerOptions,
} from '../../runtime/protocol/transport';
import { certificateFingerprint256, loadClientTls, loadServerTls } from '../../runtime/protocol/tls-files';
import { TransportFixture, opusEncode } from './helpers';
import { makeTestCerts, type TestCerts } from './tls-certs';

function next<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string, ms = 5000): Promise<T> {
  return once(emitter, event, { signal: AbortSignal.timeout(ms) }) as Promise<T>;
}

const opus10ms = opusEncode(48000, 2, 480);
function opusHeader(seq: number): AudioHeader {
  return { trackId: 1, seq, captureTime: 1763740000000000 + seq * 10000, sampleRate: 48000, channels: 2, codec: Codec.OPUS, frameSamples: 480 };
}
const HELLO = encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId: 'raw', role: 'peer' });

/** Every byte a socket received (decrypted, for TLS) until it closed, and the error it closed with. */
async function received(socket: net.Socket, ms = 5000): Promise<{ bytes: Buffer; error: Error | undefined }> {
  const chunks: Buffer[] = [];
  let error: Error | undefined;
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', (e) => { error ??= e; });
  // (events.once would reject on the 'error' that precedes the close.)
  if (!socket.destroyed) {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the socket was not closed')), ms);
      socket.once('close', () => { clearTimeout(timer); resolve(); });
    });
  }
  return { bytes: Buffer.concat(chunks), error };
}

/** Runs `openssl s_client` against 127.0.0.1:port with stdin closed at once; resolves with its exit code and output. */
function sClient(port: number, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out }));
    p.stdin.end();
  });
}

describe('protocol/transport over TLS', function () {
  let certs: TestCerts;
  const fx = new TransportFixture(() => ({ tls: { cert: certs.serverCert, key: certs.serverKey } }));
  const { servers, clients, sockets } = fx;

  before(() => { certs = makeTestCerts(); });
  after(() => certs?.remove());
  afterEach(() => fx.closeAll());

  const startServer = (opts: StreamServerOptions = {}) => fx.startServer(opts);

  function makeClient(port: number, userId: string, opts: Partial<StreamClientOptions> = {}): StreamClient {
    const client = new StreamClient({ port, hello: { userId, role: 'peer' }, pingIntervalMs: 0, backoffMinMs: 20, backoffMaxMs: 200, ...opts });
    clients.push(client);
    return client;
  }

  async function connectClient(port: number, userId: string, opts: Partial<StreamClientOptions>): Promise<{ client: StreamClient; conn: StreamConnection; sconn: StreamConnection }> {
    const client = makeClient(port, userId, opts);
    const server = servers[servers.length - 1];
    const accepted = next<[StreamConnection]>(server, 'connection');
    const connected = next<[StreamConnection]>(client, 'connect');
    client.start();
    const [[conn], [sconn]] = await Promise.all([connected, accepted]);
    return { client, conn, sconn };
  }

  /** The connectError of a client that must not connect (reconnect off). */
  async function refusedClient(port: number, opts: Partial<StreamClientOptions>): Promise<Error> {
    const client = makeClient(port, 'refused', { reconnect: false, ...opts });
    client.on('connect', () => assert.fail('a refused client connected'));
    const failed = next<[Error]>(client, 'connectError');
    client.start();
    const [err] = await failed;
    return err;
  }

  async function streamsAudio(from: StreamConnection, to: StreamConnection, seq: number): Promise<void> {
    const got = next<[AudioHeader, Buffer]>(to, 'audio');
    from.sendAudio(opusHeader(seq), opus10ms);
    const [h, data] = await got;
    assert.deepEqual(h, opusHeader(seq));
    assert.ok(data.equals(opus10ms), 'the Opus packet arrives bit-exact');
  }

  it('a client trusting the CA connects; AUDIO flows both ways bit-exact; both ends say secure', async () => {
    const { server, port } = await startServer();
    assert.equal(server.secure, true);
    const { conn, sconn } = await connectClient(port, 'alice', { tls: { ca: certs.caCert } });
    assert.equal(conn.secure, true);
    assert.equal(sconn.secure, true);
    assert.equal(sconn.authenticated, false, 'TLS alone is not a credential check');
    assert.equal((sconn.socket as tls.TLSSocket).getProtocol(), 'TLSv1.3');
    await streamsAudio(conn, sconn, 1);
    await streamsAudio(sconn, conn, 2);
  });

  it('the same client by hostname (localhost) verifies the certificate name too', async () => {
    const { port } = await startServer();
    const { conn, sconn } = await connectClient(port, 'alice', { host: 'localhost', tls: { ca: certs.caCert } });
    await streamsAudio(conn, sconn, 1);
    const err = await refusedClient(port, { host: 'localhost', tls: { ca: certs.caCert, servername: 'other.example' } });
    assert.match(err.message, /^TLS with localhost:\d+: .*other\.example/);
  });

  it('a server certificate the client cannot verify is refused with a clear error, and the server got no HELLO', async () => {
    const { server, port } = await startServer({ tls: { cert: certs.strangerCert, key: certs.strangerKey } });
    server.on('connection', () => assert.fail('a HELLO reached the server'));
    const selfSigned = await refusedClient(port, { tls: { ca: certs.caCert } });
    assert.match(selfSigned.message, /^TLS with 127\.0\.0\.1:\d+: self-signed certificate/);
    const noCa = await refusedClient(port, { tls: {} });
    assert.match(noCa.message, /self-signed certificate/);
    assert.equal(server.connections.size, 0);
  });

  it('a pinned fingerprint replaces the CA check: the right pin connects (either spelling), a wrong one is refused before HELLO', async () => {
    const { server, port } = await startServer({ tls: { cert: certs.strangerCert, key: certs.strangerKey } });
    const plainHex = certs.strangerFingerprint.replace(/:/g, '').toLowerCase();
    assert.equal(normalizeFingerprint256(plainHex), certs.strangerFingerprint);
    const { conn, sconn } = await connectClient(port, 'pinned', { tls: { fingerprint256: plainHex } });
    await streamsAudio(conn, sconn, 1);
    const accepted = server.stats.snapshot();
    let helloSeen = false;
    server.on('connection', () => { helloSeen = true; });
    const err = await refusedClient(port, { tls: { fingerprint256: certs.serverFingerprint } });
    assert.equal(err.message, `TLS: server certificate fingerprint ${certs.strangerFingerprint} does not match the pinned ${certs.serverFingerprint}`);
    assert.equal(helloSeen, false);
    assert.equal(server.connections.size, 1, 'only the pinned client');
    assert.deepEqual(server.stats.snapshot(), accepted, 'a client-side refusal counts nothing on the server');
    assert.throws(() => makeClient(port, 'x', { tls: { fingerprint256: 'AB:CD' } }), /^Error: tls\.fingerprint256: must be a SHA-256 fingerprint/);
  });

  it('requestCert + rejectUnauthorized: a client with a CA-signed certificate streams; one without is refused and receives nothing', async () => {
    const { server, port } = await startServer({
      tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert, requestCert: true, rejectUnauthorized: true },
    });
    const { conn, sconn } = await connectClient(port, 'carol', { tls: { ca: certs.caCert, cert: certs.clientCert, key: certs.clientKey } });
    assert.equal((sconn.socket as tls.TLSSocket).getPeerCertificate().subject.CN, 'xcast test client');

    // By hand, to see every byte: TLS 1.3 lets the client finish its side and send HELLO before the server refuses.
    const raw = tls.connect({ host: '127.0.0.1', port, ca: certs.caCert });
    sockets.push(raw);
    raw.once('secureConnect', () => raw.write(HELLO));
    const { bytes, error } = await received(raw);
    assert.equal(bytes.length, 0, 'no server HELLO, no audio: nothing of the session');
    assert.match(String((error as { reason?: string } | undefined)?.reason), /certificate required/);
    assert.equal(server.stats.snapshot().tls_handshake, 1);

    const err = await refusedClient(port, { tls: { ca: certs.caCert } });
    assert.match(err.message, /^TLS with 127\.0\.0\.1:\d+: tlsv13 alert certificate required/);
    assert.equal(server.connections.size, 1);
    await streamsAudio(conn, sconn, 7);
  });

  it('a plain-TCP client against a TLS server is closed, gets no streamproto1 byte, and a healthy TLS client keeps streaming', async () => {
    const { server, port } = await startServer();
    const { conn, sconn } = await connectClient(port, 'healthy', { tls: { ca: certs.caCert } });
    const plain = net.connect({ host: '127.0.0.1', port });
    sockets.push(plain);
    plain.once('connect', () => plain.write(HELLO));
    const { bytes } = await received(plain);
    assert.equal(bytes.includes(Buffer.from('SP')), false, `no frame in what the plain client got: ${bytes.toString('hex')}`);
    assert.equal(server.stats.snapshot().tls_handshake, 1);
    await streamsAudio(conn, sconn, 1);
    // A plain StreamClient fails to connect and retries without disturbing anything.
    const err = await refusedClient(port, {});
    assert.match(err.message, /closed before the server's HELLO|ECONNRESET|socket hang up/);
    await streamsAudio(sconn, conn, 2);
  });

  it('a client that stalls the TLS handshake is closed at helloTimeoutMs (the HELLO timer runs from accept)', async () => {
    const { server, port } = await startServer({ limits: { helloTimeoutMs: 300 } });
    const stalled = net.connect({ host: '127.0.0.1', port });
    sockets.push(stalled);
    // The first bytes of a TLS record header and nothing more.
    stalled.once('connect', () => stalled.write(Buffer.from([0x16, 0x03, 0x01])));
    const { bytes } = await received(stalled);
    assert.equal(bytes.length, 0);
    assert.equal(server.stats.snapshot().hello_timeout, 1);
    assert.equal(server.stats.snapshot().tls_handshake, 0, 'our own close of a stalled handshake is not a handshake failure');
    assert.equal(server.pendingCount, 0);
  });

  it('a TLS client that completes the handshake but sends no HELLO is closed with ERROR hello_timeout', async () => {
    const { server, port } = await startServer({ limits: { helloTimeoutMs: 300 } });
    const quiet = tls.connect({ host: '127.0.0.1', port, ca: certs.caCert });
    sockets.push(quiet);
    const { bytes } = await received(quiet);
    assert.equal(bytes[3], FrameType.ERROR);
    assert.match(bytes.subarray(8).toString(), /"code":"hello_timeout"/);
    assert.equal(server.stats.snapshot().hello_timeout, 1);
  });

  it('TLS and a token: the connection is both secure and authenticated', async () => {
    const { port } = await startServer({ token: 'over-tls' });
    const { sconn } = await connectClient(port, 'dora', { tls: { ca: certs.caCert }, hello: { userId: 'dora', role: 'peer', token: 'over-tls' } });
    assert.deepEqual([sconn.secure, sconn.authenticated], [true, true]);
    const err = await refusedClient(port, { tls: { ca: certs.caCert }, hello: { userId: 'eve', role: 'peer', token: 'guess' } });
    assert.equal(err.message, 'server sent ERROR "unauthorized": "wrong token"');
  });

  it('maxPendingHandshakes counts TLS handshakes: the oldest stalled ones go (not counted as TLS failures), a healthy client joins', async () => {
    const { server, port } = await startServer({ limits: { maxPendingHandshakes: 3 } });
    const stalled: Promise<{ bytes: Buffer }>[] = [];
    for (let i = 0; i < 5; i++) {
      const s = net.connect({ host: '127.0.0.1', port });
      sockets.push(s);
      await once(s, 'connect');
      stalled.push(received(s));
    }
    // The first two were closed to make room; the other three wait for the HELLO timeout (5 s), the healthy one joins now.
    await Promise.all(stalled.slice(0, 2));
    const { conn, sconn } = await connectClient(port, 'healthy', { tls: { ca: certs.caCert } });
    await streamsAudio(conn, sconn, 1);
    const stats = server.stats.snapshot();
    assert.equal(stats.pending_handshakes, 3, 'two stalled ones, then the oldest remaining one for the healthy client');
    assert.equal(stats.tls_handshake, 0);
  });

  it('openssl s_client (the outside referee) completes the handshake trusting the CA, and fails verification with a wrong CA', async () => {
    const { server, port } = await startServer();
    const { conn, sconn } = await connectClient(port, 'healthy', { tls: { ca: certs.caCert } });
    const ok = await sClient(port, ['-CAfile', certs.files.ca, '-verify_return_error']);
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, /Verify return code: 0 \(ok\)/);
    assert.match(ok.out, /subject=CN ?= ?xcast test server/);
    const wrong = await sClient(port, ['-CAfile', certs.files.stranger, '-verify_return_error']);
    assert.notEqual(wrong.code, 0, wrong.out);
    assert.match(wrong.out, /verify error|unable to get local issuer certificate/);
    // The failed and the completed-then-closed handshakes crashed nothing.
    await streamsAudio(conn, sconn, 3);
    assert.equal(server.connections.size, 1);
  });
});

describe('protocol/tls-files', () => {
  let certs: TestCerts;
  before(() => { certs = makeTestCerts(); });
  after(() => certs?.remove());

  const file = (name: string): string => path.join(certs.dir, name);

  it('certificateFingerprint256 agrees with openssl x509 -fingerprint -sha256', () => {
    assert.equal(certificateFingerprint256(certs.serverCert), certs.serverFingerprint);
    assert.equal(certificateFingerprint256(certs.strangerCert), certs.strangerFingerprint);
  });

  it('loadServerTls reads cert and key (and with a CA file requires client certificates); a server made from it serves', async () => {
    const opts = loadServerTls({ certFile: file('server.crt'), keyFile: file('server.key') });
    assert.deepEqual(Object.keys(opts), ['cert', 'key']);
    const withCa = loadServerTls({ certFile: file('server.crt'), keyFile: file('server.key'), caFile: file('ca.crt') });
    assert.deepEqual([withCa.requestCert, withCa.rejectUnauthorized], [true, true]);
    const server = new StreamServer({ pingIntervalMs: 0, tls: withCa });
    const { port } = await server.listen();
    const client = new StreamClient({ port, hello: { userId: 'f', role: 'peer' }, pingIntervalMs: 0, reconnect: false,
      tls: loadClientTls({ caFile: file('ca.crt'), certFile: file('client.crt'), keyFile: file('client.key') }) });
    const connected = next(client, 'connect');
    client.start();
    await connected;
    await client.close();
    await server.close();
  });

  it('errors name the field: unreadable file, no certificate, a key of another certificate, half a client pair', () => {
    const cases: [() => unknown, string][] = [
      [() => loadServerTls({ certFile: file('nope.crt'), keyFile: file('server.key') }), `tls.certFile: cannot read ${file('nope.crt')}: ENOENT`],
      [() => loadServerTls({ certFile: file('server.key'), keyFile: file('server.key') }), `tls.certFile: ${file('server.key')} holds no PEM certificate`],
      [() => loadServerTls({ certFile: file('server.crt'), keyFile: file('stranger.key') }), `tls.keyFile: ${file('stranger.key')} cannot be used with ${file('server.crt')}: key values mismatch`],
      [() => loadServerTls({ certFile: file('server.crt'), keyFile: file('server.key'), caFile: file('ca.key') }, 'socket.'), `socket.caFile: ${file('ca.key')} holds no PEM certificate`],
      [() => loadClientTls({ certFile: file('client.crt') }), 'tls.keyFile: required with tls.certFile'],
    ];
    for (const [fn, message] of cases) assert.throws(fn, { message });
  });
});

// Node tests: the socket nodes' trust settings through the real nodes — TLS with Node-RED's core tls-config node and
// openssl-made certificates, a pinned fingerprint, client certificates, users lists, limits, and wire values in logs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { StreamClient, StreamConnection } from '../../runtime/protocol/transport';
import { Codec, FrameType, encodeJsonFrame, MAGIC_0, MAGIC_1 } from '../../runtime/protocol/frame';
import { freePort, tmpDir } from '../support/xcast-process';
import { until } from '../support/resources';
import { helper, audioMsg, light, loadFlow, nodeModules, statusOf, useNodeRed, loggedErrors, type FlowNode } from '../support/node-red';
import { makeTestCerts, type TestCerts } from '../support/tls-certs';
import { RefusalWarnings, REFUSALS_PER_MINUTE } from '../../nodes/lib/endpoint';

// Node-RED's own tls-config node, as the MQTT, HTTP request and TCP nodes use it.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const tlsConfigModule = require(require.resolve('@node-red/nodes/core/network/05-tls.js', { paths: [path.dirname(require.resolve('node-red'))] }));

const modules = [tlsConfigModule, nodeModules.socketReader, nodeModules.socketWriter];

/** Warnings Node-RED logged (node.warn) since the flow was loaded, of node `id` (or every node). */
function warnings(id?: string): string[] {
  return helper.log().args
    .filter((a: unknown[]) => (a[0] as { level?: number })?.level === 30 && (id === undefined || (a[0] as { id?: string }).id === id))
    .map((a: unknown[]) => String((a[0] as { msg?: unknown }).msg));
}

function tlsConfig(id: string, o: { cert?: string; key?: string; ca?: string; verify?: boolean }): FlowNode {
  return { id, type: 'tls-config', name: id, cert: o.cert ?? '', key: o.key ?? '', ca: o.ca ?? '', certname: '', keyname: '', caname: '', servername: '', verifyservercert: o.verify ?? true };
}

const pcm = (seq: number, trackId = 1) => ({ trackId, seq, captureTime: 0, sampleRate: 48000, channels: 1, codec: Codec.PCM_S16LE, frameSamples: 480 });

/** A client of ours; resolves 'connected' (and closes) or the refusal's code or message. */
function attempt(port: number, userId: string, token: string | undefined, tls?: ConstructorParameters<typeof StreamClient>[0]['tls']): Promise<string> {
  return new Promise<string>((resolve) => {
    const c = new StreamClient({ host: '127.0.0.1', port, hello: { userId, role: 'peer', token }, reconnect: false, tls });
    c.on('connect', () => { void c.close(); resolve('connected'); });
    c.on('connectError', (e: Error & { code?: string }) => { void c.close(); resolve(e.code ?? e.message); });
    c.start();
  });
}

/** A connected client of ours, to send frames with. */
async function connect(port: number, userId: string, token?: string): Promise<{ client: StreamClient; conn: StreamConnection }> {
  const client = new StreamClient({ host: '127.0.0.1', port, hello: { userId, role: 'peer', token }, reconnect: false });
  const conn = await new Promise<StreamConnection>((resolve, reject) => {
    client.on('connect', resolve);
    client.on('connectError', reject);
    client.start();
  });
  return { client, conn };
}

/** Sends audio into writer `id` every 10 ms until `done()` says it arrived. */
async function pump(f: Awaited<ReturnType<typeof loadFlow>>, id: string, done: () => boolean): Promise<boolean> {
  let seq = 0;
  const timer = setInterval(() => f.node(id).receive(audioMsg({ seq: seq++ })), 10);
  try {
    return await until(done, 10_000);
  } finally {
    clearInterval(timer);
  }
}

describe('socket nodes: TLS, users lists, limits', function () {
  this.timeout(30000);
  useNodeRed();
  let certs: TestCerts;
  before(() => { certs = makeTestCerts(); });
  after(() => fs.rmSync(certs.dir, { recursive: true, force: true }));

  it('TLS end to end: a writer trusting the CA streams to a TLS reader, whose connection event says secure and authenticated', async () => {
    const port = await freePort();
    const f = await loadFlow(modules, [
      tlsConfig('tlsS', { cert: certs.serverCert, key: certs.serverKey }),
      tlsConfig('tlsC', { ca: certs.caCert }),
      { id: 'r', type: 'xcast-socket-reader', mode: 'server', port: String(port), tls: 'tlsS', wires: [['out'], [], ['events'], []] },
      { id: 'w', type: 'xcast-socket-writer', mode: 'client', host: '127.0.0.1', port: String(port), userId: 'alice', tls: 'tlsC', wires: [['wev']] },
    ], { helpers: ['out', 'events', 'wev'], credentials: { r: { token: 'tok' }, w: { token: 'tok' } } });
    await statusOf('w', light('green', 'dot', /connect/), 'connected');
    assert.ok(await pump(f, 'w', () => f.received('out').length > 0), 'audio crossed the TLS connection');
    const open = f.received('events').find((m) => (m.payload as { event?: string }).event === 'open')!;
    assert.equal((open.payload as { secure?: boolean }).secure, true);
    assert.equal((open.payload as { authenticated?: boolean }).authenticated, true);
    assert.equal((open.payload as { userId?: string }).userId, 'alice');
    const wopen = f.received('wev').find((m) => (m.payload as { event?: string }).event === 'open')!;
    assert.equal((wopen.payload as { secure?: boolean }).secure, true);
    assert.deepEqual(loggedErrors(), []);
  });

  it('a plain TCP client of a TLS reader gets no streamproto1 byte and no connection', async () => {
    const port = await freePort();
    const f = await loadFlow(modules, [
      tlsConfig('tlsS', { cert: certs.serverCert, key: certs.serverKey }),
      { id: 'r', type: 'xcast-socket-reader', mode: 'server', port: String(port), tls: 'tlsS', wires: [[], [], ['events'], []] },
    ], { helpers: ['events'] });
    await statusOf('r', light('yellow', 'ring', /listen/), 'listening');
    const got: Buffer[] = [];
    await new Promise<void>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write(encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId: 'mallory', role: 'peer' })));
      s.on('data', (d) => got.push(d));
      s.on('error', () => undefined);
      s.on('close', () => resolve());
    });
    const bytes = Buffer.concat(got);
    assert.ok(!(bytes[0] === MAGIC_0 && bytes[1] === MAGIC_1), `a streamproto1 frame came back: ${bytes.toString('hex')}`);
    assert.doesNotMatch(bytes.toString('latin1'), /streamproto1|xcast/);
    assert.deepEqual(f.received('events'), []);
  });

  it('a pinned fingerprint trusts the self-signed-for-us certificate and no other; a CA that did not sign it is refused', async () => {
    const port = await freePort();
    const other = makeTestCerts();
    try {
      const f = await loadFlow(modules, [
        tlsConfig('tlsS', { cert: certs.serverCert, key: certs.serverKey }),
        tlsConfig('tlsOther', { ca: other.caCert }),
        { id: 'r', type: 'xcast-socket-reader', mode: 'server', port: String(port), tls: 'tlsS', wires: [['out'], [], [], []] },
        { id: 'pinned', type: 'xcast-socket-writer', mode: 'client', port: String(port), userId: 'alice', fingerprint: certs.serverFingerprint.replace(/:/g, '').toLowerCase() },
        { id: 'wrongpin', type: 'xcast-socket-writer', mode: 'client', port: String(port), userId: 'bob', fingerprint: other.serverFingerprint },
        { id: 'wrongca', type: 'xcast-socket-writer', mode: 'client', port: String(port), userId: 'carol', tls: 'tlsOther' },
      ], { helpers: ['out'] });
      await statusOf('pinned', light('green', 'dot', /connect/), 'connected by its pinned fingerprint');
      assert.ok(await pump(f, 'pinned', () => f.received('out').length > 0), 'audio through the pinned connection');
      assert.ok(await until(() => warnings('wrongpin').length > 0 && warnings('wrongca').length > 0), `warnings: ${JSON.stringify(warnings())}`);
      assert.match(warnings('wrongpin')[0], /refused the connection/);
      assert.match(warnings('wrongpin')[0], /fingerprint .* does not match/i);
      assert.match(warnings('wrongca')[0], /certificate/i);
      assert.ok(f.received('out').every((m) => m.userId === 'alice'), 'only the pinned writer got through');
    } finally {
      fs.rmSync(other.dir, { recursive: true, force: true });
    }
  });

  it('"require a client certificate": a client without one is refused, one with a certificate the CA signed is accepted', async () => {
    const port = await freePort();
    await loadFlow(modules, [
      tlsConfig('tlsS', { cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert }),
      { id: 'r', type: 'xcast-socket-reader', mode: 'server', port: String(port), tls: 'tlsS', requireClientCert: true, wires: [[], [], [], []] },
    ]);
    await statusOf('r', light('yellow', 'ring', /listen/), 'listening');
    const ca = fs.readFileSync(certs.caCert);
    assert.notEqual(await attempt(port, 'anon', undefined, { ca }), 'connected');
    assert.equal(await attempt(port, 'alice', undefined, { ca, cert: fs.readFileSync(certs.clientCert), key: fs.readFileSync(certs.clientKey) }), 'connected');
  });

  it('a users list from usersFile and the users credential: each user with its own token, refused with another', async () => {
    const port = await freePort();
    const dir = tmpDir();
    const file = path.join(dir, 'users.json');
    fs.writeFileSync(file, JSON.stringify({ users: [{ userId: 'alice', token: 'alice-token' }] }));
    await loadFlow(modules, [
      { id: 'r', type: 'xcast-socket-reader', mode: 'server', port: String(port), usersFile: file, wires: [[], [], [], []] },
    ], { credentials: { r: { users: JSON.stringify([{ userId: 'bob', token: 'bob-token', roles: ['peer'] }]) } } });
    await statusOf('r', light('yellow', 'ring', /listen/), 'listening');
    assert.equal(await attempt(port, 'alice', 'alice-token'), 'connected');
    assert.equal(await attempt(port, 'bob', 'bob-token'), 'connected');
    assert.equal(await attempt(port, 'alice', 'bob-token'), 'unauthorized');
    assert.equal(await attempt(port, 'mallory', undefined), 'unauthorized');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a wire value in a warning cannot forge a log line: a userId with a newline is escaped', async () => {
    const port = await freePort();
    await loadFlow(modules, [{ id: 'r', type: 'xcast-socket-reader', mode: 'server', port: String(port), wires: [[], [], [], []] }],
      { credentials: { r: { token: 'tok' } } });
    await statusOf('r', light('yellow', 'ring', /listen/), 'listening');
    assert.notEqual(await attempt(port, 'eve\n[error] [xcast-mixer:mixer] forged', 'wrong'), 'connected');
    assert.ok(await until(() => warnings('r').length > 0), 'the refusal was warned');
    for (const w of warnings('r')) assert.doesNotMatch(w, /[\n\r\u001b]/, `a raw control character in ${JSON.stringify(w)}`);
  });

  it(`warns at most ${REFUSALS_PER_MINUTE} refusals of a kind a minute, so a flood of strangers cannot flood the log`, async () => {
    const port = await freePort();
    await loadFlow(modules, [{ id: 'r', type: 'xcast-socket-reader', mode: 'server', port: String(port), authFailuresBeforeSlowdown: '1000000', wires: [[], [], [], []] }],
      { credentials: { r: { token: 'tok' } } });
    await statusOf('r', light('yellow', 'ring', /listen/), 'listening');
    for (let i = 0; i < REFUSALS_PER_MINUTE + 5; i++) assert.equal(await attempt(port, `stranger${i}`, 'guess'), 'unauthorized');
    const refused = () => warnings('r').filter((w) => /refused .*unauthorized/.test(w));
    assert.equal(refused().length, REFUSALS_PER_MINUTE, JSON.stringify(warnings('r')));
    // The next window says how many were kept quiet (the class, with its clock given).
    const r = new RefusalWarnings();
    for (let i = 0; i < REFUSALS_PER_MINUTE; i++) assert.deepEqual(r.admit('unauthorized', 1000 + i), { warn: true, suppressed: 0 });
    for (let i = 0; i < 7; i++) assert.deepEqual(r.admit('unauthorized', 2000 + i), { warn: false, suppressed: 0 });
    assert.deepEqual(r.admit('bad_hello', 3000), { warn: true, suppressed: 0 }, 'each kind counts alone');
    assert.deepEqual(r.admit('unauthorized', 61_000), { warn: true, suppressed: 7 });
  });

  for (const [what, config, credentials, field, words] of [
    ['a usersFile that does not exist', { usersFile: '/nonexistent/xcast-users.json' }, {}, 'usersFile', /usersFile: .*cannot read/],
    ['a usersFile entry without a token', { usersFile: 'USERS_NO_TOKEN' }, {}, 'usersFile', /usersFile: .*users\[0\]\.token: required/],
    ['a users credential that is not JSON', {}, { users: '[{userId: alice}' }, 'users', /users: .*not JSON/],
    ['a fingerprint that is not SHA-256', { mode: 'client', userId: 'a', fingerprint: 'AB:CD' }, {}, 'fingerprint', /fingerprint: "AB:CD" is not a SHA-256 fingerprint/],
    ['a TLS configuration that is not deployed', { tls: 'nosuchtls' }, {}, 'tls', /tls: the TLS configuration nosuchtls is not deployed/],
    ['a limit out of range', { maxConnections: '0' }, {}, 'maxConnections', /maxConnections: /],
    ['a limit that is not a number', { helloTimeoutMs: 'soon' }, {}, 'helloTimeoutMs', /helloTimeoutMs: "soon" is not a number/],
  ] as Array<[string, Record<string, unknown>, Record<string, string>, string, RegExp]>) {
    it(`refuses ${what}, naming the field ${field}`, async () => {
      const port = await freePort();
      const dir = tmpDir();
      const noToken = path.join(dir, 'users.json');
      fs.writeFileSync(noToken, JSON.stringify([{ userId: 'alice' }]));
      const cfg = { ...config };
      if (cfg.usersFile === 'USERS_NO_TOKEN') cfg.usersFile = noToken;
      await loadFlow(modules, [{ id: 'r', type: 'xcast-socket-reader', mode: 'server', port: String(port), ...cfg, wires: [[], [], [], []] }],
        { credentials: { r: credentials } });
      await statusOf('r', light('red', 'ring', new RegExp(`^bad ${field}$`)), `the red ring of a bad ${field}`);
      assert.ok(await until(() => loggedErrors().some((e) => words.test(e))), `logged: ${JSON.stringify(loggedErrors())}`);
      fs.rmSync(dir, { recursive: true, force: true });
    });
  }

  it("a limit hit is warned once per connection, however many frames hit it, and the connection's other tracks go on", async () => {
    const port = await freePort();
    const f = await loadFlow(modules, [
      { id: 'r', type: 'xcast-socket-reader', mode: 'server', port: String(port), maxTracksPerConnection: '1', wires: [['out'], [], [], []] },
    ], { helpers: ['out'] });
    await statusOf('r', light('yellow', 'ring', /listen/), 'listening');
    const p = await connect(port, 'alice');
    try {
      for (let seq = 0; seq < 50; seq++) {
        p.conn.sendAudio(pcm(seq, 1), Buffer.alloc(960));
        p.conn.sendAudio(pcm(seq, 2), Buffer.alloc(960));
        p.conn.sendAudio(pcm(seq, 3), Buffer.alloc(960));
      }
      // Frames of one connection arrive in order: once the last frame of track 1 is out, every frame was seen.
      const out = await f.receivedAtLeast('out', 50);
      assert.ok(out.every((m) => (m.audio as { trackId: number }).trackId === 1), 'only the first track passed');
      const hits = warnings('r').filter((w) => /tracks_per_connection/.test(w));
      assert.equal(hits.length, 1, `warnings: ${JSON.stringify(warnings('r'))}`);
      assert.match(hits[0], /"alice"/);
    } finally {
      await p.client.close();
    }
  });
});

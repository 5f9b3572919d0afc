// Per-user tokens (runtime/protocol/auth.ts UsersList) and the StreamServer's HELLO checks: the single token or the
// user's own token, roles, the per-address slow-down after failed HELLOs, and one open connection per userId.

import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { FrameType, encodeJsonFrame } from '../../runtime/protocol/frame';
import { AuthSlowdown, UsersList, addressKey } from '../../runtime/protocol/auth';
import { transportStats } from '../../runtime/protocol/limits';
import { StreamClient, StreamConnection, type StreamServerOptions } from '../../runtime/protocol/transport';
import { RawClient, TransportFixture, until } from './helpers';

function next<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string, ms = 5000): Promise<T> {
  return once(emitter, event, { signal: AbortSignal.timeout(ms) }) as Promise<T>;
}

const USERS = [
  { userId: 'alice', token: 'alice-secret' },
  { userId: 'bob', token: 'bob-secret', roles: ['monitor'] },
];

describe('protocol/auth UsersList', () => {
  it('parses JSON text, an array and { users: [...] } alike', () => {
    for (const v of [JSON.stringify(USERS), USERS, { users: USERS }, JSON.stringify({ users: USERS })]) {
      const u = UsersList.parse(v);
      assert.equal(u.size, 2);
      assert.deepEqual(u.userIds(), ['alice', 'bob']);
      assert.equal(u.check('alice', 'alice-secret', 'peer'), 'ok');
      assert.equal(u.check('bob', 'bob-secret', 'monitor'), 'ok');
    }
  });

  it('check: a wrong, missing or other user\'s token, an unknown user, a role not allowed', () => {
    const u = UsersList.parse(USERS);
    assert.equal(u.check('alice', 'bob-secret', 'peer'), 'wrong_token');
    assert.equal(u.check('alice', 'alice-secre', 'peer'), 'wrong_token');
    assert.equal(u.check('alice', undefined, 'peer'), 'missing_token');
    assert.equal(u.check('nobody', 'alice-secret', 'peer'), 'wrong_token');
    assert.equal(u.check('bob', 'bob-secret', 'peer'), 'role_not_allowed');
  });

  it('errors name the field', () => {
    const bad: [unknown, RegExp][] = [
      [[{ userId: 'a', token: 't' }, { userId: 'b', token: 't' }, { userId: 'c' }], /^users\[2\]\.token: required$/],
      [[{ token: 't' }], /^users\[0\]\.userId: required$/],
      [[{ userId: 5, token: 't' }], /^users\[0\]\.userId: must be a string$/],
      [[{ userId: 'a', token: 7 }], /^users\[0\]\.token: must be a string$/],
      [[{ userId: 'a\nb', token: 't' }], /^users\[0\]\.userId: contains a control character$/],
      [[{ userId: 'x'.repeat(129), token: 't' }], /^users\[0\]\.userId: longer than 128/],
      [[{ userId: 'a', token: 't', roles: ['admin'] }], /^users\[0\]\.roles\[0\]: "admin" is not one of peer, monitor, xcast$/],
      [[{ userId: 'a', token: 't', roles: [] }], /^users\[0\]\.roles: must be a non-empty array/],
      [[{ userId: 'a', token: 't', tokn: 'x' }], /^users\[0\]\.tokn: unknown field/],
      [[{ userId: 'a', token: 't' }, { userId: 'a', token: 'u' }], /^users\[1\]\.userId: "a" is listed twice$/],
      [[null], /^users\[0\]: must be an object/],
      [{ people: [] }, /^users: expected an array/],
      [{ users: [], extra: 1 }, /^extra: unknown field/],
      [42, /^users: must be an array/],
    ];
    for (const [v, re] of bad) assert.throws(() => UsersList.parse(v), (err: Error) => re.test(err.message), JSON.stringify(v));
  });

  it('a file: parsed, and its errors name the file; JSON errors give a position and never echo the text', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'xcast-users-'));
    try {
      const good = path.join(dir, 'users.json');
      writeFileSync(good, JSON.stringify({ users: USERS }));
      assert.equal(UsersList.fromFile(good).size, 2);
      const bad = path.join(dir, 'bad.json');
      writeFileSync(bad, '[{"userId": "a", "token": "hunter2"} oops]');
      assert.throws(() => UsersList.fromFile(bad), (err: Error) => {
        assert.equal(err.message, `${bad}: users: not JSON (at position 37)`);
        return true;
      });
      writeFileSync(bad, '[{"userId": "a"}]');
      assert.throws(() => UsersList.fromFile(bad), (err: Error) => err.message === `${bad}: users[0].token: required`);
      assert.throws(() => UsersList.fromFile(path.join(dir, 'missing.json')), /missing\.json: cannot read the users file: ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('protocol/auth AuthSlowdown and addressKey', () => {
  function slowdown(tableSize = 4096): { s: AuthSlowdown; clock: { t: number } } {
    const clock = { t: 0 };
    const s = new AuthSlowdown({ failuresBeforeSlowdown: 3, windowMs: 60_000, minDelayMs: 250, maxDelayMs: 8000, tableSize, now: () => clock.t });
    return { s, clock };
  }

  it('no delay below the threshold; then 250 ms doubling per failure up to 8 s; per address', () => {
    const { s } = slowdown();
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) { delays.push(s.delayMs('10.0.0.1')); s.failed('10.0.0.1'); }
    assert.deepEqual(delays, [0, 0, 0, 250, 500, 1000, 2000, 4000, 8000, 8000]);
    assert.equal(s.delayMs('10.0.0.2'), 0, 'another address is not slowed');
  });

  it('a success clears the address; 60 s without a failure forgets it, a failure within 60 s of the last keeps counting', () => {
    const { s, clock } = slowdown();
    for (let i = 0; i < 4; i++) s.failed('a');
    assert.equal(s.delayMs('a'), 500);
    s.succeeded('a');
    assert.equal(s.delayMs('a'), 0);
    for (let i = 0; i < 3; i++) { clock.t += 50_000; s.failed('a'); }
    assert.equal(s.delayMs('a'), 250, 'failures 50 s apart are one run');
    clock.t += 60_001;
    assert.equal(s.delayMs('a'), 0);
    assert.equal(s.size, 0);
    s.failed('a');
    assert.equal(s.delayMs('a'), 0, 'the count started again');
  });

  it('the table is bounded: beyond tableSize the least recently failing address is forgotten', () => {
    const { s } = slowdown(3);
    for (const ip of ['a', 'b', 'c']) for (let i = 0; i < 3; i++) s.failed(ip);
    s.failed('a');   // a is now the most recent
    for (let i = 0; i < 3; i++) s.failed('d');
    assert.equal(s.size, 3);
    assert.equal(s.delayMs('b'), 0, 'b, the least recent, was dropped');
    assert.equal(s.delayMs('a'), 500);
    assert.equal(s.delayMs('c'), 250);
    assert.equal(s.delayMs('d'), 250);
  });

  it('addressKey: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64', () => {
    assert.equal(addressKey('192.0.2.7'), '192.0.2.7');
    assert.equal(addressKey('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(addressKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8:1:2::99'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:DB8:0001::1'), '2001:db8:1:0::/64');
    assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey(undefined), '');
  });
});

describe('protocol/transport HELLO checks: tokens, users, slow-down, one connection per userId', () => {
  const fx = new TransportFixture();
  const { raws, clients } = fx;
  afterEach(() => fx.closeAll());
  const startServer = (opts: StreamServerOptions = {}) => fx.startServer(opts);

  /** Sends a HELLO by hand; resolves with the server's first answer: its HELLO or the ERROR it closed with. */
  async function hello(port: number, fields: Record<string, unknown>): Promise<{ raw: RawClient; accepted: boolean; error?: { code: string; message: string } }> {
    const raw = await RawClient.connect(port);
    raws.push(raw);
    raw.write(encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', role: 'peer', ...fields }));
    const f = await raw.nextFrame().catch(() => undefined);
    if (f?.type === FrameType.HELLO) return { raw, accepted: true };
    return { raw, accepted: false, error: await raw.waitClosed() };
  }

  it('users: each user with its own token (authenticated), never with another\'s; the single token works beside them', async () => {
    const { server, port } = await startServer({ users: UsersList.parse(USERS), token: 'shared' });
    const seen: StreamConnection[] = [];
    server.on('connection', (c) => seen.push(c));
    assert.equal((await hello(port, { userId: 'alice', token: 'alice-secret' })).accepted, true);
    assert.equal((await hello(port, { userId: 'bob', token: 'bob-secret', role: 'monitor' })).accepted, true);
    assert.equal((await hello(port, { userId: 'guest', token: 'shared' })).accepted, true);
    assert.deepEqual(seen.map((c) => [c.userId, c.authenticated, c.secure]), [['alice', true, false], ['bob', true, false], ['guest', true, false]]);
  });

  it('refusals: ERROR unauthorized saying why without echoing the token, counted here and process-wide', async () => {
    const { server, port } = await startServer({ users: UsersList.parse(USERS), limits: { authFailuresBeforeSlowdown: 100 } });
    const before = transportStats.snapshot().unauthorized;
    const cases: [Record<string, unknown>, string][] = [
      [{ userId: 'alice', token: 'bob-secret' }, 'wrong token for user "alice"'],
      [{ userId: 'alice' }, 'missing token: this server requires one'],
      [{ userId: 'nobody', token: 'alice-secret' }, 'wrong token for user "nobody"'],
      [{ userId: 'bob', token: 'bob-secret', role: 'peer' }, 'user "bob" may not connect as "peer"'],
    ];
    for (const [fields, message] of cases) {
      const r = await hello(port, fields);
      assert.equal(r.accepted, false);
      assert.deepEqual(r.error, { code: 'unauthorized', message });
    }
    assert.equal(server.stats.snapshot().unauthorized, 4);
    assert.equal(transportStats.snapshot().unauthorized - before, 4);
    assert.equal(server.connections.size, 0);
  });

  it('slow-down: after authFailuresBeforeSlowdown failures an address\'s HELLOs are held (≥ 250 ms, doubling); a success resets it', async () => {
    const { server, port } = await startServer({ token: 'right', limits: { authFailuresBeforeSlowdown: 2 } });
    for (let i = 0; i < 2; i++) assert.equal((await hello(port, { userId: `u${i}`, token: 'wrong' })).error?.code, 'unauthorized');
    assert.equal(server.stats.snapshot().auth_slowdown, 0);

    const limits: string[] = [];
    server.on('limit', (name) => limits.push(name));
    let t = performance.now();
    assert.equal((await hello(port, { userId: 'u2', token: 'wrong' })).error?.code, 'unauthorized');
    assert.ok(performance.now() - t >= 240, 'the third failure is answered after the first delay');
    t = performance.now();
    // Also held: the answer would otherwise tell a guesser at once that a guess was right.
    const ok = await hello(port, { userId: 'u3', token: 'right' });
    assert.equal(ok.accepted, true);
    assert.ok(performance.now() - t >= 490, 'the fourth HELLO waits the doubled delay');
    assert.equal(server.stats.snapshot().auth_slowdown, 2);
    assert.deepEqual(limits, ['auth_slowdown'], 'said once, however often hit');

    // The success reset the address: two more failures are answered at once again (counted, not slowed).
    for (let i = 0; i < 2; i++) assert.equal((await hello(port, { userId: `v${i}`, token: 'wrong' })).error?.code, 'unauthorized');
    assert.equal(server.stats.snapshot().auth_slowdown, 2);
    assert.equal(server.stats.snapshot().unauthorized, 5);
  });

  it('a held HELLO whose client gives up leaves nothing behind', async () => {
    const { server, port } = await startServer({ token: 'right', limits: { authFailuresBeforeSlowdown: 1 } });
    await hello(port, { userId: 'a', token: 'wrong' });
    const raw = await RawClient.connect(port);
    raws.push(raw);
    const held = next<[string]>(server, 'limit');
    raw.write(encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', role: 'peer', userId: 'b', token: 'right' }));
    assert.deepEqual(await held, ['auth_slowdown', { id: '', remote: `127.0.0.1:${raw.socket.localPort}`, userId: undefined, role: undefined }]);
    assert.equal(server.pendingCount, 1);
    raw.destroy();
    await until(() => server.pendingCount === 0, 2000, 'the held connection to go');
    assert.equal(server.connections.size, 0);
    assert.equal(server.findByUserId('b'), undefined);
  });

  describe('one open connection per userId', () => {
    it('without credentials the first keeps it: a second HELLO is ERROR user_in_use, counted, and the first streams on', async () => {
      const { server, port } = await startServer();
      const first = await RawClient.hello(port, 'dup');
      raws.push(first);
      const r = await hello(port, { userId: 'dup' });
      assert.deepEqual(r.error, { code: 'user_in_use', message: 'userId "dup" is in use by another connection' });
      assert.equal(server.stats.snapshot().user_in_use, 1);
      const sconn = server.findByUserId('dup')!;
      const got = next<[Record<string, unknown>]>(sconn, 'metadata');
      first.write(encodeJsonFrame(FrameType.METADATA, { still: 'here' }));
      assert.deepEqual((await got)[0], { still: 'here' });
      assert.equal(first.closed, false);
    });

    it('a StreamClient refused with user_in_use retries with its backoff and gets in once the old connection is gone', async () => {
      const { server, port } = await startServer();
      const old = await RawClient.hello(port, 'phone');
      raws.push(old);
      const client = new StreamClient({ port, hello: { userId: 'phone', role: 'peer' }, pingIntervalMs: 0, backoffMinMs: 20, backoffMaxMs: 100 });
      clients.push(client);
      const refused = next<[Error]>(client, 'connectError');
      const connected = next<[StreamConnection]>(client, 'connect');
      client.start();
      const [err] = await refused;
      assert.match(err.message, /^server sent ERROR "user_in_use"/);
      old.destroy();   // the old connection dies (at worst it times out at idleTimeoutMs)
      const [conn] = await connected;
      assert.equal(conn.isOpen, true);
      assert.equal(server.findByUserId('phone')?.id, conn.id);
    });

    it('with credentials an authenticated newcomer replaces the old connection, which gets ERROR replaced', async () => {
      const { server, port } = await startServer({ users: UsersList.parse(USERS) });
      const old = await RawClient.hello(port, 'alice', { token: 'alice-secret' });
      raws.push(old);
      const oldConn = server.findByUserId('alice')!;
      const disconnected = next<[StreamConnection, string]>(server, 'disconnect');
      const r = await hello(port, { userId: 'alice', token: 'alice-secret' });
      assert.equal(r.accepted, true);
      assert.deepEqual(await old.waitClosed(), { code: 'replaced', message: 'replaced by a newer authenticated connection of the same userId' });
      const [gone] = await disconnected;
      assert.equal(gone, oldConn);
      assert.notEqual(server.findByUserId('alice'), oldConn);
      assert.equal(server.connections.size, 1);
      // A StreamClient that is replaced does not come back (two clients with one user's credentials would take turns).
      const client = new StreamClient({ port, hello: { userId: 'alice', role: 'peer', token: 'alice-secret' }, pingIntervalMs: 0, backoffMinMs: 10, backoffMaxMs: 20 });
      clients.push(client);
      const connected = next<[StreamConnection]>(client, 'connect');
      client.start();
      await connected;
      assert.equal(r.raw.closed || (await r.raw.waitClosed())?.code === 'replaced', true);
      const replaced = next<[{ reason: string; code?: string }]>(client, 'disconnect');
      const taker = await hello(port, { userId: 'alice', token: 'alice-secret' });
      assert.equal(taker.accepted, true);
      assert.equal((await replaced)[0].code, 'replaced');
      client.on('connect', () => assert.fail('a replaced client reconnected'));
      // Its backoff would have brought it back within 20 ms; another client's full handshake takes longer than that.
      await hello(port, { userId: 'bob', token: 'bob-secret', role: 'monitor' });
      assert.equal(server.findByUserId('alice')?.remote, `127.0.0.1:${taker.raw.socket.localPort}`);
      // A wrong token cannot replace anyone.
      const intruder = await hello(port, { userId: 'alice', token: 'guess' });
      assert.equal(intruder.error?.code, 'unauthorized');
      assert.equal(taker.raw.closed, false);
    });
  });
});

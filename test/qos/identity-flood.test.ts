// The admin aggregator against a flood of identities: who gets a user record, the side table of users seen only in
// connection events, the bounds of every map, and the cap that never keeps out a user who sends audio.
import assert from 'node:assert/strict';
import { AdminAggregator, MAX_QOS_BATCH, QosValidationError, validateQosBatch } from '../../runtime/qos/aggregator';
import type { QOSMetrics, TrackState } from '../../runtime/qos/types';

const T0_US = 1_763_740_000_000_000;

function qos(seq: number): QOSMetrics {
  return { head: { trackId: 1, seq, captureTime: T0_US, sampleRate: 48000, channels: 2, codec: 2, frameSamples: 960 }, qosTimestamp: T0_US + 9000 };
}
function track(userId: string, lastSeq: number): TrackState {
  return {
    userId, trackId: 1, codec: 'opus', sampleRate: 48000, channels: 2, lastSeq, lastPacketAt: null, connected: true,
    received: lastSeq + 1, lost: 0, late: 0, duplicate: 0, outOfOrder: 0, concealedSamples: 0, depthSamples: 960, jitterMs: 0.5,
  };
}
function clock(start = 1_763_740_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}
/** What a socket node says of one connection that sends HELLO and goes (the reader's open, then its close). */
function churn(agg: AdminAggregator, i: number, at: number, close = true): void {
  const base = { userId: `flood-${i}`, connectionId: `conn-${i}`, direction: 'incoming' as const };
  agg.onConnection({ event: 'open', ...base, remote: `10.0.${i >> 8 & 255}.${i & 255}:4000`, role: 'peer', at });
  if (close) agg.onConnection({ event: 'close', ...base, at });
}
const stateBytes = (agg: AdminAggregator) => Buffer.byteLength(JSON.stringify({ mixeradminSharedState: agg.snapshot() }));

describe('AdminAggregator identity flood', () => {
  it('a user seen only in connection events is no part of the state; it joins with what was seen once it reports QOS', () => {
    const clk = clock(10_000);
    const agg = new AdminAggregator({ now: clk.now });
    agg.onConnection({ event: 'open', userId: 'monitor-1', connectionId: 'c1', direction: 'outgoing', remote: '127.0.0.1:40000', role: 'monitor', at: 9_000 });
    agg.onPong('monitor-1', { rttMs: 3, offsetMs: 20 });
    let s = agg.snapshot();
    assert.deepEqual(Object.keys(s.connections), []);
    assert.deepEqual(s.outgoingAudioTracks, []);
    assert.deepEqual(s.unconfirmed, { users: 1, connections: 1 });
    agg.onQos('monitor-1', qos(1), T0_US + 10_000);
    s = agg.snapshot();
    const c = s.connections['monitor-1'];
    assert.equal(c.remote, '127.0.0.1:40000');
    assert.equal(c.role, 'monitor');
    assert.equal(c.connectedAt, 9_000);
    assert.equal(c.rttMs, 3, 'the PONG seen before it joined');
    assert.equal(c.latencyMs, -11, 'corrected by the offset seen before it joined: 9 ms raw − 20 ms');
    assert.equal(c.connected, true);
    assert.deepEqual(s.outgoingAudioTracks, [{ userId: 'monitor-1', trackId: 1 }]);
    assert.deepEqual(s.unconfirmed, { users: 0, connections: 0 });
  });

  it('a sender joins with its mixer track; an authenticated connection joins at once', () => {
    const agg = new AdminAggregator({ now: clock().now });
    agg.onConnection({ event: 'open', userId: 'alice', connectionId: 'a', direction: 'incoming', remote: '127.0.0.1:5000', role: 'peer' });
    agg.onConnection({ event: 'open', userId: 'carol', connectionId: 'c', direction: 'incoming', role: 'peer', authenticated: true });
    assert.deepEqual(Object.keys(agg.snapshot().connections), ['carol']);
    agg.onTrackState([track('alice', 1)]);
    const s = agg.snapshot();
    assert.deepEqual(Object.keys(s.connections), ['alice', 'carol']);
    assert.equal(s.connections.alice.remote, '127.0.0.1:5000');
    assert.equal(s.connections.alice.connected, true);
    assert.equal(s.connections.carol.isIncomingAudioTrackConnected, false);
  });

  it('forgets a user seen only in connection events retainUnconfirmedMs after its last connection closed', () => {
    const clk = clock(0);
    const agg = new AdminAggregator({ now: clk.now, retainUnconfirmedMs: 10_000 });
    agg.onConnection({ event: 'open', userId: 'u', connectionId: 1, direction: 'incoming' });
    agg.onConnection({ event: 'open', userId: 'u', connectionId: 2, direction: 'outgoing' });
    clk.t = 50_000;
    assert.equal(agg.snapshot().unconfirmed!.users, 1, 'kept while a connection is open, however long');
    agg.onConnection({ event: 'close', userId: 'u', connectionId: 1, direction: 'incoming' });
    clk.t = 70_000;
    assert.equal(agg.snapshot().unconfirmed!.users, 1, 'one connection still open');
    agg.onConnection({ event: 'close', userId: 'u', connectionId: 2, direction: 'outgoing' });
    clk.t = 80_000;
    assert.equal(agg.snapshot().unconfirmed!.users, 1);
    clk.t = 80_001;
    assert.deepEqual(agg.snapshot().unconfirmed, { users: 0, connections: 0 });
    assert.deepEqual(agg.sizes(), { users: 0, unconfirmedUsers: 0, connections: 0 });
  });

  it('10,000 HELLO-only churns leave the state the size it was and every map small; a real user joining afterwards is in it', () => {
    const clk = clock(0);
    const agg = new AdminAggregator({ now: clk.now });
    agg.onTrackState([track('alice', 1)]);
    agg.onConnection({ event: 'open', userId: 'monitor-1', connectionId: 'm', direction: 'outgoing', role: 'monitor' });
    agg.onQos('monitor-1', qos(1), T0_US);
    const before = stateBytes(agg);
    let biggest = 0;
    for (let i = 0; i < 10_000; i++) {
      clk.t = i;   // 1,000 churns a second
      churn(agg, i, clk.t);
      if (i % 250 === 0) biggest = Math.max(biggest, stateBytes(agg));   // the aggregator publishes 4 times a second
      const z = agg.sizes();
      assert.ok(z.unconfirmedUsers <= 256 && z.connections <= 2 && z.users === 2, `bounded at churn ${i}: ${JSON.stringify(z)}`);
    }
    assert.ok(biggest - before < 100, `the state grew from ${before} to ${biggest} bytes`);
    clk.t = 10_000 + 10_001;
    const after = stateBytes(agg);
    assert.ok(Math.abs(after - before) < 16, `back to its size once the side table is forgotten: ${before} → ${after} bytes (times have more digits)`);
    assert.deepEqual(agg.sizes(), { users: 2, unconfirmedUsers: 0, connections: 1 });
    agg.onConnection({ event: 'open', userId: 'bob', connectionId: 'bob-1', direction: 'incoming', role: 'peer' });
    agg.onTrackState([track('alice', 2), track('bob', 1)]);
    assert.deepEqual(Object.keys(agg.snapshot().connections), ['alice', 'bob', 'monitor-1']);
  });

  it('2,000 churns of identities that each send one QOS report: at most maxUsers at once, forgotten retainUnconfirmedMs after they left', () => {
    const clk = clock(0);
    const agg = new AdminAggregator({ now: clk.now, maxUsers: 64 });
    agg.onTrackState([track('alice', 1)]);
    agg.onConnection({ event: 'open', userId: 'carol', connectionId: 'c', direction: 'outgoing', authenticated: true });
    agg.onConnection({ event: 'close', userId: 'carol', connectionId: 'c', direction: 'outgoing' });
    for (let i = 0; i < 2000; i++) {
      clk.t = i;
      const base = { userId: `q-${i}`, connectionId: `q-${i}`, direction: 'outgoing' as const };
      agg.onConnection({ event: 'open', ...base });
      agg.onQos(base.userId, qos(1), T0_US);
      agg.onConnection({ event: 'close', ...base });
      assert.ok(agg.sizes().users <= 64, `at churn ${i}: ${JSON.stringify(agg.sizes())}`);
    }
    clk.t = 2000 + 10_001;
    agg.onTrackState([track('alice', 2)]);
    assert.deepEqual(Object.keys(agg.snapshot().connections), ['alice', 'carol'], 'a sender and an authenticated user stay retainDisconnectedMs');
    assert.deepEqual(agg.sizes(), { users: 2, unconfirmedUsers: 0, connections: 0 });
  });

  it('10,000 HELLOs whose close never comes: the side table and the connections map stay at their bounds', () => {
    const agg = new AdminAggregator({ now: clock().now, maxUnconfirmedUsers: 64, maxConnections: 500 });
    for (let i = 0; i < 10_000; i++) churn(agg, i, 0, false);
    assert.deepEqual(agg.sizes(), { users: 0, unconfirmedUsers: 64, connections: 500 });
    assert.deepEqual(agg.snapshot().unconfirmed, { users: 64, connections: 500 });
    assert.ok(stateBytes(agg) < 400);
  });

  it('the cap: a full state makes room by dropping the stalest user without audio, never a sender; a sender is never kept out', () => {
    const clk = clock(0);
    const agg = new AdminAggregator({ now: clk.now, maxUsers: 3 });
    agg.onTrackState([track('a1', 1)]);
    clk.t = 10; agg.onQos('q-old', qos(1), T0_US);
    clk.t = 20; agg.onQos('q-new', qos(1), T0_US);
    clk.t = 30; agg.onTrackState([track('a1', 2), track('a2', 1)]);
    let ids = Object.keys(agg.snapshot().connections);
    assert.deepEqual(ids, ['a1', 'a2', 'q-new'], 'the stalest receiver made room');
    clk.t = 40; agg.onQos('q-3', qos(1), T0_US);
    assert.deepEqual(Object.keys(agg.snapshot().connections), ['a1', 'a2', 'q-3']);
    clk.t = 50; agg.onTrackState([track('a1', 3), track('a2', 2), track('a3', 1)]);
    assert.deepEqual(Object.keys(agg.snapshot().connections), ['a1', 'a2', 'a3']);
    clk.t = 60; agg.onTrackState([track('a1', 4), track('a2', 3), track('a3', 2), track('a4', 1)]);
    ids = Object.keys(agg.snapshot().connections);
    assert.deepEqual(ids, ['a1', 'a2', 'a3', 'a4'], 'over the cap rather than without a sender');
    agg.onQos('q-4', qos(1), T0_US);
    assert.equal(agg.snapshot().connections['q-4'], undefined, 'a receiver waits while every user sends audio');
    agg.onConnection({ event: 'open', userId: 'auth', connectionId: 'x', authenticated: true });
    assert.equal(agg.snapshot().connections.auth, undefined);
  });

  it('validateQosBatch refuses a batch larger than MAX_QOS_BATCH, naming the root', () => {
    const batch = Array.from({ length: MAX_QOS_BATCH + 1 }, (_, i) => qos(i));
    assert.throws(() => validateQosBatch(batch), (e: unknown) => e instanceof QosValidationError && e.field === '(root)' && /257 reports exceeds 256/.test(e.message));
    assert.equal(validateQosBatch(batch.slice(0, MAX_QOS_BATCH)).length, MAX_QOS_BATCH);
  });
});

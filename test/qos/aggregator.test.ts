// Tests of the admin aggregator: latency with clock offset, track connectivity threshold, QOS validation, connections.

import assert from 'node:assert/strict';
import { AdminAggregator, MAX_QOS_BATCH, QosValidationError, validateQos } from '../../runtime/qos/aggregator';
import type { QOSMetrics, TrackState } from '../../runtime/qos/types';

const T0_US = 1_763_740_000_000_000; // µs epoch of the first capture in these tests

function qos(seq: number, captureTime: number, qosTimestamp: number, extra: Partial<QOSMetrics> = {}): QOSMetrics {
  return {
    head: { trackId: 1, seq, captureTime, sampleRate: 48000, channels: 2, codec: 2, frameSamples: 960 },
    qosTimestamp, ...extra,
  };
}

function track(userId: string, lastSeq: number, more: Partial<TrackState> = {}): TrackState {
  return {
    userId, trackId: 1, codec: 'opus', sampleRate: 48000, channels: 2, gain: 1, pan: 0, muted: false,
    lastSeq, lastPacketAt: null, connected: true, received: lastSeq + 1, lost: 0, late: 0, duplicate: 0,
    outOfOrder: 0, concealedSamples: 0, misses: 0, depthFrames: 2, depthSamples: 1920, jitterMs: 0.5, ...more,
  };
}

/** A settable ms clock. */
function clock(start = 1_763_740_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

describe('AdminAggregator latency', () => {
  it('corrects qosTimestamp − captureTime by offsetMs = receiver clock − xcast clock', () => {
    const clk = clock();
    const agg = new AdminAggregator({ now: clk.now });
    // true one-way latency 12 ms; the receiver's clock runs 100 ms ahead of the xcast's
    agg.onPong('monitor-1', { rttMs: 2.5, offsetMs: 100 });
    agg.onQos('monitor-1', qos(7, T0_US, T0_US + 112_000), T0_US + 14_000);
    const c = agg.snapshot().connections['monitor-1'];
    assert.equal(c.latencyMs, 12);
    assert.equal(c.rttMs, 2.5);
    assert.equal(c.clockOffsetMs, 100);
    assert.equal(c.downstream!.loopMs, 14, 'capture → report back is measured on one clock');
  });

  it('handles a receiver clock behind the xcast (negative offset)', () => {
    const agg = new AdminAggregator({ now: clock().now });
    agg.onPong('bob', { rttMs: 1, offsetMs: -50 });
    agg.onQos('bob', qos(1, T0_US, T0_US - 40_000), T0_US + 11_000); // raw −40 ms, true 10 ms
    assert.equal(agg.snapshot().connections.bob.latencyMs, 10);
  });

  it('applies a clock offset measured after the QOS arrived, and reports raw latency before any PONG', () => {
    const agg = new AdminAggregator({ now: clock().now });
    agg.onQos('carol', qos(1, T0_US, T0_US + 30_000), T0_US + 31_000);
    let c = agg.snapshot().connections.carol;
    assert.equal(c.latencyMs, 30);
    assert.equal(c.clockOffsetMs, null);
    assert.equal(c.rttMs, null);
    agg.onPong('carol', { rttMs: 4, offsetMs: 20 });
    c = agg.snapshot().connections.carol;
    assert.equal(c.latencyMs, 10);
  });

  it('keeps latencyMs null for a user that never sent a QOS report', () => {
    const agg = new AdminAggregator({ now: clock().now });
    agg.onTrackState([track('alice', 5)]);
    const c = agg.snapshot().connections.alice;
    assert.equal(c.latencyMs, null);
    assert.equal(c.lastQOS, null);
    assert.equal(c.downstream, null);
  });
});

describe('AdminAggregator isIncomingAudioTrackConnected', () => {
  it('turns false when the seq has not moved for longer than connectedThresholdMs, true again when it moves', () => {
    const clk = clock(10_000);
    const agg = new AdminAggregator({ connectedThresholdMs: 500, now: clk.now });
    agg.onTrackState([track('alice', 10)]);
    const connected = () => agg.snapshot().connections.alice.isIncomingAudioTrackConnected;
    assert.equal(connected(), true);
    clk.t = 10_400;
    agg.onTrackState([track('alice', 10, { received: 999 })]); // new state, same seq: not movement
    assert.equal(connected(), true);
    clk.t = 10_500;
    assert.equal(connected(), true, 'exactly the threshold is not longer than it');
    clk.t = 10_501;
    assert.equal(connected(), false);
    assert.deepEqual(agg.snapshot().incomingAudioTracks, [{ userId: 'alice', trackId: 1, connected: false }]);
    clk.t = 11_000;
    agg.onTrackState([track('alice', 11)]);
    assert.equal(connected(), true);
    clk.t = 11_499;
    assert.equal(connected(), true);
  });

  it('uses the threshold given: 2000 ms keeps a track connected where 500 ms would not', () => {
    const clk = clock(0);
    const agg = new AdminAggregator({ connectedThresholdMs: 2000, now: clk.now });
    agg.onTrackState([track('alice', 1)]);
    clk.t = 1500;
    assert.equal(agg.snapshot().connections.alice.isIncomingAudioTrackConnected, true);
    clk.t = 2001;
    assert.equal(agg.snapshot().connections.alice.isIncomingAudioTrackConnected, false);
  });

  it('is false for a user with no incoming track, and when the mixer says the track is not connected', () => {
    const clk = clock(0);
    const agg = new AdminAggregator({ now: clk.now });
    agg.onQos('monitor-1', qos(1, T0_US, T0_US + 5000), T0_US + 6000);
    agg.onTrackState([track('alice', 3, { connected: false })]);
    const s = agg.snapshot();
    assert.equal(s.connections['monitor-1'].isIncomingAudioTrackConnected, false);
    assert.equal(s.connections.alice.isIncomingAudioTrackConnected, false);
  });

  it('drops a track missing from the next mixer state from incomingAudioTracks but keeps its counters', () => {
    const clk = clock(0);
    const agg = new AdminAggregator({ now: clk.now });
    agg.onTrackState([track('alice', 99, { lost: 3, late: 1 }), track('bob', 5)]);
    agg.onTrackState([track('bob', 6)]);
    const s = agg.snapshot();
    assert.deepEqual(s.incomingAudioTracks, [{ userId: 'bob', trackId: 1, connected: true }]);
    assert.equal(s.connections.alice.isIncomingAudioTrackConnected, false);
    assert.equal(s.connections.alice.packetsReceived, 100);
    assert.equal(s.connections.alice.packetsLost, 3);
    assert.equal(s.connections.alice.packetsLate, 1);
    assert.equal(s.connections.alice.bufferDepthSamples, 0, 'no buffer for a track that is gone');
  });
});

describe('AdminAggregator fields', () => {
  it('takes the receive-side figures from the mixer tracks, summed over a user\'s tracks', () => {
    const clk = clock(0);
    const agg = new AdminAggregator({ now: clk.now });
    agg.onTrackState([
      track('alice', 41, { trackId: 1, received: 42, lost: 2, late: 1, duplicate: 3, outOfOrder: 4, concealedSamples: 960, depthSamples: 960, jitterMs: 0.8 }),
      track('alice', 7, { trackId: 2, received: 8, lost: 1, late: 0, duplicate: 0, outOfOrder: 1, concealedSamples: 0, depthSamples: 480, jitterMs: 2.5 }),
    ]);
    const c = agg.snapshot().connections.alice;
    assert.equal(c.packetsReceived, 50);
    assert.equal(c.packetsLost, 3);
    assert.equal(c.packetsLate, 1);
    assert.equal(c.packetsDuplicate, 3);
    assert.equal(c.packetsOutOfOrder, 5);
    assert.equal(c.concealedSamples, 960);
    assert.equal(c.bufferDepthSamples, 1440);
    assert.equal(c.jitterMs, 2.5, 'the worst track');
    assert.equal(typeof c.lastSeq, 'number');
  });

  it('derives the upstream bitrate from bytesReceived deltas', () => {
    const clk = clock(0);
    const agg = new AdminAggregator({ now: clk.now });
    // 8000 B/s: 64 kbit/s, states every 100 ms for 3 s
    for (let i = 0; i <= 30; i++) {
      clk.t = i * 100;
      agg.onTrackState([track('alice', i, { bytesReceived: i * 800 })]);
    }
    assert.equal(agg.snapshot().connections.alice.bitrateKbps, 64);
  });

  it('computes downstream loss, reorder and jitter from the QOS seq stream of a receiver', () => {
    const agg = new AdminAggregator({ now: clock().now });
    const seqs = [0, 1, 3, 2, 5, 6, 6];
    const transit = [10_000, 10_000, 10_000, 12_000, 10_000, 10_000, 10_000];
    seqs.forEach((s, i) => agg.onQos('monitor-1', qos(s, T0_US + s * 20_000, T0_US + s * 20_000 + transit[i], { bufferDepthSamples: 960, misses: 2 }), T0_US + s * 20_000 + 11_000));
    const d = agg.snapshot().connections['monitor-1'].downstream!;
    assert.equal(d.reportsReceived, 7);
    assert.equal(d.packetsLost, 1, 'seq 4 never reported');
    assert.equal(d.packetsOutOfOrder, 1);
    assert.equal(d.packetsDuplicate, 1);
    assert.equal(d.bufferDepthSamples, 960);
    assert.equal(d.misses, 2);
    assert.ok(d.jitterMs > 0 && d.jitterMs < 2, `jitter ${d.jitterMs} ms from one 2 ms excursion`);
    assert.equal(d.latencyMs, 10);
  });

  it('keeps a copy of the last QOS, not the caller\'s object', () => {
    const agg = new AdminAggregator({ now: clock().now });
    const q = qos(5999, T0_US, T0_US + 12_400);
    agg.onQos('alice', q, T0_US + 13_000);
    q.head.seq = 1;
    const c = agg.snapshot().connections.alice;
    assert.equal(c.lastQOS!.head.seq, 5999);
    assert.equal(c.lastQOS!.qosTimestamp, T0_US + 12_400);
  });

  it('follows connection events: remote, role, connectedAt, outgoing tracks, disconnection', () => {
    const clk = clock(5_000);
    const agg = new AdminAggregator({ now: clk.now });
    agg.onConnection({ event: 'open', connectionId: 'c1', remote: '127.0.0.1:51234', at: 4_000, direction: 'incoming', authenticated: true });
    agg.onConnection({ event: 'hello', connectionId: 'c1', userId: 'alice', role: 'peer', remote: '127.0.0.1:51234', at: 4_010, direction: 'incoming', authenticated: true });
    agg.onConnection({ event: 'hello', connectionId: 'c2', userId: 'monitor-1', role: 'monitor', remote: '127.0.0.1:40000', at: 4_500, direction: 'outgoing', authenticated: true });
    let s = agg.snapshot();
    assert.equal(s.connections.alice.remote, '127.0.0.1:51234');
    assert.equal(s.connections.alice.role, 'peer');
    assert.equal(s.connections.alice.connectedAt, 4_000, 'the open, not the hello');
    assert.equal(s.connections.alice.connected, true);
    assert.deepEqual(s.outgoingAudioTracks, [{ userId: 'monitor-1', trackId: 1 }]);
    agg.onQos('monitor-1', { ...qos(1, T0_US, T0_US + 1000), head: { trackId: 3, seq: 1, captureTime: T0_US } }, T0_US + 2000);
    assert.deepEqual(agg.snapshot().outgoingAudioTracks, [{ userId: 'monitor-1', trackId: 3 }], 'the track the receiver reports on');
    clk.t = 6_000;
    agg.onConnection({ event: 'close', connectionId: 'c2', at: 5_900, direction: 'outgoing' });
    s = agg.snapshot();
    assert.deepEqual(s.outgoingAudioTracks, []);
    assert.equal(s.connections['monitor-1'].connected, false);
    assert.equal(s.connections['monitor-1'].disconnectedAt, 5_900);
  });

  it('matches a close without direction to the connection its open had, and keeps same-numbered connections of the other side apart', () => {
    const agg = new AdminAggregator({ now: clock(0).now });
    agg.onConnection({ event: 'hello', connectionId: 1, userId: 'alice', role: 'peer', at: 0, direction: 'incoming', authenticated: true });
    agg.onConnection({ event: 'hello', connectionId: 1, userId: 'monitor-1', role: 'monitor', at: 0, direction: 'outgoing', authenticated: true });
    agg.onConnection({ event: 'close', connectionId: 1, userId: 'alice', at: 5 });
    const s = agg.snapshot();
    assert.equal(s.connections.alice.connected, false);
    assert.equal(s.connections.alice.disconnectedAt, 5);
    assert.equal(s.connections['monitor-1'].connected, true);
    assert.deepEqual(s.outgoingAudioTracks, [{ userId: 'monitor-1', trackId: 1 }]);
  });

  it('forgets a disconnected user after retainDisconnectedMs', () => {
    const clk = clock(0);
    const agg = new AdminAggregator({ now: clk.now, retainDisconnectedMs: 60_000 });
    agg.onConnection({ event: 'hello', connectionId: 1, userId: 'bob', role: 'peer', at: 0, direction: 'incoming', authenticated: true });
    agg.onConnection({ event: 'close', connectionId: 1, at: 10, direction: 'incoming' });
    clk.t = 60_000;
    assert.ok(agg.snapshot().connections.bob);
    clk.t = 60_001;
    assert.equal(agg.snapshot().connections.bob, undefined);
  });

  it('counts refused frames by code, including codes that are Object.prototype names', () => {
    const agg = new AdminAggregator({ now: clock().now });
    agg.onTrackState([track('alice', 1)]);
    agg.onProtocolError('alice', 'bad_magic');
    agg.onProtocolError(undefined, 'bad_magic');
    agg.onProtocolError(undefined, '__proto__');
    const s = agg.snapshot();
    assert.equal(s.refused.frames, 3);
    assert.equal(s.refused.byCode.bad_magic, 2);
    assert.equal(Object.getOwnPropertyDescriptor(s.refused.byCode, '__proto__')?.value, 1);
    assert.equal(s.connections.alice.protocolErrors, 1);
  });

  it('keeps a user id named __proto__ as an ordinary connections entry', () => {
    const agg = new AdminAggregator({ now: clock().now });
    agg.onTrackState([track('__proto__', 1)]);
    const s = agg.snapshot();
    assert.deepEqual(Object.keys(s.connections), ['__proto__']);
    assert.equal(JSON.parse(JSON.stringify(s)).connections.__proto__.packetsReceived, 2);
  });
});

describe('validateQos', () => {
  const good = () => ({ head: { trackId: 1, seq: 42, captureTime: T0_US, sampleRate: 48000, channels: 2, codec: 2, frameSamples: 480 }, qosTimestamp: T0_US + 12_345, userId: 'alice', bufferDepthSamples: 960, misses: 0 });

  it('accepts the streamproto1 example and returns a copy', () => {
    const o = good();
    const q = validateQos(o);
    assert.deepEqual(q, o);
    assert.notEqual(q, o);
    assert.notEqual(q.head, o.head);
  });

  const cases: Array<[string, (o: any) => void, string]> = [
    ['a missing head', (o) => { delete o.head; }, 'head'],
    ['a missing head.seq', (o) => { delete o.head.seq; }, 'head.seq'],
    ['a string head.trackId', (o) => { o.head.trackId = '1'; }, 'head.trackId'],
    ['head.seq beyond u32', (o) => { o.head.seq = 2 ** 32; }, 'head.seq'],
    ['a fractional head.seq', (o) => { o.head.seq = 1.5; }, 'head.seq'],
    ['a non-finite captureTime', (o) => { o.head.captureTime = null; }, 'head.captureTime'],
    ['a missing qosTimestamp', (o) => { delete o.qosTimestamp; }, 'qosTimestamp'],
    ['a channels count of 9', (o) => { o.head.channels = 9; }, 'head.channels'],
    ['a negative bufferDepthSamples', (o) => { o.bufferDepthSamples = -1; }, 'bufferDepthSamples'],
    ['a nested extra field', (o) => { o.stats = { a: 1 }; }, 'stats'],
    ['an overlong string extra field', (o) => { o.note = 'x'.repeat(300); }, 'note'],
    ['too many fields', (o) => { for (let i = 0; i < 40; i++) o[`f${i}`] = i; }, '(root)'],
    ['a numeric userId', (o) => { o.userId = 7; }, 'userId'],
  ];
  for (const [what, mutate, field] of cases) {
    it(`rejects ${what}, naming ${field}`, () => {
      const o: any = good();
      mutate(o);
      assert.throws(() => validateQos(o), (err: unknown) => {
        assert.ok(err instanceof QosValidationError);
        assert.equal(err.code, 'bad_qos');
        assert.equal(err.field, field);
        assert.ok(err.message.includes(field));
        return true;
      });
    });
  }

  it('rejects non-objects', () => {
    for (const v of [null, 3, 'x', [good()]]) assert.throws(() => validateQos(v), QosValidationError);
  });

  it('keeps malformed reports out of the aggregate and counts them', () => {
    const agg = new AdminAggregator({ now: clock().now });
    const bad = { head: { trackId: 1, captureTime: T0_US }, qosTimestamp: T0_US };
    const r = agg.onQos('alice', [bad, good()], T0_US + 20_000);
    assert.equal(r.accepted, 1);
    assert.equal(r.rejected.length, 1);
    assert.equal(r.rejected[0].field, 'head.seq');
    const s = agg.snapshot();
    assert.equal(s.connections.alice.lastQOS!.head.seq, 42);
    assert.equal(s.connections.alice.downstream!.reportsReceived, 1);
    assert.equal(s.refused.qos, 1);
    assert.equal(s.refused.byCode.bad_qos, 1);
    assert.equal(s.refused.frames, 0, 'frames counts transport refusals only');
  });

  it('refuses a whole batch larger than MAX_QOS_BATCH', () => {
    const agg = new AdminAggregator({ now: clock().now });
    const batch = Array.from({ length: MAX_QOS_BATCH + 1 }, (_, i) => qos(i, T0_US, T0_US + 1000));
    const r = agg.onQos('alice', batch, T0_US);
    assert.equal(r.accepted, 0);
    assert.equal(r.rejected.length, 1);
    assert.equal(agg.snapshot().connections.alice, undefined);
  });
});

describe('AdminAggregator tracks of one user on several connections', () => {
  it('keeps two connections\' tracks with one userId and trackId apart: one incoming entry, counters summed', () => {
    const clk = clock();
    const agg = new AdminAggregator({ now: clk.now });
    const a = track('alice', 99, { connectionId: 'c-1', received: 100, lost: 2, jitterMs: 0.5, depthSamples: 960 });
    const b = track('alice', 9, { connectionId: 'c-2', received: 10, lost: 1, jitterMs: 3, depthSamples: 480 });
    agg.onTrackState([a, b]);
    // the next list again holds both: neither record overwrote the other (before, the totals flipped between them)
    agg.onTrackState([{ ...a, received: 101, lastSeq: 100 }, { ...b, received: 11, lastSeq: 10 }]);
    const s = agg.snapshot();
    assert.deepEqual(s.incomingAudioTracks, [{ userId: 'alice', trackId: 1, connected: true }]);
    const c = s.connections.alice;
    assert.equal(c.packetsReceived, 112);
    assert.equal(c.packetsLost, 3);
    assert.equal(c.jitterMs, 3);
    assert.equal(c.bufferDepthSamples, 1440);
  });

  it('a user reconnecting 40 times keeps exact totals and its current track (old records retire into the totals)', () => {
    const clk = clock();
    const agg = new AdminAggregator({ now: clk.now });
    let expected = 0;
    for (let i = 0; i < 40; i++) {
      clk.t += 1000;
      const received = 50 + i;
      expected += received;
      agg.onTrackState([track('bob', received - 1, { connectionId: `c-${i}`, received, lost: 1 })]);
    }
    const s = agg.snapshot();
    assert.equal(s.connections.bob.packetsReceived, expected);
    assert.equal(s.connections.bob.packetsLost, 40);
    assert.deepEqual(s.incomingAudioTracks, [{ userId: 'bob', trackId: 1, connected: true }]);
    assert.equal(s.connections.bob.lastSeq, 50 + 39 - 1);
  });
});

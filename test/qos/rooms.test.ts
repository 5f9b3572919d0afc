// The aggregator and rooms: a WebRTC peer's connection event (role 'webrtc', its room), its mixer track and an RTT
// without a clock offset (RTCP) make a getMetrics entry that names the role and the room and passes the schema.
import assert from 'node:assert/strict';
import { AdminAggregator } from '../../runtime/qos/aggregator';
import { validateGetMetrics } from '../../runtime/qos/schema';
import { SpeakerState, buildAggregatedStatesSnapshot } from '../../runtime/qos/snapshot';

function clock(start = 1_763_740_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

function answerOf(agg: AdminAggregator, now: number) {
  const shared = JSON.parse(JSON.stringify(agg.snapshot()));
  const speaker = new SpeakerState({ sampleRate: 48000, channels: 2, now: () => now });
  return JSON.parse(JSON.stringify(buildAggregatedStatesSnapshot({ speaker: speaker.figures(), sharedState: shared, now })));
}

describe('AdminAggregator rooms and WebRTC peers', () => {
  it("a WebRTC peer's open event, its mixer track and an RTT without offset: role 'webrtc', room 'r1', rttMs, counters; the schema holds", () => {
    const clk = clock();
    const agg = new AdminAggregator({ now: clk.now });
    agg.onConnection({ event: 'open', role: 'webrtc', room: 'r1', userId: 'wes', connectionId: 'webrtc-1', remote: '192.0.2.7:50000', at: clk.t - 5000 } as never);
    agg.onTrackState([{ userId: 'wes', trackId: 1, connectionId: 'webrtc-1', room: 'r1', codec: 'opus', lastSeq: 499, lastPacketAt: clk.t, received: 500, lost: 2, late: 1, duplicate: 0, outOfOrder: 0, concealedSamples: 960, depthSamples: 1440, jitterMs: 1.2 }]);
    agg.onPong('wes', { rttMs: 3.5 });
    const a = answerOf(agg, clk.t);
    const r = validateGetMetrics(a);
    assert.equal(r.valid, true, JSON.stringify(r.errors));
    const c = a.aggregatedStatesSnapshot.connections.wes;
    assert.equal(c.role, 'webrtc');
    assert.equal(c.room, 'r1');
    assert.equal(c.rttMs, 3.5);
    assert.equal(c.clockOffsetMs, null, 'an RTT from RTCP says nothing of the clock offset');
    assert.equal(c.remote, '192.0.2.7:50000');
    assert.equal(c.connectedAt, clk.t - 5000);
    assert.deepEqual([c.packetsReceived, c.packetsLost, c.packetsLate, c.concealedSamples, c.jitterMs, c.bufferDepthSamples], [500, 2, 1, 960, 1.2, 1440]);
    assert.deepEqual(a.aggregatedStatesSnapshot.incomingAudioTracks, [{ userId: 'wes', trackId: 1, connected: true }]);
    // A later RTT with an offset (a streamproto1 PONG) sets both; one without keeps the offset.
    agg.onPong('wes', { rttMs: 2, offsetMs: 40 });
    agg.onPong('wes', { rttMs: 4 });
    const c2 = answerOf(agg, clk.t).aggregatedStatesSnapshot.connections.wes;
    assert.deepEqual([c2.rttMs, c2.clockOffsetMs], [4, 40]);
    // Nonsense is ignored.
    for (const bad of [{ rttMs: -1 }, { rttMs: NaN }, { rttMs: 1, offsetMs: Infinity }, { rttMs: '3' }, null]) agg.onPong('wes', bad as never);
    assert.equal(answerOf(agg, clk.t).aggregatedStatesSnapshot.connections.wes.rttMs, 4);
    // Closed: the entry says so, and keeps its room.
    agg.onConnection({ event: 'close', userId: 'wes', connectionId: 'webrtc-1', at: clk.t + 10 });
    clk.t += 1000;
    const gone = answerOf(agg, clk.t).aggregatedStatesSnapshot.connections.wes;
    assert.deepEqual([gone.connected, gone.disconnectedAt, gone.room], [false, clk.t - 990, 'r1']);
  });

  it("the room of a user with no room in its connection events comes from its mixer track; none known: no room field; a bad one is ignored", () => {
    const clk = clock();
    const agg = new AdminAggregator({ now: clk.now });
    agg.onConnection({ event: 'open', role: 'peer', userId: 'sp1', connectionId: 'c1', remote: '127.0.0.1:1', direction: 'incoming' });
    agg.onTrackState([
      { userId: 'sp1', trackId: 1, connectionId: 'c1', room: 'stage', lastSeq: 1, received: 2, lost: 0, late: 0, duplicate: 0, outOfOrder: 0, concealedSamples: 0, depthSamples: 0, jitterMs: 0 },
      { userId: 'old', trackId: 1, lastSeq: 1, received: 2, lost: 0, late: 0, duplicate: 0, outOfOrder: 0, concealedSamples: 0, depthSamples: 0, jitterMs: 0 },
      { userId: 'odd', trackId: 1, room: 'not a room', lastSeq: 1, received: 2, lost: 0, late: 0, duplicate: 0, outOfOrder: 0, concealedSamples: 0, depthSamples: 0, jitterMs: 0 },
    ]);
    agg.onConnection({ event: 'open', role: 'peer', room: '../etc', userId: 'odd', connectionId: 'c3' } as never);
    const a = answerOf(agg, clk.t);
    assert.equal(validateGetMetrics(a).valid, true, JSON.stringify(validateGetMetrics(a).errors));
    const cs = a.aggregatedStatesSnapshot.connections;
    assert.equal(cs.sp1.room, 'stage');
    assert.equal('room' in cs.old, false);
    assert.equal('room' in cs.odd, false);
    // The schema refuses a room that is not a room name.
    const bad = JSON.parse(JSON.stringify(a));
    bad.aggregatedStatesSnapshot.connections.old.room = 'a b';
    assert.equal(validateGetMetrics(bad).valid, false);
  });
});

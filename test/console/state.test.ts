// The console's state (runtime/console/state.ts) and its control checks (control.ts): strips from the mixer's track
// states, params from MixParameters (only what changed), names and QoS lights from the aggregator's state, levels
// from a meter frame by layout; every bad control field refused by name.
import assert from 'node:assert/strict';
import { ConsoleState, qosLight, ParamsChange, Strip } from '../../runtime/console/state';
import { readControlBody, readPageMessage, ControlError, dbToGain, gainToDb } from '../../runtime/console/control';
import { encodeMeterFrame } from '../../runtime/console/meter-frame';
import { streamKey } from '../../runtime/audio/stream-key';
import { AdminAggregator } from '../../runtime/qos/aggregator';

const track = (userId: string, o: Record<string, unknown> = {}) => ({ userId, trackId: 1, connectionId: `c-${userId}`, room: 'main', connected: true, received: 10, lost: 0, ...o });
const key = (userId: string) => streamKey({ userId, trackId: 1, connectionId: `c-${userId}` });

function record(s: ConsoleState) {
  const ev = { strip: [] as Strip[], gone: [] as string[], params: [] as ParamsChange[] };
  s.on('strip', (x: Strip) => ev.strip.push(x));
  s.on('gone', (k: string) => ev.gone.push(k));
  s.on('params', (p: ParamsChange) => ev.params.push(p));
  return ev;
}

function refusedField(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof ControlError, `a ControlError, got ${(err as Error).message}`);
    return err.field;
  }
  assert.fail('not refused');
}

describe('console state', () => {
  it('a strip per track: new ones told once, changes told, a track no longer listed is gone', () => {
    const s = new ConsoleState();
    const ev = record(s);
    s.onTracks([track('alice'), track('bob', { room: 'blue' })]);
    assert.deepEqual(ev.strip.map((x) => [x.key, x.room, x.connected]), [[key('alice'), 'main', true], [key('bob'), 'blue', true]]);
    s.onTracks([track('alice'), track('bob', { room: 'blue' })]);
    assert.equal(ev.strip.length, 2, 'nothing changed: nothing told');
    s.onTracks([track('alice', { connected: false }), track('bob', { room: 'blue' })]);
    assert.equal(ev.strip.length, 3);
    assert.equal(ev.strip[2].connected, false);
    // Bob's removal is listed once more with removedReason, then he is absent.
    s.onTracks([track('alice'), track('bob', { room: 'blue', connected: false, removedReason: 'timeout' })]);
    assert.deepEqual(ev.gone, [key('bob')]);
    s.onTracks([]);
    assert.deepEqual(ev.gone, [key('bob'), key('alice')]);
    assert.deepEqual(s.strips(), []);
  });

  it('params: per user from MixParameters, masters per room; only what changed', () => {
    const s = new ConsoleState();
    const ev = record(s);
    s.onTracks([track('alice'), track('bob')]);
    const p = (gain: number, master = 1, rooms?: Record<string, number>) => ({
      fromFrameSeq: 0, master, rooms,
      tracks: [{ userId: 'alice', trackId: 1, connectionId: 'c-alice', room: 'main', gain, pan: -0.5, muted: false }, { userId: 'bob', trackId: 1, connectionId: 'c-bob', room: 'main', gain: 1, pan: 0, muted: true }],
    });
    s.onParams(p(1));
    assert.deepEqual(ev.params[0].users, { alice: { gainDb: 0, pan: -0.5, mute: false }, bob: { gainDb: 0, pan: 0, mute: true } });
    assert.deepEqual(ev.params[0].masters, {}, 'main at unity was already known');
    s.onParams(p(1));
    assert.equal(ev.params.length, 1, 'the same parameters again: nothing told');
    s.onParams(p(dbToGain(-6), 0, { blue: dbToGain(-3) }));
    assert.deepEqual(ev.params[1], { users: { alice: { gainDb: -6, pan: -0.5, mute: false } }, masters: { main: null, blue: -3 } });
    // A room with a track but no master of its own follows main's.
    s.onTracks([track('alice'), track('bob'), track('carol', { room: 'red' })]);
    s.onParams(p(dbToGain(-6), dbToGain(-1), { blue: dbToGain(-3) }));
    assert.deepEqual(ev.params[2].masters, { main: -1, red: -1 });
    const alice = s.strips().find((x) => x.userId === 'alice')!;
    assert.equal(alice.gainDb, -6);
    assert.deepEqual(s.masters().map((m) => [m.room, m.gainDb]), [['main', -1], ['red', -1], ['blue', -3]]);
  });

  it('name, profile and a QoS light per user from the aggregator; a strip is told when they change', () => {
    const s = new ConsoleState();
    const ev = record(s);
    s.onTracks([track('alice')]);
    assert.equal(ev.strip[0].qos, 'unknown');
    assert.equal(ev.strip[0].name, 'alice');
    const entry = (o: Record<string, unknown>) => ({ at: 1000, connections: { alice: { connected: true, isIncomingAudioTrackConnected: true, packetsReceived: 1000, packetsLost: 0, packetsLate: 0, name: 'Alice A.', profile: { instrument: 'cello' }, ...o } } });
    s.onShared(entry({}));
    assert.equal(ev.strip.at(-1)!.qos, 'good');
    assert.equal(ev.strip.at(-1)!.name, 'Alice A.');
    assert.deepEqual(ev.strip.at(-1)!.profile, { instrument: 'cello' });
    // 30 of 1030 lost since the last snapshot (over the window): fair; then 200 of 1230: poor.
    s.onShared({ ...entry({ packetsReceived: 2000, packetsLost: 30 }), at: 2000 });
    assert.equal(ev.strip.at(-1)!.qos, 'fair');
    s.onShared({ ...entry({ packetsReceived: 3000, packetsLost: 230 }), at: 3000 });
    assert.equal(ev.strip.at(-1)!.qos, 'poor');
    s.onShared({ ...entry({ connected: false, packetsReceived: 3000, packetsLost: 230 }), at: 3100 });
    assert.equal(ev.strip.at(-1)!.qos, 'poor');
    const told = ev.strip.length;
    s.onShared({ ...entry({ connected: false, packetsReceived: 3000, packetsLost: 230 }), at: 3200 });
    assert.equal(ev.strip.length, told, 'nothing changed: nothing told');
    s.onShared({ at: 4000, connections: {} });
    assert.equal(ev.strip.at(-1)!.qos, 'unknown', 'gone from the aggregator: unknown');
  });

  it('the light rule: loss or late over 5 % poor, over 1 % fair, judged on the window', () => {
    const e = { connected: true, isIncomingAudioTrackConnected: true };
    const c = (received: number, lost: number, late = 0) => ({ at: 0, received, lost, late });
    assert.equal(qosLight(undefined, undefined, c(1, 0)), 'unknown');
    assert.equal(qosLight(e, undefined, c(1000, 0)), 'good');
    assert.equal(qosLight(e, undefined, c(990, 10)), 'good');
    assert.equal(qosLight(e, undefined, c(980, 20)), 'fair');
    assert.equal(qosLight(e, undefined, c(940, 60)), 'poor');
    assert.equal(qosLight(e, undefined, c(1000, 0, 60)), 'poor');
    assert.equal(qosLight(e, c(900, 60), c(1900, 60)), 'good', 'the old loss is outside the window');
    assert.equal(qosLight({ ...e, isIncomingAudioTrackConnected: false }, undefined, c(1000, 0)), 'poor');
  });

  it('the real aggregator\'s state gives a light (and the userId as the name without one)', () => {
    let now = 1_000_000;
    const agg = new AdminAggregator({ now: () => now } as never);
    agg.onTrackState([{ userId: 'alice', trackId: 1, connectionId: 'c-alice', lastSeq: 99, lastPacketAt: now, connected: true, received: 100, lost: 0, late: 0, duplicate: 0, outOfOrder: 0, concealedSamples: 0, depthSamples: 960, jitterMs: 1 }] as never);
    const s = new ConsoleState();
    s.onTracks([track('alice')]);
    s.onShared(agg.snapshot());
    const st = s.strips()[0];
    assert.equal(st.qos, 'good');
    assert.equal(st.name, 'alice');
    now += 10;
  });

  it('levels from the last meter frame by the layout; −∞ is null', () => {
    const s = new ConsoleState();
    s.onTracks([track('alice'), track('bob')]);
    const layout = { layoutId: 7, tracks: [{ key: key('bob'), userId: 'bob', trackId: 1, connectionId: 'c-bob', room: 'main' }, { key: key('alice'), userId: 'alice', trackId: 1, connectionId: 'c-alice', room: 'main' }], rooms: ['main'] };
    assert.equal(s.onMeters(encodeMeterFrame({ layoutId: 7, frameSeq: 1, tracks: [{ peak: -6, level: -9 }, { peak: -Infinity, level: -Infinity }], rooms: [{ peak: -3, level: -12 }] }), layout), true);
    const by = Object.fromEntries(s.strips().map((x) => [x.userId, [x.peak, x.level]]));
    assert.deepEqual(by, { alice: [null, null], bob: [-6, -9] });
    assert.deepEqual(s.masters()[0], { room: 'main', gainDb: 0, level: -12, peak: -3 });
    assert.equal(s.onMeters(encodeMeterFrame({ layoutId: 7, frameSeq: 2, tracks: [{ peak: -1, level: -2 }, { peak: -1, level: -2 }], rooms: [{ peak: 0, level: 0 }] }), layout), false, 'same layout');
    assert.equal(s.strips()[0].level, -2);
  });
});

describe('console controls', () => {
  it('dB ⇄ linear: null and −∞ are 0; 0 is null', () => {
    assert.equal(dbToGain(null), 0);
    assert.equal(dbToGain(-Infinity), 0);
    assert.ok(Math.abs(dbToGain(-6) - 0.501187) < 1e-6);
    assert.equal(gainToDb(0), null);
    assert.equal(gainToDb(dbToGain(-6)), -6);
    assert.equal(gainToDb(1), 0);
  });

  it('POST /control bodies: user controls and masters, each field checked and named', () => {
    assert.deepEqual(readControlBody({ userId: 'alice', gainDb: 0, pan: -1, mute: true }), [
      { kind: 'gain', userId: 'alice', gain: 1 }, { kind: 'pan', userId: 'alice', pan: -1 }, { kind: 'mute', userId: 'alice', mute: true }]);
    assert.deepEqual(readControlBody({ userId: 'alice', gainDb: null }), [{ kind: 'gain', userId: 'alice', gain: 0 }]);
    assert.deepEqual(readControlBody({ masterGainDb: 0 }), [{ kind: 'master', room: 'main', gain: 1 }]);
    assert.deepEqual(readControlBody({ room: 'blue', masterGainDb: null }), [{ kind: 'master', room: 'blue', gain: 0 }]);
    assert.equal(refusedField(() => readControlBody({ userId: 'alice', gainDb: 12.5 })), 'gainDb');
    assert.equal(refusedField(() => readControlBody({ userId: 'alice', gainDb: '-6' })), 'gainDb');
    assert.equal(refusedField(() => readControlBody({ userId: 'alice', pan: 1.5 })), 'pan');
    assert.equal(refusedField(() => readControlBody({ userId: 'alice', pan: 'left' })), 'pan');
    assert.equal(refusedField(() => readControlBody({ userId: 'alice', mute: 'yes' })), 'mute');
    assert.equal(refusedField(() => readControlBody({ gainDb: -6 })), 'userId');
    assert.equal(refusedField(() => readControlBody({ userId: '', gainDb: -6 })), 'userId');
    assert.equal(refusedField(() => readControlBody({ userId: 'a\nb', gainDb: -6 })), 'userId');
    assert.equal(refusedField(() => readControlBody({ userId: 'alice' })), 'gainDb');
    assert.equal(refusedField(() => readControlBody({ userId: 'alice', gain: 1 })), 'gain');
    assert.equal(refusedField(() => readControlBody({ room: 'a room', masterGainDb: 0 })), 'room');
    assert.equal(refusedField(() => readControlBody({ masterGainDb: 20 })), 'masterGainDb');
    assert.equal(refusedField(() => readControlBody([1])), 'body');
  });

  it('page messages: control, master, monitor; a bad one refused naming the field', () => {
    assert.deepEqual(readPageMessage('{"t":"control","userId":"bob","mute":false}'), { t: 'control', controls: [{ kind: 'mute', userId: 'bob', mute: false }] });
    assert.deepEqual(readPageMessage('{"t":"master","room":"main","gainDb":0}'), { t: 'control', controls: [{ kind: 'master', room: 'main', gain: 1 }] });
    assert.deepEqual(readPageMessage('{"t":"monitor","on":true,"room":"main","solo":["k","k"]}'), { t: 'monitor', on: true, room: 'main', solo: ['k'] });
    assert.equal(refusedField(() => readPageMessage('nope')), 'message');
    assert.equal(refusedField(() => readPageMessage('{"t":"dance"}')), 't');
    assert.equal(refusedField(() => readPageMessage('{"t":"master","room":"main"}')), 'gainDb');
    assert.equal(refusedField(() => readPageMessage('{"t":"monitor","on":"yes","room":"main"}')), 'on');
    assert.equal(refusedField(() => readPageMessage('{"t":"monitor","on":true,"room":"main","solo":[1]}')), 'solo[0]');
    assert.equal(refusedField(() => readPageMessage('{"t":"monitor","on":true,"room":"no room"}')), 'room');
  });
});

describe('console names', () => {
  it('a strip is named from its connection\'s HELLO (name, profile); the userId without one', () => {
    const s = new ConsoleState();
    const ev = record(s);
    s.onTracks([track('alice'), track('bob')]);
    s.onConnection({ event: 'open', connectionId: 'c-alice', userId: 'alice', hello: { userId: 'alice', name: 'Alice A.', profile: { room: 'main', instrument: 'cello' } } });
    const a = ev.strip.at(-1)!;
    assert.equal(a.key, key('alice'));
    assert.equal(a.name, 'Alice A.');
    assert.deepEqual(a.profile, { room: 'main', instrument: 'cello' });
    assert.equal(s.strips().find((x) => x.userId === 'bob')!.name, 'bob');
    // Another user's HELLO on alice's connection id does not rename her strip.
    s.onConnection({ event: 'open', connectionId: 'c-alice', userId: 'mallory', hello: { name: 'Not Alice' } });
    assert.equal(s.strips().find((x) => x.userId === 'alice')!.name, 'alice');
    s.onConnection({ event: 'open', connectionId: 'c-alice', userId: 'alice', hello: { name: 'Alice A.' } });
    s.onConnection({ event: 'close', connectionId: 'c-alice' });
    assert.equal(ev.strip.at(-1)!.name, 'alice');
  });
});

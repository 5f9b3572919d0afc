// EventStreamServer by user and track (what the event-stream node hands it): channels made with the profile of the
// sender's HELLO, a reconnect that takes a new profile and continues the channel's seq, mix entries and parameters
// mapped to the same channels — read back from the event file the server wrote.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EventType, type AudioEvent, type AudioFrameMixedEvent, type MixParametersEvent } from '../../runtime/events/codec';
import { readAllEvents } from '../../runtime/events/reader';
import { EventStreamServer, type TrackUse } from '../../runtime/events/server';
import { UsedFrame } from '../../runtime/audio/used';

const ALICE = { name: 'Alice', city: 'Oslo', countryCode: 161, skillLevel: 2, instrument: 3 };
const ALICE2 = { name: 'Alice', city: 'Bergen', countryCode: 161, skillLevel: 3, instrument: 3 };
const NONE = { name: '', city: '', countryCode: 0, skillLevel: 0, instrument: 0 };
const opus = (trackId: number, seq: number) => ({ trackId, seq, codec: 'opus' as const, channels: 1, frameSamples: 480, sampleRate: 48000 });
const used = (userId: string, wireSeq: number | null): TrackUse =>
  ({ userId, trackId: 1, wireSeq, concealed: wireSeq === null, codec: 'opus', channels: 1, frameSamples: 480 });

describe('EventStreamServer by user and track', () => {
  let tmp: string;
  beforeEach(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-tracks-')); });
  afterEach(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

  /** Runs `feed` on a server writing to a file (no TCP client), closes it and reads back every event after the preamble. */
  async function record(feed: (srv: EventStreamServer) => void): Promise<{ srv: EventStreamServer; events: AudioEvent[] }> {
    const file = path.join(tmp, 's.xcev');
    const srv = new EventStreamServer({ port: 0, sampleRate: 48000, frameSamples: 480, file: { path: file } });
    await srv.listen();
    feed(srv);
    await srv.close();
    const { events } = await readAllEvents(file);
    return { srv, events: events.slice(2) };
  }

  it('a channel carries the profile of its sender\'s HELLO; a sender without one an empty profile', async () => {
    const { srv, events } = await record((s) => {
      s.senderConnected('alice', ALICE);
      s.trackPacketReceived('alice', opus(1, 5), Buffer.from([1]));
      s.trackPacketReceived('bob', opus(1, 9), Buffer.from([2]));
      s.trackFrameMixed(0, UsedFrame.from([used('alice', 5), used('bob', 9)]));
    });
    const alice = srv.trackChannel('alice', 1);
    const bob = srv.trackChannel('bob', 1);
    assert.notEqual(alice, bob);
    assert.equal(srv.channelIdFor('alice', 1), alice, 'the same ids channelIdFor gives');
    const mixed = events[2] as AudioFrameMixedEvent;
    assert.equal(mixed.type, EventType.AUDIO_FRAME_MIXED);
    assert.deepEqual(mixed.entries.map((e) => [e.channelId, e.seq, e.profile]), [[alice, 5n, ALICE], [bob, 9n, NONE]]);
  });

  it('a reconnect: the new profile from then on, and the channel\'s seq continues after its highest though the wire count starts again', async () => {
    const { srv, events } = await record((s) => {
      s.senderConnected('alice', ALICE);
      s.trackPacketReceived('alice', opus(1, 100), Buffer.from([1]));
      s.trackPacketReceived('alice', opus(1, 101), Buffer.from([2]));
      s.trackFrameMixed(0, UsedFrame.from([used('alice', 101)]));
      s.senderConnected('alice', ALICE2);
      s.trackPacketReceived('alice', opus(1, 0), Buffer.from([3]));
      s.trackPacketReceived('alice', opus(1, 1), Buffer.from([4]));
      s.trackFrameMixed(1, UsedFrame.from([used('alice', 0), used('alice', null)]));
    });
    const seqs = events.filter((e) => e.type === EventType.OPUS_PACKET_RECEIVED).map((e) => (e as { seq: bigint }).seq);
    assert.deepEqual(seqs, [100n, 101n, 102n, 103n]);
    assert.equal(srv.stats.seqRestarts, 0, 'a restart the server was told of, not one it guessed');
    const mixed = events.filter((e): e is AudioFrameMixedEvent => e.type === EventType.AUDIO_FRAME_MIXED);
    assert.deepEqual(mixed[0].entries.map((e) => [e.seq, e.profile.city]), [[101n, 'Oslo']]);
    assert.deepEqual(mixed[1].entries.map((e) => [e.seq, e.profile.city]), [[102n, 'Bergen'], [null, 'Bergen']]);
  });

  it('mix parameters and PCM packets by user and track land on the same channels', async () => {
    const pcm = Buffer.alloc(480 * 2);
    const { srv, events } = await record((s) => {
      s.trackMixParameters(3, 0.5, [{ userId: 'carol', trackId: 2, gain: 0.25, pan: -1, muted: true }]);
      s.trackPacketReceived('carol', { ...opus(2, 4), codec: 'pcm_s16le' }, pcm);
    });
    const carol = srv.trackChannel('carol', 2);
    const params = events[0] as MixParametersEvent;
    assert.equal(params.type, EventType.MIX_PARAMETERS);
    assert.deepEqual(params.channels, [{ channelId: carol, gain: 0.25, pan: -1, muted: true }]);
    const p = events[1];
    assert.ok(p.type === EventType.PCM_PACKET_RECEIVED);
    assert.deepEqual([p.channelId, p.seq, p.codec, p.frameSamples], [carol, 4n, 0, 480]);
  });

  it('a HELLO profile the event format cannot carry is refused, naming the field', () => {
    const srv = new EventStreamServer({ port: 0, sampleRate: 48000, frameSamples: 480 });
    srv.trackChannel('dave', 1);
    assert.throws(() => srv.senderConnected('dave', { ...ALICE, countryCode: 70000 }), /countryCode/);
  });

  it('two connections under one userId and trackId are two channels, each numbered on its own; a connection after a closed one takes its channel over', async () => {
    const usedOn = (connectionId: string, wireSeq: number | null): TrackUse => ({ ...used('alice', wireSeq), connectionId });
    let ids: number[] = [];
    const { events } = await record((s) => {
      s.senderConnected('alice', ALICE, 'c1');
      s.trackPacketReceived('alice', opus(1, 100), Buffer.from([1]), 'c1');
      // An impostor (or an overlapping reconnect) claims alice/1 on another connection, its count from 0.
      s.senderConnected('alice', ALICE2, 'c2');
      s.trackPacketReceived('alice', opus(1, 0), Buffer.from([2]), 'c2');
      s.trackPacketReceived('alice', opus(1, 101), Buffer.from([3]), 'c1');
      s.trackFrameMixed(0, UsedFrame.from([usedOn('c1', 101), usedOn('c2', 0)]));
      s.trackMixParameters(1, 1, [{ userId: 'alice', trackId: 1, connectionId: 'c1', gain: 0.5, pan: 0, muted: false }, { userId: 'alice', trackId: 1, connectionId: 'c2', gain: 0.5, pan: 0, muted: false }]);
      ids = [s.trackChannel('alice', 1, 'c1'), s.trackChannel('alice', 1, 'c2')];
      // c1 closes; its user's next connection takes its channel over, the numbering continuing after 101.
      s.senderDisconnected('alice', 'c1');
      s.senderConnected('alice', ALICE, 'c3');
      s.trackPacketReceived('alice', opus(1, 0), Buffer.from([4]), 'c3');
      ids.push(s.trackChannel('alice', 1, 'c3'));
    });
    assert.notEqual(ids[0], ids[1]);
    assert.equal(ids[2], ids[0], 'the reconnect keeps the channel id');
    const packets = events.filter((e) => e.type === EventType.OPUS_PACKET_RECEIVED).map((e) => { const p = e as { channelId: number; seq: bigint }; return [p.channelId, p.seq]; });
    assert.deepEqual(packets, [[ids[0], 100n], [ids[1], 0n], [ids[0], 101n], [ids[0], 102n]]);
    const mixed = events.find((e): e is AudioFrameMixedEvent => e.type === EventType.AUDIO_FRAME_MIXED)!;
    assert.deepEqual(mixed.entries.map((e) => [e.channelId, e.seq, e.profile.city]), [[ids[0], 101n, 'Oslo'], [ids[1], 0n, 'Bergen']]);
    const params = events.find((e): e is MixParametersEvent => e.type === EventType.MIX_PARAMETERS)!;
    assert.deepEqual(params.channels.map((c) => c.channelId), [ids[0], ids[1]]);
  });
  it('mix entries keep their channels frame after frame, whatever moves: tracks reordered, one replaced at its place by another connection, closed connections forgotten', async () => {
    const usedOn = (userId: string, connectionId: string, wireSeq: number): TrackUse => ({ ...used(userId, wireSeq), connectionId });
    const frames: TrackUse[][] = [];
    // What each entry's channel is, asked of the server right after its frame (a lookup, no frame's memory).
    const want: number[][] = [];
    const { events } = await record((s) => {
      const feed = (f: TrackUse[]) => {
        frames.push(f);
        s.trackFrameMixed(frames.length - 1, UsedFrame.from(f));
        want.push(f.map((u) => s.trackChannel(u.userId, u.trackId, u.connectionId)));
      };
      feed([usedOn('a', 'c1', 1), usedOn('b', 'c2', 1), usedOn('c', 'c3', 1)]);
      feed([usedOn('a', 'c1', 2), usedOn('b', 'c2', 2), usedOn('c', 'c3', 2)]);
      // b's place taken by another connection of b's (its own channel), then the order changes and a track goes.
      feed([usedOn('a', 'c1', 3), usedOn('b', 'c9', 0), usedOn('c', 'c3', 3)]);
      feed([usedOn('c', 'c3', 4), usedOn('a', 'c1', 4)]);
      // c2 closes, b's next connection c5 takes its channel over (at another place), and more than the kept closed
      // connections follow c2 out: c2, named again where it stood, is then a new binding, not the channel c5 holds.
      feed([usedOn('a', 'c1', 5), usedOn('b', 'c2', 3)]);
      s.senderDisconnected('b', 'c2');
      feed([usedOn('b', 'c5', 0)]);
      for (let i = 0; i < 300; i++) { s.trackChannel('x', 1, `gone${i}`); s.senderDisconnected('x', `gone${i}`); }
      feed([usedOn('a', 'c1', 6), usedOn('b', 'c2', 4)]);
      feed([usedOn('a', 'c1', 7), usedOn('b', 'c2', 5)]);
    });
    const mixed = events.filter((e): e is AudioFrameMixedEvent => e.type === EventType.AUDIO_FRAME_MIXED);
    assert.equal(mixed.length, frames.length);
    assert.deepEqual(mixed.map((m) => m.entries.map((e) => e.channelId)), want);
    assert.notEqual(want[2][1], want[1][1], 'another connection, another channel');
    assert.deepEqual(want[3], [want[0][2], want[0][0]]);
    assert.equal(want[5][0], want[0][1], 'c5 took the closed c2\'s channel over');
    assert.notEqual(want[6][1], want[0][1], 'the forgotten c2: a channel of its own');
  });
});

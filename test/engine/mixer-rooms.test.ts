// Mixer rooms: one mix per room in one tick, the 'main' room as before rooms, mix-minus per user within its room,
// asked for per user (push()'s mixMinus), a room gone with its last track; the mix engine's thread carries all of it.
import assert from 'node:assert/strict';
import { Mixer, MixerOptions, MixResult } from '../../runtime/audio/mixer';
import { createMixEngine } from '../../runtime/audio/mix-engine';
import { createPacketRing, PacketRingReader, PacketRingWriter } from '../../runtime/audio/packet-ring';
import { DEFAULT_ROOM, helloRoom, isRoomName, roomOf } from '../../runtime/rooms';
import { StreamKeys, streamKey, streamLabel } from '../../runtime/audio/stream-key';
import { header, s16Const, f32 } from './util';

const T0 = 1_700_000_000_000_000;
const FRAME_US = 10_000;

function mixer(over: MixerOptions = {}): Mixer {
  return new Mixer({ sampleRate: 48000, channels: 1, frameSamples: 480, ...over, playout: { targetDepthFrames: 1, adaptive: false, ...over.playout } });
}

/** Every sample of the frame is `v` / 32768 (sums of s16 constants are exact in f32). */
const every = (buf: Buffer | undefined, v: number) => buf !== undefined && f32(buf).every((x) => x === v / 32768);

describe('engine/rooms', () => {
  it('room names: roomOf and helloRoom (room, else profile.room; anything else is main)', () => {
    assert.equal(DEFAULT_ROOM, 'main');
    for (const ok of ['a', 'Room_1', 'x-y', 'z'.repeat(64)]) assert.ok(isRoomName(ok), ok);
    for (const bad of ['', 'a b', 'z'.repeat(65), 'é', 'a/b', 3, null, undefined, {}]) assert.equal(roomOf(bad), 'main', String(bad));
    assert.equal(helloRoom({ room: 'r1', profile: { room: 'r2' } }), 'r1');
    assert.equal(helloRoom({ profile: { room: 'r2' } }), 'r2');
    assert.equal(helloRoom({ room: 'bad room' }), 'main');
    assert.equal(helloRoom({ profile: null }), 'main');
    assert.equal(helloRoom(undefined), 'main');
  });

  it("streamKey: a room other than main is part of the key ('main' or none adds nothing); StreamKeys agrees", () => {
    const base = { userId: 'xcast', trackId: 1 };
    assert.equal(streamKey({ ...base, room: 'main' }), streamKey(base));
    assert.equal(streamKey({ ...base, room: '' }), streamKey(base));
    const keys = [streamKey(base), streamKey({ ...base, room: 'r1' }), streamKey({ ...base, room: 'r2' }), streamKey({ ...base, room: 'r1', targetUserId: 'x' }),
      streamKey({ ...base, targetUserId: 'x' }), streamKey({ ...base, room: 'r1', connectionId: 'c' }), streamKey({ userId: 'xcast~2:r1', trackId: 1 })];
    assert.equal(new Set(keys).size, keys.length, JSON.stringify(keys));
    const k = new StreamKeys();
    for (const [room, target, conn] of [['r1', 'x', 'c'], ['main', undefined, undefined], [undefined, undefined, undefined], ['r2', undefined, 'c']] as const) {
      assert.equal(k.key('xcast', 1, target, conn, room), streamKey({ userId: 'xcast', trackId: 1, targetUserId: target, connectionId: conn, room }));
    }
    assert.equal(streamLabel({ ...base, room: 'r1' }), '"xcast"/1 in room "r1"');
    assert.equal(streamLabel({ ...base, room: 'main' }), '"xcast"/1');
  });

  it("mixes each room on its own in one tick: main's mix and used as without rooms, the others in MixResult.rooms", () => {
    const m = mixer();
    const plain = mixer();
    const push = (k: number) => {
      m.push('a', header(k), s16Const(480, 1000), T0 + k * FRAME_US, 'c1');
      m.push('b', header(k), s16Const(480, 2000), T0 + k * FRAME_US, 'c2', 'r1');
      m.push('c', header(k), s16Const(480, 4000), T0 + k * FRAME_US, 'c3', 'r1');
      m.push('d', header(k), s16Const(480, 8000), T0 + k * FRAME_US, 'c4', 'r2');
      m.push('e', header(k), s16Const(480, 300), T0 + k * FRAME_US, 'c5', 'main');
      m.push('f', header(k), s16Const(480, 50), T0 + k * FRAME_US, 'c6', 'not a room');
      plain.push('a', header(k), s16Const(480, 1000), T0 + k * FRAME_US, 'c1');
      plain.push('e', header(k), s16Const(480, 300), T0 + k * FRAME_US, 'c5');
      plain.push('f', header(k), s16Const(480, 50), T0 + k * FRAME_US, 'c6');
    };
    for (let k = 0; k < 3; k++) {
      push(k);
      const r = m.tick(T0 + k * FRAME_US);
      const p = plain.tick(T0 + k * FRAME_US);
      assert.ok(r.mix.equals(p.mix), `frame ${k}: main is the mix of main's tracks alone`);
      assert.ok(every(r.mix, 1350));
      assert.deepEqual(r.used.entries().map((u) => [u.userId, u.room]), [['a', 'main'], ['e', 'main'], ['f', 'main']]);
      assert.deepEqual(r.used.entries().map((u) => ({ ...u, room: undefined })), p.used.entries().map((u) => ({ ...u, room: undefined })));
      assert.ok(r.rooms);
      assert.deepEqual(r.rooms.map((x) => x.room), ['r1', 'r2']);
      assert.ok(every(r.rooms[0].mix, 6000));
      assert.ok(every(r.rooms[1].mix, 8000));
      assert.deepEqual(r.rooms[0].used.entries().map((u) => [u.userId, u.room, u.seq]), [['b', 'r1', k], ['c', 'r1', k]]);
      assert.equal(r.perUser, undefined);
      assert.equal(r.rooms[0].perUser, undefined);
      assert.equal(p.rooms, undefined, 'no other room: no rooms');
    }
    const byUser = new Map(m.tracks().map((t) => [t.userId, t.room]));
    assert.deepEqual([...byUser], [['a', 'main'], ['b', 'r1'], ['c', 'r1'], ['d', 'r2'], ['e', 'main'], ['f', 'main']]);
    assert.deepEqual(m.parameters().tracks.map((t) => t.room), ['main', 'r1', 'r1', 'r2', 'main', 'main']);
    // A track stays in the room of its first packet.
    m.push('b', header(3), s16Const(480, 2000), T0 + 3 * FRAME_US, 'c2', 'r2');
    assert.equal(m.tracks().find((t) => t.userId === 'b')!.room, 'r1');
  });

  it("mix-minus per user within its room: for everyone with the option on, else for the users whose packets ask", () => {
    const on = mixer({ mixMinus: true });
    const asked = mixer();
    for (const m of [on, asked]) {
      m.push('a', header(0), s16Const(480, 1000), T0, 'c1');
      m.push('b', header(0), s16Const(480, 2000), T0, 'c2');
      m.push('x', header(0), s16Const(480, 100), T0, 'c3', 'r1', m === asked);
      m.push('y', header(0), s16Const(480, 200), T0, 'c4', 'r1');
      m.push('y', header(0, { trackId: 2 }), s16Const(480, 400), T0, 'c4', 'r1', m === asked);
    }
    const r = on.tick(T0);
    assert.deepEqual([...r.perUser!.keys()], ['a', 'b']);
    assert.ok(every(r.perUser!.get('a'), 2000));
    assert.ok(every(r.perUser!.get('b'), 1000));
    assert.deepEqual([...r.rooms![0].perUser!.keys()], ['x', 'y']);
    assert.ok(every(r.rooms![0].perUser!.get('x'), 600));
    assert.ok(every(r.rooms![0].perUser!.get('y'), 100), "all of y's tracks taken out, none of the other room");
    const s = asked.tick(T0);
    assert.equal(s.perUser, undefined, 'nobody in main asked');
    assert.deepEqual([...s.rooms![0].perUser!.keys()], ['x', 'y']);
    assert.ok(every(s.rooms![0].perUser!.get('x'), 600));
    assert.ok(every(s.rooms![0].perUser!.get('y'), 100), "y asked on one track: its own sum is all of its tracks");
    // A packet that no longer asks: no mix-minus for that user from the next tick.
    asked.push('x', header(1), s16Const(480, 100), T0 + FRAME_US, 'c3', 'r1', false);
    asked.push('y', header(1), s16Const(480, 200), T0 + FRAME_US, 'c4', 'r1');
    asked.push('y', header(1, { trackId: 2 }), s16Const(480, 400), T0 + FRAME_US, 'c4', 'r1', true);
    asked.push('a', header(1), s16Const(480, 1000), T0 + FRAME_US, 'c1', undefined, true);
    asked.push('b', header(1), s16Const(480, 2000), T0 + FRAME_US, 'c2');
    const s1 = asked.tick(T0 + FRAME_US);
    assert.deepEqual([...s1.perUser!.keys()], ['a']);
    assert.ok(every(s1.perUser!.get('a'), 2000));
    assert.deepEqual([...s1.rooms![0].perUser!.keys()], ['y']);
    assert.ok(every(s1.rooms![0].perUser!.get('y'), 100));
  });

  it('a room goes with its last track (removed or timed out); main is there every tick', () => {
    const m = mixer({ trackTimeoutMs: 50 });
    m.push('b', header(0), s16Const(480, 2000), T0, 'c2', 'r1');
    m.push('c', header(0), s16Const(480, 3000), T0, 'c3', 'r2');
    let r = m.tick(T0);
    assert.equal(r.used.length, 0);
    assert.ok(every(r.mix, 0));
    assert.deepEqual(r.rooms!.map((x) => x.room), ['r1', 'r2']);
    m.removeUser('b');
    r = m.tick(T0 + FRAME_US);
    assert.deepEqual(r.rooms!.map((x) => x.room), ['r2']);
    r = m.tick(T0 + 10 * FRAME_US);
    assert.equal(r.rooms, undefined, 'r2 timed out');
    // A room made again starts from silence (no sums left over).
    m.push('b', header(0), s16Const(480, 500), T0 + 10 * FRAME_US, 'c9', 'r1');
    r = m.tick(T0 + 10 * FRAME_US);
    assert.ok(every(r.rooms![0].mix, 500));
  });

  it("the packet ring carries each packet's room and mixMinus; the mix thread posts every room's mix and mix-minus", async () => {
    const shared = createPacketRing(65536);
    const w = new PacketRingWriter(shared);
    const rd = new PacketRingReader(shared);
    w.write('alice', header(1), Buffer.alloc(10, 1), 5, 'c1', 'r1', true);
    w.write('alice', header(2), Buffer.alloc(10, 2), 6, 'c1', 'r1');
    w.write('alice', header(3), Buffer.alloc(10, 3), 7, 'c1');
    w.writeRefused('bob', header(4, { sampleRate: 44100 }), 'no', 8, 'c2', 'r2');
    const got: unknown[] = [];
    rd.drain((u, h, d, at, c, room, minus) => got.push([u, h.seq, d[0], c, room, minus]), (u, h, reason, at, c, room) => got.push(['refused', u, c, room, reason]));
    assert.deepEqual(got, [['alice', 1, 1, 'c1', 'r1', true], ['alice', 2, 2, 'c1', 'r1', false], ['alice', 3, 3, 'c1', '', false], ['refused', 'bob', 'c2', 'r2', 'no']]);

    const engine = createMixEngine({ sampleRate: 48000, channels: 1, frameSamples: 480, playout: { targetDepthFrames: 1, adaptive: false }, nice: null, realtime: null });
    try {
      const results: MixResult[] = [];
      const done = new Promise<void>((resolve, reject) => {
        engine.on('error', reject);
        engine.on('mix', (r) => {
          if (r.rooms && r.used.length > 0 && r.rooms[0].perUser) results.push(r);
          if (results.length === 3) resolve();
        });
      });
      engine.start();
      let k = 0;
      const timer = setInterval(() => {
        const now = Date.now() * 1000;
        engine.push('a', header(k), s16Const(480, 1000), now, 'c1');
        engine.push('x', header(k), s16Const(480, 100), now, 'c2', 'r1', true);
        engine.push('y', header(k), s16Const(480, 200), now, 'c3', 'r1');
        engine.push('z', header(k), s16Const(480, 7), now, 'c4', 'bad room');
        k++;
      }, 10);
      try {
        await done;
      } finally {
        clearInterval(timer);
      }
      for (const r of results) {
        assert.deepEqual(r.used.entries().map((u) => [u.userId, u.room]), [['a', 'main'], ['z', 'main']]);
        assert.equal(r.perUser, undefined);
        assert.equal(r.rooms!.length, 1);
        const room = r.rooms![0];
        assert.equal(room.room, 'r1');
        assert.deepEqual(room.used.entries().map((u) => [u.userId, u.room]), [['x', 'r1'], ['y', 'r1']]);
        assert.deepEqual([...room.perUser!.keys()], ['x']);
        // Steady state: both tracks gave a packet to the frame.
        if (room.used.entries().every((u) => u.seq !== null)) {
          assert.ok(every(room.mix, 300));
          assert.ok(every(room.perUser!.get('x'), 200));
        }
      }
    } finally {
      engine.close();
    }
  });
});

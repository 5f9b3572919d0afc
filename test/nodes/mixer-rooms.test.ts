// Node test: the mixer's rooms in a real Node-RED. Output 1 is the room 'main' (msg.room and mixed.room 'main'),
// output 4 one message per other room per frame, output 3 the mix-minus of the users asking (msg.mixMinus) in
// their room; an Opus encoder after outputs 1 and 4 keeps one encoder per room (each room's packets number from 0).
import assert from 'node:assert/strict';
import { helper, streamWhile } from '../support/node-red';
import { s16Const, f32 } from '../engine/util';
import type { UsedFrame } from '../../runtime/audio/used';
const mixerNode = require('../../nodes/mixer/mixer');
const encodeNode = require('../../nodes/opus-encode/opus-encode');

const N = 480;

interface Msg { topic: string; payload: Buffer; userId: string; room?: string; targetUserId?: string; audio: { seq: number; codec: string }; mixed?: { frameSeq: number; room: string; used: UsedFrame } }

function packet(userId: string, connectionId: string, seq: number, value: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    topic: 'audio', userId, connectionId, payload: s16Const(N, value), ...extra,
    audio: { codec: 'pcm_s16le', sampleRate: 48000, channels: 1, frameSamples: N, seq, captureTime: 0, trackId: 1 },
  };
}

describe('mixer: rooms', function () {
  this.timeout(30000);
  beforeEach((done) => { helper.startServer(done); });
  afterEach((done) => { helper.unload().then(() => helper.stopServer(done)); });

  it("mixes each room apart: main on output 1, the others on output 4, mix-minus in its room on output 3; one encoder per room", async () => {
    await helper.load([mixerNode, encodeNode], [
      { id: 't1', type: 'tab', label: 't' },
      { id: 'm1', z: 't1', x: 300, y: 100, type: 'xcast-mixer', channels: '1', frameMs: '10', jitterFrames: '2', jitterAdaptive: false, stateIntervalMs: '50', wires: [['main', 'enc'], ['state'], ['minus'], ['rooms', 'enc']] },
      { id: 'enc', z: 't1', x: 500, y: 300, type: 'xcast-opus-encode', frameMs: '10', wires: [['opus']] },
      { id: 'main', z: 't1', x: 500, y: 100, type: 'helper' },
      { id: 'state', z: 't1', x: 500, y: 150, type: 'helper' },
      { id: 'minus', z: 't1', x: 500, y: 200, type: 'helper' },
      { id: 'rooms', z: 't1', x: 500, y: 250, type: 'helper' },
      { id: 'opus', z: 't1', x: 700, y: 300, type: 'helper' },
    ]);
    const mixer = helper.getNode('m1');
    const main: Msg[] = [], minus: Msg[] = [], rooms: Msg[] = [], opus: Msg[] = [];
    helper.getNode('main').on('input', (m: Msg) => main.push(m));
    helper.getNode('minus').on('input', (m: Msg) => minus.push(m));
    helper.getNode('rooms').on('input', (m: Msg) => rooms.push(m));
    helper.getNode('opus').on('input', (m: Msg) => opus.push(m));
    let tracks: Array<{ userId: string; room: string }> = [];
    helper.getNode('state').on('input', (m: { topic: string; payload: typeof tracks }) => { if (m.topic === 'tracks') tracks = m.payload; });
    // Steady: every track gave its packet to the frame.
    const steady = (m: Msg) => m.mixed!.used.entries().every((u) => u.seq !== null);
    const enough = new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (main.filter(steady).length >= 20 && rooms.filter(steady).length >= 40 && tracks.length === 4) { clearInterval(timer); resolve(); }
      }, 10);
    });
    // One packet per stream every 10 ms (the jitter buffer of 2 frames absorbs the timer's wobble).
    await streamWhile({ receive: (k: unknown) => {
      const seq = k as number;
      mixer.receive(packet('a', 'c1', seq, 1000));
      mixer.receive(packet('x', 'c2', seq, 100, { room: 'r1', mixMinus: true }));
      mixer.receive(packet('y', 'c3', seq, 200, { room: 'r1' }));
      mixer.receive(packet('z', 'c4', seq, 4000, { room: 'r2' }));
    } }, (seq) => seq as never, enough);

    for (const m of main) {
      assert.equal(m.room, 'main');
      assert.equal(m.mixed!.room, 'main');
      assert.deepEqual(m.mixed!.used.entries().map((u) => [u.userId, u.room]), [['a', 'main']]);
    }
    for (const m of main.filter(steady)) assert.ok(f32(m.payload).every((v) => v === 1000 / 32768));
    const r1 = rooms.filter((m) => m.room === 'r1');
    const r2 = rooms.filter((m) => m.room === 'r2');
    assert.equal(r1.length + r2.length, rooms.length, 'only r1 and r2 on output 4');
    for (const m of rooms) {
      assert.equal(m.userId, 'xcast');
      assert.equal(m.mixed!.room, m.room);
      assert.equal(m.audio.seq, m.mixed!.frameSeq, 'one frame number for every room');
    }
    for (const m of r1) assert.deepEqual(m.mixed!.used.entries().map((u) => [u.userId, u.room]), [['x', 'r1'], ['y', 'r1']]);
    for (const m of r1.filter(steady)) assert.ok(f32(m.payload).every((v) => v === 300 / 32768));
    for (const m of r2.filter(steady)) assert.ok(f32(m.payload).every((v) => v === 4000 / 32768));
    // Mix-minus only for x, who asked, in its room: r1 without x.
    assert.ok(minus.length > 0);
    for (const m of minus) assert.deepEqual([m.targetUserId, m.room, m.userId], ['x', 'r1', 'xcast']);
    assert.ok(minus.some((m) => f32(m.payload).every((v) => v === 200 / 32768)));
    assert.deepEqual(tracks.map((t) => [t.userId, t.room]).sort(), [['a', 'main'], ['x', 'r1'], ['y', 'r1'], ['z', 'r2']]);
    // The encoder: a stream per room, each numbered from 0 without a gap (one shared encoder would interleave them).
    for (const room of ['main', 'r1', 'r2']) {
      const seqs = opus.filter((m) => m.room === room).map((m) => m.audio.seq);
      assert.ok(seqs.length > 10, `${room}: ${seqs.length} packets`);
      assert.deepEqual(seqs, seqs.map((_, i) => i), `${room}'s packets`);
      assert.ok(opus.filter((m) => m.room === room).every((m) => m.audio.codec === 'opus'));
    }
  });
});

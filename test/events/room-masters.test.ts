// Room masters in the event stream (issue 12): 0x14 Room Masters records the masters of rooms other than main as the
// mixer's parameters carry them, and `reconstruct --room` applies them, sample for sample against the live mixes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Mixer } from '../../runtime/audio/mixer';
import { readWav } from '../../runtime/audio/wav';
import { EventParser, EventType, decodeEvent, encodeRoomMasters, EventFormatError, type AudioEvent } from '../../runtime/events/codec';
import { inspectEvents } from '../../runtime/events/inspect';
import { reconstruct } from '../../runtime/events/reconstruct';
import { EventStreamServer } from '../../runtime/events/server';
import { FRAME, RATE, encode, tone, samplesOf, assertSameSamples } from './session-fixture';

describe('event stream: room masters (0x14)', () => {
  let tmp: string;
  before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-room-masters-')); });
  after(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

  it('encodes and decodes a snapshot; split reads agree; malformed ones name the fault', () => {
    const b = encodeRoomMasters(9, { fromFrameSeq: 1234, rooms: [{ room: 'r1', master: 0.5 }, { room: 'stage-2', master: 1.25 }] });
    assert.equal(b[8], EventType.ROOM_MASTERS);
    assert.equal(b.length, 13 + 10 + (1 + 2 + 4) + (1 + 7 + 4));
    const e = decodeEvent(b)!;
    assert.equal(e.type, EventType.ROOM_MASTERS);
    if (e.type !== EventType.ROOM_MASTERS) return;
    assert.equal(e.fromFrameSeq, 1234n);
    assert.deepEqual(e.rooms, [{ room: 'r1', master: 0.5 }, { room: 'stage-2', master: 1.25 }]);
    const empty = encodeRoomMasters(0, { fromFrameSeq: 0, rooms: [] });
    assert.deepEqual((decodeEvent(empty) as { rooms: unknown[] }).rooms, []);
    const both = Buffer.concat([b, empty]);
    const p = new EventParser();
    const split: AudioEvent[] = [];
    for (let i = 0; i < both.length; i += 3) split.push(...p.push(both.subarray(i, i + 3)));
    assert.deepEqual(split, new EventParser().push(both));
    assert.throws(() => encodeRoomMasters(0, { fromFrameSeq: 0, rooms: [{ room: '', master: 1 }] }), /rooms\[0\]\.room must be 1…255 bytes/);
    assert.throws(() => encodeRoomMasters(0, { fromFrameSeq: 0, rooms: [{ room: 'a', master: NaN }] }), /rooms\[0\]\.master must be a finite number/);
    const noName = Buffer.from(b);
    noName[13 + 10] = 0;
    assert.throws(() => decodeEvent(noName), (err: unknown) => err instanceof EventFormatError && /entry 0: the room name is empty/.test((err as Error).message));
    const cut = Buffer.from(b.subarray(0, b.length - 2));
    cut.writeUInt32LE(cut.length - 13, 9);
    assert.throws(() => decodeEvent(cut), (err: unknown) => err instanceof EventFormatError && /Room Masters entry 1 of 2/.test((err as Error).message));
  });

  it('a two-room session with room masters: reconstruct --room applies them sample for sample; written on change only, and in the preamble', async function () {
    this.timeout(60000);
    const frames = 60;
    const file = path.join(tmp, 'masters.xcev');
    // carol in main, dan in r1 (stereo), erin in r2 (r2's master is never set: it follows main's).
    const peers = [
      { user: 'carol', conn: 'c1', room: undefined, channels: 1 as const, packets: encode(tone([330], frames), 1) },
      { user: 'dan', conn: 'c2', room: 'r1', channels: 2 as const, packets: encode(tone([550, 770], frames), 2) },
      { user: 'erin', conn: 'c3', room: 'r2', channels: 1 as const, packets: encode(tone([880], frames), 1) },
    ];
    const mixer = new Mixer({ sampleRate: RATE, channels: 2, frameSamples: FRAME });
    const srv = new EventStreamServer({ port: 0, sampleRate: RATE, frameSamples: FRAME, file: { path: file } });
    for (const p of peers) srv.senderConnected(p.user, { name: p.user } as never, p.conn);
    // As the event-stream node does with the mixer's mixParameters (rooms included).
    const params = () => { const x = mixer.parameters(); srv.trackMixParameters(x.fromFrameSeq, x.master, x.tracks, x.rooms); };
    const live = new Map<string, Buffer[]>([['main', []], ['r1', []], ['r2', []]]);
    let paramsTracks = 0;
    for (let k = 0; k < frames; k++) {
      const now = 1_000_000 + k * 10_000;
      if (k === 15) { mixer.setMaster(0.5, 'r1'); params(); }
      if (k === 30) { mixer.setMaster(0.25); params(); }
      if (k === 40) { mixer.setMaster(1.5, 'r1'); mixer.setGain('dan', 0.75); params(); }
      if (k === 45) params(); // unchanged rooms: no second 0x14
      for (const p of peers) {
        const header = { seq: k, codec: 'opus' as const, sampleRate: RATE, channels: p.channels, frameSamples: FRAME, trackId: 1 };
        mixer.push(p.user, header, p.packets[k], now, p.conn, p.room);
        srv.trackPacketReceived(p.user, header, p.packets[k], p.conn);
      }
      if (mixer.parameters().tracks.length !== paramsTracks) { paramsTracks = mixer.parameters().tracks.length; params(); }
      const r = mixer.tick(now);
      live.get('main')!.push(r.mix);
      srv.trackFrameMixed(r.seq, r.used, 'main');
      for (const m of r.rooms ?? []) {
        live.get(m.room)!.push(m.mix);
        srv.trackFrameMixed(r.seq, m.used, m.room);
      }
    }
    // A client that connects now gets the current room masters after its Mix Parameters.
    const pre = srv.preamble().map((b) => decodeEvent(b)!);
    assert.deepEqual(pre.map((e) => e.type), [EventType.STREAM_INFO, EventType.MIX_PARAMETERS, EventType.ROOM_MASTERS]);
    assert.deepEqual((pre[2] as { rooms: unknown }).rooms, [{ room: 'r1', master: 1.5 }]);
    await srv.close();

    const summary = await inspectEvents(file);
    assert.equal(summary.eventsByType.roomMasters, 2, 'one 0x14 per change of a room master');
    for (const room of ['main', 'r1', 'r2']) {
      const out = path.join(tmp, `${room}.wav`);
      await reconstruct(file, { out, room });
      assertSameSamples(samplesOf(out), Buffer.concat(live.get(room)!), `room ${room}`);
    }
    // The masters did change those mixes: r1 before and after its master differ by the master (a check on the test).
    const r1 = live.get('r1')!;
    assert.ok(!r1[20].equals(r1[10]));
    // An override of the master replaces the room's too.
    const loud = path.join(tmp, 'r1-0db.wav');
    await reconstruct(file, { out: loud, room: 'r1', masterDb: 0 });
    const a = readWav(loud).samples;
    const b = readWav(path.join(tmp, 'r1.wav')).samples;
    const i = 20 * FRAME * 2 + 100;
    assert.ok(Math.abs(a[i] * 0.5 - b[i]) < 1e-6, `frame 20: master 0 dB vs 0.5 (${a[i]} vs ${b[i]})`);
  });

  it('a session whose room masters were never set has no 0x14 (byte for byte as before)', async () => {
    const file = path.join(tmp, 'none.xcev');
    const srv = new EventStreamServer({ port: 0, sampleRate: RATE, frameSamples: FRAME, file: { path: file } });
    srv.trackMixParameters(0, 1, [], undefined);
    srv.trackMixParameters(1, 1, [], {});
    await srv.close();
    const summary = await inspectEvents(file);
    assert.equal(summary.eventsByType.roomMasters, 0);
    assert.equal(srv.preamble().length, 2);
  });
});

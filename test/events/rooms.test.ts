// Rooms in the event stream: each room's mix is recorded (main as 0x02, every other room as 0x13 Room Frame Mixed),
// and `reconstruct --room` rebuilds each room of a two-room session sample for sample against the live mixes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Mixer } from '../../runtime/audio/mixer';
import { UsageError } from '../../runtime/cli';
import { EventParser, EventType, decodeEvent, encodeAudioFrameMixed, encodeRoomFrameMixed, EventFormatError } from '../../runtime/events/codec';
import { reconstructCommand } from '../../runtime/events/cli';
import { inspectEvents } from '../../runtime/events/inspect';
import { ReconstructError, reconstruct } from '../../runtime/events/reconstruct';
import { EventStreamServer } from '../../runtime/events/server';
import { FRAME, RATE, encode, tone, samplesOf, assertSameSamples } from './session-fixture';

describe('event stream: rooms', () => {
  let tmp: string;
  before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-rooms-')); });
  after(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

  it('0x13 Room Frame Mixed: the room, then 0x02 byte for byte; split and coalesced reads agree; malformed ones name the fault', () => {
    const frame = { frameSeq: 7, frameSamples: FRAME, sampleRate: RATE, entries: [{ channelId: 3, seq: 9, compression: 0, channels: 2, frameSamples: FRAME, profile: { name: 'dan' } }] };
    const plain = encodeAudioFrameMixed(5, frame);
    const inRoom = encodeRoomFrameMixed(5, 'stage-2', frame);
    assert.equal(inRoom[8], EventType.ROOM_FRAME_MIXED);
    assert.equal(inRoom.length, plain.length + 1 + 7);
    assert.ok(inRoom.subarray(13 + 8).equals(plain.subarray(13)), "0x02's data after the room");
    const e = decodeEvent(inRoom)!;
    assert.equal(e.type, EventType.ROOM_FRAME_MIXED);
    if (e.type !== EventType.ROOM_FRAME_MIXED) return;
    assert.deepEqual([e.room, e.frameSeq, e.entries[0].channelId, e.entries[0].seq, e.entries[0].profile.name], ['stage-2', 7n, 3, 9n, 'dan']);
    const both = Buffer.concat([plain, inRoom]);
    const whole = new EventParser().push(both);
    const p = new EventParser();
    const split: unknown[] = [];
    for (let i = 0; i < both.length; i += 5) split.push(...p.push(both.subarray(i, i + 5)));
    assert.deepEqual(split, whole);
    assert.throws(() => encodeRoomFrameMixed(0, '', frame), /room must be 1…255 bytes/);
    const empty = Buffer.from(inRoom);
    empty[13] = 0;
    assert.throws(() => decodeEvent(empty), (err: unknown) => err instanceof EventFormatError && /room name is empty/.test((err as Error).message));
    const long = Buffer.from(inRoom);
    long[13] = 200;
    assert.throws(() => decodeEvent(long), EventFormatError);
  });

  it('a two-room session: reconstruct --room rebuilds each room sample for sample against its live mix; inspect lists the rooms', async function () {
    this.timeout(60000);
    const frames = 60;
    const file = path.join(tmp, 'rooms.xcev');
    // carol in main (mono), dan and erin in r1 (stereo, mono; erin asks for a mix-minus), fay in r2 joins at frame 20.
    const peers = [
      { user: 'carol', conn: 'c1', room: undefined, channels: 1 as const, packets: encode(tone([330], frames), 1), seq0: 7, from: 0 },
      { user: 'dan', conn: 'c2', room: 'r1', channels: 2 as const, packets: encode(tone([550, 770], frames), 2), seq0: 0xfffffff8, from: 0 },
      { user: 'erin', conn: 'webrtc-1', room: 'r1', channels: 1 as const, packets: encode(tone([880], frames), 1), seq0: 40, from: 0 },
      { user: 'fay', conn: 'webrtc-2', room: 'r2', channels: 1 as const, packets: encode(tone([440], frames), 1), seq0: 0, from: 20 },
    ];
    const lost = { user: 'dan', frame: 30 };
    const mixer = new Mixer({ sampleRate: RATE, channels: 2, frameSamples: FRAME });
    const srv = new EventStreamServer({ port: 0, sampleRate: RATE, frameSamples: FRAME, file: { path: file } });
    // As the event-stream node does with the connection events: the profile of each sender's HELLO (a WebRTC
    // peer's carries its room), the mixer's parameters, every packet and each room's frames.
    for (const p of peers) srv.senderConnected(p.user, { name: p.user, ...(p.room ? { room: p.room } : {}) } as never, p.conn);
    mixer.setGain('dan', 0.75);
    mixer.setPan('erin', -0.5);
    const params = () => { const x = mixer.parameters(); srv.trackMixParameters(x.fromFrameSeq, x.master, x.tracks); };
    const live = new Map<string, Buffer[]>([['main', []], ['r1', []], ['r2', []]]);
    const firstFrame = new Map<string, number>();
    let paramsTracks = 0;
    for (let k = 0; k < frames; k++) {
      const now = 1_000_000 + k * 10_000;
      if (k === 25) { mixer.setGain('fay', 1.5); mixer.setMaster(0.5); params(); }
      for (const p of peers) {
        if (k < p.from || (p.user === lost.user && k === lost.frame)) continue;
        const header = { seq: (p.seq0 + k - p.from) >>> 0, codec: 'opus' as const, sampleRate: RATE, channels: p.channels, frameSamples: FRAME, trackId: 1 };
        mixer.push(p.user, header, p.packets[k - p.from], now, p.conn, p.room, p.user === 'erin');
        srv.trackPacketReceived(p.user, header, p.packets[k - p.from], p.conn);
      }
      if (mixer.parameters().tracks.length !== paramsTracks) { paramsTracks = mixer.parameters().tracks.length; params(); }
      const r = mixer.tick(now);
      const record = (room: string, mix: Buffer, used: typeof r.used) => {
        if (!firstFrame.has(room)) firstFrame.set(room, k);
        live.get(room)!.push(mix);
        srv.trackFrameMixed(r.seq, used, room);
      };
      record('main', r.mix, r.used);
      for (const m of r.rooms ?? []) record(m.room, m.mix, m.used);
      assert.ok(r.rooms?.[0].perUser?.has('erin'), 'erin has her mix-minus in r1');
    }
    await srv.close();
    assert.equal(firstFrame.get('r2'), 20);

    for (const room of ['main', 'r1', 'r2']) {
      const out = path.join(tmp, `${room}.wav`);
      const r = await reconstruct(file, { out, room });
      assert.equal(r.room, room);
      const names = r.tracks.map((t) => t.name).sort();
      assert.deepEqual(names, { main: ['carol'], r1: ['dan', 'erin'], r2: ['fay'] }[room], `${room}'s tracks`);
      assertSameSamples(samplesOf(out), Buffer.concat(live.get(room)!), `room ${room}`);
    }
    // The default is main.
    const out = path.join(tmp, 'default.wav');
    await reconstruct(file, { out });
    assert.ok(samplesOf(out).equals(samplesOf(path.join(tmp, 'main.wav'))));
    // A room without frames in the file is refused, naming the rooms there are.
    await assert.rejects(reconstruct(file, { out, room: 'r9' }), (err: unknown) => err instanceof ReconstructError && err.code === 'bad_option' && /room "r9".*main \(60 frames\), r1 \(60 frames\), r2 \(40 frames\)/.test((err as Error).message));
    await assert.rejects(reconstruct(file, { out, room: 'no room' }), /room must be 1…64 letters/);
    const summary = await inspectEvents(file);
    assert.deepEqual(summary.rooms, { main: 60, r1: 60, r2: 40 });
    assert.equal(summary.eventsByType.roomFrameMixed, 100);
    assert.equal(summary.frames, 60, "the figures are main's");
    // The command: --room picks the room; a bad name is a usage error.
    const log = console.log;
    let printed = '';
    console.log = (...a: unknown[]) => { printed += a.join(' ') + '\n'; };
    try {
      assert.equal(await reconstructCommand([file, '--out', path.join(tmp, 'cli.wav'), '--room', 'r1']), 0);
    } finally {
      console.log = log;
    }
    assert.match(printed, /room r1, 0\.60 s/);
    assert.ok(samplesOf(path.join(tmp, 'cli.wav')).equals(samplesOf(path.join(tmp, 'r1.wav'))));
    await assert.rejects(reconstructCommand([file, '--out', out, '--room', 'a/b']), (err: unknown) => err instanceof UsageError && /--room: "a\/b"/.test((err as Error).message));
  });
});

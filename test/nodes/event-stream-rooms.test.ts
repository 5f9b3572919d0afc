// Node test: the mixer's rooms recorded by the event-stream node in a real Node-RED (output 1 → 0x02, output 4 → 0x13,
// a room's master → 0x14), and `reconstruct --room` rebuilding each room's mix sample for sample against what the mixer sent.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { helper, streamWhile } from '../support/node-red';
import { toneFrame } from '../engine/util';
import { readWav } from '../../runtime/audio/wav';
import { reconstruct } from '../../runtime/events/reconstruct';
import { until } from '../support/resources';
import { inspectEvents } from '../../runtime/events/inspect';
import type { UsedFrame } from '../../runtime/audio/used';
const mixerNode = require('../../nodes/mixer/mixer');
const eventStreamNode = require('../../nodes/event-stream/event-stream');

const N = 480;

interface Mixed { payload: Buffer; room: string; mixed: { frameSeq: number; room: string; used: UsedFrame } }

describe('event stream node: rooms', function () {
  this.timeout(30000);
  beforeEach((done) => { helper.startServer(done); });
  afterEach((done) => { helper.unload().then(() => helper.stopServer(done)); });

  it("records main as 0x02 and the mixer's other rooms (output 4) as 0x13; reconstruct --room gives each room's live mix", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-ev-rooms-'));
    const file = path.join(dir, 's.xcev');
    try {
      await helper.load([mixerNode, eventStreamNode], [
        { id: 't1', type: 'tab', label: 't' },
        { id: 'm1', z: 't1', x: 300, y: 100, type: 'xcast-mixer', channels: '1', frameMs: '10', jitterFrames: '3', stateIntervalMs: '100', wires: [['ev', 'main'], ['ev'], [], ['ev', 'rooms']] },
        { id: 'ev', z: 't1', x: 500, y: 100, type: 'xcast-event-stream', port: '0', file, wires: [] },
        { id: 'main', z: 't1', x: 500, y: 200, type: 'helper' },
        { id: 'rooms', z: 't1', x: 500, y: 300, type: 'helper' },
      ]);
      const mixer = helper.getNode('m1');
      const ev = helper.getNode('ev');
      const got = new Map<string, Mixed[]>([['main', []], ['r1', []]]);
      helper.getNode('main').on('input', (m: Mixed) => got.get('main')!.push(m));
      helper.getNode('rooms').on('input', (m: Mixed) => got.get(m.room)?.push(m));
      const peers = [
        { userId: 'ann', conn: 'c1', room: undefined, freq: 400, amp: 0.25 },
        { userId: 'xia', conn: 'webrtc-1', room: 'r1', freq: 600, amp: 0.2 },
        { userId: 'yan', conn: 'webrtc-2', room: 'r1', freq: 1000, amp: 0.1 },
      ];
      // The open events as the WebRTC node sends them (its room in the HELLO's profile), and a streamproto1 peer's.
      for (const p of peers) {
        ev.receive({ topic: 'connection', userId: p.userId, connectionId: p.conn, payload: { event: 'open', userId: p.userId, connectionId: p.conn, role: p.room ? 'webrtc' : 'peer', room: p.room ?? 'main', hello: { userId: p.userId, name: p.userId, profile: { name: p.userId, ...(p.room ? { room: p.room } : {}) } } } });
      }
      const enough = new Promise<void>((resolve) => {
        const timer = setInterval(() => { if (got.get('main')!.length >= 120 && got.get('r1')!.length >= 120) { clearInterval(timer); resolve(); } }, 10);
      });
      await streamWhile({ receive: (seq: unknown) => {
        for (const p of peers) {
          const msg = {
            topic: 'audio', userId: p.userId, connectionId: p.conn, room: p.room, payload: toneFrame(N, 1, (seq as number) * N, p.freq, p.amp),
            audio: { codec: 'pcm_f32le', sampleRate: 48000, channels: 1, frameSamples: N, seq, captureTime: 0, trackId: 1 },
          };
          ev.receive(msg);
          mixer.receive(msg);
        }
      } }, (seq) => seq as never, enough);
      await helper.unload();

      for (const room of ['main', 'r1']) {
        const out = path.join(dir, `${room}.wav`);
        const r = await reconstruct(file, { out, room, channels: 1 });
        assert.deepEqual(r.tracks.map((t) => t.name).sort(), room === 'main' ? ['ann'] : ['xia', 'yan']);
        const w = readWav(out);
        const live = got.get(room)!;
        const first = live[0].mixed.frameSeq;
        let compared = 0;
        for (const m of live) {
          // Frames where every track played a packet it had in time (a concealed one may be put back offline).
          if (!m.mixed.used.entries().every((u) => u.seq !== null && !u.concealed)) continue;
          const k = m.mixed.frameSeq - first;
          if ((k + 1) * N > w.samples.length) continue;
          const want = new Float32Array(Uint8Array.from(m.payload).buffer);
          const have = w.samples.subarray(k * N, (k + 1) * N);
          for (let i = 0; i < N; i++) assert.equal(have[i], want[i], `${room}: frame ${m.mixed.frameSeq} sample ${i}`);
          compared++;
        }
        assert.ok(compared >= live.length * 0.8, `${room}: ${compared} of ${live.length} frames compared`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("records a room's master (0x14) as the mixer sets it; reconstruct --room applies it from its frame on", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-ev-masters-'));
    const file = path.join(dir, 's.xcev');
    try {
      await helper.load([mixerNode, eventStreamNode], [
        { id: 't1', type: 'tab', label: 't' },
        { id: 'm1', z: 't1', x: 300, y: 100, type: 'xcast-mixer', channels: '1', frameMs: '10', jitterFrames: '3', stateIntervalMs: '100', settingsStore: 'none', wires: [['ev'], ['ev'], [], ['ev', 'rooms']] },
        { id: 'ev', z: 't1', x: 500, y: 100, type: 'xcast-event-stream', port: '0', file, wires: [] },
        { id: 'rooms', z: 't1', x: 500, y: 300, type: 'helper' },
      ]);
      const mixer = helper.getNode('m1');
      const ev = helper.getNode('ev');
      const live: Mixed[] = [];
      helper.getNode('rooms').on('input', (m: Mixed) => { if (m.room === 'r1') live.push(m); });
      ev.receive({ topic: 'connection', userId: 'xia', connectionId: 'w1', payload: { event: 'open', userId: 'xia', connectionId: 'w1', role: 'webrtc', room: 'r1', hello: { userId: 'xia', profile: { name: 'xia', room: 'r1' } } } });
      let changedAt = -1;
      await streamWhile({ receive: (seq: unknown) => {
        const msg = {
          topic: 'audio', userId: 'xia', connectionId: 'w1', room: 'r1', payload: toneFrame(N, 1, (seq as number) * N, 600, 0.4),
          audio: { codec: 'pcm_f32le', sampleRate: 48000, channels: 1, frameSamples: N, seq, captureTime: 0, trackId: 1 },
        };
        ev.receive(msg);
        mixer.receive(msg);
        if (live.length >= 60 && changedAt < 0) {
          changedAt = live.at(-1)!.mixed.frameSeq;
          mixer.receive({ topic: 'master', room: 'r1', payload: 0.5 });
        }
      } }, (seq) => seq as never, until(() => changedAt >= 0 && live.length >= 150, 20000));
      await helper.unload();

      const summary = await inspectEvents(file);
      assert.equal(summary.eventsByType.roomMasters, 1);
      const out = path.join(dir, 'r1.wav');
      await reconstruct(file, { out, room: 'r1', channels: 1 });
      const w = readWav(out);
      const first = live[0].mixed.frameSeq;
      let before = 0;
      let after = 0;
      for (const m of live) {
        if (!m.mixed.used.entries().every((u) => u.seq !== null && !u.concealed)) continue;
        const k = m.mixed.frameSeq - first;
        if ((k + 1) * N > w.samples.length) continue;
        const want = new Float32Array(Uint8Array.from(m.payload).buffer);
        const have = w.samples.subarray(k * N, (k + 1) * N);
        for (let i = 0; i < N; i++) assert.equal(have[i], want[i], `r1: frame ${m.mixed.frameSeq} sample ${i}`);
        if (m.mixed.frameSeq <= changedAt) before++;
        else if (Math.max(...want.map(Math.abs)) < 0.21) after++;
      }
      // Frames compared on both sides of the change, and after it the live mix was at half (0.4 → 0.2).
      assert.ok(before >= 40 && after >= 40, `${before} frames compared before the master changed, ${after} after at 0.5`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

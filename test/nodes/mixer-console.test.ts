// The mixer node's console part (issue 12), in real Node-RED: output 5 carries the meter frames (with their layout)
// while 'metering' is on and a monitor feed per listener ('monitor'); 'master' with msg.room sets that room's master,
// which mixParameters lists and the settings file keeps across a redeploy; bad console controls are refused naming
// the field.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { helper, loadFlow, streamWhile } from '../support/node-red';
import { until } from '../support/resources';
import { toneFrame } from '../engine/util';
import { decodeMeterFrame, MeterLayout } from '../../runtime/console/meter-frame';
import { checkSettingsState } from '../../runtime/audio/mixer-settings';
import type { UsedFrame } from '../../runtime/audio/used';
const mixerNode = require('../../nodes/mixer/mixer');

const N = 480;
const A = 10 ** (-12 / 20);

function packet(userId: string, connectionId: string, seq: number, room?: string): Record<string, unknown> {
  return {
    topic: 'audio', userId, connectionId, room, payload: toneFrame(N, 1, seq * N, 1000, A),
    audio: { codec: 'pcm_f32le', sampleRate: 48000, channels: 1, frameSamples: N, seq, captureTime: 0, trackId: 1 },
  };
}

type Msg = Record<string, unknown>;

describe('mixer node: the console output and controls', function () {
  this.timeout(30000);
  let userDir: string;
  beforeEach((done) => {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-console-'));
    helper.settings({ userDir });
    helper.startServer(done);
  });
  afterEach((done) => {
    helper.unload().then(() => helper.stopServer(() => {
      helper.settings({});
      fs.rmSync(userDir, { recursive: true, force: true });
      done();
    }));
  });

  const nodes = () => [
    { id: 'm1', type: 'xcast-mixer', channels: '2', frameMs: '10', jitterFrames: '2', jitterAdaptive: false, stateIntervalMs: '50', wires: [['mix'], ['state'], [], ['rooms'], ['console']] },
  ];

  it('output 5: meter frames with their layout every 4 frames while metering is on (a −12 dBFS tone reads −12), a monitor frame per mix frame per listener', async () => {
    const f = await loadFlow([mixerNode], nodes(), { helpers: ['mix', 'state', 'rooms', 'console'] });
    const m = f.node('m1');
    m.receive({ topic: 'metering', payload: true });
    m.receive({ topic: 'monitor', listener: 'op', payload: { room: 'main', solo: [] } });
    const consoleMsgs = f.received('console');
    const metersWithTrack = () => consoleMsgs.filter((x) => x.topic === 'meters' && (x.layout as MeterLayout).tracks.length === 1);
    // Paced by the mix (one packet per mixed frame, 3 ahead), so the buffer's depth holds whatever the machine's load.
    let seq = 0;
    const feed = () => { if (seq < 2000) m.receive(packet('alice', 'c1', seq++)); };
    helper.getNode('mix').on('input', feed);
    for (let i = 0; i < 3; i++) feed();
    assert.ok(await until(() => metersWithTrack().length >= 16, 15000), `${metersWithTrack().length} meter frames with alice's track`);
    const meters = metersWithTrack();
    const layout = meters[0].layout as MeterLayout;
    assert.deepEqual(layout.tracks.map((t) => [t.userId, t.connectionId, t.room]), [['alice', 'c1', 'main']]);
    assert.deepEqual(layout.rooms, ['main']);
    assert.ok(meters.every((x) => x.layout === layout), 'the same layout object on every message until it changes');
    assert.ok(meters.every((x) => x.sampleRate === 48000), 'each says the mixer\'s rate');
    // A meter frame measures the 4 mix frames up to its frameSeq: where all 4 played alice's packets in order (no
    // concealment, no trim: what mix.used says), the −12 dBFS tone reads −12 exactly.
    const played = new Map(f.received('mix').map((x) => [(x.audio as { seq: number }).seq, (x.mixed as { used: UsedFrame }).used.at(0)]));
    let exact = 0;
    for (const x of meters) {
      assert.ok(Buffer.isBuffer(x.payload));
      assert.equal((x.payload as Buffer)[0], 0x4d);
      const d = decodeMeterFrame(x.payload as Buffer);
      assert.equal(d.layoutId, layout.layoutId);
      const w = [3, 2, 1, 0].map((j) => played.get(d.frameSeq - j));
      if (!w.every((u, j) => u && u.seq !== null && !u.concealed && (j === 0 || u.seq === w[j - 1]!.seq! + 1))) continue;
      assert.ok(Math.abs(d.tracks[0].level - -12) <= 0.05, `frame ${d.frameSeq}: level ${d.tracks[0].level}`);
      assert.equal(d.tracks[0].peak, -12);
      assert.ok(Math.abs(d.rooms[0].level - -12) <= 0.05, 'main carries the tone at unity');
      exact++;
    }
    assert.ok(exact >= 5, `${exact} meter frames over 4 clean mix frames`);
    // The frame seqs of consecutive meter frames are 4 apart (25/s at 10 ms frames).
    const seqs = meters.map((x) => decodeMeterFrame(x.payload as Buffer).frameSeq);
    for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i] - seqs[i - 1], 4);
    // The monitor: one per mix frame, the main mix as output, with the mix's audio header.
    const mixes = new Map(f.received('mix').map((x) => [(x.audio as { seq: number }).seq, x.payload as Buffer]));
    const monitors = consoleMsgs.filter((x) => x.topic === 'monitor');
    assert.ok(monitors.length > 40);
    let compared = 0;
    for (const x of monitors) {
      assert.equal(x.listener, 'op');
      const a = x.audio as { codec: string; sampleRate: number; channels: number; frameSamples: number; seq: number; trackId: number };
      assert.deepEqual([a.codec, a.sampleRate, a.channels, a.frameSamples, a.trackId], ['pcm_f32le', 48000, 2, N, 1]);
      const mix = mixes.get(a.seq);
      if (mix) { assert.ok((x.payload as Buffer).equals(mix), `monitor frame ${a.seq} is the mix`); compared++; }
    }
    assert.ok(compared > 30, `${compared} monitor frames compared with the mix`);
    // Off: the meters stop, and with the monitor removed nothing more comes on output 5.
    m.receive({ topic: 'metering', payload: false });
    m.receive({ topic: 'monitor', listener: 'op', payload: null });
    const settled = consoleMsgs.length;
    const mixCount = f.received('mix').length;
    assert.ok(await until(() => f.received('mix').length > mixCount + 40, 10000));
    // A few may have been on their way when the controls went in; then none.
    const tail = consoleMsgs.slice(settled);
    assert.ok(tail.length <= 12, `${tail.length} console messages after metering and monitor went off`);
    assert.equal(f.caught.length, 0, JSON.stringify(f.caught));
  });

  it("'master' with msg.room sets that room's master (mixParameters.rooms), kept across a redeploy; bad console controls are refused naming the field", async () => {
    const f = await loadFlow([mixerNode], nodes(), { helpers: ['mix', 'state', 'rooms', 'console'] });
    let m = f.node('m1');
    m.receive({ topic: 'master', room: 'r1', payload: 0.5 });
    m.receive({ topic: 'master', payload: '-6dB' });
    const params = () => f.received('state').filter((x) => x.topic === 'mixParameters').map((x) => x.payload as { master: number; rooms?: Record<string, number> });
    assert.ok(await until(() => params().some((p) => p.rooms?.r1 === 0.5 && Math.abs(p.master - 10 ** (-6 / 20)) < 1e-9), 5000), JSON.stringify(params()));
    // The room's master on its mix (output 4): r1's tone at half.
    const r1 = () => f.received('rooms').filter((x) => x.room === 'r1' && (x.mixed as { used: UsedFrame }).used.at(0)?.seq !== null);
    await streamWhile(m, (seq) => packet('bob', 'c2', seq, 'r1'), until(() => r1().length > 20, 10000));
    const peak = (b: Buffer) => { let p = 0; for (let i = 0; i < b.length; i += 4) p = Math.max(p, Math.abs(b.readFloatLE(i))); return p; };
    const lastR1 = r1().at(-1)!.payload as Buffer;
    assert.ok(Math.abs(peak(lastR1) - A * 0.5) < 1e-3, `r1's peak ${peak(lastR1)}, expected ${A * 0.5}`);
    // Refused, named: a bad room, a monitor without a listener, a 17th listener.
    m.receive({ topic: 'master', room: 'no room', payload: 1 });
    assert.match((await f.nextCaught()).error.message, /room/);
    m.receive({ topic: 'monitor', payload: { room: 'main', solo: [] } });
    assert.match((await f.nextCaught()).error.message, /listener/);
    for (let i = 0; i < 16; i++) m.receive({ topic: 'monitor', listener: `l${i}`, payload: { room: 'main', solo: [] } });
    m.receive({ topic: 'monitor', listener: 'l16', payload: { room: 'main', solo: [] } });
    assert.match((await f.nextCaught()).error.message, /listener.*at most 16/);
    m.receive({ topic: 'monitor', listener: 'x', payload: { room: 'main', solo: 'bob' } });
    assert.match((await f.nextCaught()).error.message, /solo/);

    // A full redeploy: the room master is kept in the settings file and applied again.
    await helper.setFlows([{ id: 'tab', type: 'tab', label: 'test' }, ...nodes().map((n) => ({ z: 'tab', x: 100, y: 100, ...n, wires: [['mix'], ['state'], [], ['rooms'], ['console']] })),
      ...['mix', 'state', 'rooms', 'console'].map((id, i) => ({ id, z: 'tab', type: 'helper', x: 400, y: 100 + 40 * i, wires: [] }))], 'full');
    const kept = JSON.parse(fs.readFileSync(path.join(userDir, 'xcast', 'mixer-m1.json'), 'utf8'));
    assert.deepEqual(kept.rooms, { r1: 0.5 });
    m = helper.getNode('m1');
    const got: Msg[] = [];
    helper.getNode('state').on('input', (x: Msg) => { if (x.topic === 'mixParameters') got.push(x); });
    await streamWhile(m, (seq) => packet('bob', 'c2', seq, 'r1'), until(() => got.some((x) => (x.payload as { rooms?: Record<string, number> }).rooms?.r1 === 0.5), 10000));
    assert.ok(got.some((x) => (x.payload as { rooms?: Record<string, number> }).rooms?.r1 === 0.5), 'r1 at 0.5 after the redeploy');
  });

  it('the settings file: room masters read back only when valid (a room name other than main, a gain ≥ 0)', () => {
    const s = checkSettingsState({ users: {}, rooms: { r1: 0.5, main: 0.1, 'a b': 1, r2: -1, r3: 'x', r4: 2 } });
    assert.deepEqual({ ...s.rooms }, { r1: 0.5, r4: 2 });
    assert.equal(checkSettingsState({ users: {} }).rooms, undefined);
  });
});

// Node test: the mixer's "at most" (jitterMaxFrames) caps each track's depth — a burst that would stand above it is
// cut back to the target at the next frame, where an uncapped buffer keeps the excess until its trim window closes.
import assert from 'node:assert/strict';
import { helper } from '../support/node-helper';
import type { UsedFrame } from '../../runtime/audio/used';
const mixerNode = require('../../nodes/mixer/mixer');

// The test answers each mixed frame with the next packet. A loaded machine's event loop answers late now and then;
// a target of two 20 ms frames absorbs an answer up to 40 ms late (at one 10 ms frame, a late answer made the packet
// late and the frame concealed). Not longer frames: the 8 recorded after the burst must stay inside the uncapped
// buffer's 250 ms trim window.
const FRAME_MS = 20;
const TARGET = 2;
const FRAME = (48000 * FRAME_MS) / 1000;

interface Mixed { seq: number | null; concealed: boolean }

/** PCM s16 mono frame `seq`, every sample = seq + 1 (so the mix says which packet played). */
function packet(seq: number): { topic: string; userId: string; payload: Buffer; audio: Record<string, unknown> } {
  const b = Buffer.alloc(FRAME * 2);
  for (let i = 0; i < FRAME; i++) b.writeInt16LE(seq + 1, i * 2);
  return { topic: 'audio', userId: 'alice', payload: b, audio: { codec: 'pcm_s16le', sampleRate: 48000, channels: 1, frameSamples: FRAME, seq, captureTime: 0, trackId: 1 } };
}

/**
 * Feeds alice one packet per mixed frame (paced by the mixer's own output, so her depth stays at the target), then a
 * burst of `burst` packets at once, and records the seqs the next frames played.
 */
async function run(extra: Record<string, unknown>, burst: number): Promise<{ after: Mixed[]; trimmed: number }> {
  await helper.load([mixerNode], [
    { id: 't1', type: 'tab', label: 't' },
    { id: 'm1', z: 't1', x: 300, y: 100, type: 'xcast-mixer', channels: '1', frameMs: String(FRAME_MS), jitterFrames: String(TARGET), jitterAdaptive: false, stateIntervalMs: '10', ...extra, wires: [['mixOut'], ['state'], []] },
    { id: 'mixOut', z: 't1', x: 500, y: 100, type: 'helper' },
    { id: 'state', z: 't1', x: 500, y: 200, type: 'helper' },
  ]);
  const mixer = helper.getNode('m1');
  let trimmed = 0;
  let stateAfterBurst: (() => void) | null = null;
  helper.getNode('state').on('input', (msg: { topic: string; payload: Array<{ trimmedSamples: number }> }) => {
    if (msg.topic !== 'tracks') return;
    trimmed = msg.payload.reduce((s, t) => s + t.trimmedSamples, 0);
    stateAfterBurst?.();
  });
  let next = 0;
  let frames = 0;
  const after: Mixed[] = [];
  let burstAt = -1;
  await new Promise<void>((resolve) => {
    helper.getNode('mixOut').on('input', (msg: { mixed: { used: UsedFrame } }) => {
      frames++;
      const u = msg.mixed.used.at(0);
      if (burstAt >= 0) {
        after.push({ seq: u ? u.seq : null, concealed: u ? u.concealed : true });
        if (after.length >= 8) resolve();
        else mixer.receive(packet(next++));
        return;
      }
      if (frames === 20) {
        for (let i = 0; i < burst; i++) mixer.receive(packet(next++));
        burstAt = frames;
        return;
      }
      mixer.receive(packet(next++));
    });
    mixer.receive(packet(next++));
  });
  // The track state of a frame after the last one recorded: it counts every trim those frames made.
  await new Promise<void>((resolve) => { stateAfterBurst = resolve; });
  return { after: after.slice(0, 8), trimmed };
}

describe('mixer: jitter buffer cap (at most)', function () {
  this.timeout(30000);
  beforeEach((done) => { helper.startServer(done); });
  afterEach((done) => { helper.unload().then(() => helper.stopServer(done)); });

  it('at most 2 (the target): a burst of 5 is cut back at the next frame — the newest packets play, the skipped ones are trims', async () => {
    const r = await run({ jitterMaxFrames: String(TARGET) }, 5);
    const all = r.after.map((m) => m.seq);
    // Seqs 0…19 went one per frame, the burst was 20…24: cut back to the target, the buffer keeps the newest two, so
    // the frame after it plays 23, not 19 or 20 (a frame later when this machine delayed the handler that sent the
    // burst past a tick: that frame is concealed, null), and 24 after it.
    const seqs = all.filter((x): x is number => x !== null);
    assert.ok(all.slice(0, 2).includes(23) && seqs[0] === 23 && seqs[1] === 24, `the newest packets play at once: ${all.join(',')}`);
    const jumps = seqs.slice(1).map((s, i) => s - seqs[i]);
    assert.ok(jumps.every((j) => j >= 1), `in order: ${all.join(',')}`);
    assert.ok(r.trimmed >= 3 * FRAME, `trimmedSamples counts the skipped packets, 20–22 at least (${r.trimmed})`);
  });

  it('no cap (blank): the same burst stands as latency — every packet plays, one per frame', async () => {
    // Adaptive: its excess-trim window is 2 s, so no window closes in the test. (The fixed buffer's 250 ms window
    // would trim an excess that load left standing before the burst, a trim that proves nothing about the cap.)
    const r = await run({ jitterAdaptive: true }, 5);
    // Concealed frames (null: a tick this loaded machine's event loop missed) delay the packets, they skip none.
    const all = r.after.map((m) => m.seq);
    const seqs = all.filter((x): x is number => x !== null);
    const jumps = seqs.slice(1).map((s, i) => s - seqs[i]);
    assert.ok(seqs.length >= 6 && jumps.every((j) => j === 1), `one after another: ${all.join(',')}`);
    // What stood in the buffer (19, or 18 and 19) plays first, then the burst from its oldest packet.
    assert.ok(seqs[0] <= 20 && [20, 21, 22, 23, 24].every((q) => seqs.includes(q)), `the whole burst plays: ${all.join(',')}`);
  });

});

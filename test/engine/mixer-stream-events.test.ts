// Mixer 'stream-event' (runtime/streamlog/event.ts): new at a track's making, the playout buffer's sequence events as
// they are counted, dropped at a timeout, closed at a connection's close; track-removed says why. And through the mix
// thread: a tick's events in one 'stream-events', capped.
import assert from 'node:assert/strict';
import { Mixer } from '../../runtime/audio/mixer';
import { createMixEngine } from '../../runtime/audio/mix-engine';
import { nowMicros } from '../../runtime/clock';
import type { StreamEvent } from '../../runtime/streamlog/event';

const N = 480;
const pcm = (v: number): Buffer => Buffer.from(new Float32Array(N).fill(v).buffer);
const header = (seq: number) => ({ codec: 'pcm_f32le' as const, sampleRate: 48000, channels: 1, frameSamples: N, seq, captureTime: 0, trackId: 1 });

describe('mixer: stream events', () => {
  it('new, repeated, out-of-order, missing, late, dropped — their counts are the track state\'s', () => {
    const m = new Mixer({ sampleRate: 48000, channels: 1, frameSamples: N, trackTimeoutMs: 500, playout: { targetDepthFrames: 2, adaptive: false } });
    const events: StreamEvent[] = [];
    const removed: Array<{ reason?: string; lost: number; duplicate: number; outOfOrder: number; late: number }> = [];
    m.on('stream-event', (e: StreamEvent) => events.push(e));
    m.on('track-removed', (s) => removed.push({ reason: s.removedReason, lost: s.lost, duplicate: s.duplicate, outOfOrder: s.outOfOrder, late: s.late }));
    let now = 1_700_000_000_000_000;
    // 10 11 12 12(dup) 14 13(ooo) — 15 16 lost — 17 … 24; then 15 arrives late; then silence past the timeout.
    const order = [10, 11, 12, 12, 14, 13, 17, 18, 19, 20, 21, 22, 23, 24];
    for (const s of order) {
      m.push('alice', header(s), pcm(0.1), now, 'c1');
      if (s === 14) continue;   // 13 comes right after it, before the next frame
      m.tick(now);
      now += 10_000;
    }
    m.push('alice', header(15), pcm(0.1), now, 'c1');
    for (let i = 0; i < 80; i++) { m.tick(now); now += 10_000; }
    const kinds = events.map((e) => `${e.kind}${e.seq === null ? '' : ` ${e.seq}`}${e.count > 1 ? ` ×${e.count}` : ''}${e.filled ? ' filled' : ''}`);
    assert.deepEqual(kinds, ['new 10', 'repeated 12', 'out-of-order 13', 'missing 15 ×2', 'late 15 filled', 'dropped']);
    for (const e of events) {
      assert.equal(e.userId, 'alice'); assert.equal(e.trackId, 1); assert.equal(e.connectionId, 'c1'); assert.equal(e.room, 'main');
    }
    assert.equal(events[0].at, 1_700_000_000_000, 'new: at the first packet\'s arrival (ms)');
    assert.equal(events.at(-1)!.timeoutMs, 500);
    assert.equal(removed.length, 1);
    assert.deepEqual(removed[0], { reason: 'timeout', lost: 1, duplicate: 1, outOfOrder: 1, late: 1 });
  });

  it('closed at removeConnection, closed at removeUser; removedReason on track-removed', () => {
    const m = new Mixer({ sampleRate: 48000, channels: 1, frameSamples: N, playout: { targetDepthFrames: 1 } });
    const events: StreamEvent[] = [];
    const reasons: string[] = [];
    m.on('stream-event', (e: StreamEvent) => events.push(e));
    m.on('track-removed', (s) => reasons.push(`${s.userId} ${s.removedReason}`));
    const now = nowMicros();
    m.push('alice', header(0), pcm(0.1), now, 'ca');
    m.push('bob', header(0), pcm(0.1), now, 'cb');
    m.tick(now);
    m.removeConnection('ca');
    m.removeUser('bob');
    assert.deepEqual(events.map((e) => `${e.kind} ${e.userId}`), ['new alice', 'new bob', 'closed alice', 'closed bob']);
    assert.deepEqual(reasons, ['alice closed', 'bob removed']);
  });

  it('through the mix thread: each tick\'s events in one stream-events, at most 256, the rest counted as left out', async function () {
    this.timeout(15_000);
    const engine = createMixEngine({ sampleRate: 48000, channels: 1, frameSamples: N, trackTimeoutMs: 300, statsEveryTicks: 1, playout: { targetDepthFrames: 1 } });
    const batches: Array<{ n: number; leftOut: number }> = [];
    const events: StreamEvent[] = [];
    let removed: { duplicate: number } | undefined;
    const gone = new Promise<void>((resolve) => engine.on('track-removed', (s) => { removed = s; resolve(); }));
    engine.on('stream-events', (evs, leftOut) => { batches.push({ n: evs.length, leftOut }); events.push(...evs); });
    engine.start();
    try {
      const now = nowMicros();
      engine.push('alice', header(0), pcm(0.1), now, 'c1');
      // 1200 repeats of seq 0, written to the ring at once: the thread drains them in a tick or two.
      for (let i = 0; i < 1200; i++) engine.push('alice', header(0), pcm(0.1), now, 'c1');
      await gone;
      // The dropped event comes in the tick's batch after the removal.
      const end = Date.now() + 5000;
      while (!events.some((e) => e.kind === 'dropped') && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      const sent = batches.reduce((a, b) => a + b.n, 0);
      const leftOut = batches.reduce((a, b) => a + b.leftOut, 0);
      assert.ok(batches.every((b) => b.n <= 256), JSON.stringify(batches));
      assert.equal(events.filter((e) => e.kind === 'new').length, 1);
      assert.equal(events.filter((e) => e.kind === 'dropped').length, 1);
      assert.equal(removed!.duplicate, 1200);
      assert.equal(sent + leftOut, 1202, `sent ${sent} + left out ${leftOut} = new + 1200 repeated + dropped`);
      assert.ok(leftOut > 0, 'the cap was reached (1200 repeats in a few ticks)');
    } finally {
      engine.close();
    }
  });
});

// Engine tests: WorkerFrameClock — FrameClock's tick semantics with the wait done on a worker thread.
// The tick arithmetic is FrameClock's (test/engine/clock.test.ts, on virtual time); here the real worker thread is
// under test, so every wait is for an event (a tick index reached) and only what load cannot break is asserted.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { realTime, TimeSource } from '../../runtime/clock';
import { WorkerFrameClock } from '../../runtime/worker-clock';
import { threadIds, until, warmThreadPool } from '../support/resources';

interface Tick { index: number; late: number; at: number }

/** The real clock, counting the setTimeout calls a clock makes. */
function countingTime(): TimeSource & { timeouts: number } {
  const t = { ...realTime, timeouts: 0 };
  t.setTimeout = (fn, ms) => { t.timeouts++; return realTime.setTimeout(fn, ms); };
  return t;
}

/** Resolves at the first tick with a frame index ≥ `index`. */
function tickAt(c: WorkerFrameClock, index: number): Promise<void> {
  return new Promise((resolve) => {
    const on = (i: number) => { if (i >= index) { c.off('tick', on); resolve(); } };
    c.on('tick', on);
  });
}

describe('engine/worker-clock', function () {
  this.timeout(30000);
  const clocks: WorkerFrameClock[] = [];
  afterEach(() => { for (const c of clocks.splice(0)) c.stop(); });

  function clock(periodMs: number, time?: TimeSource): { c: WorkerFrameClock; ticks: Tick[] } {
    const c = new WorkerFrameClock({ periodMs, timeSource: time });
    clocks.push(c);
    const ticks: Tick[] = [];
    c.on('tick', (index: number, late: number) => ticks.push({ index, late, at: performance.now() }));
    return { c, ticks };
  }

  for (const [periodMs, n] of [[10, 100], [2.5, 200]]) {
    it(`ticks on its deadlines at ${periodMs} ms, woken by its thread: indices 0, 1, 2, …, none early, no timer of the event loop`, async () => {
      const time = countingTime();
      const { c, ticks } = clock(periodMs, time);
      const t0 = performance.now();
      const reached = tickAt(c, n);
      c.start();
      await reached;
      const elapsed = performance.now() - t0;
      c.stop();
      ticks.forEach((t, i) => assert.equal(t.index, i));
      // Deadlines are anchored at start: load can make a tick late, never early, and never adds one.
      for (const t of ticks) assert.ok(t.late >= 0 && t.at - t0 >= t.index * periodMs - 0.05, `tick ${t.index} ran ${t.late} ms after its deadline`);
      assert.ok(ticks.length <= Math.floor(elapsed / periodMs) + 1, `${ticks.length} ticks in ${elapsed.toFixed(0)} ms`);
      // The long waits are the thread's: the event loop set no timer, only the last stretch's setImmediate spin.
      assert.equal(time.timeouts, 0, 'setTimeout calls');
    });
  }

  it('catches up after a stalled event loop, counting the late ticks as missed, and never skips an index', async () => {
    const { c, ticks } = clock(10);
    let stalled = false;
    c.on('tick', () => {
      if (!stalled && ticks.length === 5) {
        stalled = true;
        const until = performance.now() + 55;
        while (performance.now() < until) { /* block the event loop for 5+ periods */ }
      }
    });
    const reached = tickAt(c, 15);
    c.start();
    await reached;
    c.stop();
    // The 55 ms stall passed 5 deadlines whatever else the machine did: they ran late, back to back, after it.
    const s = c.stats();
    assert.ok(s.missedDeadlines >= 4, `missed ${s.missedDeadlines}`);
    assert.ok(s.catchUpTicks >= 4, `catch-up ${s.catchUpTicks}`);
    ticks.forEach((t, i) => assert.equal(t.index, i));
  });

  it('stops ticking at stop(), ending its thread, and starts again at start(), counting on from the last frame index', async () => {
    await warmThreadPool();
    const before = threadIds();
    const { c, ticks } = clock(5);
    let reached = tickAt(c, 10);
    c.start();
    await reached;
    const started = [...threadIds()].filter((t) => !before.has(t));
    assert.equal(started.length, 1, 'the metronome thread runs');
    c.stop();
    const n = ticks.length;
    // The thread's end is the evidence that nothing can wake the clock again.
    assert.ok(await until(() => !threadIds().has(started[0])), 'the metronome thread ended');
    await new Promise((r) => setImmediate(r));
    assert.equal(ticks.length, n, 'no tick after stop()');
    assert.equal(c.stats().running, false);
    reached = tickAt(c, n + 5);
    c.start();
    await reached;
    c.stop();
    ticks.forEach((t, i) => assert.equal(t.index, i));
  });
});

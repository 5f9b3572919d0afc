// Engine tests: WorkerFrameClock — FrameClock's tick semantics with the wait done on a worker thread.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { WorkerFrameClock } from '../../runtime/worker-clock';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('engine/worker-clock', function () {
  this.timeout(20000);
  const clocks: WorkerFrameClock[] = [];
  afterEach(() => { for (const c of clocks.splice(0)) c.stop(); });

  function clock(periodMs: number): { c: WorkerFrameClock; ticks: Array<{ index: number; late: number; at: number }> } {
    const c = new WorkerFrameClock({ periodMs });
    clocks.push(c);
    const ticks: Array<{ index: number; late: number; at: number }> = [];
    c.on('tick', (index: number, late: number) => ticks.push({ index, late, at: performance.now() }));
    return { c, ticks };
  }

  it('ticks at its period on average over a second, frame indices 0, 1, 2, … (10 ms)', async () => {
    const { c, ticks } = clock(10);
    const t0 = performance.now();
    c.start();
    await sleep(1000);
    const elapsed = performance.now() - t0;
    c.stop();
    // Deadlines are anchored at start: ticks = floor(elapsed / period) + 1, give or take the one in flight.
    assert.ok(Math.abs(ticks.length - (Math.floor(elapsed / 10) + 1)) <= 2, `${ticks.length} ticks in ${elapsed.toFixed(0)} ms`);
    ticks.forEach((t, i) => assert.equal(t.index, i));
    for (const t of ticks) assert.ok(t.late >= 0, `a tick ran ${-t.late} ms before its deadline`);
  });

  it('keeps a 2.5 ms period without drift', async () => {
    const { c, ticks } = clock(2.5);
    const t0 = performance.now();
    c.start();
    await sleep(500);
    const elapsed = performance.now() - t0;
    c.stop();
    assert.ok(Math.abs(ticks.length - (Math.floor(elapsed / 2.5) + 1)) <= 3, `${ticks.length} ticks in ${elapsed.toFixed(0)} ms`);
  });

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
    c.start();
    await sleep(400);
    c.stop();
    const s = c.stats();
    assert.ok(s.missedDeadlines >= 4, `missed ${s.missedDeadlines}`);
    assert.ok(s.catchUpTicks >= 4, `catch-up ${s.catchUpTicks}`);
    ticks.forEach((t, i) => assert.equal(t.index, i));
  });

  it('stops ticking at stop() and starts again at start(), counting on from the last frame index', async () => {
    const { c, ticks } = clock(5);
    c.start();
    await sleep(100);
    c.stop();
    const n = ticks.length;
    assert.ok(n > 5);
    await sleep(60);
    assert.equal(ticks.length, n, 'no tick after stop()');
    assert.equal(c.stats().running, false);
    c.start();
    await sleep(60);
    c.stop();
    assert.ok(ticks.length > n);
    ticks.forEach((t, i) => assert.equal(t.index, i));
  });
});

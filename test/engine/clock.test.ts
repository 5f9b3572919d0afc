// FrameClock and nowMicros: average rate, no drift, catch-up after a stall, resync after a long one, clean stop.
// Tick semantics run on a virtual clock (test/support/virtual-time.ts), so a loaded machine cannot move them; what
// needs the real loop (I/O ordering, the process exiting, real time passing) waits on events, not on sleeps.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { FrameClock, ClockConfigError, nowMicros } from '../../runtime/clock';
import { VirtualTime } from '../support/virtual-time';

interface Tick { index: number; late: number; at: number }

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* the stall under test */ }
}

/** Resolves at the first tick with this frame index. */
function tickAt(c: FrameClock, index: number): Promise<void> {
  return new Promise((resolve) => {
    const on = (i: number) => { if (i >= index) { c.off('tick', on); resolve(); } };
    c.on('tick', on);
  });
}

describe('engine/clock', () => {
  const clocks: FrameClock[] = [];
  afterEach(() => { for (const c of clocks.splice(0)) c.stop(); });

  /** A clock on virtual time `vt` (or the real one), recording every tick with the time it ran. */
  function clock(periodMs: number, opts: { resyncAfterMs?: number; vt?: VirtualTime } = {}): { c: FrameClock; ticks: Tick[] } {
    const vt = opts.vt;
    const c = new FrameClock({ periodMs, resyncAfterMs: opts.resyncAfterMs, timeSource: vt });
    clocks.push(c);
    const ticks: Tick[] = [];
    c.on('tick', (index: number, late: number) => ticks.push({ index, late, at: vt ? vt.now() : performance.now() }));
    return { c, ticks };
  }

  it('nowMicros is µs since the epoch, sub-millisecond and monotonic', () => {
    const a = nowMicros();
    assert.ok(Math.abs(a - Date.now() * 1000) < 50_000);
    const samples = Array.from({ length: 50 }, () => nowMicros());
    for (let i = 1; i < samples.length; i++) assert.ok(samples[i] >= samples[i - 1]);
    assert.ok(samples.some((v) => v % 1000 !== 0), 'has sub-ms digits');
    // In µs, not ms: back-to-back calls differ by far less than 1000 (one pair may straddle a preemption, not all).
    const gaps = samples.slice(1).map((v, i) => v - samples[i]);
    assert.ok(Math.min(...gaps) < 1000, `smallest gap between two calls ${Math.min(...gaps)}`);
  });

  it('ticks at its deadlines, frame indices 0, 1, 2, …, never early, and timers that fire late do not make it drift', () => {
    for (const timerLateMs of [0, 1, 4]) {
      const vt = new VirtualTime({ timerLateMs });
      const { c, ticks } = clock(10, { vt });
      c.start();
      vt.runUntil(10_000 - 1);
      c.stop();
      // Deadlines are start + n × period: 1000 of them in 10 s, however late each timer wakes (a clock that slept a
      // period from each tick, as setInterval chains do, would have drifted by 1000 × timerLateMs).
      assert.equal(ticks.length, 1000, `timers ${timerLateMs} ms late`);
      ticks.forEach((t, i) => {
        assert.equal(t.index, i);
        assert.ok(t.at >= i * 10, `tick ${i} early at ${t.at} ms`);
        assert.ok(Math.abs(t.at - i * 10 - t.late) < 1e-9, 'lateness is the time past the deadline');
      });
      // A timer late by less than the 1.5 ms spin still lands on the deadline; a later one costs its excess, once.
      const lateBy = Math.max(0, timerLateMs - 1.5);
      const st = c.stats();
      assert.ok(st.latenessMaxMs <= lateBy + 0.1, `timers ${timerLateMs} ms late: ticks at most ${st.latenessMaxMs} ms late`);
      assert.deepEqual([st.ticks, st.missedDeadlines, st.catchUpTicks, st.resyncs, st.running], [1000, 0, 0, 0, false]);
      assert.ok(st.latenessP50Ms >= 0 && st.latenessP50Ms <= st.latenessP99Ms && st.latenessP99Ms <= st.latenessMaxMs);
    }
  });

  it('keeps a fractional period exact: 2.5 ms for 300 ms is 120 ticks on deadlines k × 2.5', () => {
    const vt = new VirtualTime({ timerLateMs: 1 });
    const { c, ticks } = clock(2.5, { vt });
    c.start();
    vt.runUntil(300 - 0.5);
    c.stop();
    assert.equal(ticks.length, 120);
    ticks.forEach((t, i) => assert.ok(Math.abs(t.at - t.late - i * 2.5) < 1e-9, `tick ${i}'s deadline ${t.at - t.late}`));
  });

  it('keeps real time on the real event loop: no tick before its deadline, indices in order, no more ticks than deadlines passed', async function () {
    this.timeout(30_000);
    // Real timers, so only what load cannot break is asserted: a late wake-up delays ticks, it never makes one early
    // nor skips one (the catch-up runs every missed deadline), and the count never exceeds the deadlines passed.
    const { c, ticks } = clock(10);
    const t0 = performance.now();
    const reached = tickAt(c, 100);
    c.start();
    await reached;
    const elapsed = performance.now() - t0;
    c.stop();
    ticks.forEach((t, i) => assert.equal(t.index, i));
    for (const t of ticks) assert.ok(t.at - t0 >= t.index * 10 - 0.05, `tick ${t.index} early at ${(t.at - t0).toFixed(2)} ms`);
    assert.ok(ticks.length <= Math.floor(elapsed / 10) + 1, `${ticks.length} ticks in ${elapsed.toFixed(0)} ms`);
  });

  it('catches up after the event loop is blocked for 50 ms: the missed ticks run back to back, none skipped', () => {
    const vt = new VirtualTime();
    const { c, ticks } = clock(10, { vt });
    c.on('tick', (index: number) => { if (index === 5) vt.block(50); });
    c.start();
    vt.runUntil(300 - 1);
    c.stop();
    ticks.forEach((t, i) => assert.equal(t.index, i, 'no frame index skipped'));
    // Tick 5 ran at 50 ms and held the loop to 100: ticks 6–10 (due 60–100) run in one burst right after (one
    // event-loop turn later, for I/O), 6–9 a period or more late; then on time again, 30 ticks in 300 ms.
    const burst = ticks.filter((t) => t.index >= 6 && t.index <= 10);
    assert.ok(burst.every((t) => t.at - burst[0].at < 0.01 && t.at >= 100), `burst at ${burst.map((t) => t.at).join(', ')}`);
    assert.ok(ticks.filter((t) => t.index > 10).every((t) => t.late < 0.1));
    const st = c.stats();
    assert.deepEqual({ catchUp: st.catchUpTicks, missed: st.missedDeadlines, resyncs: st.resyncs, ticks: ticks.length }, { catchUp: 4, missed: 4, resyncs: 0, ticks: 30 });
  });

  it('after a stall, lets I/O that arrived meanwhile in before the catch-up ticks', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const events: string[] = [];
    const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise<void>((r) => client.once('connect', () => r()));
    const peer = await accepted;
    peer.on('data', () => events.push('data'));
    try {
      const { c } = clock(10);
      // The stall starts in a tick that ran on time: one inside a catch-up burst (this machine being busy) would
      // start a second stall before the first was over, and the clock gives I/O one turn per stall, not per tick.
      let stalledAt = -1;
      const caughtUp = new Promise<void>((resolve) => {
        c.on('tick', (index: number, late: number) => {
          events.push(`tick ${index}`);
          if (stalledAt < 0 && index >= 5 && late < 10) { stalledAt = index; client.write('x'); busyWait(50); }
          if (stalledAt >= 0 && index >= stalledAt + 2) resolve();
        });
      });
      c.start();
      await caughtUp;
      c.stop();
      const at = events.indexOf('data');
      assert.deepEqual(events.slice(at - 1, at + 2), [`tick ${stalledAt}`, 'data', `tick ${stalledAt + 1}`]);
    } finally {
      client.destroy();
      peer.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('resynchronises instead of bursting when it falls behind by more than resyncAfterMs', () => {
    const vt = new VirtualTime();
    const { c, ticks } = clock(10, { resyncAfterMs: 100, vt });
    c.on('tick', (index: number) => { if (index === 3) vt.block(300); });
    c.start();
    vt.runUntil(450);
    c.stop();
    const st = c.stats();
    assert.equal(st.resyncs, 1);
    // 300 ms behind (30 deadlines): one tick at once, re-anchored there, then one per period — no burst.
    const after = ticks.filter((t) => t.index > 3);
    assert.ok(after[0].at >= 330 && after[0].late === 0, `first tick after the stall at ${after[0].at}`);
    after.slice(1).forEach((t, i) => assert.ok(Math.abs(t.at - after[0].at - (i + 1) * 10) < 0.1, `tick ${t.index} at ${t.at}`));
    // The re-anchored tick ran in the same wake-up as tick 3 (its listener held the loop): the only catch-up tick.
    assert.equal(st.catchUpTicks, 1);
    ticks.forEach((t, i) => assert.equal(t.index, i));
  });

  it('stops ticking at stop(), leaving no timer behind, and a stopped clock does not keep the process alive', async () => {
    const vt = new VirtualTime();
    const { c, ticks } = clock(5, { vt });
    c.on('tick', (i: number) => { if (i === 4) c.stop(); });
    c.start();
    vt.runUntil(100);
    assert.equal(ticks.length, 5);
    assert.equal(vt.pending, 0, 'timers left pending by a stopped clock');
    const script = `const { FrameClock } = require(${JSON.stringify(path.resolve(__dirname, '../../runtime/clock.js'))});
      const c = new FrameClock({ periodMs: 5 }); let n = 0;
      c.on('tick', () => { if (++n === 10) c.stop(); }); c.start();
      process.on('exit', () => console.log('ticks', n));`;
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['-e', script], { timeout: 15_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    assert.equal(out.trim(), 'ticks 10');
  });

  it('keeps ticking when a listener throws, reporting the error', () => {
    const vt = new VirtualTime();
    const { c, ticks } = clock(5, { vt });
    const errors: Error[] = [];
    c.on('error', (e: Error) => errors.push(e));
    c.on('tick', (i: number) => { if (i === 2) throw new Error('listener failed'); });
    c.start();
    vt.runUntil(100 - 1);
    c.stop();
    assert.equal(errors.length, 1);
    assert.equal(ticks.length, 20);
  });

  it('refuses a period that is not a positive number, naming the field', () => {
    for (const periodMs of [0, -10, Number.NaN, '10' as never]) {
      assert.throws(() => new FrameClock({ periodMs }), (e: unknown) => e instanceof ClockConfigError && e.field === 'periodMs');
    }
  });
});

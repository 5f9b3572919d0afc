// FrameClock and nowMicros: average rate, no drift, catch-up after a stall, resync after a long one, clean stop.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { FrameClock, ClockConfigError, nowMicros } from '../../runtime/clock';

interface Tick { index: number; late: number; at: number }

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* the stall under test */ }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('engine/clock', () => {
  const clocks: FrameClock[] = [];
  afterEach(() => { for (const c of clocks.splice(0)) c.stop(); });

  function clock(periodMs: number, resyncAfterMs?: number): { c: FrameClock; ticks: Tick[] } {
    const c = new FrameClock({ periodMs, resyncAfterMs });
    clocks.push(c);
    const ticks: Tick[] = [];
    c.on('tick', (index: number, late: number) => ticks.push({ index, late, at: performance.now() }));
    return { c, ticks };
  }

  it('nowMicros is µs since the epoch, sub-millisecond and monotonic', () => {
    const a = nowMicros();
    assert.ok(Math.abs(a - Date.now() * 1000) < 50_000);
    const samples = Array.from({ length: 50 }, () => nowMicros());
    for (let i = 1; i < samples.length; i++) assert.ok(samples[i] >= samples[i - 1]);
    assert.ok(samples.some((v) => v % 1000 !== 0), 'has sub-ms digits');
    assert.ok(samples[samples.length - 1] - samples[0] < 1000, '50 calls within a ms');
  });

  it('ticks at its period on average over a second, frame indices 0, 1, 2, … (10 ms)', async () => {
    const { c, ticks } = clock(10);
    const t0 = performance.now();
    c.start();
    await sleep(1000);
    c.stop();
    const elapsed = performance.now() - t0;
    const expected = Math.floor(elapsed / 10) + 1;
    assert.ok(ticks.length >= expected * 0.8 && ticks.length <= expected + 1, `${ticks.length} ticks in ${elapsed.toFixed(0)} ms`);
    ticks.forEach((t, i) => assert.equal(t.index, i));
    // Deadlines are start + n × period: the n-th tick is never early.
    for (const t of ticks) assert.ok(t.at - t0 >= t.index * 10 - 0.5, `tick ${t.index} early at ${(t.at - t0).toFixed(2)} ms`);
    const st = c.stats();
    assert.equal(st.ticks, ticks.length);
    assert.equal(st.running, false);
    assert.ok(st.latenessP50Ms >= 0 && st.latenessP50Ms <= st.latenessP99Ms && st.latenessP99Ms <= st.latenessMaxMs);
  });

  it('keeps a fractional period exact on average (2.5 ms for 300 ms)', async () => {
    const { c, ticks } = clock(2.5);
    const t0 = performance.now();
    c.start();
    await sleep(300);
    c.stop();
    const elapsed = performance.now() - t0;
    const expected = Math.floor(elapsed / 2.5) + 1;
    assert.ok(ticks.length >= expected * 0.8 && ticks.length <= expected + 1, `${ticks.length} ticks in ${elapsed.toFixed(1)} ms`);
  });

  it('catches up after the event loop is blocked for 50 ms: the missed ticks run back to back, none skipped', async () => {
    const { c, ticks } = clock(10);
    let blockedAt = -1;
    c.on('tick', (index: number) => { if (index === 5) { blockedAt = performance.now(); busyWait(50); } });
    const t0 = performance.now();
    c.start();
    await sleep(300);
    c.stop();
    const elapsed = performance.now() - t0;
    ticks.forEach((t, i) => assert.equal(t.index, i, 'no frame index skipped'));
    const after = ticks.filter((t) => t.index > 5 && t.at - blockedAt < 60);
    assert.ok(after.length >= 4, `${after.length} catch-up ticks right after the stall`);
    const st = c.stats();
    assert.ok(st.catchUpTicks >= 3, `catchUpTicks ${st.catchUpTicks}`);
    assert.ok(st.missedDeadlines >= 3, `missedDeadlines ${st.missedDeadlines}`);
    assert.equal(st.resyncs, 0);
    assert.ok(ticks.length >= Math.floor(elapsed / 10) * 0.8, `${ticks.length} ticks in ${elapsed.toFixed(0)} ms: the stall cost no frames`);
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
      c.on('tick', (index: number) => {
        events.push(`tick ${index}`);
        if (index === 5) { client.write('x'); busyWait(50); }
      });
      c.start();
      await sleep(200);
      c.stop();
      const at = events.indexOf('data');
      assert.deepEqual(events.slice(at - 1, at + 2), ['tick 5', 'data', 'tick 6']);
    } finally {
      client.destroy();
      peer.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('resynchronises instead of bursting when it falls behind by more than resyncAfterMs', async () => {
    const { c, ticks } = clock(10, 100);
    let blockEnd = -1;
    c.on('tick', (index: number) => { if (index === 3) { busyWait(300); blockEnd = performance.now(); } });
    c.start();
    await sleep(450);
    c.stop();
    const st = c.stats();
    assert.ok(st.resyncs >= 1, `resyncs ${st.resyncs}`);
    const burst = ticks.filter((t) => t.index > 3 && t.at - blockEnd < 5).length;
    assert.ok(burst <= 12, `${burst} ticks burst after a 300 ms stall (30 missed)`);
    ticks.forEach((t, i) => assert.equal(t.index, i));
  });

  it('stops ticking at stop(), and a stopped clock does not keep the process alive', async () => {
    const { c, ticks } = clock(5);
    c.on('tick', (i: number) => { if (i === 4) c.stop(); });
    c.start();
    await sleep(100);
    assert.equal(ticks.length, 5);
    const script = `const { FrameClock } = require(${JSON.stringify(path.resolve(__dirname, '../../runtime/clock.js'))});
      const c = new FrameClock({ periodMs: 5 }); let n = 0;
      c.on('tick', () => { if (++n === 10) c.stop(); }); c.start();
      process.on('exit', () => console.log('ticks', n));`;
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['-e', script], { timeout: 10_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    assert.equal(out.trim(), 'ticks 10');
  });

  it('keeps ticking when a listener throws, reporting the error', async () => {
    const { c, ticks } = clock(5);
    const errors: Error[] = [];
    c.on('error', (e: Error) => errors.push(e));
    c.on('tick', (i: number) => { if (i === 2) throw new Error('listener failed'); });
    c.start();
    await sleep(100);
    c.stop();
    assert.equal(errors.length, 1);
    assert.ok(ticks.length > 5);
  });

  it('refuses a period that is not a positive number, naming the field', () => {
    for (const periodMs of [0, -10, Number.NaN, '10' as never]) {
      assert.throws(() => new FrameClock({ periodMs }), (e: unknown) => e instanceof ClockConfigError && e.field === 'periodMs');
    }
  });
});

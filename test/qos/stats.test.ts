// Tests of the per-stream QoS statistics: RFC 3550 jitter, sequence accounting, bitrate window.

import assert from 'node:assert/strict';
import { BitrateMeter, Rfc3550Jitter, SeqTracker, type SeqOutcome } from '../../runtime/qos/stats';

const close = (a: number, b: number, eps = 1e-12) => assert.ok(Math.abs(a - b) <= eps, `${a} ≠ ${b}`);

describe('Rfc3550Jitter', () => {
  // capture every 20 ms; transits 100000, 100500, 100000, 101000 µs → D = 500, 500, 1000
  const capture = [0, 20_000, 40_000, 60_000];
  const arrival = [100_000, 120_500, 140_000, 161_000];
  // by hand: J1 = 500/16 = 31.25; J2 = 31.25 + (500 − 31.25)/16 = 60.546875; J3 = J2 + (1000 − J2)/16 = 119.2626953125 (µs)
  const expectedMs = [0, 0.03125, 0.060546875, 0.1192626953125];

  it('follows J += (|D| − J)/16 on hand-computed transit differences, returning ms', () => {
    const j = new Rfc3550Jitter();
    for (let i = 0; i < capture.length; i++) close(j.update(arrival[i], capture[i]), expectedMs[i]);
    close(j.jitterMs, expectedMs[3]);
  });

  it('is unchanged by a constant offset between sender and receiver clocks', () => {
    const j = new Rfc3550Jitter();
    const base = 1_763_740_000_000_000; // realistic µs epoch on the capture side, receiver 5 s ahead
    let last = 0;
    for (let i = 0; i < capture.length; i++) last = j.update(base + 5_000_000 + arrival[i], base + capture[i]);
    close(last, expectedMs[3], 1e-9);
  });

  it('stays 0 for perfectly regular arrivals and starts over after reset()', () => {
    const j = new Rfc3550Jitter();
    for (let i = 0; i < 50; i++) assert.equal(j.update(7_000 + i * 20_000, i * 20_000), 0);
    j.update(0, 0);
    j.update(30_000, 20_000); // D = 10000 µs
    assert.ok(j.jitterMs > 0);
    j.reset();
    assert.equal(j.update(123, 0), 0);
  });
});

describe('SeqTracker', () => {
  function run(t: SeqTracker, seqs: number[]): SeqOutcome[] {
    return seqs.map((s) => t.push(s));
  }

  it('counts a scripted drop / reorder / duplicate sequence exactly', () => {
    const t = new SeqTracker();
    const out = run(t, [0, 1, 2, 4, 5, 3, 5, 8, 6, 9, 6]);
    assert.deepEqual(out, ['first', 'inOrder', 'inOrder', 'gap', 'inOrder', 'outOfOrder', 'duplicate', 'gap', 'outOfOrder', 'inOrder', 'duplicate']);
    assert.equal(t.received, 11);
    assert.equal(t.lost, 1, 'only 7 was never filled');
    assert.equal(t.outOfOrder, 2, '3 and 6 filled gaps');
    assert.equal(t.duplicate, 2);
    assert.equal(t.lastSeq, 9);
    assert.equal(t.expected, 10);
    assert.equal(t.received, t.expected - t.lost + t.duplicate);
  });

  it('unwraps across 2^32 without counting the wrap as loss', () => {
    const t = new SeqTracker();
    run(t, [4294967294, 4294967295, 1]);
    assert.equal(t.lost, 1, 'seq 0 is missing');
    assert.equal(t.push(0), 'outOfOrder');
    assert.equal(t.lost, 0);
    assert.equal(t.outOfOrder, 1);
    assert.equal(t.lastSeq, 1);
    assert.equal(t.expected, 4);
  });

  it('treats seqs before the first one seen as out of order and their gap as lost', () => {
    const t = new SeqTracker();
    assert.deepEqual(run(t, [10, 9, 7]), ['first', 'outOfOrder', 'outOfOrder']);
    assert.equal(t.lost, 1, '8 is missing');
    t.push(8);
    assert.equal(t.lost, 0);
    assert.equal(t.outOfOrder, 3);
    assert.equal(t.expected, 4);
    assert.equal(t.lastSeq, 10);
  });

  it('makes a gap final once it falls out of the window: a very late packet is a stray, not a fill', () => {
    const t = new SeqTracker({ window: 8 });
    run(t, [0, 10]);
    assert.equal(t.lost, 9);
    assert.equal(t.push(1), 'stray');
    assert.equal(t.lost, 9);
    assert.equal(t.stray, 1);
    assert.equal(t.outOfOrder, 0);
    assert.equal(t.push(5), 'outOfOrder', '5 is within 8 of 10');
    assert.equal(t.lost, 8);
  });

  it('re-anchors without loss when the sender restarts its numbering (two consecutive strays)', () => {
    const t = new SeqTracker();
    run(t, [100, 101, 102]);
    assert.deepEqual(run(t, [900_000, 900_001, 900_002]), ['stray', 'resync', 'inOrder']);
    assert.equal(t.resyncs, 1);
    assert.equal(t.lost, 0);
    assert.equal(t.lastSeq, 900_002);
    assert.equal(t.received, 6);
    assert.equal(t.push(900_000), 'duplicate', 'the stray that started the new numbering counts as received');
  });

  it('does not re-anchor on a lone stray followed by the normal stream', () => {
    const t = new SeqTracker();
    assert.deepEqual(run(t, [5, 6, 70_000, 7, 8]), ['first', 'inOrder', 'stray', 'inOrder', 'inOrder']);
    assert.equal(t.resyncs, 0);
    assert.equal(t.lastSeq, 8);
    assert.equal(t.lost, 0);
  });

  it('rejects a window that cannot hold a gap', () => {
    assert.throws(() => new SeqTracker({ window: 1 }), RangeError);
  });
});

describe('BitrateMeter', () => {
  it('reads a steady 64 kbit/s stream exactly over completed buckets', () => {
    const m = new BitrateMeter(1000, 10);
    for (let t = 0; t < 2000; t += 20) m.add(160, t); // 160 B every 20 ms = 8000 B/s
    assert.equal(m.kbps(2000), 64);
    assert.equal(m.kbps(2050), 64, 'a partly filled bucket is not counted yet');
  });

  it('falls to 0 once the stream has stopped for a whole window', () => {
    const m = new BitrateMeter(1000, 10);
    for (let t = 0; t < 1000; t += 20) m.add(160, t);
    assert.equal(m.kbps(1000), 64);
    assert.equal(m.kbps(1500), 32, 'half the window still holds data');
    assert.equal(m.kbps(2100), 0);
  });
});

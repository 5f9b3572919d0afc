// End to end (issue 12's done-means): the stream event log of the real xcast preset, with a streamproto1 peer behind
// the lossy relay the QoS tests use. The log's repeated / out-of-order / missing counts are exactly what the relay
// did, and exactly getMetrics' packetsDuplicate / packetsOutOfOrder / packetsLost for that user; a peer that stops
// sending (its connection open) gets a `dropped` line after the mixer's timeout.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startXcast, freePortMap, sleep, tmpDir, XcastProcess } from '../support/xcast-process';
import { LossyRelay } from '../support/lossy-relay';
import { getMetrics } from '../support/get-metrics';
import { parseStreamLogLine } from '../../runtime/streamlog/format';

async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try { const v = await fn(); if (v !== undefined) return v; } catch (e) { last = e; }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

type Line = { ms: number; address: string; text: string };

describe('stream event log end to end (xcast preset, a peer through the lossy relay, a monitor for getMetrics)', function () {
  this.timeout(120000);
  let xcast: XcastProcess | undefined, monitor: XcastProcess | undefined, peer: XcastProcess | undefined;
  let relay: LossyRelay, mixRelay: LossyRelay;
  // Chosen by wire seq, well after the peer's start (as the QoS test does). No frame is held long enough to be late:
  // a swapped frame comes right after the next one, well inside the mixer's 3-frame jitter buffer.
  const drop = [300, 310, 311, 320, 321, 322];
  const duplicate = [330, 340, 345];
  const swapWithNext = [350, 360];
  const logFile = () => path.join(xcast!.userDir, 'stream.log');
  const lines = (): Line[] => (fs.existsSync(logFile()) ? fs.readFileSync(logFile(), 'utf8').split('\n').filter(Boolean).map((l) => {
    const p = parseStreamLogLine(l);
    assert.ok(p, `not a log line: ${l}`);
    return p;
  }) : []);
  const alice = () => lines().filter((l) => l.text.includes('"alice"/'));

  before(async () => {
    const ports = await freePortMap();
    xcast = await startXcast({ flows: ['xcast'], portMap: ports });
    relay = new LossyRelay(ports[7010], { drop: new Set(drop), duplicate: new Set(duplicate), swapWithNext: new Set(swapWithNext) });
    await relay.listen();
    mixRelay = new LossyRelay(ports[7011]);
    await mixRelay.listen();
    monitor = await startXcast({ flows: ['monitor'], portMap: { 7011: mixRelay.port } });
    peer = await startXcast({ flows: ['peer'], portMap: { 7010: relay.port }, userDir: tmpDir() });
  });
  after(async () => {
    await Promise.all([peer?.stop(), monitor?.stop(), xcast?.stop()]);
    await Promise.all([relay?.close(), mixRelay?.close()]);
  });

  it('logs exactly what the relay did, and exactly what getMetrics counts', async () => {
    const m = await waitFor('alice past seq 450 in getMetrics', 40000, async () => {
      const c = (await getMetrics(monitor!.url)).aggregatedStatesSnapshot.connections?.alice;
      return c && typeof c.lastSeq === 'number' && c.lastSeq > 450 ? c : undefined;
    });
    // The log is written in batches on the next turn: every event of seq ≤ 450 is there once getMetrics is past it.
    const log = await waitFor('the log to have every planned event', 5000, () => {
      const l = alice();
      return l.filter((x) => /^(repeated|out-of-order|missing)/.test(x.text)).length >= duplicate.length + swapWithNext.length + 3 ? l : undefined;
    });
    const seqsOf = (re: RegExp) => log.map((l) => re.exec(l.text)).filter((x): x is RegExpExecArray => x !== null);
    const repeated = seqsOf(/^repeated packet seq (\d+) /).map((x) => Number(x[1]));
    const ooo = seqsOf(/^out-of-order packet seq (\d+) /).map((x) => Number(x[1]));
    const missing = seqsOf(/^missing (\d+) packets? from seq (\d+) /).flatMap((x) => Array.from({ length: Number(x[1]) }, (_, k) => Number(x[2]) + k));
    const late = seqsOf(/^late packet seq (\d+) \(.*\)(, counted missing before)?$/);
    const filled = late.filter((x) => x[2] !== undefined).length;
    console.log(`      relay: ${JSON.stringify(relay.stats)}; log: ${repeated.length} repeated, ${ooo.length} out of order, ${missing.length} missing, ${late.length} late; ` +
      `getMetrics: dup ${m.packetsDuplicate}, ooo ${m.packetsOutOfOrder}, lost ${m.packetsLost}, late ${m.packetsLate}`);
    // What the relay did, seq by seq.
    assert.deepEqual([relay.stats.dropped, relay.stats.duplicated, relay.stats.swapped, relay.stats.late], [drop.length, duplicate.length, swapWithNext.length, 0]);
    assert.deepEqual(repeated, duplicate, 'repeated = the duplicated seqs');
    assert.deepEqual(ooo, swapWithNext, 'out of order = the swapped seqs');
    assert.deepEqual(missing, drop, 'missing = the dropped seqs');
    assert.deepEqual(seqsOf(/^missing (\d+) packets? from seq (\d+) /).map((x) => `${x[2]}×${x[1]}`), ['300×1', '310×2', '320×3'], 'a gap is one line with its length');
    assert.equal(late.length, 0, 'nothing late');
    // And what getMetrics counts for alice.
    assert.equal(m.packetsDuplicate, repeated.length);
    assert.equal(m.packetsOutOfOrder, ooo.length);
    assert.equal(m.packetsLost, missing.length - filled);
    assert.equal(m.packetsLate, late.length);
    // Each line names the sender by its address (the relay's side of the connection, as the socket reader saw it).
    assert.match(log[0].text, /^new stream "alice"\/1$/);
    for (const l of log) assert.match(l.address, /^127\.0\.0\.1:\d+$/, JSON.stringify(l));
    for (let k = 1; k < log.length; k++) assert.ok(log[k].ms >= log[k - 1].ms, 'times in order');
  });

  it('a peer that stops sending (connection still open) gets a dropped line after the mixer\'s timeout', async () => {
    const before = alice().length;
    relay.plan.mute = true;
    const dropped = await waitFor('a dropped line', 15000, () => alice().slice(before).find((l) => l.text.startsWith('dropped')));
    assert.equal(dropped.text, 'dropped stream "alice"/1 (nothing for 2000 ms)');
    // The connection stayed open: no 'closed' line; nothing was missing while it was quiet (silence is not loss).
    assert.deepEqual(alice().slice(before).map((l) => l.text.split(' ')[0]), ['dropped']);
    const m = (await getMetrics(monitor!.url)).aggregatedStatesSnapshot.connections?.alice;
    assert.equal(m?.packetsLost, drop.length, 'getMetrics still agrees');
  });
});

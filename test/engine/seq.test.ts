// The one seq unwrapper (runtime/seq.ts) and its restart policy, as the playout buffer, the event stream and the QoS SeqTracker apply it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SEQ_RESTART_JUMP, SeqUnwrapper, wireSeq } from '../../runtime/seq';
import { PlayoutBuffer } from '../../runtime/audio/playout';
import { SeqTracker } from '../../runtime/qos/stats';
import { EventStreamServer } from '../../runtime/events/server';
import { EventParser, EventType } from '../../runtime/events/codec';
import { header, s16Const } from './util';

const TWO32 = 4294967296;

/** Restarts the playout buffer counts after packets 0…9 then `next`. */
function playoutRestarts(next: number): number {
  const pb = new PlayoutBuffer({ sampleRate: 48000, channels: 1, frameSamples: 480, targetDepthFrames: 2, adaptive: false });
  for (let s = 0; s < 10; s++) pb.push(header(5000 + s), s16Const(480, 1), 0);
  pb.push(header(5009 + next), s16Const(480, 1), 0);
  return pb.stats().resets;
}

/** What the tracker makes of packets 0…9 then `next` (its outcome and resync count after next + 1). */
function trackerSees(next: number): string {
  const t = new SeqTracker();
  for (let s = 0; s < 10; s++) t.push(5000 + s);
  const a = t.push(5009 + next);
  const b = t.push(5009 + next + 1);
  return `${a} ${b}`;
}

/** The u64 seqs the event stream gives packets 0…9 then `next` … `next + after`, and its seqRestarts count. */
async function eventSeqs(next: number, after = 1): Promise<{ seqs: bigint[]; restarts: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-seq-'));
  const file = path.join(dir, 's.xcev');
  const srv = new EventStreamServer({ port: 0, sampleRate: 48000, frameSamples: 480, file: { path: file } });
  const ch = srv.channelIdFor('alice', 1);
  for (let s = 0; s < 10; s++) srv.opusPacketReceived(ch, 5000 + s, 0, 1, Buffer.from([s]));
  for (let k = 0; k <= after; k++) srv.opusPacketReceived(ch, 5009 + next + k, 0, 1, Buffer.from([k & 0xff]));
  await srv.close();
  const events = new EventParser().push(fs.readFileSync(file));
  fs.rmSync(dir, { recursive: true, force: true });
  const seqs = events.filter((e) => e.type === EventType.OPUS_PACKET_RECEIVED).map((e) => (e as { seq: bigint }).seq);
  return { seqs: seqs.slice(9), restarts: srv.stats.seqRestarts };
}

describe('engine/seq: one unwrapper, one restart policy', () => {
  it('unwraps to the extended seq nearest the highest, across 2^32 either way', () => {
    const u = new SeqUnwrapper();
    assert.equal(u.anchored, false);
    u.anchor(TWO32 - 2);
    assert.equal(u.extend(1), TWO32 + 1);
    assert.equal(u.extend(TWO32 - 5), TWO32 - 5);
    u.advance(u.extend(1));
    assert.equal(u.highest, TWO32 + 1);
    assert.equal(u.extend(TWO32 - 1), TWO32 - 1, 'a late one from before the wrap');
    assert.equal(wireSeq(u.highest), 1);
  });

  it(`takes a jump of more than SEQ_RESTART_JUMP (${SEQ_RESTART_JUMP}) either way as a restart, not one of exactly that`, () => {
    const u = new SeqUnwrapper();
    u.anchor(100_000);
    assert.deepEqual([-SEQ_RESTART_JUMP - 1, -SEQ_RESTART_JUMP, SEQ_RESTART_JUMP, SEQ_RESTART_JUMP + 1].map((d) => u.isRestart(u.extend(100_000 + d))), [true, false, false, true]);
  });

  it('renumbers: an anchor at another wire seq carries later seqs along', () => {
    const u = new SeqUnwrapper();
    u.anchor(5000);
    u.anchor(5001, 7); // a restarted count: wire 7 continues as 5001
    assert.equal(u.extend(8), 5002);
    u.advance(u.extend(9));
    assert.equal(u.extend(10), 5004);
  });

  it('the playout buffer, the SeqTracker and the event stream restart at the same jump', async () => {
    for (const d of [SEQ_RESTART_JUMP + 1, -SEQ_RESTART_JUMP - 1 - 9]) {
      assert.equal(playoutRestarts(d), 1, `playout, jump ${d}`);
      assert.equal(trackerSees(d), 'stray resync', `tracker, jump ${d}`);
      const ev = await eventSeqs(d);
      assert.equal(ev.restarts, 1, `event stream, jump ${d}`);
      assert.deepEqual(ev.seqs, [5009n, 5010n, 5011n], `event stream, jump ${d}: continues after the highest`);
    }
    const d = SEQ_RESTART_JUMP;
    assert.equal(playoutRestarts(d), 0);
    assert.equal(trackerSees(d), 'gap inOrder');
    const ev = await eventSeqs(d);
    assert.equal(ev.restarts, 0);
    assert.deepEqual(ev.seqs, [5009n, BigInt(5009 + d), BigInt(5010 + d)]);
  });

  it('the event stream names the packets of a mixed frame made before a restart, delivered after it, by their own u64s', async () => {
    // Fails on the old event stream: the entry's wire seq 100009 was read in the new numbering (u64 200019).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-seq-'));
    const file = path.join(dir, 'm.xcev');
    const srv = new EventStreamServer({ port: 0, sampleRate: 48000, frameSamples: 480, file: { path: file } });
    const ch = srv.channelIdFor('bob', 1);
    for (let s = 100_000; s < 100_010; s++) srv.opusPacketReceived(ch, s, 0, 1, Buffer.from([1]));
    srv.opusPacketReceived(ch, 0, 0, 1, Buffer.from([2])); // the sender restarted its count
    srv.audioFrameMixed(7, [{ channelId: ch, seq: 100_009, channels: 1, frameSamples: 480 }]); // the mix thread's frame before it
    srv.opusPacketReceived(ch, 1, 0, 1, Buffer.from([3]));
    srv.audioFrameMixed(8, [{ channelId: ch, seq: 0, channels: 1, frameSamples: 480 }]);
    await srv.close();
    const events = new EventParser().push(fs.readFileSync(file));
    fs.rmSync(dir, { recursive: true, force: true });
    const mixed = events.filter((e) => e.type === EventType.AUDIO_FRAME_MIXED).map((e) => (e as { entries: Array<{ seq: bigint | null }> }).entries[0].seq);
    assert.deepEqual(mixed, [100_009n, 100_010n]);
  });

  it('the event stream never gives two packets one u64 when a sender restarts its count a little lower', async () => {
    // Fails on the old event stream (a restart only past 32768 back): 5000…5009, then a count from 3000 on reached
    // 5000 again and re-used the u64s 5000…5009.
    const ev = await eventSeqs(3000 - 5009, 2020);
    assert.equal(ev.restarts, 1);
    assert.equal(new Set(ev.seqs).size, ev.seqs.length, 'every u64 once');
  });
});

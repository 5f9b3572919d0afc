// PlayoutBuffer: ordering, loss, lateness, duplicates, wrap, restarts, frame-size and channel conversion, adaptation, counts.
import assert from 'node:assert/strict';
import { PlayoutBuffer, PlayoutOptions, PlayoutFormatError, PlayoutPacketError, PlayoutConfigError } from '../../runtime/audio/playout';
import { OpusEncoder } from '../../runtime/audio/opus';
import { estimateFrequency, rms, findDiscontinuities } from '../../runtime/audio/analysis';
import { header, s16Const, s16ValueOf, toneFrame, f32 } from './util';

const TWO32 = 2 ** 32;

function buffer(over: Partial<PlayoutOptions> = {}): PlayoutBuffer {
  return new PlayoutBuffer({ sampleRate: 48000, channels: 1, frameSamples: 480, targetDepthFrames: 2, adaptive: false, ...over });
}

/** Pushes s16 mono packet `seq` whose samples all equal `value` (default: seq mod 30000 + 1). */
function push(pb: PlayoutBuffer, seq: number, value = (seq % 30000) + 1, arrival = 0) {
  return pb.push(header(seq), s16Const(480, value), arrival);
}

/** Pulls n frames, returning [seq (unwrapped) | null, concealed, value of first sample] for each. */
function pullN(pb: PlayoutBuffer, n: number): Array<{ seq: number | null; wireSeq: number | null; concealed: boolean; value: number }> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const f = pb.pull();
    out.push({ seq: f.seq, wireSeq: f.wireSeq, concealed: f.concealed, value: s16ValueOf(f.pcm) });
  }
  return out;
}

describe('engine/playout', () => {
  it('prebuffers: silence (not a miss) until targetDepthFrames are buffered, then plays in order', () => {
    const pb = buffer({ targetDepthFrames: 3 });
    assert.deepEqual(pullN(pb, 1)[0], { seq: null, wireSeq: null, concealed: false, value: 0 });
    push(pb, 0);
    assert.equal(pb.pull().seq, null);
    push(pb, 1);
    assert.equal(pb.pull().seq, null);
    assert.equal(pb.stats().state, 'prebuffering');
    push(pb, 2);
    const played = [];
    for (let k = 3; k < 13; k++) {
      const f = pb.pull();
      played.push([f.seq, s16ValueOf(f.pcm), f.concealed]);
      push(pb, k);
    }
    assert.deepEqual(played, Array.from({ length: 10 }, (_, k) => [k, k + 1, false]));
    const st = pb.stats();
    assert.equal(st.state, 'playing');
    assert.equal(st.received, 13);
    assert.equal(st.misses, 0);
    assert.equal(st.concealedSamples, 0);
    assert.equal(st.lost, 0);
    assert.equal(st.depthFrames, 3);
    assert.equal(st.depthSamples, 3 * 480);
    assert.equal(st.lastSeq, 12);
  });

  it('returns fresh Buffers from pull(), never touched again', () => {
    const pb = buffer({ targetDepthFrames: 1 });
    push(pb, 0, 111);
    const a = pb.pull();
    const copy = Buffer.from(a.pcm);
    push(pb, 1, 222);
    const b = pb.pull();
    assert.notEqual(a.pcm.buffer, b.pcm.buffer);
    assert.ok(a.pcm.equals(copy));
    assert.equal(a.pcm.length, 480 * 4);
  });

  it('puts reordered packets back in order and counts them outOfOrder', () => {
    const pb = buffer();
    push(pb, 0); push(pb, 1);
    assert.equal(pb.pull().seq, 0);
    assert.equal(push(pb, 3), 'ok');
    assert.equal(push(pb, 2), 'ok');
    assert.deepEqual(pullN(pb, 3).map((f) => [f.seq, f.value]), [[1, 2], [2, 3], [3, 4]]);
    const st = pb.stats();
    assert.deepEqual([st.outOfOrder, st.lost, st.late, st.duplicate, st.received], [1, 0, 0, 0, 4]);
  });

  it('accepts an earlier packet before play starts by moving the start back', () => {
    const pb = buffer({ targetDepthFrames: 3 });
    push(pb, 5); push(pb, 4); push(pb, 6);
    assert.deepEqual(pullN(pb, 3).map((f) => f.seq), [4, 5, 6]);
    assert.equal(pb.stats().outOfOrder, 1);
  });

  it('flags duplicates whether still waiting or already played', () => {
    const pb = buffer();
    assert.equal(push(pb, 0), 'ok');
    assert.equal(push(pb, 0), 'duplicate');
    push(pb, 1);
    assert.equal(pb.pull().seq, 0);
    assert.equal(push(pb, 0), 'duplicate');
    assert.equal(push(pb, 1), 'duplicate');
    const st = pb.stats();
    assert.deepEqual([st.duplicate, st.received, st.late], [3, 2, 0]);
    assert.deepEqual(pullN(pb, 1).map((f) => f.seq), [1]);
  });

  it('conceals a missing packet when its slot is played, and counts it late, not lost, when it comes after', () => {
    const pb = buffer({ adaptive: true });
    push(pb, 0); push(pb, 1);
    assert.equal(pb.pull().seq, 0);
    push(pb, 3);
    assert.equal(pb.pull().seq, 1);
    const gap = pb.pull();
    assert.equal(gap.seq, null);
    assert.equal(gap.concealed, true);
    // PCM concealment: the last frame repeated with a fade to silence.
    const g = f32(gap.pcm);
    assert.ok(Math.abs(g[0] - (2 / 32768) * (1 - 1 / 480)) < 1e-9);
    assert.equal(g[479], 0);
    assert.equal(pb.stats().lost, 1);
    assert.equal(push(pb, 2), 'late');
    assert.equal(pb.pull().seq, 3);
    const st = pb.stats();
    assert.deepEqual([st.lost, st.late, st.misses, st.concealedSamples, st.received], [0, 1, 1, 480, 3], 'received excludes the late packet');
    assert.equal(st.targetDepthFrames, 3, 'a late packet raises the target');
  });

  it('counts every gap never filled as lost, one concealed frame each', () => {
    const pb = buffer();
    for (const s of [0, 1, 2, 4, 5, 8]) push(pb, s);
    const seqs = pullN(pb, 9).map((f) => f.seq);
    assert.deepEqual(seqs.slice(0, 7), [0, 1, 2, null, 4, 5, null]);
    const st = pb.stats();
    assert.equal(st.lost, 3, 'slots 3, 6 and 7');
    assert.equal(st.received, 6);
  });

  it('unwraps seq across 2^32, also with reordering at the wrap', () => {
    const pb = buffer();
    const start = TWO32 - 3;
    for (const w of [start, start + 1, 0, TWO32 - 1, 1, 2]) assert.equal(push(pb, w, (w % 1000) + 1), 'ok');
    const got = pullN(pb, 6);
    assert.deepEqual(got.map((f) => f.wireSeq), [TWO32 - 3, TWO32 - 2, TWO32 - 1, 0, 1, 2]);
    assert.deepEqual(got.map((f) => f.seq), [TWO32 - 3, TWO32 - 2, TWO32 - 1, TWO32, TWO32 + 1, TWO32 + 2]);
    assert.deepEqual(got.map((f) => f.value), [TWO32 - 3, TWO32 - 2, TWO32 - 1, 0, 1, 2].map((w) => (w % 1000) + 1));
    const st = pb.stats();
    assert.deepEqual([st.outOfOrder, st.lost, st.resets, st.lastSeq], [1, 0, 0, 2]);
  });

  it('resets on a big forward jump (sender restarted) and prebuffers the new stream', () => {
    const pb = buffer();
    for (let s = 0; s < 4; s++) push(pb, s);
    assert.deepEqual(pullN(pb, 3).map((f) => f.seq), [0, 1, 2]);
    push(pb, 5000, 7);
    assert.equal(pb.stats().resets, 1);
    assert.equal(pb.pull().seq, null, 'prebuffering again, the old packet 3 is gone');
    push(pb, 5001, 8);
    const f = pb.pull();
    assert.deepEqual([f.seq, s16ValueOf(f.pcm)], [5000, 7]);
  });

  it('resets when a sender restarts its count lower: a run of rejected packets with consecutive seqs', () => {
    const pb = buffer();
    push(pb, 0); push(pb, 1);
    for (let s = 2; s < 100; s++) { pb.pull(); push(pb, s); }
    assert.equal(push(pb, 0, 500), 'duplicate');
    assert.equal(push(pb, 1, 501), 'duplicate');
    assert.equal(push(pb, 2, 502), 'duplicate');
    assert.equal(push(pb, 3, 503), 'ok');
    assert.equal(pb.stats().resets, 1);
    push(pb, 4, 504);
    assert.deepEqual(pullN(pb, 2).map((f) => [f.seq, f.value]), [[3, 503], [4, 504]]);
  });

  it('plays 20 ms packets through a 10 ms clock, keeping every sample in order', () => {
    const pb = buffer({ targetDepthFrames: 3 });
    const h = (seq: number) => header(seq, { frameSamples: 960 });
    for (let k = 0; k < 4; k++) {
      const b = Buffer.alloc(960 * 2);
      for (let i = 0; i < 960; i++) b.writeInt16LE(k * 960 + i, i * 2);
      pb.push(h(k), b, 0);
    }
    const seqs: Array<number | null> = [];
    const all: number[] = [];
    for (let i = 0; i < 8; i++) {
      const f = pb.pull();
      seqs.push(f.seq);
      for (const v of f32(f.pcm)) all.push(Math.round(v * 32768));
    }
    assert.deepEqual(seqs, [0, 0, 1, 1, 2, 2, 3, 3]);
    assert.deepEqual(all, Array.from({ length: 3840 }, (_, i) => i));
    assert.equal(pb.stats().misses, 0);
  });

  it('plays 10 ms packets through a 20 ms clock, two per frame', () => {
    const pb = buffer({ frameSamples: 960, targetDepthFrames: 1 });
    for (let k = 0; k < 6; k++) {
      const b = Buffer.alloc(480 * 2);
      for (let i = 0; i < 480; i++) b.writeInt16LE(k * 480 + i, i * 2);
      pb.push(header(k), b, 0);
    }
    const frames = [pb.pull(), pb.pull(), pb.pull()];
    assert.deepEqual(frames.map((f) => f.seq), [0, 2, 4]);
    const all = frames.flatMap((f) => Array.from(f32(f.pcm), (v) => Math.round(v * 32768)));
    assert.deepEqual(all, Array.from({ length: 2880 }, (_, i) => i));
  });

  it('converts channels: mono copied to both stereo channels, stereo averaged to mono', () => {
    const st = buffer({ channels: 2, targetDepthFrames: 1 });
    st.push(header(0), s16Const(480, 1234), 0);
    const a = f32(st.pull().pcm);
    assert.equal(a.length, 960);
    assert.ok(a.every((v) => v === 1234 / 32768));
    const mono = buffer({ targetDepthFrames: 1 });
    const b = Buffer.alloc(480 * 4);
    for (let i = 0; i < 480; i++) { b.writeInt16LE(1000, i * 4); b.writeInt16LE(3000, i * 4 + 2); }
    mono.push(header(0, { channels: 2 }), b, 0);
    assert.ok(f32(mono.pull().pcm).every((v) => v === 2000 / 32768));
  });

  it('plays pcm_f32le exactly', () => {
    const pb = buffer({ targetDepthFrames: 1, channels: 2 });
    const frame = toneFrame(480, 2, 0, 1000, 0.7);
    pb.push(header(0, { codec: 'pcm_f32le', channels: 2 }), frame, 0);
    assert.ok(pb.pull().pcm.equals(frame));
  });

  it('refuses PCM at another sample rate, and malformed packets, naming the field', () => {
    const pb = buffer();
    assert.throws(() => pb.push(header(0, { sampleRate: 44100, frameSamples: 441 }), s16Const(441, 1), 0),
      (e: unknown) => e instanceof PlayoutFormatError && e.field === 'sampleRate' && e.code === 'format_mismatch' && /44100/.test(e.message));
    assert.throws(() => pb.push(header(0), s16Const(479, 1), 0), (e: unknown) => e instanceof PlayoutPacketError && e.field === 'data');
    assert.throws(() => pb.push(header(-1), s16Const(480, 1), 0), (e: unknown) => e instanceof PlayoutPacketError && e.field === 'seq');
    assert.throws(() => pb.push(header(0, { codec: 'mp3' as never }), s16Const(480, 1), 0), (e: unknown) => e instanceof PlayoutPacketError && e.field === 'codec');
    assert.throws(() => new PlayoutBuffer({ sampleRate: 48000, channels: 1, frameSamples: 480, targetDepthFrames: 60 }),
      (e: unknown) => e instanceof PlayoutConfigError && e.field === 'targetDepthFrames');
    assert.equal(pb.stats().received, 0);
  });

  it('decodes Opus in seq order and conceals a lost packet with PLC that continues the tone', () => {
    const enc = new OpusEncoder({ channels: 2, frameSamples: 480 });
    const pb = buffer({ channels: 2, targetDepthFrames: 3 });
    const frames = [];
    for (let k = 0; k < 60; k++) {
      const packet = enc.encode(toneFrame(480, 2, k * 480));
      if (k !== 30) pb.push(header(k, { codec: 'opus', channels: 2 }), packet, 0);
      if (k >= 2) frames.push(pb.pull());
    }
    frames.push(pb.pull(), pb.pull());
    const lostFrame = frames.find((f) => f.concealed);
    assert.ok(lostFrame);
    assert.equal(frames.filter((f) => f.concealed).length, 1);
    assert.equal(frames.indexOf(lostFrame), 30);
    assert.ok(rms(f32(lostFrame.pcm)) > 0.5 * rms(f32(frames[29].pcm)), 'PLC, not silence');
    const pcm = f32(Buffer.concat(frames.slice(5, 57).map((f) => f.pcm)));
    assert.ok(Math.abs(estimateFrequency(pcm, 48000, 2, 0) - 440) < 1);
    const st = pb.stats();
    assert.deepEqual([st.lost, st.misses, st.concealedSamples, st.received], [1, 1, 480, 59]);
  });

  it('decodes a 24 kHz Opus stream at the buffer\'s 48 kHz', () => {
    const enc = new OpusEncoder({ sampleRate: 24000, channels: 1, frameSamples: 480 });
    const pb = buffer({ frameSamples: 480, targetDepthFrames: 2 });
    const out: Buffer[] = [];
    for (let k = 0; k < 50; k++) {
      pb.push(header(k, { codec: 'opus', sampleRate: 24000, frameSamples: 480 }), enc.encode(toneFrame(480, 1, k * 480, 440, 0.5, 24000)), 0);
      out.push(pb.pull().pcm, pb.pull().pcm);
    }
    const pcm = f32(Buffer.concat(out)).subarray(48000 * 0.2);
    assert.ok(Math.abs(estimateFrequency(pcm, 48000) - 440) < 1);
    assert.equal(pb.stats().misses, 0);
  });

  it('survives a corrupt Opus packet: counted, concealed, never thrown from pull', () => {
    const enc = new OpusEncoder({ channels: 1, frameSamples: 480 });
    const pb = buffer({ targetDepthFrames: 1 });
    for (let k = 0; k < 6; k++) {
      const p = k === 3 ? Buffer.from([0xff, 0xff, 0xff, 1, 2, 3]) : enc.encode(toneFrame(480, 1, k * 480));
      pb.push(header(k, { codec: 'opus' }), p, 0);
    }
    const frames = Array.from({ length: 6 }, () => pb.pull());
    assert.deepEqual(frames.map((f) => f.concealed), [false, false, false, true, false, false]);
    assert.equal(pb.stats().decodeErrors, 1);
  });

  it('raises the target after an underrun and rebuffers to it', () => {
    const pb = buffer({ adaptive: true });
    push(pb, 0); push(pb, 1);
    assert.deepEqual(pullN(pb, 2).map((f) => f.seq), [0, 1]);
    const dry = pb.pull();
    assert.deepEqual([dry.seq, dry.concealed], [null, true]);
    assert.equal(pb.stats().targetDepthFrames, 3);
    assert.equal(pb.stats().state, 'rebuffering');
    push(pb, 2); push(pb, 3);
    assert.equal(pb.pull().concealed, true, 'still below the new target');
    push(pb, 4);
    assert.deepEqual(pullN(pb, 3).map((f) => [f.seq, f.concealed]), [[2, false], [3, false], [4, false]]);
    const st = pb.stats();
    assert.deepEqual([st.misses, st.lost, st.concealedSamples, st.targetDepthFrames], [2, 0, 960, 3]);
  });

  it('does not conceal twice: slots whose time passed during an underrun are skipped when their packets never come', () => {
    const pb = buffer();
    push(pb, 0); push(pb, 1);
    pullN(pb, 2);
    assert.ok(pullN(pb, 3).every((f) => f.concealed));
    push(pb, 5); push(pb, 6); push(pb, 7);
    assert.deepEqual(pullN(pb, 3).map((f) => f.seq), [5, 6, 7]);
    const st = pb.stats();
    assert.deepEqual([st.lost, st.misses, st.concealedSamples], [3, 3, 3 * 480]);
  });

  it('goes idle after idleAfterMs of underrun (silence, no more misses) and resumes further on', () => {
    const pb = buffer({ idleAfterMs: 50 });
    push(pb, 0); push(pb, 1);
    pullN(pb, 2);
    assert.ok(pullN(pb, 5).every((f) => f.concealed));
    assert.ok(pullN(pb, 3).every((f) => !f.concealed && f.seq === null && f.value === 0));
    assert.equal(pb.stats().misses, 5);
    assert.equal(pb.stats().state, 'prebuffering');
    push(pb, 20); push(pb, 21);
    assert.deepEqual(pullN(pb, 2).map((f) => f.seq), [20, 21]);
    const st = pb.stats();
    assert.deepEqual([st.lost, st.misses, st.resets], [18, 5, 0]);
  });

  it('trims latency that stayed above the target for a window, without concealing', () => {
    const pb = buffer({ adaptWindowMs: 50 });
    let next = 0;
    for (; next < 12; next++) push(pb, next);
    const seqs: Array<number | null> = [];
    for (let i = 0; i < 40; i++) {
      seqs.push(pb.pull().seq);
      push(pb, next++);
    }
    const st = pb.stats();
    assert.equal(st.misses, 0);
    assert.ok(st.droppedSamples >= 8 * 480 && st.droppedSamples <= 10 * 480, String(st.droppedSamples));
    assert.ok(st.depthFrames >= 2 && st.depthFrames < 3, String(st.depthFrames));
    for (let i = 1; i < seqs.length; i++) assert.ok((seqs[i] as number) > (seqs[i - 1] as number));
  });

  it('drops down to the target at once when the depth passes maxDepthFrames', () => {
    const pb = buffer({ maxDepthFrames: 10 });
    for (let s = 0; s < 30; s++) push(pb, s);
    const f = pb.pull();
    assert.ok(f.seq === 27 || f.seq === 28, String(f.seq));
    const st = pb.stats();
    assert.ok(st.droppedSamples > 27 * 480 && st.droppedSamples <= 28 * 480, String(st.droppedSamples));
    assert.ok(st.depthFrames >= 1 && st.depthFrames <= 2, String(st.depthFrames));
  });

  it('splices a latency drop into a tone without a click or phase jump', () => {
    const pb = new PlayoutBuffer({ sampleRate: 48000, channels: 1, frameSamples: 480, targetDepthFrames: 2, adaptive: false, adaptWindowMs: 100 });
    let next = 0;
    const send = () => { pb.push(header(next, { codec: 'pcm_f32le' }), toneFrame(480, 1, next * 480, 440, 0.5), 0); next++; };
    for (let i = 0; i < 8; i++) send();
    const out: Buffer[] = [];
    for (let i = 0; i < 100; i++) { out.push(pb.pull().pcm); send(); }
    const st = pb.stats();
    assert.ok(st.droppedSamples >= 4 * 480, `dropped ${st.droppedSamples}`);
    assert.equal(st.misses, 0);
    const pcm = f32(Buffer.concat(out));
    const breaks = findDiscontinuities(pcm, 48000, 440);
    assert.deepEqual(breaks, []);
  });

  it('lowers the target after calm windows, down to minDepthFrames', () => {
    const pb = buffer({ adaptive: true, targetDepthFrames: 4, minDepthFrames: 1, adaptWindowMs: 50, lowerAfterWindows: 2 });
    let next = 0;
    for (; next < 4; next++) push(pb, next, 1, next * 10000);
    const targets: number[] = [];
    for (let i = 0; i < 200; i++) {
      pb.pull();
      push(pb, next, 1, next * 10000);
      next++;
      targets.push(pb.stats().targetDepthFrames);
    }
    assert.equal(targets[targets.length - 1], 1);
    for (let i = 1; i < targets.length; i++) assert.ok(targets[i] <= targets[i - 1]);
    assert.equal(pb.stats().misses, 0);
  });

  it('measures RFC 3550 jitter from arrival times against seq × frame duration', () => {
    const steady = buffer({ targetDepthFrames: 50 });
    const jittery = buffer({ targetDepthFrames: 50 });
    for (let k = 0; k < 200; k++) {
      push(steady, k, 1, 1_000_000 + k * 10_000);
      push(jittery, k, 1, 1_000_000 + k * 10_000 + (k % 2 ? 1000 : -1000));
    }
    assert.equal(steady.stats().jitterMs, 0);
    assert.ok(Math.abs(jittery.stats().jitterMs - 2) < 0.01, String(jittery.stats().jitterMs));
  });

  it('pullInto writes into a caller array and reuses its info object', () => {
    const pb = buffer({ targetDepthFrames: 1, channels: 2 });
    const dst = new Float32Array(960);
    pb.push(header(0), s16Const(480, 5), 0);
    const i1 = pb.pullInto(dst);
    assert.equal(i1.seq, 0);
    assert.equal(dst[959], 5 / 32768);
    const i2 = pb.pullInto(dst);
    assert.equal(i1, i2);
    assert.throws(() => pb.pullInto(new Float32Array(10)), PlayoutConfigError);
  });
});

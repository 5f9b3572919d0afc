// PlayoutBuffer profile 'mixer' (trim by frames): latency trimmed by whole packets with a fixed cross-fade, click-free, Opus state kept, splice where frames are not packets.
import assert from 'node:assert/strict';
import { PlayoutBuffer, PlayoutConfigError, frameTrimFadeSamples, type PlayoutOptions } from '../../runtime/audio/playout';
import { OpusDecoder, OpusEncoder } from '../../runtime/audio/opus';
import { findDiscontinuities } from '../../runtime/audio/analysis';
import { header, toneFrame, f32 } from './util';

const RATE = 48000;
const N = 480;
/** 440 Hz is 4.4 periods a frame: every dropped frame shifts the phase by 0.4 of a period, a click if not faded. */
const FREQ = 440;

function framesBuffer(over: Partial<PlayoutOptions> = {}): PlayoutBuffer {
  return new PlayoutBuffer({ sampleRate: RATE, channels: 1, frameSamples: N, targetDepthFrames: 2, adaptive: false, adaptWindowMs: 100, profile: 'mixer', ...over });
}

/** f32 mono packet k of a continuous 440 Hz tone. */
function tonePacket(k: number, samples = N): Buffer {
  return toneFrame(samples, 1, k * samples, FREQ, 0.5);
}

/** The rule: the first W samples of `next` faded in from `head`, as f32. */
function faded(head: Float32Array, next: Float32Array, W: number, C = 1): Float32Array {
  const out = Float32Array.from(next);
  for (let i = 0; i < W; i++) {
    const g = (i + 0.5) / W;
    for (let c = 0; c < C; c++) out[i * C + c] = head[i * C + c] * (1 - g) + next[i * C + c] * g;
  }
  return out;
}

interface Pulled { seq: number | null; concealed: boolean; pcm: Float32Array }

/**
 * 100 frames pulled while `send` keeps one packet coming per frame, after the target (2) and with bursts of 8 more
 * packets at frames 1 and 50 (as after stalls): each burst stands above the target for a window and is trimmed.
 * (Packets queued before play starts would be skipped at the start instead: the profile starts at the target.)
 */
function playWithBursts(pb: PlayoutBuffer, send: () => void): Pulled[] {
  send(); send();
  const out: Pulled[] = [];
  for (let i = 0; i < 100; i++) {
    const f = pb.pull();
    out.push({ seq: f.seq, concealed: f.concealed, pcm: f32(f.pcm) });
    if (i === 1 || i === 50) for (let b = 0; b < 8; b++) send();
    send();
  }
  return out;
}

describe('engine/playout trim: frames', () => {
  it('trims a standing excess by whole frames only: each trim skips whole packets and droppedSamples counts exactly those', () => {
    const pb = framesBuffer();
    let next = 0;
    const send = () => { pb.push(header(next, { codec: 'pcm_f32le' }), tonePacket(next), 0); next++; };
    const out = playWithBursts(pb, send);
    const st = pb.stats();
    assert.equal(st.misses, 0);
    assert.equal(st.droppedSamples % N, 0, `whole frames only (${st.droppedSamples} samples)`);
    let skipped = 0;
    let trims = 0;
    for (let i = 1; i < out.length; i++) {
      const d = (out[i].seq as number) - (out[i - 1].seq as number);
      assert.ok(d >= 1, `frame ${i}: seq ${out[i].seq} after ${out[i - 1].seq}`);
      if (d > 1) { trims++; skipped += d - 1; }
    }
    assert.ok(trims >= 2, `${trims} trims`);
    assert.equal(st.droppedSamples, skipped * N, 'droppedSamples = the packets the seqs skip, × 480');
    // The depth came down from 10 to the target of 2.
    assert.ok(st.depthFrames >= 2 && st.depthFrames < 3, String(st.depthFrames));
  });

  it('counts packets skipped at the start of play (the profile starts at the target) in droppedSamples but not in trimmedSamples; a later trim in both', () => {
    const pb = framesBuffer();
    let next = 0;
    const send = () => { pb.push(header(next, { codec: 'pcm_f32le' }), tonePacket(next), 0); next++; };
    // Six packets wait before the first pull: play starts at the target (2) and skips the oldest whole packets.
    for (let i = 0; i < 6; i++) send();
    const first = pb.pull();
    const skippedAtStart = first.seq as number;
    assert.ok(skippedAtStart >= 1, `play started past the oldest packets (first seq ${first.seq})`);
    let st = pb.stats();
    assert.deepEqual([st.droppedSamples, st.trimmedSamples], [skippedAtStart * N, 0]);
    // A burst of 8 stands above the target: the trims drop whole packets, counted in both.
    for (let i = 0; i < 8; i++) send();
    let last = first.seq as number;
    let skipped = 0;
    for (let i = 0; i < 60; i++) {
      const f = pb.pull();
      skipped += (f.seq as number) - last - 1;
      last = f.seq as number;
      send();
    }
    st = pb.stats();
    assert.ok(skipped >= 1, 'the burst was trimmed');
    assert.equal(st.trimmedSamples, skipped * N, 'trimmedSamples = the packets the trims skipped, × 480');
    assert.equal(st.droppedSamples, (skippedAtStart + skipped) * N);
  });

  it('fades the first dropped packet into the next played one over 5 ms (g = (i + ½)/W, f32) and leaves every other frame untouched: no click', () => {
    const pb = framesBuffer();
    let next = 0;
    const packets: Float32Array[] = [];
    const send = () => { const p = tonePacket(next); packets.push(f32(p)); pb.push(header(next, { codec: 'pcm_f32le' }), p, 0); next++; };
    const out = playWithBursts(pb, send);
    const W = frameTrimFadeSamples(RATE, N);
    assert.equal(W, 240);
    let trims = 0;
    for (let i = 0; i < out.length; i++) {
      const s = out[i].seq as number;
      const prev = i > 0 ? (out[i - 1].seq as number) : s - 1;
      const expected = s - prev > 1 ? faded(packets[prev + 1], packets[s], W) : packets[s];
      if (s - prev > 1) trims++;
      assert.ok(Buffer.from(out[i].pcm.buffer).equals(Buffer.from(expected.buffer)), `frame ${i} (seq ${s}, after ${prev}) is not the rule's`);
    }
    assert.ok(trims >= 2);
    const pcm = Float32Array.from(out.flatMap((f) => Array.from(f.pcm)));
    assert.deepEqual(findDiscontinuities(pcm, RATE, FREQ), []);
    // The same frames without the fade click at every trim: the check above can fail.
    const hard = Float32Array.from(out.flatMap((f) => Array.from(packets[f.seq as number])));
    assert.equal(findDiscontinuities(hard, RATE, FREQ).length, trims);
  });

  it('decodes the Opus packets it drops, so the frame after a trim comes out of a decoder that saw every packet in order', () => {
    const enc = new OpusEncoder({ sampleRate: RATE, channels: 2, frameSamples: N });
    const packets = Array.from({ length: 120 }, (_, k) => enc.encode(toneFrame(N, 2, k * N, FREQ, 0.5)));
    // Output stereo from a stereo stream; bursts of packets ahead, as after a stall.
    const pb = framesBuffer({ channels: 2 });
    let next = 0;
    const send = () => { pb.push(header(next, { codec: 'opus', channels: 2 }), packets[next], 0); next++; };
    const out = playWithBursts(pb, send);
    const dec = new OpusDecoder({ sampleRate: RATE, channels: 2 });
    // f32 as this process decodes it (libopus's float decoder, or @discordjs/opus's s16 scaled by 1/32768).
    const all = packets.slice(0, next).map((p) => {
      const b = dec.decode(p);
      return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
    });
    const W = frameTrimFadeSamples(RATE, N);
    let trims = 0;
    for (let i = 1; i < out.length; i++) {
      const s = out[i].seq as number;
      const prev = out[i - 1].seq as number;
      const expected = s - prev > 1 ? faded(all[prev + 1], all[s], W, 2) : all[s];
      if (s - prev > 1) trims++;
      assert.ok(Buffer.from(out[i].pcm.buffer).equals(Buffer.from(expected.buffer)), `frame ${i} (seq ${s}, after ${prev})`);
    }
    assert.ok(trims >= 2, `${trims} trims`);
    const st = pb.stats();
    assert.deepEqual([st.misses, st.droppedSamples % N, st.decodeErrors], [0, 0, 0]);
  });

  it('drops only packets that are here and followed by one that is: past maxDepthFrames it stops before a gap, which is then concealed once', () => {
    const pb = framesBuffer({ maxDepthFrames: 10 });
    for (let s = 0; s < 2; s++) pb.push(header(s, { codec: 'pcm_f32le' }), tonePacket(s), 0);
    assert.equal(pb.pull().seq, 0);
    for (let s = 2; s < 30; s++) if (s !== 12) pb.push(header(s, { codec: 'pcm_f32le' }), tonePacket(s), 0);
    // Depth 29 > 10: the trim asks for 27 frames but can drop only 1…10 (11 is the last packet before the gap).
    const a = pb.pull();
    assert.equal(a.seq, 11);
    assert.equal(pb.stats().droppedSamples, 10 * N);
    const b = pb.pull();
    assert.deepEqual([b.seq, b.concealed], [null, true]);
    // Still past maxDepthFrames: the next trim starts after the gap.
    const c = pb.pull();
    assert.ok((c.seq as number) > 13, String(c.seq));
    const st = pb.stats();
    assert.equal(st.droppedSamples % N, 0);
    assert.deepEqual([st.lost, st.misses], [1, 1]);
  });

  it('splices, as the default mode does, when packets are not one output frame long (20 ms packets, 10 ms frames)', () => {
    const pb = framesBuffer({ targetDepthFrames: 2 });
    let next = 0;
    const send = () => { pb.push(header(next, { codec: 'pcm_f32le', frameSamples: 2 * N }), tonePacket(next, 2 * N), 0); next++; };
    for (let i = 0; i < 6; i++) send();
    const out: Buffer[] = [];
    for (let i = 0; i < 100; i++) {
      out.push(pb.pull().pcm);
      if (i % 2 === 1) send();
    }
    const st = pb.stats();
    assert.ok(st.droppedSamples >= 4 * N, `trimmed (${st.droppedSamples})`);
    assert.equal(st.misses, 0);
    assert.deepEqual(findDiscontinuities(f32(Buffer.concat(out)), RATE, FREQ), []);
  });

  it('is a profile: listener (splice) by default, mixer on request; anything else, and the old option names, refused naming the field', () => {
    assert.equal(new PlayoutBuffer({ sampleRate: RATE, channels: 1, frameSamples: N }).profile, 'listener');
    assert.equal(framesBuffer().profile, 'mixer');
    assert.throws(() => framesBuffer({ profile: 'cut' as never }), (e: unknown) => e instanceof PlayoutConfigError && e.field === 'profile' && /cut/.test(e.message));
    for (const [field, value] of [['trim', 'frames'], ['trimExcess', 'all'], ['startAtTarget', true], ['resetThresholdFrames', 1000]] as const) {
      assert.throws(() => framesBuffer({ [field]: value } as never), (e: unknown) => e instanceof PlayoutConfigError && e.field === field && /no longer an option/.test(e.message), field);
    }
  });
});

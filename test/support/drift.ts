// Test and bench support: clock drift. A free-running sender whose sample clock is off by `ppm` sends a 440 Hz tone
// (PCM, one packet per 10 ms of its own clock) into the project's Mixer (runtime/audio/mixer.ts: each track's playout
// buffer in the 'mixer' profile, as the mixer node runs it), which ticks on a nominal clock. Time is simulated: the
// sender's packets and the mixer's ticks are events in µs, taken in time order, so a minute of drift takes a fraction
// of a second and a loaded machine cannot change the result. PTP is out of scope (issue 13): the playout buffer absorbs
// drift by trimming whole frames when the sender is fast and by concealment/rebuffering when it is slow — measured here.
import { Mixer, type TrackState } from '../../runtime/audio/mixer';
import { countDiscontinuities } from '../../runtime/audio/analysis';
import { prng } from '../protocol/helpers';

const RATE = 48000;
const N = 480;
const FRAME_US = 10_000;

export interface DriftOptions {
  /** Sender clock error, parts per million (+ fast: more samples per real second). */
  ppm: number;
  /** Simulated seconds of the mixer's clock. */
  seconds: number;
  /** Samples per packet (default 480: one mixer frame; the seed's streamer sends any size). */
  packetSamples?: number;
  /** Network jitter: each packet delayed by a uniform 0…jitterMs (seeded; default 2). */
  jitterMs?: number;
  /** The mixer node's jitter buffer settings (defaults: the preset's, 3 frames, adaptive, at most 50). */
  targetDepthFrames?: number;
  adaptive?: boolean;
  maxDepthFrames?: number;
}

export interface DriftResult {
  ppm: number;
  seconds: number;
  packetSamples: number;
  jitterMs: number;
  adaptive: boolean;
  targetDepthFrames: number;
  /** Samples per channel the drift adds (+) or owes (−) over the run: ppm × rate × seconds. */
  driftSamples: number;
  packetsSent: number;
  /** Whole-frame trims (latency trims of a fast sender), and their samples. */
  trims: number;
  trimmedSamples: number;
  /** All samples thrown away (trims plus the packets skipped when play starts at the target). */
  droppedSamples: number;
  /** Samples made up (a slow sender's buffer running dry), and the output frames that held some. */
  concealedSamples: number;
  misses: number;
  lost: number;
  late: number;
  /** Depth in frames sampled every 100 ms after the first second: min, max, mean, last; and the final target. */
  depth: { min: number; max: number; mean: number; last: number };
  finalTargetFrames: number;
  /** Breaks in the mixed tone (runtime/audio/analysis.ts countDiscontinuities): what a listener would hear. */
  artefacts: number;
  /** The same figures per minute. */
  perMinute: { trims: number; trimmedSamples: number; concealedSamples: number; misses: number; artefacts: number };
}

export function runDrift(o: DriftOptions): DriftResult {
  const jitterMs = o.jitterMs ?? 2;
  const adaptive = o.adaptive ?? true;
  const targetDepthFrames = o.targetDepthFrames ?? 3;
  const mixer = new Mixer({
    sampleRate: RATE, channels: 1, frameSamples: N, trackTimeoutMs: 60_000,
    playout: { targetDepthFrames, maxDepthFrames: o.maxDepthFrames ?? 50, adaptive, ...(adaptive ? {} : { adaptWindowMs: 250 }) },
  });
  const ticks = Math.round((o.seconds * 1e6) / FRAME_US);
  const out = new Float32Array(ticks * N);
  const rnd = prng(0x5eed0002);
  const P = o.packetSamples ?? N;
  // The sender's packet period in the mixer's time: P samples of its clock, (1 + ppm) fast.
  const periodUs = ((P * 1e6) / RATE) / (1 + o.ppm * 1e-6);
  const t0 = 500; // µs: the sender starts just after the mixer
  const pcm = (k: number): Buffer => {
    const b = Buffer.allocUnsafe(P * 4);
    for (let i = 0; i < P; i++) b.writeFloatLE(0.5 * Math.sin((2 * Math.PI * 440 * (k * P + i)) / RATE), 4 * i);
    return b;
  };
  // Arrivals in order (jitter may reorder neighbours, as a network does).
  const pending: Array<{ at: number; k: number }> = [];
  let nextK = 0;
  let sent = 0;
  const depths: number[] = [];
  let trims = 0;
  let lastTrimmed = 0;
  let st: TrackState | undefined;
  for (let n = 0; n < ticks; n++) {
    const tickAt = n * FRAME_US;
    while (t0 + nextK * periodUs <= tickAt) {
      pending.push({ at: t0 + nextK * periodUs + rnd() * jitterMs * 1000, k: nextK });
      nextK++;
    }
    pending.sort((a, b) => a.at - b.at);
    while (pending.length > 0 && pending[0].at <= tickAt) {
      const p = pending.shift()!;
      mixer.push('drifter', { seq: p.k >>> 0, codec: 'pcm_f32le', sampleRate: RATE, channels: 1, frameSamples: P, trackId: 0 }, pcm(p.k), p.at);
      sent++;
    }
    const r = mixer.tick(tickAt);
    out.set(new Float32Array(r.mix.buffer, r.mix.byteOffset, N), n * N);
    st = mixer.tracks(tickAt)[0];
    if (st) {
      if (st.trimmedSamples !== lastTrimmed) { trims++; lastTrimmed = st.trimmedSamples; }
      if (n >= 100 && n % 10 === 0) depths.push(st.depthFrames);
    }
  }
  const s = st!;
  const minutes = o.seconds / 60;
  const artefacts = countDiscontinuities(out, RATE, 440);
  const per = (x: number) => Number((x / minutes).toFixed(2));
  return {
    ppm: o.ppm, seconds: o.seconds, packetSamples: P, jitterMs, adaptive, targetDepthFrames,
    driftSamples: Math.round(o.ppm * 1e-6 * RATE * o.seconds),
    packetsSent: sent, trims, trimmedSamples: s.trimmedSamples, droppedSamples: s.droppedSamples,
    concealedSamples: s.concealedSamples, misses: s.misses, lost: s.lost, late: s.late,
    depth: {
      min: Math.min(...depths), max: Math.max(...depths),
      mean: Number((depths.reduce((a, b) => a + b, 0) / depths.length).toFixed(2)), last: depths[depths.length - 1],
    },
    finalTargetFrames: s.targetDepthFrames,
    artefacts,
    perMinute: { trims: per(trims), trimmedSamples: per(s.trimmedSamples), concealedSamples: per(s.concealedSamples), misses: per(s.misses), artefacts: per(artefacts) },
  };
}

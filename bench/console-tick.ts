// Bench (issue 12): what the operator console costs the mix tick — metering (per-track pre-fader peak and Σx², per-room
// post-master, a meter frame every 40 ms) and one monitor listener — side by side with the same tick without them.
//
// Two Mixers, fed the same packets at the same moments (the bench's Opus packets, or PCM f32 of the same length), one
// with metering and one monitor listener on, one with both off; each tick() timed on its own, the two alternated in
// both orders (A B, B A, …) so neither always runs first. Run as a child process pinned with taskset like the other
// references: `node dist/bench/console-tick.js PACKETS.json TRACKS TICKS opus|pcm` prints one JSON line.
import { Mixer } from '../runtime/audio/mixer';
import { streamKey } from '../runtime/audio/stream-key';
import { percentile } from '../runtime/percentile';
import { loadPacketSet, SAMPLE_RATE, CHANNELS } from './lib/packets';

export interface ConsoleTickResult {
  tracks: number;
  ticks: number;
  codec: 'opus' | 'pcm';
  /** µs per tick, console off (metering off, no monitor). */
  off: { p50: number; p99: number; mean: number };
  /** µs per tick with metering and one monitor listener (the room mix) on. */
  on: { p50: number; p99: number; mean: number };
  /** on / off, of the p50 and of the mean. */
  ratioP50: number;
  ratioMean: number;
  /** Meter frames made over the run (one every 4 ticks at 10 ms). */
  meterFrames: number;
  monitorFrames: number;
}

function stats(us: Float64Array): { p50: number; p99: number; mean: number } {
  const a = Array.from(us).sort((x, y) => x - y);
  let sum = 0;
  for (const v of a) sum += v;
  return { p50: percentile(a, 0.5), p99: percentile(a, 0.99), mean: sum / a.length };
}

export function runConsoleTick(packetsFile: string, tracks: number, ticks: number, codec: 'opus' | 'pcm'): ConsoleTickResult {
  const set = loadPacketSet(packetsFile);
  const loop = set.filler.packets;
  const fs = set.frameSamples;
  const opts = { sampleRate: SAMPLE_RATE, channels: CHANNELS, frameSamples: fs, playout: { targetDepthFrames: 1, adaptive: false } };
  const off = new Mixer(opts);
  const on = new Mixer(opts);
  on.setMetering(true);
  on.setMonitor('operator', { room: 'main', solo: [] });
  const users = Array.from({ length: tracks }, (_, i) => `s${i}`);
  // PCM: one f32 frame per track (a tone of its own), the same every tick; Opus: the bench's packets, rotated per track.
  const pcm = users.map((_, i) => {
    const f = new Float32Array(fs * CHANNELS);
    for (let j = 0; j < f.length; j++) f[j] = 0.1 * Math.sin((2 * Math.PI * (200 + 10 * i) * Math.floor(j / CHANNELS)) / SAMPLE_RATE);
    return Buffer.from(f.buffer);
  });
  const headers = users.map(() => ({ seq: 0, codec: codec === 'opus' ? ('opus' as const) : ('pcm_f32le' as const), sampleRate: SAMPLE_RATE, channels: CHANNELS, frameSamples: fs, trackId: 1 }));
  const frameUs = (fs * 1e6) / SAMPLE_RATE;
  const t0 = Date.now() * 1000;
  const warm = Math.min(200, Math.floor(ticks / 5));
  const usOff = new Float64Array(ticks);
  const usOn = new Float64Array(ticks);
  let meterFrames = 0;
  let monitorFrames = 0;
  const timed = (m: Mixer, now: number): number => {
    const a = process.hrtime.bigint();
    const r = m.tick(now);
    const us = Number(process.hrtime.bigint() - a) / 1000;
    if (r.meters) meterFrames++;
    if (r.monitors) monitorFrames += r.monitors.length;
    return us;
  };
  for (let k = -warm; k < ticks; k++) {
    const now = t0 + (k + warm) * frameUs;
    for (let i = 0; i < tracks; i++) {
      const h = headers[i];
      h.seq = k + warm;
      const data = codec === 'opus' ? loop[(k + warm + i * 37) % loop.length] : pcm[i];
      off.push(users[i], h, data, now, `c${i}`);
      on.push(users[i], h, data, now, `c${i}`);
    }
    let a: number, b: number;
    if ((k & 1) === 0) { a = timed(off, now); b = timed(on, now); } else { b = timed(on, now); a = timed(off, now); }
    if (k >= 0) { usOff[k] = a; usOn[k] = b; }
  }
  if (layoutTracks(on) !== tracks) throw new Error('console-tick: the tracks did not all play');
  const so = stats(usOff);
  const sn = stats(usOn);
  return { tracks, ticks, codec, off: so, on: sn, ratioP50: sn.p50 / so.p50, ratioMean: sn.mean / so.mean, meterFrames, monitorFrames };
}

/** Tracks of the mixer's meter layout (all of them should be there). */
function layoutTracks(m: Mixer): number {
  const l = m.meterLayout();
  if (l.tracks.length > 0 && l.tracks[0].key !== streamKey({ userId: 's0', trackId: 1, connectionId: 'c0' })) throw new Error('console-tick: unexpected track order');
  return l.tracks.length;
}

if (require.main === module) {
  const [file, tracks, ticks, codec] = process.argv.slice(2);
  const r = runConsoleTick(file, Number(tracks), Number(ticks), codec === 'pcm' ? 'pcm' : 'opus');
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

// Bench aid: what one mix tick allocates on the mix thread (the Mixer alone, in this process), per tick, by stack —
// `node dist/bench/mix-alloc.js TRACKS TICKS OUT.heapprofile` then `node dist/bench/alloc-summary.js OUT`.
import fs from 'node:fs';
import inspector from 'node:inspector';
import { Mixer } from '../runtime/audio/mixer';
import { makePacketSet, SAMPLE_RATE, CHANNELS } from './lib/packets';

const [tracksS, ticksS, out] = process.argv.slice(2);
const tracks = Number(tracksS);
const ticks = Number(ticksS);
const set = makePacketSet(480);
const loop = set.filler.packets;
const fsz = set.frameSamples;
const m = new Mixer({ sampleRate: SAMPLE_RATE, channels: CHANNELS, frameSamples: fsz, playout: { targetDepthFrames: 1, adaptive: false } });
const users = Array.from({ length: tracks }, (_, i) => `s${i}`);
const headers = users.map(() => ({ seq: 0, codec: 'opus' as const, sampleRate: SAMPLE_RATE, channels: CHANNELS, frameSamples: fsz, trackId: 1 }));
const frameUs = (fsz * 1e6) / SAMPLE_RATE;
const t0 = Date.now() * 1000;
const step = (k: number) => {
  const now = t0 + k * frameUs;
  for (let i = 0; i < tracks; i++) {
    headers[i].seq = k;
    m.push(users[i], headers[i], loop[(k + i * 37) % loop.length], now, `c${i}`);
  }
  if (k % 10 === 9) m.tracks();
  return m.tick(now);
};
for (let k = 0; k < 300; k++) step(k);
if (out === '-') {
  // Timing only (no sampling): µs per tick, and this isolate's GCs over the run.
  let gcs = 0;
  let gcMs = 0;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { PerformanceObserver } = require('node:perf_hooks') as typeof import('node:perf_hooks');
  const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) { gcs++; gcMs += e.duration; } });
  obs.observe({ entryTypes: ['gc'] });
  const a = process.hrtime.bigint();
  for (let k = 300; k < 300 + ticks; k++) step(k);
  const us = Number(process.hrtime.bigint() - a) / 1000 / ticks;
  setImmediate(() => {
    obs.disconnect();
    process.stdout.write(`${tracks} tracks, ${ticks} ticks: ${us.toFixed(0)} µs per tick; ${gcs} GCs, ${gcMs.toFixed(0)} ms\n`);
    process.exit(0);
  });
} else {
const s = new inspector.Session();
s.connect();
s.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never, () => {
  const a = process.hrtime.bigint();
  for (let k = 300; k < 300 + ticks; k++) step(k);
  const us = Number(process.hrtime.bigint() - a) / 1000 / ticks;
  s.post('HeapProfiler.stopSampling', (err, r) => {
    if (err) throw err;
    fs.writeFileSync(out, JSON.stringify((r as { profile: unknown }).profile));
    process.stdout.write(`${tracks} tracks, ${ticks} ticks, ${us.toFixed(0)} µs per tick (sampling on)\n`);
  });
});
}

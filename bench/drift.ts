// Bench (issue 13): clock drift. PTP is out of scope: a sender is free-running, its sample clock off by some ppm from
// the mixer's, and each track's playout buffer absorbs the difference. This measures how (test/support/drift.ts: the
// project's Mixer on simulated time, a 440 Hz tone from a sender at +100, −100, +500, −500, +1000, −1000 ppm, 2 ms of
// network jitter): whole-frame trims and concealed frames per minute, the depth, and the breaks a listener would hear,
// for the preset's jitter buffer (3 frames, adaptive) and a fixed one (3 frames). Deterministic: no machine load in it.
// `node dist/bench/drift.js [SECONDS]` (default 300 simulated seconds per case) prints the table and writes
// bench/results/drift.json; `npm run bench` runs it as the stage "drift".
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runDrift, type DriftResult } from '../test/support/drift';

export const DRIFT_PPM = [100, -100, 500, -500, 1000, -1000];

export function driftFigures(seconds = 300): DriftResult[] {
  const out: DriftResult[] = [];
  for (const adaptive of [true, false]) for (const ppm of DRIFT_PPM) out.push(runDrift({ ppm, seconds, adaptive }));
  // Packets that are not one mixer frame (the seed's streamer sends any --chunk-size-ms; RTP senders 1…20 ms).
  for (const packetSamples of [240, 960]) for (const ppm of [500, -500]) out.push(runDrift({ ppm, seconds, adaptive: true, packetSamples }));
  return out;
}

/** The table of docs/performance.md's "Clock drift". */
export function driftTable(rows: DriftResult[]): string {
  const lines = [
    '| sender clock | packets | jitter buffer | trims / min (samples / min) | concealed frames / min | audible breaks / min | depth after a tick, frames (min–max, mean) | target at the end |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const d = (x: number) => Number(x.toFixed(2));
    lines.push(`| ${r.ppm > 0 ? '+' : ''}${r.ppm} ppm | ${(r.packetSamples / 48).toFixed(0)} ms | ${r.adaptive ? 'adaptive, 3 frames (preset)' : 'fixed, 3 frames'} | ${r.perMinute.trims} (${Math.round(r.perMinute.trimmedSamples)}) | ${(r.perMinute.concealedSamples / 480).toFixed(2)} | ${r.perMinute.artefacts} | ${d(r.depth.min)}–${d(r.depth.max)}, ${r.depth.mean} | ${r.finalTargetFrames} |`);
  }
  return lines.join('\n');
}

if (require.main === module) {
  const seconds = Number(process.argv[2] ?? 300);
  const t = Date.now();
  const rows = driftFigures(seconds);
  console.log(driftTable(rows));
  console.log(`(${rows.length} cases of ${seconds} simulated seconds in ${((Date.now() - t) / 1000).toFixed(1)} s)`);
  const file = path.join(__dirname, '..', '..', 'bench', 'results', 'drift.json');
  fs.writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model }, seconds, rows }, null, 2)}\n`);
}

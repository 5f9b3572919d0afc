// The fuzzing loop: seeded, reproducible inputs spread over the targets by weight, each checked for the target's
// allowed error classes, time per input (no hang) and memory (bounded). A failure names the seed, target and input
// index (to run that one input again) and writes the input to a file, with its hex in the message.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hex, inputSeed, Rng } from './prng';
import type { Target } from './targets';

/**
 * A defect already found and reported, that the owner is fixing: inputs that hit it are counted (with the first one
 * for a reproduction) and the run goes on, so one known defect does not hide the next. `npm run fuzz` still exits 1
 * when any was hit; the list in known-defects.ts shrinks as the fixes are merged.
 */
export interface KnownDefect {
  id: string;
  owner: string;
  description: string;
  /** Whether this failure of this target is this defect. */
  matches(target: string, err: unknown): boolean;
}

export interface KnownHit { id: string; owner: string; description: string; count: number; first: { target: string; index: number; bytes: number; file: string } }

export interface FuzzOptions {
  /** Known defects (counted, not failures). */
  known?: readonly KnownDefect[];
  seed: number;
  targets: readonly Target[];
  /** Stop after this many inputs in all… */
  iterations?: number;
  /** …or after this many seconds, whichever comes first. */
  seconds?: number;
  /** Run only input `index` of the first target (reproduce a failure). */
  only?: number;
  /** An input taking longer than this is a failure (a hang in the making); default 2000 ms. */
  slowMs?: number;
  /** RSS may grow this much above its value after warm-up; default 768 MiB. */
  maxRssGrowthMb?: number;
  onProgress?: (done: number, elapsedS: number) => void;
}

export interface TargetReport {
  name: string;
  inputs: number;
  accepted: number;
  rejected: number;
  /** Refusals by error code (or class name). */
  byCode: Record<string, number>;
  slowestMs: number;
}

export interface FuzzReport {
  seed: number;
  inputs: number;
  seconds: number;
  inputsPerSecond: number;
  rssStartMb: number;
  rssMaxMb: number;
  targets: TargetReport[];
  known: KnownHit[];
}

export class FuzzFailure extends Error {
  override name = 'FuzzFailure';
  constructor(message: string, readonly target: string, readonly seed: number, readonly index: number, readonly input: Buffer, readonly file: string, readonly reason: unknown) {
    super(message);
  }
}

const mb = (n: number) => Math.round(n / 1048576);

export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const slowMs = o.slowMs ?? 2000;
  const maxGrowth = (o.maxRssGrowthMb ?? 768) * 1048576;
  const reports: TargetReport[] = o.targets.map((t) => ({ name: t.name, inputs: 0, accepted: 0, rejected: 0, byCode: {}, slowestMs: 0 }));
  // A schedule of target indexes in proportion to their weights (at least one slot each).
  const minW = Math.min(...o.targets.map((t) => t.weight));
  const schedule: number[] = [];
  o.targets.forEach((t, i) => { for (let k = 0; k < Math.max(1, Math.round(t.weight / minW)); k++) schedule.push(i); });
  const start = process.hrtime.bigint();
  const deadline = o.seconds !== undefined ? Date.now() + o.seconds * 1000 : Infinity;
  const limit = o.only !== undefined ? 1 : o.iterations ?? Infinity;
  let rssStart = process.memoryUsage.rss();
  let rssMax = rssStart;
  let done = 0;
  const known = new Map<string, KnownHit>();
  for (let n = 0; n < limit; n++) {
    if ((n & 255) === 0) {
      if (Date.now() >= deadline) break;
      const rss = process.memoryUsage.rss();
      if (n === 4096) rssStart = rss;            // after warm-up (decoders, registries, JIT)
      rssMax = Math.max(rssMax, rss);
      if (n > 4096 && rss - rssStart > maxGrowth) throw new Error(`fuzz: RSS grew from ${mb(rssStart)} to ${mb(rss)} MiB after ${n} inputs (seed ${o.seed})`);
      if ((n & 0xffff) === 0 && n) o.onProgress?.(n, Number(process.hrtime.bigint() - start) / 1e9);
      // Let timers and I/O run (the event-file target is asynchronous anyway).
      if ((n & 4095) === 0) await new Promise((r) => setImmediate(r));
    }
    const ti = o.only !== undefined ? 0 : schedule[n % schedule.length];
    const t = o.targets[ti];
    const r = reports[ti];
    const index = o.only ?? r.inputs;
    const rng = new Rng(inputSeed(o.seed, ti, index));
    let input: Buffer = Buffer.alloc(0);
    let t0 = process.hrtime.bigint();
    try {
      input = t.gen(rng);
      t0 = process.hrtime.bigint();
      const p = t.run(input, rng);
      if (p) await p;
      r.accepted++;
    } catch (err) {
      if (t.allowed.some((c) => err instanceof c)) {
        r.rejected++;
        const code = String((err as { code?: unknown }).code ?? (err as Error).name);
        r.byCode[code] = (r.byCode[code] ?? 0) + 1;
      } else {
        const k = o.known?.find((d) => d.matches(t.name, err));
        if (!k) throw failure(o.seed, t, ti, index, input, err);
        let hit = known.get(k.id);
        if (!hit) {
          const f = failure(o.seed, t, ti, index, input, err);
          hit = { id: k.id, owner: k.owner, description: k.description, count: 0, first: { target: t.name, index, bytes: input.length, file: f.file } };
          known.set(k.id, hit);
        }
        hit.count++;
        r.byCode[`KNOWN ${k.id}`] = (r.byCode[`KNOWN ${k.id}`] ?? 0) + 1;
      }
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (ms > r.slowestMs) r.slowestMs = ms;
    if (ms > slowMs) throw failure(o.seed, t, ti, index, input, new Error(`input took ${ms.toFixed(0)} ms (limit ${slowMs} ms)`));
    r.inputs++;
    done++;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return {
    seed: o.seed, inputs: done, seconds, inputsPerSecond: Math.round(done / seconds),
    rssStartMb: mb(rssStart), rssMaxMb: mb(Math.max(rssMax, process.memoryUsage.rss())), targets: reports,
    known: [...known.values()],
  };
}

function failure(seed: number, t: Target, ti: number, index: number, input: Buffer, err: unknown): FuzzFailure {
  const dir = path.join(os.tmpdir(), 'xcast-fuzz-failures');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${t.name}-seed${seed}-input${index}.bin`);
  fs.writeFileSync(file, input);
  const e = err as Error;
  const msg = [
    `fuzz target "${t.name}" failed on input ${index} (seed ${seed}): ${e?.name}: ${e?.message}`,
    `  reproduce: npm run fuzz -- --seed ${seed} --target ${t.name} --index ${index}`,
    `  input (${input.length} bytes, saved to ${file}): ${hex(input)}`,
    `  stack: ${String(e?.stack ?? e).split('\n').slice(0, 8).join('\n    ')}`,
  ].join('\n');
  void ti;
  return new FuzzFailure(msg, t.name, seed, index, input, file, err);
}

/** A table of the report, for the console and the README. */
export function formatReport(r: FuzzReport): string {
  const lines = [
    `fuzz: seed ${r.seed}, ${r.inputs.toLocaleString('en-US')} inputs in ${r.seconds.toFixed(1)} s (${r.inputsPerSecond.toLocaleString('en-US')}/s), RSS ${r.rssStartMb} → max ${r.rssMaxMb} MiB`,
    `  ${'target'.padEnd(14)}${'inputs'.padStart(10)}${'accepted'.padStart(10)}${'refused'.padStart(10)}${'slowest ms'.padStart(12)}  refusals by code`,
  ];
  for (const t of r.targets) {
    const codes = Object.entries(t.byCode).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
    lines.push(`  ${t.name.padEnd(14)}${String(t.inputs).padStart(10)}${String(t.accepted).padStart(10)}${String(t.rejected).padStart(10)}${t.slowestMs.toFixed(1).padStart(12)}  ${codes}`);
  }
  for (const k of r.known) {
    lines.push(`  KNOWN DEFECT ${k.id} (${k.owner}): ${k.count} inputs — ${k.description}`);
    lines.push(`    first: npm run fuzz -- --seed ${r.seed} --target ${k.first.target} --index ${k.first.index} (${k.first.bytes} bytes, ${k.first.file})`);
  }
  return lines.join('\n');
}

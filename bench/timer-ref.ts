// Bench reference: tick lateness of a plain setTimeout frame loop (deadline-compensated, as a careful Node program would write it), measured on the same core in the same run.
//
// `node dist/bench/timer-ref.js PERIOD_MS SECONDS` prints one JSON line { p50Ms, p99Ms, maxMs, cpu }.
import { performance } from 'node:perf_hooks';
import { percentile } from '../runtime/percentile';

function run(periodMs: number, seconds: number): void {
  const lat: number[] = [];
  const anchor = performance.now();
  let k = 1;
  const cpu0 = process.cpuUsage();
  const end = anchor + seconds * 1000;
  const loop = () => {
    const now = performance.now();
    const deadline = anchor + k * periodMs;
    lat.push(now - deadline);
    while (anchor + k * periodMs <= now) k++;
    if (now >= end) {
      const cpu = process.cpuUsage(cpu0);
      lat.sort((a, b) => a - b);
      const pct = (p: number) => percentile(lat, p);
      process.stdout.write(`${JSON.stringify({ p50Ms: pct(0.5), p99Ms: pct(0.99), maxMs: lat[lat.length - 1], ticks: lat.length, cpu: (cpu.user + cpu.system) / 1e6 / seconds })}\n`);
      return;
    }
    setTimeout(loop, Math.max(0, anchor + k * periodMs - performance.now()));
  };
  setTimeout(loop, periodMs);
}

const [period, seconds] = process.argv.slice(2).map(Number);
run(period || 10, seconds || 4);

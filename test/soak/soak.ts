// `npm run soak [-- --minutes 10 --peers 50 --churn 1 --warmup-minutes M]`: the soak (run-soak.ts); prints the figures and writes bench/results/soak.json.
import fs from 'node:fs';
import path from 'node:path';
import { formatSoakReport, runSoak, soakProblems } from './run-soak';
import { PACKAGE_ROOT } from '../../runtime/launcher';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

async function main(): Promise<number> {
  const minutes = arg('minutes', 10);
  const peers = arg('peers', 50);
  console.log(`soak: ${peers} peers, ${minutes} min, one leaves and one joins every second`);
  const warm = process.argv.indexOf('--warmup-minutes');
  const r = await runSoak({ minutes, peers, churnPerSecond: arg('churn', 1), warmupMinutes: warm >= 0 ? Number(process.argv[warm + 1]) : undefined });
  console.log(formatSoakReport(r));
  const problems = soakProblems(r);
  const out = path.join(PACKAGE_ROOT, 'bench', 'results', 'soak.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ at: new Date().toISOString(), node: process.version, ...r, problems }, null, 2) + '\n');
  console.log(`wrote ${path.relative(process.cwd(), out)}`);
  if (problems.length) { console.error(problems.join('\n')); return 1; }
  return 0;
}

main().then((c) => process.exit(c), (err) => { console.error(err); process.exit(1); });

// Bench tool: summarises a V8 .cpuprofile (from `npm run bench -- --profile`) as self time by function and by source area.
//
// `node dist/bench/profile-summary.js FILE.cpuprofile [TOP]` prints two tables: the functions with the most self
// time, and self time grouped by where the code lives (xcast runtime/nodes, Node-RED, Node core, native/GC, idle).
import fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export function area(url: string, fn: string): string {
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)') return 'native (program)';
  if (!url) return `native: ${fn || '(anonymous)'}`;
  const m = /\/(runtime|nodes|bench)\/(.*?)\.js$/.exec(url);
  if (m && !url.includes('node_modules')) return `xcast ${m[1]}/${m[2]}`;
  if (url.includes('@node-red') || url.includes('node-red/')) return 'Node-RED';
  if (url.includes('node_modules')) return `npm: ${/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? url}`;
  if (url.startsWith('node:')) return `node core: ${url.slice(5).split('/')[0]}`;
  return url;
}

export function summarise(file: string, top = 25): string {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const total = p.endTime - p.startTime;
  const fnTime = new Map<string, number>();
  const areaTime = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const f = n.callFrame;
    const name = `${f.functionName || '(anonymous)'} ${f.url ? `${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : ''}`;
    fnTime.set(name, (fnTime.get(name) ?? 0) + us);
    const a = area(f.url, f.functionName);
    areaTime.set(a, (areaTime.get(a) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
  const lines = [`profile ${file}: ${(total / 1e6).toFixed(1)} s`, '', 'self time by area:'];
  for (const [a, us] of [...areaTime].sort((x, y) => y[1] - x[1]).slice(0, top)) lines.push(`  ${pct(us)}  ${a}`);
  lines.push('', 'self time by function:');
  for (const [f, us] of [...fnTime].sort((x, y) => y[1] - x[1]).slice(0, top)) lines.push(`  ${pct(us)}  ${f}`);
  return lines.join('\n');
}

if (require.main === module) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node dist/bench/profile-summary.js FILE.cpuprofile [TOP]\n');
    process.exit(2);
  }
  process.stdout.write(`${summarise(file, Number(top ?? 25))}\n`);
}

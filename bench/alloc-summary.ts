// Summarises a sampling heap profile (bench host's BENCH_ALLOC_PROFILE): bytes allocated by function, self and with callees.
import fs from 'node:fs';

interface PNode { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: PNode[] }

const file = process.argv[2];
const seconds = Number(process.argv[3] ?? 0);
const root = (JSON.parse(fs.readFileSync(file, 'utf8')) as { head: PNode }).head;
const self = new Map<string, number>();
const total = new Map<string, number>();
let all = 0;
function walk(n: PNode, stack: Set<string>): number {
  const f = n.callFrame;
  const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/.*\/(node_modules|dist)\//, '$1/')}:${f.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + n.selfSize);
  all += n.selfSize;
  let sum = n.selfSize;
  const inner = new Set(stack).add(key);
  for (const c of n.children) sum += walk(c, inner);
  if (!stack.has(key)) total.set(key, (total.get(key) ?? 0) + sum);
  return sum;
}
walk(root, new Set());
const mb = (b: number) => (b / 1048576).toFixed(1).padStart(7) + ' MB' + (seconds ? ` ${(b / 1048576 / seconds).toFixed(2).padStart(6)} MB/s` : '');
console.log(`allocated (sampled) ${mb(all)}`);
console.log('--- self');
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(mb(v), k);
console.log('--- with callees');
for (const [k, v] of [...total].sort((a, b) => b[1] - a[1]).slice(0, 35)) console.log(mb(v), k);

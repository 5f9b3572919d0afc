// Preset and example flows are well formed: Node-RED 4.1 takes a flow node without x/y for a config node.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../runtime/launcher';

const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8'));
const nodeFiles: Record<string, string> = pkg['node-red'].nodes;
const files = [
  ...fs.readdirSync(path.join(PACKAGE_ROOT, 'flows')).filter((f) => f.endsWith('.json')).map((f) => path.join('flows', f)),
  ...fs.readdirSync(path.join(PACKAGE_ROOT, 'examples')).filter((f) => f.endsWith('.json')).map((f) => path.join('examples', f)),
];

/** Output count a node type declares in its editor file. */
function outputsOf(type: string): number {
  const js = nodeFiles[type];
  const html = fs.readFileSync(path.join(PACKAGE_ROOT, js.replace(/^dist\//, '').replace(/\.js$/, '.html')), 'utf8');
  const at = html.search(new RegExp(`registerType\\(\\s*['"]${type}['"]`));
  assert.ok(at >= 0, `${type}: registerType not found in its editor file`);
  const block = html.slice(at);
  const m = /outputs\s*:\s*(\d+)/.exec(block);
  assert.ok(m, `${type}: outputs not found in its editor file`);
  return Number(m[1]);
}

describe('preset and example flows', () => {
  it('every node type the package declares has an editor file and help text', () => {
    for (const [type, js] of Object.entries(nodeFiles)) {
      const base = js.replace(/^dist\//, '').replace(/\.js$/, '');
      assert.ok(fs.existsSync(path.join(PACKAGE_ROOT, `${base}.ts`)), `${type}: ${base}.ts`);
      assert.ok(fs.existsSync(path.join(PACKAGE_ROOT, `${base}.html`)), `${type}: ${base}.html`);
      const help = path.join(PACKAGE_ROOT, path.dirname(base), 'locales', 'en-US', `${path.basename(base)}.html`);
      assert.ok(fs.existsSync(help), `${type}: help ${help}`);
    }
  });
  for (const f of files) {
    it(`${f}: every node has x, y and a tab; wires point at nodes; output counts match the node types`, () => {
      const nodes = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, f), 'utf8')) as Array<Record<string, any>>;
      assert.ok(Array.isArray(nodes) && nodes.length > 0);
      const ids = new Set(nodes.map((n) => n.id));
      assert.equal(ids.size, nodes.length, 'ids are unique');
      const tabs = new Set(nodes.filter((n) => n.type === 'tab').map((n) => n.id));
      assert.ok(tabs.size >= 1, 'has a tab');
      for (const n of nodes) {
        if (n.type === 'tab') continue;
        assert.ok(typeof n.x === 'number' && typeof n.y === 'number', `${n.id} (${n.type}) has x and y`);
        assert.ok(tabs.has(n.z), `${n.id} (${n.type}) sits on a tab of this file`);
        for (const port of n.wires ?? []) for (const w of port) assert.ok(ids.has(w), `${n.id} wires to missing ${w}`);
        if (n.type in nodeFiles) assert.equal((n.wires ?? []).length, outputsOf(n.type), `${n.id} (${n.type}) wires one array per output`);
      }
    });
  }
});

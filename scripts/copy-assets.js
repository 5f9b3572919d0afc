// Copies each node's editor file (.html), locales and icons beside its compiled .js, where Node-RED looks for them.
//
// Node-RED gives each node set a namespace of its own for RED._(), holding only that node's catalog
// (locales/<lang>/<node>.json); the messages every node shares (nodes/lib/locales/<lang>/xcast.json: refusals,
// endpoint status) are merged into each node's catalog here, under their own top-level key "xcast".
'use strict';
const fs = require('fs');
const path = require('path');
const root = path.resolve(__dirname, '..');
function copyTree(src, dst) {
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, e.name), d = path.join(dst, e.name);
    if (e.isDirectory()) copyTree(s, d);
    else if (!e.name.endsWith('.ts')) { fs.mkdirSync(dst, { recursive: true }); fs.copyFileSync(s, d); }
  }
}
if (fs.existsSync(path.join(root, 'nodes'))) copyTree(path.join(root, 'nodes'), path.join(root, 'dist', 'nodes'));
const shared = path.join(root, 'nodes', 'lib', 'locales');
if (fs.existsSync(shared)) {
  for (const lang of fs.readdirSync(shared)) {
    const common = JSON.parse(fs.readFileSync(path.join(shared, lang, 'xcast.json'), 'utf8'));
    for (const node of fs.readdirSync(path.join(root, 'nodes'))) {
      const file = path.join(root, 'dist', 'nodes', node, 'locales', lang, `${node}.json`);
      if (node === 'lib' || !fs.existsSync(file)) continue;
      const catalog = JSON.parse(fs.readFileSync(file, 'utf8'));
      if (catalog.xcast) throw new Error(`${file}: "xcast" is the shared section (nodes/lib/locales), not the node's`);
      fs.writeFileSync(file, JSON.stringify({ ...catalog, ...common }, null, 2) + '\n');
    }
  }
}
if (fs.existsSync(path.join(root, 'runtime', 'web'))) copyTree(path.join(root, 'runtime', 'web'), path.join(root, 'dist', 'runtime', 'web'));

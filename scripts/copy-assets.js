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

// A line `<!-- xcast:include PART key=value ... -->` in a node's editor or help file is replaced by nodes/lib/PART
// (its leading comment dropped, each {{key}} filled in): what several nodes' dialogs share is written once.
const INCLUDE = /^[ \t]*<!-- xcast:include (\S+)((?: [A-Za-z]+=\S+)*) -->[ \t]*$/gm;
function expandIncludes(file) {
  const text = fs.readFileSync(file, 'utf8');
  if (!text.includes('xcast:include')) return;
  const out = text.replace(INCLUDE, (_, part, args) => {
    const src = path.join(root, 'nodes', 'lib', part);
    if (!fs.existsSync(src)) throw new Error(`${file}: xcast:include ${part}: no nodes/lib/${part}`);
    const vars = Object.fromEntries(args.trim().split(/ +/).filter(Boolean).map((a) => a.split('=')));
    const body = fs.readFileSync(src, 'utf8').replace(/^<!--[\s\S]*?-->\n/, '').replace(/\n$/, '');
    return body.replace(/\{\{(\w+)\}\}/g, (m, k) => {
      if (!(k in vars)) throw new Error(`${file}: xcast:include ${part} needs ${k}=…`);
      return vars[k];
    });
  });
  if (out.includes('xcast:include')) throw new Error(`${file}: an xcast:include line not understood`);
  fs.writeFileSync(file, out);
}
const distNodes = path.join(root, 'dist', 'nodes');
if (fs.existsSync(distNodes)) {
  for (const node of fs.readdirSync(distNodes)) {
    if (node === 'lib') continue;
    const dir = path.join(distNodes, node);
    const files = [path.join(dir, `${node}.html`)];
    const locales = path.join(dir, 'locales');
    if (fs.existsSync(locales)) for (const lang of fs.readdirSync(locales)) files.push(path.join(locales, lang, `${node}.html`));
    for (const f of files) if (fs.existsSync(f)) expandIncludes(f);
  }
}
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

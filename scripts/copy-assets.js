// Copies each node's editor file (.html), locales and icons beside its compiled .js, where Node-RED looks for them.
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
if (fs.existsSync(path.join(root, 'runtime', 'web'))) copyTree(path.join(root, 'runtime', 'web'), path.join(root, 'dist', 'runtime', 'web'));

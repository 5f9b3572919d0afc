// Builds native/ (xcast_opus: libopus's float decoder for the mix thread, see native/opus_float.c) with node-gyp
// against the system's libopus (Debian libopus-dev, installed by scripts/setup-system.sh). Part of `npm run build`.
// Without libopus-dev or a compiler it says so and the build goes on: the decoders then use @discordjs/opus
// (runtime/audio/opus-float.ts says which is in use).
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const dir = path.join(__dirname, '..', 'native');
const out = path.join(dir, 'build', 'Release', 'xcast_opus.node');
const sources = ['opus_float.c', 'binding.gyp'].map((f) => path.join(dir, f));
const newest = Math.max(...sources.map((f) => fs.statSync(f).mtimeMs));
if (fs.existsSync(out) && fs.statSync(out).mtimeMs >= newest) process.exit(0);

function nodeGyp() {
  const cands = [process.env.npm_config_node_gyp, path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')];
  try { cands.push(require.resolve('node-gyp/bin/node-gyp.js')); } catch { /* not a dependency */ }
  return cands.find((c) => c && fs.existsSync(c));
}
const gyp = nodeGyp();
if (!gyp) {
  console.warn('build-native: node-gyp not found; the Opus decoders use @discordjs/opus');
  process.exit(0);
}
// Node's own headers where the machine has them (no download: the network may be closed).
const nodedir = process.env.npm_config_nodedir || (fs.existsSync('/usr/include/node/node_api.h') ? '/usr' : '');
const args = [gyp, 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8' });
if (r.status !== 0) {
  const why = `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').filter((l) => /error|not found|No such/i.test(l)).slice(0, 6).join('\n');
  console.warn(`build-native: native/ did not build (libopus-dev missing?); the Opus decoders use @discordjs/opus\n${why}`);
  process.exit(0);
}
console.log(`build-native: ${path.relative(process.cwd(), out)}`);

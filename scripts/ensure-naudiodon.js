// Before the tests: builds naudiodon when `npm install` ran before libasound2-dev was there (it is optional, so npm left it out).
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');

/** naudiodon's folder, or undefined when npm did not install it. */
function naudiodonDir() {
  try {
    return path.dirname(require.resolve('naudiodon/package.json', { paths: [root] }));
  } catch {
    return undefined;
  }
}

const built = (dir) => !!dir && fs.existsSync(path.join(dir, 'build', 'Release', 'naudiodon.node'));

let dir = naudiodonDir();
if (built(dir)) process.exit(0);

// Present but unbuilt: rebuild it; absent: install what the lock file lists (naudiodon is the missing part).
const args = dir ? ['rebuild', 'naudiodon'] : ['install', '--no-audit', '--no-fund'];
console.log(`ensure-naudiodon: naudiodon is ${dir ? 'not built' : 'not installed'} (npm install ran without libasound2-dev?): npm ${args.join(' ')}`);
const r = spawnSync('npm', args, { cwd: root, stdio: 'inherit' });
dir = naudiodonDir();
if (r.status !== 0 || !built(dir)) {
  console.error(`ensure-naudiodon: naudiodon still does not build; the sound-device tests need it. Check that libasound2-dev is installed (sh scripts/setup-system.sh), then: npm ${args.join(' ')}`);
  process.exit(1);
}

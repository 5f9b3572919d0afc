// scripts/setup-system.sh (npm test's pretest, .ci/run): does nothing without network when all is installed; unprivileged, prints the one command to run and stops.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../runtime/launcher';

const SCRIPT = path.join(PACKAGE_ROOT, 'scripts', 'setup-system.sh');
const isRoot = process.getuid?.() === 0;
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

describe('scripts/setup-system.sh', function () {
  this.timeout(30000);
  before(function () {
    if (!has('dpkg-query')) this.skip(); // not a Debian system: the script says so and stops
  });

  it('with every package installed it does nothing, and needs no network (run in a network namespace of its own when root)', () => {
    // dpkg and coreutils are installed on every Debian system.
    const argv = ['sh', SCRIPT, 'dpkg', 'coreutils'];
    const cmd = isRoot && has('unshare') ? ['unshare', '--net', ...argv] : argv;
    const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.stdout, 'setup-system: all packages present\n');
    assert.equal(r.stderr, '');
  });

  it('unprivileged and without sudo, a missing package stops it at once with the one command to run', function () {
    // As root, drop to nobody (no sudo rights); as another user, run as that user unless it has passwordless sudo.
    const argv = ['sh', SCRIPT, 'coreutils', 'xcast-no-such-package'];
    let cmd = argv;
    if (isRoot) {
      if (!has('setpriv')) this.skip();
      cmd = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...argv];
    } else if (spawnSync('sudo', ['-n', 'true']).status === 0) {
      this.skip();
    }
    const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.equal(r.stdout, '', 'nothing was attempted');
    assert.match(r.stderr, /^setup-system: missing Debian packages: xcast-no-such-package$/m);
    assert.match(r.stderr, new RegExp(`^  sudo sh ${SCRIPT.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} coreutils xcast-no-such-package$`, 'm'));
  });
});

// The command line: `xcast deploy` checks the target's node types first, then deploys; `xcast help`.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../runtime/launcher';
import { startXcast, freePort, tmpDir, XcastProcess } from '../support/xcast-process';

const XCAST = path.join(PACKAGE_ROOT, 'bin', 'xcast.js');
const run = (args: string[]) => spawnSync(process.execPath, [XCAST, ...args], { encoding: 'utf8', timeout: 60000 });

describe('xcast command line', function () {
  this.timeout(90000);

  it('prints its usage for help and exits 2 on an unknown command', () => {
    const h = run(['help']);
    assert.equal(h.status, 0);
    assert.match(h.stdout, /xcast deploy <preset or FILE.json> --url/);
    const u = run(['frobnicate']);
    assert.equal(u.status, 2);
    assert.match(u.stderr, /unknown command "frobnicate"/);
  });

  it('refuses to deploy to a Node-RED that lacks the xcast node types, naming them', async () => {
    const port = await freePort();
    const dir = tmpDir();
    const red = spawn(process.execPath, [require.resolve('node-red/red.js'), '--port', String(port), '--userDir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await new Promise<void>((resolve, reject) => {
        let out = '';
        const t = setTimeout(() => reject(new Error(`stock Node-RED did not start:\n${out}`)), 45000);
        red.stdout!.on('data', (d) => { out += d; if (/Server now running/.test(out)) { clearTimeout(t); resolve(); } });
      });
      const r = spawnSync(process.execPath, [XCAST, 'deploy', 'peer', '--url', `http://127.0.0.1:${port}`], { encoding: 'utf8', timeout: 30000 });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /lacks node types xcast-audio-in, xcast-opus-encode, xcast-socket-writer/);
      const flows = await (await fetch(`http://127.0.0.1:${port}/flows`)).json() as unknown[];
      assert.equal(flows.length, 0, 'nothing was deployed');
    } finally {
      red.kill('SIGTERM');
    }
  });

  it('deploys a preset to a running xcast Node-RED, whose nodes then run', async () => {
    const dir = tmpDir();
    const empty = path.join(dir, 'empty.json');
    fs.writeFileSync(empty, '[]');
    let x: XcastProcess | undefined;
    try {
      x = await startXcast({ flows: [empty] });
      const ingest = await freePort();
      const r = spawnSync(process.execPath, [XCAST, 'deploy', 'xcast', '--url', x.url, '--port-map', `7010=${ingest},7011=${await freePort()},7012=${await freePort()}`], { encoding: 'utf8', timeout: 30000 });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /deployed xcast \(\d+ nodes\)/);
      const flows = await (await fetch(`${x.url}/flows`)).json() as Array<{ type: string; port?: string }>;
      const reader = flows.find((n) => n.type === 'xcast-socket-reader');
      assert.equal(reader?.port, String(ingest));
      // The deployed reader listens: a TCP connect succeeds.
      const net = await import('node:net');
      await new Promise<void>((resolve, reject) => {
        const deadline = Date.now() + 10000;
        const attempt = () => {
          const s = net.connect(ingest, '127.0.0.1', () => { s.destroy(); resolve(); });
          s.on('error', () => (Date.now() > deadline ? reject(new Error('ingest port never opened')) : setTimeout(attempt, 200)));
        };
        attempt();
      });
    } finally {
      await x?.stop();
    }
  });
});

// The embedded editor as a newcomer meets it: no update-notification dialog, and an admin API that never errs while starting.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../runtime/launcher';
import { freePort, freePortMap, tmpDir } from '../support/xcast-process';

const XCAST = path.join(PACKAGE_ROOT, 'bin', 'xcast.js');

/** `xcast start` on a port chosen here, so it can be polled before it says it is running. */
function startOn(port: number, portMap: Record<number, number>, userDir: string) {
  const map = Object.entries(portMap).map(([a, b]) => `${a}=${b}`).join(',');
  const proc = spawn(process.execPath, [XCAST, 'start', 'xcast', '--port', String(port), '--user-dir', userDir, '--port-map', map], { cwd: PACKAGE_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  const running = new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', () => { if (/running at http/.test(out)) resolve(); });
    proc.once('exit', (code) => reject(new Error(`xcast exited with ${code}:\n${out}`)));
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    proc, running, output: () => out,
    async stop() { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM'); await exited; },
  };
}

/** One GET on a fresh connection (as the editor's first page load and a script's poll do); null while nothing listens. */
function get(port: number, p: string): Promise<{ status: number; retryAfter?: string } | null> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] }));
    });
    req.on('error', () => resolve(null));
  });
}

describe('the embedded editor (xcast start)', function () {
  this.timeout(60000);

  it('answers GET /flows from the first moment of start-up with 503 or the flows, never 400 or an error line', async () => {
    const port = await freePort();
    const x = startOn(port, await freePortMap(), tmpDir());
    const codes = new Map<number, number>();
    let up = false;
    void x.running.then(() => { up = true; }, () => { up = true; });
    try {
      // A tight loop from before the process listens until a few answers after it said it runs.
      let afterUp = 0;
      const until = Date.now() + 45000;
      while (afterUp < 20 && Date.now() < until) {
        if (x.proc.exitCode !== null) break;
        const r = await get(port, '/flows');
        if (r) {
          codes.set(r.status, (codes.get(r.status) ?? 0) + 1);
          if (r.status === 503) assert.ok(r.retryAfter, 'a 503 says when to ask again');
        }
        if (up) afterUp++;
      }
      await x.running;
      const seen = JSON.stringify([...codes]);
      assert.ok(!codes.has(400), `GET /flows answered 400 while starting: ${seen}`);
      assert.ok(codes.has(503), `polled while starting: ${seen}`);
      assert.deepEqual([...codes.keys()].filter((c) => c !== 200 && c !== 503), [], `only 503 (starting) and 200: ${seen}`);
      assert.ok((codes.get(200) ?? 0) >= 20, `the flows once started: ${seen}`);
      assert.doesNotMatch(x.output(), /\[error\]/, 'nothing logged as an error');
    } finally {
      await x.stop();
    }
  });

  it('has update notifications off, and on once the user turns them on in the editor', async () => {
    const port = await freePort();
    const userDir = tmpDir();
    const x = startOn(port, await freePortMap(), userDir);
    try {
      await x.running;
      const url = `http://127.0.0.1:${port}`;
      // The editor asks "Enable Update Notifications?" when telemetryEnabled is undefined.
      const settings = async () => (await (await fetch(`${url}/settings`)).json()) as { telemetryEnabled?: boolean };
      assert.equal((await settings()).telemetryEnabled, false);
      const r = await fetch(`${url}/settings/user`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ telemetryEnabled: true }) });
      assert.equal(r.status, 204);
      assert.equal((await settings()).telemetryEnabled, true);
      assert.equal(JSON.parse(fs.readFileSync(path.join(userDir, '.config.runtime.json'), 'utf8')).telemetryEnabled, true, 'the choice is kept in the user dir');
    } finally {
      await x.stop();
    }
  });
});

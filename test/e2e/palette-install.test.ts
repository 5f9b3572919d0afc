// Installed as a Node-RED user installs it: npm pack, npm install into a fresh user dir, a separate stock Node-RED loads every xcast node and runs the demo flow.
import assert from 'node:assert/strict';
import { spawn, spawnSync, ChildProcess, SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT, customiseFlow, loadFlow, resolveFlowFile } from '../../runtime/launcher';
import { readWav } from '../../runtime/audio/wav';
import { freePort, freePortMap, tmpDir } from '../support/xcast-process';

const PKG = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8'));
const XCAST_TYPES: string[] = Object.keys(PKG['node-red'].nodes).sort();
// The stock Node-RED: the repository's devDependency, run as a process of its own.
const STOCK_RED = require.resolve('node-red/red.js');

/** The environment without what `npm test` exports to its scripts (npm_config_*, npm_package_*), which would steer the inner npm. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'NODE_PATH' && k !== 'NODE_OPTIONS') env[k] = v;
  return { ...env, ...extra };
}

function npm(args: string[], cwd: string): SpawnSyncReturns<string> {
  const r = spawnSync('npm', args, { cwd, env: cleanEnv(), encoding: 'utf8', timeout: 180000, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `npm ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** A child process and everything it printed; `printed(re)` resolves once its output matches. */
function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }) {
  const proc: ChildProcess = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: Array<() => void> = [];
  const onData = (d: Buffer) => { out += d; for (const w of [...waiters]) w(); };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => { for (const w of [...waiters]) w(); resolve(code); }));
  return {
    proc,
    output: () => out,
    printed(re: RegExp, ms = 45000): Promise<RegExpExecArray> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { done(); reject(new Error(`${path.basename(args[0] ?? cmd)} printed no ${re} in ${ms} ms:\n${out}`)); }, ms);
        const check = () => {
          const m = re.exec(out);
          if (m) { done(); resolve(m); } else if (proc.exitCode !== null || proc.signalCode !== null) {
            done(); reject(new Error(`${path.basename(args[0] ?? cmd)} exited (${proc.exitCode ?? proc.signalCode}) before printing ${re}:\n${out}`));
          }
        };
        const done = () => { clearTimeout(timer); waiters.splice(waiters.indexOf(check), 1); };
        waiters.push(check);
        check();
      });
    },
    async stop(): Promise<void> {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Polls `probe` until it returns a value (not undefined) or `ms` pass. */
async function until<T>(what: string | (() => string), probe: () => Promise<T | undefined>, ms = 30000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface Snapshot {
  incomingAudioTracks: Array<{ userId: string }>;
  connections: Record<string, { role?: string; packetsReceived?: number }>;
}

describe('palette install: the packed module in a fresh Node-RED user dir, run by a stock Node-RED', function () {
  this.timeout(300000);
  const work = tmpDir('xcast-palette-');
  const userDir = path.join(work, 'user');
  let red: ReturnType<typeof run> | undefined;
  let base = '';

  before(function () {
    this.timeout(240000);
    const packed = npm(['pack', '--json', '--pack-destination', work, PACKAGE_ROOT], work);
    const tarball = path.join(work, JSON.parse(packed.stdout)[0].filename);
    fs.mkdirSync(userDir);
    // What Node-RED writes into a new user dir.
    fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', description: 'A Node-RED Project', version: '0.0.1', private: true }, null, 2));
    // As a user does (the palette manager runs much the same), less the optional naudiodon: the module must install and run without it.
    npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--omit=optional', tarball], userDir);
  });

  after(async () => {
    await red?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('installs without a second Node-RED, and without naudiodon when optional dependencies are left out', () => {
    const modules = path.join(userDir, 'node_modules');
    assert.ok(fs.existsSync(path.join(modules, '@xcast', 'node-red-xcast', 'package.json')), 'the module is installed');
    assert.ok(!fs.existsSync(path.join(modules, 'node-red')), 'node_modules/node-red must not be installed');
    assert.ok(!fs.existsSync(path.join(modules, '@node-red')), 'node_modules/@node-red/* must not be installed');
    assert.ok(!fs.existsSync(path.join(modules, 'naudiodon')), '--omit=optional leaves naudiodon out');
    const installed = JSON.parse(fs.readFileSync(path.join(userDir, 'package.json'), 'utf8'));
    assert.ok(installed.dependencies['@xcast/node-red-xcast'], 'recorded in the user dir\'s package.json');
  });

  it('a stock Node-RED on that user dir lists every xcast node type in GET /nodes (one per nodes/ folder)', async () => {
    const port = await freePort();
    fs.writeFileSync(path.join(userDir, 'settings.js'), `module.exports = ${JSON.stringify({
      uiHost: '127.0.0.1', flowFile: 'flows.json', credentialSecret: false,
      logging: { console: { level: 'info', metrics: false, audit: false } },
      editorTheme: { tours: false },
    }, null, 2)};\n`);
    red = run(process.execPath, [STOCK_RED, '--userDir', userDir, '--port', String(port), '--settings', path.join(userDir, 'settings.js')], { cwd: userDir, env: cleanEnv() });
    await red.printed(/Started flows/);
    base = `http://127.0.0.1:${port}`;
    const res = await fetch(`${base}/nodes`, { headers: { Accept: 'application/json' } });
    assert.equal(res.status, 200);
    const sets = await res.json() as Array<{ module: string; types: string[]; enabled: boolean; err?: string }>;
    const ours = sets.filter((s) => s.module === PKG.name);
    assert.deepEqual(ours.filter((s) => s.err).map((s) => `${s.types}: ${s.err}`), [], 'no node set failed to load');
    assert.deepEqual(ours.flatMap((s) => s.types).sort(), XCAST_TYPES);
    // Counted independently of package.json: one node per folder of nodes/ (lib is the shared glue).
    const folders = fs.readdirSync(path.join(__dirname, '..', '..', '..', 'nodes'), { withFileTypes: true }).filter((d) => d.isDirectory() && d.name !== 'lib');
    assert.equal(XCAST_TYPES.length, folders.length, `package.json declares ${XCAST_TYPES.length} nodes, nodes/ has ${folders.length} folders`);
  });

  it('deploys the demo flow with POST /flows, and it runs: both peers mixed, the monitor recording grows, /qos/ served, devices say why not', async () => {
    assert.ok(base, 'Node-RED is running');
    const flows = customiseFlow(loadFlow(resolveFlowFile('demo')), await freePortMap());
    const post = await fetch(`${base}/flows`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify(flows),
    });
    assert.equal(post.status, 204, await post.text());
    const deployed = await (await fetch(`${base}/flows`, { headers: { Accept: 'application/json' } })).json() as unknown[];
    assert.equal(deployed.length, flows.length);

    // The monitor's getMetrics lists alice's and bob's tracks as the xcast receives them.
    let answer = '';
    const snap = await until(() => `alice and bob in getMetrics (last answer ${answer.slice(0, 1500)})\n${red!.output()}`, async () => {
      const r = await fetch(`${base}/service/mixeradminclient?getMetrics`);
      answer = `${r.status} ${await r.clone().text()}`;
      if (!r.ok) return undefined;
      const snap = ((await r.json()) as { aggregatedStatesSnapshot: Snapshot }).aggregatedStatesSnapshot;
      const mixed = (u: string) => snap.incomingAudioTracks.some((t) => t.userId === u) && (snap.connections[u]?.packetsReceived ?? 0) > 0;
      return mixed('alice') && mixed('bob') ? snap : undefined;
    });
    assert.equal(snap.connections['monitor-1']?.role, 'monitor', 'the monitor receives the mix');

    // The monitor records the mix under the user dir (recordings/monitor.wav): it grows.
    const wav = path.join(userDir, 'recordings', 'monitor.wav');
    const size = () => (fs.existsSync(wav) ? fs.statSync(wav).size : 0);
    const first = await until('the monitor recording', async () => (size() > 0 ? size() : undefined));
    await until('the monitor recording to grow', async () => (size() > first + 48000 ? true : undefined));

    const page = await fetch(`${base}/qos/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.equal((await fetch(`${base}/qos/qos.js`)).status, 200);

    const devices = await fetch(`${base}/xcast/devices`);
    assert.equal(devices.status, 503);
    assert.match(((await devices.json()) as { error: string }).error, /sound devices are unavailable: naudiodon is not installed/);

    // Nothing in the demo failed to start (bob's chord.wav ships in the package, every config is accepted).
    assert.doesNotMatch(red!.output(), /\[error\]/, red!.output());
    await red!.stop();
    red = undefined;
    assert.ok(readWav(wav).frames > 0);
  });

  it('`xcast start` of the installed module finds the node-red on PATH, and says how to get one when there is none', async () => {
    const xcast = path.join(userDir, 'node_modules', '@xcast', 'node-red-xcast', 'bin', 'xcast.js');
    const emptyPrefix = path.join(work, 'no-global');
    fs.mkdirSync(emptyPrefix);
    // No node-red beside the module, in the user dir, on PATH, nor in npm's global folder (pointed at an empty one).
    const bare = cleanEnv({ PATH: path.dirname(process.execPath), npm_config_prefix: emptyPrefix });
    const none = spawnSync(process.execPath, [xcast, 'start', 'demo', '--port', '0'], { cwd: userDir, env: bare, encoding: 'utf8', timeout: 60000 });
    assert.equal(none.status, 1, none.stdout + none.stderr);
    assert.match(none.stderr, /xcast start needs Node-RED, and none was found .*Install it: npm install -g node-red/);
    // Refused before anything was written: no user directory left behind (.xcast/demo in the working directory).
    assert.ok(!fs.existsSync(path.join(userDir, '.xcast')), 'a failed start left .xcast/ behind');

    const ports = await freePortMap();
    const portMap = Object.entries(ports).map(([from, to]) => `${from}=${to}`).join(',');
    const onPath = cleanEnv({ PATH: `${path.dirname(require.resolve('node-red/package.json'))}/../.bin${path.delimiter}${process.env.PATH}`, npm_config_prefix: emptyPrefix });
    const x = run(process.execPath, [xcast, 'start', 'demo', '--port', '0', '--port-map', portMap, '--user-dir', path.join(work, 'started'), '--log-level', 'warn'], { cwd: work, env: onPath });
    try {
      const m = await x.printed(/running at (http:\/\/[^\s/]+)\//);
      const sets = await (await fetch(`${m[1]}/nodes`, { headers: { Accept: 'application/json' } })).json() as Array<{ types: string[] }>;
      const types = new Set(sets.flatMap((s) => s.types));
      assert.deepEqual(XCAST_TYPES.filter((t) => !types.has(t)), []);
    } finally {
      await x.stop();
    }
  });
});

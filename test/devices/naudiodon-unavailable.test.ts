// Without a loadable naudiodon the device options say why (the loader's message) and everything else runs: the loader refuses the addon in child processes (a --require hook on process.dlopen).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../runtime/launcher';
import { readWav } from '../../runtime/audio/wav';
import { startXcast, tmpDir, XcastProcess } from '../support/xcast-process';

const HOOK = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'no-naudiodon', 'dlopen-fails.js');
// NODE_OPTIONS reaches the children too: devices.ts lists devices in a child process of its own.
const NO_NAUDIODON = { NODE_OPTIONS: `--require "${HOOK}"` };
const LOADER_SAYS = /cannot load naudiodon \(.*naudiodon\.node\): .*libportaudio\.so\.2: cannot open shared object file/;
const HOW_TO_GET_IT = /libasound2-dev, then `npm install naudiodon`/;

/** Runs each device entry point in a child process and reports how it failed (or what it returned). */
const PROBE = `
const d = require(${JSON.stringify(path.join(PACKAGE_ROOT, 'dist', 'runtime', 'audio', 'devices.js'))});
const out = {};
const err = (e) => ({ code: e.code, message: e.message });
try { out.list = d.listDevices(); } catch (e) { out.list = err(e); }
for (const [k, C] of [['input', d.AudioInputDevice], ['output', d.AudioOutputDevice]]) {
  try { new C({ deviceName: 'default' }).start(); out[k] = 'started'; } catch (e) { out[k] = err(e); }
}
d.listDevicesAsync().then((l) => { out.listAsync = l; }, (e) => { out.listAsync = err(e); })
  .then(() => { console.log(JSON.stringify(out)); process.exit(0); });
`;

function probe(env: NodeJS.ProcessEnv): Record<string, { code?: string; message?: string; inputs?: unknown[] }> {
  const r = spawnSync(process.execPath, ['-e', PROBE], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string);
}

/** Resolves when the process's output matches `re` (or rejects with the output after `ms`). */
function outputMatches(x: XcastProcess, re: RegExp, ms = 20000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!re.test(x.output())) return false;
      clearTimeout(timer);
      x.proc.stdout!.off('data', check);
      x.proc.stderr!.off('data', check);
      resolve();
      return true;
    };
    const timer = setTimeout(() => reject(new Error(`no ${re} in the output:\n${x.output()}`)), ms);
    if (check()) return;
    x.proc.stdout!.on('data', check);
    x.proc.stderr!.on('data', check);
  });
}

describe('sound devices when naudiodon cannot be loaded', function () {
  this.timeout(90000);

  it('the runtime lists devices with a loadable naudiodon (the control for the cases below)', () => {
    const r = probe({});
    assert.ok(Array.isArray(r.list.inputs), JSON.stringify(r.list));
    assert.ok(Array.isArray(r.listAsync.inputs), JSON.stringify(r.listAsync));
  });

  it('listing and opening devices fail with naudiodon_unavailable carrying the loader\'s message', () => {
    const r = probe(NO_NAUDIODON);
    for (const k of ['list', 'listAsync', 'input', 'output']) {
      assert.equal(r[k].code, 'naudiodon_unavailable', `${k}: ${JSON.stringify(r[k])}`);
      assert.match(r[k].message as string, LOADER_SAYS, k);
      assert.match(r[k].message as string, HOW_TO_GET_IT, k);
    }
  });

  it('`xcast devices` exits 1 saying why', () => {
    const r = spawnSync(process.execPath, [path.join(PACKAGE_ROOT, 'bin', 'xcast.js'), 'devices'], {
      env: { ...process.env, ...NO_NAUDIODON }, encoding: 'utf8', timeout: 60000,
    });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /^xcast: sound devices are unavailable: /m);
    assert.match(r.stderr, LOADER_SAYS);
  });

  it('in Node-RED: GET /xcast/devices answers 503 with the reason, the device modes refuse, a file recording still runs', async () => {
    const dir = tmpDir();
    const wavPath = path.join(dir, 'tone.wav');
    const tab = { id: 'tab0000000000001', type: 'tab', label: 'no devices' };
    const n = (id: string, type: string, props: Record<string, unknown>, wires: string[][]) => ({ id, type, z: tab.id, x: 100, y: 100, wires, ...props });
    const audio = { sampleRate: '48000', channels: '1', frameMs: '10' };
    const flowFile = path.join(dir, 'flow.json');
    fs.writeFileSync(flowFile, JSON.stringify([
      tab,
      n('node000000000001', 'xcast-audio-in', { name: 'mic', source: 'device', device: 'default', ...audio, trackId: '1' }, [[]]),
      n('node000000000002', 'xcast-audio-in', { name: 'tone', source: 'tone', frequency: '440', amplitude: '0.5', ...audio, trackId: '2' }, [['node000000000003', 'node000000000004']]),
      n('node000000000003', 'xcast-audio-out', { name: 'speaker', output: 'device', device: 'default', ...audio, jitterFrames: '4' }, [[]]),
      n('node000000000004', 'xcast-audio-out', { name: 'file', output: 'file', path: wavPath, format: 'f32', ...audio, jitterFrames: '4' }, [[]]),
    ]));
    let x: XcastProcess | undefined;
    try {
      x = await startXcast({ flows: [flowFile], userDir: dir, env: NO_NAUDIODON });
      const res = await fetch(`${x.url}/xcast/devices`);
      assert.equal(res.status, 503);
      const body = await res.json() as { error: string; inputs: unknown[]; outputs: unknown[] };
      assert.match(body.error, LOADER_SAYS);
      assert.deepEqual([body.inputs, body.outputs], [[], []]);
      // Both device modes report the same reason in the log (Node-RED's "[error] [type:name]" lines).
      await outputMatches(x, /\[xcast-audio-in:mic\] .*sound devices are unavailable: cannot load naudiodon/);
      await outputMatches(x, /\[xcast-audio-out:speaker\] .*sound devices are unavailable: cannot load naudiodon/);
      // The tone → file path runs meanwhile: the recording grows.
      const deadline = Date.now() + 20000;
      while (!(fs.existsSync(wavPath) && fs.statSync(wavPath).size > 48000 * 4 / 2)) {
        assert.ok(Date.now() < deadline, `the recording did not grow:\n${x.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await x?.stop();
    }
    assert.ok(readWav(wavPath).frames >= 24000);
  });
});

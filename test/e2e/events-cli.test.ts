// End to end: `xcast events capture`, `xcast events inspect` and `xcast reconstruct` run as commands against a live xcast preset with two peers.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { readWav } from '../../runtime/audio/wav';
import { PACKAGE_ROOT } from '../../runtime/launcher';
import { startXcast, freePortMap, tmpDir, sleep, findNode, XcastProcess } from '../support/xcast-process';

type N = Record<string, unknown> & { id: string; z?: string; wires?: string[][] };
const XCAST = path.join(PACKAGE_ROOT, 'bin', 'xcast.js');

/** Runs the CLI to completion. */
function xcast(args: string[], timeoutMs = 60000): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [XCAST, ...args], { cwd: PACKAGE_ROOT, timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 1) : 0;
      resolve({ code, out: stdout, err: stderr });
    });
  });
}

async function waitForListening(port: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** A second peer beside the preset's alice: a copy of its tab as bob (660 Hz, profile Bob from Oslo). */
function addBob(nodes: N[]): void {
  const peerNodes = nodes.filter((n) => n.id === findNode(nodes, 'xcast-audio-in').z || n.z === findNode(nodes, 'xcast-audio-in').z);
  const id = (old: string) => `b0b${old.slice(3)}`;
  for (const n of peerNodes) {
    const c: N = { ...n, id: id(n.id) };
    if (c.z) c.z = id(c.z);
    if (c.wires) c.wires = c.wires.map((port) => port.map(id));
    if (c.type === 'tab') c.label = 'peer bob';
    if (c.type === 'xcast-audio-in') Object.assign(c, { frequency: '660', amplitude: '0.3' });
    if (c.type === 'xcast-socket-writer') Object.assign(c, { userId: 'bob', profile: JSON.stringify({ name: 'Bob', city: 'Oslo', countryCode: 161, skillLevel: 3, instrument: 2 }) });
    nodes.push(c);
  }
}

describe('xcast events capture / inspect and xcast reconstruct against a live xcast', function () {
  this.timeout(180000);
  const procs: XcastProcess[] = [];
  afterEach(async () => { await Promise.all(procs.splice(0).map((p) => p.stop())); });

  it('captures a session of two peers to a file, inspects it, and rebuilds it with alice at 0.5, bob muted and stems, exactly as the stems say', async () => {
    const dir = tmpDir();
    const ports = await freePortMap();
    procs.push(await startXcast({ flows: ['xcast'], portMap: ports, userDir: dir }));
    await waitForListening(ports[7012], 20000);
    const file = path.join(dir, 'session.xcev');
    const capture = spawn(process.execPath, [XCAST, 'events', 'capture', '--port', String(ports[7012]), '--out', file, '--seconds', '6'], { cwd: PACKAGE_ROOT });
    let captureOut = '';
    capture.stdout.on('data', (d) => { captureOut += d; });
    capture.stderr.on('data', (d) => { captureOut += d; });
    const captured = new Promise<number | null>((resolve) => capture.on('exit', (code) => resolve(code)));
    // Both peers in one process of their own, started once the capture listens, so the file holds every packet.
    procs.push(await startXcast({ flows: ['peer'], portMap: { 7010: ports[7010] }, userDir: tmpDir(), edit: (nodes) => addBob(nodes as N[]) }));
    assert.equal(await captured, 0, captureOut);
    assert.match(captureOut, /captured \d+ events \(\d+ bytes\)/);

    const inspect = await xcast(['events', 'inspect', file]);
    assert.equal(inspect.code, 0, inspect.err);
    console.log(inspect.out.replace(/^/gm, '      '));
    assert.match(inspect.out, /format: 48000 Hz, 480 samples per frame, version 1/);
    assert.match(inspect.out, /channels: 2/);
    const row = (name: string) => new RegExp(`^\\s+(\\d+)\\s+${name}\\s+(\\S+)\\s+(\\d+)\\s+opus 1ch 480\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)$`, 'm').exec(inspect.out);
    const a = row('Alice');
    const b = row('Bob');
    assert.ok(a && b, 'a table row for each peer');
    assert.deepEqual([a![2], a![3], b![2], b![3]], ['Lyon', '74', 'Oslo', '161'], 'city and country from each HELLO profile');
    assert.ok(Number(a![5]) > 200 && Number(b![5]) > 200, 'both mixed for more than 2 s');
    const json = JSON.parse((await xcast(['events', 'inspect', file, '--json'])).out);
    assert.equal(json.eventsByType.streamInfo, 1);

    const stems = path.join(dir, 'stems');
    const unity = path.join(dir, 'unity.wav');
    const mixed = path.join(dir, 'alice-half.wav');
    const quieter = path.join(dir, 'master-6.wav');
    const r1 = await xcast(['reconstruct', file, '--out', unity, '--stems', stems]);
    assert.equal(r1.code, 0, r1.err);
    const r2 = await xcast(['reconstruct', file, '--out', mixed, '--gain', 'alice=0.5', '--mute', 'bob', '--gain', 'carol=2']);
    assert.equal(r2.code, 0, r2.err);
    const r3 = await xcast(['reconstruct', file, '--out', quieter, '--master', '-6dB']);
    assert.equal(r3.code, 0, r3.err);
    assert.match(r1.out, /^wrote .*unity\.wav: \d+\.\d+ s, 48000 Hz, 2 channels$/m);
    assert.match(r1.out, /channel \d+ Alice: \d+ live, 0 late packets put back, \d+ concealed → .*Alice\.wav/);
    assert.match(r2.err, /gain "carol" names no channel of this session/, 'an override naming nobody is reported');

    const stemFiles = fs.readdirSync(stems).sort();
    assert.deepEqual(stemFiles.map((f) => f.replace(/^\d+-/, '')).sort(), ['Alice.wav', 'Bob.wav']);
    const stemOf = (name: string) => readWav(path.join(stems, stemFiles.find((f) => f.endsWith(`-${name}.wav`))!));
    const alice = stemOf('Alice');
    const bob = stemOf('Bob');
    const u = readWav(unity);
    const h = readWav(mixed);
    const q = readWav(quieter);
    assert.equal(alice.channels, 1, 'a stem keeps its channel count');
    for (const w of [bob, u, h, q]) assert.equal(w.frames, alice.frames, 'stems and mixes are aligned, frame for frame');
    // The mixes follow from the stems exactly: mono to both channels, sums in float64 stored as f32, master after the sum.
    const master = Math.pow(10, -6 / 20);
    let wrongUnity = 0, wrongHalf = 0, wrongMaster = 0;
    for (let i = 0; i < alice.frames; i++) {
      const x = alice.samples[i], y = bob.samples[i];
      for (let c = 0; c < 2; c++) {
        if (u.samples[i * 2 + c] !== Math.fround(x + y)) wrongUnity++;
        if (h.samples[i * 2 + c] !== Math.fround(0.5 * x)) wrongHalf++;
        if (q.samples[i * 2 + c] !== Math.fround(master * (x + y))) wrongMaster++;
      }
    }
    assert.deepEqual({ wrongUnity, wrongHalf, wrongMaster }, { wrongUnity: 0, wrongHalf: 0, wrongMaster: 0 });
    let aliceEnergy = 0, bobEnergy = 0;
    for (let i = 0; i < alice.frames; i++) { aliceEnergy += alice.samples[i] ** 2; bobEnergy += bob.samples[i] ** 2; }
    assert.ok(aliceEnergy > 0 && bobEnergy > 0, 'both stems hold sound');
  });
});

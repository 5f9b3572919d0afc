// The mixer's settings (gain, pan, mute per user, the master gain set by control messages) survive a redeploy: kept
// in a JSON file per mixer in the user directory (or a context store), written atomically at most every 200 ms after a
// change, read at start. The store alone, then the node redeployed in Node-RED with the level of the mix measured.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { helper } from '../support/node-red';
import { until } from '../support/resources';
import { MixerSettingsStore, MixerSettingsState, JsonFileBackend, checkSettingsState } from '../../runtime/audio/mixer-settings';
import { toneFrame } from '../engine/util';
import type { UsedFrame } from '../../runtime/audio/used';
const mixerNode = require('../../nodes/mixer/mixer');

const N = 480;

describe('mixer settings store', () => {
  let tmp: string;
  beforeEach(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-mixset-')); });
  afterEach(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

  it('a burst of changes is one write, after the delay; flush writes at once; the file is replaced whole', async () => {
    const file = path.join(tmp, 'd', 'm.json');
    const backend = new JsonFileBackend(file);
    let saved: () => void = () => undefined;
    const store = new MixerSettingsStore(backend, { delayMs: 200, onSaved: () => saved() });
    const wrote = new Promise<void>((r) => { saved = r; });
    for (let i = 0; i <= 100; i++) store.setUser('alice', { gain: i / 100 });
    store.setUser('bob', { muted: true, pan: -0.5 });
    store.setMaster(0.8, 1);
    assert.equal(fs.existsSync(file), false, 'nothing written per control');
    await wrote;
    assert.equal(store.saves, 1);
    assert.deepEqual(JSON.parse(JSON.stringify(backend.load())), { version: 1, master: 0.8, configMaster: 1, users: { alice: { gain: 1 }, bob: { muted: true, pan: -0.5 } } });
    store.setUser('alice', { pan: 1 });
    store.flush();
    assert.equal(store.saves, 2);
    assert.deepEqual({ ...backend.load()!.users.alice }, { gain: 1, pan: 1 });
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ['m.json'], 'no temporary file left');
    store.flush();
    assert.equal(store.saves, 2, 'nothing changed: nothing written');
  });

  it('reads back only valid values, whatever the file holds; a userId such as __proto__ is just a key', () => {
    const s = checkSettingsState({ master: -1, users: { a: { gain: 'x', pan: 3, muted: 1 }, b: { gain: 2, pan: -1, muted: false }, ['__proto__']: { gain: 0.5 } } });
    assert.equal(s.master, undefined);
    assert.equal(Object.prototype.hasOwnProperty.call(s.users, 'a'), false);
    assert.deepEqual(s.users.b, { gain: 2, pan: -1, muted: false });
    const parsed = checkSettingsState(JSON.parse('{"users":{"__proto__":{"gain":0.5}}}'));
    assert.deepEqual(Object.getOwnPropertyDescriptor(parsed.users, '__proto__')?.value, { gain: 0.5 });
    assert.equal(({} as Record<string, unknown>).gain, undefined);
  });

  it('a change made before the kept state was read wins over it', async () => {
    const kept: MixerSettingsState = { version: 1, users: { alice: { gain: 0.1, pan: 0.5 } } };
    const store = new MixerSettingsStore({ load: () => Promise.resolve(kept), save: () => undefined });
    store.setUser('alice', { gain: 0.9 });
    const got = await store.load();
    assert.deepEqual(got!.users.alice, { gain: 0.9, pan: 0.5 });
    store.close();
  });
});

/** Amplitude of 400 Hz in one 480-sample frame (4 whole periods: a one-bin DFT is exact). */
function level400(frame: Float32Array, channel = 0, channels = 1): number {
  let re = 0, im = 0;
  for (let i = 0; i < N; i++) {
    const ph = (2 * Math.PI * 400 * i) / 48000;
    re += frame[i * channels + channel] * Math.cos(ph);
    im += frame[i * channels + channel] * Math.sin(ph);
  }
  return (2 * Math.hypot(re, im)) / N;
}

describe('mixer: settings survive a redeploy', function () {
  this.timeout(30000);
  let userDir: string;
  beforeEach((done) => {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-userdir-'));
    helper.settings({ userDir, contextStorage: { default: { module: 'memory' }, kept: { module: 'memory' } } });
    helper.startServer(done);
  });
  afterEach((done) => {
    helper.unload().then(() => helper.stopServer(() => {
      helper.settings({});
      fs.rmSync(userDir, { recursive: true, force: true });
      done();
    }));
  });

  const flow = (extra: Record<string, unknown> = {}) => [
    { id: 't1', type: 'tab', label: 't' },
    { id: 'm1', z: 't1', x: 300, y: 100, type: 'xcast-mixer', channels: '2', frameMs: '10', jitterFrames: '10', jitterAdaptive: false, masterGain: '1', ...extra, wires: [['mixOut'], [], []] },
    { id: 'mixOut', z: 't1', x: 500, y: 100, type: 'helper' },
  ];

  /** Feeds alice (400 Hz, 0.4) paced by the mix and returns alice's level in the left and right channel of a late frame. */
  async function measure(): Promise<{ left: number; right: number }> {
    const mixer = helper.getNode('m1');
    const packet = (seq: number) => ({ topic: 'audio', userId: 'alice', connectionId: 'c1', payload: toneFrame(N, 1, seq * N, 400, 0.4),
      audio: { codec: 'pcm_f32le', sampleRate: 48000, channels: 1, frameSamples: N, seq, captureTime: 0, trackId: 1 } });
    let seq = 0;
    let frames = 0;
    return new Promise((resolve) => {
      helper.getNode('mixOut').on('input', (msg: { payload: Buffer; mixed: { used: UsedFrame } }) => {
        frames++;
        const u = msg.mixed.used.at(0);
        if (frames > 30 && u && u.seq !== null && !u.concealed) {
          const f = new Float32Array(Uint8Array.from(msg.payload).buffer);
          resolve({ left: level400(f, 0, 2), right: level400(f, 1, 2) });
          return;
        }
        mixer.receive(packet(seq++));
      });
      for (let i = 0; i < 10; i++) mixer.receive(packet(seq++));
    });
  }

  it('gain, pan, mute and master set by control messages apply again after a redeploy (the level measured)', async () => {
    await helper.load([mixerNode], flow());
    const m = helper.getNode('m1');
    m.receive({ topic: 'gain', userId: 'alice', payload: 0.5 });
    m.receive({ topic: 'pan', userId: 'alice', payload: 0.5 });
    m.receive({ topic: 'mute', userId: 'bob', payload: true });
    m.receive({ topic: 'master', payload: '-6dB' });
    const before = await measure();
    const master = 10 ** (-6 / 20);
    // Pan +0.5: the left at half, the right at unity.
    assert.ok(Math.abs(before.left - 0.4 * 0.5 * master * 0.5) < 0.002, `left ${before.left}`);
    assert.ok(Math.abs(before.right - 0.4 * 0.5 * master) < 0.002, `right ${before.right}`);
    // A full redeploy: every node stopped (the file written as it closes) and made again.
    await helper.setFlows(flow(), 'full');
    const file = path.join(userDir, 'xcast', 'mixer-m1.json');
    const kept = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.deepEqual(kept.users, { alice: { gain: 0.5, pan: 0.5 }, bob: { muted: true } });
    const after = await measure();
    assert.ok(Math.abs(after.left - before.left) < 0.002 && Math.abs(after.right - before.right) < 0.002, `after the redeploy: ${JSON.stringify(after)}, before ${JSON.stringify(before)}`);
  });

  it('a master gain changed in the editor wins over the kept one; the kept user settings still apply', async () => {
    await helper.load([mixerNode], flow());
    helper.getNode('m1').receive({ topic: 'master', payload: 0.25 });
    helper.getNode('m1').receive({ topic: 'gain', userId: 'alice', payload: 0.5 });
    await helper.setFlows(flow({ masterGain: '2' }), 'full');
    const after = await measure();
    assert.ok(Math.abs(after.left - 0.4 * 0.5 * 2) < 0.004, `left ${after.left}: master 2 (the editor's), alice 0.5 (kept)`);
  });

  it('settingsStore naming a context store keeps them in the node\'s context there, not in a file', async () => {
    // The helper does not load the context stores of its settings (Node-RED's start does): load them here. (Its load
    // and redeploy drop what the stores held, which Node-RED's do not, so reading them back at start is left to the
    // file store's tests; the node reads either through the same MixerSettingsStore.load.)
    const h = helper as unknown as { _context: { init(s: unknown): void; load(): Promise<void> }; _settings: unknown };
    h._context.init(h._settings);
    await h._context.load();
    await helper.load([mixerNode], flow({ settingsStore: 'kept' }));
    const m = helper.getNode('m1');
    m.receive({ topic: 'gain', userId: 'alice', payload: 0.5 });
    m.receive({ topic: 'mute', userId: 'bob', payload: true });
    const read = () => {
      let v: MixerSettingsState | undefined;
      m.context().get('xcastMixerSettings', 'kept', (_e: unknown, x: MixerSettingsState) => { v = x; });
      return v;
    };
    assert.ok(await until(() => read()?.users?.bob?.muted === true, 5000), `kept: ${JSON.stringify(read())}`);
    assert.deepEqual(JSON.parse(JSON.stringify(read()!.users)), { alice: { gain: 0.5 }, bob: { muted: true } });
    assert.equal(fs.existsSync(path.join(userDir, 'xcast')), false, 'no file: the context store has them');
  });

  it('settingsStore "none" keeps nothing; a store Node-RED does not have is refused, naming the field', async () => {
    await helper.load([mixerNode], flow({ settingsStore: 'none' }));
    helper.getNode('m1').receive({ topic: 'gain', userId: 'alice', payload: 0.5 });
    await helper.setFlows(flow({ settingsStore: 'none' }), 'full');
    assert.equal(fs.existsSync(path.join(userDir, 'xcast')), false);
    const after = await measure();
    assert.ok(Math.abs(after.left - 0.4) < 0.004, `left ${after.left}: unity`);
    await helper.setFlows(flow({ settingsStore: 'nosuchstore' }), 'full');
    const ok = await until(() => helper.log().args.some((a: unknown[]) => /settingsStore/.test(String((a[0] as { msg?: unknown })?.msg))), 5000);
    assert.ok(ok, 'the refusal names settingsStore');
  });
});

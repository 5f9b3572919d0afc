// Node test: the Opus encode node with encoder threads sends, per stream and in order, the very packets it sends
// encoding on the event loop — for a mix-minus batch of one stream per receiver.
import assert from 'node:assert/strict';
import { toneFrame } from '../engine/util';
import { helper } from '../support/node-helper';
const encodeNode = require('../../nodes/opus-encode/opus-encode');

const N = 480;
const USERS = ['ann', 'bob', 'cid', 'dee', 'eve'];
const FRAMES = 30;

interface Out { targetUserId: string; payload: Buffer; audio: { seq: number; codec: string; frameSamples: number } }

async function run(encodeWorkers: string): Promise<Out[]> {
  await helper.load([encodeNode], [
    { id: 't1', type: 'tab', label: 't' },
    { id: 'e1', z: 't1', x: 100, y: 100, type: 'xcast-opus-encode', frameMs: '10', bitrate: '64', complexity: '5', encodeWorkers, wires: [['out']] },
    { id: 'out', z: 't1', x: 300, y: 100, type: 'helper' },
  ]);
  const got: Out[] = [];
  helper.getNode('out').on('input', (m: Out) => got.push(m));
  const e = helper.getNode('e1');
  for (let f = 0; f < FRAMES; f++) {
    USERS.forEach((u, k) => e.receive({
      topic: 'audio', userId: 'xcast', targetUserId: u, payload: toneFrame(N, 2, f * N, 300 + 50 * k, 0.3),
      audio: { codec: 'pcm_f32le', sampleRate: 48000, channels: 2, frameSamples: N, seq: f, captureTime: 0, trackId: 1 },
    }));
    await new Promise((r) => setTimeout(r, 2));
  }
  const t0 = Date.now();
  while (got.length < USERS.length * FRAMES && Date.now() - t0 < 10000) await new Promise((r) => setTimeout(r, 10));
  return got;
}

describe('opus encode: encoder threads', function () {
  this.timeout(30000);
  beforeEach((done) => { helper.startServer(done); });
  afterEach((done) => { helper.unload().then(() => helper.stopServer(done)); });

  it('2 threads: every receiver\'s stream gets the packets the event loop\'s encoders give, seq 0, 1, 2 … in order', async () => {
    const inline = await run('0');
    await helper.unload();
    const threaded = await run('2');
    assert.equal(inline.length, USERS.length * FRAMES);
    assert.equal(threaded.length, USERS.length * FRAMES);
    for (const u of USERS) {
      const a = inline.filter((m) => m.targetUserId === u);
      const b = threaded.filter((m) => m.targetUserId === u);
      assert.deepEqual(b.map((m) => m.audio.seq), a.map((m) => m.audio.seq), `${u}: seqs`);
      assert.deepEqual(b.map((m) => m.audio.seq), Array.from({ length: FRAMES }, (_, i) => i));
      for (let i = 0; i < FRAMES; i++) {
        assert.equal(b[i].audio.codec, 'opus');
        assert.ok(b[i].payload.equals(a[i].payload), `${u} frame ${i}: same packet`);
      }
    }
  });

  it('refuses a thread count that is not a number or auto, naming encodeWorkers', async () => {
    await helper.load([encodeNode], [
      { id: 't1', type: 'tab', label: 't' },
      { id: 'e1', z: 't1', x: 100, y: 100, type: 'xcast-opus-encode', encodeWorkers: 'many', wires: [[]] },
    ]);
    const logged = helper.log().args.filter((a: unknown[]) => (a[0] as { level?: number })?.level === 20).map((a: unknown[]) => String((a[0] as { msg?: unknown }).msg));
    assert.ok(logged.some((m: string) => /encodeWorkers: "many" is not a number/.test(m)), JSON.stringify(logged));
  });
});

// Node test: the socket writer's metadata from context — a value that cannot be serialised is the node's error (said
// once), the process and the audio go on, and the next good value is sent.
import assert from 'node:assert/strict';
import { StreamClient, StreamConnection } from '../../runtime/protocol/transport';
import { freePort } from '../support/xcast-process';
import { helper } from '../support/node-helper';
const writerNode = require('../../nodes/socket-writer/socket-writer');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('socket writer metadata from context', function () {
  this.timeout(20000);
  beforeEach((done) => { helper.startServer(done); });
  afterEach((done) => { helper.unload().then(() => helper.stopServer(done)); });

  it('a context value with a cycle: one error naming it, audio still reaches the receiver, then the fixed value arrives', async () => {
    const port = await freePort();
    await helper.load(writerNode, [
      { id: 't1', type: 'tab', label: 't' },
      { id: 'w1', z: 't1', x: 100, y: 100, type: 'xcast-socket-writer', mode: 'server', port: String(port), metaSource: 'global', metaKey: 'state', wires: [[]] },
    ]);
    const w = helper.getNode('w1');
    const cyclic: Record<string, unknown> = { users: 1 };
    cyclic.self = cyclic;
    w.context().global.set('state', cyclic);
    await sleep(300);
    const client = new StreamClient({ host: '127.0.0.1', port, hello: { userId: 'rx', role: 'monitor' }, reconnect: false });
    const metas: unknown[] = [];
    let audio = 0;
    const conn = await new Promise<StreamConnection>((resolve, reject) => {
      client.on('connect', resolve);
      client.on('connectError', reject);
      client.start();
    });
    conn.on('metadata', (m: unknown) => metas.push(m));
    conn.on('audio', () => { audio++; });
    try {
      await sleep(200);
      for (let seq = 0; seq < 5; seq++) {
        w.receive({ topic: 'audio', payload: Buffer.alloc(480 * 4), audio: { codec: 'pcm_f32le', sampleRate: 48000, channels: 1, frameSamples: 480, seq, captureTime: 0, trackId: 1 } });
      }
      await sleep(600);
      const errors = helper.log().args.filter((a: unknown[]) => (a[0] as { level?: number })?.level === 20).map((a: unknown[]) => String((a[0] as { msg?: unknown }).msg));
      const metaErrors = errors.filter((m: string) => m.startsWith('metadata not sent:'));
      assert.equal(metaErrors.length, 1, `said once, not every 250 ms: ${JSON.stringify(errors)}`);
      assert.match(metaErrors[0], /circular/i);
      assert.equal(audio, 5, 'the audio went on');
      assert.equal(metas.length, 0);
      w.context().global.set('state', { users: 2 });
      for (let i = 0; i < 40 && metas.length === 0; i++) await sleep(25);
      assert.deepEqual(metas[0], { state: { users: 2 } });
    } finally {
      await client.close();
    }
  });
});

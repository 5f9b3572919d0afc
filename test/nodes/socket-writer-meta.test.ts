// Node test: the socket writer's metadata from context — a value that cannot be serialised is the node's error (said
// once), the process and the audio go on, and the next good value is sent.
import assert from 'node:assert/strict';
import { StreamClient, StreamConnection } from '../../runtime/protocol/transport';
import { freePort } from '../support/xcast-process';
import { until } from '../support/resources';
import { loadFlow, loggedErrors, nodeModules, statusOf, light, useNodeRed } from '../support/node-red';

describe('socket writer metadata from context', function () {
  this.timeout(20000);
  useNodeRed();

  it('a context value with a cycle: one error naming it, audio still reaches the receiver, then the fixed value arrives', async () => {
    const port = await freePort();
    const f = await loadFlow([nodeModules.socketWriter], [
      { id: 'w1', type: 'xcast-socket-writer', mode: 'server', port: String(port), metaSource: 'global', metaKey: 'state', wires: [[]] },
    ]);
    const w = f.node('w1') as unknown as { receive(m: unknown): void; context(): { global: { set(k: string, v: unknown): void } } };
    // Every attempt to serialise it reads `users` first: the count of attempts is how the test sees the writer poll.
    let attempts = 0;
    const cyclic: Record<string, unknown> = { get users() { attempts++; return 1; } };
    cyclic.self = cyclic;
    w.context().global.set('state', cyclic);
    await statusOf('w1', light('yellow', 'ring'), 'listening');
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
      // The writer has its receiver (green dot) before the audio is given to it.
      await statusOf('w1', light('green', 'dot'), 'a receiver');
      for (let seq = 0; seq < 5; seq++) {
        w.receive({ topic: 'audio', payload: Buffer.alloc(480 * 4), audio: { codec: 'pcm_f32le', sampleRate: 48000, channels: 1, frameSamples: 480, seq, captureTime: 0, trackId: 1 } });
      }
      assert.ok(await until(() => audio === 5), `the audio went on: ${audio} of 5 frames`);
      // Two more polls (250 ms apart) after the greeting's attempt: each failed again, none said so again.
      const seen = attempts;
      assert.ok(await until(() => attempts >= seen + 2), `the writer tried the value ${attempts} times`);
      const metaErrors = loggedErrors().filter((m: string) => m.startsWith('metadata not sent:'));
      assert.equal(metaErrors.length, 1, `said once, not every 250 ms: ${JSON.stringify(loggedErrors())}`);
      assert.match(metaErrors[0], /circular/i);
      assert.equal(metas.length, 0);
      w.context().global.set('state', { users: 2 });
      assert.ok(await until(() => metas.length > 0), 'the fixed value arrived');
      assert.deepEqual(metas[0], { state: { users: 2 } });
    } finally {
      await client.close();
    }
  });
});

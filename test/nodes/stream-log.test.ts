// Node tests: xcast-stream-log wired to a real mixer (its output 2) — one message and one log line per stream event,
// the sender's address from connection events, and counts equal to the mixer's own track state.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadFlow, nodeContract, nodeModules, statusOf, light, useNodeRed, loggedErrors } from '../support/node-red';
import { until } from '../support/resources';
import { tmpDir } from '../support/xcast-process';
import { parseStreamLogLine } from '../../runtime/streamlog/format';
const streamLogNode = require('../../nodes/stream-log/stream-log');

const N = 480;
const pcm = Buffer.from(new Float32Array(N).fill(0.1).buffer);
const packet = (userId: string, connectionId: string, seq: number) => ({
  topic: 'audio', userId, connectionId, payload: pcm, audio: { codec: 'pcm_f32le', sampleRate: 48000, channels: 1, frameSamples: N, seq, captureTime: 0, trackId: 1 },
});

describe('nodes/stream-log', function () {
  this.timeout(30000);
  useNodeRed();

  nodeContract({
    type: 'xcast-stream-log',
    module: streamLogNode,
    config: async () => ({ file: path.join(tmpDir('xcast-streamlog-node-'), 'stream.log'), maxBytes: '4096', keep: '2' }),
    refused: { config: { maxBytes: '12' }, field: 'maxBytes' },
    noBadInput: 'it takes streamEvents and connection messages and ignores every other',
    async exercise(f) {
      f.node('n1').receive({ topic: 'streamEvents', payload: [{ kind: 'new', userId: 'a', trackId: 1, connectionId: '', room: 'main', seq: 0, count: 0, at: Date.now() }] });
    },
    async afterClose(config) {
      // close() waited for the line: it is in the file.
      assert.match(fs.readFileSync(config.file as string, 'utf8'), /^\[\d+\] \[-\] new stream "a"\/1\n$/);
    },
  });

  it('refuses a file that is a directory, and files kept out of range, naming the field', async () => {
    await loadFlow([streamLogNode], [{ id: 'n1', type: 'xcast-stream-log', file: tmpDir() }, { id: 'n2', type: 'xcast-stream-log', keep: '101' }]);
    await statusOf('n1', light('red', 'ring', /file/));
    await statusOf('n2', light('red', 'ring', /keep/));
    assert.ok(loggedErrors().some((e) => /file: cannot write .*directory/.test(e)), JSON.stringify(loggedErrors()));
  });

  it('wired to a real mixer: new, repeated, out-of-order, missing, dropped and closed, with the sender\'s address; counts = the mixer\'s', async () => {
    const dir = tmpDir('xcast-streamlog-node-');
    const f = await loadFlow([nodeModules.mixer, streamLogNode], [
      { id: 'mix', type: 'xcast-mixer', channels: '1', frameMs: '10', jitterFrames: '3', jitterAdaptive: false, trackTimeoutMs: '400', stateIntervalMs: '20', wires: [[], ['log', 'state'], [], []] },
      // A relative file: in Node-RED's userDir (the helper's settings have none, so the cwd): given absolute here.
      { id: 'log', type: 'xcast-stream-log', file: path.join(dir, 'stream.log'), maxBytes: '1048576', keep: '3', wires: [['out']] },
    ], { helpers: ['out', 'state'] });
    const mix = f.node('mix');
    const log = f.node('log');
    log.receive({ topic: 'connection', payload: { event: 'open', connectionId: 'c1', remote: '10.1.2.3:4444', userId: 'alice' } });
    // alice: 0 … 59 at 10 ms, with 20 sent twice, 31 after 32, and 40–42 never sent; bob on c2 (no address known).
    const order: number[] = [];
    for (let s = 0; s < 60; s++) {
      if (s >= 40 && s <= 42) continue;
      if (s === 31) continue;
      order.push(s);
      if (s === 20) order.push(20);
      if (s === 32) order.push(31);
    }
    let i = 0;
    let b = 0;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        // Two packets in a slot where the order has a repeat or a swap (so neither is late).
        for (let k = 0; k < 2 && i < order.length; k++) {
          const s = order[i++];
          mix.receive(packet('alice', 'c1', s));
          if (k === 0 && s !== 20 && s !== 32) break;
        }
        mix.receive(packet('bob', 'c2', b++));
        if (i >= order.length) { clearInterval(timer); resolve(); }
      }, 10);
    });
    // bob's connection closes; alice just stops: dropped after the 400 ms timeout.
    mix.receive({ topic: 'connection', payload: { event: 'close', connectionId: 'c2' } });
    log.receive({ topic: 'connection', payload: { event: 'close', connectionId: 'c2' } });
    const out = f.received('out');
    assert.ok(await until(() => out.some((m) => (m.payload as { event: string }).event === 'dropped'), 5000), `no dropped: ${JSON.stringify(out.map((m) => m.payload))}`);
    const alice = out.map((m) => m.payload as Record<string, unknown>).filter((p) => p.userId === 'alice');
    const bob = out.map((m) => m.payload as Record<string, unknown>).filter((p) => p.userId === 'bob');
    assert.deepEqual(alice.map((p) => `${p.event} ${p.seq} ${p.count}`), ['new 0 0', 'repeated 20 1', 'out-of-order 31 1', 'missing 40 3', 'dropped null 0']);
    assert.ok(alice.every((p) => p.address === '10.1.2.3:4444' && p.connectionId === 'c1' && p.trackId === 1 && p.room === 'main' && typeof p.ms === 'number'));
    assert.equal(alice.at(-1)!.timeoutMs, 400);
    assert.deepEqual(bob.map((p) => `${p.event} ${p.address}`), ['new c2', 'closed c2']);
    // The mixer's own counts for alice's track (its last state, at its removal).
    const states = f.received('state').filter((m) => m.topic === 'tracks').flatMap((m) => m.payload as Array<Record<string, unknown>>);
    const last = states.filter((s) => s.userId === 'alice').at(-1)!;
    assert.deepEqual([last.duplicate, last.outOfOrder, last.lost, last.late], [1, 1, 3, 0]);
    // The file: the same events, one a line, in seed 002's format.
    await until(() => fs.existsSync(path.join(dir, 'stream.log')) && fs.readFileSync(path.join(dir, 'stream.log'), 'utf8').includes('dropped'), 3000);
    const lines = fs.readFileSync(path.join(dir, 'stream.log'), 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, out.length);
    const aliceLines = lines.map(parseStreamLogLine).filter((l) => l!.text.includes('"alice"')).map((l) => `[${l!.address}] ${l!.text}`);
    assert.deepEqual(aliceLines, [
      '[10.1.2.3:4444] new stream "alice"/1',
      '[10.1.2.3:4444] repeated packet seq 20 ("alice"/1)',
      '[10.1.2.3:4444] out-of-order packet seq 31 ("alice"/1)',
      '[10.1.2.3:4444] missing 3 packets from seq 40 ("alice"/1)',
      '[10.1.2.3:4444] dropped stream "alice"/1 (nothing for 400 ms)',
    ]);
    assert.ok(lines.every((l, k) => l === out[k].line), 'each message carries its line');
    await statusOf('log', light('green', 'dot', /1 repeated/));
  });
});

// Node test: an output switching from Node-RED messages to direct calls never reorders packets — packets still in
// Node-RED's delivery queue when the wire goes direct reach the target before the first call does.
import assert from 'node:assert/strict';
import { StreamClient, StreamConnection } from '../../runtime/protocol/transport';
import { toneFrame } from '../engine/util';
import { freePort } from '../support/xcast-process';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));
const encodeNode = require('../../nodes/opus-encode/opus-encode');
const writerNode = require('../../nodes/socket-writer/socket-writer');

const N = 480;
const pcm = (f: number) => ({
  topic: 'audio', userId: 'xcast', payload: toneFrame(N, 1, f * N, 440, 0.3),
  audio: { codec: 'pcm_f32le', sampleRate: 48000, channels: 1, frameSamples: N, seq: f, captureTime: 0, trackId: 1 },
});

describe('direct wires: the switch from messages to calls', function () {
  this.timeout(20000);
  beforeEach((done) => { helper.startServer(done); });
  afterEach((done) => { helper.unload().then(() => helper.stopServer(done)); });

  async function setUp() {
    const port = await freePort();
    await helper.load([encodeNode, writerNode], [
      { id: 't1', z: '', type: 'tab', label: 't' },
      // A tap on the encoder's output: the output sends messages, to both.
      { id: 'e1', z: 't1', x: 100, y: 100, type: 'xcast-opus-encode', frameMs: '10', wires: [['w1', 'tap']] },
      { id: 'w1', z: 't1', x: 300, y: 100, type: 'xcast-socket-writer', mode: 'server', port: String(port), wires: [[]] },
      { id: 'tap', z: 't1', x: 300, y: 200, type: 'helper' },
    ]);
    const client = new StreamClient({ host: '127.0.0.1', port, hello: { userId: 'rx', role: 'monitor' }, reconnect: false });
    const conn = await new Promise<StreamConnection>((resolve, reject) => {
      client.on('connect', resolve);
      client.on('connectError', reject);
      client.start();
    });
    return { client, conn };
  }

  it('packets queued in Node-RED when a partial deploy takes the tap off arrive before the first direct call', async () => {
    const { client, conn } = await setUp();
    try {
      const FRAMES = 8;
      const seqs: number[] = [];
      const all = new Promise<void>((resolve) => {
        conn.on('audio', (h: { seq: number }) => { seqs.push(h.seq); if (seqs.length === FRAMES) resolve(); });
      });
      const e = helper.getNode('e1');
      // Frames 0–3 go as messages: Node-RED delivers them from its setImmediate queue, after this turn.
      for (let f = 0; f < 4; f++) e.receive(pcm(f));
      // What a "modified nodes" deploy does to a node whose wires alone changed (Flow.start → updateWires): the
      // same node, now wired only to the writer — a direct wire.
      e.updateWires([['w1']]);
      for (let f = 4; f < FRAMES; f++) e.receive(pcm(f));
      await all;
      assert.deepEqual(seqs, [0, 1, 2, 3, 4, 5, 6, 7], 'in the order the encoder made them');
    } finally {
      await client.close();
    }
  });

  it('after the switch the output is direct: later packets are calls, in order, and the tap gets no more', async () => {
    const { client, conn } = await setUp();
    try {
      let tapped = 0;
      helper.getNode('tap').on('input', () => { tapped++; });
      const seqs: number[] = [];
      let want = 0;
      let arrived: () => void = () => undefined;
      conn.on('audio', (h: { seq: number }) => { seqs.push(h.seq); if (seqs.length === want) arrived(); });
      const upTo = (n: number) => new Promise<void>((resolve) => { want = n; arrived = resolve; if (seqs.length >= n) resolve(); });
      const e = helper.getNode('e1');
      e.receive(pcm(0));
      e.updateWires([['w1']]);
      e.receive(pcm(1));
      await upTo(2);
      // From now on a packet reaches the writer by call: no Node-RED message (no 'input' event) on the writer.
      let asMessage = 0;
      helper.getNode('w1').on('input', () => { asMessage++; });
      e.receive(pcm(2));
      await upTo(3);
      assert.deepEqual(seqs, [0, 1, 2]);
      assert.equal(tapped, 1, 'only the packet sent while the tap was wired');
      assert.equal(asMessage, 0, 'packet 2 went by call, not as a message to the writer');
    } finally {
      await client.close();
    }
  });
});

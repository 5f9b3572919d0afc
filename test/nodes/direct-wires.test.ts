// Node test: direct wires — a reader wired only to a mixer hands it packets by call (no Node-RED message), and wiring
// any other node to that output brings ordinary messages back, for every node on it.
import assert from 'node:assert/strict';
import { StreamClient, StreamConnection } from '../../runtime/protocol/transport';
import { Codec } from '../../runtime/protocol/frame';
import { freePort } from '../support/xcast-process';
import { helper } from '../support/node-helper';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { hooks } = require('@node-red/util');
const readerNode = require('../../nodes/socket-reader/socket-reader');
const mixerNode = require('../../nodes/mixer/mixer');

interface Sent { source: string; topic: unknown }

/** Counts every message Node-RED routes, by source node id. */
function watchSends(): { sent: Sent[]; stop: () => void } {
  const sent: Sent[] = [];
  hooks.add('onSend.direct-wires-test', (events: Array<{ source?: { id?: string }; msg: { topic?: unknown } }>) => {
    for (const e of events) sent.push({ source: e.source?.id ?? '', topic: e.msg?.topic });
  });
  return { sent, stop: () => hooks.remove('onSend.direct-wires-test') };
}

/** A sender of `count` PCM frames (s16 mono, constant 1000), one per 10 ms. */
async function sendFrames(port: number, count: number): Promise<void> {
  const client = new StreamClient({ host: '127.0.0.1', port, hello: { userId: 'alice', role: 'peer' }, reconnect: false });
  const conn = await new Promise<StreamConnection>((resolve, reject) => {
    client.on('connect', resolve);
    client.on('connectError', reject);
    client.start();
  });
  const pcm = Buffer.alloc(480 * 2);
  for (let i = 0; i < 480; i++) pcm.writeInt16LE(1000, i * 2);
  for (let seq = 0; seq < count; seq++) {
    conn.sendAudio({ trackId: 1, seq, captureTime: 0, sampleRate: 48000, channels: 1, codec: Codec.PCM_S16LE, frameSamples: 480 }, pcm);
    await new Promise((r) => setTimeout(r, 10));
  }
  await client.close();
}

function flow(port: number, readerAudioTargets: string[]) {
  return [
    { id: 't1', type: 'tab', label: 't' },
    { id: 'r1', z: 't1', x: 100, y: 100, type: 'xcast-socket-reader', mode: 'server', port: String(port), wires: [readerAudioTargets, [], [], []] },
    { id: 'm1', z: 't1', x: 300, y: 100, type: 'xcast-mixer', channels: '1', jitterFrames: '2', wires: [['mixOut'], [], []] },
    { id: 'mixOut', z: 't1', x: 500, y: 100, type: 'helper' },
    { id: 'tap', z: 't1', x: 300, y: 200, type: 'helper' },
  ];
}

describe('direct wires (socket reader → mixer)', function () {
  this.timeout(30000);
  beforeEach((done) => { helper.startServer(done); });
  afterEach((done) => { helper.unload().then(() => helper.stopServer(done)); });

  async function run(targets: string[]): Promise<{ readerAudioMsgs: number; tapped: number; mixValues: number[]; mixMsgs: number }> {
    const port = await freePort();
    await helper.load([readerNode, mixerNode], flow(port, targets));
    const mixValues: number[] = [];
    let tapped = 0;
    helper.getNode('mixOut').on('input', (msg: { payload: Buffer }) => mixValues.push(Math.round(msg.payload.readFloatLE(0) * 32768)));
    helper.getNode('tap').on('input', () => { tapped++; });
    const w = watchSends();
    try {
      await new Promise((r) => setTimeout(r, 300));
      await sendFrames(port, 40);
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      w.stop();
    }
    return {
      readerAudioMsgs: w.sent.filter((s) => s.source === 'r1' && s.topic === 'audio').length,
      tapped,
      mixValues,
      mixMsgs: w.sent.filter((s) => s.source === 'm1' && s.topic === 'audio').length,
    };
  }

  it('wired only to the mixer: no message leaves the reader for the audio, and the mixer mixes every packet', async () => {
    const r = await run(['m1']);
    assert.equal(r.readerAudioMsgs, 0, 'audio messages sent by the reader');
    const playing = r.mixValues.filter((v) => v === 1000).length;
    assert.ok(playing >= 30, `mix frames carrying the sender's 1000: ${playing} of ${r.mixValues.length}`);
    // The mixer's own output goes to a helper node (not direct): ordinary messages.
    assert.equal(r.mixMsgs, r.mixValues.length);
  });

  it('with another node on the same output: every packet is a message again, to both', async () => {
    const r = await run(['m1', 'tap']);
    assert.equal(r.readerAudioMsgs, 80, 'one send event per packet and wire: 40 × 2');
    assert.equal(r.tapped, 40);
    const playing = r.mixValues.filter((v) => v === 1000).length;
    assert.ok(playing >= 30, `mix frames carrying the sender's 1000: ${playing} of ${r.mixValues.length}`);
  });
});

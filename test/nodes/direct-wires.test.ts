// Node test: direct wires — a reader wired only to a mixer hands it packets by call (no Node-RED message), and wiring
// any other node to that output brings ordinary messages back, for every node on it.
import assert from 'node:assert/strict';
import { StreamClient, StreamConnection } from '../../runtime/protocol/transport';
import { Codec } from '../../runtime/protocol/frame';
import { freePort } from '../support/xcast-process';
import { until } from '../support/resources';
import { helper, loadFlow, nodeModules, statusOf, light, useNodeRed } from '../support/node-red';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { hooks } = require('@node-red/util');

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

describe('direct wires (socket reader → mixer)', function () {
  this.timeout(30000);
  useNodeRed();

  async function run(targets: string[]): Promise<{ readerAudioMsgs: number; tapped: number; mixValues: number[]; mixMsgs: number; mixerReceived: number }> {
    const port = await freePort();
    const f = await loadFlow([nodeModules.socketReader, nodeModules.mixer], [
      { id: 'r1', type: 'xcast-socket-reader', mode: 'server', port: String(port), wires: [targets, [], [], []] },
      { id: 'm1', type: 'xcast-mixer', channels: '1', jitterFrames: '2', stateIntervalMs: '10', wires: [['mixOut'], ['state'], []] },
    ], { helpers: ['mixOut', 'state', 'tap'] });
    const mixValues: number[] = [];
    helper.getNode('mixOut').on('input', (msg: { payload: Buffer }) => mixValues.push(Math.round(msg.payload.readFloatLE(0) * 32768)));
    // The mixer's track state counts the packets its playout buffer received: the evidence that none was lost.
    let mixerReceived = 0;
    helper.getNode('state').on('input', (msg: { topic: string; payload: Array<{ userId: string; received: number }> }) => {
      const alice = msg.topic === 'tracks' ? msg.payload.find((t) => t.userId === 'alice') : undefined;
      if (alice) mixerReceived = alice.received;
    });
    const w = watchSends();
    try {
      await statusOf('r1', light('yellow', 'ring'), 'listening');
      await sendFrames(port, 40);
      await until(() => mixerReceived >= 40 && f.received('tap').length >= (targets.includes('tap') ? 40 : 0), 10_000);
    } finally {
      w.stop();
    }
    return {
      readerAudioMsgs: w.sent.filter((s) => s.source === 'r1' && s.topic === 'audio').length,
      tapped: f.received('tap').length,
      mixValues,
      mixMsgs: w.sent.filter((s) => s.source === 'm1' && s.topic === 'audio').length,
      mixerReceived,
    };
  }

  it('wired only to the mixer: no message leaves the reader for the audio, and every packet reaches the mixer (its playout buffer counts 40)', async () => {
    const r = await run(['m1']);
    assert.equal(r.readerAudioMsgs, 0, 'audio messages sent by the reader');
    assert.equal(r.mixerReceived, 40, 'packets the mixer received');
    assert.ok(r.mixValues.includes(1000), `mix frames carry the sender's 1000: ${r.mixValues.join(',')}`);
    // The mixer's own output goes to a helper node (not direct): ordinary messages.
    assert.equal(r.mixMsgs, r.mixValues.length);
  });

  it('with another node on the same output: every packet is a message again, to both', async () => {
    const r = await run(['m1', 'tap']);
    assert.equal(r.readerAudioMsgs, 80, 'one send event per packet and wire: 40 × 2');
    assert.equal(r.tapped, 40);
    assert.equal(r.mixerReceived, 40, 'packets the mixer received');
    assert.ok(r.mixValues.includes(1000), `mix frames carry the sender's 1000: ${r.mixValues.join(',')}`);
  });
});

// Node tests (node-red-node-test-helper): admin aggregator and mixeradmin client — status lights, refusals, close.
import assert from 'node:assert/strict';
import { light, loadFlow, nodeContract, nodeModules, statusOf, useNodeRed } from '../support/node-red';

describe('admin aggregator node', function () {
  this.timeout(20000);
  useNodeRed();

  it('a green dot once it publishes the state', async () => {
    const f = await loadFlow([nodeModules.adminAggregator], [{ id: 'a', type: 'xcast-admin-aggregator', intervalMs: '20', wires: [['out']] }], { helpers: ['out'] });
    f.node('a').receive({ topic: 'connection', userId: 'alice', payload: { event: 'open', userId: 'alice', connectionId: 'c1', direction: 'incoming', at: Date.now() } });
    await statusOf('a', light('green', 'dot', /user/), 'the green dot of a published state');
    const [published] = await f.receivedAtLeast('out', 1);
    assert.ok((published.payload as { mixeradminSharedState?: unknown }).mixeradminSharedState, 'the state rides as metadata');
  });

  it('a yellow dot for QOSMetrics it refused (until its next publication)', async () => {
    // Publishing once a minute: nothing covers the yellow dot during the test.
    const f = await loadFlow([nodeModules.adminAggregator], [{ id: 'a', type: 'xcast-admin-aggregator', intervalMs: '60000' }]);
    // A report without its head: refused, counted in the status (not an error of the flow: the sender's).
    f.node('a').receive({ topic: 'qos', userId: 'alice', payload: { qosTimestamp: 1 } });
    await statusOf('a', light('yellow', 'dot', /refused/), 'the yellow dot of a refused report');
  });

  nodeContract({
    type: 'xcast-admin-aggregator', module: nodeModules.adminAggregator,
    // It publishes on a timer, which close must stop.
    config: async () => ({ intervalMs: '20', wires: [['out']] }),
    refused: { config: { contextStore: 'disk' }, field: 'contextStore' },
    noBadInput: 'every message is state it folds in; a malformed QOSMetrics is refused in its status, as the sender\'s fault',
    async exercise(f) { await f.receivedAtLeast('out', 2); },
  });
});

describe('mixeradmin client node', function () {
  this.timeout(20000);
  useNodeRed();

  it('a yellow ring until metadata comes, a green dot once the xcast state arrived, and getMetrics answers from it', async () => {
    const f = await loadFlow([nodeModules.mixeradminClient], [{ id: 'c', type: 'xcast-mixeradmin-client', wires: [['out']] }], { helpers: ['out'] });
    await statusOf('c', light('yellow', 'ring', /metadata/), 'the yellow ring of waiting');
    const state = { connections: { alice: { connected: true } }, incomingAudioTracks: [], outgoingAudioTracks: [] };
    f.node('c').receive({ topic: 'metadata', payload: { mixeradminSharedState: state } });
    await statusOf('c', light('green', 'dot', /connection/), 'the green dot of a reported state');
    f.node('c').receive({ topic: 'getMetrics' });
    const [answer] = await f.receivedAtLeast('out', 1);
    assert.equal(typeof answer.payload, 'object');
  });

  nodeContract({
    type: 'xcast-mixeradmin-client', module: nodeModules.mixeradminClient,
    config: async () => ({ wires: [['out']] }),
    refused: { config: { staleMs: '10' }, field: 'staleMs' },
    noBadInput: 'every message is state it keeps or a getMetrics request; others are not for it',
    async exercise(f) {
      f.node('n1').receive({ topic: 'metadata', payload: { mixeradminSharedState: { connections: {}, incomingAudioTracks: [], outgoingAudioTracks: [] } } });
      f.node('n1').receive({ topic: 'getMetrics' });
      await f.receivedAtLeast('out', 1);
    },
  });
});

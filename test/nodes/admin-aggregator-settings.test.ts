// Node test: the admin aggregator's identity bounds as editor settings — refused by name when out of range, and in
// effect: a connection without audio, QOS or authentication stays out of the published state; the user cap holds.
import assert from 'node:assert/strict';
import { light, loadFlow, loggedErrors, nodeModules, statusOf, useNodeRed } from '../support/node-red';

const T0_US = 1_763_740_000_000_000;
const qos = { head: { trackId: 1, seq: 1, captureTime: T0_US }, qosTimestamp: T0_US + 5000 };

describe('admin aggregator node settings', function () {
  this.timeout(20000);
  useNodeRed();

  for (const [field, value] of [['maxUsers', '0'], ['retainUnconfirmedMs', '-1'], ['maxUnconfirmedUsers', 'many'], ['retainDisconnectedMs', '-5']]) {
    it(`refuses ${field} = ${JSON.stringify(value)}, naming it`, async () => {
      await loadFlow([nodeModules.adminAggregator], [{ id: 'a', type: 'xcast-admin-aggregator', [field]: value }]);
      await statusOf('a', light('red', 'ring'), 'the red ring of a refusal');
      assert.ok(loggedErrors().some((e) => e.includes(field)), JSON.stringify(loggedErrors()));
    });
  }

  it('publishes only confirmed users, counts the others, and keeps to maxUsers', async () => {
    const f = await loadFlow([nodeModules.adminAggregator], [
      { id: 'a', type: 'xcast-admin-aggregator', intervalMs: '20', maxUsers: '1', wires: [['out']] },
    ], { helpers: ['out'] });
    const a = f.node('a');
    a.receive({ topic: 'connection', userId: 'stranger', payload: { event: 'open', userId: 'stranger', connectionId: 's1', at: Date.now() }, direction: 'incoming' });
    a.receive({ topic: 'qos', userId: 'mon-1', payload: qos, arrivalTime: T0_US + 6000 });
    a.receive({ topic: 'qos', userId: 'mon-2', payload: qos, arrivalTime: T0_US + 6000 });
    type State = { connections: Record<string, unknown>; unconfirmed: unknown };
    let state: State | undefined;
    // The first publication after the three inputs were taken (one that has the last of them).
    for (let k = 1; !state?.connections['mon-2']; k++) {
      const msgs = await f.receivedAtLeast('out', k);
      state = (msgs[k - 1].payload as { mixeradminSharedState: State }).mixeradminSharedState;
    }
    assert.deepEqual(Object.keys(state.connections), ['mon-2'], 'one user at most, the newer receiver replacing the older');
    assert.deepEqual(state.unconfirmed, { users: 1, connections: 1 });
  });
});

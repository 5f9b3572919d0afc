// Node: admin aggregator — keeps mixeradminSharedState per userId from mixer track state, QoS reports and connection events.
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { AdminAggregator } from '../../runtime/qos/aggregator';
import { nowMicros } from '../../runtime/clock';
import { num, str, oneOf } from '../lib/config';
import { refuse } from '../lib/glue';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';

interface AggregatorDef extends NodeDef {
  contextStore: string; contextKey: string; intervalMs: string; connectedThresholdMs: string;
  maxUsers: string; retainDisconnectedMs: string; retainUnconfirmedMs: string; maxUnconfirmedUsers: string;
}

export = function (RED: NodeAPI) {
  function AdminAggregatorNode(this: Node, config: AggregatorDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    let timer: NodeJS.Timeout | undefined;
    try {
      const contextStore = oneOf(config as never, 'contextStore', ['global', 'flow'] as const, 'global');
      const contextKey = str(config as never, 'contextKey', { def: 'mixeradminSharedState' });
      const intervalMs = num(config as never, 'intervalMs', { def: 250, min: 20, max: 60000 });
      const connectedThresholdMs = num(config as never, 'connectedThresholdMs', { def: 500, min: 10 });
      // The identity-flood bounds (runtime/qos/aggregator.ts): who gets a user record, and for how long.
      const agg = new AdminAggregator({
        connectedThresholdMs,
        maxUsers: num(config as never, 'maxUsers', { def: 1024, min: 1, max: 100_000, int: true }),
        retainDisconnectedMs: num(config as never, 'retainDisconnectedMs', { def: 300_000, min: 0, max: 86_400_000 }),
        retainUnconfirmedMs: num(config as never, 'retainUnconfirmedMs', { def: 10_000, min: 0, max: 3_600_000 }),
        maxUnconfirmedUsers: num(config as never, 'maxUnconfirmedUsers', { def: 256, min: 0, max: 100_000, int: true }),
      });
      let refused = 0;
      let refusedDetail = '';
      let shown: ReturnType<AdminAggregator['snapshot']> | null = null;
      // Status texts are made only when the throttled status is shown (a catalog lookup per report or per publish
      // would cost more than the work it describes).
      const refusedText = () => t('admin-aggregator.status.refused', { count: refused, detail: refusedDetail });
      const usersText = () => t('admin-aggregator.status.users', {
        count: Object.keys(shown?.connections ?? {}).length, in: shown?.incomingAudioTracks.length ?? 0, out: shown?.outgoingAudioTracks.length ?? 0,
      });

      node.on('input', (msg: Record<string, unknown>, _send, done) => {
        const userId = msg.userId as string | undefined;
        const p = msg.payload as Record<string, unknown>;
        switch (msg.topic) {
          case 'tracks': agg.onTrackState(p as never); break;
          case 'qos': {
            const r = agg.onQos(userId ?? '', p, (msg.arrivalTime as number | undefined) ?? nowMicros());
            if (r.rejected.length) {
              refused += r.rejected.length;
              refusedDetail = r.rejected[0].message;
              status.setBy('yellow', 'dot', refusedText);
            }
            break;
          }
          case 'connection': {
            const ev = { ...(p as object), direction: (msg.direction ?? p?.direction) } as never;
            agg.onConnection(ev);
            if ((p as { event?: string })?.event === 'error') agg.onProtocolError(userId, String((p as { code?: string }).code ?? 'protocol'));
            break;
          }
          case 'pong': if (userId) agg.onPong(userId, p as never); break;
          default: break;
        }
        done();
      });

      const publish = () => {
        const state = agg.snapshot();
        const ctx = contextStore === 'global' ? node.context().global : node.context().flow;
        ctx.set(contextKey, state);
        node.send({ topic: 'metadata', payload: { mixeradminSharedState: state } } as NodeMessage);
        shown = state;
        status.setBy('green', 'dot', usersText);
      };
      timer = setInterval(publish, intervalMs);
    } catch (err) {
      refuse(RED, node, err);
    }
    node.on('close', (removed: boolean, done: () => void) => { if (timer) clearInterval(timer); status.clear(); done(); });
  }
  RED.nodes.registerType('xcast-admin-aggregator', AdminAggregatorNode);
};

// Node: qos writer (the seed's qosWriter) — writes QOSMetrics back as QOS frames on the connection the audio came in on.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { num } from '../lib/config';
import { refuse } from '../lib/glue';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';
import { findConnection } from '../lib/connections';
import type { StreamLink } from '../../runtime/protocol/link';

interface QosWriterDef extends NodeDef { batch: string }

export = function (RED: NodeAPI) {
  function QosWriterNode(this: Node, config: QosWriterDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    let sent = 0;
    let lost = 0;
    // Made only when the (throttled) status is shown, not for every message.
    const lostText = () => t('qos-writer.status.lost', { sent, lost });
    const sentText = () => t('qos-writer.status.sent', { sent });
    const pending = new Map<StreamLink, unknown[]>();
    try {
      const batch = num(config as never, 'batch', { def: 1, min: 1, max: 256, int: true });
      node.on('input', (msg: Record<string, unknown>, _send, done) => {
        const conn = findConnection(msg.connectionId as string | undefined);
        if (!conn || !conn.isOpen) {
          // The sender has gone: nothing to answer, and not an error of this flow.
          lost++;
          status.setBy('yellow', 'ring', lostText);
          done();
          return;
        }
        if (batch === 1) {
          conn.sendQos(msg.payload as never);
        } else {
          let list = pending.get(conn);
          if (!list) { list = []; pending.set(conn, list); conn.once('close', () => pending.delete(conn)); }
          list.push(msg.payload);
          if (list.length >= batch) { conn.sendQos(list as never); pending.set(conn, []); }
        }
        sent++;
        status.setBy('green', 'dot', sentText);
        done();
      });
    } catch (err) {
      refuse(RED, node, err);
    }
    node.on('close', (removed: boolean, done: () => void) => { pending.clear(); status.clear(); done(); });
  }
  RED.nodes.registerType('xcast-qos-writer', QosWriterNode);
};

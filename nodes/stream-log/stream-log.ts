// Node: stream log — seed 002's stream event log: new, repeated, out-of-order, missing, late, dropped and closed
// streams, one message each and one line each in a size-rotated file, with the sender's address.
import fs from 'node:fs';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { num, str, ConfigError } from '../lib/config';
import { refuse, resolveUserPath } from '../lib/glue';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';
import { ConnectionAddresses } from '../../runtime/streamlog/addresses';
import { formatStreamEvent, formatLeftOut, msSinceStart } from '../../runtime/streamlog/format';
import { RotatingLogWriter } from '../../runtime/streamlog/writer';
import { STREAM_EVENT_KINDS, type StreamEvent, type StreamEventKind } from '../../runtime/streamlog/event';

interface StreamLogDef extends NodeDef { file?: string; maxBytes?: string; keep?: string }

/** A stream event as the mixer sends it; anything else in a streamEvents payload is skipped. */
function isStreamEvent(e: unknown): e is StreamEvent {
  const v = e as StreamEvent;
  return !!v && typeof v === 'object' && STREAM_EVENT_KINDS.includes(v.kind) && typeof v.userId === 'string'
    && typeof v.connectionId === 'string' && typeof v.at === 'number' && typeof v.count === 'number';
}

export = function (RED: NodeAPI) {
  function StreamLogNode(this: Node, config: StreamLogDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    let writer: RotatingLogWriter | null = null;
    try {
      // Blank: messages only. Relative: in Node-RED's userDir.
      const fileSetting = str(config as never, 'file', { def: '' });
      const maxBytes = num(config as never, 'maxBytes', { def: 10 * 1024 * 1024, min: 1024, max: 2 ** 40, int: true });
      const keep = num(config as never, 'keep', { def: 5, min: 0, max: 100, int: true });
      const file = fileSetting === '' ? '' : resolveUserPath(RED, fileSetting);
      if (file !== '') {
        let isDir = false;
        try { isDir = fs.statSync(file).isDirectory(); } catch { /* not there yet: made at the first line */ }
        if (isDir) throw new ConfigError('file', 'cannot_write', { file, detail: 'it is a directory' });
        writer = new RotatingLogWriter({ file, maxBytes, keep, onError: (err) => node.warn(t('stream-log.errors.write', { file, detail: err.message })) });
      }
      const addresses = new ConnectionAddresses();
      const counts: Record<StreamEventKind, number> = { new: 0, repeated: 0, 'out-of-order': 0, missing: 0, late: 0, dropped: 0, closed: 0 };
      let leftOut = 0;
      const countsText = () => t('stream-log.status.counts', {
        new: counts.new, repeated: counts.repeated, outOfOrder: counts['out-of-order'], missing: counts.missing, late: counts.late, dropped: counts.dropped,
      }) + (leftOut > 0 ? t('stream-log.status.left-out', { count: leftOut }) : '');

      node.on('input', (msg: Record<string, unknown>, send, done) => {
        if (msg.topic === 'connection') {
          // The socket reader's output 3 and the webrtc node's output 2: connectionId → remote address.
          addresses.onConnectionEvent(msg.payload);
          done();
          return;
        }
        if (msg.topic !== 'streamEvents' || !Array.isArray(msg.payload)) { done(); return; }
        const out: NodeMessage[] = [];
        for (const e of msg.payload as unknown[]) {
          if (!isStreamEvent(e)) continue;
          const address = addresses.addressOf(e.connectionId);
          const line = formatStreamEvent(e, address);
          writer?.write(line);
          counts[e.kind] += e.kind === 'missing' ? e.count : 1;
          const payload: Record<string, unknown> = {
            event: e.kind, userId: e.userId, trackId: e.trackId, connectionId: e.connectionId, room: e.room, address, seq: e.seq, count: e.count, ms: msSinceStart(e.at),
          };
          if (e.filled !== undefined) payload.filled = e.filled;
          if (e.timeoutMs !== undefined) payload.timeoutMs = e.timeoutMs;
          out.push({ topic: 'streamEvent', payload, line } as NodeMessage);
        }
        const lo = typeof msg.leftOut === 'number' && msg.leftOut > 0 ? msg.leftOut : 0;
        if (lo > 0) {
          leftOut += lo;
          writer?.write(formatLeftOut(lo, Date.now()));
        }
        if (out.length > 0) send([out] as never);
        status.setBy(leftOut > 0 ? 'yellow' : 'green', 'dot', countsText);
        done();
      });
      status.now('grey', 'ring', t('stream-log.status.waiting'));
    } catch (err) {
      refuse(RED, node, err);
    }
    node.on('close', (removed: boolean, done: () => void) => {
      status.clear();
      const w = writer;
      writer = null;
      if (w) w.close().then(() => done(), () => done());
      else done();
    });
  }
  RED.nodes.registerType('xcast-stream-log', StreamLogNode);
};

// Node: streamproto1 socket writer — sends audio and metadata to one server (client mode) or every receiver (server mode).
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import type { StreamConnection } from '../../runtime/protocol/transport';
import { openEndpoint, Endpoint } from '../lib/endpoint';
import { codecId, encodeAudioFrame, encodeMetadataText, AudioHeader } from '../../runtime/protocol/frame';
import { num, str, oneOf, json, ConfigError } from '../lib/config';
import { refuse, isAudioMsg } from '../lib/glue';
import { onAudioInput } from '../lib/direct';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';
import { registerConnection } from '../lib/connections';
import { validateQos, QOSMetrics } from '../../runtime/qos/aggregator';
import { nowMicros } from '../../runtime/clock';

interface WriterDef extends NodeDef {
  mode: string; host: string; port: string; token: string; userId: string; role: string;
  metaSource: string; metaKey: string; profile: string; maxQueueKb: string;
}

const PCM_BYTES: Record<string, number> = { pcm_s16le: 2, pcm_f32le: 4 };

export = function (RED: NodeAPI) {
  function SocketWriterNode(this: Node, config: WriterDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    let endpoint: Endpoint | undefined;
    let metaTimer: NodeJS.Timeout | undefined;
    try {
      const mode = oneOf(config as never, 'mode', ['client', 'server'] as const, 'client');
      const host = str(config as never, 'host', { def: '127.0.0.1' });
      const port = num(config as never, 'port', { min: mode === 'server' ? 0 : 1, max: 65535, int: true });
      // The token is a credential (encrypted, not in the flow file); a flow file may still set it inline.
      const token = (node.credentials as { token?: string } | undefined)?.token || str(config as never, 'token') || undefined;
      const userId = str(config as never, 'userId', { def: mode === 'server' ? 'xcast' : '' });
      if (mode === 'client' && !userId) throw new ConfigError('userId', 'required_in_client_mode');
      const role = oneOf(config as never, 'role', ['peer', 'monitor', 'xcast'] as const, mode === 'server' ? 'xcast' : 'peer');
      const metaSource = oneOf(config as never, 'metaSource', ['none', 'msg', 'flow', 'global'] as const, 'none');
      const metaKey = str(config as never, 'metaKey');
      if ((metaSource === 'flow' || metaSource === 'global') && !metaKey) {
        throw new ConfigError('metaKey', 'required_for_context', { source: metaSource });
      }
      const profile = json(config as never, 'profile');
      const maxQueueBytes = num(config as never, 'maxQueueKb', { def: 256, min: 16, max: 65536 }) * 1024;

      // The seed's getMetaDataStrFunction: where the metadata packet comes from.
      let msgMeta: unknown;
      const getMetaDataStr = (): string | undefined => {
        let v: unknown;
        if (metaSource === 'msg') v = msgMeta;
        else if (metaSource === 'flow' || metaSource === 'global') {
          const c = node.context()[metaSource].get(metaKey);
          // A context value travels under its own key, so several state objects can share one packet.
          v = c === undefined ? undefined : { [metaKey]: c };
        }
        if (v === undefined || v === null) return undefined;
        if (typeof v !== 'object' || Array.isArray(v)) v = { value: v };
        return JSON.stringify(v);
      };
      let lastMetaStr: string | undefined;
      let lastMetaAt = 0;
      const sendMetaAll = (force: boolean) => {
        const s = getMetaDataStr();
        if (s === undefined) return;
        const now = Date.now();
        if (!force && s === lastMetaStr && now - lastMetaAt < 1000) return;
        lastMetaStr = s;
        lastMetaAt = now;
        const f = encodeMetadataText(s);
        if (server) server.broadcast(f);
        else client?.connection?.send(f);
      };
      // A metadata source that cannot be sent (a context value with a cycle, a BigInt, an object whose toJSON is not
      // one) is the node's error, said once until it changes; audio goes on, and the last good metadata stands.
      let lastMetaError = '';
      const metaSafely = (f: () => void) => {
        try {
          f();
          lastMetaError = '';
        } catch (err) {
          const m = `metadata not sent: ${(err as Error).message}`;
          if (m !== lastMetaError) node.error(m);
          lastMetaError = m;
        }
      };
      const greeted = new WeakSet<StreamConnection>();
      const greet = (conn: StreamConnection) => {
        // Metadata goes before the first audio frame on every connection.
        if (greeted.has(conn)) return;
        greeted.add(conn);
        metaSafely(() => {
          const s = getMetaDataStr();
          if (s !== undefined) conn.send(encodeMetadataText(s));
        });
      };

      const receivers = new Set<StreamConnection>();
      // The status for a packet: its text made only when the (throttled) status is shown, not per packet.
      let lastAudio = { codec: '', sampleRate: 0 };
      const streamingText = () => (mode === 'server' ? t('socket-writer.status.streaming-to', { count: receivers.size })
        : t('socket-writer.status.streaming', { codec: lastAudio.codec, kHz: lastAudio.sampleRate / 1000 }));
      const attach = (conn: StreamConnection) => {
        receivers.add(conn);
        registerConnection(conn);
        greet(conn);
        const base = { userId: conn.userId ?? (conn.hello as { name?: string } | undefined)?.name ?? 'xcast', connectionId: conn.id, direction: 'outgoing' as const };
        node.send({ topic: 'connection', payload: { event: 'open', ...base, remote: conn.remote, role: conn.role, hello: conn.hello, at: Date.now() }, ...base } as NodeMessage);
        conn.on('qos', (q: unknown) => {
          const arrivalTime = nowMicros();
          const list = Array.isArray(q) ? q : [q];
          const valid: QOSMetrics[] = [];
          for (const item of list) {
            try {
              valid.push(validateQos(item));
            } catch (err) {
              // A malformed report never reaches the admin state: refuse it on the wire and close that receiver.
              conn.close('bad_qos', (err as Error).message);
              node.send({ topic: 'connection', payload: { event: 'error', code: 'bad_qos', message: (err as Error).message, ...base, at: Date.now() }, ...base } as NodeMessage);
              return;
            }
          }
          for (const v of valid) node.send({ topic: 'qos', payload: v, arrivalTime, ...base } as NodeMessage);
        });
        conn.on('pong', (p: unknown) => node.send({ topic: 'pong', payload: p, ...base } as NodeMessage));
        conn.on('metadata', (m: unknown) => node.send({ topic: 'metadata', payload: m, ...base } as NodeMessage));
        conn.on('protocolError', (err: Error & { code?: string }) => {
          node.warn(t('xcast.errors.closed', { userId: base.userId, remote: conn.remote, code: err.code ?? 'protocol', detail: err.message }));
          node.send({ topic: 'connection', payload: { event: 'error', code: err.code, message: err.message, ...base, at: Date.now() }, ...base } as NodeMessage);
        });
        conn.once('close', () => {
          receivers.delete(conn);
          node.send({ topic: 'connection', payload: { event: 'close', ...base, remote: conn.remote, at: Date.now() }, ...base } as NodeMessage);
          showState();
        });
        showState();
      };
      const showState = () => {
        if (mode === 'server') status.now(receivers.size ? 'green' : 'yellow', receivers.size ? 'dot' : 'ring', t('socket-writer.status.listening', { port, count: receivers.size }));
        else if (receivers.size) status.now('green', 'dot', t('xcast.status.connected', { where: `${host}:${port}` }));
      };

      endpoint = openEndpoint(RED, node, status, {
        mode, host, port, token, maxQueueBytes,
        hello: { userId, role, profile },
        onListening: showState,
        onConnection: attach,
      });
      const { server, client } = endpoint;
      if (metaSource !== 'none') metaTimer = setInterval(() => metaSafely(() => sendMetaAll(false)), 250);

      let sent = 0;
      const handle = (msg: NodeMessage & Record<string, unknown>): void => {
        if (msg.topic === 'metadata' && !Buffer.isBuffer(msg.payload)) {
          if (metaSource === 'msg') {
            msgMeta = msg.payload;
            sendMetaAll(false);
          }
          return;
        }
        if (!isAudioMsg(msg)) {
          throw new Error(t('socket-writer.errors.not-audio'));
        }
        const a = msg.audio;
        const codec = codecId(a.codec);
        if (codec === undefined) { throw new Error(t('socket-writer.errors.codec', { codec: a.codec })); }
        const bps = PCM_BYTES[a.codec];
        if (bps && msg.payload.length !== a.frameSamples * a.channels * bps) {
          throw new Error(t('socket-writer.errors.pcm-size', { bytes: msg.payload.length, frameSamples: a.frameSamples, channels: a.channels, bps }));
        }
        const h: AudioHeader = { trackId: a.trackId ?? 1, seq: a.seq >>> 0, captureTime: a.captureTime, sampleRate: a.sampleRate, channels: a.channels, codec, frameSamples: a.frameSamples };
        const frame = encodeAudioFrame(h, msg.payload);
        if (server) {
          const target = msg.targetUserId as string | undefined;
          if (target) {
            for (const c of receivers) if (c.userId === target) { greet(c); c.send(frame); }
          } else {
            for (const c of receivers) greet(c);
            server.broadcast(frame);
          }
        } else {
          const c = client?.connection;
          if (c) { greet(c); c.send(frame); }
        }
        sent++;
        lastAudio = a;
        if (receivers.size) status.setBy('green', 'dot', streamingText);
      };
      // An encoder (or a reader) wired straight here hands its packets over by a call (nodes/lib/direct.ts).
      onAudioInput(node, handle as never);

    } catch (err) {
      refuse(RED, node, err);
    }

    node.on('close', (removed: boolean, done: () => void) => {
      if (metaTimer) clearInterval(metaTimer);
      status.clear();
      Promise.resolve(endpoint?.close()).then(() => done(), () => done());
    });
  }
  RED.nodes.registerType('xcast-socket-writer', SocketWriterNode, { credentials: { token: { type: 'password' } } });
};

// Node: streamproto1 socket writer — sends audio and metadata to one server (client mode) or every receiver (server mode).
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import type { StreamLink } from '../../runtime/protocol/link';
import { helloWithoutToken } from '../../runtime/protocol/frame';
import { openEndpoint, readTrust, codeText, Endpoint } from '../lib/endpoint';
import { addHttpRoutes } from '../lib/http-routes';
import { wireText } from '../../runtime/log-text';
import { StreamSender } from '../../runtime/protocol/sender';
import { num, str, oneOf, json, ConfigError } from '../lib/config';
import { refuse, isAudioMsg } from '../lib/glue';
import { onAudioInput } from '../lib/direct';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';
import { registerConnection } from '../lib/connections';
import type { QOSMetrics } from '../../runtime/qos/types';
import { nowMicros } from '../../runtime/clock';

interface WriterDef extends NodeDef {
  mode: string; transport?: string; udpIdleTimeoutMs?: string; host: string; port: string; token: string; userId: string; role: string;
  tls?: string; fingerprint?: string; requireClientCert?: boolean | string; usersFile?: string;
  metaSource: string; metaKey: string; profile: string; maxQueueKb: string;
}

export = function (RED: NodeAPI) {
  // /metrics and the other xcast routes answer on any xcast, monitor or not (nodes/lib/http-routes.ts).
  addHttpRoutes(RED);
  function SocketWriterNode(this: Node, config: WriterDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    let endpoint: Endpoint | undefined;
    let writer: StreamSender | undefined;
    try {
      const mode = oneOf(config as never, 'mode', ['client', 'server'] as const, 'client');
      const transport = oneOf(config as never, 'transport', ['tcp', 'udp'] as const, 'tcp');
      const udpIdleTimeoutMs = num(config as never, 'udpIdleTimeoutMs', { def: 15000, min: 0, max: 3_600_000 });
      const host = str(config as never, 'host', { def: '127.0.0.1' });
      const port = num(config as never, 'port', { min: mode === 'server' ? 0 : 1, max: 65535, int: true });
      // The token and users list are credentials (encrypted, not in the flow file); a flow file may still set the token inline.
      const { token, tls, users, limits } = readTrust(RED, node, config as never, mode);
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
      const metadata = (): unknown => {
        if (metaSource === 'msg') return msgMeta;
        const c = node.context()[metaSource as 'flow' | 'global'].get(metaKey);
        // A context value travels under its own key, so several state objects can share one packet.
        return c === undefined ? undefined : { [metaKey]: c };
      };
      const sender = (writer = new StreamSender({
        routeByTarget: mode === 'server',
        metadata: metaSource === 'none' ? undefined : metadata,
        // A metadata source that cannot be sent is the node's error, said once until it changes.
        onMetadataError: (err) => node.error(t('socket-writer.errors.metadata', { detail: err.message })),
      }));

      // The status for a packet: its text made only when the (throttled) status is shown, not per packet.
      let lastAudio = { codec: '', sampleRate: 0 };
      const streamingText = () => (mode === 'server' ? t('socket-writer.status.streaming-to', { count: sender.receivers })
        : t('socket-writer.status.streaming', { codec: lastAudio.codec, kHz: lastAudio.sampleRate / 1000 }));
      const attach = (conn: StreamLink) => {
        registerConnection(conn, 'outgoing');
        sender.add(conn);
        const base = { userId: conn.userId ?? (conn.hello as { name?: string } | undefined)?.name ?? 'xcast', connectionId: conn.id, direction: 'outgoing' as const };
        node.send({ topic: 'connection', payload: { event: 'open', ...base, remote: conn.remote, role: conn.role, hello: helloWithoutToken(conn.hello), authenticated: conn.authenticated, secure: conn.secure, at: Date.now() }, ...base } as NodeMessage);
        conn.on('qos', (q: unknown) => {
          const arrivalTime = nowMicros();
          let valid: QOSMetrics[];
          try {
            valid = sender.acceptQos(conn, q);
          } catch (err) {
            // A malformed report never reaches the admin state: the sender refused it on the wire and closed that receiver.
            node.send({ topic: 'connection', payload: { event: 'error', code: 'bad_qos', message: (err as Error).message, ...base, at: Date.now() }, ...base } as NodeMessage);
            return;
          }
          for (const v of valid) node.send({ topic: 'qos', payload: v, arrivalTime, ...base } as NodeMessage);
        });
        conn.on('pong', (p: unknown) => node.send({ topic: 'pong', payload: p, ...base } as NodeMessage));
        conn.on('metadata', (m: unknown) => node.send({ topic: 'metadata', payload: m, ...base } as NodeMessage));
        conn.on('protocolError', (err: Error & { code?: string }) => {
          node.warn(t('xcast.errors.closed', { userId: wireText(base.userId), remote: wireText(conn.remote), code: codeText(err.code ?? 'protocol'), detail: wireText(err.message, 200) }));
          node.send({ topic: 'connection', payload: { event: 'error', code: err.code, message: err.message, ...base, at: Date.now() }, ...base } as NodeMessage);
        });
        conn.once('close', () => {
          sender.remove(conn);
          node.send({ topic: 'connection', payload: { event: 'close', ...base, remote: conn.remote, at: Date.now() }, ...base } as NodeMessage);
          showState();
        });
        showState();
      };
      const showState = () => {
        const n = sender.receivers;
        if (mode === 'server') status.now(n ? 'green' : 'yellow', n ? 'dot' : 'ring', t('socket-writer.status.listening', { port, count: n }));
        else if (n) status.now('green', 'dot', t('xcast.status.connected', { where: `${host}:${port}` }));
      };

      endpoint = openEndpoint(RED, node, status, {
        mode, transport, udpIdleTimeoutMs, host, port, token, maxQueueBytes, tls, users, limits,
        hello: { userId, role, profile },
        onListening: showState,
        onConnection: attach,
      });
      // Diagnostics (tests and the bench read its stats): the UDP server, when this node is one.
      (node as unknown as { udpServer?: unknown }).udpServer = endpoint.udpServer;

      const handle = (msg: NodeMessage & Record<string, unknown>): void => {
        if (msg.topic === 'metadata' && !Buffer.isBuffer(msg.payload)) {
          if (metaSource === 'msg') {
            msgMeta = msg.payload;
            sender.metadataChanged();
          }
          return;
        }
        if (!isAudioMsg(msg)) {
          throw new Error(t('socket-writer.errors.not-audio'));
        }
        const a = msg.audio;
        sender.sendAudio(a, msg.payload, msg.targetUserId as string | undefined, typeof msg.room === 'string' ? msg.room : undefined);
        lastAudio = a;
        if (sender.receivers) status.setBy('green', 'dot', streamingText);
      };
      // An encoder (or a reader) wired straight here hands its packets over by a call (nodes/lib/direct.ts).
      onAudioInput(node, handle as never);

    } catch (err) {
      refuse(RED, node, err);
    }

    node.on('close', (removed: boolean, done: () => void) => {
      writer?.close();
      status.clear();
      Promise.resolve(endpoint?.close()).then(() => done(), () => done());
    });
  }
  RED.nodes.registerType('xcast-socket-writer', SocketWriterNode, { credentials: { token: { type: 'password' }, users: { type: 'password' } } });
};

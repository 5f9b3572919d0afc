// One streamproto1 endpoint of a socket node: a listening server or a reconnecting client, with status and warnings.
import type { Node, NodeAPI } from 'node-red';
import { StreamServer, StreamClient, StreamConnection } from '../../runtime/protocol/transport';
import type { StatusThrottle } from './status';
import { translator } from './i18n';

export interface EndpointOptions {
  mode: 'server' | 'client';
  host: string;
  port: number;
  token?: string;
  /** The HELLO a client sends; a server announces `hello.userId` as its name. */
  hello: { userId: string; role: 'peer' | 'monitor' | 'xcast'; token?: string; profile?: Record<string, unknown>; capabilities?: string[] };
  maxFrameBytes?: number;
  maxQueueBytes?: number;
  /** A connection completed its HELLO. */
  onConnection(conn: StreamConnection): void;
  /** The server listens (shows the node's listening status). */
  onListening(): void;
}

export interface Endpoint {
  server?: StreamServer;
  client?: StreamClient;
  close(): Promise<void>;
}

export function openEndpoint(RED: NodeAPI, node: Node, status: StatusThrottle, o: EndpointOptions): Endpoint {
  const t = translator(RED);
  const where = `${o.host}:${o.port}`;
  if (o.mode === 'server') {
    const server = new StreamServer({ host: o.host, port: o.port, token: o.token, maxFrameBytes: o.maxFrameBytes, maxQueueBytes: o.maxQueueBytes, serverName: o.hello.userId });
    server.on('connection', o.onConnection);
    server.on('protocolError', (err: Error & { code?: string }, info: { remote?: string; userId?: string }) => {
      // A refused handshake never became a connection: one warning per refusal, nothing per frame.
      node.warn(t('xcast.errors.refused-peer', { userId: info?.userId ?? '', remote: info?.remote ?? '?', code: err.code ?? 'protocol', detail: err.message }));
    });
    server.listen().then(o.onListening, (err: Error) => {
      node.error(t('xcast.errors.cannot-listen', { where, detail: err.message }));
      status.now('red', 'ring', t('xcast.status.listen-failed', { detail: err.message }));
    });
    return { server, close: () => server.close() };
  }
  const client = new StreamClient({ host: o.host, port: o.port, hello: { ...o.hello, token: o.token }, maxFrameBytes: o.maxFrameBytes, maxQueueBytes: o.maxQueueBytes });
  client.on('connect', o.onConnection);
  client.on('disconnect', (info: { reason?: string }) => status.now('yellow', 'ring', t('xcast.status.reconnecting', { reason: info?.reason ?? 'closed' })));
  client.on('connectError', () => { /* retried with backoff; the status says so */ });
  status.now('yellow', 'ring', t('xcast.status.connecting', { where }));
  client.start();
  return { client, close: () => client.close() };
}

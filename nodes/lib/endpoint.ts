// One streamproto1 endpoint of a socket node: a listening server or a reconnecting client, with status and warnings.
import type { Node } from 'node-red';
import { StreamServer, StreamClient, StreamConnection } from '../../runtime/protocol/transport';
import type { StatusThrottle } from './status';

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

export function openEndpoint(node: Node, status: StatusThrottle, o: EndpointOptions): Endpoint {
  const where = `${o.host}:${o.port}`;
  if (o.mode === 'server') {
    const server = new StreamServer({ host: o.host, port: o.port, token: o.token, maxFrameBytes: o.maxFrameBytes, maxQueueBytes: o.maxQueueBytes, serverName: o.hello.userId });
    server.on('connection', o.onConnection);
    server.on('protocolError', (err: Error & { code?: string }, info: { remote?: string; userId?: string }) => {
      // A refused handshake never became a connection: one warning per refusal, nothing per frame.
      node.warn(`refused ${info?.userId ?? ''}@${info?.remote ?? '?'}: ${err.code ?? 'protocol'}: ${err.message}`);
    });
    server.listen().then(o.onListening, (err: Error) => {
      node.error(`cannot listen on ${where}: ${err.message}`);
      status.now('red', 'ring', `listen failed: ${err.message}`);
    });
    return { server, close: () => server.close() };
  }
  const client = new StreamClient({ host: o.host, port: o.port, hello: { ...o.hello, token: o.token }, maxFrameBytes: o.maxFrameBytes, maxQueueBytes: o.maxQueueBytes });
  client.on('connect', o.onConnection);
  client.on('disconnect', (info: { reason?: string }) => status.now('yellow', 'ring', `reconnecting (${info?.reason ?? 'closed'})`));
  client.on('connectError', () => { /* retried with backoff; the status says so */ });
  status.now('yellow', 'ring', `connecting ${where}`);
  client.start();
  return { client, close: () => client.close() };
}

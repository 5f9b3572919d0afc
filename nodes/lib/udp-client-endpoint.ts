// The client end of a socket node over UDP (a UdpStreamClient, runtime/protocol/udp-client.ts): the node's status
// and warnings exactly as the TCP client's (openEndpoint): connecting, connected (the node's attach), a refusal said
// once until it changes, "reconnecting" when the session ends (the HELLOs go on, and the next accepted one is a new
// connection).
import type { Node, NodeAPI } from 'node-red';
import { UdpStreamClient } from '../../runtime/protocol/udp-client';
import { wireText } from '../../runtime/log-text';
import type { StatusThrottle } from './status';
import { translator } from './i18n';
import { codeText, type Endpoint, type EndpointOptions } from './endpoint';

export function openUdpClient(RED: NodeAPI, node: Node, status: StatusThrottle, o: EndpointOptions): Endpoint {
  const t = translator(RED);
  const where = `udp ${o.host}:${o.port}`;
  // The node's UDP idle timeout: a link that hears nothing from the server for that long ends (its HELLOs go on).
  const client = new UdpStreamClient({ host: o.host, port: o.port, hello: { ...o.hello, token: o.token }, idleTimeoutMs: o.udpIdleTimeoutMs });
  client.on('connect', o.onConnection);
  client.on('disconnect', (info) => status.now('yellow', 'ring', t('xcast.status.reconnecting', { reason: wireText(info.reason, 60) })));
  // The client says a refusal once until it changes (and again after a session opened in between).
  client.on('connectError', (err) => {
    node.warn(t('xcast.errors.connect-refused', { where, code: codeText(err.code ?? 'refused'), detail: wireText(err.message, 200) }));
    status.now('red', 'ring', t('xcast.status.refused', { code: codeText(err.code ?? 'refused') }));
  });
  status.now('yellow', 'ring', t('xcast.status.connecting', { where }));
  client.start();
  return { udpClient: client, close: () => client.close() };
}

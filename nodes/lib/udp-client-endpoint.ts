// The client end of a socket node over UDP (a UdpStreamClient, runtime/protocol/udp-client.ts): the sender/client
// side of streamproto1 over UDP. Stub until the client lands: refused naming the `transport` field.
import type { Node, NodeAPI } from 'node-red';
import type { StatusThrottle } from './status';
import type { Endpoint, EndpointOptions } from './endpoint';
import { ConfigError } from './config';

export function openUdpClient(_RED: NodeAPI, _node: Node, _status: StatusThrottle, _o: EndpointOptions): Endpoint {
  throw new ConfigError('transport', 'udp_client_unavailable');
}

// Process-wide registry of live streamproto1 connections, so a qos writer can answer on the connection the audio came in on.
//
// One process may hold both ends of one session (an xcast flow beside a peer or monitor flow): the server's link and
// the client's carry the same id (the sessionId). The registry keeps them apart by direction, and findConnection
// gives the receiving end (a socket reader's, where audio comes in and QoS is answered) before the sending end.
import type { StreamLink } from '../../runtime/protocol/link';

export type LinkDirection = 'incoming' | 'outgoing';

const live: Record<LinkDirection, Map<string, StreamLink>> = { incoming: new Map(), outgoing: new Map() };

export function registerConnection(conn: StreamLink, direction: LinkDirection = 'incoming'): void {
  const map = live[direction];
  map.set(conn.id, conn);
  conn.once('close', () => { if (map.get(conn.id) === conn) map.delete(conn.id); });
}

export function findConnection(id: string | undefined): StreamLink | undefined {
  return id ? live.incoming.get(id) ?? live.outgoing.get(id) : undefined;
}

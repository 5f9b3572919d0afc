// Process-wide registry of live streamproto1 connections, so a qos writer can answer on the connection the audio came in on.
import type { StreamLink } from '../../runtime/protocol/link';

const live = new Map<string, StreamLink>();

export function registerConnection(conn: StreamLink): void {
  live.set(conn.id, conn);
  conn.once('close', () => live.delete(conn.id));
}

export function findConnection(id: string | undefined): StreamLink | undefined {
  return id ? live.get(id) : undefined;
}

// Process-wide registry of live streamproto1 connections, so a qos writer can answer on the connection the audio came in on.
import type { StreamConnection } from '../../runtime/protocol/transport';

const live = new Map<string, StreamConnection>();

export function registerConnection(conn: StreamConnection): void {
  live.set(conn.id, conn);
  conn.once('close', () => live.delete(conn.id));
}

export function findConnection(id: string | undefined): StreamConnection | undefined {
  return id ? live.get(id) : undefined;
}

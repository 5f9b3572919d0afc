// The hub on an HTTP server: Node's own (req, res), which is also what Express hands a middleware. The body is read
// as text by runtime/web/body.ts (so a body that is not JSON is the contract's bad_request, not a parser's HTML page).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RtcHub } from './hub';
import { MAX_BODY_BYTES } from './signaling';
import { readBody } from '../web/body';

/** Answers one signaling request; `path` is the path below the hub's base (with the query string). */
export async function serveSignaling(hub: RtcHub, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  let body: string | null | undefined;
  if (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') {
    try {
      body = await readBody(req, MAX_BODY_BYTES);
    } catch {
      body = '';
    }
  }
  const answer = body === null
    ? { status: 413, body: { error: { code: 'bad_request', message: `body: longer than ${MAX_BODY_BYTES} bytes` } }, headers: { 'Content-Type': 'application/json' } }
    : await hub.handle({ method: req.method ?? 'GET', path, body: body ?? undefined, headers: req.headers, remote: remoteOf(req) });
  if (res.headersSent) return;
  res.statusCode = answer.status;
  for (const [k, v] of Object.entries(answer.headers ?? {})) res.setHeader(k, v);
  res.end(answer.body === undefined ? undefined : JSON.stringify(answer.body));
}

/** The request's remote address as "ip:port" (IPv4-mapped IPv6 shown as IPv4). */
export function remoteOf(req: IncomingMessage): string {
  const s = req.socket;
  const ip = (s.remoteAddress ?? '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
  return s.remotePort !== undefined ? `${ip}:${s.remotePort}` : ip;
}

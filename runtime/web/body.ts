// A request's body as text, for the routes that check their own JSON (the WebRTC signaling, the console's API): a body
// that is not JSON is their bad_request, not a parser's HTML page; the size is bounded.
import type { IncomingMessage } from 'node:http';

/**
 * Reads a request's body as UTF-8 text, at most `max` bytes (more: null, and the rest is drained). A parser in front
 * may have taken the stream (Node-RED's admin app, which the launcher mounts at the same root, parses JSON and
 * urlencoded bodies): what it kept is given back as text — a JSON object as JSON, and `curl -d '{…}'` (urlencoded by
 * default) as the text sent, which reached the parser as one key with an empty value. A real form is '\u0000form',
 * which no JSON reader takes.
 */
export function readBody(req: IncomingMessage, max: number): Promise<string | null> {
  const pre = (req as IncomingMessage & { body?: unknown }).body;
  if (req.readableEnded) {
    // What the parser kept, bounded as the stream would be (the parser's own limit is Node-RED's, megabytes).
    const bounded = (text: string) => Promise.resolve(Buffer.byteLength(text) > max ? null : text);
    if (typeof pre === 'string') return bounded(pre);
    if (Buffer.isBuffer(pre)) return bounded(pre.toString('utf8'));
    if (pre && typeof pre === 'object' && /urlencoded/i.test(String(req.headers['content-type'] ?? ''))) {
      const keys = Object.keys(pre);
      const only = keys.length === 1 ? (pre as Record<string, unknown>)[keys[0]] : undefined;
      return bounded(keys.length === 1 && only === '' ? keys[0] : '\u0000form');
    }
    if (pre === undefined) return bounded('');
    // JSON.stringify recurses: a nesting the parser took (it does not recurse) can overflow the stack here.
    let text: string;
    try {
      text = JSON.stringify(pre);
    } catch {
      return Promise.resolve(null);
    }
    return bounded(text);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) over = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(over ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

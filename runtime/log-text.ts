// Making wire-supplied values safe to put into one log line or error message.

/**
 * Any value that came off the wire (a HELLO userId, a role, a protocol name …) as text that is safe for one log
 * line: a string is JSON-quoted (so quotes, backslashes, newlines, ESC, U+2028/U+2029 and every other control
 * character come out escaped: `"a\n[error] forged"`), and a long one is cut to `max` characters with
 * `…(N bytes)` saying how long it was; a non-string is shown by its JSON form (or its type) the same way.
 * The result never contains a line break or a control character.
 */
export function wireText(v: unknown, max = 80): string {
  let s: string;
  let bytes: number;
  if (typeof v === 'string') {
    s = v;
    bytes = Buffer.byteLength(v, 'utf8');
  } else if (v === undefined || typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') {
    return typeof v === 'bigint' ? `${v}n`.slice(0, Math.max(1, max)) : typeof v;
  } else {
    let json: string | undefined;
    try {
      json = JSON.stringify(v);
    } catch {
      json = undefined;   // a cycle, or a getter that throws
    }
    if (json === undefined) return Array.isArray(v) ? 'array' : typeof v;
    if (json.length <= max) return escapeLine(json);
    return `${escapeLine(json.slice(0, max))}…(${Buffer.byteLength(json, 'utf8')} bytes)`;
  }
  if (s.length <= max) return quote(s);
  // Do not cut a surrogate pair in half.
  let end = max;
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${quote(s.slice(0, end))}…(${bytes} bytes)`;
}

/** JSON string quoting, plus the two line separators JSON leaves alone. */
function quote(s: string): string {
  return escapeLine(JSON.stringify(s));
}

// JSON.stringify escapes C0 controls, quotes and backslashes; U+2028/2029, DEL and the C1 controls it leaves raw.
// eslint-disable-next-line no-control-regex
const LINE_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

function escapeLine(s: string): string {
  return s.replace(LINE_UNSAFE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

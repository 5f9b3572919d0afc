// Message catalogs for the nodes: Node-RED's RED._() where there is one, and the catalog's own English where not.
import type { NodeAPI } from 'node-red';

/** Fills a catalog text's __name__ placeholders, as Node-RED's i18n does. */
export function render(text: string, params: Record<string, unknown> = {}): string {
  return text.replace(/__([A-Za-z0-9_]+?)__/g, (m, k: string) => (k in params ? String(params[k]) : m));
}

/** A node module's RED._, typed: keys are the node set's own (`<node>.status.…`) or the shared `xcast.…`. */
export type Translate = (key: string, params?: Record<string, unknown>) => string;

/** Texts kept per translator (a node's status texts, by key and parameters); cleared when it holds this many. */
const MEMO_MAX = 512;

/**
 * The node module's RED._, remembering what it made: a text with the same key and the same primitive parameters is
 * the same text (the runtime's language is set at start), and a catalog lookup (i18next: language codes, plural
 * rules, interpolation) costs tens of microseconds — status texts made again per connection or per track update
 * were 2–5 % of the event loop at 250 UDP peers. Parameters that are not all strings, numbers, booleans, null or
 * undefined are passed through unremembered.
 */
export function translator(RED: NodeAPI): Translate {
  const memo = new Map<string, string>();
  return (key, params) => {
    const _ = (RED as unknown as { _: Translate })._;
    let k = key;
    if (params !== undefined) {
      for (const p in params) {
        const v = params[p];
        const type = typeof v;
        if (v !== null && type !== 'string' && type !== 'number' && type !== 'boolean' && type !== 'undefined') return _(key, params);
        // Length-prefixed: no value (a peer's text among them) can make two sets of parameters one key.
        const text = String(v);
        k += `\u0000${p}=${type === 'string' ? 's' : v === null ? 'n' : type[0]}${text.length}:${text}`;
      }
    }
    const hit = memo.get(k);
    if (hit !== undefined) return hit;
    const text = _(key, params);
    if (typeof text !== 'string') return text;
    if (memo.size >= MEMO_MAX) memo.clear();
    memo.set(k, text);
    return text;
  };
}

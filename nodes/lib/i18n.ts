// Message catalogs for the nodes: Node-RED's RED._() where there is one, and the catalog's own English where not.
import type { NodeAPI } from 'node-red';

/** Fills a catalog text's __name__ placeholders, as Node-RED's i18n does. */
export function render(text: string, params: Record<string, unknown> = {}): string {
  return text.replace(/__([A-Za-z0-9_]+?)__/g, (m, k: string) => (k in params ? String(params[k]) : m));
}

/** A node module's RED._, typed: keys are the node set's own (`<node>.status.…`) or the shared `xcast.…`. */
export type Translate = (key: string, params?: Record<string, unknown>) => string;

export function translator(RED: NodeAPI): Translate {
  return (key, params) => (RED as unknown as { _: Translate })._(key, params);
}

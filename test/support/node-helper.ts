// Test support: node-red-node-test-helper with Node-RED's own i18n and the built message catalogs behind RED._ (the helper's echoes the key).
//
// Node-RED gives each node set a namespace holding its catalog (dist/nodes/<node>/locales/en-US/<node>.json, whose
// top-level key is the node's file name, with the shared "xcast" section merged in by scripts/copy-assets.js). The
// helper hands every node one RED, so here a key finds its catalog by that first segment. Use this module instead
// of requiring the helper directly, so status texts and refusals in node tests are the ones a user reads.
import fs from 'node:fs';
import path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-var-requires
export const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));

const NODES = path.resolve(__dirname, '..', '..', 'nodes');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { i18n } = require(require.resolve('@node-red/util', { paths: [path.dirname(require.resolve('node-red'))] }));

const names = fs.readdirSync(NODES).filter((n) => fs.existsSync(path.join(NODES, n, 'locales', 'en-US', `${n}.json`)));
const ns = (n: string) => `xcast-test/${n}`;
i18n.init({ lang: 'en-US' });
const catalogs: Promise<unknown> = Promise.all(names.map((n) => i18n.registerMessageCatalog(ns(n), path.join(NODES, n, 'locales'), `${n}.json`)));

/** RED._ as Node-RED's loader makes it for a node set, the namespace chosen by the key's first segment. */
function translate(key: string, params?: Record<string, unknown>): string {
  const first = key.split('.', 1)[0];
  return i18n._(`${ns(first === 'xcast' ? names[0] : first)}:${key}`, params);
}

// The helper builds its RED with registry util's createNodeApi({}) and then sets `_` to echo the key: give that
// RED the translator instead (Node-RED's own loader passes a node set, which keeps its own `_`).
const util = helper._registryUtil as { createNodeApi(node: { id?: string }): Record<string, unknown> };
const createNodeApi = util.createNodeApi;
if (!(createNodeApi as { xcastCatalogs?: boolean }).xcastCatalogs) {
  util.createNodeApi = Object.assign((node: { id?: string }) => {
    const red = createNodeApi(node);
    if (node?.id === undefined) Object.defineProperty(red, '_', { get: () => translate, set: () => { /* keep ours */ }, configurable: true });
    return red;
  }, { xcastCatalogs: true });
}

const load = helper.load.bind(helper);
helper.load = async (...args: unknown[]) => {
  await catalogs;
  return load(...args);
};

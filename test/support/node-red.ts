// Test support: xcast nodes in node-red-node-test-helper's embedded Node-RED — a flow with a Catch node, the status lights each node showed, and what it left behind when closed.
import assert from 'node:assert/strict';
import { activeResources, leftBehind, threadIds, until, warmThreadPool } from './resources';

// eslint-disable-next-line @typescript-eslint/no-var-requires
export const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));

/** The node modules as Node-RED loads them (from dist/, beside this file's compiled copy). */
export const nodeModules = {
  audioIn: require('../../nodes/audio-in/audio-in'),
  opusEncode: require('../../nodes/opus-encode/opus-encode'),
  opusDecode: require('../../nodes/opus-decode/opus-decode'),
  socketWriter: require('../../nodes/socket-writer/socket-writer'),
  socketReader: require('../../nodes/socket-reader/socket-reader'),
  mixer: require('../../nodes/mixer/mixer'),
  audioOut: require('../../nodes/audio-out/audio-out'),
  resample: require('../../nodes/resample/resample'),
  qosWriter: require('../../nodes/qos-writer/qos-writer'),
  adminAggregator: require('../../nodes/admin-aggregator/admin-aggregator'),
  mixeradminClient: require('../../nodes/mixeradmin-client/mixeradmin-client'),
  eventStream: require('../../nodes/event-stream/event-stream'),
};

export interface Status { fill?: string; shape?: string; text?: string }
export interface Caught { error: { message: string; source?: { id?: string } }; [k: string]: unknown }
export type FlowNode = Record<string, unknown> & { id: string; type: string };

interface SpyCall { thisValue: { id?: string }; args: unknown[] }

/** Every status the node `id` showed, oldest first (the helper spies on Node.prototype.status). */
export function statuses(id: string): Status[] {
  const spy = helper._NodePrototype.status as { getCalls(): SpyCall[] };
  return spy.getCalls().filter((c) => c.thisValue?.id === id).map((c) => (c.args[0] ?? {}) as Status);
}

/** Resolves with the first status of node `id` (already shown or still to come) that `match` accepts. */
export async function statusOf(id: string, match: (s: Status) => boolean, what = 'a status', timeoutMs = 10_000): Promise<Status> {
  let found: Status | undefined;
  const ok = await until(() => (found = statuses(id).find(match)) !== undefined, timeoutMs);
  assert.ok(ok, `node ${id} never showed ${what}; it showed ${JSON.stringify(statuses(id))}`);
  return found!;
}

/** A status matcher: fill and shape, and a word of the text (texts come from message catalogs, so loosely). */
export function light(fill: string, shape: string, word?: RegExp): (s: Status) => boolean {
  return (s) => s.fill === fill && s.shape === shape && (word === undefined || word.test(s.text ?? ''));
}

/** Error messages Node-RED logged (node.error) since the flow was loaded. */
export function loggedErrors(): string[] {
  return helper.log().args
    .filter((a: unknown[]) => (a[0] as { level?: number })?.level === 20)
    .map((a: unknown[]) => String((a[0] as { msg?: unknown }).msg));
}

export interface LoadedFlow {
  /** The node with this id. */
  node(id: string): { receive(msg: unknown): void; on(ev: string, cb: (...a: never[]) => void): void; id: string; [k: string]: unknown };
  /** What the flow's Catch node caught (msg.error names the node that raised it), in order. */
  caught: Caught[];
  /** Resolves with the next caught error (or one already caught that nothing awaited yet). */
  nextCaught(timeoutMs?: number): Promise<Caught>;
  /** Messages that reached the helper node `id` (wired in `nodes`). */
  received(id: string): Array<Record<string, unknown>>;
}

/**
 * Loads `nodes` (on one tab, with a Catch node for the whole tab) into a started helper server. Helper nodes named
 * in `helpers` record what reaches them.
 */
export async function loadFlow(modules: unknown[], nodes: FlowNode[], opts: { helpers?: string[]; credentials?: Record<string, unknown> } = {}): Promise<LoadedFlow> {
  const helpers = opts.helpers ?? [];
  const flow = [
    { id: 'tab', type: 'tab', label: 'test' },
    ...nodes.map((n, i) => ({ z: 'tab', x: 100, y: 100 + 40 * i, wires: [], ...n })),
    ...helpers.map((id, i) => ({ id, z: 'tab', type: 'helper', x: 400, y: 100 + 40 * i, wires: [] })),
    { id: 'catch', z: 'tab', type: 'catch', scope: null, uncaught: false, x: 100, y: 20, wires: [['caught']] },
    { id: 'caught', z: 'tab', type: 'helper', x: 400, y: 20, wires: [] },
  ];
  await helper.load(modules, flow, opts.credentials ?? {});
  const caught: Caught[] = [];
  let awaited = 0;
  helper.getNode('caught').on('input', (m: Caught) => caught.push(m));
  const got = new Map<string, Array<Record<string, unknown>>>(helpers.map((h) => [h, []]));
  for (const h of helpers) helper.getNode(h).on('input', (m: Record<string, unknown>) => got.get(h)!.push(m));
  return {
    node: (id) => {
      const n = helper.getNode(id);
      assert.ok(n, `no node ${id} in the flow`);
      return n;
    },
    caught,
    async nextCaught(timeoutMs = 10_000) {
      const ok = await until(() => caught.length > awaited, timeoutMs);
      assert.ok(ok, `the Catch node caught nothing; logged errors: ${JSON.stringify(loggedErrors())}`);
      return caught[awaited++];
    },
    received: (id) => got.get(id)!,
  };
}

/** What a test holds before it loads a flow, to compare with what is left after the flow is stopped. */
export interface Baseline { resources: Record<string, number>; threads: Set<string> }

export async function baseline(): Promise<Baseline> {
  await warmThreadPool();
  return { resources: activeResources(), threads: threadIds() };
}

/**
 * Stops the flow (every node's close handler runs) and checks it released everything it held: no handle or
 * request more than before it was loaded (sockets, servers, timers, immediates, file handles), no thread of its
 * own still running. Waits up to 5 s for threads and sockets that end asynchronously.
 */
export async function assertReleasedOnClose(before: Baseline): Promise<void> {
  await helper.unload();
  const clean = () => Object.keys(leftBehind(before.resources, activeResources())).length === 0
    && [...threadIds()].every((t) => before.threads.has(t));
  await until(clean, 5000);
  assert.deepEqual(leftBehind(before.resources, activeResources()), {}, 'handles left behind after close');
  const threads = [...threadIds()].filter((t) => !before.threads.has(t));
  assert.deepEqual(threads, [], 'threads still running after close');
}

/** mocha hooks: a helper server for each test, and the flow unloaded after it. */
export function useNodeRed(): void {
  beforeEach((done) => { helper.startServer(done); });
  afterEach((done) => { helper.unload().then(() => helper.stopServer(done)); });
}

// Test support: xcast nodes in node-red-node-test-helper's embedded Node-RED — a flow with a Catch node, the status lights each node showed, and what it left behind when closed.
import assert from 'node:assert/strict';
import { activeResources, assertPortFreed, leftBehind, threadIds, until, warmThreadPool } from './resources';

import { helper } from './node-helper';

// The helper with Node-RED's i18n behind RED._ (node-helper.ts): status texts are the ones a user reads.
export { helper };

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
  rtpIn: require('../../nodes/rtp-in/rtp-in'),
  rtpOut: require('../../nodes/rtp-out/rtp-out'),
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
  /** Resolves with the messages that reached helper `id` once there are `n` (fails after `timeoutMs`). */
  receivedAtLeast(id: string, n: number, timeoutMs?: number): Promise<Array<Record<string, unknown>>>;
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
    async receivedAtLeast(id, n, timeoutMs = 10_000) {
      const list = got.get(id)!;
      assert.ok(await until(() => list.length >= n, timeoutMs), `${list.length} of ${n} messages reached ${id}`);
      return list;
    },
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

/** An xcast audio message: `frameSamples` × `channels` of constant `value` in `codec` (PCM), or the payload given. */
export function audioMsg(o: { codec?: 'pcm_f32le' | 'pcm_s16le' | 'opus'; sampleRate?: number; channels?: number; frameSamples?: number; seq?: number; value?: number; payload?: Buffer; userId?: string; [k: string]: unknown } = {}): Record<string, unknown> {
  const { codec = 'pcm_f32le', sampleRate = 48000, channels = 1, frameSamples = 480, seq = 0, value = 0.25, payload, userId = 'alice', ...rest } = o;
  let data = payload;
  if (!data) {
    const n = frameSamples * channels;
    data = Buffer.alloc(n * (codec === 'pcm_s16le' ? 2 : 4));
    for (let i = 0; i < n; i++) {
      if (codec === 'pcm_s16le') data.writeInt16LE(Math.round(value * 32767), i * 2);
      else data.writeFloatLE(value, i * 4);
    }
  }
  return { topic: 'audio', payload: data, userId, audio: { codec, sampleRate, channels, frameSamples, seq, captureTime: 0, trackId: 1 }, ...rest };
}

/** What every xcast node promises, checked through Node-RED for one node type. */
export interface NodeContract {
  type: string;
  module: unknown;
  /** A configuration it runs with (fresh free ports each call). */
  config(): Promise<Record<string, unknown>>;
  /** One it refuses, and the field the refusal names. */
  refused: { config: Record<string, unknown>; field: string };
  /**
   * Input it cannot take, each with a word of the error it gives. Absent where every message is one the node
   * acts on (a command, state) — `noBadInput` says why.
   */
  badInput?: Array<{ what: string; msg: () => Record<string, unknown>; error: RegExp }>;
  noBadInput?: string;
  /** No input port (the node only produces). */
  noInput?: boolean;
  /** Makes the running node take up what it holds (connections, threads, timers, files) before it is closed. */
  exercise?(f: LoadedFlow, config: Record<string, unknown>): Promise<void>;
  /** Ports the node listened on: a new server can bind each after close. */
  ports?(config: Record<string, unknown>): number[];
  /** Further checks after close (a file closed, a peer disconnected). */
  afterClose?(config: Record<string, unknown>): Promise<void>;
}

/**
 * The contract tests of one node: a refused configuration shows a red ring and answers the node's input with the
 * refusal, a Catch node sees done(err) for input it cannot take, and close releases every socket, timer and thread.
 * Call inside a describe that uses useNodeRed().
 */
export function nodeContract(c: NodeContract): void {
  const id = 'n1';
  it(`refuses a bad ${c.refused.field} with a red ring and an error naming it${c.noInput ? '' : ', and answers its input with the refusal (a Catch node sees it)'}`, async () => {
    const f = await loadFlow([c.module], [{ id, type: c.type, ...c.refused.config }]);
    await statusOf(id, light('red', 'ring'), 'the red ring of a refusal');
    assert.ok(loggedErrors().some((e) => e.includes(c.refused.field)), `logged: ${JSON.stringify(loggedErrors())}`);
    if (c.noInput) return;
    f.node(id).receive(audioMsg());
    const caught = await f.nextCaught();
    assert.equal(caught.error.source?.id, id);
    assert.match(caught.error.message, new RegExp(`refused.*${c.refused.field}`));
  });

  for (const b of c.badInput ?? []) {
    it(`answers ${b.what} with done(err), which a Catch node sees`, async () => {
      const config = await c.config();
      const f = await loadFlow([c.module], [{ id, type: c.type, ...config }]);
      f.node(id).receive(b.msg());
      const caught = await f.nextCaught();
      assert.equal(caught.error.source?.id, id);
      assert.match(caught.error.message, b.error);
    });
  }

  it('releases every socket, timer and thread it held when it is closed', async () => {
    const before = await baseline();
    const config = await c.config();
    const f = await loadFlow([c.module], [{ id, type: c.type, ...config }], { helpers: ['out'] });
    await c.exercise?.(f, config);
    await assertReleasedOnClose(before);
    for (const port of c.ports?.(config) ?? []) await assertPortFreed(port);
    await c.afterClose?.(config);
  });
}

/**
 * Gives node `target` one packet (`msg(seq)`) every 10 ms — a live stream's pace — while `promise` is pending, and
 * resolves with its result. A late timer on a loaded machine only bunches packets; the node's buffer takes that.
 */
export async function streamWhile<T>(target: { receive(m: unknown): void }, msg: (seq: number) => Record<string, unknown>, promise: Promise<T>): Promise<T> {
  let seq = 0;
  target.receive(msg(seq++));
  const timer = setInterval(() => target.receive(msg(seq++)), 10);
  try {
    return await promise;
  } finally {
    clearInterval(timer);
  }
}

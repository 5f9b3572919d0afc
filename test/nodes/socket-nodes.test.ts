// Node tests (node-red-node-test-helper): socket reader, socket writer, qos writer and event stream — status lights, errors a Catch node sees, close.
import assert from 'node:assert/strict';
import net from 'node:net';
import { StreamClient, StreamConnection, StreamServer } from '../../runtime/protocol/transport';
import { Codec } from '../../runtime/protocol/frame';
import { freePort } from '../support/xcast-process';
import { until } from '../support/resources';
import { audioMsg, light, loadFlow, nodeContract, nodeModules, statuses, statusOf, useNodeRed } from '../support/node-red';

/** A streamproto1 client of ours, connected (HELLO done). */
async function connect(port: number, userId = 'alice', role: 'peer' | 'monitor' = 'peer'): Promise<{ client: StreamClient; conn: StreamConnection; closed: Promise<void> }> {
  const client = new StreamClient({ host: '127.0.0.1', port, hello: { userId, role }, reconnect: false });
  const conn = await new Promise<StreamConnection>((resolve, reject) => {
    client.on('connect', resolve);
    client.on('connectError', reject);
    client.start();
  });
  const closed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
  return { client, conn, closed };
}

/** A plain TCP server holding `port`, so that a node cannot listen there. */
async function occupy(port: number): Promise<net.Server> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(port, '127.0.0.1', () => r()));
  return s;
}

/** The red ring of a server node whose port another server holds. */
function itShowsARedRingWhenItCannotListen(module: unknown, type: string, config: Record<string, unknown> = {}): void {
  it('a red ring when it cannot listen', async () => {
    const port = await freePort();
    const taken = await occupy(port);
    try {
      await loadFlow([module], [{ id: 'n', type, ...config, port: String(port) }]);
      await statusOf('n', light('red', 'ring', /listen/), 'the red ring of a failed listen');
    } finally {
      taken.close();
    }
  });
}

const pcm = (seq: number) => ({ trackId: 1, seq, captureTime: 0, sampleRate: 48000, channels: 1, codec: Codec.PCM_S16LE, frameSamples: 480 });

/** Whatever a contract's exercise left connected, to check after close. */
let peer: { client: StreamClient; conn: StreamConnection; closed: Promise<void> } | null = null;
const peerWasDisconnected = async () => {
  // The node closed our connection from its side: the evidence that its sockets went with it.
  await peer!.closed;
  await peer!.client.close();
  peer = null;
};

describe('socket reader node', function () {
  this.timeout(20000);
  useNodeRed();

  it('server: a yellow ring while it listens, a green dot while a sender streams, the yellow ring when it left', async () => {
    const port = await freePort();
    const f = await loadFlow([nodeModules.socketReader], [{ id: 'r', type: 'xcast-socket-reader', mode: 'server', port: String(port), wires: [['out'], [], [], []] }], { helpers: ['out'] });
    await statusOf('r', light('yellow', 'ring', /listen/), 'the yellow ring of listening');
    const p = await connect(port);
    for (let seq = 0; seq < 3; seq++) p.conn.sendAudio(pcm(seq), Buffer.alloc(960));
    await statusOf('r', light('green', 'dot'), 'the green dot of a sender');
    await f.receivedAtLeast('out', 3);
    const green = statuses('r').length;
    await p.client.close();
    assert.ok(await until(() => statuses('r').slice(green).some(light('yellow', 'ring'))), `yellow again after the sender left: ${JSON.stringify(statuses('r'))}`);
  });

  it('client: a yellow ring while it connects, a green dot once connected, the yellow ring when the server went', async () => {
    const server = new StreamServer({ port: 0, serverName: 'hub' });
    const { port } = await server.listen();
    await loadFlow([nodeModules.socketReader], [{ id: 'r', type: 'xcast-socket-reader', mode: 'client', port: String(port), wires: [[], [], [], []] }]);
    await statusOf('r', light('yellow', 'ring', /connect/), 'the yellow ring of connecting');
    await statusOf('r', light('green', 'dot', /connect/), 'the green dot of connected');
    const green = statuses('r').length;
    await server.close();
    assert.ok(await until(() => statuses('r').slice(green).some(light('yellow', 'ring', /connect/))), `reconnecting: ${JSON.stringify(statuses('r'))}`);
  });

  itShowsARedRingWhenItCannotListen(nodeModules.socketReader, 'xcast-socket-reader', { mode: 'server' });

  let port = 0;
  nodeContract({
    type: 'xcast-socket-reader', module: nodeModules.socketReader,
    config: async () => ({ mode: 'server', port: String((port = await freePort())), wires: [['out'], [], [], []] }),
    refused: { config: { mode: 'sideways', port: '7010' }, field: 'mode' },
    noInput: true,
    async exercise(f) {
      await statusOf('n1', light('yellow', 'ring'), 'listening');
      peer = await connect(port);
      peer.conn.sendAudio(pcm(0), Buffer.alloc(960));
      await f.receivedAtLeast('out', 1);
    },
    ports: () => [port],
    afterClose: peerWasDisconnected,
  });
});

describe('socket writer node', function () {
  this.timeout(20000);
  useNodeRed();

  it('server: a yellow ring while it listens, a green dot with a receiver, the yellow ring when it left', async () => {
    const port = await freePort();
    const f = await loadFlow([nodeModules.socketWriter], [{ id: 'w', type: 'xcast-socket-writer', mode: 'server', port: String(port) }]);
    await statusOf('w', light('yellow', 'ring', /listen/), 'the yellow ring of listening');
    const p = await connect(port, 'rx', 'monitor');
    let got = 0;
    p.conn.on('audio', () => { got++; });
    await statusOf('w', light('green', 'dot'), 'the green dot of a receiver');
    f.node('w').receive(audioMsg());
    assert.ok(await until(() => got === 1), 'the receiver got the frame');
    const green = statuses('w').length;
    await p.client.close();
    assert.ok(await until(() => statuses('w').slice(green).some(light('yellow', 'ring'))), `yellow again: ${JSON.stringify(statuses('w'))}`);
  });

  it('client: a yellow ring while it connects, a green dot once connected', async () => {
    const server = new StreamServer({ port: 0, serverName: 'hub' });
    const { port } = await server.listen();
    try {
      await loadFlow([nodeModules.socketWriter], [{ id: 'w', type: 'xcast-socket-writer', mode: 'client', port: String(port), userId: 'alice' }]);
      await statusOf('w', light('yellow', 'ring', /connect/), 'the yellow ring of connecting');
      await statusOf('w', light('green', 'dot', /connect/), 'the green dot of connected');
    } finally {
      await server.close();
    }
  });

  itShowsARedRingWhenItCannotListen(nodeModules.socketWriter, 'xcast-socket-writer', { mode: 'server' });

  let port = 0;
  nodeContract({
    type: 'xcast-socket-writer', module: nodeModules.socketWriter,
    // Metadata from context: the node polls it on a timer, which close must stop.
    config: async () => ({ mode: 'server', port: String((port = await freePort())), metaSource: 'global', metaKey: 'state' }),
    refused: { config: { mode: 'client', port: '7010', userId: '' }, field: 'userId' },
    badInput: [
      { what: 'a message that is not audio', msg: () => ({ topic: 'audio', payload: 'x' }), error: /audio message/ },
      { what: 'PCM whose size does not match its header', msg: () => audioMsg({ payload: Buffer.alloc(10) }), error: /frameSamples/ },
      { what: 'a codec streamproto1 does not carry', msg: () => audioMsg({ codec: 'mp3' as never, payload: Buffer.alloc(10) }), error: /codec/ },
    ],
    async exercise(f) {
      await statusOf('n1', light('yellow', 'ring'), 'listening');
      peer = await connect(port, 'rx', 'monitor');
      await statusOf('n1', light('green', 'dot'), 'a receiver');
      f.node('n1').receive(audioMsg());
    },
    ports: () => [port],
    afterClose: peerWasDisconnected,
  });
});

describe('qos writer node', function () {
  this.timeout(20000);
  useNodeRed();

  /** A reader (server) with the qos writer, and a sender connected to it; resolves with the sender's connection id on the node side. */
  async function withSender() {
    const port = await freePort();
    const f = await loadFlow([nodeModules.socketReader, nodeModules.qosWriter], [
      { id: 'r', type: 'xcast-socket-reader', mode: 'server', port: String(port), wires: [[], [], ['events'], []] },
      { id: 'q', type: 'xcast-qos-writer' },
    ], { helpers: ['events'] });
    await statusOf('r', light('yellow', 'ring'), 'listening');
    const p = await connect(port);
    const [open] = await f.receivedAtLeast('events', 1);
    return { f, p, connectionId: open.connectionId as string };
  }

  it('a green dot when it sends QOSMetrics on the connection the audio came in on, a yellow ring for one that has gone', async () => {
    const { f, p, connectionId } = await withSender();
    const reports: unknown[] = [];
    p.conn.on('qos', (q: unknown) => reports.push(q));
    f.node('q').receive({ topic: 'qos', connectionId, payload: { jitter: 1 } });
    await statusOf('q', light('green', 'dot', /sent/), 'the green dot of sent');
    assert.ok(await until(() => reports.length === 1), 'the sender got its report');
    f.node('q').receive({ topic: 'qos', connectionId: 'gone', payload: { jitter: 1 } });
    await statusOf('q', light('yellow', 'ring', /connection/), 'the yellow ring of no connection');
    await p.client.close();
  });

  it('answers a report it cannot encode with an error a Catch node sees', async () => {
    const { f, p, connectionId } = await withSender();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    f.node('q').receive({ topic: 'qos', connectionId, payload: cyclic });
    const caught = await f.nextCaught();
    assert.equal(caught.error.source?.id, 'q');
    await p.client.close();
  });

  nodeContract({
    type: 'xcast-qos-writer', module: nodeModules.qosWriter,
    config: async () => ({ batch: '4' }),
    refused: { config: { batch: '0' }, field: 'batch' },
    noBadInput: 'a report for a connection that has gone is counted in its status, not an error (the sender left)',
  });
});

describe('event stream node', function () {
  this.timeout(20000);
  useNodeRed();

  it('a yellow ring while it listens with no client, a green dot once a client takes the events', async () => {
    const port = await freePort();
    const f = await loadFlow([nodeModules.eventStream], [{ id: 'e', type: 'xcast-event-stream', port: String(port) }]);
    await statusOf('e', light('yellow', 'ring', /listen/), 'the yellow ring of listening');
    const sock = net.connect(port, '127.0.0.1');
    let bytes = 0;
    sock.on('data', (d) => { bytes += d.length; });
    await new Promise<void>((r) => sock.once('connect', () => r()));
    try {
      // Packets until the (throttled) status shows the client.
      const timer = setInterval(() => f.node('e').receive(audioMsg({ codec: 'pcm_s16le' })), 10);
      try {
        await statusOf('e', light('green', 'dot', /client/), 'the green dot of a client');
      } finally {
        clearInterval(timer);
      }
      assert.ok(await until(() => bytes > 0), 'the client got events');
    } finally {
      sock.destroy();
    }
  });

  itShowsARedRingWhenItCannotListen(nodeModules.eventStream, 'xcast-event-stream');

  let port = 0;
  let client: net.Socket | null = null;
  nodeContract({
    type: 'xcast-event-stream', module: nodeModules.eventStream,
    config: async () => ({ port: String((port = await freePort())) }),
    refused: { config: { port: 'abc' }, field: 'port' },
    badInput: [{ what: 'mix parameters without tracks', msg: () => ({ topic: 'mixParameters', payload: { fromFrameSeq: 0, master: 1 } }), error: /./ }],
    async exercise(f) {
      await statusOf('n1', light('yellow', 'ring'), 'listening');
      client = net.connect(port, '127.0.0.1');
      // Read (and drop) the events, so that our socket sees the node hang up.
      client.on('data', () => undefined);
      client.on('error', () => undefined);
      await new Promise<void>((r) => client!.once('connect', () => r()));
      f.node('n1').receive(audioMsg({ codec: 'pcm_s16le' }));
    },
    ports: () => [port],
    async afterClose() {
      // The node ended our connection from its side.
      const c = client!;
      await until(() => c.destroyed || c.readableEnded);
      assert.ok(c.readableEnded || c.destroyed, 'the event client was disconnected');
      c.destroy();
      client = null;
    },
  });
});

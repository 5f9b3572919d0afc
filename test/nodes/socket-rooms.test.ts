// Node tests: rooms over streamproto1 in a real Node-RED. The socket reader tags each sender's audio (and its
// connection event) with the room of its HELLO (room, else profile.room; anything else 'main'); the socket writer
// sends a frame of a room other than 'main' only to the receivers whose HELLO names that room.
import assert from 'node:assert/strict';
import { StreamClient, StreamConnection } from '../../runtime/protocol/transport';
import { Codec, FrameType, decodeAudioPayload, encodeAudioFrame } from '../../runtime/protocol/frame';
import { RawClient } from '../protocol/helpers';
import { freePort } from '../support/xcast-process';
import { until } from '../support/resources';
import { audioMsg, light, loadFlow, nodeModules, statusOf, useNodeRed } from '../support/node-red';

async function connect(port: number, hello: { userId: string; role: 'peer' | 'monitor'; [k: string]: unknown }): Promise<{ client: StreamClient; conn: StreamConnection }> {
  const client = new StreamClient({ host: '127.0.0.1', port, hello, reconnect: false });
  const conn = await new Promise<StreamConnection>((resolve, reject) => {
    client.on('connect', resolve);
    client.on('connectError', reject);
    client.start();
  });
  return { client, conn };
}

describe('socket nodes: rooms', function () {
  this.timeout(20000);
  useNodeRed();
  const clients: StreamClient[] = [];
  const raws: RawClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    for (const r of raws.splice(0)) r.destroy();
  });

  it('socket writer (server): two receivers in different rooms each get their room, and every frame of main or of no room', async () => {
    const port = await freePort();
    const f = await loadFlow([nodeModules.socketWriter], [{ id: 'w', type: 'xcast-socket-writer', mode: 'server', port: String(port) }]);
    await statusOf('w', light('yellow', 'ring', /listen/), 'listening');
    const got = new Map<string, number[]>([['ann', []], ['bob', []]]);
    // ann names its room in the HELLO (a raw client: StreamClient sends the spec's fields only), bob in its profile.
    const ann = await RawClient.hello(port, 'ann', { role: 'monitor', room: 'r1' });
    raws.push(ann);
    const bob = await connect(port, { userId: 'bob', role: 'monitor', profile: { room: 'r2' } });
    clients.push(bob.client);
    bob.conn.on('audio', (h: { seq: number }) => got.get('bob')!.push(h.seq));
    await statusOf('w', light('green', 'dot'), 'receivers');
    void (async () => {
      for (;;) {
        const fr = await ann.nextFrame().catch(() => null);
        if (fr === null) return;
        if (fr.type === FrameType.AUDIO) got.get('ann')!.push(decodeAudioPayload(fr.payload).header.seq);
      }
    })();
    const w = f.node('w');
    w.receive(audioMsg({ seq: 1, room: 'r1' }));
    w.receive(audioMsg({ seq: 2, room: 'r2' }));
    w.receive(audioMsg({ seq: 3, room: 'main' }));
    w.receive(audioMsg({ seq: 4 }));
    w.receive(audioMsg({ seq: 5, room: 'r3' }));
    w.receive(audioMsg({ seq: 6, room: 'r2', targetUserId: 'bob' }));
    w.receive(audioMsg({ seq: 7 }));
    assert.ok(await until(() => got.get('ann')!.includes(7) && got.get('bob')!.includes(7)), JSON.stringify([...got]));
    assert.deepEqual(got.get('ann'), [1, 3, 4, 7]);
    assert.deepEqual(got.get('bob'), [2, 3, 4, 6, 7]);
  });

  it("socket reader (server): a sender's audio and its open event carry its HELLO's room", async () => {
    const port = await freePort();
    const f = await loadFlow([nodeModules.socketReader], [{ id: 'r', type: 'xcast-socket-reader', mode: 'server', port: String(port), wires: [['out'], [], ['events'], []] }], { helpers: ['out', 'events'] });
    await statusOf('r', light('yellow', 'ring', /listen/), 'listening');
    const senders: Array<[string, Record<string, unknown>, string]> = [['ann', { room: 'r1' }, 'r1'], ['bob', { profile: { room: 'r2', name: 'Bob' } }, 'r2'], ['cat', {}, 'main'], ['dan', { room: 'a b' }, 'main']];
    for (const [userId, extra] of senders) {
      const raw = await RawClient.hello(port, userId, extra);
      raws.push(raw);
      raw.write(encodeAudioFrame({ trackId: 1, seq: 0, captureTime: 0, sampleRate: 48000, channels: 1, codec: Codec.PCM_S16LE, frameSamples: 480 }, Buffer.alloc(960)));
    }
    await f.receivedAtLeast('out', 4);
    const rooms = new Map(f.received('out').map((m) => [m.userId, m.room]));
    assert.deepEqual([...rooms].sort(), senders.map(([u, , room]) => [u, room]).sort());
    const opens = f.received('events').map((m) => m.payload as { event: string; userId: string; room: string }).filter((e) => e.event === 'open');
    assert.deepEqual(opens.map((e) => [e.userId, e.room]).sort(), senders.map(([u, , room]) => [u, room]).sort());
  });
});

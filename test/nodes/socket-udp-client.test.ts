// Node test: the socket reader and writer in client mode over UDP (nodes/lib/udp-client-endpoint.ts) against the
// same nodes in server mode over UDP, in one embedded Node-RED: the sender's audio reaches the server-mode reader,
// the server-mode writer's audio reaches the client-mode reader, whose QoS goes back (qos writer) over the same UDP
// session to the writer; a wrong token is refused with a status and one warning naming unauthorized.
import assert from 'node:assert/strict';
import { helper, statuses, loadFlow, nodeModules, statusOf, light, useNodeRed, audioMsg } from '../support/node-red';
import { until } from '../support/resources';
import { freeUdpPort } from '../support/xcast-process';

function warnings(): string[] {
  return helper.log().args
    .filter((a: unknown[]) => (a[0] as { level?: number })?.level === 30)
    .map((a: unknown[]) => String((a[0] as { msg?: unknown }).msg));
}

describe('socket nodes in client mode over UDP', function () {
  this.timeout(20000);
  useNodeRed();

  it('a writer (client, udp) sends to a reader (server, udp): the audio arrives with the sender’s userId and connection events', async () => {
    const port = await freeUdpPort();
    const f = await loadFlow([nodeModules.socketReader, nodeModules.socketWriter], [
      { id: 'r', type: 'xcast-socket-reader', mode: 'server', transport: 'udp', port: String(port), wires: [['audio'], [], ['events'], []] },
      { id: 'w', type: 'xcast-socket-writer', mode: 'client', transport: 'udp', port: String(port), userId: 'alice', wires: [['wout']] },
    ], { helpers: ['audio', 'events', 'wout'] });
    await statusOf('w', light('green', 'dot', /connected/), 'connected');
    const opens = await f.receivedAtLeast('events', 1);
    const open = opens[0].payload as { event: string; userId: string; remote: string };
    assert.equal(open.event, 'open');
    assert.equal(open.userId, 'alice');
    const w = f.node('w');
    for (let seq = 0; seq < 20; seq++) w.receive(audioMsg({ codec: 'pcm_s16le', seq, frameSamples: 480, channels: 1, value: 0.25 }));
    const got = await f.receivedAtLeast('audio', 20);
    assert.deepEqual(got.slice(0, 20).map((m) => (m.audio as { seq: number }).seq), [...Array(20).keys()]);
    assert.ok(got.every((m) => m.userId === 'alice'));
    // The writer's own connection message names the server side (transport udp).
    const wopen = f.received('wout').find((m) => m.topic === 'connection')!.payload as { event: string; remote: string };
    assert.equal(wopen.event, 'open');
    assert.equal(wopen.remote, `127.0.0.1:${port}`);
  });

  it('a reader (client, udp) receives a writer’s (server, udp) audio; its QoS reports go back to that writer over the same session (qos writer)', async () => {
    const port = await freeUdpPort();
    const f = await loadFlow([nodeModules.socketReader, nodeModules.socketWriter, nodeModules.qosWriter], [
      { id: 'w', type: 'xcast-socket-writer', mode: 'server', transport: 'udp', port: String(port), wires: [['wout']] },
      { id: 'r', type: 'xcast-socket-reader', mode: 'client', transport: 'udp', port: String(port), userId: 'monitor-1', role: 'monitor', enableQOSMetrics: true, wires: [['audio'], [], [], ['q']] },
      { id: 'q', type: 'xcast-qos-writer', wires: [] },
    ], { helpers: ['audio', 'wout'] });
    await statusOf('r', light('green', 'dot', /connected/), 'connected');
    const w = f.node('w');
    let seq = 0;
    const frames = setInterval(() => w.receive(audioMsg({ codec: 'pcm_s16le', seq: seq++, frameSamples: 480, channels: 1, value: 0.25 })), 5);
    try {
      await f.receivedAtLeast('audio', 30);
      assert.ok(await until(() => f.received('wout').filter((m) => m.topic === 'qos').length >= 20, 10000), `QoS reports back at the writer; qos writer: ${JSON.stringify(statuses('q').slice(-3))}; writer said ${JSON.stringify(f.received('wout').slice(-3))}`);
    } finally {
      clearInterval(frames);
    }
    const qos = f.received('wout').filter((m) => m.topic === 'qos');
    assert.ok(qos.every((m) => m.userId === 'monitor-1'));
    const got = f.received('audio').map((m) => (m.audio as { seq: number }).seq);
    assert.deepEqual(got, [...Array(got.length).keys()], 'in order, none missing on loopback');
  });

  it('a wrong token: the client writer shows refused (unauthorized) and warns naming unauthorized and the UDP address', async () => {
    const port = await freeUdpPort();
    await loadFlow([nodeModules.socketReader, nodeModules.socketWriter], [
      { id: 'r', type: 'xcast-socket-reader', mode: 'server', transport: 'udp', port: String(port), wires: [[], [], [], []] },
      { id: 'w', type: 'xcast-socket-writer', mode: 'client', transport: 'udp', port: String(port), userId: 'mallory', wires: [[]] },
    ], { credentials: { r: { token: 'secret' }, w: { token: 'wrong' } } });
    await statusOf('w', light('red', 'ring', /unauthorized/), 'refused: unauthorized');
    // (Said once however many refreshes are refused: UdpStreamClient's test counts that.)
    // The client's warning (the server-mode reader warns of the refused peer too).
    const refusedWarnings = () => warnings().filter((m) => m.includes(`udp 127.0.0.1:${port}`) && /unauthorized/.test(m));
    assert.ok(await until(() => refusedWarnings().length >= 1, 5000), JSON.stringify(warnings()));
    assert.equal(refusedWarnings().length, 1, JSON.stringify(warnings()));
    assert.match(refusedWarnings()[0], /wrong token/, 'the server’s message quoted');
  });
});

// Node test: the socket reader's token is a Node-RED credential, and a sender without it is refused.
import assert from 'node:assert/strict';
import { StreamClient } from '../../runtime/protocol/transport';
import { freePort } from '../support/xcast-process';
import { loadFlow, nodeModules, statusOf, light, useNodeRed } from '../support/node-red';

describe('socket reader token (credential)', function () {
  this.timeout(20000);
  useNodeRed();

  it('accepts a sender with the credential token and refuses one with a wrong token', async () => {
    const port = await freePort();
    await loadFlow([nodeModules.socketReader], [
      { id: 'r1', type: 'xcast-socket-reader', mode: 'server', port: String(port), wires: [[], [], [], []] },
    ], { credentials: { r1: { token: 'secret' } } });
    const attempt = (token: string) => new Promise<string>((resolve) => {
      const c = new StreamClient({ host: '127.0.0.1', port, hello: { userId: 'u', role: 'peer', token }, reconnect: false });
      c.on('connect', () => { void c.close(); resolve('connected'); });
      c.on('connectError', (e: Error & { code?: string }) => { void c.close(); resolve(e.code ?? e.message); });
      c.start();
    });
    // A server-mode reader shows its yellow ring once it listens.
    await statusOf('r1', light('yellow', 'ring'), 'listening');
    assert.equal(await attempt('secret'), 'connected');
    assert.equal(await attempt('wrong'), 'unauthorized');
  });
});

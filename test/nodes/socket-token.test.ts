// Node test: the socket reader's token is a Node-RED credential, and a sender without it is refused.
import assert from 'node:assert/strict';
import { StreamClient } from '../../runtime/protocol/transport';
import { freePort } from '../support/xcast-process';
import { helper } from '../support/node-helper';
const readerNode = require('../../nodes/socket-reader/socket-reader');

describe('socket reader token (credential)', function () {
  this.timeout(20000);
  beforeEach((done) => { helper.startServer(done); });
  afterEach((done) => { helper.unload().then(() => helper.stopServer(done)); });

  it('accepts a sender with the credential token and refuses one with a wrong token', async () => {
    const port = await freePort();
    await helper.load(readerNode, [
      { id: 't1', type: 'tab', label: 't' },
      { id: 'r1', z: 't1', x: 100, y: 100, type: 'xcast-socket-reader', mode: 'server', port: String(port), wires: [[], [], [], []] },
    ], { r1: { token: 'secret' } });
    const attempt = (token: string) => new Promise<string>((resolve) => {
      const c = new StreamClient({ host: '127.0.0.1', port, hello: { userId: 'u', role: 'peer', token }, reconnect: false });
      c.on('connect', () => { void c.close(); resolve('connected'); });
      c.on('connectError', (e: Error & { code?: string }) => { void c.close(); resolve(e.code ?? e.message); });
      c.start();
    });
    // The reader may still be binding its port.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await attempt('secret'), 'connected');
    assert.equal(await attempt('wrong'), 'unauthorized');
  });
});

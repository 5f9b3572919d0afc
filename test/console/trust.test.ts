// The launcher's trust options reach the console node as they reach the webrtc node: --token as its credential,
// --users as its users file (so `xcast start --token T` guards /xcast/mixer/ state, control and websocket).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyTrust, loadFlow, resolveFlowFile } from '../../runtime/launcher';
import { makeTestCerts } from '../support/tls-certs';

describe('launcher trust for the console', () => {
  it('--token and --users reach the presets\' console node', () => {
    const flows = loadFlow(resolveFlowFile('xcast'));
    const con = flows.find((n) => n.type === 'xcast-console');
    assert.ok(con, 'the xcast preset has a console');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-trust-'));
    try {
      const users = path.join(dir, 'users.json');
      fs.writeFileSync(users, JSON.stringify([{ userId: 'op', token: 'op-token' }]));
      const r = applyTrust(flows, undefined, { token: 'T1', usersFile: users });
      assert.deepEqual(r.credentials[String(con.id)], { token: 'T1' });
      assert.equal(r.flows.find((n) => n.id === con.id)!.usersFile, path.resolve(users));
      const none = applyTrust(flows, undefined, {});
      assert.equal(none.credentials[String(con.id)], undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('launcher trust for the UDP and RTP ways in', () => {
  it('--tls-* leave streamproto1-over-UDP sockets without TLS (there is no DTLS) but --token guards them; --host leaves RTP and seed 002 ingest on loopback', () => {
    const flows = loadFlow(resolveFlowFile('xcast'));
    const certs = makeTestCerts(['192.0.2.10']);
    try {
      const r = applyTrust(flows, '192.0.2.10', { tlsCert: certs.serverCert, tlsKey: certs.serverKey, token: 'T1' });
      const sockets = r.flows.filter((n) => n.type === 'xcast-socket-reader' || n.type === 'xcast-socket-writer');
      const udp = sockets.filter((n) => n.transport === 'udp');
      const tcp = sockets.filter((n) => n.transport !== 'udp');
      assert.equal(udp.length, 2, 'the preset has a UDP reader and writer');
      for (const n of udp) {
        assert.equal(n.tls, undefined, `${String(n.name)}: no TLS on UDP`);
        assert.equal(n.host, '192.0.2.10', `${String(n.name)}: listens on --host`);
        assert.deepEqual(r.credentials[String(n.id)], { token: 'T1' });
      }
      for (const n of tcp) assert.ok(n.tls, `${String(n.name)}: TLS on TCP`);
      // No credentials exist for RTP or seed 002's raw format: like the event stream, they stay on 127.0.0.1.
      for (const n of r.flows.filter((x) => x.type === 'xcast-rtp-in' || x.type === 'xcast-raw-udp-in')) assert.equal(n.host, '127.0.0.1', String(n.name));
    } finally {
      certs.remove();
    }
  });
});

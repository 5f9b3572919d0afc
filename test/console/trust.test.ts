// The launcher's trust options reach the console node as they reach the webrtc node: --token as its credential,
// --users as its users file (so `xcast start --token T` guards /xcast/mixer/ state, control and websocket).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyTrust, loadFlow, resolveFlowFile } from '../../runtime/launcher';

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

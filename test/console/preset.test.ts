// The console in the demo preset under `xcast start` (the real CLI, its launcher in front of Node-RED, two
// streamproto1 peers playing tones): GET state names both peers from their HELLOs with levels and QoS lights, POST
// control as curl sends it (urlencoded by default) and as JSON, a websocket page sees the change, and after a restart
// of Node-RED the gain set through the console is still the mixer's.
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startXcast, freePortMap, tmpDir, type XcastProcess } from '../support/xcast-process';

interface State { tracks: Array<{ userId: string; name: string; gainDb: number | null; mute: boolean; level: number | null; qos: string }>; masters: Array<{ room: string; gainDb: number | null }> }

async function state(url: string): Promise<State> {
  const r = await fetch(`${url}/xcast/mixer/state`);
  assert.equal(r.status, 200);
  return await r.json() as State;
}

/** Polls GET state (the console's answer comes as the mixer reports, ~10 a second) until `ok` holds. */
async function stateUntil(url: string, ok: (s: State) => boolean, what: string, timeoutMs = 15_000): Promise<State> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await state(url);
    if (ok(s)) return s;
    assert.ok(Date.now() < end, `${what}: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('console in the demo preset (xcast start)', function () {
  this.timeout(90_000);
  let x: XcastProcess | null = null;
  afterEach(async () => { await x?.stop(); x = null; });

  it('names and levels of the demo peers; POST control as curl and as JSON; a page sees it; the gain survives a restart', async () => {
    const userDir = tmpDir('xcast-console-');
    const portMap = await freePortMap();
    x = await startXcast({ flows: ['demo'], portMap, userDir });
    const url = x.url;
    const s = await stateUntil(url, (st) => st.tracks.length === 2 && st.tracks.every((t) => t.level !== null && t.qos === 'good'), 'both peers metered and good');
    assert.deepEqual(s.tracks.map((t) => [t.userId, t.name]).sort(), [['alice', 'Alice'], ['bob', 'Bob']]);

    // curl -d '{…}' sends application/x-www-form-urlencoded (the launcher's admin app parses it before us).
    const curl = await fetch(`${url}/xcast/mixer/control`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: '{"userId":"alice","gainDb":-6}' });
    assert.equal(curl.status, 200, await curl.clone().text());
    const bad = await fetch(`${url}/xcast/mixer/control`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"userId":"bob","gainDb":20}' });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { field: string } }).error.field, 'gainDb');

    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/xcast/mixer/ws`);
    const got: Array<Record<string, unknown>> = [];
    ws.on('message', (d, bin) => { if (!bin) got.push(JSON.parse(String(d))); });
    await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
    const json = await fetch(`${url}/xcast/mixer/control`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ userId: 'bob', mute: true }) });
    assert.equal(json.status, 200);
    const end = Date.now() + 5000;
    while (!got.some((m) => m.t === 'params' && (m.users as Record<string, { mute: boolean }>)?.bob?.mute === true)) {
      assert.ok(Date.now() < end, `the page never saw bob muted: ${JSON.stringify(got).slice(0, 500)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    ws.terminate();
    await stateUntil(url, (st) => st.tracks.find((t) => t.userId === 'alice')?.gainDb === -6, 'alice at −6 dB');

    await x.stop();
    x = await startXcast({ flows: ['demo'], portMap, userDir });
    const again = await stateUntil(x.url, (st) => st.tracks.length === 2, 'both peers back after the restart');
    assert.equal(again.tracks.find((t) => t.userId === 'alice')!.gainDb, -6, 'alice still at −6 dB');
    assert.equal(again.tracks.find((t) => t.userId === 'bob')!.mute, true, 'bob still muted');
  });
});

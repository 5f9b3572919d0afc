// The message catalogs in a real Node-RED: node status and refusals are catalog texts with their values filled in, never raw keys.
import assert from 'node:assert/strict';
import path from 'node:path';
import { startXcast, freePortMap, XcastProcess } from '../support/xcast-process';

// Node-RED's own WebSocket library (the editor's comms), as the editor uses it.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const WebSocket = require(require.resolve('ws', { paths: [path.dirname(require.resolve('@node-red/editor-api'))] }));

interface Status { fill?: string; shape?: string; text?: string }

/** The statuses the editor is shown (comms `status/<id>`, retained by Node-RED), until `enough` says so. */
function watchStatus(url: string, enough: (s: Map<string, Status>) => boolean): Promise<Map<string, Status>> {
  return new Promise((resolve, reject) => {
    const seen = new Map<string, Status>();
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/comms`);
    const timer = setTimeout(() => { ws.close(); reject(new Error(`statuses seen: ${JSON.stringify([...seen])}`)); }, 15000);
    ws.on('open', () => ws.send(JSON.stringify({ subscribe: 'status/#' })));
    ws.on('message', (data: Buffer) => {
      const parsed = JSON.parse(String(data));
      for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
        if (typeof m.topic === 'string' && m.topic.startsWith('status/')) seen.set(m.topic.slice(7), m.data);
      }
      if (enough(seen)) { clearTimeout(timer); ws.close(); resolve(seen); }
    });
    ws.on('error', (err: Error) => { clearTimeout(timer); reject(err); });
  });
}

describe('message catalogs in a real Node-RED', function () {
  this.timeout(60000);
  let x: XcastProcess | undefined;
  afterEach(async () => { await x?.stop(); x = undefined; });

  it('shows status texts from the catalogs, values filled in, and refuses a bad node in words naming the field', async () => {
    const portMap = await freePortMap();
    x = await startXcast({
      flows: ['xcast'], portMap,
      edit: (nodes) => {
        const tab = nodes.find((n) => n.type === 'tab')!.id;
        nodes.push({ id: 'badmixer', type: 'xcast-mixer', z: tab, name: 'bad', jitterFrames: '3', jitterMaxFrames: '2', x: 100, y: 600, wires: [[], [], []] });
      },
    });
    const flows = (await (await fetch(`${x.url}/flows`)).json()) as Array<{ id: string; type: string; port?: string }>;
    const reader = flows.find((n) => n.type === 'xcast-socket-reader')!;
    const mixer = flows.find((n) => n.type === 'xcast-mixer' && n.id !== 'badmixer')!;
    const events = flows.find((n) => n.type === 'xcast-event-stream')!;
    const statuses = await watchStatus(x.url, (s) => [reader.id, mixer.id, events.id, 'badmixer'].every((id) => s.has(id)));

    assert.equal(statuses.get(reader.id)!.text, `listening :${portMap[7010]}, 0 senders`);
    assert.equal(statuses.get(mixer.id)!.text, 'mixing 0 tracks');
    assert.equal(statuses.get(events.id)!.text, `listening :${portMap[7012]}`);
    assert.deepEqual(statuses.get('badmixer'), { fill: 'red', shape: 'ring', text: 'bad jitterMaxFrames' });
    for (const [id, s] of statuses) {
      assert.doesNotMatch(String(s.text ?? ''), /^[a-z-]+\.(status|errors|config)\.|__\w+__/, `node ${id}: a raw catalog key or placeholder`);
    }
    assert.match(x.output(), /\[error\] \[xcast-mixer:bad\] configuration refused: jitterMaxFrames: 2 is below the jitter buffer's 3 frames/);
  });

  it("serves each node's catalog, with the shared section, to the editor", async () => {
    x = await startXcast({ flows: ['xcast'], portMap: await freePortMap() });
    const r = await fetch(`${x.url}/locales/@xcast/node-red-xcast/xcast-mixer?lng=en-US`);
    assert.equal(r.status, 200);
    const c = (await r.json()) as { mixer?: { status?: Record<string, string> }; xcast?: { config?: Record<string, string> } };
    assert.equal(c.mixer?.status?.mixing, 'mixing __count__ track');
    assert.equal(c.xcast?.config?.required, 'is required');
  });

  it("finds every data-i18n key of the editor's node templates in that node's catalog", async () => {
    x = await startXcast({ flows: ['xcast'], portMap: await freePortMap() });
    const html = await (await fetch(`${x.url}/nodes`, { headers: { accept: 'text/html' } })).text();
    // GET /nodes as HTML: each node set's editor file after a marker naming its set.
    const sections = html.split(/<!-- --- \[red-module:([^\]]+)\] --- -->/);
    let checked = 0;
    for (let i = 1; i < sections.length; i += 2) {
      const set = sections[i];
      if (!set.startsWith('@xcast/node-red-xcast/')) continue;
      const catalog: unknown = await (await fetch(`${x.url}/locales/${set}?lng=en-US`)).json();
      for (const m of sections[i + 1].matchAll(/data-i18n="(?:\[[a-z]+\])?([^"]+)"/g)) {
        const key = m[1];
        if (key.includes(':')) continue; // another namespace's (Node-RED's common labels)
        const text: unknown = key.split('.').reduce<unknown>((o: unknown, k) => (o as Record<string, unknown> | undefined)?.[k], catalog);
        assert.equal(typeof text, 'string', `${set}: ${key} is not in its catalog`);
        checked++;
      }
    }
    assert.ok(checked >= 15, `${checked} keys checked`);
  });
});

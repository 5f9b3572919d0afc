// The example flow "11 Console from OSC or MIDI": its function nodes, run as Node-RED runs a function body, map OSC
// addresses and MIDI control changes to the mixer's control messages (and ignore everything else).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../runtime/launcher';

const flow = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'examples', '11 Console from OSC or MIDI.json'), 'utf8')) as Array<Record<string, unknown>>;
const fnNamed = (name: string) => {
  const n = flow.find((x) => x.type === 'function' && x.name === name);
  assert.ok(n, `function node ${name}`);
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('msg', String(n.func)) as (msg: Record<string, unknown>) => Record<string, unknown> | null;
};
const db = (g: number) => 20 * Math.log10(g);

describe('example 11: OSC and MIDI to mixer controls', () => {
  it('OSC: gain fader, gain in dB, pan, mute, master per room; other addresses ignored', () => {
    const osc = fnNamed('OSC → mixer controls');
    const g = osc({ topic: '/xcast/gain/alice', payload: [0.75] })!;
    assert.equal(g.topic, 'gain');
    assert.equal(g.userId, 'alice');
    assert.ok(Math.abs(db(g.payload as number) - -6) < 1e-9, '0.75 of the fader is −6 dB');
    assert.equal(osc({ topic: '/xcast/gain/alice', payload: 0 })!.payload, 0);
    assert.ok(Math.abs(db(osc({ topic: '/xcast/gaindb/bob', payload: [{ type: 'f', value: -12 }] })!.payload as number) + 12) < 1e-9);
    assert.deepEqual(osc({ topic: '/xcast/pan/bob', payload: [-3] }), { topic: 'pan', userId: 'bob', payload: -1 });
    assert.deepEqual(osc({ topic: '/xcast/mute/bob', payload: [1] }), { topic: 'mute', userId: 'bob', payload: true });
    assert.equal(osc({ topic: '/xcast/master/blue', payload: [1] })!.room, 'blue');
    assert.equal(osc({ topic: '/other', payload: [1] }), null);
    assert.equal(osc({ topic: '/xcast/gain/alice', payload: ['loud'] }), null);
  });

  it('MIDI: CC faders, master, pans and mutes on channel 1; notes ignored', () => {
    const midi = fnNamed('MIDI CC → mixer controls');
    const f = midi({ payload: [0xb0, 2, 127] })!;
    assert.deepEqual([f.topic, f.userId], ['gain', 'bob']);
    assert.ok(Math.abs(db(f.payload as number) - 12) < 1e-9);
    assert.equal(midi({ payload: [0xb0, 1, 0] })!.payload, 0);
    assert.equal(midi({ payload: [0xb0, 9, 127] })!.topic, 'master');
    assert.deepEqual(midi({ payload: [0xb0, 17, 64] }), { topic: 'pan', userId: 'alice', payload: 0 });
    assert.deepEqual(midi({ payload: [0xb0, 34, 127] }), { topic: 'mute', userId: 'bob', payload: true });
    assert.equal(midi({ payload: [0x90, 1, 127] }), null);
    assert.equal(midi({ payload: [0xb0, 5, 100] }), null, 'no user on strip 5');
  });

  it('the flow wires the console to the mixer both ways and says which library packages it needs', () => {
    const mixer = flow.find((n) => n.type === 'xcast-mixer')!;
    const con = flow.find((n) => n.type === 'xcast-console')!;
    assert.ok((mixer.wires as string[][])[1].includes(con.id as string), 'output 2: tracks, mixParameters');
    assert.ok((mixer.wires as string[][])[4].includes(con.id as string), 'output 5: meters, monitor');
    assert.deepEqual(con.wires, [[mixer.id]]);
    const info = String(flow.find((n) => n.type === 'tab')!.info);
    assert.match(info, /node-red-contrib-osc/);
    assert.match(info, /node-red-contrib-midi/);
    for (const n of flow) if (n.type !== 'tab') assert.ok(typeof n.x === 'number' && typeof n.y === 'number' && n.z === flow[0].id, `${n.id} has x, y, z`);
  });
});

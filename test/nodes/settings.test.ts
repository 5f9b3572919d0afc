// Node tests: the nodes read xcast's settings through RED.settings (settings.xcast), and refuse a bad one naming it.
import assert from 'node:assert/strict';
import { helper } from '../support/node-helper';
const mixerNode = require('../../nodes/mixer/mixer');
const encodeNode = require('../../nodes/opus-encode/opus-encode');

interface Priority { cpus: string | null; error: string | null }

describe('nodes read settings.xcast', function () {
  this.timeout(20000);
  beforeEach((done) => { helper.startServer(done); });
  afterEach((done) => { helper.unload().then(() => { helper.settings({ xcast: undefined }); helper.stopServer(done); }); });

  it('the mixer pins its thread to settings.xcast.mixCpus', async () => {
    helper.settings({ xcast: { mixCpus: '0' } });
    await helper.load(mixerNode, [{ id: 't1', type: 'tab', label: 't' }, { id: 'm1', z: 't1', type: 'xcast-mixer', channels: '1', wires: [[], [], []] }]);
    const engine = (helper.getNode('m1') as { tickSource: { priority: Priority | null } }).tickSource;
    // The thread says what it got once it has started: wait for its message, not a time.
    await new Promise<void>((resolve) => {
      const look = () => (engine.priority ? resolve() : setImmediate(look));
      look();
    });
    assert.equal(engine.priority!.cpus, '0', `pinned (${engine.priority!.error ?? 'no error'})`);
  });

  it('an old flow whose mixer says thread: loop deploys and mixes, with a warning naming the field', async () => {
    await helper.load(mixerNode, [{ id: 't1', type: 'tab', label: 't' }, { id: 'm1', z: 't1', type: 'xcast-mixer', thread: 'loop', wires: [[], [], []] }]);
    const warned = helper.log().args.filter((a: Array<{ level?: number; msg?: unknown }>) => a[0]?.level === 30).map((a: Array<{ msg?: unknown }>) => String(a[0].msg));
    assert.ok(warned.some((m: string) => /^thread: "loop" is no longer an option/.test(m)), `warnings: ${JSON.stringify(warned)}`);
    assert.ok((helper.getNode('m1') as { tickSource?: unknown }).tickSource, 'the mixer runs');
  });

  it('an encode node with its Threads blank refuses a bad settings.xcast.encodeWorkers, naming it', async () => {
    helper.settings({ xcast: { encodeWorkers: 'many' } });
    await helper.load(encodeNode, [{ id: 't1', type: 'tab', label: 't' }, { id: 'e1', z: 't1', type: 'xcast-opus-encode', wires: [[]] }]);
    const errors = helper.log().args.filter((a: Array<{ level?: number }>) => a[0]?.level === 20).map((a: Array<{ msg?: unknown }>) => String(a[0].msg));
    assert.ok(errors.some((m: string) => /settings\.xcast\.encodeWorkers: "many" is not a whole number/.test(m)), `errors: ${JSON.stringify(errors)}`);
  });
});

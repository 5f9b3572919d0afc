// Node tests (node-red-node-test-helper): a bad configuration is refused with a message that names the field.
import assert from 'node:assert/strict';
import { helper } from '../support/node-helper';

const readerNode = require('../../nodes/socket-reader/socket-reader');
const writerNode = require('../../nodes/socket-writer/socket-writer');
const mixerNode = require('../../nodes/mixer/mixer');
const encodeNode = require('../../nodes/opus-encode/opus-encode');
const audioInNode = require('../../nodes/audio-in/audio-in');

/** Loads one node and returns what it logged as errors, and the status it shows. */
async function errorsOf(mod: unknown, def: Record<string, unknown>): Promise<{ logged: string[]; status: unknown }> {
  const flow = [{ id: 'n1', z: 't1', x: 100, y: 100, wires: [], ...def }, { id: 't1', type: 'tab', label: 't' }];
  await helper.load(mod, flow);
  const n = helper.getNode('n1');
  const logged: string[] = [];
  // The node refuses in its constructor; Node-RED's log has it.
  const events = helper.log().args.filter((a: unknown[]) => (a[0] as { level?: number })?.level === 20);
  for (const e of events) logged.push(String((e[0] as { msg?: unknown }).msg));
  return { logged, status: n.status.lastCall?.args[0] };
}

describe('node configuration is checked and refusals name the field', function () {
  beforeEach((done) => { helper.startServer(done); });
  afterEach((done) => { helper.unload().then(() => helper.stopServer(done)); });

  const cases: Array<[string, unknown, Record<string, unknown>, RegExp]> = [
    ['socket reader port that is not a number', readerNode, { type: 'xcast-socket-reader', mode: 'server', port: 'abc' }, /port: "abc" is not a number/],
    ['socket reader with an unknown mode', readerNode, { type: 'xcast-socket-reader', mode: 'sideways', port: '7010' }, /mode: "sideways" is not one of server, client/],
    ['socket writer client without a userId', writerNode, { type: 'xcast-socket-writer', mode: 'client', port: '7010', userId: '' }, /userId: is required/],
    ['socket writer reading metadata from context without a key', writerNode, { type: 'xcast-socket-writer', mode: 'server', port: '0', metaSource: 'global', metaKey: '' }, /metaKey: is required/],
    ['mixer frame that is not whole samples', mixerNode, { type: 'xcast-mixer', sampleRate: '44100', frameMs: '10.01' }, /frameMs: .*not a whole number of samples/],
    ['mixer depth cap below its jitter buffer', mixerNode, { type: 'xcast-mixer', jitterFrames: '3', jitterMaxFrames: '2' }, /jitterMaxFrames: 2 is below the jitter buffer's 3 frames/],
    ['opus encoder frame that Opus cannot code', encodeNode, { type: 'xcast-opus-encode', frameMs: '15' }, /frameMs: 15 ms is not an Opus frame duration/],
    ['audio input file that does not exist', audioInNode, { type: 'xcast-audio-in', source: 'file', file: '/nonexistent/x.wav', autoStart: false }, /file: cannot read \/nonexistent\/x.wav/],
  ];
  for (const [what, mod, def, re] of cases) {
    it(`refuses a ${what}`, async () => {
      const { logged, status } = await errorsOf(mod, def);
      assert.ok(logged.some((e) => re.test(e) && e.startsWith('configuration refused: ')), `logged: ${JSON.stringify(logged)}`);
      const field = /^\/(\w+):/.exec(String(re))![1];
      assert.deepEqual(status, { fill: 'red', shape: 'ring', text: `bad ${field}` });
    });
  }
});

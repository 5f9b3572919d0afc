// Node tests: an xcast node's audio output wired to several nodes reaches each as its own message sharing one payload Buffer.
import assert from 'node:assert/strict';
import { helper } from '../support/node-helper';

const encodeNode = require('../../nodes/opus-encode/opus-encode');
const mixerNode = require('../../nodes/mixer/mixer');

interface Msg { payload: Buffer; audio: Record<string, unknown>; extra?: { n: number }; _msgid?: string }

function pcmMsg(extra?: { n: number }): Record<string, unknown> {
  const pcm = Buffer.from(new Float32Array(960).map((_, i) => 0.3 * Math.sin(i / 10)).buffer);
  const m: Record<string, unknown> = {
    topic: 'audio', payload: pcm, userId: 'alice',
    audio: { codec: 'pcm_f32le', sampleRate: 48000, channels: 2, frameSamples: 480, seq: 0, captureTime: 1, trackId: 1 },
  };
  if (extra) m.extra = extra;
  return m;
}

describe('fan-out of xcast audio messages', function () {
  beforeEach((done) => { helper.startServer(done); });
  afterEach((done) => { helper.unload().then(() => helper.stopServer(done)); });

  async function twoReceivers(msg: Record<string, unknown>): Promise<[Msg, Msg]> {
    const flow = [
      { id: 't1', type: 'tab', label: 't' },
      { id: 'enc', z: 't1', type: 'xcast-opus-encode', frameMs: '10', bitrate: '64', complexity: '5', wires: [['h1', 'h2']] },
      { id: 'h1', z: 't1', type: 'helper' },
      { id: 'h2', z: 't1', type: 'helper' },
    ];
    await helper.load(encodeNode, flow);
    const got = (id: string) => new Promise<Msg>((resolve) => helper.getNode(id).once('input', (m: Msg) => resolve(m)));
    const both = Promise.all([got('h1'), got('h2')]);
    helper.getNode('enc').receive(msg);
    return both;
  }

  it('gives each receiver its own message and audio object around the same payload Buffer (no deep clone)', async () => {
    const [a, b] = await twoReceivers(pcmMsg());
    assert.notEqual(a, b);
    assert.notEqual(a.audio, b.audio);
    assert.deepEqual(a.audio, b.audio);
    assert.equal(a.payload, b.payload, 'the Opus packet Buffer is shared, not copied');
    assert.equal(a._msgid, b._msgid);
    // A receiver that changes its message's fields does not change the other's.
    a.audio.seq = 99;
    assert.equal(b.audio.seq, 0);
  });

  it('still deep-clones a message that carries other nested objects (added by a user node upstream)', async () => {
    const [a, b] = await twoReceivers(pcmMsg({ n: 1 }));
    assert.notEqual(a.extra, b.extra);
    assert.deepEqual(a.extra, b.extra);
    assert.notEqual(a.payload, b.payload, 'Node-RED cloned this one, Buffer included');
    assert.ok(a.payload.equals(b.payload));
  });
  it('shares the mixer\'s mix parameters among the wires of its output 2 (fresh per send, only read): no deep clone', async () => {
    const flow = [
      { id: 't1', type: 'tab', label: 't' },
      { id: 'm1', z: 't1', type: 'xcast-mixer', channels: '1', frameMs: '10', settingsStore: 'none', wires: [[], ['h1', 'h2']] },
      { id: 'h1', z: 't1', type: 'helper' },
      { id: 'h2', z: 't1', type: 'helper' },
    ];
    await helper.load(mixerNode, flow);
    const params = (id: string) => new Promise<{ payload: { tracks: Array<{ userId: string }> } }>((resolve) => {
      const h = helper.getNode(id);
      const on = (m: { topic?: string; payload: { tracks: Array<{ userId: string }> } }) => {
        if (m.topic === 'mixParameters' && m.payload.tracks.length > 0) { h.removeListener('input', on); resolve(m); }
      };
      h.on('input', on);
    });
    const both = Promise.all([params('h1'), params('h2')]);
    const pcm = Buffer.alloc(480 * 4);
    helper.getNode('m1').receive({ topic: 'audio', userId: 'alice', payload: pcm, audio: { codec: 'pcm_f32le', sampleRate: 48000, channels: 1, frameSamples: 480, seq: 0, captureTime: 1, trackId: 1 } });
    const [a, b] = await both;
    assert.notEqual(a, b, 'each wire its own message');
    assert.equal(a.payload, b.payload, 'one payload, not a clone per wire');
    assert.deepEqual(a.payload.tracks.map((t) => t.userId), ['alice']);
  });
});

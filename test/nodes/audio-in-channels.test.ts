// The audio input node's file source converts a WAV file's channels by the engine's one channel map (as the playout buffer does).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WavWriter } from '../../runtime/audio/wav';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));
const audioInNode = require('../../nodes/audio-in/audio-in');

const L = 0.5, R = -0.25;

/** The first frame the node sends for a stereo file (L, R constant) played at `channels`. */
async function firstFrame(file: string, channels: number): Promise<Float32Array> {
  const flow = [
    { id: 'in', type: 'xcast-audio-in', z: 't', source: 'file', file, loop: false, channels: String(channels), sampleRate: '48000', frameMs: '10', autoStart: true, wires: [['out']] },
    { id: 'out', type: 'helper', z: 't' },
    { id: 't', type: 'tab', label: 't' },
  ];
  await helper.load(audioInNode, flow);
  const out = helper.getNode('out');
  const msg: { payload: Buffer } = await new Promise((resolve) => out.once('input', resolve));
  const b = Buffer.from(msg.payload);
  return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
}

describe('audio input: a file\'s channels', function () {
  let dir = '';
  let file = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-audio-in-'));
    file = path.join(dir, 'lr.wav');
    const w = new WavWriter(file, { sampleRate: 48000, channels: 2, format: 'f32' });
    const frame = new Float32Array(480 * 2);
    for (let i = 0; i < 480; i++) { frame[2 * i] = L; frame[2 * i + 1] = R; }
    for (let k = 0; k < 5; k++) w.write(frame);
    w.close();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  beforeEach((done) => { helper.startServer(done); });
  afterEach((done) => { helper.unload().then(() => helper.stopServer(done)); });

  it('stereo on 4 channels: channels 0 and 1 from the file, silence on 2 and 3 (not the last channel repeated)', async () => {
    const f = await firstFrame(file, 4);
    assert.deepEqual(Array.from(f.subarray(0, 8)), [L, R, 0, 0, L, R, 0, 0]);
  });

  it('stereo on mono: the average', async () => {
    const f = await firstFrame(file, 1);
    assert.deepEqual(Array.from(f.subarray(0, 2)), [(L + R) / 2, (L + R) / 2]);
  });
});

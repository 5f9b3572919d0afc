// Node tests: the mixer (and the audio-out and event-stream nodes) key streams by connection as well as user and track. A second connection claiming a healthy
// peer's userId and trackId (as an outside probe sent 1 s of 1 kHz where no token is asked) gets a track of its own:
// the peer's tone keeps its level in the mix, its playout buffer conceals nothing, and the track state shows two
// tracks told apart by connectionId. And a stream at a rate the mixer cannot play is said once and counted, not
// logged per frame.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { helper, loggedErrors, streamWhile } from '../support/node-red';
import { sleep } from '../support/xcast-process';
import { estimateFrequency } from '../../runtime/audio/analysis';
import { toneFrame } from '../engine/util';
import { readWav } from '../../runtime/audio/wav';
const mixerNode = require('../../nodes/mixer/mixer');
const audioOutNode = require('../../nodes/audio-out/audio-out');
const eventStreamNode = require('../../nodes/event-stream/event-stream');

const RATE = 48000;
const N = 480;

/**
 * Amplitude of the `freq` component of a mono block, frame by frame (a one-bin DFT over a whole number of periods is
 * exact: 400 Hz and 1 kHz are 4 and 10 periods of a 480-sample frame), so a frame the playout buffer trimmed — a
 * jump in phase between frames — does not lower it. The mean over the block's frames.
 */
function toneLevel(x: Float32Array, freq: number): number {
  let sum = 0;
  for (let f = 0; f < x.length / N; f++) sum += frameLevel(x.subarray(f * N, (f + 1) * N), freq);
  return sum / (x.length / N);
}

function frameLevel(x: Float32Array, freq: number): number {
  let re = 0, im = 0;
  for (let i = 0; i < x.length; i++) {
    const ph = (2 * Math.PI * freq * i) / RATE;
    re += x[i] * Math.cos(ph);
    im += x[i] * Math.sin(ph);
  }
  return (2 * Math.hypot(re, im)) / x.length;
}

/** The strongest of these frequencies in a block. */
function dominant(x: Float32Array, freqs: number[]): number {
  return freqs.reduce((best, f) => (toneLevel(x, f) > toneLevel(x, best) ? f : best), freqs[0]);
}

interface Track { userId: string; trackId: number; connectionId: string; concealedSamples: number; lost: number; received: number; refused: number; refusedReason: string | null; sampleRate: number }

function packet(userId: string, connectionId: string, seq: number, freq: number, amp: number, trackId = 1): Record<string, unknown> {
  return {
    topic: 'audio', userId, connectionId, payload: toneFrame(N, 1, seq * N, freq, amp),
    audio: { codec: 'pcm_f32le', sampleRate: RATE, channels: 1, frameSamples: N, seq, captureTime: 0, trackId },
  };
}

async function loadMixer(): Promise<{ mixer: ReturnType<typeof helper.getNode>; tracks: () => Track[]; stateWhere: (ok: (t: Track[]) => boolean) => Promise<Track[]> }> {
  await helper.load([mixerNode], [
    { id: 't1', type: 'tab', label: 't' },
    { id: 'm1', z: 't1', x: 300, y: 100, type: 'xcast-mixer', channels: '1', frameMs: '10', jitterFrames: '10', jitterMaxFrames: '50', jitterAdaptive: false, stateIntervalMs: '10', wires: [['mixOut'], ['state'], []] },
    { id: 'mixOut', z: 't1', x: 500, y: 100, type: 'helper' },
    { id: 'state', z: 't1', x: 500, y: 200, type: 'helper' },
    { id: 'catch', z: 't1', type: 'catch', scope: null, uncaught: false, x: 100, y: 20, wires: [['caught']] },
    { id: 'caught', z: 't1', type: 'helper', x: 400, y: 20, wires: [] },
  ]);
  let last: Track[] = [];
  const state = helper.getNode('state');
  state.on('input', (msg: { topic: string; payload: Track[] }) => { if (msg.topic === 'tracks') last = msg.payload; });
  /** The first track state (the last one, or one still to come) that `ok` accepts. */
  const stateWhere = (ok: (t: Track[]) => boolean) => new Promise<Track[]>((resolve) => {
    if (ok(last)) { resolve(last); return; }
    const on = (msg: { topic: string; payload: Track[] }) => {
      if (msg.topic !== 'tracks' || !ok(msg.payload)) return;
      state.off('input', on);
      resolve(msg.payload);
    };
    state.on('input', on);
  });
  return { mixer: helper.getNode('m1'), tracks: () => last, stateWhere };
}

describe('mixer: two connections under one userId', function () {
  this.timeout(30000);
  beforeEach((done) => { helper.startServer(done); });
  afterEach((done) => { helper.unload().then(() => helper.stopServer(done)); });

  it('a second connection sending 1 kHz under the peer\'s userId and trackId leaves the peer\'s 400 Hz level and concealment untouched', async () => {
    const { mixer, tracks, stateWhere } = await loadMixer();
    const PEER_AMP = 0.25;
    const ALONE = 150, TOGETHER = 150;
    let frames = 0;
    let peerSeq = 100;
    let intruderSeq = 0;
    const mix: Float32Array[] = [];
    let peerBefore: Track | undefined;
    // Paced by the mixer's own output: one packet per stream per mixed frame, whatever this machine's timing.
    await new Promise<void>((resolve) => {
      helper.getNode('mixOut').on('input', (msg: { payload: Buffer }) => {
        frames++;
        mix.push(new Float32Array(Uint8Array.from(msg.payload).buffer));
        if (frames === ALONE) peerBefore = tracks().find((t) => t.connectionId === 'c-peer');
        if (frames >= ALONE + TOGETHER) { resolve(); return; }
        mixer.receive(packet('alice', 'c-peer', peerSeq++, 400, PEER_AMP));
        if (frames >= ALONE) mixer.receive(packet('alice', 'c-intruder', intruderSeq++, 1000, 0.5));
      });
      // A deep buffer (10 frames) that a late event loop on a busy machine does not run dry.
      for (let i = 0; i < 10; i++) mixer.receive(packet('alice', 'c-peer', peerSeq++, 400, PEER_AMP));
    });
    // Steady blocks of 10 frames (100 ms, a whole number of periods of both tones): before, and once the intruder's
    // track plays (its prebuffering over).
    const block = (from: number) => {
      const b = new Float32Array(10 * N);
      for (let k = 0; k < 10; k++) b.set(mix[from + k], k * N);
      return b;
    };
    const before = block(ALONE - 20);
    const after = block(ALONE + TOGETHER - 20);
    const l0 = toneLevel(before, 400);
    const l1 = toneLevel(after, 400);
    assert.ok(Math.abs(l0 - PEER_AMP) < 0.005, `the peer alone: 400 Hz at ${l0.toFixed(4)}`);
    // Unfixed, the peer's level fell to 0.34× and 1 kHz took over: here it is the same to a fraction of a percent.
    assert.ok(Math.abs(l1 / l0 - 1) < 0.01, `the peer's 400 Hz level went from ${l0.toFixed(4)} to ${l1.toFixed(4)}`);
    assert.equal(dominant(before, [400, 1000]), 400);
    // The intruder is a track of its own, mixed beside the peer, not into its buffer.
    assert.ok(Math.abs(toneLevel(after, 1000) - 0.5) < 0.01, `1 kHz at ${toneLevel(after, 1000).toFixed(4)}`);
    // Both tracks in the state, one per connection; the peer's concealment did not move.
    const states = await stateWhere((t) => t.length === 2);
    assert.deepEqual(states.map((t) => [t.userId, t.trackId, t.connectionId]).sort(), [['alice', 1, 'c-intruder'], ['alice', 1, 'c-peer']]);
    const peer = states.find((t) => t.connectionId === 'c-peer') as Track;
    assert.ok(peerBefore, 'a track state before the intruder');
    assert.equal(peer.concealedSamples, peerBefore!.concealedSamples, 'the peer concealed nothing more');
    assert.equal(peer.lost, 0);
    assert.ok(peer.received >= ALONE + TOGETHER - 5, `the peer's track got its own ${peer.received} packets only`);
  });

  it('a gain for the userId applies to every track of that user, whichever connection it came on', async () => {
    const { mixer } = await loadMixer();
    let frames = 0;
    let seq = 0;
    const mix: Float32Array[] = [];
    await new Promise<void>((resolve) => {
      helper.getNode('mixOut').on('input', (msg: { payload: Buffer }) => {
        frames++;
        mix.push(new Float32Array(Uint8Array.from(msg.payload).buffer));
        if (frames === 40) mixer.receive({ topic: 'gain', userId: 'alice', payload: 0.5 });
        if (frames >= 100) { resolve(); return; }
        mixer.receive(packet('alice', 'c1', seq, 400, 0.2));
        mixer.receive(packet('alice', 'c2', seq, 1000, 0.2));
        seq++;
      });
      for (let i = 0; i < 10; i++) {
        mixer.receive(packet('alice', 'c1', seq, 400, 0.2));
        mixer.receive(packet('alice', 'c2', seq, 1000, 0.2));
        seq++;
      }
    });
    const b = new Float32Array(10 * N);
    for (let k = 0; k < 10; k++) b.set(mix[85 + k], k * N);
    assert.ok(Math.abs(toneLevel(b, 400) - 0.1) < 0.003, `400 Hz at ${toneLevel(b, 400)}`);
    assert.ok(Math.abs(toneLevel(b, 1000) - 0.1) < 0.003, `1 kHz at ${toneLevel(b, 1000)}`);
  });

  it('200 frames at 44.1 kHz into a 48 kHz mixer: one error, naming the stream, and the track counts 200 refused', async () => {
    const { mixer, stateWhere } = await loadMixer();
    const errorsBefore = loggedErrors().length;
    const caught: string[] = [];
    helper.getNode('caught').on('input', (m: { error: { message: string } }) => caught.push(m.error.message));
    for (let seq = 0; seq < 200; seq++) {
      mixer.receive({
        topic: 'audio', userId: 'bob\n[error] forged', connectionId: 'c-9', payload: Buffer.alloc(441 * 4),
        audio: { codec: 'pcm_f32le', sampleRate: 44100, channels: 1, frameSamples: 441, seq, captureTime: 0, trackId: 1 },
      });
    }
    // The refusals reach the mix thread through the ring; its track state comes with the next states.
    const [t] = await stateWhere((ts) => ts.some((x) => x.refused === 200));
    // Said as an error a Catch node sees (so not logged again), once; nothing else logged.
    assert.deepEqual(loggedErrors().slice(errorsBefore), []);
    const errors = caught;
    assert.equal(errors.length, 1, `errors: ${JSON.stringify(errors)}`);
    assert.match(errors[0], /"bob\\n\[error\] forged"\/1 on "c-9"/);
    assert.match(errors[0], /44100 Hz/);
    assert.ok(!errors[0].includes('\n'), 'one line');
    assert.deepEqual([t.userId, t.connectionId, t.sampleRate, t.refused, t.received], ['bob\n[error] forged', 'c-9', 44100, 200, 0]);
    assert.match(String(t.refusedReason), /44100 Hz/);
  });
});

describe('event stream node: a packet the event format cannot carry', function () {
  this.timeout(30000);
  beforeEach((done) => { helper.startServer(done); });
  afterEach((done) => { helper.unload().then(() => helper.stopServer(done)); });

  it('200 of them are one error a Catch node sees, naming the stream, not 200', async () => {
    await helper.load([eventStreamNode], [
      { id: 't1', type: 'tab', label: 't' },
      // With a file: the events are encoded (with no client and no file there is nothing to encode for).
      { id: 'e1', z: 't1', x: 300, y: 100, type: 'xcast-event-stream', port: '0', file: path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-ev-')), 's.xcev'), wires: [] },
      { id: 'catch', z: 't1', type: 'catch', scope: null, uncaught: false, x: 100, y: 20, wires: [['caught']] },
      { id: 'caught', z: 't1', type: 'helper', x: 400, y: 20, wires: [] },
    ]);
    const caught: string[] = [];
    helper.getNode('caught').on('input', (m: { error: { message: string } }) => caught.push(m.error.message));
    const e = helper.getNode('e1');
    const errorsBefore = loggedErrors().length;
    for (let seq = 0; seq < 200; seq++) {
      e.receive({ topic: 'audio', userId: 'carol', connectionId: 'c-3', payload: Buffer.alloc(16),
        audio: { codec: 'pcm_s24le', sampleRate: 48000, channels: 1, frameSamples: 480, seq, captureTime: 0, trackId: 1 } });
    }
    // Node-RED delivers each message from a setImmediate: the 200th is in once one more message after it is.
    await new Promise<void>((resolve) => {
      e.on('input', (m: { topic?: string }) => { if (m.topic === 'end') setImmediate(resolve); });
      e.receive({ topic: 'end' });
    });
    assert.equal(caught.length, 1, `caught: ${JSON.stringify(caught)}`);
    assert.match(caught[0], /"carol"\/1 on "c-3"/);
    assert.deepEqual(loggedErrors().slice(errorsBefore), []);
  });
});

describe('audio out: a new connection after the stream played stops', function () {
  this.timeout(30000);
  beforeEach((done) => { helper.startServer(done); });
  afterEach((done) => { helper.unload().then(() => helper.stopServer(done)); });

  it('takes over with a playout buffer of its own (a reconnect is a new connection); one arriving while the first plays is ignored', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-ao-')), 'rec.wav');
    await helper.load([audioOutNode], [
      { id: 't1', type: 'tab', label: 't' },
      { id: 'ao', z: 't1', x: 300, y: 100, type: 'xcast-audio-out', output: 'file', path: file, channels: '1', idleMs: '5000', wires: [[]] },
    ]);
    const ao = helper.getNode('ao');
    const warnings: string[] = [];
    const warn = ao.warn.bind(ao);
    ao.warn = (m: string) => { warnings.push(m); warn(m); };
    const msg = (connectionId: string, freq: number) => (seq: number) => ({ topic: 'audio', userId: 'xcast', connectionId, payload: toneFrame(N, 1, seq * N, freq, 0.3),
      audio: { codec: 'pcm_f32le', sampleRate: RATE, channels: 1, frameSamples: N, seq, captureTime: 0, trackId: 1 } });
    // The first connection plays; another, meanwhile, is ignored (said once).
    await streamWhile(ao, msg('c1', 400), sleep(300));
    ao.receive(msg('c9', 2000)(0));
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    // The first stops; past 500 ms without it, a new connection (its seq count from 0 again) takes over.
    await sleep(700);
    await streamWhile(ao, msg('c2', 1000), sleep(600));
    await helper.unload();
    const wav = readWav(file);
    const tail = wav.samples.subarray(wav.samples.length - 0.3 * RATE);
    const f = estimateFrequency(tail, RATE);
    assert.ok(Math.abs(f - 1000) < 5, `the recording ends at ${f.toFixed(1)} Hz: the new connection's 1 kHz`);
  });
});

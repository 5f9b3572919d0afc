// A sender's connection ends (its close event reaches the mixer): its tracks leave the mix at once, not after
// trackTimeoutMs of concealment, and packets of it still on the way make no track again.
import assert from 'node:assert/strict';
import { Mixer } from '../../runtime/audio/mixer';
import { createMixEngine } from '../../runtime/audio/mix-engine';
import { nowMicros } from '../../runtime/clock';

const N = 480;
const pcm = (v: number): Buffer => Buffer.from(new Float32Array(N).fill(v).buffer);
const header = (seq: number) => ({ codec: 'pcm_f32le' as const, sampleRate: 48000, channels: 1, frameSamples: N, seq, captureTime: 0, trackId: 1 });
const first = (b: Buffer): number => new Float32Array(b.buffer, b.byteOffset, 1)[0];

describe('mixer: a connection that ends leaves the mix at once', () => {
  it('removes the connection\'s tracks (track-removed), refuses its stragglers as late, and a new connection of the user mixes', () => {
    const m = new Mixer({ sampleRate: 48000, channels: 1, frameSamples: N, trackTimeoutMs: 2000, playout: { targetDepthFrames: 1, adaptive: false } });
    const removed: string[] = [];
    m.on('track-removed', (s: { connectionId: string }) => removed.push(s.connectionId));
    let now = nowMicros();
    for (let i = 0; i < 5; i++) {
      m.push('alice', header(i), pcm(0.25), now, 'conn-a');
      m.push('bob', header(i), pcm(0.5), now, 'conn-b');
      m.tick(now);
      now += 10_000;
    }
    m.removeConnection('conn-a');
    assert.deepEqual(removed, ['conn-a']);
    assert.deepEqual(m.tracks(now).map((t) => t.connectionId), ['conn-b']);
    // A packet of the ended connection still on its way: late, and no track.
    assert.equal(m.push('alice', header(5), pcm(0.25), now, 'conn-a'), 'late');
    m.push('bob', header(5), pcm(0.5), now, 'conn-b');
    const r = m.tick(now);
    assert.deepEqual(r.used.entries().map((u) => u.connectionId), ['conn-b']);
    assert.equal(first(r.mix), 0.5, 'the next frame is bob alone');
    // The same user on a new connection is a new track.
    now += 10_000;
    m.push('alice', header(0), pcm(0.25), now, 'conn-a2');
    m.push('bob', header(6), pcm(0.5), now, 'conn-b');
    assert.deepEqual(m.tick(now).used.entries().map((u) => u.connectionId).sort(), ['conn-a2', 'conn-b']);
    // '' (a stream made in the flow) is never a connection that ends.
    m.removeConnection('');
    assert.equal(m.tracks(now).length, 2);
  });

  it('through the mix thread: the track is gone from the next state after removeConnection', async function () {
    this.timeout(10_000);
    const engine = createMixEngine({ sampleRate: 48000, channels: 1, frameSamples: N, trackTimeoutMs: 60_000, statsEveryTicks: 1, playout: { targetDepthFrames: 1 } });
    try {
      const removed = new Promise<string>((resolve) => engine.on('track-removed', (s: { connectionId: string }) => resolve(s.connectionId)));
      const seen = new Promise<void>((resolve) => engine.on('track-added', () => resolve()));
      engine.start();
      let seq = 0;
      const feed = setInterval(() => engine.push('alice', header(seq++), pcm(0.25), nowMicros(), 'conn-a'), 10);
      try {
        await seen;
        engine.removeConnection('conn-a');
        assert.equal(await removed, 'conn-a');
        // Its packets go on arriving (the interval still feeds them): they make no track again.
        const states: string[][] = [];
        await new Promise<void>((resolve) => engine.on('tracks', (t) => { if (states.push(t.map((s) => s.connectionId)) === 5) resolve(); }));
        assert.deepEqual(states, [[], [], [], [], []], 'no track of the ended connection');
      } finally {
        clearInterval(feed);
      }
    } finally {
      engine.close();
    }
  });
});

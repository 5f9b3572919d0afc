// Clock drift (issue 13: PTP is out of scope, senders are free-running, the playout buffer absorbs drift): a sender
// ±500 ppm off sends a 440 Hz tone into the project's Mixer for two simulated minutes (test/support/drift.ts). A fast
// sender's excess goes in whole, cross-faded 10 ms frames (trims) that leave the tone unbroken, and nothing is
// concealed; a slow sender's deficit is made up in whole concealed frames, each counted as a miss; the depth stays
// within the target's bounds either way; nothing is counted lost or late. The per-minute figures are the bench's
// (bench/drift.ts, docs/performance.md "Clock drift").
import assert from 'node:assert/strict';
import { runDrift } from '../support/drift';

const FRAME = 480;

describe('clock drift: the playout buffer absorbs a free-running sender', function () {
  this.timeout(20000);
  for (const adaptive of [true, false]) {
    const kind = adaptive ? 'adaptive (the preset\'s)' : 'fixed';
    it(`+500 ppm, ${kind} jitter buffer: whole-frame trims make up the excess, no concealment, no audible break, depth bounded`, () => {
      const r = runDrift({ ppm: 500, seconds: 120, adaptive });
      assert.equal(r.trimmedSamples % FRAME, 0, `trims are whole frames: ${r.trimmedSamples}`);
      // One frame a trim, or two where the adaptive target comes down in the same window.
      assert.ok(r.trims >= 1 && r.trims * FRAME <= r.trimmedSamples && r.trimmedSamples <= 2 * r.trims * FRAME, JSON.stringify(r));
      // The excess (2880 samples = 6 frames in two minutes) goes; an adaptive buffer also trims its target down.
      const extra = adaptive ? (3 - r.finalTargetFrames) * FRAME : 0;
      assert.ok(Math.abs(r.trimmedSamples - r.driftSamples - extra) <= FRAME, JSON.stringify(r));
      assert.deepEqual({ concealed: r.concealedSamples, misses: r.misses, lost: r.lost, late: r.late, artefacts: r.artefacts }, { concealed: 0, misses: 0, lost: 0, late: 0, artefacts: 0 });
      assert.ok(r.depth.max <= r.targetDepthFrames, `depth ${JSON.stringify(r.depth)}`);
    });
    it(`−500 ppm, ${kind} jitter buffer: the deficit is concealed in whole frames, each a counted miss; nothing trimmed beyond the target, depth bounded`, () => {
      const r = runDrift({ ppm: -500, seconds: 120, adaptive });
      assert.equal(r.concealedSamples % FRAME, 0, `concealment is whole frames: ${r.concealedSamples}`);
      assert.equal(r.concealedSamples, r.misses * FRAME, 'each concealed frame is one miss');
      // What is owed (2880 samples) is concealed, less what the buffer's depth gave up before it ran dry.
      assert.ok(r.concealedSamples <= -r.driftSamples + FRAME && r.concealedSamples >= -r.driftSamples - r.targetDepthFrames * FRAME, JSON.stringify(r));
      assert.ok(r.misses >= 1);
      assert.equal(r.trimmedSamples % FRAME, 0);
      assert.ok(r.trimmedSamples <= (r.targetDepthFrames - 1) * FRAME, `trims of a slow sender only lower the target: ${r.trimmedSamples}`);
      assert.deepEqual({ lost: r.lost, late: r.late }, { lost: 0, late: 0 });
      // Every concealed frame is heard as at most a break in and a break out.
      assert.ok(r.artefacts <= 2 * r.misses, JSON.stringify(r));
      assert.ok(r.depth.max <= r.targetDepthFrames, `depth ${JSON.stringify(r.depth)}`);
    });
  }
  // The seed's streamer sends whatever chunk it is told (--chunk-size-ms): the playout buffer takes packets of any length,
  // not only whole mixer frames, and plays them seamlessly.
  for (const packetSamples of [100, 240, 441, 1200]) {
    it(`packets of ${packetSamples} samples into 480-sample mixer frames: played without a break, nothing concealed`, () => {
      const r = runDrift({ ppm: 0, seconds: 20, adaptive: false, packetSamples, jitterMs: 1 });
      assert.deepEqual({ concealed: r.concealedSamples, misses: r.misses, lost: r.lost, artefacts: r.artefacts }, { concealed: 0, misses: 0, lost: 0, artefacts: 0 }, JSON.stringify(r));
    });
  }
  it('no drift, fixed buffer: nothing trimmed, nothing concealed, no break (the simulation itself is clean)', () => {
    const r = runDrift({ ppm: 0, seconds: 60, adaptive: false });
    assert.deepEqual({ trimmed: r.trimmedSamples, concealed: r.concealedSamples, artefacts: r.artefacts, lost: r.lost }, { trimmed: 0, concealed: 0, artefacts: 0, lost: 0 });
  });
});

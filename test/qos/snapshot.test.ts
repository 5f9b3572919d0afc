// Tests of the monitor side: speaker misses / silence rules, the getMetrics answer and its JSON Schema.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { AdminAggregator } from '../../runtime/qos/aggregator';
import { validateGetMetrics } from '../../runtime/qos/schema';
import { SpeakerConfigError, SpeakerState, buildAggregatedStatesSnapshot } from '../../runtime/qos/snapshot';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const T0_US = 1_763_740_000_000_000;

/** The first ```json block of docs/metrics.md, verbatim. */
function metricsExample(): any {
  const md = fs.readFileSync(path.join(ROOT, 'docs', 'metrics.md'), 'utf8');
  const m = /```json\n([\s\S]*?)\n```/.exec(md);
  assert.ok(m, 'docs/metrics.md has a json example');
  return JSON.parse(m[1]);
}

function clock(start = 1_763_740_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

const FRAME = 960; // 10 ms stereo at 48 kHz
function tone(amplitude: number): Float32Array {
  const a = new Float32Array(FRAME);
  for (let i = 0; i < FRAME; i++) a[i] = amplitude * Math.sin((2 * Math.PI * 440 * (i >> 1)) / 48000);
  return a;
}

describe('SpeakerState', () => {
  const loud = tone(0.5);
  const quiet = new Float32Array(FRAME); // digital silence

  function speaker(clk: { now: () => number }) {
    // a 100 ms window = 10 frames of 10 ms stereo
    return new SpeakerState({ sampleRate: 48000, channels: 2, silenceWindowMs: 100, inputTimeoutMs: 1000, now: clk.now });
  }

  it('counts missed pulls while the input flows with sound', () => {
    const clk = clock();
    const s = speaker(clk);
    s.onAggregatorInput();
    for (let i = 0; i < 25; i++) s.onFrame(loud, i % 5 === 0);
    const f = s.figures();
    assert.equal(f.misses, 5);
    assert.equal(f.silenceDetected, false);
  });

  it('resets misses to 0 when a window of input is silent', () => {
    const clk = clock();
    const s = speaker(clk);
    s.onAggregatorInput();
    for (let i = 0; i < 3; i++) s.onFrame(loud, true);
    for (let i = 0; i < 9; i++) s.onFrame(quiet, false);
    assert.equal(s.figures().misses, 3, 'the silent window is not complete yet');
    s.onFrame(quiet, false);
    const f = s.figures();
    assert.equal(f.misses, 0);
    assert.equal(f.silenceDetected, true);
    s.onFrame(loud, true);
    assert.equal(s.figures().misses, 1, 'counting starts again');
  });

  it('does not count concealment frames of a miss as input when judging silence', () => {
    const clk = clock();
    const s = speaker(clk);
    s.onAggregatorInput();
    // 20 misses whose concealment is silent, between loud frames: the window holds only loud input
    for (let i = 0; i < 20; i++) { s.onFrame(quiet, true); s.onFrame(loud, false); }
    assert.equal(s.figures().misses, 20);
    assert.equal(s.figures().silenceDetected, false);
  });

  it('resets misses to 0 and reports silence when the aggregator input stops', () => {
    const clk = clock();
    const s = speaker(clk);
    s.onAggregatorInput();
    for (let i = 0; i < 4; i++) s.onFrame(loud, true);
    clk.t += 1000;
    assert.equal(s.figures().misses, 4, 'exactly the timeout is not stopped yet');
    clk.t += 1;
    s.onFrame(quiet, true);
    const f = s.figures();
    assert.equal(f.misses, 0, 'pulls without input are not counted');
    assert.equal(f.silenceDetected, true);
    s.onAggregatorInput();
    s.onFrame(loud, true);
    assert.equal(s.figures().misses, 1);
  });

  it('reads f32le Buffers the same as Float32Arrays', () => {
    const clk = clock();
    const a = speaker(clk), b = speaker(clk);
    a.onAggregatorInput(); b.onAggregatorInput();
    const buf = Buffer.from(quiet.buffer, quiet.byteOffset, quiet.byteLength);
    for (let i = 0; i < 10; i++) { a.onFrame(quiet, false); b.onFrame(buf, false); }
    assert.equal(a.figures().silenceDetected, true);
    assert.equal(b.figures().silenceDetected, true);
  });

  it('reports latency as buffer depth (all channels) plus device latency', () => {
    const s = new SpeakerState({ sampleRate: 48000, channels: 2, deviceLatencyMs: 22.5 });
    s.setBufferDepth(1920); // 960 frames = 20 ms
    const f = s.figures();
    assert.equal(f.bufferDepthSamples, 1920);
    assert.equal(f.sampleRate, 48000);
    assert.equal(f.latencyMs, 42.5);
  });

  it('refuses a sample rate out of range, naming the option', () => {
    assert.throws(() => new SpeakerState({ sampleRate: 1000 }), (e: unknown) => e instanceof SpeakerConfigError && e.field === 'sampleRate');
  });
});

describe('getMetrics answer and schema', () => {
  it('the schema accepts the docs/metrics.md example verbatim', () => {
    const r = validateGetMetrics(metricsExample());
    assert.equal(r.valid, true, JSON.stringify(r.errors));
  });

  const required = [
    'at', 'currentSpeakerBufferDepthInFloat32Samples', 'currentSpeakerSampleRate', 'speakerScriptProcessorLatencyMS',
    'speakerScriptProcessorIncomingBufferMisses', 'speakerSilenceDetected', 'incomingAudioTracks', 'outgoingAudioTracks', 'connections',
  ];
  for (const field of required) {
    it(`the schema rejects the example without aggregatedStatesSnapshot.${field}`, () => {
      const ex = metricsExample();
      delete ex.aggregatedStatesSnapshot[field];
      const r = validateGetMetrics(ex);
      assert.equal(r.valid, false);
      assert.ok(r.errors.some((e) => e.keyword === 'required' && (e.params as any).missingProperty === field), JSON.stringify(r.errors));
    });
  }

  const connFields = Object.keys(metricsExample().aggregatedStatesSnapshot.connections.alice);
  for (const field of connFields) {
    it(`the schema rejects a connection entry without ${field}`, () => {
      const ex = metricsExample();
      delete ex.aggregatedStatesSnapshot.connections.alice[field];
      const r = validateGetMetrics(ex);
      assert.equal(r.valid, false);
      assert.ok(r.errors.some((e) => (e.params as any).missingProperty === field), JSON.stringify(r.errors));
    });
  }

  it('the schema rejects wrong types and allows added fields', () => {
    const ex = metricsExample();
    ex.aggregatedStatesSnapshot.speakerSilenceDetected = 'no';
    assert.equal(validateGetMetrics(ex).valid, false);
    const ex2 = metricsExample();
    ex2.aggregatedStatesSnapshot.connections.alice.packetsLost = 1.5;
    assert.equal(validateGetMetrics(ex2).valid, false);
    const ex3 = metricsExample();
    ex3.aggregatedStatesSnapshot.somethingNew = { x: 1 };
    ex3.aggregatedStatesSnapshot.connections.alice.extra = 'fine';
    assert.equal(validateGetMetrics(ex3).valid, true);
  });

  it('buildAggregatedStatesSnapshot carries the speaker figures and the shared state under the metrics.md names', () => {
    const clk = clock();
    const agg = new AdminAggregator({ now: clk.now });
    agg.onConnection({ event: 'hello', connectionId: 'a', userId: 'alice', role: 'peer', remote: '127.0.0.1:51234', at: clk.t - 10_000, direction: 'incoming' });
    agg.onConnection({ event: 'hello', connectionId: 'm', userId: 'monitor-1', role: 'monitor', remote: '127.0.0.1:40000', at: clk.t - 9_000, direction: 'outgoing' });
    agg.onTrackState([{ userId: 'alice', trackId: 1, codec: 'opus', lastSeq: 5999, lastPacketAt: clk.t, received: 6000, lost: 3, late: 1, duplicate: 0, outOfOrder: 2, concealedSamples: 1440, depthSamples: 960, jitterMs: 0.8 }]);
    agg.onPong('monitor-1', { rttMs: 1.9, offsetMs: 0 });
    agg.onQos('monitor-1', { head: { trackId: 1, seq: 77, captureTime: T0_US }, qosTimestamp: T0_US + 12_400 }, T0_US + 13_000);
    // the shared state travels as a metadata packet: JSON in between
    const shared = JSON.parse(JSON.stringify(agg.snapshot()));
    const speaker = new SpeakerState({ sampleRate: 48000, channels: 2, deviceLatencyMs: 22.5, now: clk.now });
    speaker.setBufferDepth(1920);
    const answer = buildAggregatedStatesSnapshot({ speaker: speaker.figures(), sharedState: shared, now: clk.t });
    const s = answer.aggregatedStatesSnapshot;
    assert.equal(s.at, clk.t);
    assert.equal(s.currentSpeakerBufferDepthInFloat32Samples, 1920);
    assert.equal(s.currentSpeakerSampleRate, 48000);
    assert.equal(s.speakerScriptProcessorLatencyMS, 42.5);
    assert.equal(s.speakerScriptProcessorIncomingBufferMisses, 0);
    assert.equal(s.speakerSilenceDetected, true, 'no input yet');
    assert.deepEqual(s.incomingAudioTracks, [{ userId: 'alice', trackId: 1, connected: true }]);
    assert.deepEqual(s.outgoingAudioTracks, [{ userId: 'monitor-1', trackId: 1 }]);
    assert.equal(s.connections.alice.packetsReceived, 6000);
    assert.equal(s.connections.alice.connectedAt, clk.t - 10_000);
    assert.equal(s.connections['monitor-1'].latencyMs, 12.4);
    assert.equal(s.sharedStateAt, clk.t);
    const r = validateGetMetrics(JSON.parse(JSON.stringify(answer)));
    assert.equal(r.valid, true, JSON.stringify(r.errors));
  });

  it('answers with empty track lists and connections before any shared state, or when it is malformed', () => {
    const figures = { bufferDepthSamples: 0, sampleRate: 48000, latencyMs: 0, misses: 0, silenceDetected: true };
    for (const sharedState of [undefined, null, 'x', { incomingAudioTracks: 3, connections: [] }] as any[]) {
      const a = buildAggregatedStatesSnapshot({ speaker: figures, sharedState, now: 1 });
      assert.deepEqual(a.aggregatedStatesSnapshot.incomingAudioTracks, []);
      assert.deepEqual(a.aggregatedStatesSnapshot.outgoingAudioTracks, []);
      assert.deepEqual(a.aggregatedStatesSnapshot.connections, {});
      assert.equal(validateGetMetrics(a).valid, true);
    }
  });
});

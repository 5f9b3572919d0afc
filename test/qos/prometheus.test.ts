// Tests of the Prometheus export: the text parses under a strict exposition-format parser and its figures equal the snapshot's.

import assert from 'node:assert/strict';
import { AdminAggregator } from '../../runtime/qos/aggregator';
import { createMetricsRegistry } from '../../runtime/qos/prometheus';
import { SpeakerState, buildAggregatedStatesSnapshot } from '../../runtime/qos/snapshot';

interface Sample { name: string; labels: Record<string, string>; value: number }
interface Family { type: string; help: string }

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Strict parser of the Prometheus text format 0.0.4: every line is blank, `# HELP name text`, `# TYPE name type`
 * or `name{l="v",…} value`; a family's HELP and TYPE come once, before its samples; a sample belongs to a
 * declared family; no series appears twice. Throws on anything else, naming the line.
 */
function parseExposition(text: string): { families: Map<string, Family>; samples: Sample[] } {
  const families = new Map<string, Family>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  const lines = text.split('\n');
  assert.equal(lines[lines.length - 1], '', 'text ends with a newline');
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      assert.ok(m, `bad comment, ${where}`);
      const [, kind, name, rest] = m;
      assert.match(name, NAME, where);
      const f = families.get(name) ?? { type: '', help: '' };
      if (kind === 'HELP') {
        assert.equal(f.help, '', `second HELP, ${where}`);
        assert.ok(!/\\[^\\n]/.test(rest.replace(/\\\\/g, '')), `bad escape in HELP, ${where}`);
        f.help = rest;
      } else {
        assert.equal(f.type, '', `second TYPE, ${where}`);
        assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest), `bad type, ${where}`);
        assert.ok(!samples.some((s) => s.name === name), `TYPE after samples, ${where}`);
        f.type = rest;
      }
      families.set(name, f);
      return;
    }
    let p = 0;
    const nameM = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    assert.ok(nameM, `bad metric name, ${where}`);
    const name = nameM[0];
    p = name.length;
    const labels: Record<string, string> = {};
    if (line[p] === '{') {
      p++;
      while (line[p] !== '}') {
        const ln = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(p));
        assert.ok(ln && LABEL_NAME.test(ln[0]), `bad label name, ${where}`);
        p += ln[0].length;
        assert.equal(line.slice(p, p + 2), '="', `expected =", ${where}`);
        p += 2;
        let v = '';
        for (;;) {
          const c = line[p++];
          assert.ok(c !== undefined, `unterminated label value, ${where}`);
          if (c === '"') break;
          if (c === '\\') {
            const e = line[p++];
            assert.ok(e === '\\' || e === '"' || e === 'n', `bad escape \\${e}, ${where}`);
            v += e === 'n' ? '\n' : e;
          } else v += c;
        }
        assert.ok(!(ln[0] in labels), `duplicate label, ${where}`);
        labels[ln[0]] = v;
        if (line[p] === ',') p++;
        else assert.equal(line[p], '}', `expected , or }, ${where}`);
      }
      p++;
    }
    const rest = line.slice(p);
    const vm = /^ (\S+)( -?\d+)?$/.exec(rest);
    assert.ok(vm, `bad value part, ${where}`);
    const raw = vm[1];
    assert.ok(/^(NaN|[+-]Inf|[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)$/.test(raw), `bad value ${raw}, ${where}`);
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    const fam = families.get(name);
    assert.ok(fam && fam.type, `sample of an undeclared family, ${where}`);
    const key = name + JSON.stringify(Object.entries(labels).sort());
    assert.ok(!seen.has(key), `series twice, ${where}`);
    seen.add(key);
    samples.push({ name, labels, value });
  });
  return { families, samples };
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const s = samples.find((x) => x.name === name && JSON.stringify(Object.entries(x.labels).sort()) === JSON.stringify(Object.entries(labels).sort()));
  return s?.value;
}

const T0_US = 1_763_740_000_000_000;
const WEIRD = 'bo"b\\x\ny'; // a user id with every character the format must escape

function buildSnapshot() {
  const clk = { t: 1_763_740_000_000, now: () => clk.t };
  const agg = new AdminAggregator({ now: clk.now });
  agg.onConnection({ event: 'hello', connectionId: 1, userId: 'alice', role: 'peer', remote: '127.0.0.1:5', at: clk.t, direction: 'incoming' });
  agg.onConnection({ event: 'hello', connectionId: 2, userId: WEIRD, role: 'monitor', remote: '127.0.0.1:6', at: clk.t, direction: 'outgoing' });
  agg.onTrackState([{ userId: 'alice', trackId: 1, codec: 'pcm_s16le', sampleRate: 48000, channels: 1, lastSeq: 5999, lastPacketAt: clk.t, received: 6000, lost: 3, late: 1, duplicate: 2, outOfOrder: 4, concealedSamples: 1440, depthSamples: 960, jitterMs: 0.8 }]);
  agg.onPong('alice', { rttMs: 1.9, offsetMs: 0 });
  agg.onQos('alice', { head: { trackId: 1, seq: 1, captureTime: T0_US }, qosTimestamp: T0_US + 12_400, bufferDepthSamples: 480 }, T0_US + 13_000);
  agg.onQos(WEIRD, { head: { trackId: 1, seq: 1, captureTime: T0_US }, qosTimestamp: T0_US + 5_000 }, T0_US + 6_000);
  agg.onProtocolError(undefined, 'bad_magic');
  const speaker = new SpeakerState({ sampleRate: 48000, channels: 2, deviceLatencyMs: 22.5, now: clk.now });
  speaker.setBufferDepth(1920);
  return buildAggregatedStatesSnapshot({ speaker: speaker.figures(), sharedState: agg.snapshot(), now: clk.t });
}

describe('Prometheus export', () => {
  it('produces text a strict exposition parser accepts, counters named _total', async () => {
    const m = createMetricsRegistry();
    m.update(buildSnapshot());
    const { families, samples } = parseExposition(await m.metrics());
    assert.ok(samples.length > 20);
    for (const [name, f] of families) {
      assert.ok(f.help.length > 0, `${name} has help`);
      if (f.type === 'counter') assert.ok(name.endsWith('_total'), `counter ${name} ends in _total`);
      if (name.endsWith('_total')) assert.equal(f.type, 'counter', `${name} is a counter`);
      assert.ok(name.startsWith('xcast_'), name);
    }
    for (const s of samples) for (const l of Object.keys(s.labels)) assert.ok(l === 'user' || l === 'code', `low-cardinality label ${l}`);
    assert.match(m.contentType, /^text\/plain/);
  });

  it('exports the snapshot\'s figures in base units', async () => {
    const snap = buildSnapshot();
    const s = snap.aggregatedStatesSnapshot;
    const a = s.connections.alice;
    const m = createMetricsRegistry();
    m.update(snap);
    const { samples } = parseExposition(await m.metrics());
    const u = { user: 'alice' };
    assert.equal(value(samples, 'xcast_packets_received_total', u), a.packetsReceived);
    assert.equal(value(samples, 'xcast_packets_lost_total', u), a.packetsLost);
    assert.equal(value(samples, 'xcast_packets_late_total', u), a.packetsLate);
    assert.equal(value(samples, 'xcast_packets_duplicate_total', u), a.packetsDuplicate);
    assert.equal(value(samples, 'xcast_packets_out_of_order_total', u), a.packetsOutOfOrder);
    assert.equal(value(samples, 'xcast_concealed_samples_total', u), a.concealedSamples);
    assert.equal(value(samples, 'xcast_jitter_seconds', u), a.jitterMs / 1000);
    assert.equal(value(samples, 'xcast_latency_seconds', u), a.latencyMs! / 1000);
    assert.equal(value(samples, 'xcast_rtt_seconds', u), a.rttMs! / 1000);
    assert.equal(value(samples, 'xcast_buffer_depth_samples', u), a.bufferDepthSamples);
    assert.equal(value(samples, 'xcast_bitrate_bits_per_second', u), a.bitrateKbps * 1000);
    assert.equal(a.bitrateKbps, 768, 'PCM s16 mono 48 kHz nominal rate');
    assert.equal(value(samples, 'xcast_connected', u), 1);
    assert.equal(value(samples, 'xcast_incoming_track_connected', u), 1);
    assert.equal(value(samples, 'xcast_downstream_buffer_depth_samples', u), 480);
    assert.equal(value(samples, 'xcast_incoming_audio_tracks'), s.incomingAudioTracks.length);
    assert.equal(value(samples, 'xcast_outgoing_audio_tracks'), s.outgoingAudioTracks.length);
    assert.equal(value(samples, 'xcast_refused_frames_total', { code: 'bad_magic' }), 1);
    assert.equal(value(samples, 'xcast_snapshot_timestamp_seconds'), s.at / 1000);
    assert.equal(value(samples, 'xcast_speaker_buffer_depth_samples'), s.currentSpeakerBufferDepthInFloat32Samples);
    assert.equal(value(samples, 'xcast_speaker_sample_rate_hertz'), 48000);
    assert.equal(value(samples, 'xcast_speaker_latency_seconds'), s.speakerScriptProcessorLatencyMS / 1000);
    assert.equal(value(samples, 'xcast_speaker_misses'), s.speakerScriptProcessorIncomingBufferMisses);
    assert.equal(value(samples, 'xcast_speaker_silence_detected'), s.speakerSilenceDetected ? 1 : 0);
    // the escaped user id round-trips; an unmeasured RTT is no sample rather than 0
    const w = { user: WEIRD };
    assert.equal(value(samples, 'xcast_latency_seconds', w), s.connections[WEIRD].latencyMs! / 1000);
    assert.equal(value(samples, 'xcast_rtt_seconds', w), undefined);
    assert.equal(value(samples, 'xcast_connected', w), 1);
    assert.equal(value(samples, 'xcast_incoming_track_connected', w), 0);
  });

  it('drops the series of a user that left the snapshot, and the speaker series for a snapshot without a speaker', async () => {
    const m = createMetricsRegistry();
    const snap = buildSnapshot();
    m.update(snap);
    const inner = snap.aggregatedStatesSnapshot;
    const alice = inner.connections.alice;
    // an xcast exports its shared state: no speaker fields, one user fewer
    m.update({ at: inner.at, incomingAudioTracks: [], outgoingAudioTracks: [], connections: { alice }, refused: { frames: 0, byCode: {}, qos: 0 } });
    const { families, samples } = parseExposition(await m.metrics());
    assert.equal(value(samples, 'xcast_packets_received_total', { user: 'alice' }), alice.packetsReceived);
    assert.ok(!samples.some((s) => s.labels.user === WEIRD));
    assert.ok(![...families.keys()].some((n) => n.startsWith('xcast_speaker_')));
    assert.equal(value(samples, 'xcast_refused_frames_total', { code: 'bad_magic' }), undefined);
  });

  it('keeps each registry private: the global prom-client registry stays empty', async () => {
    const { register } = await import('prom-client');
    createMetricsRegistry().update(buildSnapshot());
    assert.ok(!(await register.metrics()).includes('xcast_'));
  });
});

// /metrics' transport series (runtime/qos/prometheus.ts createTransportMetrics): the transport's counters as
// xcast_transport_limit_hits_total{limit="…"}, every known limit shown, in one exposition with the QoS series.
import assert from 'node:assert/strict';
import { createMetricsRegistry, createTransportMetrics, exposition } from '../../runtime/qos/prometheus';
import { TRANSPORT_STAT_NAMES, createTransportStats } from '../../runtime/protocol/limits';

function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(new RegExp(`^${name}\\{limit="([a-z_]+)"\\} (\\S+)$`, 'gm'))) out.set(m[1], Number(m[2]));
  return out;
}

describe('/metrics: the transport counters', () => {
  it('shows every limit the transport counts, 0 until hit, and the totals of a snapshot', async () => {
    const t = createTransportMetrics();
    const stats = createTransportStats();
    t.update(stats.snapshot());
    let text = (await exposition([t.registry])).text;
    assert.deepEqual([...samples(text, 'xcast_transport_limit_hits_total').keys()].sort(), [...TRANSPORT_STAT_NAMES].sort());
    assert.ok([...samples(text, 'xcast_transport_limit_hits_total').values()].every((v) => v === 0));
    stats.count('unauthorized', 3);
    stats.count('tls_handshake');
    t.update(stats.snapshot());
    text = (await exposition([t.registry])).text;
    const s = samples(text, 'xcast_transport_limit_hits_total');
    assert.equal(s.get('unauthorized'), 3);
    assert.equal(s.get('tls_handshake'), 1);
    assert.equal(s.get('connections'), 0);
    assert.equal(text.match(/^# TYPE xcast_transport_limit_hits_total counter$/gm)?.length, 1);
  });

  it('is one exposition with the QoS series: each family once, the text format content type', async () => {
    const q = createMetricsRegistry();
    q.update({ connections: { alice: { isIncomingAudioTrackConnected: true, packetsReceived: 5 } } } as never);
    const t = createTransportMetrics();
    t.update({ bad_hello: 2 });
    const { contentType, text } = await exposition([q.registry, t.registry]);
    assert.match(contentType, /^text\/plain; version=0\.0\.4/);
    assert.match(text, /^xcast_packets_received_total\{user="alice"\} 5$/m);
    assert.equal(samples(text, 'xcast_transport_limit_hits_total').get('bad_hello'), 2);
    const types = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
    assert.equal(new Set(types).size, types.length, 'no family twice');
  });
});

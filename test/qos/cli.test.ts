// Tests of `xcast metrics` against a real HTTP server standing in for a monitor's Node-RED.

import assert from 'node:assert/strict';
import http from 'node:http';
import { UsageError } from '../../runtime/cli';
import { metricsCommand, metricsUrl } from '../../runtime/qos/cli';
import { SpeakerState, buildAggregatedStatesSnapshot } from '../../runtime/qos/snapshot';
import { AdminAggregator } from '../../runtime/qos/aggregator';

function goodAnswer() {
  const agg = new AdminAggregator({ now: () => 1_763_740_000_000 });
  agg.onConnection({ event: 'hello', connectionId: 1, userId: 'alice', role: 'peer', remote: '127.0.0.1:5', at: 1_763_739_990_000, direction: 'incoming' });
  agg.onPong('alice', { rttMs: 1.9, offsetMs: 0 });
  agg.onQos('alice', { head: { trackId: 1, seq: 1, captureTime: 1_763_740_000_000_000 }, qosTimestamp: 1_763_740_000_012_400 }, 1_763_740_000_013_000);
  const speaker = new SpeakerState({ sampleRate: 48000, channels: 2, now: () => 1_763_740_000_000 }).figures();
  return buildAggregatedStatesSnapshot({ speaker, sharedState: agg.snapshot(), now: 1_763_740_000_000 });
}

describe('xcast metrics', () => {
  let server: http.Server;
  let base = '';
  let reply: (res: http.ServerResponse) => void = () => {};
  const paths: string[] = [];

  before(async () => {
    server = http.createServer((req, res) => { paths.push(req.url ?? ''); reply(res); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  function capture() {
    const out: string[] = [], err: string[] = [];
    return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
  }
  const json = (body: unknown, status = 200) => (res: http.ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  it('prints one row per connection from GET /service/mixeradminclient?getMetrics and exits 0', async () => {
    reply = json(goodAnswer());
    const c = capture();
    assert.equal(await metricsCommand(['--url', base], c.io), 0);
    assert.equal(paths.at(-1), '/service/mixeradminclient?getMetrics');
    const text = c.out.join('\n');
    assert.match(text, /speaker: 0 samples buffered, 48000 Hz/);
    const row = text.split('\n').find((l) => l.startsWith('alice'));
    assert.ok(row, text);
    assert.deepEqual(row.split(/\s+/).slice(1, 5), ['peer', 'no', '12.4', '1.9']);
    assert.deepEqual(c.err, []);
  });

  it('--json prints the answer itself', async () => {
    const a = goodAnswer();
    reply = json(a);
    const c = capture();
    assert.equal(await metricsCommand(['--url', base, '--json'], c.io), 0);
    assert.deepEqual(JSON.parse(c.out.join('\n')), JSON.parse(JSON.stringify(a)));
  });

  it('keeps a path prefix of --url (httpNodeRoot)', async () => {
    assert.equal(metricsUrl('http://h:1880/red').href, 'http://h:1880/red/service/mixeradminclient?getMetrics');
    assert.equal(metricsUrl('http://h:1880/').href, 'http://h:1880/service/mixeradminclient?getMetrics');
    assert.throws(() => metricsUrl('ftp://h/'), UsageError);
  });

  it('exits 1 with the reason when getMetrics answers an error or is not there', async () => {
    reply = (res) => { res.writeHead(503); res.end(); };
    let c = capture();
    assert.equal(await metricsCommand(['--url', base], c.io), 1);
    assert.match(c.err[0], /^getMetrics unreachable at .*: HTTP 503 Service Unavailable$/);
    c = capture();
    assert.equal(await metricsCommand(['--url', 'http://127.0.0.1:1'], c.io), 1);
    assert.match(c.err[0], /getMetrics unreachable/);
  });

  it('exits 3 and names the field when the answer breaks the schema, printing it anyway', async () => {
    const a: any = goodAnswer();
    delete a.aggregatedStatesSnapshot.connections.alice.jitterMs;
    delete a.aggregatedStatesSnapshot.incomingAudioTracks;
    reply = json(a);
    const c = capture();
    assert.equal(await metricsCommand(['--url', base], c.io), 3);
    assert.ok(c.err.some((l) => l.includes('jitterMs')), c.err.join('\n'));
    assert.ok(c.out.join('\n').includes('alice'));
  });

  it('--watch repeats the fetch at the given interval', async () => {
    reply = json(goodAnswer());
    const before = paths.length;
    const c = capture();
    assert.equal(await metricsCommand(['--url', base, '--watch', '0.05'], { ...c.io, rounds: 3 }), 0);
    assert.equal(paths.length - before, 3);
  });

  it('refuses a missing --url and unknown arguments as usage errors', async () => {
    await assert.rejects(metricsCommand([], capture().io), UsageError);
    await assert.rejects(metricsCommand(['--url', base, '--frobnicate'], capture().io), /unknown argument "--frobnicate"/);
  });
});

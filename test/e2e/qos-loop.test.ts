// End to end: the QoS feedback loop through the preset flows, with a lossy relay between a peer and the xcast.
import assert from 'node:assert/strict';
import net from 'node:net';
import { startXcast, freePortMap, sleep, tmpDir, XcastProcess } from '../support/xcast-process';
import { LossyRelay } from '../support/lossy-relay';
import { validateGetMetrics } from '../../runtime/qos/schema';
import { encodeJsonFrame, FrameType } from '../../runtime/protocol/frame';

type Answer = { aggregatedStatesSnapshot: Record<string, any> };

async function getMetrics(url: string): Promise<Answer> {
  const r = await fetch(`${url}/service/mixeradminclient?getMetrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /application\/json/);
  return (await r.json()) as Answer;
}

async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try { const v = await fn(); if (v !== undefined) return v; } catch (e) { last = e; }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** Strict check of Prometheus text: every sample line is name{labels} value, every name has HELP and TYPE. */
function parseProm(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (m) { if (m[1] === 'TYPE') { assert.match(m[3], /^(counter|gauge|histogram|summary|untyped)$/); typed.add(m[2]); } continue; }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${line}`);
    assert.ok(typed.has(m[1]) || [...typed].some((t) => m![1].startsWith(t)), `no TYPE for ${m[1]}`);
    samples.set(m[1] + (m[2] ?? ''), Number(m[3]));
  }
  return samples;
}

describe('QoS feedback loop end to end (xcast, peer through a lossy relay, monitor)', function () {
  this.timeout(120000);
  let xcast: XcastProcess, monitor: XcastProcess, peer: XcastProcess | undefined;
  let ingestRelay: LossyRelay, mixRelay: LossyRelay;
  let ports: Record<number, number>;
  const startPeer = () => startXcast({ flows: ['peer'], portMap: { 7010: ingestRelay.port }, userDir: tmpDir() });

  before(async () => {
    ports = await freePortMap();
    xcast = await startXcast({ flows: ['xcast'], portMap: ports });
    // Frames are chosen by wire seq, well after the peer's start so none fall before its connection.
    ingestRelay = new LossyRelay(ports[7010], {
      drop: new Set([300, 310, 311, 320]),
      duplicate: new Set([330, 340]),
      swapWithNext: new Set([350, 360]),
      late: new Map([[370, 400], [380, 400]]),
    });
    await ingestRelay.listen();
    mixRelay = new LossyRelay(ports[7011], { delayMs: 40 });
    await mixRelay.listen();
    monitor = await startXcast({ flows: ['monitor'], portMap: { 7011: mixRelay.port } });
    peer = await startPeer();
  });
  after(async () => {
    await Promise.all([peer?.stop(), monitor?.stop(), xcast?.stop()]);
    await Promise.all([ingestRelay?.close(), mixRelay?.close()]);
  });

  it('answers getMetrics as metrics.md says (JSON Schema checked with ajv)', async () => {
    const a = await waitFor('alice in getMetrics', 20000, async () => {
      const m = await getMetrics(monitor.url);
      return m.aggregatedStatesSnapshot.connections?.alice ? m : undefined;
    });
    const v = validateGetMetrics(a);
    assert.ok(v.valid, JSON.stringify(v.errors));
  });

  it('counts exactly the packets the relay dropped, duplicated, reordered and delayed past the jitter buffer', async () => {
    const alice = await waitFor('alice past seq 450', 30000, async () => {
      const c = (await getMetrics(monitor.url)).aggregatedStatesSnapshot.connections?.alice;
      return c && c.lastSeq > 450 ? c : undefined;
    });
    console.log(`      relay: ${JSON.stringify(ingestRelay.stats)}; alice: lost ${alice.packetsLost}, dup ${alice.packetsDuplicate}, ooo ${alice.packetsOutOfOrder}, late ${alice.packetsLate}`);
    assert.equal(alice.packetsLost, 4, 'lost = the 4 dropped frames');
    assert.equal(alice.packetsDuplicate, 2, 'duplicate');
    assert.equal(alice.packetsOutOfOrder, 2, 'out of order = the 2 swapped frames');
    assert.equal(alice.packetsLate, 2, 'late = the 2 frames held 400 ms');
  });

  it('measures jitter and latency within tolerance of the injected delays', async () => {
    const before = (await getMetrics(monitor.url)).aggregatedStatesSnapshot.connections;
    const calm = before.alice.jitterMs as number;
    let flip = false;
    ingestRelay.plan.jitterMs = () => ((flip = !flip) ? 8 : 0);
    await sleep(3000);
    const now = (await getMetrics(monitor.url)).aggregatedStatesSnapshot.connections;
    ingestRelay.plan.jitterMs = undefined;
    const lat = now['monitor-1']?.latencyMs;
    console.log(`      jitter: ${calm.toFixed(2)} ms calm, ${now.alice.jitterMs.toFixed(2)} ms with ±8 ms injected (expect 8 ± 3); monitor latency ${lat} ms with 40 ms injected`);
    assert.ok(Math.abs(now.alice.jitterMs - 8) <= 3, `jitter ${now.alice.jitterMs}`);
    // The PING/PONG offset estimate is good to a few ms on a loaded machine.
    assert.ok(typeof lat === 'number' && lat >= 34 && lat <= 75, `latency ${lat}`);
  });

  it('serves /metrics as Prometheus text whose figures agree with getMetrics, and /health', async () => {
    const [m, text] = await Promise.all([getMetrics(monitor.url), fetch(`${monitor.url}/metrics`).then((r) => r.text())]);
    const samples = parseProm(text);
    const alice = m.aggregatedStatesSnapshot.connections.alice;
    assert.equal(samples.get('xcast_packets_lost_total{user="alice"}'), alice.packetsLost);
    assert.equal(samples.get('xcast_packets_duplicate_total{user="alice"}'), alice.packetsDuplicate);
    const h = await fetch(`${monitor.url}/health`);
    assert.equal(h.status, 200);
    assert.equal(((await h.json()) as { status: string }).status, 'ok');
  });

  it('refuses a malformed QOS frame with ERROR, counts it, and keeps it out of mixeradminSharedState', async () => {
    const codes: string[] = [];
    for (const bad of [{ head: { trackId: 'x', seq: 1 }, qosTimestamp: 'soon', userId: 'eve' }]) {
      const code = await new Promise<string>((resolve, reject) => {
        const s = net.connect(ports[7011], '127.0.0.1');
        let buf = Buffer.alloc(0);
        const t = setTimeout(() => { s.destroy(); reject(new Error('no ERROR within 5 s')); }, 5000);
        s.on('connect', () => {
          s.write(encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId: 'eve', role: 'monitor' }));
          s.write(encodeJsonFrame(FrameType.QOS, bad));
        });
        s.on('error', () => undefined);
        s.on('data', (d) => {
          buf = Buffer.concat([buf, d]);
          while (buf.length >= 8 && buf.length >= 8 + buf.readUInt32BE(4)) {
            const len = buf.readUInt32BE(4);
            if (buf[3] === FrameType.ERROR) { clearTimeout(t); s.destroy(); resolve(JSON.parse(buf.subarray(8, 8 + len).toString()).code); return; }
            buf = buf.subarray(8 + len);
          }
        });
      });
      codes.push(code);
    }
    assert.deepEqual(codes, ['bad_qos']);
    // Counted among the refusals; eve, who sent nothing valid (no audio, no good QOS, no credentials), gets no entry.
    const snap = await waitFor('eve counted', 5000, async () => {
      const a = (await getMetrics(monitor.url)).aggregatedStatesSnapshot;
      return a.refused?.byCode?.bad_qos >= 1 ? a : undefined;
    });
    assert.ok(snap.refused.frames >= 1, JSON.stringify(snap.refused));
    assert.equal(snap.connections.eve, undefined, 'the refused report never reached the state');
  });

  it('turns isIncomingAudioTrackConnected false within threshold + 1 s when the peer stops, and true on reconnect', async () => {
    await waitFor('alice connected', 10000, async () => ((await getMetrics(monitor.url)).aggregatedStatesSnapshot.connections?.alice?.isIncomingAudioTrackConnected ? true : undefined));
    const t0 = Date.now();
    await peer!.kill('SIGKILL');
    await waitFor('alice disconnected', 5000, async () => ((await getMetrics(monitor.url)).aggregatedStatesSnapshot.connections?.alice?.isIncomingAudioTrackConnected === false ? true : undefined));
    const took = Date.now() - t0;
    console.log(`      isIncomingAudioTrackConnected went false ${took} ms after the peer was killed (threshold 500 ms)`);
    assert.ok(took <= 1500, `took ${took} ms`);
    peer = await startPeer();
    await waitFor('alice back', 15000, async () => ((await getMetrics(monitor.url)).aggregatedStatesSnapshot.connections?.alice?.isIncomingAudioTrackConnected ? true : undefined));
  });
});


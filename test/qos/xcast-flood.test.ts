// The outside probe against the real xcast preset (a child `xcast start`): 2,000 HELLO-only connections to the ingest
// and the mix-out ports leave the METADATA the monitors get the size it was, and a real user joining afterwards is in
// mixeradminSharedState. A monitor taking merge patches sees the same state as one taking full objects.
import assert from 'node:assert/strict';
import net from 'node:net';
import { startXcast, freePortMap, XcastProcess } from '../support/xcast-process';
import { StreamClient, StreamConnection } from '../../runtime/protocol/transport';
import { encodeJsonFrame, FrameType } from '../../runtime/protocol/frame';
import { nowMicros } from '../../runtime/clock';
import { opusEncode } from '../protocol/helpers';

type State = { connections: Record<string, unknown>; unconfirmed?: { users: number; connections: number } };

/** A monitor like the preset's (role monitor, QOS for every frame); `latest` is the last state, `bytes` its JSON size. */
class Monitor {
  latest: State | undefined;
  bytes = 0;
  private waiters: Array<{ pred: (s: State) => boolean; resolve: (s: State) => void }> = [];
  readonly client: StreamClient;
  constructor(port: number, userId: string, capabilities: string[]) {
    this.client = new StreamClient({ port, hello: { userId, role: 'monitor', capabilities }, pingIntervalMs: 0 });
    this.client.on('connect', (conn: StreamConnection) => {
      conn.on('audio', (h) => conn.sendQos({ head: { trackId: h.trackId, seq: h.seq, captureTime: h.captureTime }, qosTimestamp: nowMicros() }));
      conn.on('metadata', (m) => {
        const s = (m as { mixeradminSharedState?: State }).mixeradminSharedState;
        if (!s) return;
        this.latest = s;
        this.bytes = Buffer.byteLength(JSON.stringify(m));
        this.waiters = this.waiters.filter((w) => !(w.pred(s) && (w.resolve(s), true)));
      });
    });
    this.client.start();
  }
  /** The first state (from now on, or the one held) for which `pred` holds. */
  until(what: string, pred: (s: State) => boolean, timeoutMs = 20000): Promise<State> {
    if (this.latest && pred(this.latest)) return Promise.resolve(this.latest);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no state with ${what} within ${timeoutMs} ms: ${JSON.stringify(this.latest)?.slice(0, 300)}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (s) => { clearTimeout(timer); resolve(s); } });
    });
  }
}

/** A peer sending real Opus frames, 20 ms apart, until stopped. */
function peer(port: number, userId: string): () => Promise<void> {
  const client = new StreamClient({ port, hello: { userId, role: 'peer' }, pingIntervalMs: 0 });
  const packet = opusEncode(48000, 1, 960);
  let timer: NodeJS.Timeout | undefined;
  client.on('connect', (conn: StreamConnection) => {
    let seq = 0;
    timer = setInterval(() => conn.sendAudio({ trackId: 1, seq: seq++, captureTime: nowMicros(), sampleRate: 48000, channels: 1, codec: 2, frameSamples: 960 }, packet), 20);
  });
  client.on('disconnect', () => clearInterval(timer));
  client.start();
  return async () => { clearInterval(timer); await client.close(); };
}

/** One HELLO-only visit: connect, HELLO as `userId`, wait for the server's HELLO, go. */
async function visit(port: number, userId: string): Promise<void> {
  const s = net.connect({ host: '127.0.0.1', port });
  s.on('error', () => { /* reset on the way out */ });
  await new Promise((r) => s.once('connect', r));
  s.write(encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId, role: 'peer' }));
  await new Promise((r) => s.once('data', r));
  s.destroy();
}

describe('identity flood against the xcast preset', function () {
  this.timeout(120000);
  let xcast: XcastProcess;
  const stops: Array<() => unknown> = [];
  after(async () => {
    for (const s of stops) await s();
    await xcast?.stop();
  });

  it('2,000 HELLO-only churns: METADATA stays the size it was, none of them is in the state, a real user joining afterwards is', async () => {
    const ports = await freePortMap();
    xcast = await startXcast({ flows: ['xcast'], portMap: ports });
    stops.push(peer(ports[7010], 'alice'));
    const plain = new Monitor(ports[7011], 'monitor-1', ['qos']);
    const patched = new Monitor(ports[7011], 'monitor-2', ['qos', 'metadata-patch']);
    stops.push(() => plain.client.close(), () => patched.client.close());
    const ready = (s: State) => ['alice', 'monitor-1', 'monitor-2'].every((u) => u in s.connections);
    await plain.until('alice and both monitors', ready);
    await patched.until('alice and both monitors', ready);
    const before = plain.bytes;

    for (let i = 0; i < 2000; i += 25) {
      await Promise.all(Array.from({ length: 25 }, (_, k) => visit(ports[(i + k) % 2 ? 7011 : 7010], `flood-${i + k}`)));
    }
    // The state published after the churn: it counts the unconfirmed users (at most 256 remembered), lists none.
    const afterChurn = await plain.until('the churn counted', (s) => (s.unconfirmed?.users ?? 0) > 0);
    assert.deepEqual(Object.keys(afterChurn.connections).sort(), ['alice', 'monitor-1', 'monitor-2']);
    assert.ok(afterChurn.unconfirmed!.users <= 256, JSON.stringify(afterChurn.unconfirmed));
    console.log(`      METADATA ${before} bytes before the churn, ${plain.bytes} after (unconfirmed ${JSON.stringify(afterChurn.unconfirmed)})`);
    assert.ok(plain.bytes < before + 400, `METADATA grew from ${before} to ${plain.bytes} bytes`);

    stops.push(peer(ports[7010], 'bob'));
    const withBob = await plain.until('bob', (s) => 'bob' in s.connections);
    assert.deepEqual(Object.keys(withBob.connections).sort(), ['alice', 'bob', 'monitor-1', 'monitor-2']);
    // The patch-taking monitor holds the same users (its state rebuilt from patches).
    await patched.until('bob', (s) => 'bob' in s.connections);
    assert.deepEqual(Object.keys(patched.latest!.connections).sort(), ['alice', 'bob', 'monitor-1', 'monitor-2']);
  });
});

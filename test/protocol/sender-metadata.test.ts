// The sender's METADATA over real sockets: a receiver that stops reading gets no backlog of metadata (only the latest
// value, once it drains), merge patches to receivers announcing "metadata-patch" (one frame shared by all of them),
// the size bound, and a real StreamClient turning patches back into full objects.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { StreamServer, StreamConnection, StreamClient } from '../../runtime/protocol/transport';
import { StreamSender, SenderAudio, SenderLink, MetadataTooLargeError } from '../../runtime/protocol/sender';
import { FrameType, decodeAudioPayload } from '../../runtime/protocol/frame';
import { MetadataPatchReceiver } from '../../runtime/protocol/merge-patch';
import { ManualTimers, RawClient } from './helpers';


const audio = (seq: number, frameSamples = 4): SenderAudio =>
  ({ codec: 'pcm_s16le', sampleRate: 48000, channels: 1, frameSamples, seq, captureTime: 0, trackId: 1 });

/** A receiver's link as the sender sees it, recording each frame handed to it (the StreamConnection does the sending). */
function recording(conn: StreamConnection): SenderLink & { frames: Buffer[] } {
  const frames: Buffer[] = [];
  return {
    frames, userId: conn.userId, hello: conn.hello, socket: conn.socket,
    send: (f: Buffer) => { if (f[3] === FrameType.METADATA) frames.push(f); return conn.send(f); },
    close: (c?: string, m?: string) => conn.close(c, m),
  };
}

/** METADATA texts one raw receiver got, up to the AUDIO frame of seq `marker`. */
async function metaUntil(raw: RawClient, marker: number): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const f = await raw.nextFrame();
    if (f.type === FrameType.METADATA) out.push(f.payload.toString('utf8'));
    else if (f.type === FrameType.AUDIO && decodeAudioPayload(f.payload).header.seq === marker) return out;
  }
}

describe('protocol/sender metadata', function () {
  this.timeout(20000);
  let cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanup.reverse()) await c();
    cleanup = [];
  });
  async function serverWith(users: Array<[string, string[]]>) {
    const server = new StreamServer({ port: 0, pingIntervalMs: 0 });
    const { port } = await server.listen();
    const out: Array<{ conn: StreamConnection; raw: RawClient }> = [];
    for (const [u, capabilities] of users) {
      const linked = once(server, 'connection') as Promise<[StreamConnection]>;
      const raw = await RawClient.hello(port, u, { capabilities });
      const [conn] = await linked;
      out.push({ conn, raw });
    }
    cleanup.push(() => { for (const r of out) r.raw.destroy(); return server.close(); });
    return { server, port, receivers: out };
  }

  it('a receiver that stops reading: audio is offered as before, metadata waits in no queue, and on drain only the latest value goes', async () => {
    const timers = new ManualTimers();
    let meta: unknown = { v: 0 };
    const sender = new StreamSender({ routeByTarget: true, metadata: () => meta, timers });
    cleanup.push(() => sender.close());
    const { receivers: [slow, fast] } = await serverWith([['slow', []], ['fast', []]]);
    sender.add(slow.conn);
    sender.add(fast.conn);
    slow.raw.socket.pause();
    // Fill the slow receiver's queue past the low-water mark with audio (the kernel's buffers first).
    let seq = 1;
    const big = Buffer.alloc(960 * 2);
    while (slow.conn.socket.writableLength < 64 * 1024 && seq < 200_000) sender.sendAudio(audio(seq++, 960), big);
    assert.ok(slow.conn.socket.writableLength >= 64 * 1024, 'the queue filled');
    // The reading receiver shares this event loop: let it catch up with the burst.
    if (fast.conn.socket.writableLength > 0) await once(fast.conn.socket, 'drain');
    const sentBefore = sender.metadataStats.framesSent;
    const queuedBefore = slow.conn.socket.writableLength;
    const framesBefore = slow.conn.counters.framesOut;
    for (let i = 1; i <= 20; i++) {
      meta = { v: i, pad: 'x'.repeat(4000) };
      timers.advanceTo(i * 250);       // every poll reads a new value
      sender.sendAudio(audio(seq++, 960), big);
    }
    const st = sender.metadataStats;
    assert.equal(st.framesSent - sentBefore, 20, 'the reading receiver got every value');
    assert.ok(slow.conn.socket.writableLength <= Math.max(queuedBefore, 256 * 1024) + 8 * 1024, `no metadata piled up: ${slow.conn.socket.writableLength} bytes queued`);
    assert.equal(slow.conn.counters.framesOut - framesBefore, 20, 'its 20 audio frames were queued, no metadata frame');
    assert.ok(st.coalesced >= 19, `values the slow receiver never got: ${st.coalesced}`);
    const drained = once(slow.conn.socket, 'drain');
    slow.raw.socket.resume();
    await drained;                      // the sender's own 'drain' listener ran first: the latest value is queued
    const last = seq;
    sender.sendAudio(audio(last), Buffer.alloc(8));
    const got = await metaUntil(slow.raw, last);
    assert.deepEqual(got.map((t) => JSON.parse(t).v), [0, 20], 'the value on add, then only the latest');
  });

  it('a receiver whose QOS says it lags behind the audio gets no metadata until it catches up, then none for 3 × the time it lagged', async () => {
    const timers = new ManualTimers();
    let meta: unknown = { v: 0 };
    const sender = new StreamSender({ routeByTarget: true, metadata: () => meta, timers, maxLagMs: 500 });
    cleanup.push(() => sender.close());
    const { receivers: [r] } = await serverWith([['ann', ['qos']]]);
    sender.add(r.conn);
    const frame = (seq: number) => sender.sendAudio({ codec: 'pcm_s16le', sampleRate: 48000, channels: 1, frameSamples: 960, seq, captureTime: 0, trackId: 1 }, Buffer.alloc(1920));
    const report = (seq: number) => sender.acceptQos(r.conn, { head: { trackId: 1, seq, captureTime: 0 }, qosTimestamp: 1 });
    for (let seq = 1; seq <= 50; seq++) frame(seq);
    report(25);                         // 25 frames of 20 ms behind: 500 ms, not more
    meta = { v: 1 };
    timers.advanceTo(250);
    report(24);                         // 520 ms behind: lagging from t = 250
    meta = { v: 2 };
    timers.advanceTo(1000);             // changed, due, queue empty — but it lags
    const held = sender.metadataStats.framesSent;
    timers.advanceTo(1250);
    report(50);                         // caught up at 1250 after 1000 ms: nothing before 1250 + 3000
    timers.advanceTo(4000);
    assert.equal(sender.metadataStats.framesSent, held, 'paused');
    timers.advanceTo(4250);
    frame(51);
    assert.deepEqual((await metaUntil(r.raw, 51)).map((t) => JSON.parse(t).v), [0, 1, 2]);
  });

  it('merge patches: the same frame for every patch receiver, full objects to the others, and full when a patch cannot say it or is larger', async () => {
    const timers = new ManualTimers();
    let meta: Record<string, unknown> = { s: { a: 1, b: 2, list: [1, 2] }, n: 1, gone: 'soon' };
    const sender = new StreamSender({ routeByTarget: true, metadata: () => meta, timers, patchFullEveryMs: 3000 });
    cleanup.push(() => sender.close());
    const { receivers } = await serverWith([['p1', ['metadata-patch']], ['p2', ['qos', 'metadata-patch']], ['plain', ['qos']]]);
    const links = receivers.map((r) => recording(r.conn));
    for (const l of links) sender.add(l);
    const values: unknown[] = [meta];
    const step = (t: number, v: Record<string, unknown> | undefined) => {
      if (v) { meta = v; values.push(v); }
      timers.advanceTo(t);
    };
    step(250, { s: { a: 1, b: 3, list: [1, 2] }, n: 1 });              // a patch: {"s":{"b":3},"gone":null}
    step(500, { s: { a: 1, b: 3, list: [1, 2, 3] }, n: 2 });           // arrays whole
    step(750, { x: 1 });                                               // the patch would be larger: full
    step(1000, { x: 1, y: null, z: 'zzzzzzzzzz' });                    // a null a patch cannot set: full
    step(1250, { x: 2, y: null, z: 'zzzzzzzzzz' });
    step(2250, undefined);                                             // unchanged for 1 s: an empty patch
    step(3250, undefined);                                             // and again
    step(3999, undefined);
    step(4000, { x: 3, y: null, z: 'zzzzzzzzzz' });                    // 3 s since the last full object: full again
    sender.sendAudio(audio(99), Buffer.alloc(8));
    const texts = await Promise.all(receivers.map((r) => metaUntil(r.raw, 99)));
    assert.deepEqual(texts[0], [
      '{"s":{"a":1,"b":2,"list":[1,2]},"n":1,"gone":"soon"}',
      '{"$patch":{"gone":null,"s":{"b":3}}}',
      '{"$patch":{"s":{"list":[1,2,3]},"n":2}}',
      '{"x":1}',
      '{"x":1,"y":null,"z":"zzzzzzzzzz"}',
      '{"$patch":{"x":2}}',
      '{"$patch":{}}',
      '{"$patch":{}}',
      '{"x":3,"y":null,"z":"zzzzzzzzzz"}',
    ]);
    assert.deepEqual(texts[1], texts[0]);
    const full = values.map((v) => JSON.stringify(v));
    assert.deepEqual(texts[2], [...full.slice(0, 6), full[5], full[5], full[6]], 'full objects, the unchanged one sent again');
    // What each patch receiver ends up holding is what the plain one was sent.
    for (const list of [texts[0], texts[1]]) {
      const r = new MetadataPatchReceiver();
      assert.deepEqual(list.map((t) => r.receive(JSON.parse(t))), texts[2].map((t) => JSON.parse(t)));
    }
    // One Buffer per value (and per base) for all receivers of a kind.
    for (let i = 0; i < links[0].frames.length; i++) assert.equal(links[0].frames[i], links[1].frames[i], `frame ${i} shared`);
    assert.equal(links[0].frames[0], links[2].frames[0], 'the full object on add is the one frame for everyone');
    const st = sender.metadataStats;
    assert.equal(st.patchesSent, 2 * 5);
    assert.equal(st.versions, 7);
  });

  it('metadata larger than maxMetadataBytes is not sent, counted, said once; the last good value stands', async () => {
    const timers = new ManualTimers();
    let meta: unknown = { ok: 1 };
    const errors: Error[] = [];
    const sender = new StreamSender({ routeByTarget: true, metadata: () => meta, timers, maxMetadataBytes: 64, onMetadataError: (e) => errors.push(e) });
    cleanup.push(() => sender.close());
    const { receivers: [r] } = await serverWith([['ann', []]]);
    sender.add(r.conn);
    meta = { big: 'x'.repeat(100) };
    timers.advanceTo(250);
    meta = { big: 'y'.repeat(200) };
    timers.advanceTo(500);
    timers.advanceTo(1000);             // the last good value again, 1 s after it was sent
    meta = { ok: 2 };
    timers.advanceTo(1250);
    meta = { $patch: { a: 1 } };        // reserved for patches
    timers.advanceTo(1500);
    sender.sendAudio(audio(1), Buffer.alloc(8));
    assert.deepEqual(await metaUntil(r.raw, 1), ['{"ok":1}', '{"ok":1}', '{"ok":2}']);
    assert.equal(errors.length, 2, errors.map((e) => e.message).join(' | '));
    assert.ok(errors[0] instanceof MetadataTooLargeError && errors[0].bytes === 110 && /larger than maxMetadataBytes \(64\)/.test(errors[0].message));
    assert.match(errors[1].message, /reserved for merge patches/);
    assert.equal(sender.metadataStats.oversize, 3);
    // From a message (metadataChanged) too: said through onMetadataError, not thrown at the caller.
    meta = { big: 'z'.repeat(300) };
    timers.t = 2000;
    sender.metadataChanged();
    assert.equal(errors.length, 3);
    assert.ok(errors[2] instanceof MetadataTooLargeError);
    sender.metadataChanged();
    assert.equal(errors.length, 3, 'the same value again: nothing new');
  });

  it('a StreamClient announcing metadata-patch gets patches on the wire and full objects in its metadata events', async () => {
    const timers = new ManualTimers();
    const others = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`user-${i}`, { n: i, rtt: 1.5 }]));
    let meta: Record<string, unknown> = { state: { users: { alice: { n: 0, rtt: 1 }, ...others } } };
    const sender = new StreamSender({ routeByTarget: true, metadata: () => meta, timers });
    cleanup.push(() => sender.close());
    const server = new StreamServer({ port: 0, pingIntervalMs: 0 });
    const { port } = await server.listen();
    cleanup.push(() => server.close());
    server.on('connection', (c) => sender.add(c));
    const client = new StreamClient({ port, hello: { userId: 'mon', role: 'monitor', capabilities: ['qos', 'metadata-patch'] }, pingIntervalMs: 0, reconnect: false });
    cleanup.push(() => client.close());
    const got: unknown[] = [];
    let want = 0;
    let wake: (() => void) | undefined;
    client.on('connect', (conn) => conn.on('metadata', (m) => { got.push(m); if (got.length >= want) wake?.(); }));
    const next = (n: number) => new Promise<void>((resolve) => { want = n; wake = resolve; if (got.length >= n) resolve(); });
    client.start();
    await next(1);
    const sent: unknown[] = [meta];
    for (let i = 1; i <= 10; i++) {
      meta = { state: { users: { alice: { n: i, rtt: 1 }, ...others, ...(i > 5 ? { bob: { n: i } } : {}) } } };
      sent.push(meta);
      timers.advanceTo(i * 250);
      await next(i + 1);
    }
    assert.deepEqual(got, sent);
    assert.equal(sender.metadataStats.patchesSent, 10);
  });
});

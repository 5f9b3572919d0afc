// The stream sender (the socket writer's engine) over real sockets, on an injected clock: metadata before the first
// audio frame, the 250 ms poll and 1 s resend, the error said once, routing by receiver, audio refused whole, QOS checked.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { StreamServer, StreamConnection } from '../../runtime/protocol/transport';
import { StreamSender, SenderAudio } from '../../runtime/protocol/sender';
import { FrameType, decodeAudioPayload, decodeErrorPayload } from '../../runtime/protocol/frame';
import { QosValidationError } from '../../runtime/qos/aggregator';
import { ManualTimers, RawClient } from './helpers';


const audio = (seq: number, over: Partial<SenderAudio> = {}): SenderAudio =>
  ({ codec: 'pcm_s16le', sampleRate: 48000, channels: 1, frameSamples: 4, seq, captureTime: 0, trackId: 1, ...over });
const PCM = Buffer.alloc(8);

/** A listening server and receivers that completed their HELLO: the server side of each (a link) and its raw client. */
async function setUp(users: string[]) {
  const server = new StreamServer({ port: 0, pingIntervalMs: 0 });
  const { port } = await server.listen();
  const receivers: Array<{ link: StreamConnection; raw: RawClient; log: string[] }> = [];
  for (const u of users) {
    const linked = once(server, 'connection') as Promise<[StreamConnection]>;
    const raw = await RawClient.hello(port, u);
    const [link] = await linked;
    receivers.push({ link, raw, log: [] });
  }
  return { server, receivers };
}

/**
 * What one receiver got up to and including the AUDIO frame of seq `marker`: 'M <json>' for METADATA, 'A <seq>' for
 * AUDIO, 'E <code>' for ERROR. A frame not sent before the marker is not in the log: TCP keeps the order.
 */
async function readUntil(r: { raw: RawClient; log: string[] }, marker: number): Promise<string[]> {
  for (;;) {
    const f = await r.raw.nextFrame();
    if (f.type === FrameType.METADATA) r.log.push(`M ${f.payload.toString('utf8')}`);
    else if (f.type === FrameType.ERROR) r.log.push(`E ${decodeErrorPayload(f.payload).code}`);
    else if (f.type === FrameType.AUDIO) {
      const seq = decodeAudioPayload(f.payload).header.seq;
      r.log.push(`A ${seq}`);
      if (seq === marker) return r.log;
    }
  }
}

describe('protocol/sender', function () {
  this.timeout(10000);
  let cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanup) await c();
    cleanup = [];
  });
  async function receivers(users: string[]) {
    const s = await setUp(users);
    cleanup.push(() => { for (const r of s.receivers) r.raw.destroy(); return s.server.close(); });
    return s.receivers;
  }

  it('metadata reaches each receiver before its first audio frame; a source with nothing yet sends none', async () => {
    const timers = new ManualTimers();
    let meta: unknown;
    const sender = new StreamSender({ routeByTarget: true, metadata: () => meta, timers });
    cleanup.push(() => sender.close());
    const [a, b] = await receivers(['ann', 'bob']);
    sender.add(a.link);
    meta = { scene: 1 };
    sender.add(b.link);
    sender.sendAudio(audio(0), PCM);
    assert.deepEqual(await readUntil(a, 0), ['A 0']);
    assert.deepEqual(await readUntil(b, 0), ['M {"scene":1}', 'A 0']);
  });

  it('the schedule: read every 250 ms, a change sent at the next read, unchanged metadata sent again 1 s after the last send', async () => {
    const timers = new ManualTimers();
    let meta: unknown = { v: 1 };
    const sender = new StreamSender({ routeByTarget: true, metadata: () => meta, timers });
    cleanup.push(() => sender.close());
    const [r] = await receivers(['ann']);
    sender.add(r.link);
    for (const t of [250, 500, 1000, 1250, 1300, 1500, 2250, 2500]) {
      if (t === 1300) meta = { v: 2 };
      timers.advanceTo(t);
      sender.sendAudio(audio(t), PCM);
    }
    assert.deepEqual(await readUntil(r, 2500), [
      'M {"v":1}',             // on add (t = 0)
      'A 250', 'A 500',        // unchanged, less than 1 s since it was sent
      'M {"v":1}', 'A 1000',   // 1 s after: sent again
      'A 1250',
      'A 1300',                // changed, not yet read
      'M {"v":2}', 'A 1500',   // read at 1500
      'A 2250',
      'M {"v":2}', 'A 2500',   // 1 s after 1500
    ]);
  });

  it('latest wins: changes closer than metadataIntervalMs to a receiver wait, and only the newest is sent; a value that is no object goes as { value }', async () => {
    const timers = new ManualTimers();
    let meta: unknown;
    const sender = new StreamSender({ routeByTarget: true, metadata: () => meta, timers });
    cleanup.push(() => sender.close());
    const [r] = await receivers(['ann']);
    sender.add(r.link);
    meta = 'hello';
    sender.metadataChanged();          // t = 0: the first, sent at once
    sender.metadataChanged();          // the same value: nothing
    timers.t = 100;
    meta = 'world';
    sender.metadataChanged();          // 100 ms after the last send: waits
    timers.t = 200;
    meta = [1, 2];
    sender.metadataChanged();          // replaces 'world', which is never sent
    sender.sendAudio(audio(0), PCM);
    timers.advanceTo(250);             // the poll: 250 ms since the last send
    sender.sendAudio(audio(1), PCM);
    timers.advanceTo(400);
    meta = { later: true };
    sender.metadataChanged();          // 150 ms after: waits for the poll at 500
    timers.advanceTo(500);
    sender.sendAudio(audio(2), PCM);
    assert.deepEqual(await readUntil(r, 2), ['M {"value":"hello"}', 'A 0', 'M {"value":[1,2]}', 'A 1', 'M {"later":true}', 'A 2']);
    const st = sender.metadataStats;
    assert.equal(st.versions, 4);
    assert.equal(st.framesSent, 3);
    assert.equal(st.coalesced, 1, "'world' never went out");
  });

  it('metadata that cannot be serialised: one error until it changes, audio goes on, then the good value is sent', async () => {
    const timers = new ManualTimers();
    const cyclic: Record<string, unknown> = { users: 1 };
    cyclic.self = cyclic;
    let meta: unknown = cyclic;
    const errors: string[] = [];
    const sender = new StreamSender({ routeByTarget: true, metadata: () => meta, timers, onMetadataError: (e) => errors.push(e.message) });
    cleanup.push(() => sender.close());
    const [r] = await receivers(['ann']);
    sender.add(r.link);
    for (let t = 250; t <= 1500; t += 250) timers.advanceTo(t);
    sender.sendAudio(audio(1), PCM);
    assert.equal(errors.length, 1, `said once: ${JSON.stringify(errors)}`);
    assert.match(errors[0], /circular/i);
    meta = { users: 2 };
    timers.advanceTo(1750);
    meta = 10n;
    timers.advanceTo(2000);
    sender.sendAudio(audio(2), PCM);
    assert.deepEqual(await readUntil(r, 2), ['A 1', 'M {"users":2}', 'A 2']);
    assert.equal(errors.length, 2, 'a new error after a good send is said again');
    assert.throws(() => sender.metadataChanged(), /BigInt/);
  });

  it('routes by receiver on the server side (a targetUserId goes to that user only), and ignores it on the client side', async () => {
    const server = new StreamSender({ routeByTarget: true });
    const [a, b] = await receivers(['ann', 'bob']);
    server.add(a.link);
    server.add(b.link);
    server.sendAudio(audio(1), PCM, 'bob');
    server.sendAudio(audio(2), PCM);
    server.sendAudio(audio(3), PCM, 'ann');
    server.remove(a.link);
    assert.equal(server.receivers, 1);
    server.sendAudio(audio(4), PCM);
    server.add(a.link);
    server.sendAudio(audio(5), PCM);
    assert.deepEqual(await readUntil(a, 5), ['A 2', 'A 3', 'A 5']);
    assert.deepEqual(await readUntil(b, 5), ['A 1', 'A 2', 'A 4', 'A 5']);
    const client = new StreamSender({ routeByTarget: false });
    client.add(a.link);
    client.sendAudio(audio(6), PCM, 'bob');
    assert.deepEqual(await readUntil(a, 6), ['A 2', 'A 3', 'A 5', 'A 6']);
  });

  it("routes a room's frames to that room's receivers (HELLO room, else profile.room); 'main' and no room to every receiver", async () => {
    const server = new StreamSender({ routeByTarget: true });
    const s = await (async () => {
      const srv = new StreamServer({ port: 0, pingIntervalMs: 0 });
      const { port } = await srv.listen();
      const out: Array<{ link: StreamConnection; raw: RawClient; log: string[] }> = [];
      const hellos: Array<[string, Record<string, unknown>]> = [['ann', { room: 'r1' }], ['bob', { profile: { room: 'r2', name: 'Bob' } }], ['cat', {}], ['dan', { room: 'no spaces' }]];
      for (const [u, extra] of hellos) {
        const linked = once(srv, 'connection') as Promise<[StreamConnection]>;
        const raw = await RawClient.hello(port, u, extra);
        const [link] = await linked;
        out.push({ link, raw, log: [] });
      }
      cleanup.push(() => { for (const r of out) r.raw.destroy(); return srv.close(); });
      return out;
    })();
    const [ann, bob, cat, dan] = s;
    for (const r of s) server.add(r.link);
    server.sendAudio(audio(1), PCM, undefined, 'r1');
    server.sendAudio(audio(2), PCM, undefined, 'r2');
    server.sendAudio(audio(3), PCM, undefined, 'main');
    server.sendAudio(audio(4), PCM);
    server.sendAudio(audio(5), PCM, 'bob', 'r1');   // a mix-minus for bob in a room bob is not in: nobody
    server.sendAudio(audio(6), PCM, 'ann', 'r1');
    server.sendAudio(audio(7), PCM);
    assert.deepEqual(await readUntil(ann, 7), ['A 1', 'A 3', 'A 4', 'A 6', 'A 7']);
    assert.deepEqual(await readUntil(bob, 7), ['A 2', 'A 3', 'A 4', 'A 7']);
    // No room, or a HELLO room that is not a room name: the room 'main'.
    assert.deepEqual(await readUntil(cat, 7), ['A 3', 'A 4', 'A 7']);
    assert.deepEqual(await readUntil(dan, 7), ['A 3', 'A 4', 'A 7']);
    // The client side sends every frame to its server, whatever its room.
    const client = new StreamSender({ routeByTarget: false });
    client.add(cat.link);
    client.sendAudio(audio(8), PCM, undefined, 'r1');
    assert.deepEqual(await readUntil(cat, 8), ['A 3', 'A 4', 'A 7', 'A 8']);
  });

  it('refuses audio it cannot frame — unknown codec, PCM size not matching its header — and sends nothing of it', async () => {
    const sender = new StreamSender({ routeByTarget: true });
    const [r] = await receivers(['ann']);
    sender.add(r.link);
    assert.throws(() => sender.sendAudio(audio(1, { codec: 'mp3' }), PCM), /codec "mp3"/);
    assert.throws(() => sender.sendAudio(audio(2, { codec: 'pcm_f32le' }), PCM), /PCM payload of 8 bytes does not match frameSamples 4 × channels 1 × 4/);
    sender.sendAudio(audio(3), PCM);
    assert.deepEqual(await readUntil(r, 3), ['A 3']);
  });

  it('QOS: a valid batch comes back validated; one malformed report refuses the frame and closes that receiver with bad_qos', async () => {
    const sender = new StreamSender({ routeByTarget: true });
    const [r] = await receivers(['ann']);
    sender.add(r.link);
    const good = { head: { trackId: 1, seq: 7, captureTime: 1 }, qosTimestamp: 2, misses: 0 };
    const got = sender.acceptQos(r.link, [good, { ...good, head: { ...good.head, seq: 8 } }]);
    assert.deepEqual(got.map((q) => q.head.seq), [7, 8]);
    assert.deepEqual(sender.acceptQos(r.link, good).map((q) => q.head.seq), [7]);
    let refused: Error | undefined;
    assert.throws(() => sender.acceptQos(r.link, [good, { ...good, head: { ...good.head, seq: -1 } }]),
      (e: unknown) => e instanceof QosValidationError && /head\.seq/.test((refused = e).message));
    assert.deepEqual(await r.raw.waitClosed(), { code: 'bad_qos', message: refused?.message }, 'the receiver is told why');
  });

  it('close stops the schedule', () => {
    const timers = new ManualTimers();
    const sender = new StreamSender({ routeByTarget: true, metadata: () => ({}), timers });
    assert.equal(timers.intervals.size, 1);
    sender.close();
    assert.equal(timers.intervals.size, 0);
    assert.equal(new StreamSender({ routeByTarget: true, timers }).receivers, 0);
    assert.equal(timers.intervals.size, 0, 'no metadata source, no timer');
  });
});

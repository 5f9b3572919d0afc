// EventStreamServer on loopback: what a client receives and in which order, seq unwrapping, the slow-client bound, and the rotating file.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { EventParser, EventType, type AudioEvent } from '../../runtime/events/codec';
import { readAllEvents } from '../../runtime/events/reader';
import { EventStreamServer } from '../../runtime/events/server';

interface Collector {
  socket: net.Socket;
  events: AudioEvent[];
  raw: Buffer[];
  waitFor(n: number, timeoutMs?: number): Promise<void>;
}

function collect(port: number): Collector {
  const socket = net.connect(port, '127.0.0.1');
  const parser = new EventParser();
  const events: AudioEvent[] = [];
  const raw: Buffer[] = [];
  let waiter: (() => void) | null = null;
  socket.on('data', (chunk: Buffer) => {
    raw.push(chunk);
    parser.pushTo(chunk, events);
    waiter?.();
  });
  socket.on('error', () => { /* the server may cut us off */ });
  return {
    socket, events, raw,
    waitFor(n, timeoutMs = 10000) {
      return new Promise((resolve, reject) => {
        if (events.length >= n) return resolve();
        const t = setTimeout(() => { waiter = null; reject(new Error(`got ${events.length} events, waited for ${n}`)); }, timeoutMs);
        waiter = () => {
          if (events.length >= n) { clearTimeout(t); waiter = null; resolve(); }
        };
      });
    },
  };
}

async function connected(srv: EventStreamServer, port: number): Promise<Collector> {
  const ready = once(srv, 'clientConnected');
  const c = collect(port);
  await ready;
  return c;
}

describe('EventStreamServer', () => {
  let tmp: string;
  const servers: EventStreamServer[] = [];
  const sockets: net.Socket[] = [];

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-events-'));
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  after(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  function make(opts: Partial<ConstructorParameters<typeof EventStreamServer>[0]> = {}): EventStreamServer {
    const s = new EventStreamServer({ port: 0, sampleRate: 48000, frameSamples: 480, ...opts });
    servers.push(s);
    return s;
  }

  it('sends a new client Stream Info, then the current Mix Parameters, then only events from that moment', async () => {
    const srv = make();
    const { port } = await srv.listen();
    const alice = srv.channelIdFor('alice', 1);
    srv.setProfile(alice, { name: 'alice', city: 'Oslo', countryCode: 161, skillLevel: 2, instrument: 3 });
    srv.mixParameters(7, 0.5, [{ channelId: alice, gain: 0.75, pan: -0.25, muted: false }]);
    srv.opusPacketReceived(alice, 1, 0, 1, Buffer.from([1, 2, 3])); // before the client: not for it
    const c = await connected(srv, port);
    sockets.push(c.socket);
    srv.opusPacketReceived(alice, 2, 0, 1, Buffer.from([4, 5]));
    srv.audioFrameMixed(8, [{ channelId: alice, seq: 2, channels: 1, frameSamples: 480 }]);
    await c.waitFor(4);
    await new Promise((r) => setTimeout(r, 50));
    const [info, params, pkt, mixed] = c.events;
    assert.deepEqual(c.events.map((e) => e.type), [EventType.STREAM_INFO, EventType.MIX_PARAMETERS, EventType.OPUS_PACKET_RECEIVED, EventType.AUDIO_FRAME_MIXED]);
    assert.ok(info.type === EventType.STREAM_INFO);
    assert.equal(info.serverStartMicros, srv.startMicros);
    assert.equal(info.sampleRate, 48000);
    assert.equal(info.frameSamples, 480);
    assert.equal(info.version, 1);
    assert.ok(Math.abs(srv.startMicros - Date.now() * 1000) < 60e6, 'start time is µs since the Unix epoch');
    assert.ok(params.type === EventType.MIX_PARAMETERS);
    assert.deepEqual({ from: params.fromFrameSeq, master: params.master, channels: params.channels },
      { from: 7n, master: 0.5, channels: [{ channelId: alice, gain: 0.75, pan: -0.25, muted: false }] });
    assert.ok(pkt.type === EventType.OPUS_PACKET_RECEIVED);
    assert.equal(pkt.seq, 2n);
    assert.deepEqual([...pkt.packet], [4, 5]);
    assert.ok(mixed.type === EventType.AUDIO_FRAME_MIXED);
    assert.equal(mixed.frameSeq, 8n);
    assert.deepEqual(mixed.entries, [{ channelId: alice, seq: 2n, compression: 0, channels: 1, frameSamples: 480,
      profile: { name: 'alice', city: 'Oslo', countryCode: 161, skillLevel: 2, instrument: 3 } }]);
    for (let i = 1; i < c.events.length; i++) assert.ok(c.events[i].timestamp >= c.events[i - 1].timestamp, 'timestamps do not go back');
    assert.equal(srv.clients, 1);
  });

  it('gives each user/track pair a stable channel id', () => {
    const srv = make();
    const a1 = srv.channelIdFor('alice', 1);
    const b1 = srv.channelIdFor('bob', 1);
    const a2 = srv.channelIdFor('alice', 2);
    assert.equal(new Set([a1, b1, a2]).size, 3);
    assert.equal(srv.channelIdFor('alice', 1), a1);
    assert.equal(srv.channelIdFor('bob', 1), b1);
  });

  it('unwraps the 32-bit wire seq into a monotonic u64 per channel, for packets and for the mix entries', async () => {
    const srv = make();
    const { port } = await srv.listen();
    const c = await connected(srv, port);
    sockets.push(c.socket);
    const ch = srv.channelIdFor('bob', 1);
    const other = srv.channelIdFor('carol', 1);
    for (const s of [0xfffffffe, 0xffffffff, 0, 1]) srv.opusPacketReceived(ch, s, 0, 2, Buffer.from([s & 0xff]));
    srv.opusPacketReceived(ch, 0xffffffff, 0, 2, Buffer.from([9])); // a late one from before the wrap
    srv.opusPacketReceived(other, 5, 0, 1, Buffer.from([1]));
    srv.audioFrameMixed(3, [
      { channelId: ch, seq: 0, channels: 2, frameSamples: 480 },
      { channelId: other, seq: null, channels: 1, frameSamples: 480 },
    ]);
    await c.waitFor(2 + 7);
    const seqs = c.events.filter((e) => e.type === EventType.OPUS_PACKET_RECEIVED).map((e) => (e as { seq: bigint }).seq);
    assert.deepEqual(seqs, [0xfffffffen, 0xffffffffn, 0x100000000n, 0x100000001n, 0xffffffffn, 5n]);
    const mixed = c.events[8];
    assert.ok(mixed.type === EventType.AUDIO_FRAME_MIXED);
    assert.equal(mixed.entries[0].seq, 0x100000000n);
    assert.equal(mixed.entries[1].seq, null);
  });

  it('continues a channel after its highest seq when the sender restarts its count', async () => {
    const srv = make();
    const { port } = await srv.listen();
    const c = await connected(srv, port);
    sockets.push(c.socket);
    const ch = srv.channelIdFor('dave', 1);
    srv.opusPacketReceived(ch, 100000, 0, 1, Buffer.from([1]));
    srv.opusPacketReceived(ch, 0, 0, 1, Buffer.from([2])); // reconnected peer counting from 0 again
    srv.opusPacketReceived(ch, 1, 0, 1, Buffer.from([3]));
    srv.restartChannel(ch);
    srv.opusPacketReceived(ch, 7, 0, 1, Buffer.from([4]));
    await c.waitFor(2 + 4);
    const seqs = c.events.slice(2).map((e) => (e as { seq: bigint }).seq);
    assert.deepEqual(seqs, [100000n, 100001n, 100002n, 100003n]);
    assert.equal(srv.stats.seqRestarts, 1);
  });

  it('cuts off a client that stops reading once its backlog passes the bound, while another client gets every event and the caller never waits', async function () {
    this.timeout(60000);
    const bound = 256 * 1024;
    const srv = make({ maxClientBacklogBytes: bound });
    const { port } = await srv.listen();
    const fast = await connected(srv, port);
    sockets.push(fast.socket);
    const ready = once(srv, 'clientConnected');
    const slow = new net.Socket();
    slow.pause(); // never reads: its kernel buffers fill, then the server's
    slow.on('error', () => { /* cut off */ });
    slow.connect(port, '127.0.0.1');
    sockets.push(slow);
    await ready;
    assert.equal(srv.clients, 2);
    let dropped = false;
    srv.once('clientDropped', () => { dropped = true; });
    const slowClosed = once(slow, 'close');

    const ch = srv.channelIdFor('eve', 1);
    const data = Buffer.alloc(32 * 1024, 1);
    let sent = 0;
    let slowestCallMs = 0;
    const t0 = performance.now();
    // Keep going a little after the drop, so the fast client's count checks events on both sides of it.
    let after = 50;
    while (after > 0 && sent < 6000) {
      const c0 = performance.now();
      srv.pcmPacketReceived(ch, sent, 'pcm_f32le', 2, 4096, 48000, data);
      slowestCallMs = Math.max(slowestCallMs, performance.now() - c0);
      sent++;
      if (dropped) after--;
      // Yield so sockets flush, like a mixer on its clock would.
      if (sent % 4 === 0) await new Promise((r) => setImmediate(r));
    }
    const loopMs = performance.now() - t0;
    assert.ok(dropped, `the slow client was not cut off after ${sent} events (${sent * 32} KiB)`);
    slow.resume(); // reading now drains what the kernel held and then meets the closed connection
    await slowClosed;
    assert.equal(srv.stats.clientsDropped, 1);
    assert.equal(srv.clients, 1);
    await fast.waitFor(2 + sent, 30000);
    const seqs = fast.events.slice(2).map((e) => Number((e as { seq: bigint }).seq));
    assert.equal(seqs.length, sent);
    assert.ok(seqs.every((s, i) => s === i), 'the fast client got every event, in order');
    // Generous bounds: each call only hands a Buffer to the sockets.
    assert.ok(slowestCallMs < 250, `a call took ${slowestCallMs.toFixed(1)} ms`);
    assert.ok(loopMs < 30000, `the caller's loop took ${loopMs.toFixed(0)} ms`);
  });

  it('writes the same bytes to the file as to a client', async () => {
    const file = path.join(tmp, 'same.xcev');
    const srv = make({ file: { path: file } });
    const { port } = await srv.listen();
    const c = await connected(srv, port);
    sockets.push(c.socket);
    const ch = srv.channelIdFor('frank', 1);
    for (let i = 0; i < 20; i++) {
      srv.opusPacketReceived(ch, i, 0, 1, Buffer.from([i, i + 1, i + 2]));
      srv.audioFrameMixed(i, [{ channelId: ch, seq: i, channels: 1, frameSamples: 480 }]);
    }
    await c.waitFor(2 + 40);
    await srv.close();
    assert.deepEqual(srv.files, [file]);
    const bytes = fs.readFileSync(file);
    const fileEvents = new EventParser().push(bytes);
    assert.deepEqual(fileEvents.slice(0, 2).map((e) => e.type), [EventType.STREAM_INFO, EventType.MIX_PARAMETERS]);
    const clientBytes = Buffer.concat(c.raw);
    // After each side's preamble the bytes are the very same.
    assert.deepEqual(bytes.subarray(fileEvents[2].offset), clientBytes.subarray(c.events[2].offset));
  });

  it('rotates the file by size, each file starting with Stream Info and Mix Parameters and no event lost', async () => {
    const file = path.join(tmp, 'rot.xcev');
    const srv = make({ file: { path: file, rotateBytes: 2000 } });
    await srv.listen();
    const ch = srv.channelIdFor('gina', 1);
    srv.mixParameters(0, 1, [{ channelId: ch, gain: 0.5, pan: 0, muted: false }]);
    for (let i = 0; i < 60; i++) srv.opusPacketReceived(ch, i, 0, 1, Buffer.alloc(100, i));
    await srv.close();
    const files = srv.files;
    assert.ok(files.length >= 4, `${files.length} files`);
    assert.deepEqual(files.map((f) => path.basename(f)), files.map((_, i) => `rot.${String(i).padStart(4, '0')}.xcev`));
    const seqs: number[] = [];
    for (const [i, f] of files.entries()) {
      assert.ok(fs.statSync(f).size <= 2000, `${f} is ${fs.statSync(f).size} bytes`);
      const { events, warnings } = await readAllEvents(f);
      assert.deepEqual(warnings, []);
      assert.equal(events[0].type, EventType.STREAM_INFO);
      assert.ok(events[1].type === EventType.MIX_PARAMETERS);
      // The first file was opened by listen(), before the parameters were set: they follow as an event.
      const params = i === 0 ? events[2] : events[1];
      assert.ok(params.type === EventType.MIX_PARAMETERS);
      assert.deepEqual(params.channels, [{ channelId: ch, gain: 0.5, pan: 0, muted: false }]);
      for (const e of events.slice(2)) if (e.type === EventType.OPUS_PACKET_RECEIVED) seqs.push(Number(e.seq));
    }
    assert.deepEqual(seqs, Array.from({ length: 60 }, (_, i) => i));
  });

  it('rotates the file by time', async () => {
    const file = path.join(tmp, 'timed.xcev');
    const srv = make({ file: { path: file, rotateMs: 30 } });
    await srv.listen();
    const ch = srv.channelIdFor('hugo', 1);
    for (let i = 0; i < 10; i++) {
      srv.opusPacketReceived(ch, i, 0, 1, Buffer.from([i]));
      await new Promise((r) => setTimeout(r, 20));
    }
    await srv.close();
    assert.ok(srv.files.length >= 3, `${srv.files.length} files`);
    let packets = 0;
    for (const f of srv.files) {
      const { events } = await readAllEvents(f);
      assert.equal(events[0].type, EventType.STREAM_INFO);
      packets += events.filter((e) => e.type === EventType.OPUS_PACKET_RECEIVED).length;
    }
    assert.equal(packets, 10);
  });

  it('keeps serving clients when the event file cannot be written, counting the error', async () => {
    const srv = make({ file: { path: path.join(tmp, 'no-such-dir', 'x.xcev') } });
    const fileError = once(srv, 'fileError');
    const { port } = await srv.listen();
    const [err] = await fileError;
    assert.match((err as Error).message, /no-such-dir/);
    assert.equal(srv.stats.fileErrors, 1);
    const c = await connected(srv, port);
    sockets.push(c.socket);
    srv.opusPacketReceived(srv.channelIdFor('ian', 1), 1, 0, 1, Buffer.from([1]));
    await c.waitFor(3);
    assert.equal(c.events[2].type, EventType.OPUS_PACKET_RECEIVED);
  });

  it('ignores calls after close and closes twice without error', async () => {
    const srv = make({ file: { path: path.join(tmp, 'closed.xcev') } });
    await srv.listen();
    await srv.close();
    await srv.close();
    srv.opusPacketReceived(srv.channelIdFor('x', 1), 1, 0, 1, Buffer.from([1]));
    assert.equal(srv.stats.events, 0);
  });
});

// Engine tests: the packet ring and the mix engine on its own thread (the mixer node's default).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createPacketRing, PacketRingReader, PacketRingWriter } from '../../runtime/audio/packet-ring';
import { createMixEngine, MixEngine } from '../../runtime/audio/mix-engine';
import { MixerConfigError, MixResult } from '../../runtime/audio/mixer';
import { isSharedMix } from '../../runtime/audio/shared-mix';
import { PlayoutPacketError } from '../../runtime/audio/playout';
import { FrameClock, nowMicros } from '../../runtime/clock';
import { header, s16Const, f32 } from './util';

describe('packet ring', () => {
  it('hands every packet back in order with its header, user id and bytes, across the wrap, and drops (counted) when full', () => {
    const shared = createPacketRing(65536);
    const w = new PacketRingWriter(shared);
    const r = new PacketRingReader(shared);
    const users = ['alice', 'bøb', 'carol-with-a-long-name-🎻'];
    let written = 0;
    let read = 0;
    const got: Array<{ u: string; seq: number; track: number; codec: string; ch: number; fs: number; rate: number; arrival: number; data: Buffer }> = [];
    // ~300 bytes per packet: 65536 bytes wrap every ~200 packets; 2000 packets wrap ten times.
    for (let k = 0; k < 2000; k++) {
      const data = Buffer.alloc(100 + (k % 250), k & 0xff);
      const ok = w.write(users[k % 3], header(k, { trackId: k % 5, codec: k % 2 ? 'opus' : 'pcm_s16le', channels: 1 + (k % 2), frameSamples: 480 + k, sampleRate: 48000 - k }), data, 1e15 + k * 0.5);
      assert.ok(ok);
      written++;
      if (k % 37 === 36) {
        read += r.drain((u, h, d, arrival) => got.push({ u, seq: h.seq, track: h.trackId, codec: h.codec, ch: h.channels, fs: h.frameSamples, rate: h.sampleRate, arrival, data: d }));
      }
    }
    read += r.drain((u, h, d, arrival) => got.push({ u, seq: h.seq, track: h.trackId, codec: h.codec, ch: h.channels, fs: h.frameSamples, rate: h.sampleRate, arrival, data: d }));
    assert.equal(read, written);
    got.forEach((g, k) => {
      assert.deepEqual(
        { u: g.u, seq: g.seq, track: g.track, codec: g.codec, ch: g.ch, fs: g.fs, rate: g.rate, arrival: g.arrival, len: g.data.length, byte: g.data[g.data.length - 1] },
        { u: users[k % 3], seq: k, track: k % 5, codec: k % 2 ? 'opus' : 'pcm_s16le', ch: 1 + (k % 2), fs: 480 + k, rate: 48000 - k, arrival: 1e15 + k * 0.5, len: 100 + (k % 250), byte: k & 0xff },
      );
    });
    // The reader keeps its copies: overwriting the ring leaves them as they were.
    const kept = got[5].data;
    for (let k = 0; k < 100; k++) w.write('x', header(k), Buffer.alloc(300, 0xee), 0);
    r.drain(() => undefined);
    assert.equal(kept[0], 5);
    // Full: nothing read, writes beyond the ring's size are dropped and counted, and the ring still works after.
    let ok = 0;
    for (let k = 0; k < 400; k++) if (w.write('alice', header(k), Buffer.alloc(1000), 0)) ok++;
    assert.ok(ok > 50 && ok < 66, `${ok} of 400 fitted in 64 KiB`);
    assert.equal(w.dropped, 400 - ok);
    assert.equal(r.drain(() => undefined), ok);
    assert.ok(w.write('alice', header(1), Buffer.alloc(1000), 0));
  });
});

describe('packet ring: a writer taking the ring on', () => {
  it('a second writer (the UDP thread started again) goes on where the first stopped: its packets read in order, under their own user and connection, none misnamed by a source number the reader cached', () => {
    const shared = createPacketRing(65536);
    const r = new PacketRingReader(shared);
    const got: string[] = [];
    const sink = (u: string, h: { seq: number }, _d: Buffer, _a: number, c: string) => got.push(`${u}/${c}/${h.seq}`);
    const w1 = new PacketRingWriter(shared);
    w1.write('alice', header(1), Buffer.alloc(100), 0, 'c1');
    w1.write('bob', header(2), Buffer.alloc(100), 0, 'c2');
    r.drain(sink);
    const w2 = new PacketRingWriter(shared);
    w2.write('carol', header(3), Buffer.alloc(100), 0, 'c3');
    w2.write('alice', header(4), Buffer.alloc(100), 0, 'c1');
    // Unread packets of the first writer are not overwritten either.
    w2.write('dave', header(5), Buffer.alloc(100), 0, 'c4');
    const w3 = new PacketRingWriter(shared);
    w3.write('erin', header(6), Buffer.alloc(100), 0, 'c5');
    r.drain(sink);
    assert.deepEqual(got, ['alice/c1/1', 'bob/c2/2', 'carol/c3/3', 'alice/c1/4', 'dave/c4/5', 'erin/c5/6']);
  });
});

describe('packet ring: connections', () => {
  it('carries each packet\'s connection id, and a refused packet\'s news (its header as claimed and the reason)', () => {
    const shared = createPacketRing(65536);
    const w = new PacketRingWriter(shared);
    const r = new PacketRingReader(shared);
    w.write('alice', header(1), Buffer.alloc(10, 1), 5, 'c1');
    w.write('alice', header(2), Buffer.alloc(10, 2), 6, 'c2');
    w.writeRefused('alice', header(3, { sampleRate: 44100, frameSamples: 441 }), 'stream is 44100 Hz', 7, 'c2');
    w.write('alice', header(4), Buffer.alloc(10, 4), 8);
    const got: unknown[] = [];
    r.drain((u, h, d, at, c) => got.push(['audio', u, c, h.seq, d[0], at]), (u, h, reason, at, c) => got.push(['refused', u, c, h.seq, h.sampleRate, reason, at]));
    assert.deepEqual(got, [
      ['audio', 'alice', 'c1', 1, 1, 5], ['audio', 'alice', 'c2', 2, 2, 6],
      ['refused', 'alice', 'c2', 3, 44100, 'stream is 44100 Hz', 7], ['audio', 'alice', '', 4, 4, 8],
    ]);
  });
});

function collect(engine: MixEngine, frames: number): Promise<MixResult[]> {
  return new Promise((resolve, reject) => {
    const out: MixResult[] = [];
    engine.on('error', reject);
    engine.on('mix', (r) => {
      if (r.used.length === 0) return;
      out.push(r);
      if (out.length === frames) resolve(out);
    });
  });
}

describe('mix engine on its own thread', function () {
  this.timeout(30000);
  let engine: MixEngine | null = null;
  afterEach(() => { engine?.close(); engine = null; });

  it('lets its event loop turn about once a second, so the native decoders of dropped tracks are freed', async () => {
    // Node-API finalizers (@discordjs/opus frees a decoder in its finalizer) run on the thread's event loop, not in
    // the GC: a mix loop that never turned kept every decoder it made, ~36 KB a track (the soak's RSS growth).
    const e = createMixEngine({ channels: 1 });
    engine = e;
    const seqs: number[] = [];
    e.on('mix', (r: MixResult) => seqs.push(r.seq));
    e.start();
    await new Promise((r) => setTimeout(r, 2600));
    assert.ok(e.loopTurns >= 1, `the mix thread's event loop turned ${String(e.loopTurns)} times in 2.6 s`);
    // The turns cost the mix nothing: every frame is there, in order.
    assert.ok(seqs.length > 150);
    seqs.forEach((s, i) => assert.equal(s, seqs[0] + i));
  });

  it('checks options, packets and controls where they are given, naming the field', () => {
    assert.throws(() => createMixEngine({ channels: 9 }), (e: unknown) => e instanceof MixerConfigError && e.field === 'channels');
    engine = createMixEngine({ channels: 1 });
    engine.start();
    assert.throws(() => engine!.push('a', header(0, { channels: 0 }), s16Const(480, 1), 0), (e: unknown) => e instanceof PlayoutPacketError && e.field === 'channels');
    assert.throws(() => engine!.push('a', header(0), Buffer.alloc(10), 0), (e: unknown) => e instanceof PlayoutPacketError && e.field === 'data');
    assert.throws(() => engine!.setGain('a', -1), (e: unknown) => e instanceof MixerConfigError && e.field === 'gain');
    assert.throws(() => engine!.setPan('a', 2), (e: unknown) => e instanceof MixerConfigError && e.field === 'pan');
    assert.throws(() => engine!.setMaster(NaN), (e: unknown) => e instanceof MixerConfigError && e.field === 'masterGain');
  });

  it('mixes what the event loop pushes, mix-minus included, and applies a gain from the frame its params say', async () => {
    // 20 ms frames and a 2-frame target: the test answers each mix with the next packets, and a loaded machine's
    // event loop may answer a frame late without the packets arriving after their frame.
    const FS = 960;
    engine = createMixEngine({ channels: 1, frameSamples: FS, mixMinus: true, playout: { targetDepthFrames: 2 } });
    const e = engine;
    const params: Array<{ fromFrameSeq: number; tracks: Array<{ userId: string; gain: number }> }> = [];
    e.on('params', (p) => params.push(p));
    const got = collect(e, 60);
    // Two users, constant s16 frames 1000 and 3000, one packet each per mixed frame (paced by the engine's own
    // output, so the depth stays at its target whatever the machine's load); bob's gain halves after 25.
    let k = 0;
    const push = () => {
      const now = nowMicros();
      e.push('alice', header(k, { frameSamples: FS }), s16Const(FS, 1000), now);
      e.push('bob', header(k, { frameSamples: FS }), s16Const(FS, 3000), now);
      if (++k === 25) e.setGain('bob', 0.5);
    };
    e.on('mix', () => { if (k < 200) push(); });
    push();
    e.start();
    const mixes = await got;
    const value = (b: Buffer) => Math.round(f32(b)[0] * 32768);
    const gainAt = params.find((p) => p.tracks.some((x) => x.userId === 'bob' && x.gain === 0.5));
    assert.ok(gainAt, `params after the gain change: ${JSON.stringify(params)}`);
    let before = 0;
    let after = 0;
    for (const m of mixes) {
      const both = m.used.entries().filter((u) => u.seq !== null).length === 2;
      if (!both) continue;
      const bob: number = m.seq >= gainAt.fromFrameSeq ? 1500 : 3000;
      if (bob === 1500) after++; else before++;
      assert.equal(value(m.mix), 1000 + bob, `frame ${m.seq}`);
      assert.equal(value(m.perUser!.get('alice')!), bob, `alice's mix-minus, frame ${m.seq}`);
      assert.equal(value(m.perUser!.get('bob')!), 1000, `bob's mix-minus, frame ${m.seq}`);
      // Every mix is a Buffer of its own (transferred from the thread), as the node sends it.
      assert.equal(m.mix.length, 960 * 4);
    }
    assert.ok(before > 5 && after > 5, `${before} frames before the gain change, ${after} after`);
    for (let i = 1; i < mixes.length; i++) assert.equal(mixes[i].seq, mixes[i - 1].seq + 1);
    const states = engine.tracks();
    assert.ok(states.length === 2 || states.length === 0);
  });

  it('mix-minus of users that added nothing (muted) is the mix itself, one Buffer from the thread for all of them, marked shared', async () => {
    const FS = 960;
    engine = createMixEngine({ channels: 1, frameSamples: FS, mixMinus: true, playout: { targetDepthFrames: 2 } });
    const e = engine;
    e.setMute('carl', true);
    e.setMute('dora', true);
    e.setMute('fay', true);
    const got = collect(e, 30);
    let k = 0;
    const push = () => {
      const now = nowMicros();
      for (const [u, v] of [['alice', 1000], ['bob', 3000], ['carl', 500], ['dora', 700]] as const) e.push(u, header(k, { frameSamples: FS }), s16Const(FS, v), now);
      // And in another room: fay muted hears room r1's mix itself.
      e.push('eve', header(k, { frameSamples: FS }), s16Const(FS, 300), now, 'c-eve', 'r1');
      e.push('fay', header(k, { frameSamples: FS }), s16Const(FS, 900), now, 'c-fay', 'r1');
      k++;
    };
    e.on('mix', () => { if (k < 100) push(); });
    push();
    e.start();
    const mixes = await got;
    const value = (b: Buffer) => Math.round(f32(b)[0] * 32768);
    let checked = 0;
    for (const m of mixes) {
      const r1 = m.rooms?.find((x) => x.room === 'r1');
      if (m.used.entries().filter((u) => u.seq !== null).length !== 4 || !r1 || r1.used.entries().some((u) => u.seq === null)) continue;
      assert.equal(r1.perUser!.get('fay'), r1.mix, `fay hears r1's mix itself, frame ${m.seq}`);
      assert.ok(isSharedMix(r1.mix));
      assert.equal(value(r1.mix), 300);
      assert.equal(value(r1.perUser!.get('eve')!), 0);
      checked++;
      assert.equal(value(m.mix), 4000, `frame ${m.seq}`);
      assert.equal(m.perUser!.get('carl'), m.mix, `carl hears the mix itself, frame ${m.seq}`);
      assert.equal(m.perUser!.get('dora'), m.mix, `dora too, frame ${m.seq}`);
      assert.ok(isSharedMix(m.mix));
      assert.equal(value(m.perUser!.get('alice')!), 3000);
      assert.equal(value(m.perUser!.get('bob')!), 1000);
      assert.ok(!isSharedMix(m.perUser!.get('alice')!));
    }
    assert.ok(checked > 10, `${checked} frames with every track`);
  });

  it('starts its thread again when it dies, and the mix goes on', async () => {
    const e = createMixEngine({ channels: 1, playout: { targetDepthFrames: 1 } });
    engine = e;
    const errors: string[] = [];
    e.on('error', (err) => errors.push(err.message));
    let playing = 0;
    e.on('mix', (r) => { if (r.used.entries().some((u) => u.seq !== null)) playing++; });
    e.start();
    let k = 0;
    const t = setInterval(() => { try { e.push('alice', header(k++), s16Const(480, 1000), nowMicros()); } catch { /* closed */ } }, 10);
    try {
      const until = async (f: () => boolean) => { for (let i = 0; i < 500 && !f(); i++) await new Promise((r) => setTimeout(r, 10)); };
      await until(() => playing >= 10);
      assert.ok(playing >= 10, `${playing} frames with alice before the kill`);
      await (e as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
      const before = playing;
      await until(() => playing >= before + 10);
      assert.ok(playing >= before + 10, `${playing - before} frames with alice after the restart`);
      assert.equal((e as unknown as { restarts: number }).restarts, 1);
      assert.ok(errors.some((m) => m.includes('starting it again')), errors.join('; '));
    } finally {
      clearInterval(t);
    }
  });

  it('attachRing: a second writer\'s ring is mixed with the main one, kept across a restart of the thread (taken on where it was read), and detach() stops it', async () => {
    const e = createMixEngine({ channels: 1, playout: { targetDepthFrames: 1 } });
    engine = e;
    e.on('error', () => { /* the restart below says so */ });
    const att = e.attachRing(65536);
    assert.equal(att.sampleRate, 48000);
    // Another thread's writer in the real use (the UDP ingest); here the test writes into the same shared memory.
    const w = new PacketRingWriter(att.ring);
    const with_ = { bob: 0, alice: 0 };
    e.on('mix', (r) => { for (const u of r.used.entries()) if (u.seq !== null && (u.userId === 'bob' || u.userId === 'alice')) with_[u.userId]++; });
    e.start();
    let k = 0;
    const t = setInterval(() => {
      try { e.push('alice', header(k), s16Const(480, 1000), nowMicros()); } catch { /* closed */ }
      w.write('bob', header(k), s16Const(480, 2000), nowMicros(), 'c-bob');
      k++;
    }, 10);
    const until = async (f: () => boolean) => { for (let i = 0; i < 500 && !f(); i++) await new Promise((r) => setTimeout(r, 10)); };
    try {
      await until(() => with_.bob >= 10 && with_.alice >= 10);
      assert.ok(with_.bob >= 10 && with_.alice >= 10, `bob ${with_.bob}, alice ${with_.alice}: both rings mixed`);
      await (e as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
      const before = with_.bob;
      await until(() => with_.bob >= before + 10);
      assert.ok(with_.bob >= before + 10, `${with_.bob - before} frames with bob after the restart: the attached ring was posted again`);
      assert.equal(w.dropped, 0, 'the ring was drained all along');
      att.detach();
      // Detached: nothing drains it any more, so a ring of 64 KiB fills (1 KB packets) and its writer drops.
      await until(() => w.dropped > 0);
      assert.ok(w.dropped > 0, 'still drained after detach()');
    } finally {
      clearInterval(t);
    }
  });

  it('pins its thread to the CPUs asked for (taskset), and says so', async function () {
    const allowed = (pid: string) => fs.readFileSync(`/proc/self/task/${pid}/status`, 'utf8').match(/Cpus_allowed_list:\s*(\S+)/)?.[1];
    const before = new Set(fs.readdirSync('/proc/self/task'));
    const e = createMixEngine({ channels: 1, cpus: '0' });
    engine = e;
    e.start();
    const said = () => (e as unknown as { priority: { cpus: string | null; error: string | null } | null }).priority;
    for (let i = 0; i < 300 && !said(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(said(), 'the thread said what its priority became');
    assert.equal(said()!.cpus, '0', `pinned (${said()!.error ?? 'no error'})`);
    // The new thread of this process that is allowed CPU 0 only: the mix thread.
    const pinned = fs.readdirSync('/proc/self/task').filter((t) => !before.has(t) && allowed(t) === '0');
    assert.equal(pinned.length, 1, `threads allowed only CPU 0: ${pinned.join(', ')}`);
  });

  it('keeps its ticks on time while the event loop is blocked: the ticks due in a 150 ms stall are made during it (a clock on the event loop cannot)', async () => {
    // The same stall under the thread engine and under a FrameClock of the same period on the event loop (how the
    // mixer ticked before it had a thread): the lateness of the ticks due during the stall.
    const lateness = async (source: MixEngine | FrameClock): Promise<number> => {
      const ticks: Array<[number, number]> = [];
      let waiting: { n: number; resolve: () => void } | null = null;
      source.on('tick', (i: number, late: number) => {
        ticks.push([i, late]);
        if (waiting && ticks.length >= waiting.n) { waiting.resolve(); waiting = null; }
      });
      const tickCount = (n: number) => new Promise<void>((resolve) => { waiting = { n, resolve }; });
      let reached = tickCount(5);
      source.start();
      await reached;
      const first = ticks.length;
      reached = tickCount(first + 25);
      const end = Date.now() + 150;
      while (Date.now() < end) { /* the event loop stalls 150 ms, as under a long GC or a slow node */ }
      await reached;
      source.stop();
      return Math.max(...ticks.slice(first, first + 10).map(([, late]) => late));
    };
    const e = createMixEngine({ channels: 1 });
    engine = e;
    const thread = await lateness(e);
    e.close();
    engine = null;
    const loop = await lateness(new FrameClock({ periodMs: 10 }));
    // On the event loop the first tick due in the stall runs when the stall ends, ~150 ms late (a loaded machine
    // only adds to that); made on the thread it is late only by the thread's own wake-up. Half the stall is the
    // line between the two, so the thread may be slowed by a loaded machine many times over before this fails.
    assert.ok(loop > 100, `clock on the event loop: the ticks due in the stall ran ${loop.toFixed(1)} ms late at most`);
    assert.ok(thread < 75, `thread engine: the ticks due in the stall ran ${thread.toFixed(2)} ms late at most`);
  });
});

// The operator console's part of the mix engine (issue 12): the binary meter frame, meters measured in the tick
// (pre-fader per track, post-master per room, the AES17 law), per-room masters, monitor feeds (PFL and room mix),
// and the mix thread delivering all of it.
import assert from 'node:assert/strict';
import { Mixer, MixerConfigError, MixerOptions, MixResult, MAX_MONITORS } from '../../runtime/audio/mixer';
import { createMixEngine, MixEngine } from '../../runtime/audio/mix-engine';
import { streamKey } from '../../runtime/audio/stream-key';
import { nowMicros } from '../../runtime/clock';
import {
  decodeMeterFrame, encodeMeterFrame, encodeMeterMeasurements, MeterFrameError, MeterLayout, METER_FRAME_MAGIC, METER_NEG_INF,
  levelDb, peakDb, toCentiDb, fromCentiDb,
} from '../../runtime/console/meter-frame';
import { f32, header, s16Const } from './util';

const RATE = 48000;
const FS = 480;
const T0 = 1_700_000_000_000_000;
const FRAME_US = 10_000;

function mixer(over: MixerOptions = {}): Mixer {
  return new Mixer({ sampleRate: RATE, channels: 2, frameSamples: FS, ...over, playout: { targetDepthFrames: 1, adaptive: false, ...over.playout } });
}

/** Stereo f32 frame k of a sine (amplitude `amp`, `freq` Hz), both channels alike unless `right` says otherwise. */
function sine(k: number, amp: number, freq = 1000, right = amp): Buffer {
  const a = new Float32Array(FS * 2);
  for (let i = 0; i < FS; i++) {
    const s = Math.sin((2 * Math.PI * freq * (k * FS + i)) / RATE);
    a[2 * i] = amp * s;
    a[2 * i + 1] = right * s;
  }
  return Buffer.from(a.buffer);
}

const f32h = (seq: number) => ({ seq, captureTime: 0, codec: 'pcm_f32le' as const, sampleRate: RATE, channels: 2, frameSamples: FS, trackId: 1 });
const dB = (g: number) => 20 * Math.log10(g);

describe('console: meter frame', () => {
  it('round-trips every value at centi-dB precision, −∞ as −32768, the clamps, and the header exactly per the brief', () => {
    const f = {
      layoutId: 0xfffffffe, frameSeq: 123456,
      tracks: [{ peak: -12, level: -12.004 }, { peak: -Infinity, level: -Infinity }, { peak: 30, level: -130 }, { peak: 0, level: 3.0103 }],
      rooms: [{ peak: -0.006, level: -60.126 }, { peak: NaN, level: 24 }],
    };
    const b = encodeMeterFrame(f);
    assert.equal(b.length, 16 + 4 * 6);
    assert.deepEqual([b[0], b[1], b.readUInt16LE(2), b.readUInt16LE(4), b.readUInt16LE(6), b.readUInt32LE(8), b.readUInt32LE(12)], [METER_FRAME_MAGIC, 1, 4, 2, 0, 0xfffffffe, 123456]);
    assert.equal(b[0], 0x4d);
    assert.deepEqual([b.readInt16LE(16), b.readInt16LE(18), b.readInt16LE(20), b.readInt16LE(22), b.readInt16LE(24), b.readInt16LE(26)], [-1200, -1200, METER_NEG_INF, METER_NEG_INF, 2400, -12000]);
    const d = decodeMeterFrame(b);
    assert.deepEqual(d, {
      layoutId: 0xfffffffe, frameSeq: 123456,
      tracks: [{ peak: -12, level: -12 }, { peak: -Infinity, level: -Infinity }, { peak: 24, level: -120 }, { peak: 0, level: 3.01 }],
      rooms: [{ peak: -0.01, level: -60.13 }, { peak: -Infinity, level: 24 }],
    });
    // The frame seq is its low 32 bits; an empty frame is the header alone.
    assert.equal(decodeMeterFrame(encodeMeterFrame({ layoutId: 1, frameSeq: 2 ** 32 + 5, tracks: [], rooms: [] })).frameSeq, 5);
    assert.equal(encodeMeterFrame({ layoutId: 1, frameSeq: 0, tracks: [], rooms: [] }).length, 16);
    // The hot path's encoder (linear measurements) gives the same bytes as the dB one.
    const lin = encodeMeterMeasurements(7, 9, 1, 1, [10 ** (-12 / 20), 0], [10 ** (-15.0103 / 10), 0]);
    assert.ok(lin.equals(encodeMeterFrame({ layoutId: 7, frameSeq: 9, tracks: [{ peak: -12, level: -12 }], rooms: [{ peak: -Infinity, level: -Infinity }] })));
    assert.equal(lin.byteOffset, 0, 'a buffer of its own (transferable)');
    assert.equal(lin.buffer.byteLength, lin.length);
    // The law and the conversions.
    assert.equal(peakDb(0), -Infinity);
    assert.equal(levelDb(0), -Infinity);
    assert.ok(Math.abs(levelDb(0.5 * 0.25 * 0.25) - dB(0.25)) < 1e-9, 'a sine of amplitude A reads 20·log10 A');
    assert.equal(toCentiDb(-119.996), -12000);
    assert.equal(toCentiDb(-200), -12000);
    assert.equal(fromCentiDb(-32768), -Infinity);
  });

  it('refuses a frame that is not one, naming what is wrong', () => {
    const good = encodeMeterFrame({ layoutId: 1, frameSeq: 1, tracks: [{ peak: -1, level: -2 }], rooms: [{ peak: -3, level: -4 }] });
    const bad = (mutate: (b: Buffer) => Buffer, re: RegExp) => assert.throws(() => decodeMeterFrame(mutate(Buffer.from(good))), (e: unknown) => e instanceof MeterFrameError && re.test((e as Error).message));
    bad((b) => b.subarray(0, 10), /shorter than its 16-byte header/);
    bad((b) => { b[0] = 0x41; return b; }, /byte 0 is 0x41/);
    bad((b) => { b[1] = 2; return b; }, /version 2/);
    bad((b) => b.subarray(0, b.length - 1), /23 bytes, 1 tracks and 1 rooms take 24/);
    bad((b) => { b.writeUInt16LE(3, 2); return b; }, /3 tracks and 1 rooms take 32/);
    assert.throws(() => encodeMeterFrame({ layoutId: -1, frameSeq: 0, tracks: [], rooms: [] }), /layoutId/);
    // A Uint8Array view decodes as a Buffer does (the page's bytes).
    const u8 = new Uint8Array(good.length + 8);
    u8.set(good, 8);
    assert.deepEqual(decodeMeterFrame(u8.subarray(8)), decodeMeterFrame(good));
  });
});

describe('console: meters in the mixer', () => {
  it('a −12 dBFS sine reads −12 (level ± 0.05, peak −12), pre-fader per track; gain, pan, mute and master change the room meter only', () => {
    const m = mixer();
    assert.equal(m.meterEveryTicks, 4, '40 ms of 10 ms frames');
    const A = 10 ** (-12 / 20);
    m.setMetering(true);
    const frames: Array<{ r: MixResult; k: number }> = [];
    let layout: MeterLayout | undefined;
    for (let k = 0; k < 64; k++) {
      m.push('alice', f32h(k), sine(k, A), T0 + k * FRAME_US, 'c1');
      if (k === 24) m.setGain('alice', 0.5);
      if (k === 32) m.setPan('alice', -1);
      if (k === 40) { m.setPan('alice', 0); m.setMute('alice', true); }
      if (k === 48) { m.setMute('alice', false); m.setGain('alice', 1); m.setMaster(0.25); }
      if (k === 56) m.setMetering(false);
      const r = m.tick(T0 + k * FRAME_US);
      if (r.meters) {
        frames.push({ r, k });
        if (layout !== undefined && layout.layoutId === r.meterLayout!.layoutId) assert.equal(r.meterLayout, layout, 'the same layout object until it changes');
        layout = r.meterLayout;
      }
    }
    // Every 4th tick while on: ticks 3, 7, … 55; none after it went off.
    assert.deepEqual(frames.map((f) => f.k), [3, 7, 11, 15, 19, 23, 27, 31, 35, 39, 43, 47, 51, 55]);
    assert.deepEqual(layout!.tracks, [{ key: streamKey({ userId: 'alice', trackId: 1, connectionId: 'c1' }), userId: 'alice', trackId: 1, connectionId: 'c1', room: 'main' }]);
    assert.deepEqual(layout!.rooms, ['main']);
    const at = (k: number) => decodeMeterFrame(frames.find((f) => f.k === k)!.r.meters!);
    for (const k of [7, 11, 15, 19, 23, 27, 31, 35, 39, 43, 47, 51, 55]) {
      const d = at(k);
      assert.equal(d.layoutId, layout!.layoutId);
      assert.equal(d.frameSeq, k);
      // The track: pre-fader, the same whatever gain, pan, mute or master.
      assert.ok(Math.abs(d.tracks[0].level - -12) <= 0.05, `tick ${k}: level ${d.tracks[0].level}`);
      assert.equal(d.tracks[0].peak, -12, `tick ${k}: peak`);
    }
    const room = (k: number) => at(k).rooms[0];
    assert.ok(Math.abs(room(19).level - -12) <= 0.05 && room(19).peak === -12, 'unity: the room reads the track');
    assert.ok(Math.abs(room(31).level - (-12 + dB(0.5))) <= 0.05, `gain 0.5: ${room(31).level}`);
    // Hard left: the right channel silent, the mean over both channels halves (−3 dB more).
    assert.ok(Math.abs(room(39).level - (-12 + dB(0.5) - 3.0103)) <= 0.05, `pan −1: ${room(39).level}`);
    assert.deepEqual(room(47), { peak: -Infinity, level: -Infinity }, 'muted');
    assert.ok(Math.abs(room(55).level - (-12 + dB(0.25))) <= 0.05, `master 0.25: ${room(55).level}`);
    // The window is the samples since the previous frame: the one that saw the gain change (ticks 24…27) is all 0.5.
    assert.ok(Math.abs(room(27).level - (-12 + dB(0.5))) <= 0.05);
  });

  it('mono, an odd frame length, a muted track, a prebuffering track: the meters count every sample', () => {
    // 44.1 kHz, 441-sample frames (10 ms): meterEveryTicks 4; constant 0.5 reads peak −6.02, level −6.02 + 3.01.
    const m = new Mixer({ sampleRate: 44100, channels: 1, frameSamples: 441, playout: { targetDepthFrames: 1, adaptive: false } });
    m.setMetering(true);
    m.setMute('b', true);
    const half = Buffer.from(new Float32Array(441).fill(0.5).buffer);
    const h = (seq: number) => ({ seq, captureTime: 0, codec: 'pcm_f32le' as const, sampleRate: 44100, channels: 1, frameSamples: 441, trackId: 1 });
    let last: MixResult | null = null;
    for (let k = 0; k < 12; k++) {
      const now = T0 + k * FRAME_US;
      m.push('a', h(k), half, now, 'c1');
      m.push('b', h(k), half, now, 'c2');
      const r = m.tick(now);
      if (r.meters) last = r;
    }
    const d = decodeMeterFrame(last!.meters!);
    const c = (x: number) => Math.round(x * 100) / 100;
    assert.deepEqual(d.tracks, [{ peak: c(dB(0.5)), level: c(dB(0.5) + 3.0103) }, { peak: c(dB(0.5)), level: c(dB(0.5) + 3.0103) }], 'a muted track meters pre-fader');
    assert.deepEqual(d.rooms, [{ peak: c(dB(0.5)), level: c(dB(0.5) + 3.0103) }]);
  });

  it('a new layout (new layoutId) when a track or a room comes or goes; tracks in creation order, rooms main first', () => {
    const m = mixer({ trackTimeoutMs: 50 });
    m.setMetering(true);
    const layouts: MeterLayout[] = [];
    for (let k = 0; k < 40; k++) {
      const now = T0 + k * FRAME_US;
      if (k < 30) m.push('a', f32h(k), sine(k, 0.1), now, 'c1');
      if (k >= 8 && k < 16) m.push('b', f32h(k), sine(k, 0.2), now, 'c2', 'r1');
      const r = m.tick(now);
      if (r.meters) {
        if (layouts.at(-1) !== r.meterLayout) layouts.push(r.meterLayout!);
        const d = decodeMeterFrame(r.meters);
        assert.equal(d.tracks.length, r.meterLayout!.tracks.length);
        assert.equal(d.rooms.length, r.meterLayout!.rooms.length);
        assert.equal(d.layoutId, r.meterLayout!.layoutId);
      }
    }
    assert.deepEqual(layouts.map((l) => [l.tracks.map((t) => t.userId), l.rooms]), [
      [['a'], ['main']], [['a', 'b'], ['main', 'r1']], [['a'], ['main']], [[], ['main']],
    ]);
    assert.equal(new Set(layouts.map((l) => l.layoutId)).size, 4);
  });

  it('metering and monitors leave the mix bit for bit as it is (one mixer with both, one without)', () => {
    const plain = mixer({ mixMinus: true });
    const watched = mixer({ mixMinus: true });
    watched.setMetering(true);
    watched.setMonitor('op', { room: 'main', solo: [streamKey({ userId: 'a', trackId: 1, connectionId: 'c1' })] });
    watched.setMonitor('op2', { room: 'r1', solo: [] });
    for (let k = 0; k < 30; k++) {
      const now = T0 + k * FRAME_US;
      for (const m of [plain, watched]) {
        m.push('a', f32h(k), sine(k, 0.3, 440), now, 'c1');
        m.push('b', f32h(k), sine(k, 0.2, 660, 0.1), now, 'c2');
        m.push('c', f32h(k), sine(k, 0.25, 880), now, 'c3', 'r1');
        if (k === 10) { m.setGain('b', 0.7); m.setPan('a', 0.3); m.setMaster(0.8, 'r1'); }
      }
      const x = plain.tick(now);
      const y = watched.tick(now);
      assert.ok(x.mix.equals(y.mix), `frame ${k}: main`);
      assert.ok(x.rooms![0].mix.equals(y.rooms![0].mix), `frame ${k}: r1`);
      for (const [u, b] of x.perUser!) assert.ok(b.equals(y.perUser!.get(u)!), `frame ${k}: mix-minus of ${u}`);
      assert.equal(x.meters, undefined);
      assert.equal(x.monitors, undefined);
      assert.equal(y.monitors!.length, 2);
    }
  });
});

describe('console: per-room masters', () => {
  it("scale their room's mix and its mix-minus; a room never set follows main's; parameters list the rooms set", () => {
    const m = mixer({ channels: 1 });
    const h = (seq: number) => header(seq);
    const push = (k: number) => {
      const now = T0 + k * FRAME_US;
      m.push('a', h(k), s16Const(FS, 1000), now, 'c1');
      m.push('b', h(k), s16Const(FS, 2000), now, 'c2', 'r1');
      m.push('c', h(k), s16Const(FS, 4000), now, 'c3', 'r1', true);
      m.push('d', h(k), s16Const(FS, 3000), now, 'c4', 'r2');
      return m.tick(now);
    };
    const v = (b: Buffer | undefined) => (b === undefined ? NaN : f32(b)[0] * 32768);
    let r = push(0);
    assert.deepEqual([v(r.mix), v(r.rooms![0].mix), v(r.rooms![1].mix)], [1000, 6000, 3000]);
    assert.equal(m.parameters().rooms, undefined, 'no room master set: none listed');
    m.setMaster(0.5, 'r1');
    m.setMaster(0.25);
    r = push(1);
    assert.deepEqual([v(r.mix), v(r.rooms![0].mix), v(r.rooms![1].mix)], [250, 3000, 750], 'main 0.25, r1 0.5, r2 follows main');
    assert.equal(v(r.rooms![0].perUser!.get('c')), 1000, "c's mix-minus in r1: b × r1's master");
    assert.deepEqual(m.parameters().rooms, { r1: 0.5 });
    assert.equal(m.parameters().master, 0.25);
    assert.equal(m.roomMaster('r1'), 0.5);
    assert.equal(m.roomMaster('r2'), 0.25);
    m.setMaster(1, 'r2');
    m.setMaster(1);
    r = push(2);
    assert.deepEqual([v(r.mix), v(r.rooms![0].mix), v(r.rooms![1].mix)], [1000, 3000, 3000]);
    assert.deepEqual(m.parameters().rooms, { r1: 0.5, r2: 1 });
    // setMaster(g, 'main') is the main master.
    m.setMaster(0.5, 'main');
    assert.equal(m.parameters().master, 0.5);
    assert.throws(() => m.setMaster(1, 'no room'), (e: unknown) => e instanceof MixerConfigError && e.field === 'room');
    assert.throws(() => m.setMaster(-1, 'r1'), (e: unknown) => e instanceof MixerConfigError && e.field === 'masterGain');
  });

  it("the room meter is post-master: a room master moves its meter, not main's or the track's", () => {
    const m = mixer();
    m.setMetering(true);
    let d: ReturnType<typeof decodeMeterFrame> | null = null;
    for (let k = 0; k < 16; k++) {
      const now = T0 + k * FRAME_US;
      m.push('a', f32h(k), sine(k, 0.5), now, 'c1');
      m.push('b', f32h(k), sine(k, 0.5), now, 'c2', 'r1');
      if (k === 8) m.setMaster(0.5, 'r1');
      const r = m.tick(now);
      if (r.meters && k === 15) d = decodeMeterFrame(r.meters);
    }
    assert.deepEqual(d!.tracks.map((t) => t.peak), [dB(0.5), dB(0.5)].map((x) => Math.round(x * 100) / 100));
    assert.equal(d!.rooms[0].peak, Math.round(dB(0.5) * 100) / 100, 'main');
    assert.equal(d!.rooms[1].peak, Math.round(dB(0.25) * 100) / 100, 'r1 at master 0.5');
  });
});

describe('console: monitor feeds', () => {
  it('PFL: the soloed track as pulled, exactly (gain, pan, mute ignored); two soloed summed; no solo: the room mix as output', () => {
    const m = mixer({ channels: 2 });
    const ka = streamKey({ userId: 'a', trackId: 1, connectionId: 'c1' });
    const kb = streamKey({ userId: 'b', trackId: 1, connectionId: 'c2' });
    m.setGain('a', 0.3);
    m.setPan('a', -1);
    m.setMute('a', true);
    m.setMaster(0.5);
    m.setMaster(0.75, 'r1');
    m.setMonitor('pfl', { room: 'main', solo: [ka] });
    m.setMonitor('both', { room: 'main', solo: [ka, kb, 'no such track'] });
    m.setMonitor('main', { room: 'main', solo: [] });
    m.setMonitor('r1', { room: 'r1', solo: [] });
    m.setMonitor('empty', { room: 'r9', solo: [] });
    const inputs: Buffer[] = [];
    for (let k = 0; k < 10; k++) {
      const now = T0 + k * FRAME_US;
      const a = sine(k, 0.3, 440, 0.2);
      inputs.push(a);
      m.push('a', f32h(k), a, now, 'c1');
      m.push('b', f32h(k), sine(k, 0.25, 660), now, 'c2');
      m.push('c', f32h(k), sine(k, 0.4, 880), now, 'c3', 'r1');
      const r = m.tick(now);
      const mon = new Map(r.monitors!.map((x) => [x.listener, x.pcm]));
      assert.deepEqual([...mon.keys()], ['pfl', 'both', 'main', 'r1', 'empty']);
      const played = r.used.entries().find((u) => u.userId === 'a')!;
      if (played.seq === null) continue;
      assert.ok(mon.get('pfl')!.equals(inputs[played.seq]), `frame ${k}: PFL is a's frame exactly`);
      const sum = f32(mon.get('both')!);
      const fa = f32(inputs[played.seq]);
      const fb = f32(sine(played.seq, 0.25, 660));
      for (let i = 0; i < sum.length; i++) assert.equal(sum[i], Math.fround(fa[i] + fb[i]));
      assert.ok(mon.get('main')!.equals(r.mix), 'the main mix as output');
      assert.ok(mon.get('r1')!.equals(r.rooms![0].mix), "r1's mix as output");
      assert.ok(f32(mon.get('empty')!).every((x) => x === 0), 'a room without a track: silence');
      assert.notEqual(mon.get('main')!.buffer, r.mix.buffer, 'a buffer of its own');
    }
    m.setMonitor('pfl', null);
    assert.deepEqual(m.tick(T0 + 10 * FRAME_US).monitors!.map((x) => x.listener), ['both', 'main', 'r1', 'empty']);
    for (const l of ['both', 'main', 'r1', 'empty']) m.setMonitor(l, null);
    assert.equal(m.tick(T0 + 11 * FRAME_US).monitors, undefined, 'no listener: no monitor work');
  });

  it(`at most ${MAX_MONITORS} listeners; a bad listener or spec is refused naming the field`, () => {
    const m = mixer();
    for (let i = 0; i < MAX_MONITORS; i++) m.setMonitor(`l${i}`, { room: 'main', solo: [] });
    m.setMonitor('l0', { room: 'r1', solo: [] });
    assert.throws(() => m.setMonitor('one more', { room: 'main', solo: [] }), (e: unknown) => e instanceof MixerConfigError && e.field === 'listener');
    m.setMonitor('l3', null);
    m.setMonitor('one more', { room: 'main', solo: [] });
    const field = (f: () => void) => { try { f(); } catch (e) { return (e as MixerConfigError).field; } return null; };
    assert.equal(field(() => m.setMonitor('', null)), 'listener');
    assert.equal(field(() => m.setMonitor('x', { room: 'a b', solo: [] })), 'room');
    assert.equal(field(() => m.setMonitor('x', { room: 'main', solo: 'a' as never })), 'solo');
    assert.equal(field(() => m.setMonitor('x', { room: 'main', solo: [3 as never] })), 'solo[0]');
    assert.equal(field(() => m.setMonitor('x', 'main' as never)), 'monitor');
  });
});

describe('console: the mix thread', () => {
  let engine: MixEngine | null = null;
  afterEach(() => { engine?.close(); engine = null; });

  it('delivers a meter frame every 4 ticks at 10 ms (≥ 20/s) with its layout, and a monitor frame per tick per listener', async function () {
    this.timeout(20000);
    const e = (engine = createMixEngine({ channels: 1, playout: { targetDepthFrames: 2 } }));
    const ticks: number[] = [];
    const meters: Array<{ frame: Buffer; layout: MeterLayout; seq: number }> = [];
    const monitors: Array<{ listener: string; pcm: Buffer; seq: number }> = [];
    e.on('mix', (r: MixResult) => ticks.push(r.seq));
    e.on('meters', (frame, layout, seq) => meters.push({ frame, layout, seq }));
    e.on('monitor', (listener, pcm, seq) => monitors.push({ listener, pcm, seq }));
    let k = 0;
    e.on('mix', () => { if (k < 400) e.push('alice', header(k++), s16Const(480, 8192), nowMicros(), 'c1'); });
    e.push('alice', header(k++), s16Const(480, 8192), nowMicros(), 'c1');
    e.setMetering(true);
    e.setMonitor('op', { room: 'main', solo: [] });
    e.start();
    // 200 ticks after the first meter frame, counted by the mix events (no clock in the assertion).
    const deadline = Date.now() + 15000;
    while ((meters.length === 0 || ticks.length < 200 + ticks.indexOf(meters[0].seq) + 1) && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    const first = ticks.indexOf(meters[0].seq);
    const seqs = meters.map((x) => x.seq).filter((s) => s <= ticks[first + 200]);
    // One frame every meterEveryTicks = 4 ticks: 25/s at 10 ms, 50 over 200 ticks.
    assert.equal(seqs.length, 51, `meter frames over 200 ticks: ${seqs.length}`);
    seqs.forEach((s, i) => assert.equal(s, seqs[0] + 4 * i));
    // The layout object comes with the first frame of it and is the same after; a −12.04 dBFS constant (8192) reads so.
    const withTrack = meters.filter((x) => x.layout.tracks.length === 1);
    assert.ok(withTrack.length > 40);
    assert.ok(withTrack.every((x) => x.layout === withTrack[0].layout));
    assert.deepEqual(withTrack[0].layout.rooms, ['main']);
    assert.equal(withTrack[0].layout.tracks[0].userId, 'alice');
    const d = decodeMeterFrame(withTrack.at(-1)!.frame);
    assert.equal(d.layoutId, withTrack[0].layout.layoutId);
    assert.equal(d.tracks[0].peak, Math.round(dB(0.25) * 100) / 100);
    // A constant's RMS is its peak; the sine-referenced level is 3.01 dB above.
    assert.equal(d.tracks[0].level, Math.round((dB(0.25) + 3.0103) * 100) / 100);
    // The monitor: one frame per tick, the main mix.
    const monSeqs = monitors.map((x) => x.seq);
    const from = monSeqs[0];
    assert.deepEqual(monSeqs.slice(0, 100), Array.from({ length: 100 }, (_, i) => from + i));
    assert.ok(monitors.every((x) => x.listener === 'op' && x.pcm.length === 480 * 4));
    // Off: no more meters; the monitor gone, no more monitor frames. (Frames already on their way when the controls
    // were posted still come: the margin is 25 ticks of event-loop lag.)
    e.setMetering(false);
    e.setMonitor('op', null);
    const atOff = ticks.length;
    while (ticks.length < atOff + 40 && Date.now() < deadline + 5000) await new Promise((r) => setImmediate(r));
    assert.ok(ticks.length >= atOff + 40);
    const after = ticks[atOff + 25];
    const late = meters.filter((x) => x.seq > after).length + monitors.filter((x) => x.seq > after).length;
    assert.equal(late, 0, `meter or monitor frames after frame ${after}, when they were off`);
  });

  it('checks the console controls where they are given', () => {
    const e = (engine = createMixEngine({ channels: 1 }));
    for (let i = 0; i < MAX_MONITORS; i++) e.setMonitor(`l${i}`, { room: 'main', solo: [] });
    assert.throws(() => e.setMonitor('x', { room: 'main', solo: [] }), (err: unknown) => err instanceof MixerConfigError && err.field === 'listener');
    e.setMonitor('l1', null);
    e.setMonitor('x', { room: 'main', solo: [] });
    assert.throws(() => e.setMonitor('y', { room: '../', solo: [] }), (err: unknown) => err instanceof MixerConfigError && err.field === 'room');
    assert.throws(() => e.setMaster(0.5, 'a b'), (err: unknown) => err instanceof MixerConfigError && err.field === 'room');
  });
});

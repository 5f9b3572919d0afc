// Mixer: gain/pan/mute/master arithmetic, mix-minus, bit-exact unity path, track lifetime, mixFrame reproduces tick().
import assert from 'node:assert/strict';
import { Mixer, MixerOptions, MixerConfigError, TrackState, mixFrame } from '../../runtime/audio/mixer';
import { PlayoutConfigError, PlayoutFormatError } from '../../runtime/audio/playout';
import { f32ToS16, s16ToF32 } from '../../runtime/audio/pcm';
import { isSharedMix } from '../../runtime/audio/shared-mix';
import { header, s16Const, toneFrame, f32, s16ValueOf } from './util';

const T0 = 1_700_000_000_000_000; // µs since epoch: tests drive time explicitly
const FRAME_US = 10_000;

function mixer(over: MixerOptions = {}): Mixer {
  return new Mixer({ sampleRate: 48000, channels: 2, frameSamples: 480, ...over, playout: { targetDepthFrames: 1, adaptive: false, ...over.playout } });
}

/** Seeded pseudo-random s16 samples. */
function noiseS16(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n * 2);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    b.writeInt16LE((x >>> 16) - 32768, i * 2);
  }
  return b;
}

function f32Frame(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

describe('engine/mixer', () => {
  it('mixes two tones with gain, balance pan, mute and master exactly as the gain law says', () => {
    const m = mixer({ masterGain: 0.8 });
    m.setGain('a', 0.5); m.setPan('a', -0.5);
    m.setGain('b', 1.5); m.setPan('b', 1);
    const check = (k: number, expectL: (a: number, bl: number) => number, expectR: (a: number, br: number) => number) => {
      const a = f32(toneFrame(480, 1, k * 480, 440, 0.25));
      const bBuf = toneFrame(480, 2, k * 480, 660, 0.5);
      const b = f32(bBuf);
      for (let i = 0; i < 480; i++) b[i * 2 + 1] = -b[i * 2]; // right = −left, to tell the channels apart
      m.push('a', header(k, { codec: 'pcm_f32le', trackId: 1 }), f32Frame(a), T0 + k * FRAME_US);
      m.push('b', header(k, { codec: 'pcm_f32le', channels: 2, trackId: 1 }), bBuf, T0 + k * FRAME_US);
      const r = m.tick(T0 + k * FRAME_US);
      const mix = f32(r.mix);
      assert.equal(mix.length, 960);
      for (let i = 0; i < 480; i++) {
        assert.equal(mix[i * 2], Math.fround(expectL(a[i], b[i * 2])), `L[${i}] frame ${k}`);
        assert.equal(mix[i * 2 + 1], Math.fround(expectR(a[i], b[i * 2 + 1])), `R[${i}] frame ${k}`);
      }
      return r;
    };
    // a: L gain 0.5·1, R gain 0.5·(1−0.5); b: L gain 1.5·0, R gain 1.5·1 — accumulated from 0 in that order, then × master.
    const r = check(0, (a, bl) => 0.8 * (0 + a * 0.5 + bl * 0), (a, br) => 0.8 * (0 + a * 0.25 + br * 1.5));
    assert.deepEqual(r.used.entries().map((u) => [u.userId, u.seq, u.concealed]), [['a', 0, false], ['b', 0, false]]);
    m.setMute('a', true);
    check(1, (_a, bl) => 0.8 * (0 + bl * 0), (_a, br) => 0.8 * (0 + br * 1.5));
    m.setMute('a', false);
    m.setMaster(2);
    check(2, (a, bl) => 2 * (0 + a * 0.5 + bl * 0), (a, br) => 2 * (0 + a * 0.25 + br * 1.5));
    assert.ok(f32(check(3, (a, bl) => 2 * (0 + a * 0.5 + bl * 0), (a, br) => 2 * (0 + a * 0.25 + br * 1.5)).mix).some((v) => v !== 0));
  });

  it('passes a single s16 source at unity gain and centre pan bit-exact (s16 → f32 → mix → f32 → s16)', () => {
    const m = mixer();
    for (let k = 0; k < 20; k++) {
      const s16 = noiseS16(960, k + 1);
      m.push('solo', header(k, { channels: 2 }), s16, T0 + k * FRAME_US);
      const r = m.tick(T0 + k * FRAME_US);
      assert.ok(f32ToS16(f32(r.mix)).equals(s16), `frame ${k}`);
    }
    // The same through pcm_f32le, and a mono source reaching both channels.
    const mono = mixer();
    for (let k = 0; k < 5; k++) {
      const s16 = noiseS16(480, 100 + k);
      mono.push('solo', header(k, { codec: 'pcm_f32le' }), f32Frame(s16ToF32(s16)), T0 + k * FRAME_US);
      const out = f32ToS16(f32(mono.tick(T0 + k * FRAME_US).mix));
      for (let i = 0; i < 480; i++) {
        assert.equal(out.readInt16LE(i * 4), s16.readInt16LE(i * 2));
        assert.equal(out.readInt16LE(i * 4 + 2), s16.readInt16LE(i * 2));
      }
    }
  });

  it('mix-minus gives each user everyone but themselves (all of their tracks), computed as total − own', () => {
    const m = mixer({ mixMinus: true });
    m.push('a', header(0, { trackId: 1 }), s16Const(480, 1000), T0);
    m.push('a', header(0, { trackId: 2 }), s16Const(480, 500), T0);
    m.push('b', header(0), s16Const(480, 2000), T0);
    m.push('c', header(0), s16Const(480, 4000), T0);
    const r = m.tick(T0);
    assert.ok(r.perUser);
    assert.deepEqual([...r.perUser.keys()], ['a', 'b', 'c']);
    const every = (buf: Buffer, v: number) => f32(buf).every((x) => x === v / 32768);
    assert.ok(every(r.mix, 7500));
    assert.ok(every(r.perUser.get('a') as Buffer, 6000));
    assert.ok(every(r.perUser.get('b') as Buffer, 5500));
    assert.ok(every(r.perUser.get('c') as Buffer, 3500));
    assert.notEqual((r.perUser.get('a') as Buffer).buffer, r.mix.buffer, 'fresh Buffers');
    assert.equal(mixer().tick(T0).perUser, undefined, 'no mix-minus unless asked');
  });

  it('mix-minus: a user that added nothing to the frame (muted, gain 0, digital silence) gets the room mix itself, one Buffer for all, marked shared', () => {
    const m = mixer({ mixMinus: true });
    m.setMute('muted', true);
    m.setGain('zero', 0);
    const users: Array<[string, number]> = [['a', 1000], ['muted', 2000], ['zero', 3000], ['quiet', 0], ['b', 500]];
    for (let k = 0; k < 4; k++) {
      for (const [u, v] of users) m.push(u, header(k), s16Const(480, v), T0 + k * FRAME_US);
      const r = m.tick(T0 + k * FRAME_US);
      const pu = r.perUser as Map<string, Buffer>;
      assert.deepEqual([...pu.keys()], users.map((x) => x[0]));
      const every = (buf: Buffer, v: number) => f32(buf).every((x) => x === v / 32768);
      assert.ok(every(r.mix, 1500), `frame ${k}: the mix`);
      for (const u of ['muted', 'zero', 'quiet']) {
        assert.equal(pu.get(u), r.mix, `frame ${k}: ${u} hears the mix itself`);
      }
      assert.ok(isSharedMix(r.mix));
      // Those who are heard get a frame of their own, not marked.
      assert.ok(every(pu.get('a') as Buffer, 500) && every(pu.get('b') as Buffer, 1000));
      for (const u of ['a', 'b']) {
        assert.notEqual((pu.get(u) as Buffer).buffer, r.mix.buffer);
        assert.ok(!isSharedMix(pu.get(u) as Buffer));
      }
    }
    // Without such a user no mix is marked (nothing to share).
    const n = mixer({ mixMinus: true });
    n.push('a', header(0), s16Const(480, 1000), T0);
    n.push('b', header(0), s16Const(480, 2000), T0);
    assert.ok(!isSharedMix(n.tick(T0).mix));
  });

  it('mixFrame reproduces the live mix sample for sample from the same frames and settings', () => {
    const m = mixer({ masterGain: 0.7 });
    m.setGain('x', 0.9); m.setPan('x', 0.3);
    m.setGain('y', 1.1); m.setPan('y', -0.8);
    m.setGain('z', 0.6); m.setMute('z', true);
    for (let k = 0; k < 5; k++) {
      const frames = ['x', 'y', 'z'].map((_, j) => s16ToF32(noiseS16(960, 10 * k + j + 1)));
      frames.forEach((fr, j) => m.push(['x', 'y', 'z'][j], header(k, { codec: 'pcm_f32le', channels: 2 }), f32Frame(fr), T0 + k * FRAME_US));
      const live = m.tick(T0 + k * FRAME_US);
      const offline = mixFrame(
        live.used.entries().map((u, j) => ({ pcm: frames[j], ...m.userSettings(u.userId) })),
        2, 480, 0.7,
      );
      assert.ok(f32Frame(offline).equals(live.mix), `frame ${k}`);
    }
  });

  it('forgets a departed user with default settings (bounded after 1,000 users come and go), keeps one whose gain was set', () => {
    const m = mixer({ trackTimeoutMs: 100 });
    const users = () => (m as unknown as { users: Map<string, unknown> }).users.size;
    let now = T0;
    m.setGain('kept', 0.5);
    m.push('kept', header(0), s16Const(480, 3000), now);
    for (let u = 0; u < 1000; u++) {
      m.push(`u${u}`, header(0, { trackId: u % 3 }), s16Const(480, 3000), now);
      m.tick(now);
      now += 20_000;
    }
    for (let k = 0; k < 20; k++, now += FRAME_US) m.tick(now);
    assert.equal(m.tracks(now).length, 0);
    assert.equal(users(), 1, 'only the user whose gain was set is remembered');
    m.removeUser('u999');
    assert.equal(users(), 1);
    // The kept gain applies to the user's next track; a forgotten user comes back with the defaults.
    m.push('kept', header(1), s16Const(480, 3000), now);
    m.push('u5', header(1), s16Const(480, 3000), now);
    const p = m.parameters().tracks;
    assert.equal(p.find((t) => t.userId === 'kept')?.gain, 0.5);
    assert.deepEqual(m.userSettings('u5'), { gain: 1, pan: 0, muted: false });
  });

  it('conceals a track that stops, removes it after trackTimeoutMs, and takes it back when it resumes', () => {
    const m = mixer({ trackTimeoutMs: 100, connectedThresholdMs: 50 });
    const added: TrackState[] = [];
    const removed: TrackState[] = [];
    m.on('track-added', (s: TrackState) => added.push(s));
    m.on('track-removed', (s: TrackState) => removed.push(s));
    let now = T0;
    for (let k = 0; k < 5; k++, now += FRAME_US) {
      m.push('p', header(k), s16Const(480, 3000), now);
      assert.equal(m.tick(now).used.entry(0).seq, k);
    }
    const lastAt = now - FRAME_US;
    assert.equal(added.length, 1);
    const quiet = [];
    for (; removed.length === 0 && now < T0 + 1_000_000; now += FRAME_US) quiet.push(m.tick(now));
    assert.ok(quiet[0].used.entry(0).concealed, 'the first missing frame is concealed');
    assert.ok(f32(quiet[0].mix)[0] > 0, 'PCM concealment repeats the last frame, fading');
    assert.equal(m.tracks(now)[0], undefined);
    assert.equal(removed.length, 1);
    assert.equal(removed[0].userId, 'p');
    assert.equal(removed[0].connected, false);
    assert.ok(now - FRAME_US - lastAt > 100_000 && now - FRAME_US - lastAt <= 100_000 + FRAME_US, 'removed right after the timeout');
    assert.equal(quiet[quiet.length - 1].used.length, 0);
    // Back, with its seq restarted.
    m.push('p', header(0), s16Const(480, 1234), now);
    const r = m.tick(now);
    assert.equal(added.length, 2);
    assert.deepEqual(r.used.entries().map((u) => [u.userId, u.seq, u.concealed]), [['p', 0, false]]);
    assert.equal(f32(r.mix)[0], 1234 / 32768);
  });

  it("says per room which packet each track gave a frame, with the packet's arrival; the track table is the same object until a track comes or goes", () => {
    const m = mixer({ trackTimeoutMs: 25 });
    let now = T0;
    const arrivalOf = (k: number) => now - 1234 + k; // stamps of their own, not the tick's time
    const frames = [];
    for (let k = 0; k < 4; k++, now += FRAME_US) {
      m.push('a', header(k), s16Const(480, 1), arrivalOf(k), 'c1');
      if (k >= 1) m.push('b', header(100 + k, { codec: 'pcm_f32le', channels: 2, frameSamples: 480 }), Buffer.alloc(480 * 2 * 4), arrivalOf(k), 'c2');
      if (k === 0) m.push('r', header(7), s16Const(480, 1), arrivalOf(k), 'c3', 'r1');
      frames.push(m.tick(now));
    }
    const [f0, f1, f2, f3] = frames;
    assert.deepEqual(f0.used.entries(), [{ userId: 'a', trackId: 1, connectionId: 'c1', room: 'main', seq: 0, wireSeq: 0, concealed: false, codec: 'pcm_s16le', channels: 1, frameSamples: 480, arrival: T0 - 1234 }]);
    // b came at frame 1: a new table; then the same one while nobody comes or goes.
    assert.notEqual(f1.used.tracks, f0.used.tracks);
    assert.equal(f2.used.tracks, f1.used.tracks);
    assert.ok(Object.isFrozen(f2.used.tracks) && Object.isFrozen(f2.used.tracks[1]));
    assert.deepEqual([f2.used.userId(1), f2.used.connectionId(1), f2.used.seq(1), f2.used.wireSeq(1), f2.used.codec(1), f2.used.channels(1), f2.used.arrival(1)], ['b', 'c2', 102, 102, 'pcm_f32le', 2, T0 + 2 * FRAME_US - 1234 + 2]);
    assert.equal(f2.used.arrival(0), T0 + 2 * FRAME_US - 1234 + 2);
    assert.ok(f2.used.hasConnection('c2') && !f2.used.hasConnection('c3'));
    // Room r1 is a frame of its own; its track gave one packet, then is concealed (no arrival), then times out.
    assert.deepEqual(f0.rooms?.map((r) => [r.room, r.used.userId(0), r.used.seq(0), r.used.arrival(0)]), [['r1', 'r', 7, T0 - 1234]]);
    assert.deepEqual(f1.rooms?.map((r) => [r.used.seq(0), r.used.concealed(0), r.used.arrival(0)]), [[null, true, null]]);
    assert.equal(f3.rooms, undefined);
    assert.throws(() => f3.used.entry(5), TypeError);
    assert.equal(f3.used.at(5), undefined);
  });

  it('follows a user whose seq restarts without the track timing out', () => {
    const m = mixer();
    let now = T0;
    for (let k = 0; k < 50; k++, now += FRAME_US) { m.push('u', header(1000 + k), s16Const(480, 1), now); m.tick(now); }
    const seqs: Array<number | null> = [];
    for (let k = 0; k < 6; k++, now += FRAME_US) { m.push('u', header(k), s16Const(480, 2), now); seqs.push(m.tick(now).used.entry(0).wireSeq); }
    assert.equal(m.tracks(now)[0].resets, 1);
    assert.deepEqual(seqs.slice(-3), [3, 4, 5]);
  });

  it('reports per-track state for the admin aggregator', () => {
    const m = mixer();
    m.setGain('alice', 0.5); m.setPan('alice', 0.25); m.setMute('alice', true);
    for (let k = 0; k < 3; k++) m.push('alice', header(k, { trackId: 7 }), s16Const(480, 1), T0 + k * FRAME_US);
    m.tick(T0 + 2 * FRAME_US);
    const [s] = m.tracks(T0 + 3 * FRAME_US);
    assert.equal(s.userId, 'alice');
    assert.equal(s.trackId, 7);
    assert.equal(s.codec, 'pcm_s16le');
    assert.deepEqual([s.sampleRate, s.channels, s.frameSamples], [48000, 1, 480]);
    assert.deepEqual([s.gain, s.pan, s.muted], [0.5, 0.25, true]);
    assert.deepEqual([s.received, s.lastSeq, s.lost, s.bytesReceived], [3, 2, 0, 3 * 960]);
    assert.equal(s.lastPacketAt, (T0 + 2 * FRAME_US) / 1000);
    assert.equal(s.connected, true);
    assert.equal(m.tracks(T0 + 2 * FRAME_US + 600_000)[0].connected, false);
    m.removeUser('alice');
    assert.equal(m.tracks().length, 0);
  });

  it('refuses bad control values and unplayable streams, naming the field; a refused stream is a track that counts them', () => {
    const m = mixer();
    assert.throws(() => m.setPan('a', 1.5), (e: unknown) => e instanceof MixerConfigError && e.field === 'pan');
    assert.throws(() => m.setGain('a', Number.NaN), (e: unknown) => e instanceof MixerConfigError && e.field === 'gain');
    assert.throws(() => m.setMaster(-1), (e: unknown) => e instanceof MixerConfigError && e.field === 'masterGain');
    for (let k = 0; k < 3; k++) assert.throws(() => m.push('a', header(k, { sampleRate: 44100, frameSamples: 441 }), s16Const(441, 1), T0), PlayoutFormatError);
    // The stream shows, with what it claims and how many of its packets were refused; it plays nothing.
    const [s] = m.tracks(T0);
    assert.deepEqual([m.tracks().length, s.userId, s.sampleRate, s.refused, s.received], [1, 'a', 44100, 3, 0]);
    assert.match(String(s.refusedReason), /44100 Hz/);
    assert.equal(m.tick(T0).mix.readFloatLE(0), 0);
    assert.throws(() => new Mixer({ playout: { targetDepthFrames: 0, minDepthFrames: 1 } }), /targetDepthFrames/);
  });

  it('keys tracks by connection: two connections under one userId and trackId are two tracks; the user\'s controls reach both', () => {
    const m = mixer();
    for (let k = 0; k < 6; k++) {
      m.push('alice', header(k), s16Const(480, 1000), T0 + k * FRAME_US, 'c1');
      m.push('alice', header(5000 + k), s16Const(480, 3000), T0 + k * FRAME_US, 'c2');
    }
    const states = m.tracks(T0);
    assert.deepEqual(states.map((s) => [s.userId, s.trackId, s.connectionId, s.received, s.lastSeq]), [['alice', 1, 'c1', 6, 5], ['alice', 1, 'c2', 6, 5005]]);
    m.setGain('alice', 0.5);
    let r = m.tick(T0 + 6 * FRAME_US);
    for (let k = 0; k < 5 && r.used.entries().some((u) => u.seq === null); k++) r = m.tick(T0 + (7 + k) * FRAME_US);
    assert.deepEqual(r.used.entries().map((u) => u.connectionId), ['c1', 'c2']);
    assert.equal(s16ValueOf(r.mix), 2000, 'both tracks, each at the user\'s gain');
    assert.deepEqual(m.parameters().tracks.map((t) => [t.connectionId, t.gain]), [['c1', 0.5], ['c2', 0.5]]);
  });

  it('refuses the options that left the product by name: decodeWorkers, and the playout trims the profiles replaced', () => {
    assert.throws(() => new Mixer({ decodeWorkers: 2 } as never), (e: unknown) => e instanceof MixerConfigError && e.field === 'decodeWorkers');
    assert.throws(() => new Mixer({ playout: { trim: 'splice' } } as never), (e: unknown) => e instanceof PlayoutConfigError && e.field === 'trim');
    assert.equal(new Mixer({ playout: { profile: 'listener' } }).tracks().length, 0, 'a profile is an option');
  });
});

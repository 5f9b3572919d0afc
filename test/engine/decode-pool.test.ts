// Engine tests: the mixer's decode pool — tracks decoded on worker threads mix bit for bit as on one thread.
import assert from 'node:assert/strict';
import { Mixer, MixResult } from '../../runtime/audio/mixer';
import { OpusEncoder } from '../../runtime/audio/opus';
import { PlayoutPacketError } from '../../runtime/audio/playout';

const RATE = 48000;
const FS = 480;

/** Opus packets of a tone per user (different frequencies), 10 ms each. */
function packetsFor(freq: number, count: number): Buffer[] {
  const enc = new OpusEncoder({ channels: 2, frameSamples: FS, bitrate: 64000, complexity: 5 });
  const pcm = new Float32Array(FS * 2);
  const out: Buffer[] = [];
  for (let k = 0; k < count; k++) {
    for (let i = 0; i < FS; i++) {
      const v = 0.2 * Math.sin((2 * Math.PI * freq * (k * FS + i)) / RATE);
      pcm[2 * i] = v;
      pcm[2 * i + 1] = -v;
    }
    out.push(enc.encode(Buffer.from(pcm.buffer.slice(0))));
  }
  return out;
}

interface Event { user: string; seq: number; packet: Buffer }

/**
 * Per tick, the packets that arrive before it: every user sends one packet per tick, except that user 3's packet
 * 40 is lost, user 4's packets 50 and 51 swap, user 5's packet 60 comes 6 ticks late, user 6 stops at 120 (its
 * track goes dry, conceals, then idles) and user 7 joins at tick 30.
 */
function schedule(users: number, ticks: number): Event[][] {
  const packets = Array.from({ length: users }, (_, u) => packetsFor(300 + 97 * u, ticks + 10));
  const byTick: Event[][] = Array.from({ length: ticks }, () => []);
  for (let u = 0; u < users; u++) {
    for (let k = 0; k < ticks; k++) {
      if (u === 3 && k === 40) continue;
      if (u === 6 && k >= 120) continue;
      if (u === 7 && k < 30) continue;
      let at = k;
      if (u === 4 && k === 50) at = 51;
      if (u === 5 && k === 60) at = 66;
      if (at < ticks) byTick[at].push({ user: `user${u}`, seq: (4294967290 + k) >>> 0, packet: packets[u][k] });
    }
  }
  // user 4's 51 arrives before its 50 in tick 51
  for (const list of byTick) list.sort((a, b) => (a.user === 'user4' && b.user === 'user4' ? b.seq - a.seq : 0));
  return byTick;
}

function run(m: Mixer, byTick: Event[][]): MixResult[] {
  const out: MixResult[] = [];
  const t0 = 1_700_000_000_000_000;
  byTick.forEach((events, k) => {
    const now = t0 + k * 10_000;
    for (const e of events) {
      m.push(e.user, { seq: e.seq, codec: 'opus', sampleRate: RATE, channels: 2, frameSamples: FS, trackId: 1 }, e.packet, now - 500);
    }
    if (k === 90) m.setGain('user2', 0.5);
    out.push(m.tick(now));
  });
  return out;
}

describe('engine/decode-pool', function () {
  this.timeout(30000);

  it('mixes bit for bit as the single-threaded mixer, with the same frame entries, through loss, reordering, late packets, a stream that stops and one that joins (2 workers, mix-minus)', () => {
    const byTick = schedule(8, 200);
    const single = new Mixer({ sampleRate: RATE, channels: 2, frameSamples: FS, mixMinus: true });
    const pooled = new Mixer({ sampleRate: RATE, channels: 2, frameSamples: FS, mixMinus: true, decodeWorkers: 2 });
    try {
      const a = run(single, byTick);
      const b = run(pooled, byTick);
      let concealed = 0;
      for (let k = 0; k < a.length; k++) {
        assert.deepEqual(b[k].used, a[k].used, `frame ${k}: entries`);
        assert.ok(b[k].mix.equals(a[k].mix), `frame ${k}: mix differs`);
        for (const [user, buf] of a[k].perUser ?? []) assert.ok(b[k].perUser?.get(user)?.equals(buf), `frame ${k}: mix-minus for ${user} differs`);
        concealed += a[k].used.filter((u) => u.concealed).length;
      }
      assert.ok(concealed > 0, 'the schedule exercised concealment');
      // Statistics as of the last tick agree too.
      const strip = (t: ReturnType<Mixer['tracks']>[number]) => ({ ...t, lastPacketAt: 0, connected: false });
      assert.deepEqual(pooled.tracks().map(strip), single.tracks().map(strip));
    } finally {
      pooled.close();
    }
  });

  it('refuses a malformed packet on the calling thread, as without workers, and keeps mixing the others', () => {
    const m = new Mixer({ decodeWorkers: 1 });
    try {
      const p = packetsFor(440, 3);
      m.push('a', { seq: 0, codec: 'opus', sampleRate: RATE, channels: 2, frameSamples: FS, trackId: 1 }, p[0], 1);
      m.push('b', { seq: 0, codec: 'opus', sampleRate: RATE, channels: 2, frameSamples: FS, trackId: 1 }, p[0], 1);
      assert.throws(() => m.push('b', { seq: 1, codec: 'opus', sampleRate: RATE, channels: 3, frameSamples: FS, trackId: 1 }, p[1], 2), PlayoutPacketError);
      assert.throws(() => m.push('c', { seq: 0, codec: 'opus', sampleRate: RATE, channels: 2, frameSamples: FS, trackId: 1 }, Buffer.alloc(0), 2), PlayoutPacketError);
      assert.deepEqual(m.tracks().map((t) => t.userId), ['a', 'b']);
      assert.equal(m.tick(3).used.length, 2);
    } finally {
      m.close();
    }
  });
});

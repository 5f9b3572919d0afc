// The Opus stream decoder (the decode node's engine) with real libopus: a decoder per stream key, PLC for a seq gap
// up to maxConceal, no concealment for a restart or a late packet, frame sizes checked before libopus; and streamKey.
import assert from 'node:assert/strict';
import { StreamDecoders } from '../../runtime/audio/stream-decoder';
import { streamKey, streamLabel, StreamKeys, OncePerStream } from '../../runtime/audio/stream-key';
import { OpusEncoder, OpusDecoder, OpusFrameSizeError } from '../../runtime/audio/opus';
import { toneFrame } from './util';

const N = 480;
const info = (seq: number, frameSamples = N) => ({ seq, sampleRate: 48000, channels: 1, frameSamples });

function tonePackets(count: number, freq = 440, frameSamples = N): Buffer[] {
  const enc = new OpusEncoder({ sampleRate: 48000, channels: 1, frameSamples, bitrate: 64000 });
  return Array.from({ length: count }, (_, f) => enc.encode(toneFrame(frameSamples, 1, f * frameSamples, freq, 0.4)));
}

interface Frame { pcm: Buffer; seq: number; concealed: boolean }

function decodeAll(d: StreamDecoders, key: string, items: Array<[number, Buffer]>): Frame[] {
  const out: Frame[] = [];
  for (const [seq, p] of items) d.decode(key, info(seq), p, (pcm, s, concealed) => out.push({ pcm, seq: s, concealed }));
  return out;
}

describe('engine/stream-decoder', () => {
  it('a gap of two frames: two concealed frames with the missing seqs, then the packet — as libopus gives them', () => {
    const p = tonePackets(6);
    const d = new StreamDecoders({ maxConceal: 5 });
    const out = decodeAll(d, 'k', [[0, p[0]], [1, p[1]], [4, p[4]], [5, p[5]]]);
    assert.deepEqual(out.map((f) => [f.seq, f.concealed]), [[0, false], [1, false], [2, true], [3, true], [4, false], [5, false]]);
    assert.equal(d.concealed, 2);
    const ref = new OpusDecoder({ sampleRate: 48000, channels: 1 });
    const expect = [ref.decode(p[0]), ref.decode(p[1]), ref.conceal(N), ref.conceal(N), ref.decode(p[4]), ref.decode(p[5])];
    out.forEach((f, i) => assert.ok(f.pcm.equals(expect[i]), `frame ${i}`));
  });

  it('a gap longer than maxConceal, a packet from the past and a seq wrap: only the wrap\'s one missing frame is concealed', () => {
    const p = tonePackets(5);
    const d = new StreamDecoders({ maxConceal: 2 });
    const out = decodeAll(d, 'k', [[10, p[0]], [14, p[1]], [12, p[2]], [0xffffffff, p[3]], [1, p[4]]]);
    assert.deepEqual(out.map((f) => [f.seq, f.concealed]), [[10, false], [14, false], [12, false], [0xffffffff, false], [0, true], [1, false]]);
    assert.equal(d.concealed, 1);
  });

  it('maxConceal 0 conceals nothing', () => {
    const p = tonePackets(2);
    const d = new StreamDecoders({ maxConceal: 0 });
    assert.deepEqual(decodeAll(d, 'k', [[0, p[0]], [2, p[1]]]).map((f) => f.concealed), [false, false]);
  });

  it('streams by key: each has its own decoder and seq', () => {
    const a = tonePackets(3, 440);
    const b = tonePackets(3, 1000);
    const d = new StreamDecoders();
    const out: Record<string, Frame[]> = { a: [], b: [] };
    for (let f = 0; f < 3; f++) {
      d.decode('a', info(f), a[f], (pcm, seq, concealed) => out.a.push({ pcm, seq, concealed }));
      d.decode('b', info(f + 3), b[f], (pcm, seq, concealed) => out.b.push({ pcm, seq, concealed }));
    }
    assert.equal(d.size, 2);
    assert.equal(d.concealed, 0);
    const ra = new OpusDecoder({ sampleRate: 48000, channels: 1 });
    const rb = new OpusDecoder({ sampleRate: 48000, channels: 1 });
    for (let f = 0; f < 3; f++) {
      assert.ok(out.a[f].pcm.equals(ra.decode(a[f])));
      assert.ok(out.b[f].pcm.equals(rb.decode(b[f])));
    }
  });

  it('a packet whose TOC does not carry msg.audio.frameSamples is refused before libopus; the stream goes on unharmed', () => {
    const p = tonePackets(3);
    const d = new StreamDecoders();
    const out = decodeAll(d, 'k', [[0, p[0]]]);
    assert.throws(() => d.decode('k', info(1, 960), p[1], () => assert.fail('nothing sent')),
      (e: unknown) => e instanceof OpusFrameSizeError && /frameSamples 960/.test(e.message) && /480 samples/.test(e.message));
    assert.throws(() => d.decode('k', info(1), Buffer.from([0xfc]), () => assert.fail('nothing sent')), OpusFrameSizeError);
    out.push(...decodeAll(d, 'k', [[1, p[1]], [2, p[2]]]));
    const ref = new OpusDecoder({ sampleRate: 48000, channels: 1 });
    assert.deepEqual(out.map((f) => f.concealed), [false, false, false]);
    out.forEach((f, i) => assert.ok(f.pcm.equals(ref.decode(p[i])), `frame ${i}: as if the bad packets never came`));
  });

  it('a stream that changes channels gets a new decoder', () => {
    const d = new StreamDecoders();
    decodeAll(d, 'k', [[0, tonePackets(1)[0]]]);
    const enc = new OpusEncoder({ sampleRate: 48000, channels: 2, frameSamples: N });
    const out: Buffer[] = [];
    d.decode('k', { seq: 1, sampleRate: 48000, channels: 2, frameSamples: N }, enc.encode(toneFrame(N, 2, 0)), (pcm) => out.push(pcm));
    assert.equal(out[0].length, N * 2 * 4);
  });

  it('refuses a maxConceal that is not a non-negative integer', () => {
    assert.throws(() => new StreamDecoders({ maxConceal: -1 }), /maxConceal/);
    assert.throws(() => new StreamDecoders({ maxConceal: 1.5 }), /maxConceal/);
  });
});

describe('streamKey', () => {
  it('mix-minus streams (same sender, different receivers) are different streams; the same stream the same key', () => {
    assert.notEqual(streamKey({ userId: 'xcast', trackId: 1, targetUserId: 'ann' }), streamKey({ userId: 'xcast', trackId: 1, targetUserId: 'bob' }));
    assert.notEqual(streamKey({ userId: 'xcast', trackId: 1, targetUserId: 'ann' }), streamKey({ userId: 'xcast', trackId: 1 }));
    assert.notEqual(streamKey({ userId: 'ann', trackId: 1 }), streamKey({ userId: 'xcast', trackId: 1, targetUserId: 'ann' }));
    assert.notEqual(streamKey({ userId: 'ann', trackId: 1 }), streamKey({ userId: 'ann', trackId: 2 }));
    assert.equal(streamKey({ userId: 'ann', trackId: 1, targetUserId: '' }), streamKey({ userId: 'ann', trackId: 1 }));
    assert.equal(streamKey({ trackId: 1 }), streamKey({ userId: '', trackId: 1 }));
  });

  it('two connections under one userId and trackId are two streams; the same connection the same key', () => {
    assert.notEqual(streamKey({ userId: 'ann', trackId: 1, connectionId: 'c1' }), streamKey({ userId: 'ann', trackId: 1, connectionId: 'c2' }));
    assert.notEqual(streamKey({ userId: 'ann', trackId: 1, connectionId: 'c1' }), streamKey({ userId: 'ann', trackId: 1 }));
    assert.equal(streamKey({ userId: 'ann', trackId: 1, connectionId: '' }), streamKey({ userId: 'ann', trackId: 1 }));
    const keys = new StreamKeys(4);
    const k = keys.key('ann', 1, undefined, 'c1');
    assert.equal(k, streamKey({ userId: 'ann', trackId: 1, connectionId: 'c1' }));
    assert.equal(keys.key('ann', 1, undefined, 'c1'), k, 'made once, found again');
    for (let i = 0; i < 10; i++) assert.equal(keys.key(`u${i}`, i, 't', `c${i}`), streamKey({ userId: `u${i}`, trackId: i, targetUserId: 't', connectionId: `c${i}` }), 'bounded, still right');
  });

  it('no userId, receiver or connection, whatever characters they hold, makes two streams share a key', () => {
    const ids = [
      { userId: 'a', trackId: 1, targetUserId: 'b@c' }, { userId: 'a', trackId: 1, targetUserId: 'b', connectionId: 'c' },
      { userId: 'a', trackId: 1, connectionId: '1>1:b' }, { userId: 'a', trackId: 1, targetUserId: 'b', connectionId: '' },
      { userId: 'a', trackId: 1, targetUserId: 'b/2>c' }, { userId: 'a/1>b', trackId: 2, targetUserId: 'c' },
      { userId: 'a/1', trackId: 2 }, { userId: 'a', trackId: 12 }, { userId: '1:a', trackId: 1 }, { userId: 'a', trackId: 1, targetUserId: '1' },
    ];
    assert.equal(new Set(ids.map(streamKey)).size, ids.length);
  });

  it('labels a stream for an operator', () => {
    assert.equal(streamLabel({ userId: 'alice', trackId: 1 }), '"alice"/1');
    assert.equal(streamLabel({ userId: 'xcast', trackId: 1, targetUserId: 'bob' }), '"xcast"/1 → "bob"');
    assert.equal(streamLabel({ userId: 'alice', trackId: 1, connectionId: 'c-7' }), '"alice"/1 on "c-7"');
    // A userId off the wire cannot break the line or forge another one, and a long one is cut.
    assert.equal(streamLabel({ userId: 'a\n[error] forged\u001b[31m', trackId: 2 }), '"a\\n[error] forged\\u001b[31m"/2');
    const long = streamLabel({ userId: 'x'.repeat(500), trackId: 1 });
    assert.ok(long.length < 120 && long.includes('…(500 bytes)'), long);
  });
});

describe('OncePerStream', () => {
  it('says the first refusal of each stream and reason, counts every one', () => {
    const o = new OncePerStream(2);
    const said = [];
    for (let i = 0; i < 200; i++) if (o.refuse('a', 'sampleRate')) said.push(['a', 'sampleRate']);
    if (o.refuse('a', 'data')) said.push(['a', 'data']);
    if (o.refuse('b', 'sampleRate')) said.push(['b', 'sampleRate']);
    assert.deepEqual(said, [['a', 'sampleRate'], ['a', 'data'], ['b', 'sampleRate']]);
    assert.deepEqual([o.count('a'), o.count('b'), o.total], [201, 1, 202]);
    // Bounded: a third stream forgets the oldest, which is told again when it comes back.
    assert.equal(o.refuse('c', 'x'), true);
    assert.equal(o.refuse('a', 'sampleRate'), true);
  });

  it('tells at most maxToldPerMinute first refusals in any minute across streams (a flood of new streams is counted, not logged)', () => {
    let now = 1_000_000;
    const o = new OncePerStream(4096, 10, () => now);
    let told = 0;
    // 500 streams each refused once within one second: 10 told, 490 counted only.
    for (let i = 0; i < 500; i++) { if (o.refuse(`s${i}`, 'sampleRate')) told++; now += 2; }
    assert.deepEqual([told, o.untold, o.total], [10, 490, 500]);
    // A stream told already stays quiet; a new one waits for the minute to pass since the oldest telling.
    assert.equal(o.refuse('s0', 'sampleRate'), false);
    assert.equal(o.refuse('late', 'x'), false);
    now += 60_000;
    assert.equal(o.refuse('later', 'x'), true);
  });
});

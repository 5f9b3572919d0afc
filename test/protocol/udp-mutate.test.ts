// The UDP session table and the seed 002 ingest never throw for what a datagram holds: mutated and random datagrams
// (seeded, reproducible) are each dropped or accepted, an accepted AUDIO frame is a valid one, and a good frame after
// any of them is still accepted. No sockets: handle() is the whole of the per-datagram path.

import assert from 'node:assert/strict';
import {
  Codec, FrameType, encodeAudioFrame, encodeJsonFrame, encodePing, validateAudio,
} from '../../runtime/protocol/frame';
import { UdpSessionTable } from '../../runtime/protocol/udp-sessions';
import { Seed002Ingest } from '../../runtime/protocol/seed002';
import { opusEncode, prng } from './helpers';

describe('protocol/udp-mutate: handle() on mutated and random datagrams', () => {
  it('UdpSessionTable: 20000 mutated datagrams — no throw, every accepted AUDIO valid, the session keeps working', () => {
    const rnd = prng(13);
    const table = new UdpSessionTable({ token: 't' });
    const from = { address: '127.0.0.1', port: 5000 };
    const hello = encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId: 'fz', role: 'peer', token: 't' });
    assert.equal(table.handle(hello, from, 0).kind, 'hello');
    const pcm = encodeAudioFrame({ trackId: 1, seq: 1, captureTime: 1, sampleRate: 48000, channels: 2, codec: Codec.PCM_S16LE, frameSamples: 48 }, Buffer.alloc(192));
    const opus = encodeAudioFrame({ trackId: 2, seq: 1, captureTime: 1, sampleRate: 48000, channels: 1, codec: Codec.OPUS, frameSamples: 960 }, opusEncode(48000, 1, 960));
    const seeds = [hello, pcm, opus, encodePing(5), encodeJsonFrame(FrameType.METADATA, { a: [1, { b: 2 }] })];
    let accepted = 0;
    for (let i = 0; i < 20000; i++) {
      const base = seeds[Math.floor(rnd() * seeds.length)];
      let d: Buffer;
      const how = rnd();
      if (how < 0.1) {
        d = Buffer.from(Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256)));
      } else if (how < 0.3) {
        d = base.subarray(0, Math.floor(rnd() * base.length));
      } else {
        d = Buffer.from(base);
        const flips = 1 + Math.floor(rnd() * 4);
        for (let k = 0; k < flips; k++) d[Math.floor(rnd() * d.length)] = Math.floor(rnd() * 256);
      }
      const r = table.handle(d, from, i);
      if (r.kind === 'audio') {
        accepted++;
        validateAudio(r.header!, r.data!);
      }
      if (i % 1000 === 999) {
        // Whatever came before (a mutated HELLO may have replaced or refused the session), a HELLO and a good frame work.
        assert.equal(table.handle(hello, from, i).kind, 'hello');
        assert.equal(table.handle(pcm, from, i).kind, 'audio');
      }
    }
    assert.ok(table.stats.dropped > 10000, `dropped ${table.stats.dropped}`);
    assert.ok(accepted > 0);
    assert.ok(table.size <= 1);
  });

  it('Seed002Ingest: random sizes — no throw; dropped exactly when the audio is not whole samples', () => {
    const rnd = prng(2);
    const ingest = new Seed002Ingest({ channels: 2, format: 's16le' });
    for (let i = 0; i < 5000; i++) {
      const len = Math.floor(rnd() * 2000);
      const r = ingest.handle(Buffer.alloc(len), { address: '10.0.0.1', port: 1 + (i % 7) }, i);
      const ok = len > 4 && (len - 4) % 4 === 0;
      assert.equal(r.kind, ok ? 'audio' : 'drop', `length ${len}`);
      if (ok) assert.equal(r.header!.frameSamples, (len - 4) / 4);
    }
  });
});

// Seed 002's raw UDP formats (runtime/protocol/seed002.ts): "mono with sequence numbers" in, "stereo without sequence
// numbers" out — round trips, every size error, and a sender written here (not the project's code) over a real socket
// whose packets a real PlayoutBuffer plays back sample-exact.

import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import {
  Seed002Ingest, Seed002MonoIn, checkSeed002InOptions, type Seed002CloseReason, type Seed002Source, decodeSeed002Stereo, encodeSeed002Mono, encodeSeed002Stereo,
} from '../../runtime/protocol/seed002';
import { PlayoutBuffer, checkPlayoutPacket } from '../../runtime/audio/playout';
import { until } from './helpers';

function s16(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeInt16LE(v, 2 * i));
  return b;
}

function f32(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatLE(v, 4 * i));
  return b;
}

function readF32(b: Buffer): number[] {
  return Array.from({ length: b.length / 4 }, (_, i) => b.readFloatLE(4 * i));
}

describe('protocol/seed002: the seed\'s raw UDP formats', () => {
  it('mono with sequence numbers, s16le (default): round trip; the payload is the datagram\'s own bytes, no copy', () => {
    const dec = new Seed002MonoIn();
    assert.equal(dec.options.sampleRate, 44100);
    const samples = s16([0, 1, -1, 32767, -32768, 1234]);
    const dgm = encodeSeed002Mono(0xfffffffe, samples);
    assert.equal(dgm.length, 4 + 12);
    assert.equal(dgm.readUInt32BE(0), 0xfffffffe);
    const r = dec.decode(dgm);
    assert.ok(r.ok);
    assert.deepEqual(r.header, { seq: 0xfffffffe, codec: 'pcm_s16le', sampleRate: 44100, channels: 1, frameSamples: 6, trackId: 0 });
    assert.deepEqual(r.data, samples);
    assert.equal(r.data.buffer, dgm.buffer);
    assert.equal(checkPlayoutPacket(r.header, r.data, 44100), 6);
  });

  it('converts: s16le → pcm_f32le, s16be → pcm_s16le, f32le → pcm_s16le (clipped), f32le stays f32; 2 channels', () => {
    const toF32 = new Seed002MonoIn({ output: 'pcm_f32le', sampleRate: 48000 }).decode(encodeSeed002Mono(1, s16([16384, -32768, 0])));
    assert.ok(toF32.ok);
    assert.equal(toF32.header.codec, 'pcm_f32le');
    assert.deepEqual(readF32(toF32.data), [0.5, -1, 0]);
    assert.equal(checkPlayoutPacket(toF32.header, toF32.data, 48000), 3);

    const be = Buffer.alloc(4);
    be.writeInt16BE(-2, 0); be.writeInt16BE(300, 2);
    const fromBe = new Seed002MonoIn({ format: 's16be' }).decode(encodeSeed002Mono(2, be));
    assert.ok(fromBe.ok);
    assert.deepEqual(fromBe.data, s16([-2, 300]));

    const fromF = new Seed002MonoIn({ format: 'f32le', output: 'pcm_s16le' }).decode(encodeSeed002Mono(3, f32([0.25, 2, -2, NaN])));
    assert.ok(fromF.ok);
    assert.deepEqual(fromF.data, s16([8192, 32767, -32768, 0]));

    const stereo = new Seed002MonoIn({ format: 'f32le', channels: 2 }).decode(encodeSeed002Mono(4, f32([0.1, 0.2, 0.3, 0.4])));
    assert.ok(stereo.ok);
    assert.equal(stereo.header.codec, 'pcm_f32le');
    assert.equal(stereo.header.channels, 2);
    assert.equal(stereo.header.frameSamples, 2);
  });

  it('drops with a reason: no audio, a partial sample, more than 65535 samples', () => {
    const dec = new Seed002MonoIn();
    for (const n of [0, 3, 4]) {
      const r = dec.decode(Buffer.alloc(n));
      assert.ok(!r.ok);
      assert.equal(r.reason, 'short');
    }
    const odd = dec.decode(Buffer.alloc(4 + 7));
    assert.ok(!odd.ok);
    assert.equal(odd.reason, 'partial_sample');
    assert.match(odd.message, /7 bytes/);
    // 2 channels of s16: 4 bytes per sample frame — 6 bytes is one and a half.
    const half = new Seed002MonoIn({ channels: 2 }).decode(Buffer.alloc(4 + 6));
    assert.ok(!half.ok);
    assert.equal(half.reason, 'partial_sample');
    const f = new Seed002MonoIn({ format: 'f32le' }).decode(Buffer.alloc(4 + 6));
    assert.ok(!f.ok);
    assert.equal(f.reason, 'partial_sample');
    const big = dec.decode(Buffer.alloc(4 + 65536 * 2));
    assert.ok(!big.ok);
    assert.equal(big.reason, 'too_many_samples');
    assert.ok(dec.decode(Buffer.alloc(4 + 65535 * 2)).ok);
  });

  it('refuses bad options naming the field', () => {
    assert.throws(() => checkSeed002InOptions({ sampleRate: 1000 }), /^Error: sampleRate:/);
    assert.throws(() => checkSeed002InOptions({ channels: 9 }), /^Error: channels:/);
    assert.throws(() => checkSeed002InOptions({ format: 'u8' as never }), /^Error: format:/);
    assert.throws(() => checkSeed002InOptions({ output: 'opus' as never }), /^Error: output:/);
  });

  it('stereo without sequence numbers: s16 stereo as is, mono copied to both channels, f32 clipped; sizes checked', () => {
    const lr = s16([1, -1, 2, -2, 3, -3]);
    const out = encodeSeed002Stereo(lr, 2, 'pcm_s16le');
    assert.deepEqual(out, lr);
    assert.notEqual(out.buffer, lr.buffer);           // a fresh Buffer per datagram
    const d = decodeSeed002Stereo(out);
    assert.deepEqual(Array.from(d.left), [1, 2, 3]);
    assert.deepEqual(Array.from(d.right), [-1, -2, -3]);

    const mono = decodeSeed002Stereo(encodeSeed002Stereo(s16([5, -7, 32767]), 1, 'pcm_s16le'));
    assert.deepEqual(Array.from(mono.left), [5, -7, 32767]);
    assert.deepEqual(Array.from(mono.right), [5, -7, 32767]);

    const fl = decodeSeed002Stereo(encodeSeed002Stereo(f32([0.5, -0.5, 1.5, -1.5]), 2, 'pcm_f32le'));
    assert.deepEqual(Array.from(fl.left), [16384, 32767]);
    assert.deepEqual(Array.from(fl.right), [-16384, -32768]);
    const fm = decodeSeed002Stereo(encodeSeed002Stereo(f32([0.25]), 1, 'pcm_f32le'));
    assert.deepEqual([fm.left[0], fm.right[0]], [8192, 8192]);

    assert.throws(() => encodeSeed002Stereo(Buffer.alloc(6), 2, 'pcm_s16le'), /not a whole number/);
    assert.throws(() => encodeSeed002Stereo(Buffer.alloc(8), 3, 'pcm_s16le'), /1 or 2 channels/);
    assert.throws(() => encodeSeed002Stereo(Buffer.alloc(4 * 20000), 1, 'pcm_f32le'), /do not fit one UDP datagram/);
    assert.throws(() => decodeSeed002Stereo(Buffer.alloc(6)), /not a whole number/);
    assert.throws(() => encodeSeed002Mono(-1, Buffer.alloc(2)), /seq/);
  });

  it('an independent sender (written here) sends [seq BE][s16le] over UDP; a PlayoutBuffer plays it back sample-exact', async () => {
    const rate = 44100;
    const frame = 441;                                  // the seed's streamer: 10 ms chunks
    const rx = dgram.createSocket('udp4');
    const tx = dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve) => rx.bind(0, '127.0.0.1', resolve));
      const dec = new Seed002MonoIn({ sampleRate: rate });
      const pb = new PlayoutBuffer({ sampleRate: rate, channels: 1, frameSamples: frame, targetDepthFrames: 1, adaptive: false });
      const seqs: number[] = [];
      rx.on('message', (msg) => {
        const r = dec.decode(msg);
        if (!r.ok) throw new Error(r.reason);
        seqs.push(r.header.seq);
        pb.push(r.header, r.data, 0);
      });
      // The sender: a 440 Hz tone, each datagram built byte by byte with DataView (big-endian seq, little-endian samples).
      const tone = (n: number) => Math.round(12000 * Math.sin((2 * Math.PI * 440 * n) / rate));
      const first = 4_294_967_290;                        // wraps 2^32 on the way
      const packets = 10;
      for (let p = 0; p < packets; p++) {
        const ab = new ArrayBuffer(4 + frame * 2);
        const v = new DataView(ab);
        v.setUint32(0, (first + p) % 4294967296, false);
        for (let i = 0; i < frame; i++) v.setInt16(4 + 2 * i, tone(p * frame + i), true);
        await new Promise<void>((resolve, reject) => tx.send(new Uint8Array(ab), rx.address().port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
      }
      await until(() => seqs.length === packets, 5000, 'all packets');
      assert.deepEqual(seqs, Array.from({ length: packets }, (_, p) => (first + p) % 4294967296));
      for (let p = 0; p < packets; p++) {
        const f = pb.pull();
        assert.equal(f.concealed, false, `frame ${p} concealed`);
        const got = readF32(f.pcm).map((x) => Math.round(x * 32768));
        assert.deepEqual(got, Array.from({ length: frame }, (_, i) => tone(p * frame + i)), `frame ${p}`);
      }
      assert.equal(pb.stats().lost, 0);
    } finally {
      rx.close();
      tx.close();
    }
  });

  it('Seed002Ingest: one stream per source address and port over real sockets; bad sizes dropped; idle and bound end sources', async () => {
    const ingest = new Seed002Ingest({ sampleRate: 48000, idleTimeoutMs: 5000, maxSources: 2 });
    const opened: Seed002Source[] = [];
    const closed: Array<[string, Seed002CloseReason]> = [];
    ingest.on('open', (s) => opened.push(s));
    ingest.on('close', (s, reason) => closed.push([s.userId, reason]));
    const got: Array<{ userId: string; connectionId: string; seq: number; first: number }> = [];
    const drops: string[] = [];
    let now = 0;
    let n = 0;
    const rx = dgram.createSocket('udp4');
    const tx = [dgram.createSocket('udp4'), dgram.createSocket('udp4'), dgram.createSocket('udp4')];
    try {
      await new Promise<void>((resolve) => rx.bind(0, '127.0.0.1', resolve));
      for (const t of tx) await new Promise<void>((resolve) => t.bind(0, '127.0.0.1', resolve));
      rx.on('message', (msg, rinfo) => {
        n++;
        const r = ingest.handle(msg, rinfo, now);
        if (r.kind === 'audio') got.push({ userId: r.source!.userId, connectionId: r.source!.connectionId, seq: r.header!.seq, first: r.data!.readInt16LE(0) });
        else drops.push(r.reason!);
      });
      // An independent packet: [seq BE][s16le × k] written byte by byte.
      const packet = (seq: number, k: number, extra = 0) => {
        const b = new Uint8Array(4 + 2 * k + extra);
        b[0] = seq >>> 24; b[1] = (seq >>> 16) & 255; b[2] = (seq >>> 8) & 255; b[3] = seq & 255;
        for (let i = 0; i < k; i++) { const v = (seq * 10 + i) & 0xffff; b[4 + 2 * i] = v & 255; b[5 + 2 * i] = v >>> 8; }
        return b;
      };
      const send = (t: dgram.Socket, b: Uint8Array) => new Promise<void>((resolve, reject) => t.send(b, rx.address().port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
      await send(tx[0], packet(1, 480));
      await send(tx[1], packet(7, 480));
      await send(tx[0], packet(2, 480, 1));             // half a sample too many: dropped, the stream goes on
      await send(tx[0], packet(3, 480));
      await until(() => n === 4, 5000, 'four datagrams');
      assert.deepEqual(got.map((g) => [g.userId, g.seq, g.first]), [
        [`seed002-127.0.0.1:${tx[0].address().port}`, 1, 10], [`seed002-127.0.0.1:${tx[1].address().port}`, 7, 70],
        [`seed002-127.0.0.1:${tx[0].address().port}`, 3, 30],
      ]);
      assert.equal(got[0].connectionId, got[2].connectionId);
      assert.notEqual(got[0].connectionId, got[1].connectionId);
      assert.deepEqual(drops, ['partial_sample']);
      assert.equal(opened.length, 2);
      assert.equal(opened[0].remote, `127.0.0.1:${tx[0].address().port}`);

      now = 100;
      await send(tx[0], packet(4, 480));                // tx[0] active: tx[1] is the most idle
      await until(() => n === 5, 5000, 'five datagrams');
      now = 200;
      await send(tx[2], packet(1, 480));                // a third source: the table holds two, tx[1] evicted
      await until(() => n === 6, 5000, 'six datagrams');
      assert.deepEqual(closed, [[`seed002-127.0.0.1:${tx[1].address().port}`, 'evicted']]);
      assert.equal(ingest.sweep(5099), 0);
      assert.equal(ingest.sweep(5100), 1);              // tx[0], last heard at 100
      assert.deepEqual(closed[1], [`seed002-127.0.0.1:${tx[0].address().port}`, 'idle_timeout']);
      assert.equal(ingest.size, 1);
      assert.equal(ingest.stats.drops.partial_sample, 1);
    } finally {
      rx.close();
      for (const t of tx) t.close();
    }
  });
  it('Seed002Ingest: at most maxSourcesPerAddress sources from one IP, any ports; past it dropped (counted), no one evicted', () => {
    const ingest = new Seed002Ingest({ sampleRate: 48000, maxSources: 10, maxSourcesPerAddress: 3 });
    const closed: string[] = [];
    ingest.on('close', (s, reason) => closed.push(`${s.remote} ${reason}`));
    const pkt = Buffer.alloc(4 + 2 * 480);
    const kinds: string[] = [];
    // 100 ports of one host, then another host
    for (let p = 0; p < 100; p++) kinds.push(ingest.handle(pkt, { address: '192.0.2.7', port: 40000 + p }, 0).kind);
    assert.deepEqual([kinds.filter((k) => k === 'audio').length, ingest.size, ingest.stats.drops.too_many_sources], [3, 3, 97]);
    assert.equal(ingest.handle(pkt, { address: '192.0.2.7', port: 40050 }, 0).message, '192.0.2.7 has 3 sources already (maxSourcesPerAddress)');
    assert.equal(ingest.handle(pkt, { address: '192.0.2.8', port: 5000 }, 0).kind, 'audio');
    assert.equal(ingest.handle(pkt, { address: '192.0.2.7', port: 40000 }, 0).kind, 'audio', 'its sources already in go on');
    assert.deepEqual(closed, []);
    // an IPv6 host counts by its /64
    for (let h = 1; h <= 5; h++) ingest.handle(pkt, { address: `2001:db8::${h}`, port: 5000 }, 0);
    assert.equal(ingest.size, 7);
    // a source that ends gives its place back
    ingest.closeAll();
    assert.equal(ingest.handle(pkt, { address: '192.0.2.7', port: 41000 }, 0).kind, 'audio');
    assert.throws(() => new Seed002Ingest({ maxSourcesPerAddress: 0 }), /maxSourcesPerAddress: must be an integer 1 … 1000000, got 0/);
  });
});

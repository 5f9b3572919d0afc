// Tests of the incremental frame parser (runtime/protocol/parser.ts): splits, coalescing, and early rejection.

import assert from 'node:assert/strict';
import { FrameType, ProtocolError, encodeFrame } from '../../runtime/protocol/frame';
import { FrameParser } from '../../runtime/protocol/parser';
import { prng, rawHeader } from './helpers';

interface Parsed { type: number; payload: Buffer }

/** A stream of `count` random frames of every type, sizes 0…maxLen, from a seeded PRNG. */
function randomStream(seed: number, count: number, maxLen: number): { frames: Parsed[]; bytes: Buffer } {
  const rand = prng(seed);
  const frames: Parsed[] = [];
  for (let i = 0; i < count; i++) {
    const type = 1 + Math.floor(rand() * 7);
    // Mostly small frames, some empty, a few large ones.
    const r = rand();
    const len = r < 0.1 ? 0 : r < 0.9 ? Math.floor(rand() * 64) : Math.floor(rand() * maxLen);
    const payload = Buffer.alloc(len);
    for (let j = 0; j < len; j++) payload[j] = Math.floor(rand() * 256);
    frames.push({ type, payload });
  }
  return { frames, bytes: Buffer.concat(frames.map((f) => encodeFrame(f.type, f.payload))) };
}

/** Parses `chunks` in order, copying each payload (payloads may share memory with the chunk). */
function parseChunks(parser: FrameParser, chunks: Buffer[]): Parsed[] {
  const out: Parsed[] = [];
  for (const c of chunks) parser.push(c, (type, payload) => out.push({ type, payload: Buffer.from(payload) }));
  return out;
}

function expectCode(fn: () => unknown, code: string): ProtocolError {
  let caught: unknown;
  assert.throws(fn, (err: unknown) => { caught = err; return err instanceof ProtocolError && err.code === code; });
  return caught as ProtocolError;
}

describe('protocol/parser', () => {
  const { frames, bytes } = randomStream(0x5eed, 60, 700);

  it('parses a stream of random frames pushed as one chunk', () => {
    assert.deepEqual(parseChunks(new FrameParser(), [bytes]), frames);
  });

  it('parses identically when the stream is split in two at every byte offset', () => {
    const parser = new FrameParser();
    for (let k = 0; k <= bytes.length; k++) {
      const got = parseChunks(parser, [bytes.subarray(0, k), bytes.subarray(k)]);
      if (got.length !== frames.length) assert.fail(`split at ${k}: ${got.length} frames instead of ${frames.length}`);
      assert.deepEqual(got, frames, `split at ${k}`);
      assert.ok(parser.idle, `parser idle after split at ${k}`);
    }
  });

  it('parses identically when fed one byte at a time and in random-sized chunks', () => {
    const single: Buffer[] = [];
    for (let i = 0; i < bytes.length; i++) single.push(bytes.subarray(i, i + 1));
    assert.deepEqual(parseChunks(new FrameParser(), single), frames);
    const rand = prng(42);
    for (let trial = 0; trial < 20; trial++) {
      const chunks: Buffer[] = [];
      for (let off = 0; off < bytes.length;) {
        const n = 1 + Math.floor(rand() * 200);
        chunks.push(bytes.subarray(off, off + n));
        off += n;
      }
      assert.deepEqual(parseChunks(new FrameParser(), chunks), frames, `trial ${trial}`);
    }
  });

  it('hands out a frame that lies inside one chunk as a shared subarray, and a split one as its own copy', () => {
    const f1 = encodeFrame(FrameType.METADATA, Buffer.from('{"a":1}'));
    const f2 = encodeFrame(FrameType.METADATA, Buffer.from('{"b":2}'));
    const chunk = Buffer.concat([f1, f2.subarray(0, 10)]);
    const rest = Buffer.from(f2.subarray(10));
    const seen: { payload: Buffer; shared: boolean }[] = [];
    const parser = new FrameParser();
    parser.push(chunk, (_t, payload, shared) => seen.push({ payload, shared }));
    parser.push(rest, (_t, payload, shared) => seen.push({ payload, shared }));
    assert.equal(seen.length, 2);
    assert.equal(seen[0].shared, true);
    assert.equal(seen[1].shared, false);
    // Overwriting the chunks shows which payload shares their memory.
    chunk.fill(0);
    rest.fill(0);
    assert.ok(seen[0].payload.equals(Buffer.alloc(7)), 'the in-chunk payload is a view of the chunk');
    assert.equal(seen[1].payload.toString(), '{"b":2}', 'the spanning payload is its own copy');
  });

  it('rejects a bad magic as soon as the header is complete', () => {
    expectCode(() => new FrameParser().push(rawHeader(0x5351, 1, 1, 0), () => assert.fail()), 'bad_magic');
  });

  it('rejects a wrong version', () => {
    expectCode(() => new FrameParser().push(rawHeader(0x5350, 2, 1, 0), () => assert.fail()), 'bad_version');
  });

  it('rejects an unknown frame type (0 and 8)', () => {
    expectCode(() => new FrameParser().push(rawHeader(0x5350, 1, 0, 0), () => assert.fail()), 'unknown_type');
    expectCode(() => new FrameParser().push(rawHeader(0x5350, 1, 8, 0), () => assert.fail()), 'unknown_type');
  });

  it('rejects an over-long length from the header alone, before any payload arrives', () => {
    const parser = new FrameParser(1000);
    const header = rawHeader(0x5350, 1, FrameType.AUDIO, 1001);
    parser.push(header.subarray(0, 5), () => assert.fail());           // incomplete header: nothing to judge yet
    const err = expectCode(() => parser.push(header.subarray(5), () => assert.fail()), 'frame_too_large');
    assert.match(err.message, /1001 exceeds maxFrameBytes 1000/);
    // a payload of exactly maxFrameBytes is fine
    assert.equal(parseChunks(new FrameParser(1000), [encodeFrame(FrameType.METADATA, Buffer.alloc(1000))]).length, 1);
  });

  it('delivers the frames before a bad header, then stays failed until reset()', () => {
    const good = encodeFrame(FrameType.PING, Buffer.alloc(8));
    const parser = new FrameParser();
    const got: number[] = [];
    expectCode(() => parser.push(Buffer.concat([good, rawHeader(0x0000, 1, 1, 0)]), (t) => got.push(t)), 'bad_magic');
    assert.deepEqual(got, [FrameType.PING]);
    expectCode(() => parser.push(good, () => assert.fail()), 'bad_magic');
    parser.reset();
    parser.push(good, (t) => got.push(t));
    assert.deepEqual(got, [FrameType.PING, FrameType.PING]);
  });

  it('when the frame handler throws, the frames after it in the chunk come with the next push', () => {
    const a = encodeFrame(FrameType.METADATA, Buffer.from('{"n":1}'));
    const b = encodeFrame(FrameType.METADATA, Buffer.from('{"n":2}'));
    const c = encodeFrame(FrameType.METADATA, Buffer.from('{"n":3}'));
    const parser = new FrameParser();
    const got: string[] = [];
    let calls = 0;
    const chunk = Buffer.concat([a, b, c.subarray(0, 5)]);
    assert.throws(() => parser.push(chunk, (_t, p) => { if (calls++ === 0) throw new Error('listener bug'); got.push(p.toString()); }), /listener bug/);
    assert.equal(got.length, 0);
    assert.equal(parser.idle, false);
    parser.push(c.subarray(5), (_t, p) => got.push(p.toString()));
    assert.deepEqual(got, ['{"n":2}', '{"n":3}']);
    assert.ok(parser.idle);
  });
});

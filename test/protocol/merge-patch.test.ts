// RFC 7386 merge patches: the RFC's own examples, diff/apply as inverse on seeded random objects, "__proto__" keys, and the receive side.
import assert from 'node:assert/strict';
import { apply, diff, jsonEqual, isPatchFrame, MetadataPatchReceiver } from '../../runtime/protocol/merge-patch';
import { prng } from './helpers';

type Obj = Record<string, unknown>;

/** A random JSON value: objects up to depth 4 with keys from a small pool (so two values overlap), nulls only in arrays unless `nulls`. */
function randomValue(rnd: () => number, depth: number, nulls: boolean): unknown {
  const r = rnd();
  if (depth > 0 && r < 0.3) return randomObject(rnd, depth - 1, nulls);
  if (depth > 0 && r < 0.4) return Array.from({ length: Math.floor(rnd() * 4) }, () => (rnd() < 0.2 ? null : randomValue(rnd, depth - 1, nulls)));
  if (r < 0.55) return Math.floor(rnd() * 5);
  if (r < 0.65) return rnd() * 1e6;
  if (r < 0.75) return rnd() < 0.5;
  if (nulls && r < 0.8) return null;
  return ['a', 'b', '', 'é', '"q"'][Math.floor(rnd() * 5)];
}
const KEYS = ['a', 'b', 'c', 'd', 'e', '__proto__', 'constructor', 'toString', '$patch', 'x y'];
function randomObject(rnd: () => number, depth: number, nulls: boolean): Obj {
  const o: Obj = {};
  const n = Math.floor(rnd() * 6);
  for (let i = 0; i < n; i++) {
    Object.defineProperty(o, KEYS[Math.floor(rnd() * KEYS.length)], { value: randomValue(rnd, depth, nulls), enumerable: true, writable: true, configurable: true });
  }
  return o;
}
/** b derived from a: some keys changed, removed, added, nested objects edited — so diffs are neither empty nor total. */
function mutate(rnd: () => number, a: Obj, depth: number, nulls: boolean): Obj {
  const b: Obj = JSON.parse(JSON.stringify(a));
  for (const k of Object.keys(b)) {
    const r = rnd();
    if (r < 0.2) delete b[k];
    else if (r < 0.4) Object.defineProperty(b, k, { value: randomValue(rnd, depth, nulls), enumerable: true, writable: true, configurable: true });
    else if (r < 0.6 && typeof b[k] === 'object' && b[k] !== null && !Array.isArray(b[k])) b[k] = mutate(rnd, b[k] as Obj, depth - 1, nulls);
  }
  if (rnd() < 0.5) Object.defineProperty(b, KEYS[Math.floor(rnd() * KEYS.length)], { value: randomValue(rnd, depth, nulls), enumerable: true, writable: true, configurable: true });
  return b;
}

describe('protocol/merge-patch', () => {
  it('applies the RFC 7386 appendix A examples', () => {
    const cases: Array<[unknown, unknown, unknown]> = [
      [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
      [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
      [{ a: 'b' }, { a: null }, {}],
      [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
      [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
      [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
      [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
      [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
      [['a', 'b'], ['c', 'd'], ['c', 'd']],
      [{ a: 'b' }, ['c'], ['c']],
      [{ a: 'foo' }, null, null],
      [{ a: 'foo' }, 'bar', 'bar'],
      [{ e: null }, { a: 1 }, { e: null, a: 1 }],
      [[1, 2], { a: 'b', c: null }, { a: 'b' }],
      [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
    ];
    for (const [target, patch, result] of cases) {
      const before = JSON.stringify(target);
      assert.deepEqual(apply(target, patch), result, `${before} + ${JSON.stringify(patch)}`);
      assert.equal(JSON.stringify(target), before, 'the target is not changed');
    }
  });

  it('apply(a, diff(a, b)) equals b for 3,000 seeded random pairs, and diff(a, a) is {}', () => {
    const rnd = prng(7386);
    let nonEmpty = 0;
    for (let i = 0; i < 3000; i++) {
      const a = randomObject(rnd, 4, false);
      const b = i % 3 === 0 ? randomObject(rnd, 4, false) : mutate(rnd, a, 3, false);
      const d = diff(a, b);
      assert.ok(d !== undefined, `no null in b, so a patch exists: ${JSON.stringify(b)}`);
      const got = apply(a, JSON.parse(JSON.stringify(d)));   // as it travels
      assert.ok(jsonEqual(got, b), `#${i}: ${JSON.stringify(a)} + ${JSON.stringify(d)} = ${JSON.stringify(got)}, want ${JSON.stringify(b)}`);
      assert.deepEqual(diff(a, a), {});
      if (Object.keys(d!).length) nonEmpty++;
    }
    assert.ok(nonEmpty > 2000, `most pairs differ (${nonEmpty})`);
  });

  it('says undefined only when b holds a null inside an object (what a merge patch cannot say); otherwise the patch is exact (3,000 pairs with nulls)', () => {
    const rnd = prng(42);
    let undef = 0;
    for (let i = 0; i < 3000; i++) {
      const a = randomObject(rnd, 3, true);
      const b = mutate(rnd, a, 3, true);
      const d = diff(a, b);
      if (d === undefined) {
        undef++;
        assert.match(JSON.stringify(b), /:null/, `#${i}: refused, yet b has no null in an object: ${JSON.stringify(b)}`);
        continue;
      }
      assert.ok(jsonEqual(apply(a, JSON.parse(JSON.stringify(d))), b), `#${i}: ${JSON.stringify(a)} → ${JSON.stringify(b)} via ${JSON.stringify(d)}`);
    }
    assert.ok(undef > 0 && undef < 3000, `some pairs cannot be patched (${undef})`);
    assert.equal(diff({ a: 1 }, { a: null }), undefined, 'set to null');
    assert.equal(diff({}, { a: { b: null } }), undefined, 'a new object holding a null');
    assert.deepEqual(diff({ a: null }, { a: null, b: 1 }), { b: 1 }, 'an unchanged null is fine');
    assert.deepEqual(diff({ a: 1 }, { a: [null] }), { a: [null] }, 'nulls inside arrays travel as they are');
  });

  it('keeps "__proto__" an ordinary key on both sides and never touches Object.prototype', () => {
    const a = JSON.parse('{"__proto__":{"x":1},"k":1}');
    const b = JSON.parse('{"__proto__":{"x":2,"polluted":true},"k":1}');
    const d = diff(a, b)!;
    const text = JSON.stringify(d);
    assert.equal(text, '{"__proto__":{"x":2,"polluted":true}}');
    const got = apply(a, JSON.parse(text)) as Obj;
    assert.equal(Object.getPrototypeOf(got), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(got, '__proto__')?.value, { x: 2, polluted: true });
    assert.equal(({} as Obj).polluted, undefined);
    const removed = apply(got, JSON.parse('{"__proto__":null}')) as Obj;
    assert.equal(Object.prototype.hasOwnProperty.call(removed, '__proto__'), false);
  });

  it('the receiver: full objects replace, patches apply, and only exactly { "$patch": object } is a patch', () => {
    const r = new MetadataPatchReceiver();
    assert.deepEqual(r.receive({ $patch: { a: 1 } }), { a: 1 }, 'a patch before any full object applies to {}');
    assert.deepEqual(r.receive({ s: { n: 1, m: 2 }, t: 1 }), { s: { n: 1, m: 2 }, t: 1 });
    const before = r.value;
    assert.deepEqual(r.receive({ $patch: { s: { n: 5, m: null } } }), { s: { n: 5 }, t: 1 });
    assert.deepEqual(before, { s: { n: 1, m: 2 }, t: 1 }, 'the object handed out before is not changed');
    assert.deepEqual(r.receive({ $patch: {} }), { s: { n: 5 }, t: 1 });
    assert.deepEqual(r.receive({ $patch: { a: 1 }, other: 2 }), { $patch: { a: 1 }, other: 2 }, 'another key: a full object');
    assert.deepEqual(r.receive({ $patch: 3 }), { $patch: 3 }, 'not an object: a full object');
    assert.equal(isPatchFrame({ $patch: [] }), false);
  });
});

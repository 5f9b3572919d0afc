// Fuzzing support: structure-aware mutations of valid inputs — bit flips, length-field edits, truncation, splicing,
// type swaps, huge lengths, audio-header and Opus TOC edits, and JSON mutations (deep nesting, long strings, odd
// unicode, prototype keys, wrong types). Every choice comes from the Rng, so an input is remade from its seed.
import { Rng } from './prng';

const INTERESTING_8 = [0, 1, 2, 3, 0x7f, 0x80, 0xfe, 0xff, 0x53, 0x50, 0x40, 0x3f, 252, 253];
const INTERESTING_32 = [0, 1, 2, 7, 8, 23, 24, 25, 255, 256, 0x7fff, 0x8000, 0xffff, 0x10000, 3825, 3826, 65536,
  (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** Byte-level edits of any buffer. */
export function mutateBytes(rng: Rng, input: Buffer, donor?: () => Buffer): Buffer {
  let b = Buffer.from(input);
  const rounds = 1 + rng.small(4);
  for (let r = 0; r < rounds; r++) {
    switch (rng.int(11)) {
      case 0: { // bit flips
        const n = 1 + rng.small(8);
        for (let i = 0; i < n && b.length; i++) b[rng.int(b.length)] ^= 1 << rng.int(8);
        break;
      }
      case 1: // interesting byte
        if (b.length) b[rng.int(b.length)] = rng.pick(INTERESTING_8);
        break;
      case 2: // interesting u32, either endianness, anywhere
        if (b.length >= 4) {
          const at = rng.int(b.length - 3);
          const v = rng.pick(INTERESTING_32);
          if (rng.bool()) b.writeUInt32BE(v >>> 0, at); else b.writeUInt32LE(v >>> 0, at);
        }
        break;
      case 3: // truncate
        b = b.subarray(0, rng.int(b.length + 1));
        break;
      case 4: // delete a range
        if (b.length) { const at = rng.int(b.length); const n = 1 + rng.small(Math.min(64, b.length - at)); b = Buffer.concat([b.subarray(0, at), b.subarray(at + n)]); }
        break;
      case 5: // insert random bytes
        { const at = rng.int(b.length + 1); b = Buffer.concat([b.subarray(0, at), rng.bytes(1 + rng.small(64)), b.subarray(at)]); }
        break;
      case 6: // duplicate a range
        if (b.length) { const at = rng.int(b.length); const n = 1 + rng.small(Math.min(256, b.length - at)); b = Buffer.concat([b.subarray(0, at + n), b.subarray(at, at + n), b.subarray(at + n)]); }
        break;
      case 7: // splice with a donor
        if (donor) { const d = donor(); b = Buffer.concat([b.subarray(0, rng.int(b.length + 1)), d.subarray(rng.int(d.length + 1))]); }
        break;
      case 8: // small arithmetic on a byte
        if (b.length) { const at = rng.int(b.length); b[at] = (b[at] + rng.range(-4, 4)) & 0xff; }
        break;
      case 9: // overwrite a range with one value
        if (b.length) { const at = rng.int(b.length); b.fill(rng.pick(INTERESTING_8), at, Math.min(b.length, at + 1 + rng.small(32))); }
        break;
      default: // swap two ranges
        if (b.length > 8) {
          const n = 1 + rng.small(Math.floor(b.length / 4));
          const i = rng.int(b.length - n), j = rng.int(b.length - n);
          const t = Buffer.from(b.subarray(i, i + n));
          b.copy(b, i, j, j + n);
          t.copy(b, j);
        }
    }
  }
  return b;
}

/** Edits of streamproto1 framing: type, length field, magic/version, truncation inside a frame. */
export function mutateFrame(rng: Rng, frame: Buffer, donor?: () => Buffer): Buffer {
  const b = Buffer.from(frame);
  switch (rng.int(8)) {
    case 0: b[3] = rng.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 0x10, 0xff]); return b;                       // type swap
    case 1: if (b.length >= 8) b.writeUInt32BE((b.readUInt32BE(4) + rng.range(-3, 3)) >>> 0, 4); return b;  // length ±
    case 2: if (b.length >= 8) b.writeUInt32BE(rng.pick(INTERESTING_32) >>> 0, 4); return b;         // huge / odd N
    case 3: if (b.length >= 3) b[rng.int(3)] ^= 1 << rng.int(8); return b;                          // magic / version
    case 4: return b.subarray(0, rng.int(b.length + 1));                                             // truncated frame
    default: return mutateBytes(rng, b, donor);
  }
}

/** Edits of an AUDIO payload's 24-byte header and of an Opus packet's TOC / frame-count bytes. */
export function mutateAudioPayload(rng: Rng, payload: Buffer): Buffer {
  const b = Buffer.from(payload);
  switch (rng.int(7)) {
    case 0: if (b.length >= 20) b.writeUInt32BE(rng.pick([0, 7999, 8000, 8001, 12000, 16000, 24000, 44100, 48000, 192000, 192001, 0xffffffff]), 16); return b;
    case 1: if (b.length >= 21) b[20] = rng.pick([0, 1, 2, 3, 8, 9, 255]); return b;
    case 2: if (b.length >= 22) b[21] = rng.pick([0, 1, 2, 3, 255]); return b;
    case 3: if (b.length >= 24) b.writeUInt16BE(rng.pick([0, 1, 60, 120, 240, 480, 960, 1920, 2880, 3840, 5760, 0xffff]), 22); return b;
    case 4: if (b.length >= 25) b[24] = rng.u32() & 0xff; return b;                                  // Opus TOC byte
    case 5: if (b.length >= 26) b[25] = rng.pick([0, 1, 2, 0x3f, 0x40, 0x41, 0x80, 0x81, 0xc1, 0xff, rng.u32() & 0xff]); return b; // code-3 count byte
    default: return mutateBytes(rng, b);
  }
}

// ---- JSON ----

const ODD_STRINGS = [
  '', ' ', '\u0000', '\u0000\u0001\u001b[31m', '\n\r\t', '\u202e evil', '\ud800', '\udfff', '\ud83d\ude00', '\ufeff',
  '\u2028\u2029', 'é'.normalize('NFD'), '\uffff', '"\\', '${x}', '%s%n', '../../etc/passwd', '<script>alert(1)</script>',
  'constructor', '__proto__', 'toString', 'hasOwnProperty',
];
const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__'];

function oddNumber(rng: Rng): number {
  return rng.pick([0, -0, -1, 1.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e308, 5e-324, Number.MAX_SAFE_INTEGER, 0xffffffff + 1]);
}

function longString(rng: Rng): string {
  const unit = rng.pick(['a', 'é', '\ud83d\ude00', '\u0000', '\\', '"']);
  return unit.repeat(rng.bool(0.9) ? rng.pick([65, 129, 257, 1025, 4097]) : rng.pick([65537, 300000]));
}

/** A random JSON value, sometimes large or odd. */
export function randomJson(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 3 ? 6 : 9)) {
    case 0: return null;
    case 1: return rng.bool();
    case 2: return oddNumber(rng);
    case 3: return rng.pick(ODD_STRINGS);
    case 4: return rng.bool(0.1) ? longString(rng) : `s${rng.int(1000)}`;
    case 5: return rng.int(1000);
    case 6: return Array.from({ length: rng.small(6) }, () => randomJson(rng, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      const n = rng.small(6);
      for (let i = 0; i < n; i++) o[rng.bool(0.2) ? rng.pick(PROTO_KEYS) : `k${rng.int(20)}`] = randomJson(rng, depth + 1);
      return o;
    }
  }
}

/** Replaces / deletes / adds one node somewhere in a JSON value (in place where it is an object or array). */
function editTree(rng: Rng, v: unknown, depth = 0): unknown {
  if (v === null || typeof v !== 'object' || (depth > 0 && rng.bool(0.3))) return randomJson(rng, depth);
  if (Array.isArray(v)) {
    const op = rng.int(4);
    if (op === 0 || v.length === 0) v.push(randomJson(rng, depth + 1));
    else if (op === 1) v.splice(rng.int(v.length), 1);
    else if (op === 2) { const i = rng.int(v.length); v[i] = editTree(rng, v[i], depth + 1); }
    else {                                                                                        // a huge batch (of ≤ 1 MiB)
      const n = Math.min(rng.bool(0.8) ? rng.pick([3, 17, 257]) : rng.pick([1000, 5000]), Math.floor((1 << 20) / ((JSON.stringify(v) ?? '').length + 1)));
      for (let i = 0; i < n; i++) v.push(structuredClone(v[0]));   // copies: a later edit changes one element, not all
    }
    return v;
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  switch (rng.int(6)) {
    case 0: if (keys.length) delete o[rng.pick(keys)]; return o;
    case 1: o[rng.pick(PROTO_KEYS)] = randomJson(rng, depth + 1); return o;
    case 2: for (let i = 0, n = rng.pick([17, 33, 100, rng.bool(0.2) ? 2000 : 40]); i < n; i++) o[`x${i}`] = i; return o;   // many keys
    case 3: o[rng.bool() ? longString(rng) : rng.pick(ODD_STRINGS)] = 1; return o;                 // odd key
    default: {
      if (!keys.length) { o.k = randomJson(rng, depth + 1); return o; }
      const k = rng.pick(keys);
      o[k] = editTree(rng, o[k], depth + 1);
      return o;
    }
  }
}

/** Deep nesting as text (JSON.stringify itself would overflow the stack). */
function deepText(rng: Rng, inner: string): string {
  const n = rng.bool(0.8) ? rng.pick([5, 33, 200, 1000]) : rng.pick([12000, 100000]);
  return rng.bool() ? '{"a":'.repeat(n) + inner + '}'.repeat(n) : '['.repeat(n) + inner + ']'.repeat(n);
}

/**
 * A mutated JSON payload: a structural edit of the object (re-serialised), or a text edit (deep nesting at a
 * field, invalid UTF-8, a cut, a byte edit), or a value that is not an object at all.
 */
export function mutateJson(rng: Rng, obj: unknown): Buffer {
  const b = mutateJsonUncapped(rng, obj);
  // Nothing longer than the default maxFrameBytes reaches a payload decoder.
  return b.length > 1 << 20 ? b.subarray(0, 1 << 20) : b;
}

function mutateJsonUncapped(rng: Rng, obj: unknown): Buffer {
  const v = JSON.parse(JSON.stringify(obj));
  switch (rng.int(10)) {
    case 0: case 1: case 2: case 3: {
      let t = v;
      const edits = 1 + rng.small(3);
      for (let i = 0; i < edits; i++) t = editTree(rng, t);
      try {
        return Buffer.from(JSON.stringify(t) ?? 'null', 'utf8');
      } catch {
        return Buffer.from(JSON.stringify(obj), 'utf8');   // grew past what a string can hold: no mutation this time
      }
    }
    case 4: { // deep nesting in a field
      const text = JSON.stringify(v);
      const keyAt = text.lastIndexOf('":');
      if (keyAt < 0) return Buffer.from(deepText(rng, '1'));
      const cut = keyAt + 2;
      const end = findValueEnd(text, cut);
      return Buffer.from(text.slice(0, cut) + deepText(rng, '1') + text.slice(end), 'utf8');
    }
    case 5: { // invalid UTF-8 or a BOM inside or before the text
      const b = Buffer.from(JSON.stringify(v), 'utf8');
      const bad = rng.pick([Buffer.from([0xff]), Buffer.from([0xc0, 0x80]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from([0xe2, 0x82])]);
      const at = rng.bool(0.3) ? 0 : rng.int(b.length + 1);
      return Buffer.concat([b.subarray(0, at), bad, b.subarray(at)]);
    }
    case 6: return Buffer.from(JSON.stringify(randomJson(rng)) ?? 'null', 'utf8');      // anything at all
    case 7: return Buffer.from(rng.pick(['', ' ', '{', '{}', '[]', 'null', '1', '"x"', '{"a":1,}', '{"a":1}{"b":2}', '{"a":NaN}', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}']), 'utf8');
    default: return mutateBytes(rng, Buffer.from(JSON.stringify(v), 'utf8'));
  }
}

/** Where the JSON value starting at `i` ends (a scan good enough for our own serialised objects). */
function findValueEnd(text: string, i: number): number {
  let depth = 0;
  let inStr = false;
  for (let j = i; j < text.length; j++) {
    const c = text[j];
    if (inStr) { if (c === '\\') j++; else if (c === '"') inStr = false; continue; }
    if (c === '"') inStr = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') { if (depth === 0) return j; depth--; }
    else if (c === ',' && depth === 0) return j;
  }
  return text.length;
}

// ---- SDP text ----

const ODD_NUMBERS = ['0', '-1', '1.5', '1e3', '0x10', '', ' ', '65535', '65536', '255', '256', '4294967296', '9'.repeat(30), '9'.repeat(400), 'NaN', 'Infinity'];

/** Edits of an SDP: a number replaced by an odd one, a line dropped / duplicated / cut, a field emptied, or byte edits. */
export function mutateSdp(rng: Rng, text: string): string {
  const lines = text.split(/\r?\n/);
  const rounds = 1 + rng.small(3);
  for (let r = 0; r < rounds && lines.length; r++) {
    const i = rng.int(lines.length);
    switch (rng.int(6)) {
      case 0: case 1: { // a number anywhere in a line
        const nums = [...lines[i].matchAll(/\d+/g)];
        if (nums.length) { const m = rng.pick(nums); lines[i] = lines[i].slice(0, m.index) + rng.pick(ODD_NUMBERS) + lines[i].slice(m.index! + m[0].length); }
        break;
      }
      case 2: lines.splice(i, 1); break;
      case 3: lines.splice(i, 0, lines[rng.int(lines.length)]); break;
      case 4: lines[i] = lines[i].slice(0, rng.int(lines[i].length + 1)); break;
      default: lines[i] = lines[i].replace(/[ /:]/, rng.pick(['', '  ', '/', ':', '\t', '/0/'])); break;
    }
  }
  const out = lines.join('\r\n');
  return rng.bool(0.15) ? mutateBytes(rng, Buffer.from(out, 'utf8')).toString('utf8') : out;
}

/** Random cut points for a byte stream: 1-byte reads, small reads, a few large ones. */
export function randomSplits(rng: Rng, length: number): number[] {
  const cuts: number[] = [];
  const mode = rng.int(3);
  let at = 0;
  while (at < length) {
    const step = mode === 0 ? 1 : mode === 1 ? 1 + rng.small(16) : 1 + rng.int(Math.max(1, length >> 1));
    at = Math.min(length, at + step);
    cuts.push(at);
  }
  return cuts;
}

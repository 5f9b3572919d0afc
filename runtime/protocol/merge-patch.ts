// RFC 7386 JSON merge patches for METADATA: diff(prev, next), apply(target, patch), and the receive side of a link that asked for them.
//
// A merge patch is an object: each key's value replaces the target's (objects are merged recursively, arrays and
// scalars replaced whole), null removes the key. It cannot set a value to null — RFC 7386 has no way to say it —
// so diff() answers undefined when `next` holds a null that `prev` did not hold at the same place, and the sender
// sends the full object instead (docs/streamproto1.md, "METADATA patches").

import type { JsonObject } from './frame';

/** The HELLO capability a receiver announces to be sent METADATA as merge patches. */
export const METADATA_PATCH_CAPABILITY = 'metadata-patch';
/** The one key of a METADATA object that is a patch: `{ "$patch": { …merge patch… } }`. */
export const PATCH_KEY = '$patch';

type Obj = Record<string, unknown>;

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** obj[key] = value as an own data property, also for "__proto__" (keys come off the wire). */
function put(obj: Obj, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** JSON equality: objects by their own keys (in any order), arrays element by element. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!hasOwn(b, k) || !jsonEqual((a as Obj)[k], (b as Obj)[k])) return false;
  return true;
}

/** True when a value holds a null inside an object (a merge patch would read it as "remove"). */
function hasObjectNull(v: unknown): boolean {
  if (Array.isArray(v)) return false;   // arrays are replaced whole: their nulls travel as they are
  if (!isObject(v)) return false;
  for (const k of Object.keys(v)) {
    const x = v[k];
    if (x === null || hasObjectNull(x)) return true;
  }
  return false;
}

/**
 * The merge patch that turns `prev` into `next` (both JSON objects, as JSON.parse gives them): `{}` when equal.
 * undefined when no merge patch can say it: `next` sets a value to null, or holds a new object with a null inside.
 */
export function diff(prev: JsonObject, next: JsonObject): JsonObject | undefined {
  const out = diffObjects(prev as Obj, next as Obj);
  return out as JsonObject | undefined;
}

function diffObjects(prev: Obj, next: Obj): Obj | undefined {
  const patch: Obj = {};
  for (const k of Object.keys(prev)) if (!hasOwn(next, k)) put(patch, k, null);
  for (const k of Object.keys(next)) {
    const n = next[k];
    const had = hasOwn(prev, k);
    const p = had ? prev[k] : undefined;
    if (n === null) {
      if (had && p === null) continue;
      return undefined;                                   // "set to null" is not a merge patch
    }
    if (isObject(n)) {
      if (had && isObject(p)) {
        const sub = diffObjects(p, n);
        if (sub === undefined) return undefined;
        if (Object.keys(sub).length > 0) put(patch, k, sub);
        continue;
      }
      // A new object (or one replacing a scalar/array) is merged into {}: its nulls would be dropped.
      if (hasObjectNull(n)) return undefined;
      put(patch, k, n);
      continue;
    }
    if (had && jsonEqual(p, n)) continue;
    put(patch, k, n);
  }
  return patch;
}

/**
 * RFC 7386 MergePatch(target, patch): a new value; neither argument is changed (unchanged parts of `target` are
 * shared with the result). A patch that is not an object replaces the target.
 */
export function apply(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const base = isObject(target) ? target : {};
  const out: Obj = {};
  for (const k of Object.keys(base)) if (!hasOwn(patch, k)) put(out, k, base[k]);
  for (const k of Object.keys(patch)) {
    const v = patch[k];
    if (v === null) continue;
    put(out, k, apply(hasOwn(base, k) ? base[k] : undefined, v));
  }
  return out;
}

/** A METADATA object that is a patch: exactly one key, "$patch", holding an object. */
export function isPatchFrame(obj: JsonObject): boolean {
  if (!hasOwn(obj, PATCH_KEY) || !isObject((obj as Obj)[PATCH_KEY])) return false;
  for (const k in obj) if (k !== PATCH_KEY && hasOwn(obj, k)) return false;
  return true;
}

/**
 * The receive side of a link that announced `metadata-patch`: every METADATA object in, the full object out. A
 * full object replaces what it had; a patch — exactly `{ "$patch": <object> }` — is applied to it (to {} before the
 * first full object). Any other object is a full one, "$patch" key or not. The objects it
 * returns share unchanged parts with the ones before: listeners must not change them.
 */
export class MetadataPatchReceiver {
  private current: JsonObject | undefined;

  receive(obj: JsonObject): JsonObject {
    if (!isPatchFrame(obj)) return (this.current = obj);
    return (this.current = apply(this.current ?? {}, (obj as Obj)[PATCH_KEY]) as JsonObject);
  }

  /** The full object as it stands (undefined before the first METADATA). */
  get value(): JsonObject | undefined {
    return this.current;
  }
}

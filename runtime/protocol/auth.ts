// Per-user tokens for a StreamServer: a list of { userId, token, roles? }, checked in constant time.

import { readFileSync } from 'node:fs';
import { createHash, timingSafeEqual } from 'node:crypto';
import { PEER_ROLES, type ClientHello, type PeerRole } from './frame';
import { wireText } from '../log-text';

export interface UserEntry {
  userId: string;
  token: string;
  /** Roles this user may connect as (default: any). */
  roles?: PeerRole[];
}

/** One user of a UsersList as plain data (UsersList.digests). */
export interface UserDigest {
  userId: string;
  digest: Uint8Array;
  roles: PeerRole[] | undefined;
}

/** What a HELLO's (userId, token, role) is against the list. */
export type UserCheck = 'ok' | 'missing_token' | 'wrong_token' | 'role_not_allowed';

/** SHA-256 of the UTF-8 text: tokens are compared as digests, so the time taken says nothing about the token. */
export function tokenDigest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Equal-length digests compared in constant time. */
export function digestsEqual(a: Buffer, b: Buffer): boolean {
  return timingSafeEqual(a, b);
}

const MAX_USER_ID = 128;
const MAX_TOKEN = 1024;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const ENTRY_FIELDS = new Set(['userId', 'token', 'roles', 'name', 'comment']);
/** Compared against when the userId is not in the list, so an unknown user takes as long as a known one. */
const DUMMY_DIGEST = tokenDigest('\u0000xcast: no such user\u0000');

interface Stored {
  digest: Buffer;
  roles: readonly PeerRole[] | undefined;
}

/** The users a StreamServer accepts, each with its own token. Immutable once parsed. */
export class UsersList {
  private readonly byId: Map<string, Stored>;

  private constructor(byId: Map<string, Stored>) {
    this.byId = byId;
  }

  /**
   * From JSON text, an array of entries, or `{ users: [...] }`. Throws an Error naming the field
   * ('users[2].token: required'), prefixed with `source` (a file name) when given. Duplicate userIds are refused.
   */
  static parse(value: unknown, source?: string): UsersList {
    const where = source !== undefined ? `${source}: ` : '';
    let v = value;
    if (typeof v === 'string' || Buffer.isBuffer(v)) {
      const text = v.toString();
      try {
        v = JSON.parse(text);
      } catch (err) {
        const m = /position (\d+)/.exec((err as Error).message);
        throw new Error(`${where}users: not JSON (${m ? `at position ${m[1]}` : `${text.length} characters`})`);
      }
    }
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const keys = Object.keys(v as object);
      if (!('users' in (v as object))) throw new Error(`${where}users: expected an array of { userId, token, roles? } or { "users": [...] }`);
      const extra = keys.filter((k) => k !== 'users');
      if (extra.length > 0) throw new Error(`${where}${extra[0]}: unknown field (expected only "users")`);
      v = (v as { users: unknown }).users;
    }
    if (!Array.isArray(v)) throw new Error(`${where}users: must be an array of { userId, token, roles? }, got ${v === null ? 'null' : typeof v}`);
    const byId = new Map<string, Stored>();
    v.forEach((e: unknown, i: number) => {
      const at = `${where}users[${i}]`;
      if (e === null || typeof e !== 'object' || Array.isArray(e)) throw new Error(`${at}: must be an object { userId, token, roles? }`);
      const entry = e as Record<string, unknown>;
      for (const k of Object.keys(entry)) if (!ENTRY_FIELDS.has(k)) throw new Error(`${at}.${k}: unknown field (expected userId, token, roles)`);
      const { userId, token, roles } = entry;
      if (userId === undefined || userId === '') throw new Error(`${at}.userId: required`);
      if (typeof userId !== 'string') throw new Error(`${at}.userId: must be a string`);
      if (userId.length > MAX_USER_ID) throw new Error(`${at}.userId: longer than ${MAX_USER_ID} characters`);
      if (CONTROL.test(userId)) throw new Error(`${at}.userId: contains a control character`);
      if (token === undefined || token === '') throw new Error(`${at}.token: required`);
      if (typeof token !== 'string') throw new Error(`${at}.token: must be a string`);
      if (token.length > MAX_TOKEN) throw new Error(`${at}.token: longer than ${MAX_TOKEN} characters`);
      let allowed: PeerRole[] | undefined;
      if (roles !== undefined) {
        if (!Array.isArray(roles) || roles.length === 0) throw new Error(`${at}.roles: must be a non-empty array of ${PEER_ROLES.join(', ')}`);
        roles.forEach((r: unknown, j: number) => {
          if (!PEER_ROLES.includes(r as PeerRole)) throw new Error(`${at}.roles[${j}]: ${wireText(r, 40)} is not one of ${PEER_ROLES.join(', ')}`);
        });
        allowed = [...new Set(roles as PeerRole[])];
      }
      if (byId.has(userId)) throw new Error(`${at}.userId: ${wireText(userId)} is listed twice`);
      byId.set(userId, { digest: tokenDigest(token), roles: allowed });
    });
    return new UsersList(byId);
  }

  /** Reads and parses a JSON file (errors name the file and the field). */
  static fromFile(file: string): UsersList {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`${file}: cannot read the users file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return UsersList.parse(text, file);
  }

  /**
   * The list as plain data — digests, never the tokens — for a worker thread (a class does not survive
   * postMessage): UsersList.fromDigests makes the same list there.
   */
  digests(): UserDigest[] {
    return [...this.byId].map(([userId, u]) => ({ userId, digest: new Uint8Array(u.digest), roles: u.roles === undefined ? undefined : [...u.roles] }));
  }

  /** The list digests() gave (on another thread). */
  static fromDigests(entries: UserDigest[]): UsersList {
    const byId = new Map<string, Stored>();
    for (const e of entries) byId.set(e.userId, { digest: Buffer.from(e.digest), roles: e.roles });
    return new UsersList(byId);
  }

  /** Number of users. */
  get size(): number {
    return this.byId.size;
  }

  /** Whether `userId` is listed. */
  has(userId: string): boolean {
    return this.byId.has(userId);
  }

  /** The listed userIds (no tokens). */
  userIds(): string[] {
    return [...this.byId.keys()];
  }

  /**
   * Checks a HELLO's userId, token and role. The token is compared in constant time against the user's own token,
   * or against a dummy one for a userId not listed (which is 'wrong_token': the answer does not say who exists).
   */
  check(userId: string, token: string | undefined, role: PeerRole): UserCheck {
    if (token === undefined) return 'missing_token';
    const u = this.byId.get(userId);
    const equal = digestsEqual(tokenDigest(token), u ? u.digest : DUMMY_DIGEST);
    if (!u || !equal) return 'wrong_token';
    if (u.roles !== undefined && !u.roles.includes(role)) return 'role_not_allowed';
    return 'ok';
  }
}

/**
 * The credentials check of a client HELLO, shared by every transport (TCP/TLS StreamServer, the UDP session table):
 * accepted when it carries the single token (`tokenDigest`, a `tokenDigest()` of it) or its own userId's token in
 * `users` with a role the entry allows. undefined = accepted; else the ERROR message (never echoing the token).
 * Call it only when credentials are configured (a digest or a list).
 */
export function credentialRefusal(hello: ClientHello, singleDigest: Buffer | undefined, users: UsersList | undefined): string | undefined {
  const token = hello.token;
  if (token === undefined) return 'missing token: this server requires one';
  // Hash both sides so the time taken says nothing about the token.
  const d = tokenDigest(token);
  if (singleDigest && digestsEqual(d, singleDigest)) return undefined;
  if (users) {
    const r = users.check(hello.userId, token, hello.role);
    if (r === 'ok') return undefined;
    if (r === 'role_not_allowed') return `user ${wireText(hello.userId)} may not connect as ${wireText(hello.role)}`;
  }
  return users ? `wrong token for user ${wireText(hello.userId)}` : 'wrong token';
}

/**
 * The key an address is counted under (connections per address, the slow-down): an IPv4 address as it is (an
 * IPv4-mapped IPv6 one as IPv4), an IPv6 address by its /64 — one host usually holds a whole /64, so counting single
 * IPv6 addresses would bound nothing.
 */
export function addressKey(ip: string | undefined): string {
  if (ip === undefined || ip === '') return '';
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (v4) return v4[1];
  if (!ip.includes(':')) return ip;
  const bare = ip.replace(/%.*$/, '');   // zone index
  const [head, tail] = bare.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return `${groups.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16)).join(':')}::/64`;
}

/**
 * How many of something (connections, sessions, sources) each address holds, counted by addressKey: what every
 * per-address limit (TCP and UDP sessions, RTP and seed 002 sources) reads, and keeps up on open and close.
 */
export class AddressCounts {
  private readonly counts = new Map<string, number>();

  /** What `address` holds now (a raw IP, or its addressKey: the key of a key is itself). */
  of(address: string | undefined): number {
    return this.counts.get(addressKey(address)) ?? 0;
  }

  add(address: string | undefined): void {
    const k = addressKey(address);
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
  }

  remove(address: string | undefined): void {
    const k = addressKey(address);
    const n = (this.counts.get(k) ?? 1) - 1;
    if (n > 0) this.counts.set(k, n); else this.counts.delete(k);
  }
}

export interface AuthSlowdownOptions {
  /** Failures before HELLOs are held (ServerLimits.authFailuresBeforeSlowdown). */
  failuresBeforeSlowdown: number;
  /** A failure older than this (since the address's previous one) starts the count again. */
  windowMs: number;
  minDelayMs: number;
  maxDelayMs: number;
  /** Addresses remembered; the least recently failing one is forgotten first. */
  tableSize: number;
  /** ms; only differences are used. */
  now: () => number;
}

/** Failed HELLOs per address, and how long to hold the next HELLO from it. */
export class AuthSlowdown {
  private readonly table = new Map<string, { failures: number; lastMs: number }>();

  constructor(private readonly o: AuthSlowdownOptions) {}

  /** Addresses remembered. */
  get size(): number {
    return this.table.size;
  }

  /** 0 = answer at once; else hold the HELLO this long: minDelayMs doubling per failure past the threshold, capped. */
  delayMs(key: string): number {
    const f = this.table.get(key);
    if (!f) return 0;
    if (this.o.now() - f.lastMs > this.o.windowMs) {
      this.table.delete(key);
      return 0;
    }
    const over = f.failures - this.o.failuresBeforeSlowdown;
    if (over < 0) return 0;
    return Math.min(this.o.maxDelayMs, this.o.minDelayMs * 2 ** Math.min(over, 30));
  }

  failed(key: string): void {
    const now = this.o.now();
    let f = this.table.get(key);
    if (f && now - f.lastMs > this.o.windowMs) f = undefined;
    // Map order is the LRU order: re-inserted on every failure, the least recently failing one dropped beyond the bound.
    this.table.delete(key);
    this.table.set(key, { failures: (f?.failures ?? 0) + 1, lastMs: now });
    if (this.table.size > this.o.tableSize) this.table.delete(this.table.keys().next().value as string);
  }

  succeeded(key: string): void {
    this.table.delete(key);
  }
}

// The web side's credentials: Node-RED's httpNodeAuth (a user and a bcrypt hash) for HTTP routes and websocket
// upgrades, and bearer tokens for clients that hold one (the streamproto1 token, a generated one).
//
// Node-RED applies httpNodeAuth only in its own command (node-red/red.js); an embedding application (the launcher)
// must put the middleware in front of RED.httpNode itself: `basicAuthMiddleware`. A websocket upgrade never goes
// through Express, so any websocket server (WebRTC signalling, a console) checks its upgrade with
// `checkUpgradeAuth` (async: bcrypt compares run in a thread of their own, under a budget) and refuses with
// `refuseUpgrade`; `guardUpgrades` does that for every upgrade on a server. `adminAuthFor` gives Node-RED's login the
// same thread and budget.
import crypto from 'node:crypto';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type http from 'node:http';
import { loadBcrypt } from './bcrypt';
import type { Duplex } from 'node:stream';

/** Node-RED's httpNodeAuth as settings.js gives it: `{ user, pass }`, pass a bcrypt hash (or a legacy md5 hex). */
export interface BasicCredentials { user: string; pass: string }

export interface UpgradeAuthSettings {
  /** Node-RED's setting; a function or array (custom middleware) cannot be checked here: only a bearer token passes then. */
  httpNodeAuth?: BasicCredentials | ((...a: unknown[]) => unknown) | unknown[] | null;
  /** Tokens accepted as `Authorization: Bearer <token>` (or `?access_token=` for browsers' WebSocket, which sets no header). */
  bearerTokens?: readonly string[];
}

export type UpgradeAuthResult =
  | { ok: true; user?: string; via: 'open' | 'basic' | 'bearer' }
  | { ok: false; status: 401 | 429; reason: string };

export { loadBcrypt };

/** Compares passwords with bcrypt hashes in a thread of its own (started on first use, not keeping the process alive). */
class HashThread {
  private worker: Worker | undefined;
  private next = 1;
  private readonly waiting = new Map<number, (ok: boolean) => void>();

  compare(password: string, hash: string): Promise<boolean> {
    const w = this.worker ?? this.start();
    const id = this.next++;
    return new Promise<boolean>((resolve) => {
      this.waiting.set(id, resolve);
      w.postMessage({ id, password, hash });
    });
  }

  private start(): Worker {
    const w = new Worker(path.join(__dirname, 'hash-worker.js'));
    w.unref();
    w.on('message', (m: { id: number; ok: boolean }) => {
      const done = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      done?.(m.ok === true);
    });
    const fail = () => {
      // A thread that died answers nothing: every pending check fails (refused), the next one starts a new thread.
      if (this.worker === w) this.worker = undefined;
      for (const done of this.waiting.values()) done(false);
      this.waiting.clear();
    };
    w.on('error', fail);
    w.on('exit', fail);
    this.worker = w;
    return w;
  }
}
const hashThread = new HashThread();

/** Whether `password` matches a bcrypt hash, computed off the event loop. */
export function comparePassword(password: string, hash: string): Promise<boolean> {
  return hashThread.compare(password, hash);
}

/** A bcrypt hash of a password, as Node-RED's adminAuth and httpNodeAuth take it (`node-red admin hash-pw`). */
export function hashPassword(password: string, rounds = 10): string {
  return loadBcrypt().hashSync(password, rounds);
}

/** Equal strings in a time that does not depend on where they differ. */
export function sameSecret(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb) && a.length === b.length;
}

/**
 * How many password hashes the process computes per second. One bcrypt compare (cost 10) takes ~100 ms of a core —
 * in the hash thread, never the event loop that reads the audio sockets (Node-RED's own check is synchronous, and
 * bcryptjs's "async" one does not yield either) — and the machine's cores are the audio's too. Beyond the budget a
 * check is answered 429 at once, without hashing; a password already accepted is recognised without hashing (and
 * without the budget), so a signed-in user is not locked out by someone else's guessing.
 */
export class PasswordBudget {
  private tokens: number;
  private at: number;
  constructor(readonly perSecond = 2, readonly burst = 6, private readonly now: () => number = () => performance.now()) {
    this.tokens = burst;
    this.at = now();
  }

  /** Takes one hash computation from the budget; false when it is spent. */
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.at) / 1000) * this.perSecond);
    this.at = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** The process's budget (the launcher's middleware, its /auth/token gate and every upgrade check share it). */
export const passwordBudget = new PasswordBudget();

type Verdict = 'ok' | 'bad' | 'busy';
type Checker = (p: string, budget: PasswordBudget) => Promise<Verdict>;

/** A password checker for one hash, remembering the passwords it accepted (the hash cannot change without a restart). */
function passwordChecker(hash: string): Checker {
  const good: string[] = [];
  const check = hash.length === 32
    ? async (p: string) => sameSecret(crypto.createHash('md5').update(p, 'utf8').digest('hex'), hash) // Node-RED's legacy md5
    : (p: string) => comparePassword(p, hash);
  return async (p, budget) => {
    let known = false;
    for (const g of good) known = sameSecret(g, p) || known;
    if (known) return 'ok';
    if (!budget.take()) return 'busy';
    if (!(await check(p))) return 'bad';
    if (!good.some((g) => sameSecret(g, p))) {
      if (good.length >= 4) good.shift();
      good.push(p);
    }
    return 'ok';
  };
}

const checkers = new WeakMap<object, Checker>();
function checkerFor(c: BasicCredentials): Checker {
  let f = checkers.get(c);
  if (!f) { f = passwordChecker(String(c.pass)); checkers.set(c, f); }
  return f;
}

/**
 * Node-RED's adminAuth for one user whose password is `hash`: Node-RED's login calls `authenticate`, which compares in
 * the hash thread under the password budget (Node-RED's own compare would hold the event loop ~100 ms a try).
 */
export function adminAuthFor(username: string, hash: string, budget: PasswordBudget = passwordBudget): Record<string, unknown> {
  const check = passwordChecker(hash);
  const user = { username, permissions: '*' };
  return {
    type: 'credentials',
    users: [{ ...user, password: hash }],
    authenticate: async (name: unknown, password: unknown) => {
      if (name !== username || typeof password !== 'string') return null;
      return (await check(password, budget)) === 'ok' ? { ...user } : null;
    },
  };
}

/** The user and password of a `Basic` Authorization header, or undefined. */
export function parseBasic(header: string | undefined): { user: string; pass: string } | undefined {
  const m = /^\s*basic\s+([A-Za-z0-9+/=._~-]+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const i = text.indexOf(':');
  return i < 0 ? undefined : { user: text.slice(0, i), pass: text.slice(i + 1) };
}

function bearerOf(req: http.IncomingMessage): string | undefined {
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (m) return m[1];
  try {
    const q = new URL(req.url ?? '/', 'http://x').searchParams.get('access_token');
    return q ?? undefined;
  } catch {
    return undefined;
  }
}

function isBasic(v: unknown): v is BasicCredentials {
  return !!v && typeof v === 'object' && !Array.isArray(v) && typeof (v as BasicCredentials).user === 'string' && typeof (v as BasicCredentials).pass === 'string';
}

/**
 * Whether a websocket upgrade (or any request) carries the credentials the settings ask for: Basic against
 * httpNodeAuth's hash, or a bearer token. With neither configured every request passes (Node-RED's own default).
 */
export async function checkUpgradeAuth(req: http.IncomingMessage, settings: UpgradeAuthSettings, budget: PasswordBudget = passwordBudget): Promise<UpgradeAuthResult> {
  const basic = settings.httpNodeAuth;
  const tokens = (settings.bearerTokens ?? []).filter((t) => typeof t === 'string' && t !== '');
  if (!basic && tokens.length === 0) return { ok: true, via: 'open' };
  const bearer = bearerOf(req);
  if (bearer !== undefined && tokens.length) {
    // Every token is compared, so the time does not tell which one nearly matched.
    let hit = false;
    for (const t of tokens) hit = sameSecret(bearer, t) || hit;
    if (hit) return { ok: true, via: 'bearer' };
    return { ok: false, status: 401, reason: 'wrong bearer token' };
  }
  const given = parseBasic(req.headers.authorization);
  if (isBasic(basic)) {
    if (!given) return { ok: false, status: 401, reason: 'credentials required' };
    if (given.user !== basic.user) return { ok: false, status: 401, reason: 'wrong user or password' };
    const v = await checkerFor(basic)(given.pass, budget);
    if (v === 'busy') return { ok: false, status: 429, reason: 'too many password checks: try again in a second' };
    if (v === 'bad') return { ok: false, status: 401, reason: 'wrong user or password' };
    return { ok: true, user: given.user, via: 'basic' };
  }
  return { ok: false, status: 401, reason: basic ? 'a bearer token is required (httpNodeAuth is custom middleware)' : 'a bearer token is required' };
}

/** Answers a refused upgrade with a plain HTTP 401 (or 429) and closes the socket (nothing of the websocket is set up). */
export function refuseUpgrade(socket: Duplex, result: { status: number; reason: string }): void {
  const body = `${result.reason}\n`;
  const head = result.status === 429 ? '429 Too Many Requests\r\nRetry-After: 1' : `${result.status} Unauthorized\r\nWWW-Authenticate: Basic realm="Authorization Required"`;
  socket.end(`HTTP/1.1 ${head}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  socket.once('finish', () => socket.destroy());
}

/**
 * Node-RED's basic-auth middleware for RED.httpNode (what node-red/red.js adds and an embedding application must add
 * itself): 401 with `WWW-Authenticate` unless the request's Basic credentials match; OPTIONS passes (CORS preflight).
 * A bearer token in `tokens` is accepted too.
 */
export function basicAuthMiddleware(creds: BasicCredentials, tokens: readonly string[] = [], budget: PasswordBudget = passwordBudget) {
  const settings: UpgradeAuthSettings = { httpNodeAuth: creds, bearerTokens: tokens };
  return (req: http.IncomingMessage, res: http.ServerResponse, next: () => void): void => {
    if (req.method === 'OPTIONS') { next(); return; }
    void checkUpgradeAuth(req, settings, budget).then((r) => {
      if (r.ok) { next(); return; }
      if (r.status === 429) {
        res.writeHead(429, { 'Retry-After': '1', 'Content-Type': 'text/plain' });
        res.end(`${r.reason}\n`);
        return;
      }
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="Authorization Required"', 'Content-Type': 'text/plain' });
      res.end('Unauthorized\n');
    });
  };
}

/**
 * Checks every websocket upgrade on `server` before any 'upgrade' listener (Node-RED's websocket nodes, a future
 * signalling server) sees it; paths in `exempt` (Node-RED's editor comms, which check adminAuth's token themselves)
 * pass through. A refused upgrade gets a 401 and reaches no listener.
 */
export function guardUpgrades(server: http.Server, settings: UpgradeAuthSettings, exempt: (pathname: string) => boolean = () => false, budget: PasswordBudget = passwordBudget): void {
  const emit = server.emit.bind(server) as (ev: string | symbol, ...a: unknown[]) => boolean;
  server.emit = function (ev: string | symbol, ...args: unknown[]): boolean {
    if (ev === 'upgrade') {
      const [req, socket] = args as [http.IncomingMessage, Duplex];
      let pathname = '/';
      try { pathname = new URL(req.url ?? '/', 'http://x').pathname; } catch { /* '/' */ }
      if (!exempt(pathname)) {
        // Held until checked (the socket's first bytes wait in `head` and in the socket, as for any upgrade).
        void checkUpgradeAuth(req, settings, budget).then((r) => {
          if (!r.ok) refuseUpgrade(socket, r);
          else if (!socket.destroyed) emit(ev, ...args);
        });
        return true;
      }
    }
    return emit(ev, ...args);
  } as typeof server.emit;
}

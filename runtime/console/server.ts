// The console's server: GET state / POST control as a framework-free handler (method, path, headers, body → status,
// body), and the websocket of docs/console.md on `ws` (noServer: the caller hands it the upgrades of its path). The
// state (./state.ts) says what changed; this sends it to every page. A page's control goes to `apply` (the node sends
// it to the mixer) and comes back to every page only as the mixer's next mixParameters.
import crypto from 'node:crypto';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket } from 'ws';
import { ConsoleState, ParamsChange, Strip, MeterLayout, QOS_FAIR, QOS_POOR, QOS_WINDOW_MS } from './state';
import { ControlError, MixerControl, readControlBody, readPageMessage, controlTarget } from './control';
import { wireText } from '../log-text';
import { checkUpgradeAuth, refuseUpgrade, sameSecret, type UpgradeAuthSettings } from '../web/auth';
import type { UsersList } from '../protocol/auth';
import { METER_LAW as LAW_TEXT } from './meter-frame';

/** What the page is told of the meters (the law of docs/console.md, the binary frame's units). */
export const METER_LAW = {
  text: LAW_TEXT,
  peak: 'sample peak, dBFS: 20·log10(max |x|) over every channel',
  level: 'RMS, dBFS, AES17 sine-referenced: 20·log10(sqrt(mean x²)) + 3.0103 over every channel (a −12 dBFS sine reads −12)',
  point: 'pre-fader (before gain, pan, mute) for a track; post-master for a room',
  unit: 'centi-dBFS (i16), −32768 = −∞, clamped to −12000…+2400',
  everyMs: 40,
  qos: `poor when not connected or loss > ${QOS_POOR * 100} % or late > ${QOS_POOR * 100} % over ${QOS_WINDOW_MS / 1000} s; fair above ${QOS_FAIR * 100} %; good otherwise; unknown without the aggregator's entry`,
} as const;

export const MAX_MONITORS = 16;
/** A page's text messages: a control is a few dozen bytes, a monitor with 64 solo keys a few KiB. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** Above this many bytes waiting to go out, meter and monitor frames are skipped for that socket (never queued). */
export const SKIP_ABOVE_BYTES = 64 * 1024;
/** Above this many, the socket is closed (1008): a page that reads nothing is not kept. */
export const CLOSE_ABOVE_BYTES = 8 * 1024 * 1024;
const BODY_MAX = 16 * 1024;
/** GET state with no page open turns metering on for this long (an HTTP tool polling levels keeps it on). */
export const STATE_METERING_LEASE_MS = 10_000;
/** A meter frame older than this is stale: GET state waits (at most STATE_WAIT_MS) for the next one. */
const FRESH_FRAME_MS = 250;
const STATE_WAIT_MS = 300;
/** No meter frame for this long while metering is on: the mixer is asked again. */
const REASK_AFTER_MS = 1000;

export interface ConsoleRequest { method: string; path: string; headers: http.IncomingHttpHeaders; body?: string }
export interface ConsoleAnswer { status: number; body?: unknown; headers: Record<string, string> }

export interface ConsoleServerOptions {
  state: ConsoleState;
  /** Controls for the mixer (already checked), in the order taken. */
  apply(controls: MixerControl[]): void;
  /** Metering is wanted (a page is connected) or not (none is). */
  metering(on: boolean): void;
  /** A page's monitor: on (room, solo keys) or off (null). */
  monitor(listener: string, spec: { room: string; solo: string[] } | null): void;
  /** A token the node asks for (Authorization: Bearer, ?token= or ?access_token=). */
  token?: string;
  /** A users list: `?userId=` with that user's token (role peer). */
  users?: UsersList;
  /** Node-RED's httpNodeAuth and the launcher's bearer tokens, checked on the upgrade (Express never sees it). */
  web?: UpgradeAuthSettings;
  /** Cross-origin pages allowed ('*': any); a page of the server's own host always is. */
  allowedOrigins?: readonly string[];
  /** Controls taken per socket per second (the rest coalesced: the latest per user and parameter wins). Default 60. */
  controlsPerSecond?: number;
  warn?(text: string): void;
}

interface Client {
  id: string;
  ws: WebSocket;
  layoutId: number | null;
  monitor: boolean;
  /** The page's monitor as last asked (re-sent to a mixer that was redeployed). */
  monitorSpec: { room: string; solo: string[] } | null;
  pending: Map<string, MixerControl>;
  lastTake: number;
  timer: NodeJS.Timeout | null;
  alive: boolean;
}

export interface ConsoleStats { clients: number; metersSent: number; metersSkipped: number; monitorSent: number; monitorSkipped: number; refused: number; controls: number; coalesced: number }

function header(h: http.IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' };

export class ConsoleServer {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, clientTracking: false, perMessageDeflate: false });
  private readonly clients = new Map<string, Client>();
  private readonly minGapMs: number;
  private readonly ping: NodeJS.Timeout;
  private closed = false;
  private meteringOn = false;
  private lease: NodeJS.Timeout | null = null;
  private lastFrameAt = -Infinity;
  private frameWaiters: Array<() => void> = [];
  private lastAsk = -Infinity;
  /** The mixer's sample rate, once a meters message said it (hello and layout carry it to the pages). */
  private sampleRate = 0;
  readonly stats: ConsoleStats = { clients: 0, metersSent: 0, metersSkipped: 0, monitorSent: 0, monitorSkipped: 0, refused: 0, controls: 0, coalesced: 0 };

  constructor(private readonly o: ConsoleServerOptions) {
    const cps = o.controlsPerSecond ?? 60;
    this.minGapMs = 1000 / cps;
    const s = o.state;
    s.on('strip', (strip: Strip) => this.broadcast({ t: 'strip', strip }));
    s.on('gone', (key: string) => this.broadcast({ t: 'gone', key }));
    s.on('params', (p: ParamsChange) => this.broadcast({ t: 'params', users: p.users, masters: p.masters }));
    // A page that answers no ping for 30 s is gone (a phone that slept, a cut network).
    this.ping = setInterval(() => {
      for (const c of this.clients.values()) {
        if (!c.alive) { c.ws.terminate(); continue; }
        c.alive = false;
        c.ws.ping();
      }
    }, 30_000);
    this.ping.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  // ---- HTTP ----

  /** GET /state, POST /control (and OPTIONS for an allowed cross-origin page); `path` is below /xcast/mixer. */
  async handle(req: ConsoleRequest): Promise<ConsoleAnswer> {
    const cors = this.cors(req.headers);
    const answer = (status: number, body: unknown, extra: Record<string, string> = {}): ConsoleAnswer => ({ status, body, headers: { ...JSON_HEADERS, ...cors, ...extra } });
    const bad = (status: number, code: string, field: string | undefined, message: string) => {
      this.stats.refused++;
      return answer(status, { error: { code, ...(field !== undefined ? { field } : {}), message } });
    };
    const q = req.path.indexOf('?');
    const path = q >= 0 ? req.path.slice(0, q) : req.path;
    const method = req.method.toUpperCase();
    const why = this.originRefusal(req.headers);
    if (why) return bad(403, 'forbidden_origin', 'Origin', why);
    if (method === 'OPTIONS') return { status: 204, headers: { ...cors, 'Access-Control-Allow-Methods': 'GET, POST, OPTIONS', 'Access-Control-Allow-Headers': 'Content-Type, Authorization', 'Access-Control-Max-Age': '600' } };
    if (path !== '/state' && path !== '/control') return bad(404, 'not_found', 'path', `path: ${wireText(path, 60)} is not a console path (/state, /control)`);
    const auth = this.checkToken(req.headers, req.path);
    if (auth) return bad(401, 'unauthorized', 'token', auth);
    if (path === '/state') {
      if (method !== 'GET' && method !== 'HEAD') return bad(405, 'method_not_allowed', 'method', `method: ${wireText(req.method, 10)} not allowed on /state (use GET)`);
      await this.freshMeters();
      return answer(200, this.o.state.snapshot());
    }
    if (method !== 'POST') return bad(405, 'method_not_allowed', 'method', `method: ${wireText(req.method, 10)} not allowed on /control (use POST)`);
    const text = req.body ?? '';
    if (text.length > BODY_MAX) return bad(413, 'bad_request', 'body', `body: longer than ${BODY_MAX} bytes`);
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      return bad(400, 'bad_request', 'body', text.trim() === '' ? 'body: empty (expected a JSON object)' : `body: not JSON (${text.length} characters)`);
    }
    try {
      const controls = readControlBody(v);
      this.stats.controls += controls.length;
      this.o.apply(controls);
    } catch (err) {
      if (err instanceof ControlError) return bad(400, 'bad_request', err.field, err.message);
      throw err;
    }
    return answer(200, { ok: true });
  }

  // ---- websocket ----

  /**
   * An upgrade of the console's websocket path: refused (403) from a page of another origin not listed, refused (401
   * / 429) without the credentials asked for, else a page.
   */
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closed) { socket.destroy(); return; }
    const why = this.originRefusal(req.headers);
    if (why) {
      this.stats.refused++;
      const body = `${why}\n`;
      socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    const run = async () => {
      if (this.o.web) {
        const r = await checkUpgradeAuth(req, this.o.web);
        if (!r.ok) { this.stats.refused++; refuseUpgrade(socket, r); return; }
      }
      const tokenWhy = this.checkToken(req.headers, req.url ?? '/');
      if (tokenWhy) { this.stats.refused++; refuseUpgrade(socket, { status: 401, reason: tokenWhy }); return; }
      if (this.closed || socket.destroyed) { socket.destroy(); return; }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.connected(ws));
    };
    run().catch(() => socket.destroy());
  }

  /** A meter frame from the mixer: its layout first to every page that has not had it, then the same Buffer to all. */
  meters(frame: Buffer, layout: MeterLayout, sampleRate?: number): void {
    this.o.state.onMeters(frame, layout);
    // The mixer's rate (its meters messages say it): the page plays the monitor's 'A' frames at it.
    if (sampleRate !== undefined && Number.isInteger(sampleRate) && sampleRate > 0) this.sampleRate = sampleRate;
    this.lastFrameAt = performance.now();
    if (this.frameWaiters.length) for (const w of [...this.frameWaiters]) w();
    let layoutText: string | null = null;
    for (const c of this.clients.values()) {
      if (c.ws.readyState !== WebSocket.OPEN) continue;
      if (c.layoutId !== layout.layoutId) {
        layoutText ??= JSON.stringify({ t: 'layout', layout, ...(this.sampleRate ? { sampleRate: this.sampleRate } : {}) });
        this.sendText(c, layoutText);
        c.layoutId = layout.layoutId;
      }
      if (c.ws.bufferedAmount > SKIP_ABOVE_BYTES) { this.stats.metersSkipped++; continue; }
      c.ws.send(frame, { binary: true });
      this.stats.metersSent++;
    }
  }

  /**
   * One frame of a page's monitor feed (f32le interleaved from the mixer) as 'A', channels, frameSamples, seq and
   * s16le samples, to that page only; skipped while the page's socket is behind.
   */
  monitorAudio(listener: string, pcm: Buffer, channels: number, frameSamples: number, seq: number): void {
    const c = this.clients.get(listener);
    if (!c || !c.monitor || c.ws.readyState !== WebSocket.OPEN) return;
    if (c.ws.bufferedAmount > SKIP_ABOVE_BYTES) { this.stats.monitorSkipped++; return; }
    const count = Math.min(Math.floor(pcm.length / 4), channels * frameSamples);
    // A fresh Buffer per frame: ws may still hold the previous one in its queue (never change a Buffer after sending).
    const out = Buffer.allocUnsafe(8 + count * 2);
    out[0] = 0x41;
    out[1] = channels & 0xff;
    out.writeUInt16LE(frameSamples & 0xffff, 2);
    out.writeUInt32LE(seq >>> 0, 4);
    for (let i = 0; i < count; i++) {
      const x = pcm.readFloatLE(i * 4);
      const s = x >= 1 ? 32767 : x <= -1 ? -32768 : Math.round(x * 32767);
      out.writeInt16LE(Number.isNaN(s) ? 0 : s, 8 + i * 2);
    }
    c.ws.send(out, { binary: true });
    this.stats.monitorSent++;
  }

  /**
   * The mixer is running (its periodic 'tracks'). A mixer redeployed alone starts with metering and monitors off: while
   * they are wanted and no meter frame came for a second, they are asked for again (at most once a second).
   */
  mixerAlive(): void {
    if (!this.meteringOn) return;
    const now = performance.now();
    if (now - this.lastFrameAt < REASK_AFTER_MS || now - this.lastAsk < REASK_AFTER_MS) return;
    this.lastAsk = now;
    this.o.metering(true);
    for (const c of this.clients.values()) if (c.monitorSpec) this.o.monitor(c.id, c.monitorSpec);
  }

  /** Closes every page (1001 going away) and refuses new ones. */
  close(): void {
    this.closed = true;
    clearInterval(this.ping);
    if (this.lease) { clearTimeout(this.lease); this.lease = null; }
    for (const w of [...this.frameWaiters]) w();
    for (const c of [...this.clients.values()]) c.ws.close(1001, 'console closed');
    for (const c of [...this.clients.values()]) this.left(c);
    this.wss.close();
  }

  private connected(ws: WebSocket): void {
    const c: Client = { id: `c-${crypto.randomBytes(6).toString('hex')}`, ws, layoutId: null, monitor: false, monitorSpec: null, pending: new Map(), lastTake: -Infinity, timer: null, alive: true };
    this.clients.set(c.id, c);
    this.stats.clients = this.clients.size;
    const s = this.o.state;
    this.sendText(c, JSON.stringify({ t: 'hello', clientId: c.id, meterLaw: METER_LAW, ...(this.sampleRate ? { sampleRate: this.sampleRate } : {}), strips: s.strips(), masters: s.masters() }));
    const layout = s.layout;
    if (layout) { this.sendText(c, JSON.stringify({ t: 'layout', layout, ...(this.sampleRate ? { sampleRate: this.sampleRate } : {}) })); c.layoutId = layout.layoutId; }
    ws.on('pong', () => { c.alive = true; });
    ws.on('message', (data, isBinary) => this.message(c, data as Buffer, isBinary));
    ws.on('close', () => this.left(c));
    ws.on('error', () => { /* 'close' follows */ });
    this.updateMetering();
  }

  /** Metering is wanted while a page is open or an HTTP client asked for the state lately. */
  private updateMetering(): void {
    const want = !this.closed && (this.clients.size > 0 || this.lease !== null);
    if (want === this.meteringOn) return;
    this.meteringOn = want;
    // Counted from now: the first frame takes a moment to come.
    this.lastAsk = performance.now();
    this.o.metering(want);
  }

  /**
   * GET state's levels: with no page open metering is off, so the first GET turns it on for a lease (renewed by every
   * GET) and waits briefly for a frame; a stale frame is waited for too.
   */
  private async freshMeters(): Promise<void> {
    if (this.closed) return;
    const wasOn = this.meteringOn;
    if (this.clients.size === 0) {
      if (this.lease) clearTimeout(this.lease);
      this.lease = setTimeout(() => { this.lease = null; this.updateMetering(); }, STATE_METERING_LEASE_MS);
      this.lease.unref();
      this.updateMetering();
    }
    // Waited for when metering just started, or when frames come (a layout was seen) but the last is stale.
    const fresh = performance.now() - this.lastFrameAt < FRESH_FRAME_MS;
    if (fresh || (wasOn && this.o.state.layout === null)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        const i = this.frameWaiters.indexOf(done);
        if (i >= 0) this.frameWaiters.splice(i, 1);
        resolve();
      };
      const t = setTimeout(done, STATE_WAIT_MS);
      this.frameWaiters.push(done);
    });
  }

  private left(c: Client): void {
    if (this.clients.get(c.id) !== c) return;
    this.clients.delete(c.id);
    this.stats.clients = this.clients.size;
    if (c.timer) { clearTimeout(c.timer); c.timer = null; }
    // What the page moved last is not lost with it.
    if (c.pending.size) this.take(c);
    if (c.monitor) { c.monitor = false; this.o.monitor(c.id, null); }
    this.updateMetering();
  }

  private message(c: Client, data: Buffer, isBinary: boolean): void {
    c.alive = true;
    try {
      if (isBinary) throw new ControlError('message', 'binary messages are not taken (send JSON text)');
      const m = readPageMessage(data.toString('utf8'));
      if (m.t === 'monitor') {
        if (m.on && !c.monitor) {
          let on = 0;
          for (const x of this.clients.values()) if (x.monitor) on++;
          if (on >= MAX_MONITORS) throw new ControlError('on', `at most ${MAX_MONITORS} pages may listen at once`);
        }
        c.monitor = m.on;
        c.monitorSpec = m.on ? { room: m.room, solo: m.solo } : null;
        this.o.monitor(c.id, c.monitorSpec);
        return;
      }
      for (const ctl of m.controls) {
        const k = controlTarget(ctl);
        if (c.pending.has(k)) this.stats.coalesced++;
        c.pending.delete(k);
        c.pending.set(k, ctl);
      }
      const now = performance.now();
      if (c.timer) return;
      const wait = c.lastTake + this.minGapMs - now;
      if (wait <= 0) this.take(c);
      else c.timer = setTimeout(() => { c.timer = null; this.take(c); }, wait);
    } catch (err) {
      if (!(err instanceof ControlError)) throw err;
      this.stats.refused++;
      this.sendText(c, JSON.stringify({ t: 'error', field: err.field, message: err.message }));
    }
  }

  /** Passes a page's pending controls on (latest per user and parameter). */
  private take(c: Client): void {
    c.lastTake = performance.now();
    const controls = [...c.pending.values()];
    c.pending.clear();
    if (controls.length === 0) return;
    this.stats.controls += controls.length;
    try {
      this.o.apply(controls);
    } catch (err) {
      this.o.warn?.(`console: a control was not applied: ${wireText((err as Error).message, 200)}`);
    }
  }

  private broadcast(m: unknown): void {
    if (this.clients.size === 0) return;
    const text = JSON.stringify(m);
    for (const c of this.clients.values()) this.sendText(c, text);
  }

  private sendText(c: Client, text: string): void {
    if (c.ws.readyState !== WebSocket.OPEN) return;
    if (c.ws.bufferedAmount > CLOSE_ABOVE_BYTES) { c.ws.close(1008, 'not reading'); return; }
    c.ws.send(text);
  }

  // ---- origin and credentials ----

  private originAllowed(origin: string): boolean {
    const list = this.o.allowedOrigins ?? [];
    return list.includes('*') || list.includes(origin);
  }

  /** Why a request of another origin is refused, or null: no Origin (not a browser's), the server's own host, or listed. */
  private originRefusal(h: http.IncomingHttpHeaders): string | null {
    const origin = header(h, 'origin');
    if (origin === undefined || this.originAllowed(origin)) return null;
    const host = header(h, 'host');
    let originHost: string | undefined;
    try { originHost = new URL(origin).host; } catch { originHost = undefined; }
    if (host !== undefined && originHost !== undefined && originHost.toLowerCase() === host.toLowerCase()) return null;
    return `Origin: ${wireText(origin, 80)} is not this server's origin nor on the console's allowed origins`;
  }

  private cors(h: http.IncomingHttpHeaders): Record<string, string> {
    const origin = header(h, 'origin');
    if (origin === undefined || !this.originAllowed(origin)) return {};
    return { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' };
  }

  /** Why the request lacks the node's token (or a listed user's), or null when it has it or none is asked. */
  private checkToken(h: http.IncomingHttpHeaders, url: string): string | null {
    const { token, users } = this.o;
    if (token === undefined && users === undefined) return null;
    let params: URLSearchParams;
    try { params = new URL(url, 'http://x').searchParams; } catch { params = new URLSearchParams(); }
    const m = /^\s*bearer\s+(\S+)\s*$/i.exec(header(h, 'authorization') ?? '');
    const given = [m?.[1], params.get('token') ?? undefined, params.get('access_token') ?? undefined].filter((x): x is string => typeof x === 'string' && x !== '');
    if (given.length === 0) return 'token: required (?token=, or Authorization: Bearer)';
    let ok = false;
    for (const g of given) {
      if (token !== undefined && sameSecret(g, token)) ok = true;
      if (users !== undefined && users.check(params.get('userId') ?? '', g, 'peer') === 'ok') ok = true;
    }
    return ok ? null : 'token: wrong token';
  }
}

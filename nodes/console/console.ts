// Node: console — the operator's mixing console in the browser (runtime/console, docs/console.md). In: the mixer's
// outputs 2 (tracks, mixParameters) and 5 (meters, monitor), the admin aggregator's state, and connection events
// (the socket reader's output 3, the webrtc node's output 2: names and profiles from the HELLOs). Out 1: control messages
// for the mixer (gain, pan, mute, master, metering, monitor). Serves the page, GET state, POST control and the
// websocket at /xcast/mixer/ on httpNode.
import path from 'node:path';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { ConsoleState, ConsoleServer, METER_LAW, type MixerControl, type MeterLayout } from '../../runtime/console';
import { readBody } from '../../runtime/web/body';
import { UsersList } from '../../runtime/protocol/auth';
import { num, str, ConfigError } from '../lib/config';
import { refuse, resolveUserPath } from '../lib/glue';
import { onAudioInput } from '../lib/direct';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';

interface ConsoleDef extends NodeDef { usersFile: string; allowedOrigins: string; controlsPerSecond: string; token?: string }

const BASE = '/xcast/mixer';
const PAGE_DIR = path.join(__dirname, '..', '..', 'runtime', 'web', 'mixer');
const SAFE_FILE = /^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;

type Req = http.IncomingMessage & { originalUrl?: string };
type Res = http.ServerResponse & { sendFile?: (f: string, o: { root: string }, cb: (e: unknown) => void) => void };
/** Per httpNode app one middleware (a redeploy swaps what it serves, never stacks routes) and the console it serves. */
const apps = new WeakMap<object, { current: { id: string; server: ConsoleServer; config: object } | null }>();

function slotOf(RED: NodeAPI) {
  const app = RED.httpNode as unknown as { use(h: (req: Req, res: Res, next: () => void) => void): void };
  let slot = apps.get(app);
  if (slot) return slot;
  const s: { current: { id: string; server: ConsoleServer; config: object } | null } = (slot = { current: null });
  apps.set(app, s);
  app.use((req, res, next) => {
    const c = s.current;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const p = q >= 0 ? url.slice(0, q) : url;
    if (!c || (p !== BASE && !p.startsWith(BASE + '/'))) { next(); return; }
    // Relative: right under any httpNodeRoot.
    if (p === BASE) { res.statusCode = 301; res.setHeader('Location', `mixer/${q >= 0 ? url.slice(q) : ''}`); res.end(); return; }
    const sub = p.slice(BASE.length);
    if (sub === '/config.json') {
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('Cache-Control', 'no-store');
      res.end(JSON.stringify(c.config));
      return;
    }
    if (sub === '/state' || sub === '/control') {
      void (async () => {
        const body = req.method === 'POST' ? await readBody(req, 16 * 1024).catch(() => '') : undefined;
        const a = body === null
          ? { status: 413, headers: { 'Content-Type': 'application/json' }, body: { error: { code: 'bad_request', field: 'body', message: 'body: too long' } } }
          : await c.server.handle({ method: req.method ?? 'GET', path: sub + (q >= 0 ? url.slice(q) : ''), headers: req.headers, body });
        if (res.headersSent) return;
        res.statusCode = a.status;
        for (const [k, v] of Object.entries(a.headers)) res.setHeader(k, v);
        res.end(a.body === undefined || req.method === 'HEAD' ? undefined : JSON.stringify(a.body));
      })().catch(() => { if (!res.headersSent) { res.statusCode = 500; res.end(); } });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') { next(); return; }
    let file: string;
    try { file = decodeURIComponent(sub.slice(1)) || 'index.html'; } catch { next(); return; }
    if (file.endsWith('/')) file += 'index.html';
    if (!SAFE_FILE.test(file) || typeof res.sendFile !== 'function') { next(); return; }
    res.sendFile(file, { root: PAGE_DIR }, (err: unknown) => { if (err && !res.headersSent) next(); });
  });
  return s;
}

const list = (s: string) => s.split(/[\s,]+/).map((x) => x.trim()).filter((x) => x !== '');

function isLayout(v: unknown): v is MeterLayout {
  const l = v as MeterLayout;
  return !!l && typeof l === 'object' && typeof l.layoutId === 'number' && Array.isArray(l.tracks) && Array.isArray(l.rooms);
}

export = function (RED: NodeAPI) {
  function ConsoleNode(this: Node, config: ConsoleDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    let teardown: (() => void) | undefined;
    try {
      const c = config as unknown as Record<string, unknown>;
      const token = ((node.credentials ?? {}) as { token?: string }).token || str(c, 'token') || undefined;
      let users: UsersList | undefined;
      const usersFile = str(c, 'usersFile');
      if (usersFile) {
        const file = resolveUserPath(RED, usersFile);
        try { users = UsersList.fromFile(file); } catch (e) { throw new ConfigError('usersFile', 'cannot_read', { file, detail: (e as Error).message }); }
      }
      const origins = list(str(c, 'allowedOrigins'));
      for (const o of origins) if (o !== '*' && !/^https?:\/\/[^/\s]+$/.test(o)) throw new ConfigError('allowedOrigins', 'not_one_of', { value: o, allowed: 'scheme://host[:port], *' });
      const controlsPerSecond = num(c, 'controlsPerSecond', { def: 60, min: 1, max: 1000 });
      const slot = slotOf(RED);
      if (slot.current && slot.current.id !== node.id) throw Object.assign(new Error(t('console.errors.second', { id: slot.current.id, path: BASE })), { field: 'console' });

      const settings = RED.settings as unknown as { httpNodeRoot?: string | false; httpNodeAuth?: never; bearerTokens?: string[] };
      const root = typeof settings.httpNodeRoot === 'string' ? settings.httpNodeRoot.replace(/\/+$/, '') : '';
      const wsPath = `${root}${BASE}/ws`;
      const out = (msgs: NodeMessage[]) => node.send([msgs] as never);
      const state = new ConsoleState();
      // Called for every strip told (a join of 300 peers is 300 of them): the text is made only when the throttled
      // status is shown, from the counts then (a catalog lookup and every strip built, per strip, were 5 % of the
      // event loop at 250 UDP peers).
      const waitingText = () => t('console.status.waiting', { path: `${root}${BASE}/` });
      const pagesText = () => t('console.status.pages', { count: server.size, tracks: state.size });
      const showPages = () => {
        if (server.size === 0) status.setBy('yellow', 'ring', waitingText);
        else status.setBy('green', 'dot', pagesText);
      };
      const server = new ConsoleServer({
        state, token, users, allowedOrigins: origins, controlsPerSecond,
        web: { httpNodeAuth: settings.httpNodeAuth, bearerTokens: settings.bearerTokens },
        apply: (controls: MixerControl[]) => out(controls.map((x): NodeMessage => (
          x.kind === 'master' ? { topic: 'master', payload: x.gain, room: x.room } as NodeMessage
            : { topic: x.kind, userId: x.userId, payload: x.kind === 'gain' ? x.gain : x.kind === 'pan' ? x.pan : x.mute } as NodeMessage))),
        metering: (on) => { out([{ topic: 'metering', payload: on } as NodeMessage]); showPages(); },
        monitor: (listener, spec) => out([{ topic: 'monitor', listener, payload: spec } as NodeMessage]),
        warn: (w) => node.warn(w),
      });
      const config1 = { version: 1, ws: 'ws', wsPath, state: 'state', control: 'control', tokenRequired: token !== undefined || users !== undefined, meterLaw: METER_LAW };
      slot.current = { id: node.id, server, config: config1 };

      // Websocket upgrades never pass Express: the server checks origin and credentials itself (runtime/console/server.ts).
      const httpServer = (RED as unknown as { server?: http.Server }).server;
      const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
        const u = req.url ?? '/';
        const p = u.includes('?') ? u.slice(0, u.indexOf('?')) : u;
        if (p === wsPath) server.upgrade(req, socket, head);
      };
      httpServer?.on('upgrade', onUpgrade);
      teardown = () => {
        httpServer?.off('upgrade', onUpgrade);
        if (slot.current?.server === server) slot.current = null;
        server.close();
      };

      onAudioInput(node, (msg) => {
        const p = msg.payload;
        switch (msg.topic) {
          case 'tracks': state.onTracks(p); server.mixerAlive(); break;
          case 'mixParameters': state.onParams(p); break;
          case 'connection': state.onConnection(p, msg.userId); break;
          case 'metadata': state.onShared((p as { mixeradminSharedState?: unknown } | undefined)?.mixeradminSharedState); break;
          case 'meters':
            if (!Buffer.isBuffer(p) || !isLayout(msg.layout)) throw new Error(t('console.errors.bad-meters'));
            server.meters(p, msg.layout, typeof msg.sampleRate === 'number' ? msg.sampleRate : undefined);
            break;
          case 'monitor': {
            const a = msg.audio as { channels?: unknown; frameSamples?: unknown; seq?: unknown } | undefined;
            if (!Buffer.isBuffer(p) || typeof msg.listener !== 'string' || typeof a?.channels !== 'number' || typeof a.frameSamples !== 'number') throw new Error(t('console.errors.bad-monitor'));
            server.monitorAudio(msg.listener, p, a.channels, a.frameSamples, typeof a.seq === 'number' ? a.seq : 0);
            break;
          }
          default: break;   // the mixer's output 2 carries more (streamEvents): not the console's
        }
      });
      // Diagnostics (tests, the bench): the server, with its counters (stats).
      (node as unknown as { consoleServer?: ConsoleServer }).consoleServer = server;
      state.on('strip', () => showPages());
      state.on('gone', () => showPages());
      showPages();
    } catch (err) {
      refuse(RED, node, err);
    }
    node.on('close', (removed: boolean, done: () => void) => {
      teardown?.();
      status.clear();
      done();
    });
  }
  RED.nodes.registerType('xcast-console', ConsoleNode, { credentials: { token: { type: 'password' } } });
};

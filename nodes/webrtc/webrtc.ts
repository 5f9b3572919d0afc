// Node: WebRTC — browsers join rooms (runtime/webrtc RtcHub). Out 1: the Opus packets they publish, as audio
// messages for the mixer; out 2: connection events and RTT (pong) for the aggregator and the event stream. In: the
// Opus packets of the mixes (a room's, or one listener's mix-minus). Signaling on httpNode at the base path
// (docs/webrtc.md), the join page at /xcast/join/.
import path from 'node:path';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RtcHub, RtcHubOptions, RtcOptionError, serveSignaling } from '../../runtime/webrtc';
import type { RtcPeerInfo, RtcAudioHeader, IceServer } from '../../runtime/webrtc';
import { UsersList } from '../../runtime/protocol/auth';
import { opusPacketSamples } from '../../runtime/protocol/opus-toc';
import { roomOf } from '../../runtime/rooms';
import { num, str, ConfigError } from '../lib/config';
import { refuse, isAudioMsg, resolveUserPath, AudioMsg } from '../lib/glue';
import { onAudioInput, AudioOutput } from '../lib/direct';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';
import { addHttpRoutes } from '../lib/http-routes';
import { nextMsgId } from '../lib/msgid';
import { UsedFrame } from '../../runtime/audio/used';

interface WebRtcDef extends NodeDef {
  basePath: string; rooms: string; maxPeers: string; maxPeersPerRoom: string; usersFile: string; token?: string;
  iceServers: string; hostAddresses: string; portRange: string; inactivityTimeout: string; allowedOrigins: string;
}

const DEFAULT_BASE_PATH = '/xcast/rtc';
const JOIN_PATH = '/xcast/join';
const JOIN_DIR = path.join(__dirname, '..', '..', 'runtime', 'web', 'join');

type Handler = (req: IncomingMessage & { path?: string }, res: ServerResponse & { sendFile?: Function; redirect?: Function }, next: () => void) => void;
/** Per httpNode app: one middleware (a redeploy swaps hubs, never stacks routes) and the hubs by base path. */
const apps = new WeakMap<object, Map<string, RtcHub>>();

function hubsOf(RED: NodeAPI): Map<string, RtcHub> {
  const app = RED.httpNode as unknown as { use(h: Handler): void };
  let hubs = apps.get(app);
  if (hubs) return hubs;
  const map = new Map<string, RtcHub>();
  hubs = map;
  apps.set(app, map);
  app.use((req, res, next) => {
    if (map.size === 0) { next(); return; }
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const p = q >= 0 ? url.slice(0, q) : url;
    for (const [base, hub] of map) {
      if (p === base || p.startsWith(base + '/')) { void serveSignaling(hub, req, res, url.slice(base.length) || '/'); return; }
    }
    if (p === JOIN_PATH) { res.statusCode = 301; res.setHeader('Location', JOIN_PATH + '/' + (q >= 0 ? url.slice(q) : '')); res.end(); return; }
    if (p === JOIN_PATH + '/config.json') {
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('Cache-Control', 'no-store');
      res.end(JSON.stringify({ base: [...map.keys()][0] }));
      return;
    }
    if (p.startsWith(JOIN_PATH + '/') && req.method === 'GET') {
      let file: string;
      try { file = decodeURIComponent(p.slice(JOIN_PATH.length + 1)) || 'index.html'; } catch { next(); return; }
      if (file.includes('/') || file.includes('\\') || file.startsWith('.')) { next(); return; }
      if (typeof res.sendFile !== 'function') { next(); return; }
      res.sendFile(file, { root: JOIN_DIR }, (err: unknown) => { if (err && !res.headersSent) next(); });
      return;
    }
    next();
  });
  return map;
}

const list = (s: string) => s.split(/[\s,]+/).map((x) => x.trim()).filter((x) => x !== '');

/** The editor's settings as hub options; a bad one is refused naming the field. */
function readOptions(RED: NodeAPI, node: Node, config: WebRtcDef): { basePath: string; options: RtcHubOptions } {
  const c = config as unknown as Record<string, unknown>;
  const basePath = str(c, 'basePath', { def: DEFAULT_BASE_PATH }).replace(/\/+$/, '');
  if (!/^(\/[A-Za-z0-9._~-]+)+$/.test(basePath)) throw new RtcOptionError('basePath', `"${basePath}" is not a path (/xcast/rtc: segments of letters, digits, . _ ~ -)`);
  if (basePath === JOIN_PATH || basePath.startsWith(JOIN_PATH + '/')) throw new RtcOptionError('basePath', `${JOIN_PATH} is the join page's`);
  const roomsText = str(c, 'rooms', { def: 'auto' });
  const rooms = roomsText === 'auto' ? 'auto' as const : list(roomsText);
  const maxPeers = num(c, 'maxPeers', { def: 64, min: 1, max: 10000, int: true });
  const maxPeersPerRoom = str(c, 'maxPeersPerRoom') ? num(c, 'maxPeersPerRoom', { min: 1, max: 10000, int: true }) : undefined;
  const creds = (node.credentials ?? {}) as { token?: string };
  const token = creds.token || str(c, 'token') || undefined;
  let users: UsersList | undefined;
  const usersFile = str(c, 'usersFile');
  if (usersFile) {
    const file = resolveUserPath(RED, usersFile);
    try {
      users = UsersList.fromFile(file);
    } catch (e) {
      throw new ConfigError('usersFile', 'cannot_read', { file, detail: (e as Error).message });
    }
  }
  let iceServers: IceServer[] | undefined;
  const iceText = str(c, 'iceServers');
  if (iceText) {
    let v: unknown;
    try {
      v = JSON.parse(iceText);
    } catch (e) {
      throw new ConfigError('iceServers', 'not_json', { detail: (e as Error).message.replace(/"[^"]*"/g, '…') });
    }
    if (v && typeof v === 'object' && !Array.isArray(v) && Array.isArray((v as { iceServers?: unknown }).iceServers)) v = (v as { iceServers: unknown }).iceServers;
    if (!Array.isArray(v)) throw new RtcOptionError('iceServers', 'must be a JSON list [{ "urls": "stun:host:port" }, …]');
    iceServers = v as IceServer[];
  }
  const hosts = list(str(c, 'hostAddresses'));
  let portRange: [number, number] | undefined;
  const pr = str(c, 'portRange');
  if (pr) {
    const m = /^(\d+)\s*[-–:]\s*(\d+)$/.exec(pr);
    if (!m) throw new RtcOptionError('portRange', `"${pr}" is not MIN-MAX (e.g. 40000-40999)`);
    portRange = [Number(m[1]), Number(m[2])];
  }
  const inactivityMs = Math.round(num(c, 'inactivityTimeout', { def: 30, min: 0.1, max: 3600 }) * 1000);
  const origins = list(str(c, 'allowedOrigins'));
  return {
    basePath,
    options: {
      rooms, maxPeers, maxPeersPerRoom, token, users, iceServers, hostAddresses: hosts.length ? hosts : undefined, portRange,
      inactivityMs, allowedOrigins: origins.length ? origins : undefined,
    },
  };
}

export = function (RED: NodeAPI) {
  // /metrics and the other xcast routes answer on any xcast (nodes/lib/http-routes.ts).
  addHttpRoutes(RED);
  function WebRtcNode(this: Node, config: WebRtcDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    let hub: RtcHub | undefined;
    let unregister: (() => void) | undefined;
    try {
      const { basePath, options } = readOptions(RED, node, config);
      const hubs = hubsOf(RED);
      if (hubs.has(basePath)) throw new RtcOptionError('basePath', `${basePath} is served by another WebRTC node`);
      const h = (hub = new RtcHub(options));
      hubs.set(basePath, h);
      unregister = () => { if (hubs.get(basePath) === h) hubs.delete(basePath); };

      const showState = () => {
        const rooms = h.rooms().filter((r) => r.peers.length > 0);
        if (rooms.length === 0) { status.now('yellow', 'ring', t('webrtc.status.waiting', { base: basePath })); return; }
        const text = rooms.map((r) => `${r.room}: ${r.peers.length}`).join(', ');
        status.now('green', 'dot', t('webrtc.status.peers', { count: h.size, rooms: text }));
      };
      showState();

      const audioOut = new AudioOutput(RED, node, 0, 2);
      const event = (p: RtcPeerInfo, payload: Record<string, unknown>) => {
        const base = { userId: p.userId, connectionId: p.connectionId, room: p.room };
        node.send([null, { topic: 'connection', payload: { ...payload, ...base, direction: 'incoming', remote: p.remote, role: 'webrtc', at: Date.now() }, ...base }]);
      };
      const opened = new Set<string>();
      h.on('connected', (p: RtcPeerInfo) => {
        opened.add(p.connectionId);
        event(p, {
          event: 'open', hello: { userId: p.userId, name: p.name, role: 'webrtc', profile: { room: p.room, name: p.name } },
          authenticated: options.token !== undefined || options.users !== undefined, secure: true,
          publish: p.publish, listen: p.listen,
        });
        showState();
      });
      h.on('join', showState);
      h.on('leave', (p: RtcPeerInfo, reason: string) => {
        if (opened.delete(p.connectionId)) event(p, { event: 'close', reason });
        showState();
      });
      h.on('rtt', (p: RtcPeerInfo, rttMs: number) => {
        node.send([null, { topic: 'pong', userId: p.userId, connectionId: p.connectionId, room: p.room, payload: { rttMs } }]);
      });
      h.on('warning', (w: string) => node.warn(w));
      h.on('audio', (p: RtcPeerInfo, header: RtcAudioHeader, data: Buffer, arrival: number) => {
        const msg: AudioMsg = {
          topic: 'audio', payload: data, audio: header, userId: p.userId, connectionId: p.connectionId, room: p.room,
          mixMinus: p.publish && p.listen, arrivalTime: arrival, _msgid: nextMsgId(),
        };
        audioOut.send(msg);
      });

      // The mixes, from the Opus encoders after the mixer's outputs 1, 3 and 4.
      onAudioInput(node, (msg) => {
        if (!isAudioMsg(msg)) throw new Error(t('xcast.errors.not-audio'));
        if (msg.audio.codec !== 'opus') throw new Error(t('xcast.errors.wrong-codec', { node: 'webrtc', want: 'opus', got: msg.audio.codec }));
        const samples = opusPacketSamples(msg.payload, 48000);
        if (samples <= 0 || msg.audio.sampleRate !== 48000) throw new Error(t('webrtc.errors.bad-packet', { bytes: msg.payload.length, rate: msg.audio.sampleRate }));
        const room = roomOf(msg.room);
        if (typeof msg.targetUserId === 'string') h.sendTo(room, msg.targetUserId, msg.payload, samples);
        else {
          // The mixer's used frame (runtime/audio/used.ts): who is in this room's mix.
          const used = (msg.mixed as { used?: unknown } | undefined)?.used;
          h.sendRoom(room, msg.payload, samples, used instanceof UsedFrame ? used : undefined);
        }
      });
    } catch (err) {
      refuse(RED, node, err);
    }

    node.on('close', (removed: boolean, done: () => void) => {
      status.clear();
      unregister?.();
      Promise.resolve(hub?.close()).then(() => done(), () => done());
    });
  }
  RED.nodes.registerType('xcast-webrtc', WebRtcNode, { credentials: { token: { type: 'password' } } });
};

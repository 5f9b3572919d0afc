// Node: RTP in — RTP audio from ffmpeg, GStreamer, OBS or AES67-style devices (runtime/rtp/ingest.ts), each source a
// track for the mixer. Out 1: audio messages (Opus, or L16 / L24 as f32 PCM); out 2: connection events (open when a
// source appears, close at its BYE or timeout) for the mixer, the admin aggregator and the event stream.
import fs from 'node:fs';
import { isIP } from 'node:net';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { RtpIngest, type RtpIngestDropReason } from '../../runtime/rtp/ingest';
import { RtpPayloadTable, SdpError, parseSdp } from '../../runtime/rtp/sdp';
import type { RtpSource } from '../../runtime/rtp/sources';
import { transportStats } from '../../runtime/protocol/limits';
import { roomOf } from '../../runtime/rooms';
import { num, str, bool, ConfigError } from '../lib/config';
import { refuse, resolveInputPath, AudioMsg } from '../lib/glue';
import { AudioOutput } from '../lib/direct';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';
import { addHttpRoutes } from '../lib/http-routes';
import { nextMsgId } from '../lib/msgid';

interface RtpInDef extends NodeDef {
  host: string; port: string; rtcpPort: string; rtcpMux: boolean | string; sdp: string; sdpFile: string;
  users: string; room: string; timeoutS: string; maxSources: string; maxPerAddress?: string;
}

type Cfg = Record<string, unknown>;

/** The SDP from the node's text or file; none: Opus on any dynamic payload type. Refused naming the field. */
function readPayloads(RED: NodeAPI, c: Cfg): RtpPayloadTable {
  const text = str(c, 'sdp');
  const file = str(c, 'sdpFile');
  if (!text && !file) return new RtpPayloadTable();
  const field = text ? 'sdp' : 'sdpFile';
  let sdpText = text;
  if (!text) {
    const p = resolveInputPath(RED, file);
    try { sdpText = fs.readFileSync(p, 'utf8'); } catch (e) { throw new ConfigError('sdpFile', 'cannot_read', { file: p, detail: (e as Error).message }); }
  }
  try {
    const t = new RtpPayloadTable(parseSdp(sdpText));
    if (t.payloadTypes().length === 0) throw new SdpError('sdp: no Opus, L16 or L24 payload type in its audio m-lines');
    return t;
  } catch (e) {
    if (e instanceof SdpError) throw new ConfigError(field, 'bad_sdp', { detail: e.message });
    throw e;
  }
}

/** The users mapping: JSON { "<SSRC, decimal or 0x hex>" | "<address>" | "<address:port>": "userId" }. */
function readUsers(c: Cfg): { users: Map<number, string>; usersByAddress: Map<string, string> } {
  const users = new Map<number, string>();
  const usersByAddress = new Map<string, string>();
  const raw = str(c, 'users');
  if (!raw) return { users, usersByAddress };
  let v: unknown;
  try { v = JSON.parse(raw); } catch (e) { throw new ConfigError('users', 'not_json', { detail: (e as Error).message }); }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ConfigError('users', 'not_json', { detail: 'not an object' });
  for (const [k, id] of Object.entries(v as Record<string, unknown>)) {
    if (typeof id !== 'string' || id === '') throw new ConfigError('users', 'bad_mapping', { key: k });
    const key = k.trim();
    if (/^(0x[0-9a-f]{1,8}|\d{1,10})$/i.test(key) && Number(key) <= 0xffffffff) { users.set(Number(key), id); continue; }
    const m = /^\[?([^\]]+?)\]?(?::(\d{1,5}))?$/.exec(key);
    const addr = isIP(key) ? key : m && isIP(m[1]) && m[2] !== undefined && Number(m[2]) <= 65535 ? `${m[1]}:${m[2]}` : '';
    if (!addr) throw new ConfigError('users', 'bad_mapping', { key: k });
    usersByAddress.set(addr, id);
  }
  return { users, usersByAddress };
}

export = function (RED: NodeAPI) {
  addHttpRoutes(RED);
  function RtpInNode(this: Node, config: RtpInDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    let ingest: RtpIngest | undefined;
    try {
      const c = config as unknown as Cfg;
      const host = str(c, 'host', { def: '127.0.0.1' });
      if (!isIP(host)) throw new ConfigError('host', 'not_address', { value: host });
      const port = num(c, 'port', { def: 5004, min: 0, max: 65535, int: true });
      const mux = bool(c, 'rtcpMux', false);
      const rtcpPort = mux ? 'mux' as const : str(c, 'rtcpPort') ? num(c, 'rtcpPort', { min: 0, max: 65535, int: true }) : undefined;
      const payloads = readPayloads(RED, c);
      const { users, usersByAddress } = readUsers(c);
      const room = roomOf(str(c, 'room') || undefined);
      const idleMs = num(c, 'timeoutS', { def: 5, min: 0.2, max: 3600 }) * 1000;
      const maxSources = num(c, 'maxSources', { def: 64, min: 1, max: 4096, int: true });
      // Flows saved before the field: 16.
      const maxPerAddress = num(c, 'maxPerAddress', { def: 16, min: 1, max: 4096, int: true });
      const ing = (ingest = new RtpIngest({ host, port, rtcpPort, payloads, users, usersByAddress, idleMs, maxSources, maxPerAddress }));

      // What a test (and the bench) reads: the drops by reason, the sources, the RRs sent.
      (node as unknown as { rtpStats: () => unknown }).rtpStats = () => ({
        dropped: ing.dropped(), sources: ing.table.size, reportsSent: ing.reportsSent, rtpPort: ing.rtpPort, rtcpPort: ing.rtcpPort,
      });

      let dropTotal = 0;
      const stateText = () => (dropTotal > 0
        ? t('rtp-in.status.listening-dropped', { port: ing.rtpPort, count: ing.table.size, dropped: dropTotal })
        : t('rtp-in.status.listening', { port: ing.rtpPort, count: ing.table.size }));
      const show = () => status.setBy(ing.table.size ? 'green' : 'yellow', ing.table.size ? 'dot' : 'ring', stateText);

      const connectionId = (s: RtpSource) => `rtp:${s.ssrc.toString(16).padStart(8, '0')}@${s.address}:${s.port}`;
      const ids = new WeakMap<RtpSource, string>();
      const event = (s: RtpSource, payload: Record<string, unknown>) => {
        const base = { userId: s.userId, connectionId: ids.get(s) ?? connectionId(s), direction: 'incoming' as const, room };
        node.send([null, { topic: 'connection', payload: { ...payload, ...base, remote: `${s.address}:${s.port}`, role: 'rtp', at: Date.now() }, ...base }]);
      };
      ing.on('open', (s) => {
        ids.set(s, connectionId(s));
        event(s, {
          event: 'open', hello: { userId: s.userId, role: 'rtp', profile: { room, ssrc: s.ssrc, codec: s.format.codec, payloadType: s.format.payloadType } },
          authenticated: false, secure: false,
        });
        status.now('green', 'dot', stateText());
      });
      ing.on('close', (s, reason) => { event(s, { event: 'close', reason }); show(); });

      const audioOut = new AudioOutput(RED, node, 0, 2);
      ing.on('audio', (s, header, payload, arrival) => {
        const msg: AudioMsg = {
          topic: 'audio', payload, audio: header, userId: s.userId, connectionId: ids.get(s) as string, room, arrivalTime: arrival, _msgid: nextMsgId(),
        };
        audioOut.send(msg);
        show();
      });
      // Said at most once a minute per reason; every drop is counted (rtpStats, the status).
      const warnedAt = new Map<RtpIngestDropReason, number>();
      ing.on('drop', (reason, detail) => {
        dropTotal++;
        // On /metrics as xcast_transport_limit_hits_total{limit="rtp_<reason>"}, as seed 002's drops are.
        transportStats.count(`rtp_${reason.replace(/-/g, '_')}`);
        const now = Date.now();
        if ((warnedAt.get(reason) ?? -Infinity) + 60_000 <= now) {
          warnedAt.set(reason, now);
          node.warn(t('rtp-in.errors.dropped', { reason, detail: detail.slice(0, 200) }));
        }
        show();
      });
      ing.on('error', (e) => node.warn(t('rtp-in.errors.socket', { detail: e.message })));
      ing.listen().then(() => status.now('yellow', 'ring', stateText()), (err: Error) => {
        node.error(t('xcast.errors.cannot-listen', { where: `${host}:${port}`, detail: err.message }));
        status.now('red', 'ring', t('xcast.status.listen-failed', { detail: err.message }));
      });
    } catch (err) {
      refuse(RED, node, err);
    }

    node.on('close', (removed: boolean, done: () => void) => {
      ingest?.close();
      status.clear();
      done();
    });
  }
  RED.nodes.registerType('xcast-rtp-in', RtpInNode);
};

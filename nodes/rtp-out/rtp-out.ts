// Node: RTP out — the mix (or one user's mix-minus) as RTP (runtime/rtp/stream-out.ts): Opus packets from an opus
// encode node, or PCM as L24. Its SDP is written to a file (optional) and served at GET /xcast/rtp/<name>.sdp on
// httpNode (/xcast/rtp/mix.sdp: the node named "mix", else the first deployed); optionally announced with SAP.
import fs from 'node:fs';
import { isIP } from 'node:net';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RtpStreamOut, SapAnnouncer } from '../../runtime/rtp/stream-out';
import { SAP_ADDRESS, SAP_PORT } from '../../runtime/rtp/sap';
import { num, str, bool, oneOf, ConfigError } from '../lib/config';
import { refuse, isAudioMsg, resolveUserPath } from '../lib/glue';
import { onAudioInput } from '../lib/direct';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';
import { addHttpRoutes } from '../lib/http-routes';

interface RtpOutDef extends NodeDef {
  codec: string; host: string; port: string; channels: string; sampleRate: string; ptimeMs: string; ttl: string;
  localAddress: string; sdpFile: string; sap: boolean | string; sapAddress: string; sapPort: string; targetUserId: string;
}

const SDP_BASE = '/xcast/rtp/';
type Handler = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

/** Per httpNode app: one middleware, and the SDPs served by name in deploy order. */
const apps = new WeakMap<object, Map<string, string>>();

function sdpsOf(RED: NodeAPI): Map<string, string> {
  const app = RED.httpNode as unknown as { use(h: Handler): void };
  let map = apps.get(app);
  if (map) return map;
  const sdps = (map = new Map<string, string>());
  apps.set(app, sdps);
  app.use((req, res, next) => {
    const url = req.url ?? '/';
    if (sdps.size === 0 || !url.startsWith(SDP_BASE) || (req.method !== 'GET' && req.method !== 'HEAD')) { next(); return; }
    const q = url.indexOf('?');
    const name = (q >= 0 ? url.slice(SDP_BASE.length, q) : url.slice(SDP_BASE.length)).replace(/\.sdp$/, '');
    const text = sdps.get(name) ?? (name === 'mix' ? sdps.values().next().value : undefined);
    if (text === undefined) { next(); return; }
    res.setHeader('Content-Type', 'application/sdp');
    res.setHeader('Cache-Control', 'no-store');
    res.end(req.method === 'HEAD' ? undefined : text);
  });
  return sdps;
}

/** The name a node's SDP is served under: its name as a path segment, else its id. */
function sdpName(node: { name?: string; id: string }): string {
  const n = String(node.name ?? '').trim().toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
  return n || node.id.replace(/[^A-Za-z0-9._-]/g, '_');
}

export = function (RED: NodeAPI) {
  addHttpRoutes(RED);
  function RtpOutNode(this: Node, config: RtpOutDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    let out: RtpStreamOut | undefined;
    let sap: SapAnnouncer | undefined;
    let unregister: (() => void) | undefined;
    try {
      const c = config as unknown as Record<string, unknown>;
      const codec = oneOf(c, 'codec', ['opus', 'L24'] as const, 'opus');
      const host = str(c, 'host', { def: '127.0.0.1' });
      if (!isIP(host)) throw new ConfigError('host', 'not_address', { value: host });
      const port = num(c, 'port', { def: 5006, min: 1, max: 65534, int: true });
      const channels = num(c, 'channels', { def: 2, min: 1, max: codec === 'opus' ? 2 : 8, int: true });
      const sampleRate = num(c, 'sampleRate', { def: 48000, min: 8000, max: 192000, int: true });
      const ptimeMs = num(c, 'ptimeMs', { def: codec === 'opus' ? 20 : 1, min: 0.125, max: 120 });
      if (codec === 'L24' && !Number.isInteger((sampleRate * ptimeMs) / 1000)) throw new ConfigError('ptimeMs', 'not_whole_samples', { ms: ptimeMs, sampleRate });
      const ttl = num(c, 'ttl', { def: 32, min: 0, max: 255, int: true });
      const localAddress = str(c, 'localAddress') || undefined;
      if (localAddress && !isIP(localAddress)) throw new ConfigError('localAddress', 'not_address', { value: localAddress });
      const sdpFile = str(c, 'sdpFile');
      const targetUserId = str(c, 'targetUserId');
      const useSap = bool(c, 'sap', false);
      const sapAddress = str(c, 'sapAddress', { def: SAP_ADDRESS });
      if (!isIP(sapAddress)) throw new ConfigError('sapAddress', 'not_address', { value: sapAddress });
      const sapPort = num(c, 'sapPort', { def: SAP_PORT, min: 1, max: 65535, int: true });
      const name = sdpName({ name: config.name, id: node.id });

      const o = (out = new RtpStreamOut({
        codec, host, port, channels, sampleRate, ptimeMs, ttl, localAddress, sessionName: config.name ? `xcast ${config.name}` : 'xcast mix',
      }));
      const sdps = sdpsOf(RED);
      if (sdps.has(name)) throw new ConfigError('name', 'not_one_of', { value: name, allowed: `a name no other rtp out uses (${[...sdps.keys()].join(', ')})` });
      sdps.set(name, o.sdp);
      unregister = () => { if (sdps.get(name) === o.sdp) sdps.delete(name); };
      (node as unknown as { rtpOut: RtpStreamOut; sdpPath: string }).rtpOut = o;
      (node as unknown as { sdpPath: string }).sdpPath = `${SDP_BASE}${name}.sdp`;
      if (sdpFile) {
        const p = resolveUserPath(RED, sdpFile);
        try { fs.writeFileSync(p, o.sdp); } catch (e) { throw new ConfigError('sdpFile', 'cannot_write', { file: p, detail: (e as Error).message }); }
      }
      if (useSap) sap = new SapAnnouncer({ sdp: o.sdp, origin: localAddress ?? '127.0.0.1', address: sapAddress, port: sapPort, ttl });

      const where = `${host}:${port}`;
      const sendingText = () => t('rtp-out.status.sending', { codec, where, packets: o.sender.packetCount });
      status.now('yellow', 'ring', t('rtp-out.status.waiting', { codec, where }));
      o.whenReady().catch((err: Error) => {
        node.error(t('rtp-out.errors.socket', { detail: err.message }));
        status.now('red', 'ring', t('xcast.status.listen-failed', { detail: err.message }));
      });

      // Said once per target: a mix-minus for another user on the wire (one node per target takes its own).
      const refusedTargets = new Set<string>();
      onAudioInput(node, (msg) => {
        if (!isAudioMsg(msg)) throw new Error(t('xcast.errors.not-audio'));
        const target = typeof msg.targetUserId === 'string' ? msg.targetUserId : '';
        if (target !== targetUserId) {
          // A mix-minus for another rtp out node, or the room's mix for a node set to a target: not this stream.
          if (targetUserId === '' && !refusedTargets.has(target) && refusedTargets.size < 1024) {
            refusedTargets.add(target);
            throw new Error(t('rtp-out.errors.mix-minus', { target }));
          }
          return;
        }
        const a = msg.audio;
        if (codec === 'opus') {
          if (a.codec !== 'opus') throw new Error(t('xcast.errors.wrong-codec', { node: 'rtp out (Opus)', want: 'opus (an opus encode node before it)', got: a.codec }));
          if (o.sendOpus(msg.payload) === 0) throw new Error(t('rtp-out.errors.bad-opus', { bytes: msg.payload.length }));
        } else {
          if (a.codec !== 'pcm_f32le' && a.codec !== 'pcm_s16le') throw new Error(t('xcast.errors.wrong-codec', { node: 'rtp out (L24)', want: 'pcm_f32le or pcm_s16le', got: a.codec }));
          if (a.sampleRate !== sampleRate || a.channels !== channels) {
            throw new Error(t('rtp-out.errors.format', { rate: a.sampleRate, channels: a.channels, wantRate: sampleRate, wantChannels: channels }));
          }
          if (a.frameSamples % o.packetSamples !== 0) throw new Error(t('rtp-out.errors.frame', { frames: a.frameSamples, packet: o.packetSamples }));
          const p = msg.payload;
          let pcm: Float32Array;
          if (a.codec === 'pcm_f32le') {
            pcm = p.byteOffset % 4 === 0 ? new Float32Array(p.buffer, p.byteOffset, p.length >> 2) : new Float32Array(new Uint8Array(p).buffer);
          } else {
            pcm = new Float32Array(p.length >> 1);
            for (let i = 0; i < pcm.length; i++) pcm[i] = p.readInt16LE(i * 2) / 32768;
          }
          o.sendPcm(pcm, Math.min(a.frameSamples, pcm.length / channels));
        }
        status.setBy('green', 'dot', sendingText);
      });
    } catch (err) {
      unregister?.();
      out?.close();
      out = undefined;
      refuse(RED, node, err);
    }

    node.on('close', (removed: boolean, done: () => void) => {
      unregister?.();
      out?.close();
      status.clear();
      Promise.resolve(sap?.stop()).then(() => done(), () => done());
    });
  }
  RED.nodes.registerType('xcast-rtp-out', RtpOutNode);
};

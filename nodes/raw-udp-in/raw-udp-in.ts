// Node: seed 002's raw UDP in — "mono with sequence numbers" ([seq u32 BE][raw audio]) from the seed's audiostreamer
// (or anything that sends that format), one stream per source address and port, each a track of the mixer.
// The work is runtime/protocol/seed002.ts (Seed002Ingest): this is the socket, the messages and the status.
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { Seed002Ingest, type Seed002CloseReason, type Seed002Source } from '../../runtime/protocol/seed002';
import { transportStats } from '../../runtime/protocol/limits';
import { nowMicros } from '../../runtime/clock';
import { isRoomName } from '../../runtime/rooms';
import { num, str, oneOf, json, ConfigError } from '../lib/config';
import { refuse, type AudioMsg } from '../lib/glue';
import { DirectWire } from '../lib/direct';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';
import { nextMsgId } from '../lib/msgid';
import { shareAudioOnFanout } from '../lib/fanout';
import { addHttpRoutes } from '../lib/http-routes';

interface RawUdpInDef extends NodeDef {
  host: string; port: string; format: string; output: string; sampleRate: string; channels: string;
  idleTimeoutMs: string; userMap: string; room: string;
}

export = function (RED: NodeAPI) {
  addHttpRoutes(RED);
  shareAudioOnFanout(RED);
  function RawUdpInNode(this: Node, config: RawUdpInDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    let socket: dgram.Socket | undefined;
    let sweeper: NodeJS.Timeout | undefined;
    let ingest: Seed002Ingest | undefined;
    try {
      const cfg = config as unknown as Record<string, unknown>;
      const host = str(cfg, 'host', { def: '127.0.0.1' });
      if (isIP(host) === 0) throw new ConfigError('host', 'not_one_of', { value: host, allowed: 'an IPv4 or IPv6 address' });
      const port = num(cfg, 'port', { def: 4030, min: 0, max: 65535, int: true });
      const format = oneOf(cfg, 'format', ['s16le', 's16be', 'f32le'] as const, 's16le');
      // What the mixer gets: the format's own (no copy for s16le and f32le), or f32 for a resample node in between.
      const output = oneOf(cfg, 'output', ['', 'pcm_s16le', 'pcm_f32le'] as const, '');
      const sampleRate = num(cfg, 'sampleRate', { def: 48000, min: 8000, max: 192000, int: true });
      const channels = num(cfg, 'channels', { def: 1, min: 1, max: 8, int: true });
      const idleTimeoutMs = num(cfg, 'idleTimeoutMs', { def: 2000, min: 100, max: 3_600_000 });
      // "address:port" or "address" → userId; else the ingest's "seed002-<address>:<port>".
      const userMap = json(cfg, 'userMap') ?? {};
      for (const [k, v] of Object.entries(userMap)) {
        if (typeof v !== 'string' || v === '') throw new ConfigError('userMap', 'not_json', { detail: `the userId of ${k} must be a non-empty string` });
      }
      const room = str(cfg, 'room') || undefined;
      if (room !== undefined && !isRoomName(room)) throw new ConfigError('room', 'not_one_of', { value: room, allowed: 'a room name: 1…64 letters, digits, "_" or "-"' });
      const ing = (ingest = new Seed002Ingest({
        sampleRate, channels, format, output: output === '' ? undefined : output, idleTimeoutMs,
        userIdOf: (a, p) => (userMap[`${a}:${p}`] as string | undefined) ?? (userMap[a] as string | undefined) ?? `seed002-${a}:${p}`,
      }));

      let dropped = 0;
      const warned = new Set<string>();
      const showState = () => {
        const n = ing.size;
        status.now(n ? 'green' : 'yellow', n ? 'dot' : 'ring', t('raw-udp-in.status.listening', { where: `${host}:${boundPort}`, count: n, dropped }));
      };
      const streamingText = () => t('raw-udp-in.status.streaming', { count: ing.size, dropped });

      // Output 2: connection events, as the socket reader's output 3 — the mixer drops a closed source's track at once.
      const connectionMsg = (s: Seed002Source, event: 'open' | 'close', reason?: Seed002CloseReason) => {
        const base = { userId: s.userId, connectionId: s.connectionId, direction: 'incoming' as const };
        const payload: Record<string, unknown> = { event, ...base, remote: s.remote, role: s.role, transport: s.transport, authenticated: false, secure: false, at: Date.now() };
        if (room !== undefined) payload.room = room;
        if (reason !== undefined) { payload.reason = reason; payload.packets = s.packets; }
        return { topic: 'connection', payload, ...base };
      };
      ing.on('open', (s) => { node.send([null, connectionMsg(s, 'open')]); showState(); });
      ing.on('close', (s, reason) => { node.send([null, connectionMsg(s, 'close', reason)]); showState(); });

      const audioWire = new DirectWire(RED, node, 0);
      const out: Array<AudioMsg | null> = [null, null];
      const onMessage = (datagram: Buffer, rinfo: dgram.RemoteInfo) => {
        const arrival = nowMicros();
        const r = ing.handle(datagram, rinfo, Date.now());
        if (r.kind === 'drop') {
          dropped++;
          transportStats.count(`seed002_${r.reason}`);
          // Said once per reason for the node's life; every one is counted (status, /metrics).
          if (!warned.has(r.reason as string)) {
            warned.add(r.reason as string);
            node.warn(t('raw-udp-in.errors.dropped', { remote: `${rinfo.address}:${rinfo.port}`, reason: r.reason, detail: r.message }));
          }
          status.setBy('yellow', 'dot', streamingText);
          return;
        }
        const h = r.header!;
        const s = r.source!;
        const msg: AudioMsg = {
          topic: 'audio', payload: r.data!, userId: s.userId, connectionId: s.connectionId, arrivalTime: arrival,
          audio: { codec: h.codec as AudioMsg['audio']['codec'], sampleRate: h.sampleRate, channels: h.channels, frameSamples: h.frameSamples, seq: h.seq, captureTime: arrival, trackId: h.trackId },
        };
        if (room !== undefined) msg.room = room;
        msg._msgid = nextMsgId();
        const direct = audioWire.resolve();
        if (direct !== null) {
          for (let i = 0; i < direct.length; i++) direct[i](msg);
        } else {
          out[0] = msg;
          try { node.send(out as never); } finally { out[0] = null; }
        }
        status.setBy('green', 'dot', streamingText);
      };

      let boundPort = port;
      const sock = (socket = dgram.createSocket({ type: isIP(host) === 6 ? 'udp6' : 'udp4' }));
      sock.on('message', onMessage);
      sock.on('error', (err) => {
        node.error(t('xcast.errors.cannot-listen', { where: `${host}:${port}`, detail: err.message }));
        status.now('red', 'ring', t('xcast.status.listen-failed', { detail: err.message }));
      });
      sock.bind(port, host, () => {
        boundPort = sock.address().port;
        (node as unknown as { boundPort?: number }).boundPort = boundPort;
        showState();
      });
      // A source that went quiet ends (its track leaves the mix) without waiting for another datagram.
      sweeper = setInterval(() => ing.sweep(Date.now()), Math.min(500, Math.max(50, idleTimeoutMs / 4)));
      // For tests and the bench: the ingest's counters (datagrams, packets, dropped by reason, sources opened/ended).
      (node as unknown as { ingest?: Seed002Ingest }).ingest = ing;
    } catch (err) {
      refuse(RED, node, err);
    }

    node.on('close', (removed: boolean, done: () => void) => {
      if (sweeper) clearInterval(sweeper);
      ingest?.closeAll();
      status.clear();
      if (!socket) { done(); return; }
      try { socket.close(() => done()); } catch { done(); }
    });
  }
  RED.nodes.registerType('xcast-raw-udp-in', RawUdpInNode);
};

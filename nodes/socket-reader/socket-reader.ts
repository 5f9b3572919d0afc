// Node: streamproto1 socket reader — receives audio, metadata and connection events from many senders (server) or one (client).
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { StreamLink } from '../../runtime/protocol/link';
import { helloWithoutToken } from '../../runtime/protocol/frame';
import { helloRoom } from '../../runtime/rooms';
import { openEndpoint, readTrust, codeText, Endpoint } from '../lib/endpoint';
import { addHttpRoutes } from '../lib/http-routes';
import { wireText } from '../../runtime/log-text';
import { codecName, AudioHeader } from '../../runtime/protocol/frame';
import { nowMicros } from '../../runtime/clock';
import { METADATA_PATCH_CAPABILITY } from '../../runtime/protocol/merge-patch';
import { num, str, oneOf, bool, json } from '../lib/config';
import { refuse, AudioMsg } from '../lib/glue';
import { DirectWire, RingWire } from '../lib/direct';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';
import { registerConnection } from '../lib/connections';
import { shareAudioOnFanout } from '../lib/fanout';
import { nextMsgId } from '../lib/msgid';

interface ReaderDef extends NodeDef {
  mode: string; transport?: string; udpIdleTimeoutMs?: string; host: string; port: string; token: string; userId: string; role: string;
  tls?: string; fingerprint?: string; requireClientCert?: boolean | string; usersFile?: string;
  maxFrameKb: string; enableQOSMetrics: boolean | string; profile: string;
}

export = function (RED: NodeAPI) {
  // /metrics and the other xcast routes answer on any xcast, monitor or not (nodes/lib/http-routes.ts).
  addHttpRoutes(RED);
  shareAudioOnFanout(RED);
  function SocketReaderNode(this: Node, config: ReaderDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    let endpoint: Endpoint | undefined;
    let ringWire: RingWire | undefined;
    let frames = 0;
    try {
      const mode = oneOf(config as never, 'mode', ['server', 'client'] as const, 'server');
      const transport = oneOf(config as never, 'transport', ['tcp', 'udp'] as const, 'tcp');
      const udpIdleTimeoutMs = num(config as never, 'udpIdleTimeoutMs', { def: 15000, min: 0, max: 3_600_000 });
      const host = str(config as never, 'host', { def: '127.0.0.1' });
      const port = num(config as never, 'port', { min: mode === 'server' ? 0 : 1, max: 65535, int: true });
      // The token and users list are credentials (encrypted, not in the flow file); a flow file may still set the token inline.
      const { token, tls, users, limits } = readTrust(RED, node, config as never, mode);
      const maxFrameBytes = num(config as never, 'maxFrameKb', { def: 1024, min: 1, max: 65536 }) * 1024;
      const enableQOSMetrics = bool(config as never, 'enableQOSMetrics', false);
      const userId = str(config as never, 'userId', { def: 'monitor' });
      const role = oneOf(config as never, 'role', ['peer', 'monitor', 'xcast'] as const, 'monitor');
      const profile = json(config as never, 'profile');
      const senders = new Set<StreamLink>();

      // The status for a packet: its text made only when the (throttled) status is shown, not per packet.
      let lastHeader: AudioHeader | null = null;
      const streamingText = () => (mode === 'server' ? t('socket-reader.status.streaming-senders', { count: senders.size })
        : t('socket-reader.status.streaming', { kHz: (lastHeader?.sampleRate ?? 0) / 1000, channels: lastHeader?.channels }));

      const showState = () => {
        if (mode === 'server') {
          status.now(senders.size ? 'green' : 'yellow', senders.size ? 'dot' : 'ring',
            t('socket-reader.status.listening', { port, count: senders.size }));
        }
      };

      const audioWire = new DirectWire(RED, node, 0);
      const attach = (conn: StreamLink, senderId: string) => {
        senders.add(conn);
        registerConnection(conn);
        const base = { userId: senderId, connectionId: conn.id, direction: 'incoming' as const };
        // The sender's room (its HELLO's room, else profile.room; runtime/rooms.ts): on every audio message it sends.
        const room = helloRoom(conn.hello);
        node.send([null, null, { topic: 'connection', payload: { event: 'open', ...base, remote: conn.remote, role: conn.role, room, hello: helloWithoutToken(conn.hello), authenticated: conn.authenticated, secure: conn.secure, at: Date.now() }, ...base }, null]);
        // Reused for every packet: Node-RED reads the outer array during send() and keeps only the messages.
        const out: Array<AudioMsg | Record<string, unknown> | null> = [null, null, null, null];
        conn.on('audio', (h: AudioHeader, data: Buffer) => {
          // UDP: when the ingest thread read it (nowMicros there, on the same epoch clock).
          const arrival = conn.arrivalMicros ?? nowMicros();
          const audio = {
            codec: codecName(h.codec), sampleRate: h.sampleRate, channels: h.channels,
            frameSamples: h.frameSamples, seq: h.seq, captureTime: h.captureTime, trackId: h.trackId,
          };
          const msg: AudioMsg = { topic: 'audio', payload: data, audio, userId: senderId, connectionId: conn.id, room, arrivalTime: arrival };
          (msg as { _msgid?: string })._msgid = nextMsgId();
          let qos = null;
          if (enableQOSMetrics) {
            qos = { topic: 'qos', userId: senderId, connectionId: conn.id,
              payload: { head: { ...audio, codec: h.codec }, qosTimestamp: arrival, userId } };
          }
          // Output 1 wired only to xcast nodes that take audio directly: a call each (nodes/lib/direct.ts).
          const direct = audioWire.resolve();
          if (direct !== null) {
            for (let i = 0; i < direct.length; i++) direct[i](msg);
          } else {
            out[0] = msg;
          }
          out[3] = qos;
          if (out[0] !== null || qos !== null) {
            try {
              node.send(out as never);
            } finally {
              out[0] = null; out[3] = null;
            }
          }
          frames++;
          lastHeader = h;
          status.setBy('green', 'dot', streamingText);
        });
        conn.on('metadata', (obj: unknown) => {
          node.send([null, { topic: 'metadata', payload: obj, ...base }, null, null]);
        });
        conn.on('qos', (obj: unknown) => {
          node.send([null, null, { topic: 'qos', payload: obj, ...base }, null]);
        });
        conn.on('pong', (p: unknown) => {
          node.send([null, null, { topic: 'pong', payload: p, ...base }, null]);
        });
        conn.on('protocolError', (err: Error & { code?: string }) => {
          node.warn(t('xcast.errors.closed', { userId: wireText(senderId), remote: wireText(conn.remote), code: codeText(err.code ?? 'protocol'), detail: wireText(err.message, 200) }));
          node.send([null, null, { topic: 'connection', payload: { event: 'error', code: err.code, message: err.message, ...base, remote: conn.remote, at: Date.now() }, ...base }, null]);
        });
        conn.once('close', () => {
          senders.delete(conn);
          node.send([null, null, { topic: 'connection', payload: { event: 'close', ...base, remote: conn.remote, at: Date.now() }, ...base }, null]);
          if (mode === 'server') showState();
        });
        if (mode === 'server') showState();
        else status.now('green', 'dot', t('xcast.status.connected', { where: `${host}:${port}` }));
      };

      endpoint = openEndpoint(RED, node, status, {
        mode, transport, udpIdleTimeoutMs, host, port, token, maxFrameBytes, tls, users, limits,
        // metadata-patch: the xcast may send merge patches of its admin state; StreamClient applies them, so the metadata
        // output still carries whole objects (docs/streamproto1.md, "METADATA schedule and patches").
        hello: { userId, role, profile, capabilities: enableQOSMetrics ? ['qos', METADATA_PATCH_CAPABILITY] : [METADATA_PATCH_CAPABILITY] },
        onListening: showState,
        onConnection: (conn) => {
          if (mode === 'server') { attach(conn, conn.userId ?? conn.remote); return; }
          const serverHello = (conn.hello ?? {}) as { name?: string; userId?: string };
          attach(conn, serverHello.name ?? serverHello.userId ?? 'xcast');
        },
      });
      // UDP server: output 1 wired to one mixer (and else only nodes that take audio directly), and no QOSMetrics per
      // frame to make here → the ingest thread writes the audio into that mixer's mix thread (nodes/lib/direct.ts
      // RingWire); the others, and every target otherwise, get it here in batches.
      const udp = endpoint.udpServer;
      // Diagnostics (tests and the bench read its stats): the UDP server, when this node is one.
      (node as unknown as { udpServer?: unknown }).udpServer = udp;
      if (udp && !enableQOSMetrics) {
        ringWire = new RingWire(RED, node, 0, (r, share) => {
          // The mixer takes the ring; the output's other targets (direct ones) still get every packet, by call.
          audioWire.exclude(share?.target ?? null);
          udp.attachRing(r?.ring ?? null, r?.sampleRate, (share?.others ?? 0) > 0);
        });
      }
    } catch (err) {
      refuse(RED, node, err);
    }

    node.on('close', (removed: boolean, done: () => void) => {
      ringWire?.close();
      status.clear();
      Promise.resolve(endpoint?.close()).then(() => done(), () => done());
    });
    void frames;
  }
  RED.nodes.registerType('xcast-socket-reader', SocketReaderNode, { credentials: { token: { type: 'password' }, users: { type: 'password' } } });
};

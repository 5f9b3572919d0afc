// Node: seed 002's raw UDP out — "stereo without sequence numbers" (interleaved s16le, two channels) to one address,
// what the seed's audiorecorder takes: one datagram per mix frame. Conversion: runtime/protocol/seed002.ts
// (encodeSeed002Stereo, f32 → s16 by runtime/audio/pcm.ts). A connected socket: no DNS lookup per send.
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { encodeSeed002Stereo } from '../../runtime/protocol/seed002';
import { num, str, ConfigError } from '../lib/config';
import { refuse, isAudioMsg } from '../lib/glue';
import { onAudioInput } from '../lib/direct';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';

interface RawUdpOutDef extends NodeDef { host: string; port: string }

export = function (RED: NodeAPI) {
  function RawUdpOutNode(this: Node, config: RawUdpOutDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    let socket: dgram.Socket | undefined;
    try {
      const cfg = config as unknown as Record<string, unknown>;
      const host = str(cfg, 'host', { def: '127.0.0.1' });
      if (isIP(host) === 0) throw new ConfigError('host', 'not_one_of', { value: host, allowed: 'an IPv4 or IPv6 address' });
      const port = num(cfg, 'port', { def: 4040, min: 1, max: 65535, int: true });
      const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
      const stats = { sent: 0, bytes: 0, notConnected: 0, sendErrors: 0 };
      let connected = false;
      let lastError = '';
      let seenErrors = 0;
      const sock = (socket = dgram.createSocket({ type: isIP(host) === 6 ? 'udp6' : 'udp4' }));
      // One callback for every send, and the socket's errors: a refused send (the ICMP port-unreachable of a recorder
      // not running, which a connected socket reports as an 'error' event at a later send) is counted and shown once
      // until it changes — never a log line per frame.
      const sendFailed = (err: Error) => {
        stats.sendErrors++;
        if (err.message !== lastError) {
          lastError = err.message;
          status.now('yellow', 'dot', t('raw-udp-out.status.send-error', { where, detail: err.message }));
        }
      };
      const afterSend = (err: Error | null) => { if (err) sendFailed(err); };
      sock.on('error', (err: Error & { code?: string }) => {
        if (err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH') { sendFailed(err); return; }
        node.error(t('raw-udp-out.errors.socket', { where, detail: err.message }));
        status.now('red', 'ring', t('raw-udp-out.status.error', { detail: err.message }));
      });
      sock.connect(port, host, () => {
        connected = true;
        status.now('yellow', 'ring', t('raw-udp-out.status.ready', { where }));
      });
      const sendingText = () => t('raw-udp-out.status.sending', { where, count: stats.sent });
      (node as unknown as { stats?: typeof stats }).stats = stats;

      onAudioInput(node, (msg) => {
        if (!isAudioMsg(msg)) throw new Error(t('xcast.errors.not-audio'));
        const a = msg.audio;
        if (a.codec !== 'pcm_f32le' && a.codec !== 'pcm_s16le') throw new Error(t('xcast.errors.wrong-codec', { node: 'raw-udp-out', want: 'pcm_f32le or pcm_s16le', got: String(a.codec) }));
        // A fresh Buffer, never written after the send (encodeSeed002Stereo checks the size and channels).
        const datagram = encodeSeed002Stereo(msg.payload, a.channels, a.codec);
        if (!connected) { stats.notConnected++; return; }
        sock.send(datagram, afterSend);
        stats.sent++;
        stats.bytes += datagram.length;
        // Green again once a frame went without a new refusal (the recorder came up).
        const clean = stats.sendErrors === seenErrors;
        seenErrors = stats.sendErrors;
        if (clean) { lastError = ''; status.setBy('green', 'dot', sendingText); }
      });
    } catch (err) {
      refuse(RED, node, err);
    }
    node.on('close', (removed: boolean, done: () => void) => {
      status.clear();
      if (!socket) { done(); return; }
      try { socket.close(() => done()); } catch { done(); }
    });
  }
  RED.nodes.registerType('xcast-raw-udp-out', RawUdpOutNode);
};

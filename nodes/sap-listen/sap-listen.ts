// Node: SAP listener — joins a SAP group (AES67-style discovery, 239.255.255.255:9875 by default) and lists the RTP
// streams announced there. The directory is runtime/rtp/sap-directory.ts; this is the socket, the messages, the status
// and GET {httpNode}/xcast/rtp/sap.
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import type { Request, Response } from 'express';
import { SapDirectory, type SapStream } from '../../runtime/rtp/sap-directory';
import { SAP_ADDRESS, SAP_PORT } from '../../runtime/rtp/sap';
import { num, str, ConfigError } from '../lib/config';
import { refuse } from '../lib/glue';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';

interface SapListenDef extends NodeDef { address: string; port: string; iface: string; timeoutS: string; listIntervalS: string }

/** The directories of the deployed listeners, for the GET route (each node's own list under its id). */
const listeners = new Map<string, { name: string; group: string; dir: SapDirectory }>();
const routed = new WeakSet<object>();

function isMulticast(a: string): boolean {
  if (isIP(a) === 4) { const first = Number(a.split('.')[0]); return first >= 224 && first <= 239; }
  return isIP(a) === 6 && /^ff/i.test(a);
}

export = function (RED: NodeAPI) {
  const app = RED.httpNode as unknown as object;
  if (app && !routed.has(app)) {
    routed.add(app);
    RED.httpNode.get('/xcast/rtp/sap', (_req: Request, res: Response) => {
      const out = [...listeners.entries()].map(([id, l]) => ({ id, name: l.name, group: l.group, streams: l.dir.list() }));
      res.set('Cache-Control', 'no-store').json({ listeners: out });
    });
  }

  function SapListenNode(this: Node, config: SapListenDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    let socket: dgram.Socket | undefined;
    const timers: NodeJS.Timeout[] = [];
    try {
      const cfg = config as unknown as Record<string, unknown>;
      const address = str(cfg, 'address', { def: SAP_ADDRESS });
      if (isIP(address) === 0) throw new ConfigError('address', 'not_one_of', { value: address, allowed: 'an IPv4 or IPv6 address (a multicast group, or a unicast address to listen on)' });
      const port = num(cfg, 'port', { def: SAP_PORT, min: 0, max: 65535, int: true });
      // The interface address the group is joined on (blank: the system's choice).
      const iface = str(cfg, 'iface');
      if (iface !== '' && isIP(iface) === 0) throw new ConfigError('iface', 'not_one_of', { value: iface, allowed: 'an IP address of this machine, or blank' });
      // Blank: RFC 2974's timeout (ten announcement intervals, at least an hour).
      const timeoutS = num(cfg, 'timeoutS', { def: 0, min: 0, max: 86400 });
      const listIntervalS = num(cfg, 'listIntervalS', { def: 0, min: 0, max: 86400 });
      const dir = new SapDirectory({ timeoutMs: timeoutS > 0 ? timeoutS * 1000 : undefined });
      const multicast = isMulticast(address);
      const group = `${address.includes(':') ? `[${address}]` : address}:${port}`;
      listeners.set(node.id, { name: config.name ?? '', group, dir });
      (node as unknown as { directory?: SapDirectory }).directory = dir;

      let boundPort = port;
      const showState = () => status.now(dir.size ? 'green' : 'yellow', dir.size ? 'dot' : 'ring',
        t('sap-listen.status.listening', { where: `${address}:${boundPort}`, count: dir.size }));
      const streamMsg = (event: string, s: SapStream): NodeMessage => ({ topic: 'sap', payload: { event, ...s } } as NodeMessage);
      const listMsg = (): NodeMessage => ({ topic: 'sapList', payload: dir.list() } as NodeMessage);

      const warned = new Set<string>();
      const sock = (socket = dgram.createSocket({ type: isIP(address) === 6 ? 'udp6' : 'udp4', reuseAddr: true }));
      sock.on('message', (m, rinfo) => {
        const r = dir.hear(m, rinfo, Date.now());
        switch (r.kind) {
          case 'new': case 'changed': node.send(streamMsg(r.kind === 'new' ? 'announce' : 'change', r.stream)); showState(); break;
          case 'deleted': node.send(streamMsg('delete', r.stream)); showState(); break;
          case 'drop':
            // Said once per reason; all counted (node.directory.stats).
            if (!warned.has(r.reason)) { warned.add(r.reason); node.warn(t('sap-listen.errors.dropped', { remote: `${rinfo.address}:${rinfo.port}`, reason: r.reason, detail: r.message })); }
            break;
          default: break;
        }
      });
      sock.on('error', (err) => {
        node.error(t('xcast.errors.cannot-listen', { where: group, detail: err.message }));
        status.now('red', 'ring', t('xcast.status.listen-failed', { detail: err.message }));
      });
      // A group is bound by its own address (only its datagrams come in, no unicast listener is opened).
      sock.bind(port, address, () => {
        boundPort = sock.address().port;
        (node as unknown as { boundPort?: number }).boundPort = boundPort;
        if (multicast) {
          try {
            if (iface) sock.addMembership(address, iface); else sock.addMembership(address);
          } catch (err) {
            node.error(t('sap-listen.errors.join', { group, detail: (err as Error).message }));
            status.now('red', 'ring', t('xcast.status.listen-failed', { detail: (err as Error).message }));
            return;
          }
        }
        showState();
      });
      const expiry = setInterval(() => {
        const gone = dir.expire(Date.now());
        for (const s of gone) node.send(streamMsg('timeout', s));
        if (gone.length) showState();
      }, Math.max(100, Math.min(5000, timeoutS > 0 ? (timeoutS * 1000) / 4 : 5000)));
      timers.push(expiry);
      if (listIntervalS > 0) timers.push(setInterval(() => node.send(listMsg()), listIntervalS * 1000));
      // Any input asks for the list (topic "list" by convention).
      node.on('input', (_msg, send, done) => { send(listMsg()); done(); });
    } catch (err) {
      refuse(RED, node, err);
    }
    node.on('close', (removed: boolean, done: () => void) => {
      for (const x of timers) clearInterval(x);
      listeners.delete(node.id);
      status.clear();
      if (!socket) { done(); return; }
      try { socket.close(() => done()); } catch { done(); }
    });
  }
  RED.nodes.registerType('xcast-sap-listen', SapListenNode);
};

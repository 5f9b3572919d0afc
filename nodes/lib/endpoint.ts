// One streamproto1 endpoint of a socket node: a listening server or a reconnecting client, with status and warnings;
// and the node's trust settings (TLS through Node-RED's core tls-config node, users list, token, server limits).
import fs from 'node:fs';
import type { TlsOptions } from 'node:tls';
import type { Node, NodeAPI } from 'node-red';
import { StreamServer, StreamClient, normalizeFingerprint256 } from '../../runtime/protocol/transport';
import type { StreamLink } from '../../runtime/protocol/link';
import { UdpStreamServer } from '../../runtime/protocol/udp-server';
import type { UdpStreamClient } from '../../runtime/protocol/udp-client';
import { openUdpClient } from './udp-client-endpoint';
import { UsersList } from '../../runtime/protocol/auth';
import { checkServerLimits, DEFAULT_SERVER_LIMITS, type ServerLimits } from '../../runtime/protocol/limits';
import { wireText } from '../../runtime/log-text';
import type { StatusThrottle } from './status';
import { translator } from './i18n';
import { ConfigError, bool, num, str } from './config';
import { resolveUserPath } from './glue';

/** A client's TLS settings (StreamClientOptions.tls). */
export interface ClientTls {
  ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; passphrase?: string;
  fingerprint256?: string; servername?: string; rejectUnauthorized?: boolean;
}

export type EndpointTransport = 'tcp' | 'udp';

export interface EndpointOptions {
  mode: 'server' | 'client';
  /** streamproto1 over TCP (the default; TLS when `tls` is set) or UDP (one frame per datagram; no TLS). */
  transport?: EndpointTransport;
  /** UDP server: a session with nothing received for this long ends (default 15000; 0 = never). */
  udpIdleTimeoutMs?: number;
  host: string;
  port: number;
  token?: string;
  /** The HELLO a client sends; a server announces `hello.userId` as its name. */
  hello: { userId: string; role: 'peer' | 'monitor' | 'xcast'; token?: string; profile?: Record<string, unknown>; capabilities?: string[] };
  maxFrameBytes?: number;
  maxQueueBytes?: number;
  /** Server: TLS options (present = a TLS server); client: what to trust (present = TLS). */
  tls?: TlsOptions | ClientTls;
  /** Server: the users list accepted beside the token. */
  users?: UsersList;
  /** Server: limits (checked by checkServerLimits). */
  limits?: Partial<ServerLimits>;
  /** A connection completed its HELLO (a UDP session: its first accepted HELLO). */
  onConnection(conn: StreamLink): void;
  /** The server listens (shows the node's listening status). */
  onListening(): void;
}

export interface Endpoint {
  server?: StreamServer;
  client?: StreamClient;
  /** Server mode over UDP: the server (its worker owns the socket; attachRing sends AUDIO into a mix thread). */
  udpServer?: UdpStreamServer;
  /** Client mode over UDP (udp-client-endpoint.ts). */
  udpClient?: UdpStreamClient;
  close(): Promise<void>;
}

/** The limit fields of a socket node's editor (blank = the default), in the order the editor shows them. */
export const LIMIT_FIELDS = Object.keys(DEFAULT_SERVER_LIMITS) as Array<keyof ServerLimits>;

/** Node-RED's core tls-config node, as core nodes use it (RED.nodes.getNode(config.tls).addTLSOptions(opts)). */
interface TlsConfigNode {
  valid?: boolean;
  addTLSOptions(opts: Record<string, unknown>): { key?: Buffer | string; cert?: Buffer | string; ca?: Buffer | string; passphrase?: string; servername?: string; rejectUnauthorized?: boolean };
}

export interface NodeTrust {
  token?: string;
  tls?: TlsOptions | ClientTls;
  users?: UsersList;
  limits?: Partial<ServerLimits>;
}

type Cfg = Record<string, unknown>;

/** A pinned certificate's SHA-256 fingerprint (the transport's check and form, AB:CD:…), refused naming the field. */
export function fingerprintField(cfg: Cfg, field: string): string | undefined {
  const v = str(cfg, field);
  if (!v) return undefined;
  try {
    return normalizeFingerprint256(v, field);
  } catch {
    throw new ConfigError(field, 'not_fingerprint', { value: v.length > 100 ? `${v.slice(0, 100)}…` : v });
  }
}

/** An Error that names the node's field (refuse() shows it on the status). */
function fieldError(field: string, message: string): Error {
  return Object.assign(new Error(message.startsWith(`${field}:`) ? message : `${field}: ${message}`), { field });
}

/**
 * Reads a socket node's trust settings: the token (credential, or inline in a flow file), TLS (a tls-config node;
 * a client also a pinned SHA-256 fingerprint; a server may require client certificates), the users list (usersFile
 * and/or the `users` credential, JSON) and the server limits. A bad one is refused naming the field.
 */
export function readTrust(RED: NodeAPI, node: Node, config: Cfg, mode: 'server' | 'client'): NodeTrust {
  const creds = (node.credentials ?? {}) as { token?: string; users?: string };
  const token = creds.token || str(config, 'token') || undefined;
  const out: NodeTrust = { token };

  const tlsId = str(config, 'tls');
  let tlsOpts: ReturnType<TlsConfigNode['addTLSOptions']> | undefined;
  if (tlsId) {
    const tlsNode = RED.nodes.getNode(tlsId) as unknown as TlsConfigNode | null;
    if (!tlsNode || typeof tlsNode.addTLSOptions !== 'function') throw new ConfigError('tls', 'no_tls_config', { id: tlsId });
    // The tls-config node logged why (a missing or unreadable file).
    if (tlsNode.valid === false) throw new ConfigError('tls', 'tls_config_invalid', { id: tlsId });
    tlsOpts = tlsNode.addTLSOptions({});
  }
  if (mode === 'server') {
    const requireClientCert = bool(config, 'requireClientCert', false);
    if (tlsOpts) {
      if (!tlsOpts.cert || !tlsOpts.key) throw new ConfigError('tls', 'tls_needs_cert', { id: tlsId });
      if (requireClientCert && !tlsOpts.ca) throw new ConfigError('requireClientCert', 'tls_needs_ca');
      out.tls = {
        cert: tlsOpts.cert, key: tlsOpts.key, ca: tlsOpts.ca, passphrase: tlsOpts.passphrase,
        requestCert: requireClientCert, rejectUnauthorized: requireClientCert,
      };
    } else if (requireClientCert) {
      throw new ConfigError('requireClientCert', 'tls_needs_ca');
    }
    out.users = readUsers(RED, config, creds.users);
    out.limits = readLimits(config);
  } else {
    const fingerprint256 = fingerprintField(config, 'fingerprint');
    if (tlsOpts || fingerprint256) {
      // A pinned certificate is trusted by its fingerprint: it needs no CA (a self-signed server's).
      const verify = tlsOpts ? tlsOpts.rejectUnauthorized !== false : false;
      out.tls = {
        ca: tlsOpts?.ca, cert: tlsOpts?.cert, key: tlsOpts?.key, passphrase: tlsOpts?.passphrase,
        servername: tlsOpts?.servername, fingerprint256, rejectUnauthorized: fingerprint256 && !tlsOpts?.ca ? false : verify,
      };
    }
  }
  return out;
}

/** usersFile (a path, relative to the user dir) and/or the `users` credential (JSON text): one list, errors naming the field. */
function readUsers(RED: NodeAPI, config: Cfg, usersCred: string | undefined): UsersList | undefined {
  const file = str(config, 'usersFile');
  const text = (usersCred ?? '').trim();
  const entries: unknown[] = [];
  const entriesOf = (v: unknown): unknown[] => (Array.isArray(v) ? v : ((v as { users?: unknown[] }).users ?? []));
  if (file) {
    const p = resolveUserPath(RED, file);
    let list: UsersList;
    try {
      list = UsersList.fromFile(p);
    } catch (e) {
      throw fieldError('usersFile', (e as Error).message);
    }
    if (!text) return list;
    entries.push(...entriesOf(JSON.parse(fs.readFileSync(p, 'utf8'))));
  }
  if (!text) return undefined;
  let list: UsersList;
  try {
    list = UsersList.parse(text);
  } catch (e) {
    throw fieldError('users', (e as Error).message);
  }
  if (!file) return list;
  entries.push(...entriesOf(JSON.parse(text)));
  try {
    return UsersList.parse(entries);
  } catch (e) {
    // Both parsed alone: what is left is a user in both.
    throw fieldError('users', `${(e as Error).message.replace(/^users\[\d+\]\./, '')} (in usersFile and in users)`);
  }
}

/** The limit fields that are set, as numbers, checked by the transport's own checkServerLimits. */
function readLimits(config: Cfg): Partial<ServerLimits> | undefined {
  const partial: Partial<ServerLimits> = {};
  for (const f of LIMIT_FIELDS) {
    const raw = config[f];
    if (raw === undefined || raw === null || String(raw).trim() === '') continue;
    partial[f] = num(config, f);
  }
  if (Object.keys(partial).length === 0) return undefined;
  try {
    checkServerLimits(partial);
  } catch (e) {
    const m = /^limits\.(\w+):\s*(.*)$/.exec((e as Error).message);
    throw m ? fieldError(m[1], `${m[1]}: ${m[2]}`) : e;
  }
  return partial;
}

export function openEndpoint(RED: NodeAPI, node: Node, status: StatusThrottle, o: EndpointOptions): Endpoint {
  const t = translator(RED);
  const where = `${o.host}:${o.port}`;
  const transport = o.transport ?? 'tcp';
  if (transport === 'udp' && o.tls !== undefined) throw new ConfigError('tls', 'udp_no_tls');
  if (transport === 'udp' && o.mode === 'client') return openUdpClient(RED, node, status, o);
  if (transport === 'udp') return openUdpServer(RED, node, status, o);
  if (o.mode === 'server') {
    const server = new StreamServer({
      host: o.host, port: o.port, token: o.token, users: o.users, limits: o.limits, tls: o.tls as TlsOptions | undefined,
      maxFrameBytes: o.maxFrameBytes, maxQueueBytes: o.maxQueueBytes, serverName: o.hello.userId,
    });
    server.on('connection', o.onConnection);
    const refusals = new RefusalWarnings();
    server.on('protocolError', (err: Error & { code?: string }, info: { remote?: string; userId?: string }) => {
      // A refused handshake never became a connection: one warning per refusal, nothing per frame — and no more
      // than REFUSALS_PER_MINUTE of a kind, so a flood of strangers cannot flood the log (/metrics counts them all).
      const code = codeText(err.code ?? 'protocol');
      const said = refusals.admit(code, Date.now());
      if (said.suppressed > 0) node.warn(t('xcast.errors.refusals-suppressed', { count: said.suppressed, code }));
      if (!said.warn) return;
      node.warn(t('xcast.errors.refused-peer', { userId: wireText(info?.userId ?? ''), remote: wireText(info?.remote ?? '?'), code, detail: wireText(err.message, 200) }));
    });
    warnLimitsOnce(RED, node, server);
    server.listen().then(o.onListening, (err: Error) => {
      node.error(t('xcast.errors.cannot-listen', { where, detail: err.message }));
      status.now('red', 'ring', t('xcast.status.listen-failed', { detail: err.message }));
    });
    return { server, close: () => server.close() };
  }
  const client = new StreamClient({
    host: o.host, port: o.port, hello: { ...o.hello, token: o.token }, tls: o.tls as ClientTls | undefined,
    maxFrameBytes: o.maxFrameBytes, maxQueueBytes: o.maxQueueBytes,
  });
  client.on('connect', o.onConnection);
  client.on('disconnect', (info: { reason?: string }) => status.now('yellow', 'ring', t('xcast.status.reconnecting', { reason: wireText(info?.reason ?? 'closed', 60) })));
  let lastRefusal = '';
  client.on('connectError', (err: Error & { code?: string }) => {
    // Retried with backoff; the status says so. A refusal (a wrong token, a certificate not trusted) is said once
    // until it changes, not at every retry.
    // A network error (ECONNREFUSED while the server is down, ...) is the status's reconnecting, not a warning.
    if (/^E[A-Z]+$/.test(err.code ?? '')) return;
    const text = `${err.code ?? ''}: ${err.message}`;
    if (text === lastRefusal) return;
    lastRefusal = text;
    node.warn(t('xcast.errors.connect-refused', { where, code: codeText(err.code ?? 'refused'), detail: wireText(err.message, 200) }));
  });
  client.on('connect', () => { lastRefusal = ''; });
  status.now('yellow', 'ring', t('xcast.status.connecting', { where }));
  client.start();
  return { client, close: () => client.close() };
}

/** Server mode over UDP: a UdpStreamServer (udp-server.ts); its sessions are the node's connections. */
function openUdpServer(RED: NodeAPI, node: Node, status: StatusThrottle, o: EndpointOptions): Endpoint {
  const t = translator(RED);
  const where = `${o.host}:${o.port}`;
  const server = new UdpStreamServer({
    host: o.host, port: o.port, token: o.token, users: o.users, limits: o.limits, maxFrameBytes: o.maxFrameBytes, serverName: o.hello.userId,
    idleTimeoutMs: o.udpIdleTimeoutMs,
  });
  server.on('connection', o.onConnection);
  // The thread died and is started again (the sessions end; the senders' next HELLO opens new ones).
  server.on('error', (err) => node.error(t('xcast.errors.udp-thread', { where, detail: err.message })));
  // A refused HELLO, as a refused TCP handshake: one warning each, at most REFUSALS_PER_MINUTE of a kind.
  const refusals = new RefusalWarnings();
  server.on('refused', (info) => {
    const code = codeText(info.code);
    const said = refusals.admit(code, Date.now());
    if (said.suppressed > 0) node.warn(t('xcast.errors.refusals-suppressed', { count: said.suppressed, code }));
    if (said.warn) node.warn(t('xcast.errors.refused-peer', { userId: '', remote: wireText(info.remote), code, detail: wireText(info.message, 200) }));
  });
  // Audio the mix cannot play, refused on the ingest thread: said once per session and reason (counted on its track).
  server.on('audioRefused', (link, message) => node.warn(t('xcast.errors.refused-audio', { userId: wireText(link.userId), remote: wireText(link.remote), detail: wireText(message, 200) })));
  server.listen().then(o.onListening, (err: Error) => {
    node.error(t('xcast.errors.cannot-listen', { where: `udp ${where}`, detail: err.message }));
    status.now('red', 'ring', t('xcast.status.listen-failed', { detail: err.message }));
  });
  return { udpServer: server, close: () => server.close() };
}

/** The most connections × limits remembered for once-only warnings; beyond it the oldest are forgotten. */
const WARNED_MAX = 4096;

/**
 * The server's 'limit' events as node warnings: one per connection (or per remote address, for a socket refused
 * before it was one) per limit, never per frame.
 */
function warnLimitsOnce(RED: NodeAPI, node: Node, server: StreamServer): void {
  const t = translator(RED);
  const warned = new Set<string>();
  const onLimit = (limit: string, info?: { id?: string; connectionId?: string; remote?: string; userId?: string }) => {
    const who = info?.id ?? info?.connectionId ?? `@${info?.remote ?? '?'}`;
    const key = `${who}\u0000${limit}`;
    if (warned.has(key)) return;
    if (warned.size >= WARNED_MAX) warned.delete(warned.values().next().value as string);
    warned.add(key);
    const by = info?.userId !== undefined ? `${wireText(info.userId)}@${wireText(info?.remote ?? '?')}` : wireText(info?.remote ?? '?');
    node.warn(t('xcast.errors.limit', { limit, by }));
  };
  (server as unknown as { on(ev: 'limit', cb: typeof onLimit): void }).on('limit', onLimit);
  server.on('disconnect', (conn: StreamLink) => {
    for (const k of warned) if (k.startsWith(`${conn.id}\u0000`)) warned.delete(k);
  });
}

/** An error code as it may go into a log line: our own codes as they are, anything else (a peer's ERROR code) through wireText. */
export function codeText(code: unknown): string {
  return typeof code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? code : wireText(code, 64);
}

/** Refusal warnings of one kind a server says per minute; the rest are summed up in one warning afterwards. */
export const REFUSALS_PER_MINUTE = 10;

/** Counts refusal warnings per code in one-minute windows (no timer: a window closes at the next refusal). */
export class RefusalWarnings {
  private readonly windows = new Map<string, { start: number; said: number; suppressed: number }>();

  /** Whether to warn this refusal, and how many of its code were kept quiet in the window that just closed. */
  admit(code: string, now: number): { warn: boolean; suppressed: number } {
    let w = this.windows.get(code);
    let suppressed = 0;
    if (w && now - w.start >= 60_000) {
      suppressed = w.suppressed;
      w = undefined;
    }
    if (!w) {
      if (this.windows.size >= 64) this.windows.delete(this.windows.keys().next().value as string);
      w = { start: now, said: 0, suppressed: 0 };
      this.windows.set(code, w);
    }
    if (w.said < REFUSALS_PER_MINUTE) { w.said++; return { warn: true, suppressed }; }
    w.suppressed++;
    return { warn: false, suppressed };
  }
}

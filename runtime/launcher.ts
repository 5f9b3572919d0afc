// Starts an embedded Node-RED with this package's nodes loaded and a preset (or any) flow file deployed.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadNodeRed } from './find-node-red';
import { readSettings } from './settings';
import { loadClientTls, loadServerTls, certificateFingerprint256 } from './protocol/tls-files';
import { normalizeFingerprint256 } from './protocol/transport';
import { UsersList } from './protocol/auth';
import { adminAuthFor, basicAuthMiddleware, guardUpgrades, hashPassword, type BasicCredentials } from './web/auth';

/** Root of the package (where package.json, flows/ and examples/ live), whether running from dist/ or not. */
export const PACKAGE_ROOT = findPackageRoot(__dirname);

export const PRESETS = ['xcast', 'peer', 'monitor', 'demo'] as const;

/** The preset flows' listening ports; `portMap` remaps them so several sessions can share a machine. */
export const DEFAULT_PORTS = { ingest: 7010, mixOut: 7011, events: 7012 } as const;

/** Paths of the node routes that parse their own request bodies (httpNodeRoot is '/' here). */
const OWN_BODY_ROUTES = /^\/xcast\/(rtc|mixer)(\/|\?|$)/;

export interface LaunchOptions {
  /** A preset name (xcast, peer, monitor, demo) or a path to a flow file; several are deployed side by side. */
  flow?: string | string[];
  host?: string;
  /** Editor / HTTP port; 0 picks a free one. */
  port?: number;
  /** Where Node-RED keeps its settings, context and the deployed copy of the flow. */
  userDir?: string;
  /** Replace listening/connecting ports in the flow: { 7010: 17010, ... }. */
  portMap?: Record<number, number>;
  /** Extra properties set on every node of the flow whose type matches, e.g. { 'xcast-audio-out': { path: '/tmp/x.wav' } }. */
  overrides?: Record<string, Record<string, unknown>>;
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** Serve the editor (default true). */
  editor?: boolean;
  /** Node-RED's `settings.xcast` (runtime/settings.ts); XCAST_* environment variables still override it. */
  xcast?: Record<string, unknown>;
  /** Who may reach this xcast: TLS, streamproto1 credentials, the web side's password (`xcast start --host --tls-cert --users ...`). */
  trust?: TrustOptions;
}

/**
 * The launcher's trust settings. `host` (LaunchOptions) is where the HTTP server and the flow's server-mode socket
 * nodes listen; a host beyond loopback needs web credentials (adminPassword, or adminAuth + httpNodeAuth) and
 * streamproto1 credentials (usersFile or token), or the start is refused (`checkExposure`).
 */
export interface TrustOptions {
  /**
   * Server certificate and key (PEM files): the server-mode socket nodes speak TLS through a tls-config node. In a
   * flow with no server-mode socket node (peer, monitor) they are the client-mode nodes' client certificate.
   */
  tlsCert?: string;
  tlsKey?: string;
  /** PEM file: the CA server-mode nodes check client certificates against (with requireClientCert), and client-mode nodes trust. */
  tlsCa?: string;
  /** Server-mode nodes refuse a client without a certificate signed by tlsCa. */
  requireClientCert?: boolean;
  /** Client-mode nodes pin the server's certificate (SHA-256 fingerprint) and speak TLS. */
  tlsFingerprint?: string;
  /** Users list file for the server-mode socket nodes (runtime/protocol/auth.ts UsersList). */
  usersFile?: string;
  /** streamproto1 token: server-mode nodes require it, client-mode nodes send it (kept as a Node-RED credential). */
  token?: string;
  /** Host the client-mode socket nodes connect to (the presets say 127.0.0.1). */
  connect?: string;
  /** Password of the user `admin`: a bcrypt-hashed adminAuth (editor, admin API) and httpNodeAuth (/metrics, /qos/, ...). */
  adminPassword?: string;
  /** Node-RED's own settings, given directly (they win over adminPassword). */
  adminAuth?: Record<string, unknown>;
  httpNodeAuth?: BasicCredentials;
  /** Bearer tokens the web side accepts beside httpNodeAuth (HTTP routes and websocket upgrades). */
  bearerTokens?: string[];
  /** Serve the editor and the HTTP routes over HTTPS with tlsCert/tlsKey (the admin password then never crosses in clear). */
  https?: boolean;
}

/** A start refused because the host is reachable from other machines and credentials are missing. */
export class ExposureError extends Error {
  readonly code = 'exposed_without_credentials';
}

/** Is `host` only reachable from this machine? (127.0.0.0/8, ::1, localhost; 0.0.0.0 and :: are every interface.) */
export function isLoopback(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) {
    if (h === '::1' || /^0*:0*:0*:0*:0*:0*:0*:0*1$/.test(h)) return true;
    const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    return !!m && m[1].startsWith('127.');
  }
  return false;
}

/** Every interface (0.0.0.0, ::), loopback included. */
function isWildcard(host: string): boolean {
  const h = host.trim().replace(/^\[|\]$/g, '');
  return h === '0.0.0.0' || h === '::' || /^[0:]+$/.test(h);
}

/**
 * Refuses a host beyond loopback without credentials, saying what to give: web credentials (the editor, the admin
 * API and the HTTP routes) and streamproto1 credentials (the socket nodes, TCP and UDP alike). The nodes without
 * credentials (RTP, seed 002's raw UDP, the event stream) are not moved by --host: they stay where their flow says.
 */
export function checkExposure(host: string, trust: TrustOptions = {}): void {
  if (isLoopback(host)) return;
  const web = !!(trust.adminPassword || (trust.adminAuth && trust.httpNodeAuth));
  const stream = !!(trust.usersFile || trust.token);
  if (web && stream) return;
  const missing: string[] = [];
  if (!web) missing.push('HTTP credentials (--admin-password-file FILE or XCAST_ADMIN_PASSWORD: adminAuth and httpNodeAuth for the user admin)');
  if (!stream) missing.push('streamproto1 credentials (--users FILE or --token T)');
  throw new ExposureError(`--host ${host} is reachable from other machines: refusing to start without ${missing.join(' and ')}; `
    + 'or give --generate-credentials to make an admin password and a token (kept in the user dir, printed once)');
}

/** The flow's listening socket nodes (what --host, --tls-cert and --users apply to). */
function isServerSocket(n: Record<string, unknown>): boolean {
  return (n.type === 'xcast-socket-reader' || n.type === 'xcast-socket-writer') && (n.mode ?? (n.type === 'xcast-socket-reader' ? 'server' : 'client')) === 'server';
}
function isClientSocket(n: Record<string, unknown>): boolean {
  return (n.type === 'xcast-socket-reader' || n.type === 'xcast-socket-writer') && !isServerSocket(n);
}
/** A socket node on streamproto1 over UDP: TLS is TCP's (no DTLS), so --tls-* leave it alone; the token and users apply. */
function isUdpSocket(n: Record<string, unknown>): boolean {
  return n.transport === 'udp';
}

/** The transport's file checks (readable, a certificate, the key matching it, not expired) under the CLI's option names. */
function checkTlsFiles(trust: TrustOptions): void {
  const named = (f: () => unknown) => {
    try { f(); } catch (e) { throw new Error((e as Error).message.replace(/^--tls-(cert|key|ca)File:/, '--tls-$1:')); }
  };
  if (trust.tlsCert && trust.tlsKey) named(() => loadServerTls({ certFile: trust.tlsCert!, keyFile: trust.tlsKey! }, '--tls-'));
  if (trust.tlsCa) named(() => loadClientTls({ caFile: trust.tlsCa }, '--tls-'));
  if (trust.tlsFingerprint !== undefined) {
    normalizeFingerprint256(trust.tlsFingerprint, '--tls-fingerprint');
  }
}

export const TLS_SERVER_CONFIG_ID = 'xcast0tls0server';
export const TLS_CLIENT_CONFIG_ID = 'xcast0tls0client';

/**
 * Applies the trust options to a flow (a copy): the host on server-mode socket nodes, the connect address on
 * client-mode ones, TLS through Node-RED's core tls-config nodes (one for servers, one for clients), the users file,
 * and the token as a credential (returned per node id, for the credentials file); the users file and the token on
 * webrtc nodes too (their signaling).
 */
export function applyTrust(
  flows: Array<Record<string, unknown>>, host: string | undefined, trust: TrustOptions = {},
): { flows: Array<Record<string, unknown>>; credentials: Record<string, Record<string, string>> } {
  const out = flows.map((n) => ({ ...n }));
  const credentials: Record<string, Record<string, string>> = {};
  const servers = out.filter(isServerSocket);
  const clients = out.filter(isClientSocket);
  const abs = (f: string | undefined) => (f ? path.resolve(f) : '');
  const tlsNode = (id: string, name: string, o: { cert?: string; key?: string; ca?: string; verify: boolean }) => ({
    id, type: 'tls-config', name, cert: abs(o.cert), key: abs(o.key), ca: abs(o.ca), certname: '', keyname: '', caname: '',
    servername: '', alpnprotocol: '', verifyservercert: o.verify,
  });
  if ((trust.tlsCert === undefined) !== (trust.tlsKey === undefined)) throw new Error('--tls-cert and --tls-key go together');
  checkTlsFiles(trust);
  // The list is checked here too, so a bad one stops the start naming the option rather than refusing each node.
  if (trust.usersFile !== undefined) {
    try { UsersList.fromFile(trust.usersFile); } catch (e) { throw new Error(`--users: ${(e as Error).message}`); }
  }
  if (trust.tlsCert && servers.length) out.push(tlsNode(TLS_SERVER_CONFIG_ID, 'xcast server TLS', { cert: trust.tlsCert, key: trust.tlsKey, ca: trust.tlsCa, verify: true }));
  // A flow with its own server and clients (demo) pins its own certificate unless told what to trust.
  const pinned = trust.tlsFingerprint ?? (trust.tlsCert && servers.length && !trust.tlsCa ? certificateFingerprint256(fs.readFileSync(trust.tlsCert)) : undefined);
  // A flow without servers (peer, monitor) takes --tls-cert/--tls-key as its client certificate.
  const clientCert = !servers.length && trust.tlsCert ? { cert: trust.tlsCert, key: trust.tlsKey } : {};
  const clientTls = clients.length > 0 && (trust.tlsCa !== undefined || clientCert.cert !== undefined);
  if (clientTls) out.push(tlsNode(TLS_CLIENT_CONFIG_ID, 'xcast client TLS', { ca: trust.tlsCa, ...clientCert, verify: true }));
  const serverPorts = new Set(servers.map((n) => String(n.port)));
  for (const n of servers) {
    if (host !== undefined) n.host = host;
    if (trust.tlsCert && !isUdpSocket(n)) { n.tls = TLS_SERVER_CONFIG_ID; n.requireClientCert = !!trust.requireClientCert; }
    if (trust.usersFile) n.usersFile = path.resolve(trust.usersFile);
    if (trust.token) credentials[String(n.id)] = { token: trust.token };
  }
  for (const n of clients) {
    if (trust.connect) n.host = trust.connect;
    // A client of the flow's own server (demo) follows it to the host it now listens on (a wildcard covers loopback).
    else if (host !== undefined && !isWildcard(host) && serverPorts.has(String(n.port)) && isLoopback(String(n.host ?? '127.0.0.1'))) n.host = host;
    if (clientTls && !isUdpSocket(n)) n.tls = TLS_CLIENT_CONFIG_ID;
    if (pinned && !isUdpSocket(n)) n.fingerprint = pinned;
    if (trust.token) credentials[String(n.id)] = { token: trust.token };
  }
  // Browsers (the webrtc node): the same users file or token guards /offer and GET /rooms (the join page takes ?token=);
  // and the console (its state, controls and websocket: the page takes ?token= too).
  for (const n of out.filter((x) => x.type === 'xcast-webrtc' || x.type === 'xcast-console')) {
    if (trust.usersFile) n.usersFile = path.resolve(trust.usersFile);
    if (trust.token) credentials[String(n.id)] = { token: trust.token };
  }
  return { flows: out, credentials };
}

/**
 * Writes Node-RED's credentials file for the flow, encrypted as Node-RED does (aes-256-ctr, key sha256 of the
 * credentialSecret), mode 0600. With none to write, a file this function wrote before (and nobody changed since:
 * its digest is kept beside it) goes, so a token given once does not outlive the option; one the editor saved stays.
 */
export function writeCredentialsFile(file: string, secret: string, credentials: Record<string, Record<string, string>>): void {
  const mark = `${file}.xcast-digest`;
  const digest = (text: string) => crypto.createHash('sha256').update(text).digest('hex');
  if (Object.keys(credentials).length === 0) {
    try {
      if (digest(fs.readFileSync(file, 'utf8')) === fs.readFileSync(mark, 'utf8').trim()) fs.rmSync(file, { force: true });
    } catch { /* no file, or not ours */ }
    fs.rmSync(mark, { force: true });
    return;
  }
  const key = crypto.createHash('sha256').update(secret).digest();
  const iv = crypto.randomBytes(16);
  const cipher = crypto.createCipheriv('aes-256-ctr', key, iv);
  const text = JSON.stringify({ $: iv.toString('hex') + cipher.update(JSON.stringify(credentials), 'utf8', 'base64') + cipher.final('base64') });
  fs.writeFileSync(file, text, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  fs.writeFileSync(mark, `${digest(text)}\n`, { mode: 0o600 });
}

/** The web side's Node-RED settings from the trust options: adminAuth for the editor and admin API, httpNodeAuth for the nodes' routes. */
export function webAuthSettings(trust: TrustOptions = {}): { adminAuth?: Record<string, unknown>; httpNodeAuth?: BasicCredentials } {
  if (trust.adminAuth || trust.httpNodeAuth) return { adminAuth: trust.adminAuth, httpNodeAuth: trust.httpNodeAuth };
  if (!trust.adminPassword) return {};
  const hash = hashPassword(trust.adminPassword);
  return {
    // Node-RED's login through our authenticate: compared in the hash thread, under the password budget.
    adminAuth: adminAuthFor('admin', hash),
    httpNodeAuth: { user: 'admin', pass: hash },
  };
}

export interface Launched {
  url: string;
  port: number;
  server: http.Server;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  RED: any;
  userDir: string;
  flowFile: string;
  stop(): Promise<void>;
}

function findPackageRoot(dir: string): string {
  let d = dir;
  for (;;) {
    const p = path.join(d, 'package.json');
    if (fs.existsSync(p)) {
      try {
        if (JSON.parse(fs.readFileSync(p, 'utf8')).name === '@xcast/node-red-xcast') return d;
      } catch { /* keep looking */ }
    }
    const up = path.dirname(d);
    if (up === d) throw new Error(`cannot find the xcast package root above ${dir}`);
    d = up;
  }
}

/** Resolves a preset name or a file path to an absolute flow file path. */
export function resolveFlowFile(flow: string): string {
  if ((PRESETS as readonly string[]).includes(flow)) return path.join(PACKAGE_ROOT, 'flows', `${flow}.json`);
  const p = path.resolve(flow);
  if (!fs.existsSync(p)) {
    throw new Error(`flow "${flow}" is neither a preset (${PRESETS.join(', ')}) nor an existing file`);
  }
  return p;
}

/** Reads a flow file and checks that it is a Node-RED flow array. */
export function loadFlow(file: string): Array<Record<string, unknown>> {
  let flows: unknown;
  try {
    flows = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`flow file ${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(flows)) throw new Error(`flow file ${file} must hold a JSON array of nodes`);
  return flows as Array<Record<string, unknown>>;
}

/** Applies port remapping and per-type property overrides to a flow (a copy). */
export function customiseFlow(
  flows: Array<Record<string, unknown>>,
  portMap: Record<number, number> = {},
  overrides: Record<string, Record<string, unknown>> = {},
): Array<Record<string, unknown>> {
  return flows.map((n) => {
    const c: Record<string, unknown> = { ...n };
    if (typeof c.type === 'string' && c.type.startsWith('xcast-')) {
      for (const key of ['port', 'remotePort']) {
        const v = Number(c[key]);
        if (Number.isFinite(v) && portMap[v] !== undefined) c[key] = String(portMap[v]);
      }
    }
    const o = typeof c.type === 'string' ? overrides[c.type] : undefined;
    if (o) Object.assign(c, o);
    return c;
  });
}

/** Starts Node-RED in this process. Only one per process: Node-RED is a singleton. */
export async function launch(opts: LaunchOptions = {}): Promise<Launched> {
  const sources = Array.isArray(opts.flow) ? opts.flow : [opts.flow ?? 'demo'];
  const host = opts.host ?? '127.0.0.1';
  const trust = opts.trust ?? {};
  // Refused before anything is loaded or written: a host other machines reach needs credentials.
  checkExposure(host, trust);
  const { flows, credentials } = applyTrust(
    customiseFlow(sources.flatMap((f) => loadFlow(resolveFlowFile(f))), opts.portMap, opts.overrides),
    opts.host, trust);
  // Found before anything is written: a start that cannot find Node-RED leaves no user directory behind.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const { RED, express } = loadNodeRed() as { RED: any; express: any };
  const userDir = opts.userDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-'));
  fs.mkdirSync(userDir, { recursive: true });
  const flowFile = path.join(userDir, 'flows.json');
  // The preset is deployed fresh each start; the editor then saves changes to this copy, never to the preset.
  fs.writeFileSync(flowFile, JSON.stringify(flows, null, 2));
  const credentialSecret = 'xcast-local-credentials';
  writeCredentialsFile(path.join(userDir, 'flows_cred.json'), credentialSecret, credentials);
  const web = webAuthSettings(trust);
  const bearerTokens = trust.bearerTokens ?? [];

  const app = express();
  if (trust.https && !(trust.tlsCert && trust.tlsKey)) throw new Error('--https needs --tls-cert and --tls-key');
  const server: http.Server = trust.https
    ? https.createServer({ cert: fs.readFileSync(trust.tlsCert!), key: fs.readFileSync(trust.tlsKey!) }, app)
    : http.createServer(app);
  const settings = {
    userDir,
    xcast: opts.xcast ?? {},
    flowFile,
    credentialSecret,
    ...(web.adminAuth ? { adminAuth: web.adminAuth } : {}),
    ...(web.httpNodeAuth ? { httpNodeAuth: web.httpNodeAuth } : {}),
    // Read by runtime/web/auth.ts checkUpgradeAuth (RED.settings): tokens accepted beside httpNodeAuth.
    bearerTokens,
    nodesDir: [PACKAGE_ROOT],
    uiHost: host,
    httpAdminRoot: '/',
    httpNodeRoot: '/',
    disableEditor: opts.editor === false,
    functionGlobalContext: {},
    logging: { console: { level: opts.logLevel ?? 'info', metrics: false, audit: false } },
    editorTheme: { projects: { enabled: false }, tours: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    // No "Enable Update Notifications?" over the demo: off, until the user turns it on in the editor's settings
    // (kept in the user dir's .config.runtime.json, which Node-RED prefers to this).
    telemetry: { enabled: false },
  };
  // A bad setting stops the start here, naming it, rather than refusing every node that reads it.
  readSettings(settings);
  RED.init(server, settings);
  // Until the flows are loaded Node-RED's admin API answers GET /flows with a 400 and logs a TypeError: everything
  // waits behind a 503 until then. Loaded is the first 'runtime-deploy' (emitted as the flows are set, before they
  // start, and also when they cannot start for missing types — the editor is then there to say so).
  let ready = false;
  const onRuntimeEvent = (e: { id?: string }) => {
    if (e?.id !== 'runtime-deploy') return;
    ready = true;
    RED.events.off('runtime-event', onRuntimeEvent);
  };
  RED.events.on('runtime-event', onRuntimeEvent);
  app.use((req: http.IncomingMessage, res: http.ServerResponse, next: () => void) => {
    if (ready) { next(); return; }
    res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' });
    res.end('xcast is starting\n');
  });
  // Node-RED adds httpNodeAuth's middleware only in its own command (node-red/red.js), not when embedded: here.
  const nodeAuth = web.httpNodeAuth ? basicAuthMiddleware(web.httpNodeAuth, bearerTokens) : null;
  // The routes that read their own JSON (the browsers' signaling, the console's API) go to the nodes' app before the
  // admin app: its body parsers run for every path below its root and answered a body that is not JSON with their
  // own HTML 400, where docs/webrtc.md and docs/console.md promise a JSON bad_request. Unanswered, they fall through.
  app.use((req: http.IncomingMessage, res: http.ServerResponse, next: (err?: unknown) => void) => {
    if (!OWN_BODY_ROUTES.test(req.url ?? '')) { next(); return; }
    const toNodes = () => (RED.httpNode as unknown as (q: http.IncomingMessage, r: http.ServerResponse, n: (err?: unknown) => void) => void)(req, res, next);
    if (nodeAuth) (nodeAuth as unknown as (q: http.IncomingMessage, r: http.ServerResponse, n: () => void) => void)(req, res, toNodes);
    else toNodes();
  });
  app.use(settings.httpAdminRoot, RED.httpAdmin);
  // The admin routes answered above (adminAuth guards them); what falls through to the nodes' routes is checked.
  if (nodeAuth) app.use(settings.httpNodeRoot, nodeAuth);
  app.use(settings.httpNodeRoot, RED.httpNode);
  // Websocket upgrades bypass Express: each is checked against the same credentials before any listener sees it,
  // except the editor's own comms (Node-RED checks adminAuth's token on it).
  if (web.httpNodeAuth || bearerTokens.length) {
    guardUpgrades(server, { httpNodeAuth: web.httpNodeAuth, bearerTokens }, (p) => p === '/comms');
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 1880, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const started = new Promise<void>((resolve) => RED.events.once('flows:started', () => resolve()));
  await RED.start();
  // RED.start() resolves before the flows run.
  await started;

  return {
    url: `${trust.https ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    server,
    RED,
    userDir,
    flowFile,
    async stop() {
      await RED.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// The xcast command line (bin/xcast.js): each sub-command is a small function over the runtime.
import { parseArgs } from 'node:util';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { launch, loadFlow, resolveFlowFile, customiseFlow, isLoopback, PACKAGE_ROOT, type TrustOptions } from './launcher';

const USAGE = `usage:
  xcast start [xcast|peer|monitor|demo|FILE.json] [--port N] [--host ADDR] [--user-dir DIR] [--port-map 7010=17010,...]
        [--tls-cert FILE --tls-key FILE] [--tls-ca FILE] [--tls-require-client-cert] [--tls-fingerprint SHA256]
        [--users FILE] [--token T | --token-file FILE] [--connect HOST] [--admin-password-file FILE] [--generate-credentials] [--https]
      A --host other machines reach needs HTTP credentials (--admin-password-file, or XCAST_ADMIN_PASSWORD)
      and streamproto1 credentials (--users, --token, --token-file or XCAST_TOKEN), or --generate-credentials.
  xcast deploy <preset or FILE.json> --url http://host:1880 [--port-map ...] [--admin-password-file FILE] [--user admin]
  xcast devices [--json]
  xcast metrics --url http://[admin:PASSWORD@]host:1880 [--admin-password-file FILE] [--json] [--watch [SECONDS]]
  xcast events capture --port N [--host ADDR] --out FILE.xcev [--seconds S]
  xcast events inspect FILE.xcev [--json]
  xcast reconstruct FILE.xcev --out mix.wav [--room NAME] [--gain NAME=G]... [--mute NAME]... [--master -3dB] [--stems DIR]`;

export class UsageError extends Error {}

function parsePortMap(s: string | undefined): Record<number, number> {
  const map: Record<number, number> = {};
  if (!s) return map;
  for (const part of s.split(',')) {
    const m = /^(\d+)=(\d+)$/.exec(part.trim());
    if (!m) throw new UsageError(`--port-map: "${part}" is not FROM=TO`);
    map[Number(m[1])] = Number(m[2]);
  }
  return map;
}

/** The file --generate-credentials keeps the admin password and the token in (mode 0600, in the user dir). */
export const GENERATED_CREDENTIALS_FILE = 'xcast-credentials.json';

/**
 * The admin password and streamproto1 token of --generate-credentials: made once and kept in the user dir (0600);
 * `created` says whether they were made now (then printed, once).
 */
export function generatedCredentials(userDir: string): { adminPassword: string; token: string; file: string; created: boolean } {
  const file = path.join(userDir, GENERATED_CREDENTIALS_FILE);
  if (fs.existsSync(file)) {
    const c = JSON.parse(fs.readFileSync(file, 'utf8')) as { adminPassword?: unknown; token?: unknown };
    if (typeof c.adminPassword !== 'string' || typeof c.token !== 'string' || !c.adminPassword || !c.token) {
      throw new Error(`${file}: not the credentials --generate-credentials made (adminPassword, token); remove it to make new ones`);
    }
    return { adminPassword: c.adminPassword, token: c.token, file, created: false };
  }
  const adminPassword = crypto.randomBytes(18).toString('base64url');
  const token = crypto.randomBytes(24).toString('base64url');
  fs.mkdirSync(userDir, { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ adminPassword, token }, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  return { adminPassword, token, file, created: true };
}

function readSecretFile(option: string, file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${option}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const v = text.split(/\r?\n/, 1)[0].trim();
  if (!v) throw new UsageError(`${option}: ${file} is empty`);
  return v;
}

async function start(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args, allowPositionals: true,
    options: {
      port: { type: 'string' }, host: { type: 'string' }, 'user-dir': { type: 'string' }, 'port-map': { type: 'string' }, 'log-level': { type: 'string' },
      'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' }, 'tls-ca': { type: 'string' }, 'tls-require-client-cert': { type: 'boolean' },
      'tls-fingerprint': { type: 'string' }, users: { type: 'string' }, token: { type: 'string' }, 'token-file': { type: 'string' }, connect: { type: 'string' },
      'admin-password-file': { type: 'string' }, 'generate-credentials': { type: 'boolean' }, https: { type: 'boolean' },
    },
  });
  const flow = positionals[0] ?? 'demo';
  const port = values.port !== undefined ? Number(values.port) : 1880;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: "${values.port}" is not a port number`);
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  const userDir = path.resolve(values['user-dir'] ?? path.join(process.cwd(), '.xcast', path.basename(flow, '.json')));
  const trust: TrustOptions = {
    tlsCert: values['tls-cert'], tlsKey: values['tls-key'], tlsCa: values['tls-ca'], requireClientCert: values['tls-require-client-cert'],
    tlsFingerprint: values['tls-fingerprint'], usersFile: values.users, connect: values.connect, https: values.https,
    // A token on the command line shows in `ps`: --token-file or XCAST_TOKEN keep it out of sight.
    token: values.token ?? (values['token-file'] !== undefined ? readSecretFile('--token-file', values['token-file']) : process.env.XCAST_TOKEN || undefined),
    adminPassword: values['admin-password-file'] !== undefined ? readSecretFile('--admin-password-file', values['admin-password-file'])
      : process.env.XCAST_ADMIN_PASSWORD || undefined,
  };
  if (values['generate-credentials']) {
    const g = generatedCredentials(userDir);
    trust.adminPassword ??= g.adminPassword;
    trust.token ??= g.token;
    if (g.created) {
      console.log(`xcast: generated credentials (shown this once; kept in ${g.file}, mode 0600):\n`
        + `  editor and HTTP routes: user admin, password ${g.adminPassword}\n  streamproto1 token: ${g.token}`);
    } else {
      console.log(`xcast: using the credentials in ${g.file}`);
    }
  }
  if (values.host !== undefined && !isLoopback(values.host)) {
    if (!trust.tlsCert) console.warn(`xcast: warning: --host ${values.host} without --tls-cert: tokens and audio cross the network in clear`);
    if (!trust.https) console.warn(`xcast: warning: --host ${values.host} without --https: the admin password crosses the network in clear (HTTP Basic)`);
  }
  const l = await launch({ flow, port, host: values.host, userDir, portMap: parsePortMap(values['port-map']), logLevel: (values['log-level'] as never) ?? 'info', trust });
  console.log(`xcast: Node-RED with ${flow} running at ${l.url}/ (user dir ${l.userDir})`);
  const stop = () => { l.stop().then(() => process.exit(0), () => process.exit(1)); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return new Promise<number>(() => { /* runs until signalled */ });
}

/** A token for Node-RED's admin API with adminAuth's credentials (what the editor's login does). */
async function adminToken(base: string, username: string, password: string): Promise<string> {
  const r = await fetch(`${base}/auth/token`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username, password }),
  });
  if (!r.ok) throw new Error(`${base} refused the admin login for ${username} (${r.status}): check the password`);
  return ((await r.json()) as { access_token: string }).access_token;
}

async function deploy(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { url: { type: 'string' }, 'port-map': { type: 'string' }, user: { type: 'string' }, 'admin-password-file': { type: 'string' } } });
  if (!positionals[0]) throw new UsageError('deploy needs a preset or flow file');
  if (!values.url) throw new UsageError('deploy needs --url http://host:1880');
  const flows = customiseFlow(loadFlow(resolveFlowFile(positionals[0])), parsePortMap(values['port-map']));
  const base = values.url.replace(/\/+$/, '');
  const password = values['admin-password-file'] !== undefined ? readSecretFile('--admin-password-file', values['admin-password-file'])
    : process.env.XCAST_ADMIN_PASSWORD || undefined;
  const auth: Record<string, string> = password ? { Authorization: `Bearer ${await adminToken(base, values.user ?? 'admin', password)}` } : {};
  // POST /flows answers 204 even when the target lacks the node types and then runs nothing: check first.
  const res = await fetch(`${base}/nodes`, { headers: { Accept: 'application/json', ...auth } });
  if (res.status === 401) throw new Error(`${base} wants its admin password (adminAuth): give --admin-password-file FILE or XCAST_ADMIN_PASSWORD`);
  if (!res.ok) throw new Error(`GET ${base}/nodes answered ${res.status}`);
  const sets = (await res.json()) as Array<{ types?: string[]; enabled?: boolean }>;
  const installed = new Set(sets.filter((s) => s.enabled !== false).flatMap((s) => s.types ?? []));
  const needed = [...new Set(flows.map((n) => String(n.type)).filter((t) => t !== 'tab' && t !== 'group' && t !== 'subflow' && !t.startsWith('subflow:')))];
  const missing = needed.filter((t) => !installed.has(t));
  if (missing.length) {
    throw new Error(`${base} lacks node types ${missing.join(', ')}: install @xcast/node-red-xcast in that Node-RED (cd ~/.node-red && npm install ${PACKAGE_ROOT}) and restart it`);
  }
  const post = await fetch(`${base}/flows`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full', ...auth },
    body: JSON.stringify(flows),
  });
  if (!post.ok) throw new Error(`POST ${base}/flows answered ${post.status}: ${await post.text()}`);
  console.log(`deployed ${positionals[0]} (${flows.length} nodes) to ${base}`);
  return 0;
}

async function devices(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' } } });
  const { listDevices } = await import('./audio/devices');
  const d = listDevices();
  if (values.json) { console.log(JSON.stringify(d, null, 2)); return 0; }
  const show = (title: string, list: Array<{ name: string; hostAPIName?: string; maxInputChannels?: number; maxOutputChannels?: number; defaultSampleRate?: number }>, ch: 'maxInputChannels' | 'maxOutputChannels') => {
    console.log(`${title}:`);
    if (!list.length) console.log('  (none)');
    for (const x of list) console.log(`  ${x.name}  [${x.hostAPIName ?? '?'}, ${x[ch] ?? '?'} ch, ${x.defaultSampleRate ?? '?'} Hz]`);
  };
  show('input devices', d.inputs, 'maxInputChannels');
  show('output devices', d.outputs, 'maxOutputChannels');
  console.log('Choose a device by its name in the audio input / output node.');
  return 0;
}

type Cmd = (args: string[]) => Promise<number>;
const optional = (modulePath: string, fn: string): Cmd => async (args) => {
  let mod: Record<string, Cmd>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    mod = require(modulePath);
  } catch {
    throw new Error(`this build has no ${fn} command`);
  }
  return mod[fn](args);
};

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'start': return await start(rest);
      case 'deploy': return await deploy(rest);
      case 'devices': return await devices(rest);
      case 'metrics': return await optional('./qos/cli', 'metricsCommand')(rest);
      case 'events': return await optional('./events/cli', 'eventsCommand')(rest);
      case 'reconstruct': return await optional('./events/cli', 'reconstructCommand')(rest);
      case undefined: case 'help': case '--help': case '-h':
        console.log(USAGE);
        return cmd ? 0 : 1;
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      console.error(`xcast: ${(err as Error).message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
}

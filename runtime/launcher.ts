// Starts an embedded Node-RED with this package's nodes loaded and a preset (or any) flow file deployed.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadNodeRed } from './find-node-red';
import { readSettings } from './settings';

/** Root of the package (where package.json, flows/ and examples/ live), whether running from dist/ or not. */
export const PACKAGE_ROOT = findPackageRoot(__dirname);

export const PRESETS = ['xcast', 'peer', 'monitor', 'demo'] as const;

/** The preset flows' listening ports; `portMap` remaps them so several sessions can share a machine. */
export const DEFAULT_PORTS = { ingest: 7010, mixOut: 7011, events: 7012 } as const;

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
  const flows = customiseFlow(sources.flatMap((f) => loadFlow(resolveFlowFile(f))), opts.portMap, opts.overrides);
  // Found before anything is written: a start that cannot find Node-RED leaves no user directory behind.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const { RED, express } = loadNodeRed() as { RED: any; express: any };
  const userDir = opts.userDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-'));
  fs.mkdirSync(userDir, { recursive: true });
  const flowFile = path.join(userDir, 'flows.json');
  // The preset is deployed fresh each start; the editor then saves changes to this copy, never to the preset.
  fs.writeFileSync(flowFile, JSON.stringify(flows, null, 2));

  const app = express();
  const server = http.createServer(app);
  const host = opts.host ?? '127.0.0.1';
  const settings = {
    userDir,
    xcast: opts.xcast ?? {},
    flowFile,
    credentialSecret: 'xcast-local-credentials',
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
  app.use(settings.httpAdminRoot, RED.httpAdmin);
  app.use(settings.httpNodeRoot, RED.httpNode);

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
    url: `http://${host}:${port}`,
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

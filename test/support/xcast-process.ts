// Test support: runs `xcast start` (the real CLI, a real embedded Node-RED) in a child process on free ports.
import { spawn, ChildProcess } from 'node:child_process';
import { freePort, freePortPair } from './ports';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { customiseFlow, loadFlow, resolveFlowFile, PACKAGE_ROOT } from '../../runtime/launcher';

export interface XcastProcess {
  url: string;
  proc: ChildProcess;
  userDir: string;
  output: () => string;
  stop(): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** A port nobody listens on right now (./ports.ts: below the ephemeral range). */
export { freePort };

/** A UDP port nobody has bound right now (127.0.0.1). */
export const freeUdpPort = freePort;

/**
 * Free ports standing in for the presets' fixed ones, so a preset started by a test binds and sends to nothing fixed
 * and two xcasts can run side by side: 7010 / 7011 (TCP, and UDP on the same numbers), 7012, RTP in 5004 (its RTCP on
 * the next port), the RTP mix's destination 5006, seed 002's 4030 in and 4040 out.
 */
export async function freePortMap(): Promise<Record<number, number>> {
  return {
    7010: await freePort(), 7011: await freePort(), 7012: await freePort(),
    5004: await freePortPair(), 5006: await freePortPair(), 4030: await freeUdpPort(), 4040: await freeUdpPort(),
  };
}

export function tmpDir(prefix = 'xcast-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Writes the given presets/files, customised, into one flow file and starts it with the CLI.
 * `edit` may change the nodes further (e.g. set a recording path).
 */
export async function startXcast(opts: {
  flows: string[];
  portMap?: Record<number, number>;
  overrides?: Record<string, Record<string, unknown>>;
  edit?: (nodes: Array<Record<string, unknown>>) => void;
  userDir?: string;
  env?: NodeJS.ProcessEnv;
}): Promise<XcastProcess> {
  const userDir = opts.userDir ?? tmpDir();
  const nodes = customiseFlow(opts.flows.flatMap((f) => loadFlow(resolveFlowFile(f))), opts.portMap ?? {}, opts.overrides ?? {});
  opts.edit?.(nodes);
  const flowPath = path.join(userDir, 'test-flow.json');
  fs.writeFileSync(flowPath, JSON.stringify(nodes, null, 2));
  const proc = spawn(process.execPath, [path.join(PACKAGE_ROOT, 'bin', 'xcast.js'), 'start', flowPath, '--port', '0', '--user-dir', userDir, '--log-level', 'warn'], {
    cwd: PACKAGE_ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`xcast did not start in 30 s:\n${out}`)), 30000);
    const check = () => {
      const m = /running at (http:\/\/[^\s/]+)\//.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    };
    proc.stdout!.on('data', check);
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`xcast exited with ${code} before starting:\n${out}`)); });
  });
  return {
    url, proc, userDir,
    output: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(t);
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}

/** Finds a node of a flow by type and (optionally) tab label. */
export function findNode(nodes: Array<Record<string, unknown>>, type: string, tabLabel?: string): Record<string, unknown> {
  const tabs = new Map(nodes.filter((n) => n.type === 'tab').map((t) => [t.id, t.label]));
  const n = nodes.find((x) => x.type === type && (tabLabel === undefined || tabs.get(x.z) === tabLabel));
  if (!n) throw new Error(`no ${type} node${tabLabel ? ` on tab ${tabLabel}` : ''}`);
  return n;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

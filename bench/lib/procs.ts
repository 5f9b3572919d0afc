// Bench: child processes pinned to cores with taskset, and request/answer over their IPC channel.
import { spawn, ChildProcess, execFileSync } from 'node:child_process';
import net from 'node:net';

export interface Proc {
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr (for diagnostics when something fails). */
  output(): string;
  /** Resolves with the first IPC message whose `ev` is `ev`. */
  next<T = Record<string, unknown>>(ev: string, timeoutMs?: number): Promise<T>;
  request<T = Record<string, unknown>>(msg: Record<string, unknown>, ev: string, timeoutMs?: number): Promise<T>;
  exited: Promise<number | null>;
}

let hasTaskset: boolean | undefined;

/** True when `taskset` (util-linux) is here; without it processes run unpinned and the bench says so. */
export function tasksetAvailable(): boolean {
  if (hasTaskset === undefined) {
    try { execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' }); hasTaskset = true; } catch { hasTaskset = false; }
  }
  return hasTaskset;
}

/** Starts `node [nodeArgs] script [args]` pinned to `cpus` (a taskset list such as "0" or "0,1"). */
export function startNode(script: string, args: string[], cpus: string | null, nodeArgs: string[] = [], env?: NodeJS.ProcessEnv): Proc {
  const cmd = [process.execPath, ...nodeArgs, script, ...args];
  const child = cpus && tasksetAvailable()
    ? spawn('taskset', ['-c', cpus, ...cmd], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env, ...env } })
    : spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env, ...env } });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; if (out.length > 200_000) out = out.slice(-100_000); });
  child.stderr!.on('data', (d) => { out += d; if (out.length > 200_000) out = out.slice(-100_000); });
  const waiting = new Map<string, Array<(m: Record<string, unknown>) => void>>();
  const early: Record<string, unknown>[] = [];
  child.on('message', (m: Record<string, unknown>) => {
    const list = waiting.get(String(m.ev));
    if (list && list.length) list.shift()!(m);
    else early.push(m);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const next = <T>(ev: string, timeoutMs = 60000): Promise<T> => {
    const i = early.findIndex((m) => m.ev === ev);
    if (i >= 0) return Promise.resolve(early.splice(i, 1)[0] as T);
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${script}: no '${ev}' within ${timeoutMs} ms\n${out.slice(-4000)}`)), timeoutMs);
      const onExit = (code: number | null) => { clearTimeout(t); reject(new Error(`${script} exited (${code}) before '${ev}'\n${out.slice(-4000)}`)); };
      child.once('exit', onExit);
      const list = waiting.get(ev) ?? [];
      list.push((m) => { clearTimeout(t); child.off('exit', onExit); resolve(m as T); });
      waiting.set(ev, list);
    });
  };
  return {
    child,
    output: () => out,
    next,
    request: <T>(msg: Record<string, unknown>, ev: string, timeoutMs?: number) => {
      const p = next<T>(ev, timeoutMs);
      child.send(msg);
      return p;
    },
    exited,
  };
}

/** Asks a process to stop, then kills it if it has not exited after `graceMs`. */
export async function stopProc(p: Proc, graceMs = 8000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  try { p.child.send({ cmd: 'stop' }); } catch { /* IPC already closed */ }
  const t = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(t);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// Network namespaces for fault tests (root only): a namespace and a veth pair per test, a TCP forwarder on the host
// end so the xcast keeps its loopback binding, tc qdiscs (netem where the kernel has it) on the veth, and cleanup of
// everything named xcast-* / xcv* even after a crashed run.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function tc(...args: string[]): string {
  return execFileSync('tc', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Removes namespaces named xcast-* and host veths named xcv* left by an earlier run. */
export function preClean(): void {
  let list = '';
  try { list = ip('netns', 'list'); } catch { return; }
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0];
    if (/^xcast-/.test(name)) { try { ip('netns', 'del', name); } catch { /* gone */ } }
  }
  try {
    for (const m of ip('-o', 'link', 'show').matchAll(/^\d+: (xcv[^@:]+)/gm)) { try { ip('link', 'del', m[1]); } catch { /* gone */ } }
  } catch { /* no ip */ }
}

/** Why namespaces cannot be used here, or null when they can. */
export function netnsUnavailable(): string | null {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  if (process.getuid?.() !== 0) return 'network namespaces need root (CI has it)';
  try {
    ip('netns', 'add', 'xcast-probe');
    ip('netns', 'del', 'xcast-probe');
    return null;
  } catch (e) {
    return `ip netns is unavailable: ${(e as Error).message.split('\n')[0]}`;
  }
}

let netemCache: string | null | undefined;
/** Why tc netem cannot be used here, or null when it can (probed once on a throwaway veth). */
export function netemUnavailable(): string | null {
  if (netemCache !== undefined) return netemCache;
  const why = netnsUnavailable();
  if (why) return (netemCache = why);
  try {
    ip('link', 'add', 'xcvprobe', 'type', 'veth', 'peer', 'name', 'xcvprobe1');
    try {
      tc('qdisc', 'add', 'dev', 'xcvprobe', 'root', 'netem', 'delay', '1ms');
      netemCache = null;
    } catch (e) {
      netemCache = `tc netem is unavailable in this kernel (${(e as Error & { stderr?: string }).stderr?.trim() || (e as Error).message}); CI kernels have sch_netem`;
    }
  } finally {
    try { ip('link', 'del', 'xcvprobe'); } catch { /* gone */ }
  }
  return netemCache;
}

export interface Netns {
  name: string;
  /** Host end of the veth (where qdiscs go: they shape what the host sends into the namespace). */
  hostIf: string;
  nsIf: string;
  hostAddr: string;
  nsAddr: string;
  /** Forwards hostAddr:port (reachable from the namespace) to 127.0.0.1:port (the xcast). Returns the port. */
  forward(port: number): Promise<number>;
  /** A qdisc on both ends of the veth (both directions), replacing any before: e.g. ['netem', 'loss', '5%']. */
  qdisc(args: string[]): void;
  clearQdisc(): void;
  linkDown(): void;
  linkUp(): void;
  /** A node process inside the namespace. */
  spawnNode(script: string, args: string[]): ChildProcess;
  destroy(): Promise<void>;
}

let counter = 0;

export async function createNetns(): Promise<Netns> {
  const k = (process.pid % 200) + (counter++ % 50);
  const id = `${process.pid % 1000}x${counter}`;
  const name = `xcast-${id}`;
  const hostIf = `xcv${id}h`.slice(0, 15);
  const nsIf = `xcv${id}n`.slice(0, 15);
  const net3 = `10.${200 + (k % 50)}.${counter % 250}`;
  const hostAddr = `${net3}.1`;
  const nsAddr = `${net3}.2`;
  ip('netns', 'add', name);
  const servers: net.Server[] = [];
  const sockets = new Set<net.Socket>();
  const children = new Set<ChildProcess>();
  try {
    ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    ip('link', 'set', nsIf, 'netns', name);
    ip('addr', 'add', `${hostAddr}/30`, 'dev', hostIf);
    ip('link', 'set', hostIf, 'up');
    ip('-n', name, 'addr', 'add', `${nsAddr}/30`, 'dev', nsIf);
    ip('-n', name, 'link', 'set', nsIf, 'up');
    ip('-n', name, 'link', 'set', 'lo', 'up');
  } catch (e) {
    try { ip('netns', 'del', name); } catch { /* gone */ }
    try { ip('link', 'del', hostIf); } catch { /* gone */ }
    throw e;
  }
  return {
    name, hostIf, nsIf, hostAddr, nsAddr,
    async forward(port: number): Promise<number> {
      const srv = net.createServer((c) => {
        const up = net.connect(port, '127.0.0.1');
        c.setNoDelay(true); up.setNoDelay(true);
        for (const s of [c, up]) { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => s.destroy()); }
        c.pipe(up); up.pipe(c);
        c.on('close', () => up.destroy()); up.on('close', () => c.destroy());
      });
      servers.push(srv);
      await new Promise<void>((r) => srv.listen(port, hostAddr, () => r()));
      return port;
    },
    qdisc(args: string[]): void {
      tc('qdisc', 'replace', 'dev', hostIf, 'root', ...args);
      ip('netns', 'exec', name, 'tc', 'qdisc', 'replace', 'dev', nsIf, 'root', ...args);
    },
    clearQdisc(): void {
      try { tc('qdisc', 'del', 'dev', hostIf, 'root'); } catch { /* none */ }
      try { ip('netns', 'exec', name, 'tc', 'qdisc', 'del', 'dev', nsIf, 'root'); } catch { /* none */ }
    },
    linkDown(): void { ip('link', 'set', hostIf, 'down'); },
    linkUp(): void { ip('link', 'set', hostIf, 'up'); ip('addr', 'replace', `${hostAddr}/30`, 'dev', hostIf); },
    spawnNode(script: string, args: string[]): ChildProcess {
      const p = spawn('ip', ['netns', 'exec', name, process.execPath, path.resolve(script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(p);
      p.once('exit', () => children.delete(p));
      return p;
    },
    async destroy(): Promise<void> {
      for (const c of children) c.kill('SIGKILL');
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      try { ip('netns', 'del', name); } catch { /* gone */ }
      try { ip('link', 'del', hostIf); } catch { /* gone with the namespace */ }
    },
  };
}

/** Resolves with the first stdout line of `p` matching `re` (rejects at exit or after `timeoutMs`). */
export function lineFrom(p: ChildProcess, re: RegExp, timeoutMs = 10000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => { cleanup(); reject(new Error(`no line matching ${re} in ${timeoutMs} ms; got: ${buf}`)); }, timeoutMs);
    const onData = (d: Buffer) => {
      buf += d;
      for (const line of buf.split('\n')) { const m = re.exec(line); if (m) { cleanup(); resolve(m); return; } }
    };
    const onExit = (code: number | null) => { cleanup(); reject(new Error(`exited (${code}) before a line matching ${re}; got: ${buf}`)); };
    const cleanup = () => { clearTimeout(t); p.stdout!.off('data', onData); p.off('exit', onExit); };
    p.stdout!.on('data', onData);
    p.once('exit', onExit);
  });
}

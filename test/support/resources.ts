// Test support: evidence that something released what it held — threads, handles, ports — read from the process itself.
import fs from 'node:fs';
import net from 'node:net';
import { execFileSync } from 'node:child_process';

/** The ids of this process's threads (Linux /proc). */
export function threadIds(): Set<string> {
  return new Set(fs.readdirSync('/proc/self/task'));
}

/**
 * Starts libuv's thread pool (it starts all its threads at its first use, for good), so that a later count of
 * threads sees only the ones the code under test starts and ends.
 */
export async function warmThreadPool(): Promise<void> {
  await fs.promises.stat('.');
}

/** Active handles and requests by kind (process.getActiveResourcesInfo()), e.g. { Timeout: 2, TCPServerWrap: 1 }. */
export function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

/** The kinds of which `after` holds more than `before`: what was left behind. */
export function leftBehind(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const extra: Record<string, number> = {};
  for (const [k, n] of Object.entries(after)) if (n > (before[k] ?? 0)) extra[k] = n - (before[k] ?? 0);
  return extra;
}

/** Waits (polling every 10 ms, up to `timeoutMs`) until `cond` holds; returns whether it did. */
export async function until(cond: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/** Whether a new server can listen on this TCP port now (the old one let it go); else the error's code. */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<true | string> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/**
 * Waits up to `ms` for `port` to take a listener again; else fails saying why and who holds it (`ss`). A port the
 * kernel has not quite let go of when a close resolved passes; a leaked listener never does.
 */
export async function assertPortFreed(port: number, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  let last: true | string = await portIsFree(port);
  while (last !== true && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 20));
    last = await portIsFree(port);
  }
  if (last === true) return;
  let holders = '';
  try { holders = execFileSync('ss', ['-tanpH', `sport = :${port}`], { encoding: 'utf8' }).trim(); } catch { holders = '(ss failed)'; }
  throw new Error(`port ${port} is not free again after ${ms} ms (${last}); ss: ${holders || '(nothing)'}`);
}

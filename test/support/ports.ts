// Test support: ports for a test's servers, chosen below the kernel's ephemeral range. A port the kernel handed out
// for a moment (listen(0), then closed) is one it may hand out again at once as some outgoing connection's local
// port, before the xcast the test starts binds it: on a loaded CI machine that was an EADDRINUSE now and then, and a
// "port is free again" check that found a client sitting on it. Below the range only a server that asks binds.
// Each process starts at its own place (its pid), and every candidate is bound, TCP and UDP, before it is given.
import fs from 'node:fs';
import net from 'node:net';
import dgram from 'node:dgram';

const RANGE = ((): { lo: number; hi: number } => {
  let lo = 20000;
  let hi = 32767;
  try {
    const [eLo] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(eLo) && eLo > 12000) hi = eLo - 1;
    lo = Math.min(lo, hi - 8000);
  } catch { /* not Linux: the default range */ }
  return { lo, hi };
})();
let next = RANGE.lo + ((process.pid * 97) % (RANGE.hi - RANGE.lo));
const given = new Set<number>();

function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => { s.close(); resolve(false); });
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** `count` consecutive ports (the first even when `even`), each free for TCP and UDP on 127.0.0.1 just now. */
async function take(count: number, even: boolean): Promise<number> {
  for (let tries = 0; tries < RANGE.hi - RANGE.lo; tries++) {
    if (next + count > RANGE.hi) next = RANGE.lo;
    if (even && next % 2 === 1) next++;
    const first = next;
    next += count;
    let ok = true;
    for (let p = first; p < first + count && ok; p++) ok = !given.has(p) && (await tcpFree(p)) && (await udpFree(p));
    if (!ok) continue;
    for (let p = first; p < first + count; p++) given.add(p);
    if (given.size > 4000) given.clear();
    return first;
  }
  throw new Error(`no free port in ${RANGE.lo}…${RANGE.hi}`);
}

/** A port nobody has bound just now, TCP or UDP (127.0.0.1). */
export function freePort(): Promise<number> {
  return take(1, false);
}

/** A UDP port pair (even RTP, odd RTCP) free just now, for a tool to bind. */
export function freePortPair(): Promise<number> {
  return take(2, true);
}

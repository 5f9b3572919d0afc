// Test support: a TCP forwarder on a port of its own to a target port that can change (an xcast restarted on a new
// HTTP port keeps one address for the browser), that can cut every connection through it (a network drop) and
// delay what goes through, each way (a slow link; order kept).
import net from 'node:net';

export class TcpForward {
  private server = net.createServer((c) => this.onConnection(c));
  private readonly open = new Set<net.Socket>();
  port = 0;
  connections = 0;
  /** Each chunk is passed on this long after it came, in order (0: at once). */
  delayMs = 0;

  constructor(public target: number, private readonly host = '127.0.0.1') {}

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, this.host, () => { this.port = (this.server.address() as net.AddressInfo).port; resolve(this.port); });
    });
  }

  get url(): string { return `http://${this.host}:${this.port}`; }

  private onConnection(c: net.Socket): void {
    this.connections++;
    const up = net.connect({ host: this.host, port: this.target });
    this.open.add(c); this.open.add(up);
    const end = () => { c.destroy(); up.destroy(); this.open.delete(c); this.open.delete(up); };
    c.on('error', end); up.on('error', end); c.on('close', end); up.on('close', end);
    this.pass(c, up);
    this.pass(up, c);
  }

  private pass(from: net.Socket, to: net.Socket): void {
    // One FIFO a direction, drained by one timer: chunks leave in the order they came whatever the delay does (a
    // timer per chunk does not keep it: Node orders timers of different durations due in the same millisecond as it
    // likes, and a slow link once swapped two websocket messages here).
    const queue: Array<{ at: number; d: Buffer }> = [];
    let timer: NodeJS.Timeout | null = null;
    let ended = false;
    const drain = () => {
      timer = null;
      const now = Date.now();
      while (queue.length > 0 && queue[0].at <= now) { const q = queue.shift()!; if (!to.destroyed) to.write(q.d); }
      if (queue.length > 0) timer = setTimeout(drain, queue[0].at - now);
      else if (ended) to.end();
    };
    from.on('data', (d: Buffer) => {
      if (this.delayMs <= 0 && queue.length === 0) { to.write(d); return; }
      queue.push({ at: Date.now() + Math.max(0, this.delayMs), d });
      if (timer === null) timer = setTimeout(drain, Math.max(0, queue[0].at - Date.now()));
    });
    from.on('end', () => { ended = true; if (queue.length === 0) to.end(); });
    from.on('close', () => { if (timer !== null) clearTimeout(timer); });
  }

  /** Cuts every connection through it now (new ones go on being forwarded). */
  dropAll(): void {
    for (const s of this.open) s.destroy();
    this.open.clear();
  }

  close(): Promise<void> {
    this.dropAll();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

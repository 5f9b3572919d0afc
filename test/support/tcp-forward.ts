// Test support: a TCP forwarder on a port of its own to a target port that can change (an xcast restarted on a new
// HTTP port keeps one address for the browser), and that can cut every connection through it (a network drop).
import net from 'node:net';

export class TcpForward {
  private server = net.createServer((c) => this.onConnection(c));
  private readonly open = new Set<net.Socket>();
  port = 0;
  connections = 0;

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
    c.pipe(up); up.pipe(c);
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

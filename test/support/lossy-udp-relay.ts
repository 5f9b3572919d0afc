// Test support: a UDP relay for streamproto1 over UDP that impairs what a sender sends (seeded: drop, per-packet delay
// with jitter, reorder) and logs what it forwarded, in the order it forwarded it — the referee for the receiver's loss
// and reorder counts. Without a plan it only forwards and logs (e.g. at the host end of a veth whose netem does the
// impairing: then the log is what arrived through netem). One upstream socket per sender address, so every sender
// keeps its own session at the target.
import * as dgram from 'node:dgram';
import { FrameType } from '../../runtime/protocol/frame';

export interface UdpRelayPlan {
  /** Seeded PRNG in [0, 1) (e.g. test/protocol/helpers.ts prng). */
  random: () => number;
  /** Probability that an AUDIO datagram is dropped. */
  loss: number;
  /** Delay of every datagram, both ways (ms), and the ± uniform jitter of each AUDIO datagram's. */
  delayMs: number;
  jitterMs: number;
  /** Probability that an AUDIO datagram is held back a further `reorderHoldMs` (overtaken by the next ones). */
  reorder: number;
  reorderHoldMs: number;
}

export interface UdpRelayLog {
  /** AUDIO seqs from the sender, in the order they came. */
  sent: number[];
  /** AUDIO seqs dropped by the plan. */
  dropped: number[];
  /** AUDIO seqs held back for reordering. */
  held: number[];
  /** AUDIO seqs as the relay handed them on to the target, in that order (the target's arrival order on loopback). */
  forwarded: number[];
  /** Other datagrams forwarded, either way. */
  control: number;
}

/** What a receiver that counts like RFC 3550 (runtime/qos/stats.ts) must count for an arrival order. */
export function countsOf(arrivals: number[]): { received: number; lost: number; outOfOrder: number; duplicate: number } {
  const seen = new Set<number>();
  let max = -Infinity, min = Infinity, ooo = 0, dup = 0;
  for (const s of arrivals) {
    if (seen.has(s)) { dup++; continue; }
    seen.add(s);
    if (s < max) ooo++;
    max = Math.max(max, s);
    min = Math.min(min, s);
  }
  return { received: seen.size, lost: seen.size ? max - min + 1 - seen.size : 0, outOfOrder: ooo, duplicate: dup };
}

export class LossyUdpRelay {
  readonly log: UdpRelayLog = { sent: [], dropped: [], held: [], forwarded: [], control: 0 };
  private readonly socket = dgram.createSocket('udp4');
  private readonly upstreams = new Map<string, dgram.Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private pending = 0;
  port = 0;

  constructor(private readonly target: { host: string; port: number }, private readonly plan?: UdpRelayPlan) {}

  /** Binds (default 127.0.0.1, any port); resolves with the port. */
  async listen(host = '127.0.0.1', port = 0): Promise<number> {
    this.socket.on('message', (d, from) => this.fromSender(d, from));
    await new Promise<void>((r) => this.socket.bind(port, host, () => r()));
    return (this.port = this.socket.address().port);
  }

  /** Datagrams still held (delayed) in the relay. */
  get inFlight(): number {
    return this.pending;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const u of this.upstreams.values()) u.close();
    await new Promise<void>((r) => this.socket.close(() => r()));
  }

  private later(ms: number, fn: () => void): void {
    if (ms <= 0) { fn(); return; }
    this.pending++;
    const t = setTimeout(() => { this.timers.delete(t); this.pending--; fn(); }, ms);
    this.timers.add(t);
  }

  private delay(): number {
    const p = this.plan;
    return p ? p.delayMs + (p.random() * 2 - 1) * p.jitterMs : 0;
  }

  /** Control datagrams (HELLO, acks, PING, QOS) get the plain delay: they draw nothing, so the AUDIO plan is the seed's whatever their timing. */
  private controlDelay(): number {
    return this.plan?.delayMs ?? 0;
  }

  private upstream(from: dgram.RemoteInfo): dgram.Socket {
    const key = `${from.address}:${from.port}`;
    let u = this.upstreams.get(key);
    if (u) return u;
    const sock = (u = dgram.createSocket('udp4'));
    this.upstreams.set(key, sock);
    sock.on('error', () => undefined);
    // The target's replies (HELLO-ack, PING, QOS) go back to the sender with the delay, never dropped.
    sock.on('message', (d) => {
      this.log.control++;
      this.later(this.controlDelay(), () => this.socket.send(d, from.port, from.address));
    });
    sock.connect(this.target.port, this.target.host);
    return sock;
  }

  private fromSender(d: Buffer, from: dgram.RemoteInfo): void {
    const up = this.upstream(from);
    const send = () => { try { up.send(d); } catch { /* not connected yet: lost, as on a network */ } };
    const isAudio = d.length >= 16 && d[0] === 0x53 && d[1] === 0x50 && d[3] === FrameType.AUDIO;
    if (!isAudio) {
      this.log.control++;
      this.later(this.controlDelay(), send);
      return;
    }
    const seq = d.readUInt32BE(12);   // frame header 8 + trackId 4
    this.log.sent.push(seq);
    const p = this.plan;
    if (p && p.random() < p.loss) { this.log.dropped.push(seq); return; }
    let ms = this.delay();
    if (p && p.random() < p.reorder) { this.log.held.push(seq); ms += p.reorderHoldMs; }
    this.later(ms, () => { this.log.forwarded.push(seq); send(); });
  }
}

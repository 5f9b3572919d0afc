// Test support: a streamproto1 relay on loopback that drops, delays, duplicates and reorders chosen AUDIO frames.
import net from 'node:net';
import { FrameParser } from '../../runtime/protocol/parser';
import { encodeFrame, FrameType } from '../../runtime/protocol/frame';

export interface RelayPlan {
  /** Wire seqs never forwarded. */
  drop?: Set<number>;
  /** Wire seqs forwarded twice. */
  duplicate?: Set<number>;
  /** Wire seqs held back and sent right after the next frame (each gives one out-of-order arrival). */
  swapWithNext?: Set<number>;
  /** Wire seqs held back this long, overtaken by later frames (too late for the jitter buffer). */
  late?: Map<number, number>;
  /** Delay (ms) for every other frame, order kept (a delay line): adds jitter without reordering. */
  jitterMs?: () => number;
  /** Constant extra delay (ms) for everything in both directions. */
  delayMs?: number;
  /** Every AUDIO frame swallowed (not counted): the sender seems to stop, its connection stays open. */
  mute?: boolean;
}

export interface RelayStats { forwarded: number; dropped: number; duplicated: number; swapped: number; late: number }

export class LossyRelay {
  private server = net.createServer((c) => this.onClient(c));
  readonly stats: RelayStats = { forwarded: 0, dropped: 0, duplicated: 0, swapped: 0, late: 0 };
  private sockets = new Set<net.Socket>();
  private timers = new Set<NodeJS.Timeout>();
  port = 0;

  constructor(private readonly targetPort: number, public plan: RelayPlan = {}) {}

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private later(ms: number, fn: () => void): void {
    if (ms <= 0) { fn(); return; }
    const t = setTimeout(() => { this.timers.delete(t); fn(); }, ms);
    this.timers.add(t);
  }

  private onClient(client: net.Socket): void {
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    for (const s of [client, upstream]) { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); s.on('error', () => undefined); }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    // Downstream (server → client) passes as bytes, with the constant delay only.
    upstream.on('data', (d) => this.later(this.plan.delayMs ?? 0, () => client.write(d)));
    const parser = new FrameParser(1 << 22);
    let held: Buffer | null = null;
    let lineFreeAt = 0;
    const send = (frame: Buffer, extraMs = 0) => {
      // A delay line: a frame never overtakes the one before it.
      const now = Date.now();
      const at = Math.max(now + (this.plan.delayMs ?? 0) + extraMs, lineFreeAt);
      lineFreeAt = at;
      this.later(at - now, () => upstream.write(frame));
    };
    client.on('data', (chunk) => {
      parser.push(chunk, (type, payload) => {
        const frame = encodeFrame(type, Buffer.from(payload));
        if (type !== FrameType.AUDIO) { send(frame); return; }
        const seq = payload.readUInt32BE(4);
        const p = this.plan;
        if (p.mute) return;
        if (p.drop?.has(seq)) { this.stats.dropped++; return; }
        if (p.late?.has(seq)) {
          this.stats.late++;
          this.later((p.delayMs ?? 0) + p.late.get(seq)!, () => upstream.write(frame));
          return;
        }
        if (p.swapWithNext?.has(seq)) { held = frame; this.stats.swapped++; return; }
        const jitter = p.jitterMs ? p.jitterMs() : 0;
        send(frame, jitter);
        this.stats.forwarded++;
        if (p.duplicate?.has(seq)) { send(frame); this.stats.duplicated++; }
        if (held) { send(held); held = null; }
      });
    });
  }
}

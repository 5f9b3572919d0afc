// Shared helpers for the protocol tests: real Opus packets, a seeded PRNG, and a raw streamproto1 TCP client.

import * as net from 'node:net';
import { EventEmitter, once } from 'node:events';
import { FRAME_HEADER_BYTES, FrameType, decodeErrorPayload, encodeJsonFrame } from '../../runtime/protocol/frame';
import { FrameParser } from '../../runtime/protocol/parser';
import type { SenderTimers } from '../../runtime/protocol/sender';
import { StreamServer, type StreamClient, type StreamServerOptions } from '../../runtime/protocol/transport';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { OpusEncoder } = require('@discordjs/opus') as { OpusEncoder: new (rate: number, channels: number) => { encode(pcm: Buffer): Buffer } };

const encoders = new Map<string, { encode(pcm: Buffer): Buffer }>();

/** One real Opus packet of `frameSamples` samples of silence from libopus. */
export function opusEncode(sampleRate: number, channels: number, frameSamples: number): Buffer {
  const key = `${sampleRate}/${channels}`;
  let enc = encoders.get(key);
  if (!enc) { enc = new OpusEncoder(sampleRate, channels); encoders.set(key, enc); }
  return enc.encode(Buffer.alloc(frameSamples * channels * 2));
}

/** mulberry32: a small seeded PRNG so random tests are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RawFrame { type: number; payload: Buffer }

/**
 * A bare TCP client that speaks streamproto1 by hand, so tests can send malformed bytes. It
 * records every frame it receives and whether the server closed.
 */
export class RawClient extends EventEmitter {
  readonly frames: RawFrame[] = [];
  closed = false;
  private readonly parser = new FrameParser(1 << 24);

  private constructor(readonly socket: net.Socket) {
    super();
    socket.on('data', (chunk) => this.parser.push(chunk, (type, payload) => {
      const f = { type, payload: Buffer.from(payload) };
      this.frames.push(f);
      this.emit('frame', f);
    }));
    socket.on('error', () => { /* a reset after the server's ERROR is expected */ });
    socket.on('close', () => { this.closed = true; this.emit('closed'); });
  }

  /** `localAddress`: another loopback address (127.0.0.2 …) to connect from, as a second remote IP. */
  static async connect(port: number, localAddress?: string): Promise<RawClient> {
    const socket = net.connect({ host: '127.0.0.1', port, ...(localAddress !== undefined ? { localAddress } : {}) });
    await once(socket, 'connect');
    return new RawClient(socket);
  }

  /** Connects and completes the HELLO handshake. */
  static async hello(port: number, userId = 'raw', extra: Record<string, unknown> = {}): Promise<RawClient> {
    const c = await RawClient.connect(port);
    c.socket.write(encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId, role: 'peer', ...extra }));
    const f = await c.nextFrame();
    if (f.type !== FrameType.HELLO) throw new Error(`expected the server's HELLO, got type ${f.type}`);
    return c;
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next frame received after the ones already seen by earlier calls. */
  private seen = 0;
  nextFrame(timeoutMs = 5000): Promise<RawFrame> {
    if (this.seen < this.frames.length) return Promise.resolve(this.frames[this.seen++]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { cleanup(); reject(new Error('no frame within timeout')); }, timeoutMs);
      const onFrame = (): void => { cleanup(); resolve(this.frames[this.seen++]); };
      const onClosed = (): void => { cleanup(); reject(new Error('closed before a frame arrived')); };
      const cleanup = (): void => { clearTimeout(timer); this.off('frame', onFrame); this.off('closed', onClosed); };
      this.on('frame', onFrame);
      this.on('closed', onClosed);
    });
  }

  /** Waits until the server closes; resolves with the ERROR frame's {code, message} if one came. */
  async waitClosed(timeoutMs = 5000): Promise<{ code: string; message: string } | undefined> {
    if (!this.closed) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('server did not close the connection')), timeoutMs);
        this.once('closed', () => { clearTimeout(timer); resolve(); });
      });
    }
    const err = this.frames.find((f) => f.type === FrameType.ERROR);
    return err ? decodeErrorPayload(err.payload) : undefined;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A frame header with arbitrary fields, for malformed-frame tests. */
export function rawHeader(magic: number, version: number, type: number, length: number): Buffer {
  const b = Buffer.alloc(FRAME_HEADER_BYTES);
  b.writeUInt16BE(magic, 0);
  b[2] = version;
  b[3] = type;
  b.writeUInt32BE(length, 4);
  return b;
}

/** Resolves when `pred()` holds, polling every 10 ms; rejects after `timeoutMs`. */
export async function until(pred: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A clock that moves only when the test says, firing each interval at its due times, in order (StreamSender's timers). */
export class ManualTimers implements SenderTimers {
  t = 0;
  readonly intervals = new Set<{ fn: () => void; ms: number; next: number }>();
  now(): number { return this.t; }
  setInterval(fn: () => void, ms: number): unknown {
    const h = { fn, ms, next: this.t + ms };
    this.intervals.add(h);
    return h;
  }
  clearInterval(h: unknown): void { this.intervals.delete(h as never); }
  advanceTo(t: number): void {
    for (;;) {
      let due: { fn: () => void; ms: number; next: number } | undefined;
      for (const h of this.intervals) if (h.next <= t && (!due || h.next < due.next)) due = h;
      if (!due) break;
      this.t = due.next;
      due.next += due.ms;
      due.fn();
    }
    this.t = t;
  }
}

/**
 * What a protocol test opens, closed after each test: servers (listening on a free port, no PINGs unless asked),
 * clients, raw clients and plain sockets. `defaults` go into every server's options (a test's own win).
 */
export class TransportFixture {
  readonly servers: StreamServer[] = [];
  readonly clients: StreamClient[] = [];
  readonly raws: RawClient[] = [];
  readonly sockets: net.Socket[] = [];
  constructor(private readonly defaults: () => StreamServerOptions = () => ({})) {}

  async startServer(opts: StreamServerOptions = {}): Promise<{ server: StreamServer; port: number }> {
    const server = new StreamServer({ pingIntervalMs: 0, ...this.defaults(), ...opts });
    this.servers.push(server);
    const { port } = await server.listen();
    return { server, port };
  }

  async closeAll(): Promise<void> {
    for (const r of this.raws.splice(0)) r.destroy();
    for (const s of this.sockets.splice(0)) s.destroy();
    await Promise.all(this.clients.splice(0).map((c) => c.close()));
    await Promise.all(this.servers.splice(0).map((s) => s.close()));
  }
}

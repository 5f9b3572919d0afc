// Test support: a monitor on the xcast's mix output that counts every AUDIO frame per track (seq continuity, gaps,
// longest silence between frames) and keeps the latest mixeradminSharedState the xcast sends as METADATA.
import { StreamClient } from '../../runtime/protocol/transport';
import type { MixerAdminSharedState } from '../../runtime/qos/types';

export interface Continuity {
  /** Frames received. */
  received: number;
  /** Frames the seq range first…last says were sent. */
  expected: number;
  /** Seq jumps (each a run of missing frames) and the frames missing in them. */
  gaps: number;
  missing: number;
  /** Frames seen again or from behind. */
  duplicatesOrOld: number;
  /** Longest time between two frames, ms. */
  maxIntervalMs: number;
  /** Frames a 10 ms clock makes between the first and the last arrival (+1): more than `expected` when ticks were skipped. */
  expectedByClock: number;
}

export class MixMonitor {
  readonly client: StreamClient;
  state: MixerAdminSharedState | null = null;
  stateAt = 0;
  /** Largest METADATA seen, as JSON bytes, and how many arrived. */
  metadataMaxBytes = 0;
  metadataCount = 0;
  private first = -1;
  private last = -1;
  private lastAt = 0;
  private firstAt = 0;
  private counting = false;
  readonly c: Continuity = { received: 0, expected: 0, gaps: 0, missing: 0, duplicatesOrOld: 0, maxIntervalMs: 0, expectedByClock: 0 };
  private waiters: Array<() => void> = [];

  constructor(port: number, userId = 'probe-monitor', host = '127.0.0.1', private readonly frameMs = 10) {
    this.client = new StreamClient({ host, port, hello: { userId, role: 'monitor' } });
    this.client.on('connect', (conn) => {
      conn.on('audio', (h) => this.onAudio(h.seq));
      conn.on('metadata', (m) => {
        const s = (m as { mixeradminSharedState?: MixerAdminSharedState }).mixeradminSharedState;
        if (s && typeof s === 'object') { this.state = s; this.stateAt = Date.now(); }
        this.metadataCount++;
        if ((this.metadataCount & 15) === 1) this.metadataMaxBytes = Math.max(this.metadataMaxBytes, Buffer.byteLength(JSON.stringify(m)));
      });
    });
    this.client.start();
  }

  private onAudio(seq: number): void {
    const now = Date.now();
    for (const w of this.waiters.splice(0)) w();
    if (!this.counting) return;
    if (this.first < 0) { this.first = seq; this.last = seq; this.lastAt = now; this.firstAt = now; this.c.received = 1; this.c.expected = 1; this.c.expectedByClock = 1; return; }
    const d = (seq - this.last) >>> 0;
    if (d === 0 || d > 0x80000000) { this.c.duplicatesOrOld++; return; }
    if (d > 1) { this.c.gaps++; this.c.missing += d - 1; }
    this.c.maxIntervalMs = Math.max(this.c.maxIntervalMs, now - this.lastAt);
    this.last = seq;
    this.lastAt = now;
    this.c.received++;
    this.c.expected = ((this.last - this.first) >>> 0) + 1;
    this.c.expectedByClock = Math.round((now - this.firstAt) / this.frameMs) + 1;
  }

  /** Resolves at the next mix frame (or rejects after `timeoutMs`). */
  nextFrame(timeoutMs = 10000): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no mix frame at the monitor within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push(() => { clearTimeout(t); resolve(); });
    });
  }

  /** Forgets what was counted (a new measuring window starts at the next startCounting). */
  reset(): void {
    this.counting = false;
    this.first = -1;
    Object.assign(this.c, { received: 0, expected: 0, gaps: 0, missing: 0, duplicatesOrOld: 0, maxIntervalMs: 0, expectedByClock: 0 });
  }

  /** Starts counting from the next frame. */
  startCounting(): void {
    this.counting = true;
  }

  /** Stops counting; returns the figures. */
  stopCounting(): Continuity {
    this.counting = false;
    return { ...this.c };
  }

  /** Resolves when a shared state newer than `since` satisfies `pred` (or rejects after `timeoutMs`). */
  async stateWhere(pred: (s: MixerAdminSharedState) => boolean, timeoutMs: number, since = Date.now()): Promise<MixerAdminSharedState> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (this.state && this.stateAt >= since && pred(this.state)) return this.state;
      if (Date.now() > end) throw new Error(`shared state never matched in ${timeoutMs} ms; last: ${JSON.stringify(this.state)?.slice(0, 2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

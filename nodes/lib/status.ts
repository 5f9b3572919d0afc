// Node status that changes at most twice a second: per-frame code may call set() freely.
import type { Node, NodeStatusFill, NodeStatusShape } from 'node-red';

export class StatusThrottle {
  private lastFill: NodeStatusFill | '' = '';
  private lastShape: NodeStatusShape | '' = '';
  private lastText: string | null = null;
  private pending: { fill: NodeStatusFill; shape: NodeStatusShape; text: string } | null = null;
  /** setBy(): the pending text, made when it is shown. */
  private pendingText: (() => string) | null = null;
  private lastAt = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly node: Node, private readonly minIntervalMs = 500) {}

  set(fill: NodeStatusFill, shape: NodeStatusShape, text: string): void {
    // Compared field by field: per-frame callers must not pay for a key string (or a pending object) each time.
    this.pendingText = null;
    const p = this.pending;
    if (p === null && fill === this.lastFill && shape === this.lastShape && text === this.lastText) return;
    if (p === null) this.pending = { fill, shape, text };
    else { p.fill = fill; p.shape = shape; p.text = text; }
    if (this.timer) return;
    const wait = this.lastAt + this.minIntervalMs - Date.now();
    if (wait <= 0) this.flush();
    else this.timer = setTimeout(() => this.flush(), wait);
  }

  /**
   * Like set(), for a text that changes with every call (a packet count): `text` is called only when the status
   * is about to be shown, so a per-packet caller builds no string in between. Pass the same function each time.
   */
  setBy(fill: NodeStatusFill, shape: NodeStatusShape, text: () => string): void {
    if (this.timer && this.pending) { this.pending.fill = fill; this.pending.shape = shape; this.pendingText = text; return; }
    const wait = this.lastAt + this.minIntervalMs - Date.now();
    if (wait > 0) {
      this.pending = { fill, shape, text: '' };
      this.pendingText = text;
      this.timer = setTimeout(() => this.flush(), wait);
      return;
    }
    this.pendingText = null;
    const s = text();
    // The text is made at most once per interval, shown or not: a per-packet caller whose text did not change would
    // otherwise make it (a catalog lookup) on every call. A change is shown at once, as before.
    if (this.pending === null && fill === this.lastFill && shape === this.lastShape && s === this.lastText) { this.lastAt = Date.now(); return; }
    this.set(fill, shape, s);
  }

  /** Shows a status at once (state changes such as connected / error). */
  now(fill: NodeStatusFill, shape: NodeStatusShape, text: string): void {
    this.pendingText = null;
    this.pending = { fill, shape, text };
    this.flush();
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = null;
    this.pendingText = null;
    this.lastFill = ''; this.lastShape = ''; this.lastText = null;
    this.node.status({});
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const p = this.pending;
    this.pending = null;
    if (!p) return;
    if (this.pendingText) { p.text = this.pendingText(); this.pendingText = null; }
    this.lastAt = Date.now();
    if (p.fill === this.lastFill && p.shape === this.lastShape && p.text === this.lastText) return;
    this.lastFill = p.fill; this.lastShape = p.shape; this.lastText = p.text;
    this.node.status(p);
  }
}

// Node status that changes at most twice a second: per-frame code may call set() freely.
import type { Node, NodeStatusFill, NodeStatusShape } from 'node-red';

export class StatusThrottle {
  private last = '';
  private pending: { fill: NodeStatusFill; shape: NodeStatusShape; text: string } | null = null;
  private lastAt = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly node: Node, private readonly minIntervalMs = 500) {}

  set(fill: NodeStatusFill, shape: NodeStatusShape, text: string): void {
    const key = `${fill}|${shape}|${text}`;
    if (key === this.last && !this.pending) return;
    this.pending = { fill, shape, text };
    const wait = this.lastAt + this.minIntervalMs - Date.now();
    if (wait <= 0) this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), wait);
  }

  /** Shows a status at once (state changes such as connected / error). */
  now(fill: NodeStatusFill, shape: NodeStatusShape, text: string): void {
    this.pending = { fill, shape, text };
    this.flush();
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = null;
    this.last = '';
    this.node.status({});
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const p = this.pending;
    this.pending = null;
    if (!p) return;
    const key = `${p.fill}|${p.shape}|${p.text}`;
    this.lastAt = Date.now();
    if (key === this.last) return;
    this.last = key;
    this.node.status(p);
  }
}

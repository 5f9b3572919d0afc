// Test support: a virtual TimeSource for FrameClock — time moves only when the test says, so a loaded machine cannot change what a clock test sees.
import type { TimeSource, TimerHandle } from '../../runtime/clock';

interface Pending extends TimerHandle { at: number; order: number; fn: () => void; cancelled: boolean }

/**
 * An event loop in miniature: timers fire at their due time plus `timerLateMs` (real timers are ms-grained and fire
 * late), immediates run one turn at a time, and each turn costs `turnMs` (so a clock spinning on setImmediate
 * reaches its deadline as it would on a real loop). `block(ms)` is a listener that holds the loop — a stall.
 */
export class VirtualTime implements TimeSource {
  private t = 0;
  private order = 0;
  private timers: Pending[] = [];
  private immediates: Pending[] = [];
  /** setTimeout calls made, for tests that check how a clock waits. */
  timeoutsSet = 0;

  constructor(private readonly opts: { turnMs?: number; timerLateMs?: number } = {}) {}

  now(): number { return this.t; }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    this.timeoutsSet++;
    const p: Pending = { at: this.t + Math.max(1, ms) + (this.opts.timerLateMs ?? 0), order: this.order++, fn, cancelled: false };
    this.timers.push(p);
    return p;
  }

  clearTimeout(h: TimerHandle): void { (h as Pending).cancelled = true; }

  setImmediate(fn: () => void): TimerHandle {
    const p: Pending = { at: this.t, order: this.order++, fn, cancelled: false };
    this.immediates.push(p);
    return p;
  }

  clearImmediate(h: TimerHandle): void { (h as Pending).cancelled = true; }

  /** The loop is busy for `ms` (a listener that blocks, a GC pause): time passes, nothing else runs. */
  block(ms: number): void { this.t += ms; }

  /** Runs the loop until virtual time `until`, as libuv does: due timers, then one turn of immediates, again. */
  runUntil(until: number): void {
    while (this.t < until) {
      this.timers.sort((a, b) => a.at - b.at || a.order - b.order);
      while (this.timers.length > 0 && (this.timers[0].cancelled || this.timers[0].at <= this.t)) {
        const p = this.timers.shift()!;
        if (!p.cancelled) p.fn();
      }
      const turn = this.immediates.filter((p) => !p.cancelled);
      this.immediates = [];
      if (turn.length > 0) {
        // The immediates queued before this turn began; those they queue run in the next.
        for (const p of turn) if (!p.cancelled) p.fn();
        this.t += this.opts.turnMs ?? 0.05;
        continue;
      }
      const next = this.timers.find((p) => !p.cancelled);
      this.t = next === undefined ? until : Math.min(until, Math.max(this.t, next.at));
    }
  }

  /** Runs the loop for `ms` more. */
  run(ms: number): void { this.runUntil(this.t + ms); }

  /** Timers and immediates still pending (a stopped clock leaves none). */
  get pending(): number {
    return this.timers.filter((p) => !p.cancelled).length + this.immediates.filter((p) => !p.cancelled).length;
  }
}

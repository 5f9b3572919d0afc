// Time for the engine: nowMicros() for timestamps, and FrameClock, the steady drift-free frame tick that drives mixing and playout.
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { percentile } from './percentile';
import { readFileSync } from 'node:fs';

/** µs since the Unix epoch with sub-millisecond precision (performance.timeOrigin + performance.now()). */
export function nowMicros(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

export interface FrameClockOptions {
  /** Tick period in ms (e.g. 10, 2.5); fractional periods keep their exact average. */
  periodMs: number;
  /** How long before a deadline the timer hands over to setImmediate spinning; default 1.5 ms. */
  spinMs?: number;
  /** Behind by more than this, the clock re-anchors at now instead of bursting the missed ticks; default 200 ms. */
  resyncAfterMs?: number;
  /** Keep the process alive while running (like setInterval); default true. */
  keepAlive?: boolean;
  /** Where the clock reads the time and sets its timers; default the real ones (tests pass a virtual clock). */
  timeSource?: TimeSource;
}

/** A timer handle: Node's can be unref'd (keepAlive: false); a virtual one need not. */
export interface TimerHandle { unref?(): unknown }

/**
 * The time and the timers a FrameClock runs on: performance.now() and Node's timers unless a test injects its own,
 * so that stalls, late timers and long runs can be replayed deterministically without waiting for them.
 */
export interface TimeSource {
  /** Monotonic ms (performance.now()'s scale). */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(h: TimerHandle): void;
  setImmediate(fn: () => void): TimerHandle;
  clearImmediate(h: TimerHandle): void;
}

/** The real clock: performance.now() and Node's timers. */
export const realTime: TimeSource = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  setImmediate: (fn) => setImmediate(fn),
  clearImmediate: (h) => clearImmediate(h as NodeJS.Immediate),
};

export interface FrameClockStats {
  ticks: number;
  /** Lateness (actual − deadline) percentiles over the last LATENESS_WINDOW ticks, ms. */
  latenessP50Ms: number;
  latenessP99Ms: number;
  latenessMaxMs: number;
  /** Ticks that ran a whole period or more after their deadline. */
  missedDeadlines: number;
  /** Ticks run back to back, right after another in the same wake-up, to catch up after a stall. */
  catchUpTicks: number;
  /** Times the clock was so far behind that it skipped ahead instead of catching up. */
  resyncs: number;
  running: boolean;
}

/**
 * What a frame clock offers its users; a worker-thread clock (Atomics.wait) can implement the same and be
 * swapped in. 'tick' listeners get (frameIndex, latenessMs); frameIndex counts every tick ever emitted.
 */
export interface TickSource {
  readonly periodMs: number;
  start(): void;
  stop(): void;
  stats(): FrameClockStats;
  on(event: 'tick', listener: (frameIndex: number, latenessMs: number) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
}

/** A bad clock option; `field` names it. */
export class ClockConfigError extends Error {
  readonly code = 'bad_config';
  constructor(readonly field: string, message: string) {
    super(`clock ${field}: ${message}`);
    this.name = 'ClockConfigError';
  }
}

/** Ticks whose lateness stats() summarises (a ring of the latest). */
export const LATENESS_WINDOW = 1000;

/** p50, p99 and max of the lateness ring `ring` after `count` ticks were written into it (index count % length). */
export function latenessStats(ring: Float32Array | Float64Array, count: number): Pick<FrameClockStats, 'latenessP50Ms' | 'latenessP99Ms' | 'latenessMaxMs'> {
  const n = Math.min(count, ring.length);
  const sorted = Array.from(ring.subarray(0, n)).sort((a, b) => a - b);
  return { latenessP50Ms: percentile(sorted, 0.5, 0), latenessP99Ms: percentile(sorted, 0.99, 0), latenessMaxMs: percentile(sorted, 1, 0) };
}

/**
 * Emits 'tick' at deadlines anchored at start(): deadline_k = anchor + k × period, so timer error never accumulates.
 * setTimeout sleeps until spinMs before the deadline (timers are ms-grained and fire late), then setImmediate
 * spins to it. After an event-loop stall the missed ticks run back to back, so a mixer never skips a frame;
 * beyond resyncAfterMs it re-anchors at now instead (counted in resyncs) rather than bursting for ever.
 */
export class FrameClock extends EventEmitter implements TickSource {
  readonly periodMs: number;
  private readonly spinMs: number;
  private readonly resyncAfterMs: number;
  protected readonly keepAlive: boolean;
  protected readonly time: TimeSource;
  private running = false;
  /** time.now() of deadline 0; moved by a resync. */
  protected anchor = 0;
  private k = 0;
  private frameIndex = 0;
  private timer: TimerHandle | null = null;
  /** A pending setImmediate of the loop (subclasses that wait elsewhere still use it to run at once). */
  protected immediate: TimerHandle | null = null;
  private readonly lateness = new Float64Array(LATENESS_WINDOW);
  private latenessCount = 0;
  private ticks = 0;
  private missedDeadlines = 0;
  private catchUpTicks = 0;
  private resyncs = 0;
  // Bumped by start(): a listener that restarts the clock inside a tick must not leave this run() going too.
  private generation = 0;
  private deferred = false;
  /** Runs every tick that is due, then schedules the next wake-up; subclasses call it when their wait ends. */
  protected readonly loop = (): void => this.run();

  constructor(opts: FrameClockOptions) {
    super();
    const o = opts ?? ({} as FrameClockOptions);
    if (typeof o.periodMs !== 'number' || !Number.isFinite(o.periodMs) || o.periodMs <= 0) {
      throw new ClockConfigError('periodMs', `must be a positive number of ms, got ${String(o.periodMs)}`);
    }
    const spinMs = o.spinMs ?? 1.5;
    if (typeof spinMs !== 'number' || !(spinMs >= 0)) throw new ClockConfigError('spinMs', `must be ≥ 0, got ${String(spinMs)}`);
    const resync = o.resyncAfterMs ?? 200;
    if (typeof resync !== 'number' || !(resync > 0)) throw new ClockConfigError('resyncAfterMs', `must be > 0, got ${String(resync)}`);
    this.periodMs = o.periodMs;
    this.spinMs = spinMs;
    this.resyncAfterMs = Math.max(resync, o.periodMs);
    this.keepAlive = o.keepAlive ?? true;
    this.time = o.timeSource ?? realTime;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Starts ticking; the first tick is due now. Starting a running clock does nothing. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.generation++;
    this.anchor = this.time.now();
    this.k = 0;
    this.schedule(0);
  }

  /** Stops ticking and releases its timers, so the clock does not keep the process alive. */
  stop(): void {
    this.running = false;
    if (this.timer !== null) this.time.clearTimeout(this.timer);
    if (this.immediate !== null) this.time.clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
  }

  stats(): FrameClockStats {
    return {
      ticks: this.ticks,
      ...latenessStats(this.lateness, this.latenessCount),
      missedDeadlines: this.missedDeadlines,
      catchUpTicks: this.catchUpTicks,
      resyncs: this.resyncs,
      running: this.running,
    };
  }

  /** Arranges for `loop` to run in `waitMs` ms (the next deadline is that far away); a subclass may wait another way. */
  protected schedule(waitMs: number): void {
    if (waitMs > this.spinMs) {
      this.timer = this.time.setTimeout(this.loop, waitMs - this.spinMs);
      if (!this.keepAlive) this.timer.unref?.();
    } else {
      this.immediate = this.time.setImmediate(this.loop);
      if (!this.keepAlive) this.immediate.unref?.();
    }
  }

  private run(): void {
    this.timer = null;
    this.immediate = null;
    if (!this.running) return;
    const P = this.periodMs;
    const gen = this.generation;
    let now = this.time.now();
    let deadline = this.anchor + this.k * P;
    let first = true;
    // Bounded so that listeners slower than the period cannot starve I/O: the rest runs after an event-loop turn.
    let burst = Math.ceil(this.resyncAfterMs / P) + 1;
    while (this.running && burst-- > 0) {
      if (now - deadline > this.resyncAfterMs) {
        // Too far behind to catch up usefully: start counting deadlines again from now.
        this.resyncs++;
        this.anchor = now;
        this.k = 0;
        deadline = now;
      }
      if (now < deadline) break;
      const late = now - deadline;
      if (late >= P && !this.deferred) {
        // A period or more late, the loop was stalled: let one event-loop turn poll I/O first, so that the
        // packets that arrived meanwhile are in the playout buffers before the catch-up ticks pull from them.
        this.deferred = true;
        this.immediate = this.time.setImmediate(this.loop);
        if (!this.keepAlive) this.immediate.unref?.();
        return;
      }
      if (late < P) this.deferred = false;
      this.lateness[this.latenessCount++ % LATENESS_WINDOW] = late;
      this.ticks++;
      if (late >= P) this.missedDeadlines++;
      if (!first) this.catchUpTicks++;
      first = false;
      const index = this.frameIndex++;
      this.k++;
      this.emitTick(index, late);
      if (gen !== this.generation) return;
      deadline = this.anchor + this.k * P;
      now = this.time.now();
    }
    if (this.running) this.schedule(deadline - now);
  }

  private emitTick(index: number, late: number): void {
    try {
      this.emit('tick', index, late);
    } catch (err) {
      // A throwing listener must not stop the clock; it goes to 'error' listeners, else surfaces as uncaught.
      if (this.listenerCount('error') > 0) this.emit('error', err);
      else process.nextTick(() => { throw err; });
    }
  }
}

/**
 * CPU time (user + system, ms) the calling thread has used — Linux's /proc/thread-self/stat, at the kernel's clock-tick
 * resolution (10 ms) — or undefined where there is none. What a thread costs, which its event-loop utilisation
 * does not say on a shared core (time preempted counts as busy there).
 */
export function threadCpuMs(): number | undefined {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    // Fields after the command name (which may hold spaces, in parentheses): utime and stime are the 12th and 13th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** USER_HZ: 100 on every Linux Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

// A FrameClock that sleeps on a worker thread (Atomics.wait) instead of event-loop timers, and spins only the last fraction of a ms.
//
// FrameClock sleeps with setTimeout until 1.5 ms before each deadline (timers are ms-grained and fire late) and then
// spins the event loop with setImmediate: on an idle xcast that spin is ~8 % of a core at 10 ms frames and ~40 % at
// 2.5 ms. Here a worker thread is a metronome: told the clock's anchor (as ms since the Unix epoch, which both
// threads read from the same clock) and period once — again only when a resync moves the anchor — it sleeps in
// Atomics.wait until `handoverMs` before each deadline (futex wake-ups are good to ~0.1 ms, setTimeout to ~1 ms) and
// posts one message; only then does the event loop spin, for a fraction of a ms, exactly as FrameClock's last
// stretch. Nothing crosses threads per tick but that message (an Atomics.notify per tick cost the event loop ~30 µs
// and, with both threads on one core, a context switch). Ticks still run from a setImmediate, in the same place
// among Node-RED's message deliveries as before (the e2e event-stream test's sample-exact reconstruction depends on
// that order), and every tick semantic — deadlines anchored at start, catch-up bursts, resync, lateness
// statistics — is FrameClock's own: a wake-up that finds nothing due just spins to the deadline, one that comes
// while the event loop is behind is absorbed by its catch-up.
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { FrameClock, FrameClockOptions } from './clock';

/** `timeSource`, if given, must read performance.now()'s clock: the worker thread sleeps on that clock. */
export interface WorkerFrameClockOptions extends FrameClockOptions {
  /** How long before a deadline the worker hands over to the event loop's setImmediate spin; default 0.5 ms, at most a tenth of the period. */
  handoverMs?: number;
}

// Int32 slot 0: bumped on every change, so a sleeping worker wakes and re-reads.
// Float64 slots (from byte 8): anchor (deadline 0, ms since the epoch; NaN while stopped, -1 asks the worker to
// exit), period (ms), handover (ms).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
const i32 = new Int32Array(workerData.sab, 0, 2);
const f64 = new Float64Array(workerData.sab, 8, 3);
const now = () => performance.timeOrigin + performance.now();
let lastGen = -1, next = 0;
for (;;) {
  const gen = Atomics.load(i32, 0);
  const anchor = f64[0], period = f64[1], handover = f64[2];
  if (anchor === -1) break;
  if (Number.isNaN(anchor)) { Atomics.wait(i32, 0, gen); continue; }
  if (gen !== lastGen) { lastGen = gen; next = 0; }
  // The next deadline not yet announced, skipping any this thread slept through.
  const t = now();
  const k = Math.max(next, Math.ceil((t + handover - anchor) / period));
  const wait = anchor + k * period - handover - t;
  if (wait > 0 && Atomics.wait(i32, 0, gen, wait) !== 'timed-out') continue;
  if (Atomics.load(i32, 0) !== gen) continue;
  parentPort.postMessage(k);
  next = k + 1;
}
`;

export class WorkerFrameClock extends FrameClock {
  private readonly sab = new SharedArrayBuffer(32);
  private readonly i32 = new Int32Array(this.sab, 0, 2);
  private readonly f64 = new Float64Array(this.sab, 8, 3);
  private readonly handoverMs: number;
  private worker: Worker | null = null;
  /** The anchor the worker was last given (performance.now() ms); NaN: none. */
  private published = NaN;

  constructor(opts: WorkerFrameClockOptions) {
    super(opts);
    // The spin costs the event loop its length every period: 0.5 ms is 5 % of a core at 10 ms frames, and would be
    // 20 % at 2.5 ms, where a tenth of the period (0.25 ms) is the default instead.
    const h = opts.handoverMs ?? Math.min(0.5, this.periodMs / 10);
    this.handoverMs = Number.isFinite(h) && h >= 0 ? h : 0.5;
    this.f64[0] = NaN;
    this.f64[1] = this.periodMs;
    this.f64[2] = this.handoverMs;
  }

  override start(): void {
    if (this.isRunning) return;
    if (this.worker === null) {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { sab: this.sab } });
      w.on('message', this.onWake);
      w.on('error', (err) => this.emit('error', err));
      if (!this.keepAlive) w.unref();
      this.worker = w;
    }
    this.published = NaN;
    super.start();
  }

  /** Stops ticking and ends the worker thread (start() makes a new one). */
  override stop(): void {
    super.stop();
    const w = this.worker;
    if (w === null) return;
    this.worker = null;
    this.published = NaN;
    this.setAnchor(-1);
    w.off('message', this.onWake);
    void w.terminate();
  }

  /** The worker's wake-up: carry on from a setImmediate, as FrameClock's spin does, never from the message event itself. */
  private readonly onWake = (): void => {
    if (this.immediate === null && this.isRunning) super.schedule(0);
  };

  protected override schedule(waitMs: number): void {
    if (waitMs <= this.handoverMs || this.worker === null) {
      // The last stretch: FrameClock spins it with setImmediate (waits this short never reach its setTimeout).
      super.schedule(waitMs);
      return;
    }
    // The worker wakes us handoverMs before the deadline; it only needs telling when the anchor moved.
    if (this.anchor !== this.published) {
      this.published = this.anchor;
      this.setAnchor(performance.timeOrigin + this.anchor);
    }
  }

  private setAnchor(epochMs: number): void {
    this.f64[0] = epochMs;
    Atomics.add(this.i32, 0, 1);
    Atomics.notify(this.i32, 0);
  }
}

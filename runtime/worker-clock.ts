// A FrameClock that sleeps on a worker thread (Atomics.wait) instead of event-loop timers, and spins only the last fraction of a ms.
//
// FrameClock sleeps with setTimeout until 1.5 ms before each deadline (timers are ms-grained and fire late) and then
// spins the event loop with setImmediate: on an idle xcast that spin is ~15 % of a core at 10 ms frames and ~60 %
// at 2.5 ms. Here the main thread publishes the next deadline in a SharedArrayBuffer (as ms since the Unix epoch,
// which both threads read from the same clock); a worker sleeps in Atomics.wait until `handoverMs` before it
// (futex wake-ups are good to ~0.1 ms, where setTimeout is good to ~1 ms) and posts one message, and only then does
// the event loop spin, for a fraction of a ms, exactly as FrameClock's last stretch. Ticks therefore still run from
// a setImmediate, in the same place among Node-RED's message deliveries as before (the e2e event-stream test's
// sample-exact reconstruction depends on that order), and every tick semantic — deadlines anchored at start,
// catch-up bursts, resync, lateness statistics — is FrameClock's own.
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { FrameClock, FrameClockOptions } from './clock';

export interface WorkerFrameClockOptions extends FrameClockOptions {
  /** How long before a deadline the worker hands over to the event loop's setImmediate spin; default 0.5 ms, at most a tenth of the period. */
  handoverMs?: number;
}

// Slot 0 (Int32): bumped on every new wake-up time or stop, so a sleeping worker wakes and re-reads.
// Slot 1 (Float64, at byte 8): the wake-up time in ms since the epoch, NaN while stopped; -1 asks the worker to exit.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
const i32 = new Int32Array(workerData.sab, 0, 2);
const f64 = new Float64Array(workerData.sab, 8, 1);
for (;;) {
  const gen = Atomics.load(i32, 0);
  const at = f64[0];
  if (at === -1) break;
  if (Number.isNaN(at)) { Atomics.wait(i32, 0, gen); continue; }
  const wait = at - (performance.timeOrigin + performance.now());
  if (wait > 0 && Atomics.wait(i32, 0, gen, wait) !== 'timed-out') continue;
  if (Atomics.load(i32, 0) !== gen) continue;
  parentPort.postMessage(gen);
  // Sleep until the main thread publishes the next wake-up time.
  Atomics.wait(i32, 0, gen);
}
`;

export class WorkerFrameClock extends FrameClock {
  private readonly sab = new SharedArrayBuffer(16);
  private readonly i32 = new Int32Array(this.sab, 0, 2);
  private readonly f64 = new Float64Array(this.sab, 8, 1);
  private readonly handoverMs: number;
  private worker: Worker | null = null;

  constructor(opts: WorkerFrameClockOptions) {
    super(opts);
    // The spin costs the event loop its length every period: 0.5 ms is 5 % of a core at 10 ms frames, and would be
    // 20 % at 2.5 ms, where a tenth of the period (0.25 ms) is the default instead.
    const h = opts.handoverMs ?? Math.min(0.5, this.periodMs / 10);
    this.handoverMs = Number.isFinite(h) && h >= 0 ? h : 0.5;
    this.f64[0] = NaN;
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
    super.start();
  }

  /** Stops ticking and ends the worker thread (start() makes a new one). */
  override stop(): void {
    super.stop();
    const w = this.worker;
    if (w === null) return;
    this.worker = null;
    this.publish(-1);
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
    this.publish(performance.timeOrigin + performance.now() + waitMs - this.handoverMs);
  }

  private publish(deadlineEpochMs: number): void {
    this.f64[0] = deadlineEpochMs;
    Atomics.add(this.i32, 0, 1);
    Atomics.notify(this.i32, 0);
  }
}

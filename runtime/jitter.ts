// RFC 3550 §6.4.1 interarrival jitter: the one estimator, for the QoS aggregator (capture times) and the playout buffer (media clock).

/**
 * J += (|D| − J) / 16 with D = (Rj − Ri) − (Sj − Si), on µs clocks. Only differences of transit times are used, so a
 * constant offset between the sender's and the receiver's clocks cancels out. µs epoch values (~1.8e15) are exact in
 * a double, so are their differences. The sender's time S is whatever media clock the caller has: the capture time a
 * peer reports (QoS), or seq × frame duration (the playout buffer).
 */
export class Rfc3550Jitter {
  private prevTransit = 0;
  private hasPrev = false;
  private j = 0; // µs

  /** Feeds one packet; returns the jitter in ms after it. The first packet only sets the reference (J stays 0). */
  update(arrivalMicros: number, senderMicros: number): number {
    const transit = arrivalMicros - senderMicros;
    if (!Number.isFinite(transit)) return this.j / 1000; // no time to compare: the packet says nothing about jitter
    if (this.hasPrev) {
      const d = Math.abs(transit - this.prevTransit);
      this.j += (d - this.j) / 16;
    }
    this.prevTransit = transit;
    this.hasPrev = true;
    return this.j / 1000;
  }

  get jitterMs(): number { return this.j / 1000; }

  /** Whether a packet has set the reference since construction or reset(). */
  get started(): boolean { return this.hasPrev; }

  /** Forgets the previous transit (the sender's clock starts again, e.g. a restarted stream), keeping J. */
  restartClock(): void { this.hasPrev = false; this.prevTransit = 0; }

  reset(): void { this.hasPrev = false; this.j = 0; this.prevTransit = 0; }
}

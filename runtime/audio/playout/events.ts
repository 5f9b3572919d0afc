// The playout buffer's sequence events: raised at the very places it counts them in PlayoutStats, so that the sum of
// the events is the stats, by construction (the stream event log, runtime/streamlog/, counts what getMetrics counts).
//
//   'duplicate'    — PlayoutStats.duplicate + 1 (seq: the packet's)
//   'out-of-order' — outOfOrder + 1 (an accepted packet below the highest seq seen)
//   'missing'      — lost + count: `count` slots from `seq` on were played (concealed) or skipped without their packet.
//                    Consecutive slots counted in a row are one event (a gap of 3 is one 'missing' of 3): the run is
//                    said when the next slot is not missing — at the end of the pull that did not extend it, before
//                    any other event, at a restart, or at flush().
//   'late'         — late + 1; `filled` when it took one back from lost (its slot had been counted missing).
// So at any moment after flush(): Σ missing.count − Σ late(filled) = lost, Σ duplicate = duplicate, and so on.
// No listener, no cost: each place is one null test. With one, nothing is allocated per event here (the listener is
// called with numbers; seqs are the 32-bit wire seqs).
import { wireSeq } from '../../seq';

export type PlayoutEventKind = 'duplicate' | 'out-of-order' | 'missing' | 'late';

/** kind; the 32-bit wire seq; how many (1, or the length of a missing run); filled (late only: it undid one lost). */
export type PlayoutEventListener = (kind: PlayoutEventKind, seq: number, count: number, filled: boolean) => void;

export class SeqEvents {
  private listener: PlayoutEventListener | null = null;
  /** The missing run not yet said: from unwrapped seq runFrom, runCount slots. */
  private runFrom = 0;
  private runCount = 0;
  /** The run grew during the current pull. */
  private grew = false;

  get active(): boolean {
    return this.listener !== null;
  }

  /** Sets (or with null removes) the listener; a run still open is said to the old one first. */
  setListener(l: PlayoutEventListener | null): void {
    this.flush();
    this.listener = l;
  }

  /** `count` slots from unwrapped seq `u` on were counted lost. */
  missing(u: number, count: number): void {
    if (this.listener === null || count <= 0) return;
    if (this.runCount > 0 && u === this.runFrom + this.runCount) {
      this.runCount += count;
    } else {
      this.flush();
      this.runFrom = u;
      this.runCount = count;
    }
    this.grew = true;
  }

  /** One packet event (duplicate, out-of-order, late) of unwrapped seq `u`. */
  one(kind: PlayoutEventKind, u: number, filled = false): void {
    const l = this.listener;
    if (l === null) return;
    this.flush();
    l(kind, wireSeq(u), 1, filled);
  }

  beginPull(): void {
    this.grew = false;
  }

  /** The end of a pull: a run this pull did not extend is over. */
  endPull(): void {
    if (this.runCount > 0 && !this.grew) this.flush();
  }

  /** Says the open missing run, if any. */
  flush(): void {
    const n = this.runCount;
    if (n === 0) return;
    this.runCount = 0;
    this.listener?.('missing', wireSeq(this.runFrom), n, false);
  }
}

// Sequence numbers: the one unwrapper of u32 wire seqs into a monotonic count, and the one policy for a sender restart.
//
// Every stream carries a u32 seq, +1 per packet, wrapping at 2^32. A packet's seq is unwrapped to the extended seq
// nearest the highest seen so far (the signed 32-bit distance decides the direction), so the wrap is seamless.
//
// The policy, the same for every user (the playout buffer, the event stream's u64 numbering, the QoS SeqTracker):
// a seq more than SEQ_RESTART_JUMP (1000) from the highest seen, either way, is not this numbering any more — the
// sender restarted its count. 1000 because nothing that far away can still be used: the playout buffer holds at
// most maxDepthFrames (50) frames and remembers a few hundred slots, the SeqTracker's window is 1024 seqs; a
// jump that long is a restart whatever its cause, and taking it as one re-anchors at once instead of concealing
// or counting a thousand slots. It is 2.5 s of 2.5 ms frames, 10 s of 10 ms frames. The three copies this
// replaces had 1000 (playout), 32768 (event stream: backward only, so a sender restarting from 0 within 82 s of
// 2.5 ms frames re-used u64s already recorded) and 3000 (SeqTracker, RFC 3550 A.1's MAX_DROPOUT for 16-bit RTP
// seqs); one number means the event stream's numbering breaks exactly where the mixer's playout restarted.
// What a restart then does is each user's business: the playout forgets its packets and prebuffers, the event
// stream continues after the highest u64 it emitted, the SeqTracker waits for a second packet to confirm it.

const TWO32 = 4294967296;

/** A seq further than this from the highest seen, either way, is a sender restart. */
export const SEQ_RESTART_JUMP = 1000;

/** The low 32 bits of an extended seq: the wire seq it was sent as. */
export function wireSeq(ext: number): number {
  const w = ext % TWO32;
  return w < 0 ? w + TWO32 : w;
}

/**
 * Unwraps u32 seqs against the highest extended seq seen. Allocation-free; exact up to 2^53. `highest` is NaN
 * until anchor() or the first advance().
 */
export class SeqUnwrapper {
  /** Highest extended seq seen; NaN before the first. */
  highest = NaN;
  private highWire = 0;

  /** Whether there is a reference to unwrap against. */
  get anchored(): boolean {
    return !Number.isNaN(this.highest);
  }

  /** The extended seq of wire seq `seq32` nearest the highest (NaN before the first). Changes nothing. */
  extend(seq32: number): number {
    return this.highest + ((seq32 - this.highWire) | 0);
  }

  /** Whether extended seq `ext` is further from the highest than SEQ_RESTART_JUMP (the policy above). */
  isRestart(ext: number): boolean {
    const d = ext - this.highest;
    return d > SEQ_RESTART_JUMP || d < -SEQ_RESTART_JUMP;
  }

  /** Takes `ext` (an extend() result) as the highest if it is above it. */
  advance(ext: number): void {
    if (Number.isNaN(this.highest)) {
      this.anchor(ext);
    } else if (ext > this.highest) {
      // The wire seq moves with it (it need not be ext's own low bits after a renumbering anchor()).
      this.highWire = (this.highWire + (ext - this.highest)) | 0;
      this.highest = ext;
    }
  }

  /**
   * Makes `ext` the highest, whatever it was (a new numbering, or a reference before the first packet), sent as wire
   * seq `seq32` — by default its own low 32 bits; another value renumbers (the event stream continues a restarted
   * channel after its highest u64 whatever the sender's new count).
   */
  anchor(ext: number, seq32: number = wireSeq(ext)): void {
    this.highest = ext;
    this.highWire = seq32 | 0;
  }

  /** Forgets the reference. */
  reset(): void {
    this.highest = NaN;
    this.highWire = 0;
  }
}

/**
 * The extended seq of a 16-bit RTP sequence number: the signed 16-bit distance from the highest seen, on the shared
 * SeqUnwrapper (its `highest` and `advance`; the restart policy is the receivers', on the u32 this gives).
 */
export function extendRtpSeq(u: SeqUnwrapper, seq16: number): number {
  if (!u.anchored) {
    u.anchor(seq16);
    return seq16;
  }
  const h = u.highest;
  const ext = h + (((seq16 - h) << 16) >> 16);
  u.advance(ext);
  return ext;
}

// The playout buffer's play head: the next slot to play, and what playing, decoding ahead and dropping from it do.
//
// Shared by the buffer's state machine (buffer.ts) and its latency trims (trim.ts): both move the same position
// through the packet slots, decode into the same fifo, and count into the same lost / dropped counters.
import { Codec } from '../../codec';
import type { SeqUnwrapper } from '../../seq';
import type { PacketDecoder } from './decode';
import type { SampleFifo } from './fifo';
import type { PacketSlots } from './slots';
import { SeqEvents } from './events';

export class PlayHead {
  /** Unwrapped seq of the next slot to play. */
  base = 0;
  /** Slots whose time the concealment played while the buffer was dry already covered. */
  owed = 0;
  /** Something was played or dropped since the last restart. */
  consumed = false;
  /** Sequence gaps never filled (see PlayoutStats.lost); counted only through miss() / missRange() / unmiss(). */
  lost = 0;
  /** The sequence events, raised where the counts move (events.ts). */
  readonly events = new SeqEvents();
  /** Samples per channel thrown away (see PlayoutStats.droppedSamples). */
  droppedSamples = 0;
  // The stream's format as its newest packet says (for concealment and the depth of gaps), frames at the output rate.
  streamCodec: Codec = Codec.OPUS;
  streamFrameOut: number;
  readonly frameSamples: number;
  private readonly slots: PacketSlots;
  private readonly fifo: SampleFifo;
  private readonly decoder: PacketDecoder;
  private readonly seqs: SeqUnwrapper;

  constructor(slots: PacketSlots, fifo: SampleFifo, decoder: PacketDecoder, seqs: SeqUnwrapper, frameSamples: number) {
    this.slots = slots;
    this.fifo = fifo;
    this.decoder = decoder;
    this.seqs = seqs;
    this.frameSamples = frameSamples;
    this.streamFrameOut = frameSamples;
  }

  /** Packet `u` is here and one output frame long. */
  wholeFrameAt(u: number): boolean {
    if (u > this.seqs.highest) return false;
    const slots = this.slots;
    const idx = slots.index(u);
    return slots.holds(idx, u) && slots.frames[idx] === this.frameSamples;
  }

  /** Decodes waiting packets, in order, until `need` samples per channel are decoded; stops at a gap (never conceals). */
  fillFifo(need: number): void {
    const slots = this.slots;
    while (this.fifo.count < need && this.base <= this.seqs.highest) {
      const idx = slots.index(this.base);
      if (!slots.holds(idx, this.base)) return;
      this.playNext(idx);
    }
  }

  /** Throws away `k` samples per channel from the front: decoded first, then packets (Opus decoded, to keep its state in order). */
  dropAbrupt(k: number): void {
    const fifo = this.fifo;
    const slots = this.slots;
    while (k > 0) {
      if (fifo.count > 0) {
        const t = Math.min(k, fifo.count);
        fifo.discard(t);
        this.droppedSamples += t;
        k -= t;
        continue;
      }
      if (this.base > this.seqs.highest) return;
      const idx = slots.index(this.base);
      if (slots.holds(idx, this.base)) {
        if (slots.codec[idx] !== Codec.OPUS && slots.frames[idx] <= k) {
          this.droppedSamples += slots.frames[idx];
          k -= slots.frames[idx];
          slots.release(idx);
        } else {
          this.play(idx, this.base);
        }
        this.consumed = true;
      } else {
        this.miss(this.base);
        k -= this.streamFrameOut;
      }
      this.base++;
    }
  }

  /** Slot `u` goes without its packet: one lost. */
  miss(u: number): void {
    this.lost++;
    this.events.missing(u, 1);
  }

  /** `count` slots from `u` on go without their packets. */
  missRange(u: number, count: number): void {
    this.lost += count;
    this.events.missing(u, count);
  }

  /** A packet counted lost came after all (late): one lost taken back; false when none was counted. */
  unmiss(): boolean {
    if (this.lost <= 0) return false;
    this.lost--;
    return true;
  }

  /** Plays the packet at `base` (held in slot `idx`) and moves on. */
  playNext(idx: number): void {
    this.play(idx, this.base);
    this.base++;
    this.owed = 0;
    this.consumed = true;
  }

  /** Decodes the packet in slot `idx` (seq `u`) into the fifo. */
  play(idx: number, u: number): void {
    const slots = this.slots;
    const data = slots.data[idx] as Buffer;
    slots.release(idx);
    this.decoder.decode(data, slots.codec[idx], slots.channels[idx], slots.frames[idx], u, this.streamCodec);
  }
}

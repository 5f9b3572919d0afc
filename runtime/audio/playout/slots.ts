// The playout buffer's packet slots: a ring indexed by unwrapped seq mod capacity, each holding one packet until it is played.
//
// A slot keeps its seq after the packet is played or dropped: that is how a packet older than the next to play is
// told apart as a duplicate (it was here) or late (it never was).
import type { Codec } from '../../codec';

export class PacketSlots {
  readonly cap: number;
  readonly seq: Float64Array;
  readonly data: (Buffer | null)[];
  readonly codec: Uint8Array;
  readonly channels: Uint8Array;
  /** The packet's length in samples per channel at the output rate. */
  readonly frames: Int32Array;
  /** When the packet arrived (µs since epoch, push()'s arrivalMicros); kept after it is played, as its seq is. */
  readonly arrival: Float64Array;
  /** Packets held. */
  pending = 0;

  /** At least `needed` slots (a power of two ≥ 256). */
  constructor(needed: number) {
    let cap = 256;
    while (cap < needed) cap *= 2;
    this.cap = cap;
    this.seq = new Float64Array(cap).fill(NaN);
    this.data = new Array<Buffer | null>(cap).fill(null);
    this.codec = new Uint8Array(cap);
    this.channels = new Uint8Array(cap);
    this.frames = new Int32Array(cap);
    this.arrival = new Float64Array(cap);
  }

  index(u: number): number {
    const i = u % this.cap;
    return i < 0 ? i + this.cap : i;
  }

  /** Packet `u` is held in slot `idx` (= index(u)). */
  holds(idx: number, u: number): boolean {
    return this.data[idx] !== null && this.seq[idx] === u;
  }

  put(idx: number, u: number, data: Buffer, codec: Codec, channels: number, frames: number, arrival: number): void {
    this.seq[idx] = u;
    this.arrival[idx] = arrival;
    this.data[idx] = data;
    this.codec[idx] = codec;
    this.channels[idx] = channels;
    this.frames[idx] = frames;
    this.pending++;
  }

  /** Lets go of the packet in slot `idx` (played or dropped); the slot keeps its seq. */
  release(idx: number): void {
    this.data[idx] = null;
    this.pending--;
  }

  /** Forgets every packet and seq. */
  clear(): void {
    this.data.fill(null);
    this.seq.fill(NaN);
    this.pending = 0;
  }
}

// The playout buffer's latency trims: a standing excess, or depth past maxDepthFrames, cut without a click.
//
// Two ways, by profile (options.ts): a splice ('listener') cuts any length where the audio matches best and
// cross-fades over 5 ms; whole frames ('mixer') drops whole packets and fades the first dropped one into the next,
// so each output frame still starts at a packet boundary and the event stream's one seq per frame describes the trim
// (runtime/events/reconstruct.ts replays it with the same crossfade). The arithmetic is crossfade.ts'.
import { TRIM_FADE_S, bestCut, crossfade, frameTrimFadeSamples } from './crossfade';
import type { SampleFifo } from './fifo';
import type { PlayHead } from './playhead';
import type { PacketSlots } from './slots';

export interface LatencyTrimOptions {
  sampleRate: number;
  channels: number;
  frameSamples: number;
  /** Drop whole packets where it can (profile 'mixer'), else splice. */
  wholeFrames: boolean;
}

export class LatencyTrim {
  /** Samples per channel the trims dropped (see PlayoutStats.trimmedSamples). */
  trimmedSamples = 0;
  private readonly head: PlayHead;
  private readonly fifo: SampleFifo;
  private readonly slots: PacketSlots;
  private readonly sampleRate: number;
  private readonly channels: number;
  private readonly frameSamples: number;
  private readonly wholeFrames: boolean;
  // Splices: 5 ms cross-fade, cut length searched over up to 10 ms.
  private readonly spliceW: number;
  private readonly spliceSearch: number;
  /** The audio that would have played next, faded out over the cut. */
  private readonly spliceHead: Float32Array;

  constructor(head: PlayHead, fifo: SampleFifo, slots: PacketSlots, o: LatencyTrimOptions) {
    this.head = head;
    this.fifo = fifo;
    this.slots = slots;
    this.sampleRate = o.sampleRate;
    this.channels = o.channels;
    this.frameSamples = o.frameSamples;
    this.wholeFrames = o.wholeFrames;
    this.spliceW = Math.max(1, Math.round(this.sampleRate * TRIM_FADE_S));
    this.spliceSearch = Math.max(1, Math.round(this.sampleRate * 0.01));
    this.spliceHead = new Float32Array(this.spliceW * this.channels);
  }

  /** Trims k samples per channel of latency (counted in trimmedSamples as well as the head's droppedSamples). */
  trim(k: number): void {
    const before = this.head.droppedSamples;
    this.cut(k);
    this.trimmedSamples += this.head.droppedSamples - before;
  }

  /**
   * Shortens the stream by k/2 … k samples per channel (at most 10 ms short of k) without a click: the audio
   * that would have played next is cross-faded into the audio after the cut, at the cut length where the two match
   * best (crossfade.ts). Falls back to a plain cut when too little is decoded or buffered to search.
   */
  private cut(k: number): void {
    // 'frames' needs every packet to be one output frame and the next frame to start at a packet boundary (nothing
    // decoded waiting); otherwise frames do not map to packets, an event stream cannot describe them anyway, and a
    // postponed trim might wait forever: splice.
    const fifo = this.fifo;
    if (this.wholeFrames && this.head.streamFrameOut === this.frameSamples && fifo.count === 0) {
      this.dropFrames(Math.floor(k / this.frameSamples));
      return;
    }
    const W = this.spliceW;
    const C = this.channels;
    this.head.fillFifo(W);
    if (fifo.count < W) {
      this.head.dropAbrupt(k);
      return;
    }
    const ahead = this.spliceHead;
    ahead.set(fifo.buf.subarray(fifo.read * C, (fifo.read + W) * C));
    // The cut is searched in [k − min(10 ms, k/2), k]: never longer than asked, so the depth never falls below target.
    const bulk = Math.max(0, k - Math.min(this.spliceSearch, Math.floor(k / 2)));
    this.head.dropAbrupt(bulk);
    const oMax = k - bulk;
    this.head.fillFifo(oMax + W);
    const oHi = Math.min(oMax, fifo.count - W);
    if (oHi < 0) {
      this.head.dropAbrupt(k - bulk);
      return;
    }
    const best = bestCut(fifo.buf, fifo.read * C, ahead, W, C, 0, oHi);
    fifo.discard(best);
    this.head.droppedSamples += best;
    crossfade(ahead, 0, fifo.buf, fifo.read * C, W, C);
  }

  /**
   * The 'frames' trim: drops up to `frames` whole packets from the front, and only packets that are here, one output
   * frame long, and followed by one that is too (the next to play) — fewer, or none, otherwise; a later window
   * trims the rest. The dropped packets are decoded (libopus' state stays in order, as in dropAbrupt) and thrown
   * away; the next packet is decoded and the first F = frameTrimFadeSamples() samples of the first dropped packet
   * (the audio that would have played next) fade into it (crossfade.ts) — the splice's arithmetic at a cut fixed by
   * the packets alone, so the frame's seq is all an event stream needs.
   */
  private dropFrames(frames: number): void {
    const n = this.frameSamples;
    let m = 0;
    while (m < frames && this.head.wholeFrameAt(this.head.base + m) && this.head.wholeFrameAt(this.head.base + m + 1)) m++;
    if (m === 0) return;
    const W = frameTrimFadeSamples(this.sampleRate, n);
    const C = this.channels;
    const ahead = this.spliceHead;
    const fifo = this.fifo;
    const slots = this.slots;
    for (let j = 0; j < m; j++) {
      this.head.play(slots.index(this.head.base), this.head.base);
      this.head.base++;
      if (j === 0) ahead.set(fifo.buf.subarray(fifo.read * C, (fifo.read + Math.min(W, fifo.count)) * C));
      this.head.droppedSamples += fifo.count;
      fifo.discard(fifo.count);
    }
    this.head.playNext(slots.index(this.head.base));
    crossfade(ahead, 0, fifo.buf, fifo.read * C, W, C, Math.min(W, fifo.count));
  }
}

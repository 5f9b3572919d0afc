// The playout buffer's depth control: the adaptive target depth and the windows that lower it and measure standing excess.
//
// After Jamulus' buffer.cpp: the target goes up by one frame on an underrun or a late packet (at most once per
// pulled frame); after lowerAfterWindows windows of adaptWindowMs without a miss or a late packet it comes down by one
// (never below minDepthFrames, nor below twice the measured jitter). Independently of adaptation, when the depth
// stayed above the target for a whole window, the excess (all or half of it, by profile) is to be dropped.

export interface DepthControlOptions {
  targetDepthFrames: number;
  minDepthFrames: number;
  maxDepthFrames: number;
  adaptive: boolean;
  lowerAfterWindows: number;
  /** Window length in pulled frames. */
  windowFrames: number;
  /** Output frame duration, ms. */
  frameMs: number;
  /** A window drops all of a standing excess (else half, rounded up). */
  trimAll: boolean;
}

export class DepthControl {
  /** Frames buffered before play starts and aimed at while playing. */
  target: number;
  private readonly o: DepthControlOptions;
  private windowPulls = 0;
  private windowMinDepth = Infinity;
  private windowEvents = 0;
  private calmWindows = 0;
  private raisedThisPull = false;

  constructor(o: DepthControlOptions) {
    this.o = o;
    this.target = o.targetDepthFrames;
  }

  /** A new output frame is being pulled. */
  beginPull(): void {
    this.raisedThisPull = false;
  }

  /** An underrun or a late packet: raise the target (adaptive, once per pulled frame, up to maxDepthFrames). */
  raise(): void {
    if (!this.o.adaptive || this.raisedThisPull || this.target >= this.o.maxDepthFrames) return;
    this.target++;
    this.raisedThisPull = true;
    this.calmWindows = 0;
  }

  /** A miss or a late packet in this window: it is not calm. */
  event(): void {
    this.windowEvents++;
  }

  /** A full window has been pulled: closeWindow() is due. */
  get windowDue(): boolean {
    return this.windowPulls >= this.o.windowFrames;
  }

  /** The depth (frames) at a pull while playing, for the window's least depth. */
  observe(depthFrames: number): void {
    if (depthFrames < this.windowMinDepth) this.windowMinDepth = depthFrames;
  }

  /** A frame pulled while playing or rebuffering counts towards the window. */
  counted(): void {
    this.windowPulls++;
  }

  /** Ends the window: adapts the target (given the jitter in ms) and returns the whole frames of standing excess to drop. */
  closeWindow(jitterMs: number): number {
    const o = this.o;
    if (o.adaptive) {
      if (this.windowEvents === 0) this.calmWindows++;
      else this.calmWindows = 0;
      if (this.calmWindows >= o.lowerAfterWindows && this.target > o.minDepthFrames && (this.target - 1) * o.frameMs >= 2 * jitterMs) {
        this.target--;
        this.calmWindows = 0;
      }
    }
    const excess = this.windowMinDepth - this.target;
    this.windowPulls = 0;
    this.windowEvents = 0;
    this.windowMinDepth = Infinity;
    if (!(Number.isFinite(excess) && excess >= 1)) return 0;
    return o.trimAll ? Math.floor(excess) : Math.min(Math.floor(excess), Math.ceil(excess / 2));
  }
}

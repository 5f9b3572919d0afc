// The sending end of a streamproto1 link (the socket writer's engine): audio to its receivers, metadata before the first audio frame and on a schedule, receivers' QOS checked.
import { codecId, encodeAudioFrame, encodeMetadataText, type AudioHeader } from './frame';
import { validateQosBatch, type QOSMetrics } from '../qos/aggregator';
import { codecBytesPerSample } from '../codec';

/** A receiver the sender writes to: a StreamConnection. */
export interface SenderLink {
  /** The userId of its HELLO (server side): where a mix-minus frame for that user goes. */
  readonly userId?: string;
  send(frame: Buffer): boolean;
  close(errCode?: string, message?: string): void;
}

/** The clock and interval timer of the metadata schedule; the process's by default, injected by tests. */
export interface SenderTimers {
  /** ms; only differences are used. */
  now(): number;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

/** What the sender reads of msg.audio. */
export interface SenderAudio {
  codec: string;
  sampleRate: number;
  channels: number;
  frameSamples: number;
  seq: number;
  captureTime: number;
  trackId?: number;
}

export interface StreamSenderOptions {
  /** Server side: a frame with a targetUserId goes to that user's receivers only. Client side: every frame to the server. */
  routeByTarget: boolean;
  /**
   * The metadata to send now: an object is sent as it is, any other value as { value }; undefined or null: none
   * (yet). Called before the first audio frame of each receiver and at every poll. Absent: no metadata, no timer.
   */
  metadata?: () => unknown;
  /** How often the source is read for a change; default 250 ms. */
  pollMs?: number;
  /** Unchanged metadata is sent again after this long, so a receiver that missed it (or restarted its state) gets it; default 1 s. */
  resendMs?: number;
  timers?: SenderTimers;
  /**
   * Metadata that cannot be sent (a value with a cycle, a BigInt, a toJSON that gives no object) on the schedule:
   * called once until the error changes, and again after a good send. Audio goes on; the last good metadata stands.
   */
  onMetadataError?: (err: Error) => void;
}

const PROCESS_TIMERS: SenderTimers = {
  now: () => Date.now(),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
};

/**
 * One writer's receivers and its metadata schedule. Metadata goes to a receiver when it is added — before any
 * audio frame can reach it — then to every receiver when it changes (read every pollMs), and again every resendMs
 * while it does not.
 */
export class StreamSender {
  private readonly routeByTarget: boolean;
  private readonly source: (() => unknown) | undefined;
  private readonly resendMs: number;
  private readonly timers: SenderTimers;
  private readonly onMetadataError: (err: Error) => void;
  private readonly timer: unknown;
  // An array, which the audio path walks without an iterator object; replaced (never spliced) on add and remove.
  private links: SenderLink[] = [];
  private lastText: string | undefined;
  private lastAt = 0;
  private lastError = '';
  private closed = false;
  private readonly header: AudioHeader = { trackId: 1, seq: 0, captureTime: 0, sampleRate: 0, channels: 0, codec: 0, frameSamples: 0 };

  constructor(opts: StreamSenderOptions) {
    this.routeByTarget = opts.routeByTarget;
    this.source = opts.metadata;
    this.resendMs = opts.resendMs ?? 1000;
    this.timers = opts.timers ?? PROCESS_TIMERS;
    this.onMetadataError = opts.onMetadataError ?? (() => { /* the caller chose not to hear */ });
    if (this.source) this.timer = this.timers.setInterval(() => this.safely(() => this.sendMetadataAll()), opts.pollMs ?? 250);
  }

  /** Receivers now. */
  get receivers(): number {
    return this.links.length;
  }

  /** A receiver completed its HELLO: it gets the current metadata now, then audio. */
  add(link: SenderLink): void {
    if (this.closed || this.links.includes(link)) return;
    this.links = [...this.links, link];
    this.safely(() => {
      const text = this.metadataText();
      if (text !== undefined) link.send(encodeMetadataText(text));
    });
  }

  remove(link: SenderLink): void {
    if (this.links.includes(link)) this.links = this.links.filter((l) => l !== link);
  }

  /**
   * Encodes one audio frame (once) and sends it to every receiver, or — routed by target — to `targetUserId`'s.
   * Throws, sending nothing, when the codec is unknown or a PCM payload's size does not match its header.
   */
  sendAudio(a: SenderAudio, payload: Buffer, targetUserId?: string): void {
    const codec = codecId(a.codec);
    const bps = codecBytesPerSample(codec);
    if (bps && payload.length !== a.frameSamples * a.channels * bps) {
      throw new Error(`PCM payload of ${payload.length} bytes does not match frameSamples ${a.frameSamples} × channels ${a.channels} × ${bps}`);
    }
    // One header object for every frame: encodeAudioFrame copies its fields into the frame.
    const h = this.header;
    h.trackId = a.trackId ?? 1; h.seq = a.seq >>> 0; h.captureTime = a.captureTime; h.sampleRate = a.sampleRate;
    h.channels = a.channels; h.codec = codec; h.frameSamples = a.frameSamples;
    const frame = encodeAudioFrame(h, payload);
    const links = this.links;
    const target = this.routeByTarget ? targetUserId : undefined;
    for (let i = 0; i < links.length; i++) if (!target || links[i].userId === target) links[i].send(frame);
  }

  /** The source has a new value (a metadata message): sent now if it differs from the last sent. Throws what serialising it throws. */
  metadataChanged(): void {
    this.sendMetadataAll();
  }

  /**
   * A receiver's QOS frame (one report or a batch): the validated reports. A malformed one refuses the whole frame:
   * the receiver is closed with bad_qos and the QosValidationError thrown, so no part of it reaches the admin state.
   */
  acceptQos(link: SenderLink, q: unknown): QOSMetrics[] {
    try {
      return validateQosBatch(q);
    } catch (err) {
      link.close('bad_qos', (err as Error).message);
      throw err;
    }
  }

  /** Stops the schedule and forgets the receivers (closing them is their owner's). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) this.timers.clearInterval(this.timer);
    this.links = [];
  }

  private metadataText(): string | undefined {
    if (!this.source) return undefined;
    let v = this.source();
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) v = { value: v };
    return JSON.stringify(v);
  }

  private sendMetadataAll(): void {
    if (this.closed) return;
    const text = this.metadataText();
    if (text === undefined) return;
    const now = this.timers.now();
    if (text === this.lastText && now - this.lastAt < this.resendMs) return;
    this.lastText = text;
    this.lastAt = now;
    const f = encodeMetadataText(text);
    const links = this.links;
    for (let i = 0; i < links.length; i++) links[i].send(f);
  }

  private safely(f: () => void): void {
    try {
      f();
      this.lastError = '';
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      if (e.message !== this.lastError) this.onMetadataError(e);
      this.lastError = e.message;
    }
  }
}

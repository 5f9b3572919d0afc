// The sending end of a streamproto1 link (the socket writer's engine): audio to its receivers, metadata before the first audio frame and on a schedule, receivers' QOS checked.
import { codecId, encodeAudioFrame, encodeMetadataText, type AudioHeader, type JsonObject } from './frame';
import { diff, isPatchFrame, METADATA_PATCH_CAPABILITY, PATCH_KEY } from './merge-patch';
import { validateQosBatch, type QOSMetrics } from '../qos/aggregator';
import { codecBytesPerSample } from '../codec';
import { DEFAULT_ROOM, helloRoom } from '../rooms';

/** What the sender needs of a receiver's socket: its write queue, and 'drain' when that queue has emptied. */
export interface LinkSocket {
  readonly writableLength: number;
  readonly writableHighWaterMark?: number;
  on(event: 'drain', listener: () => void): unknown;
  off(event: 'drain', listener: () => void): unknown;
}

/** A receiver the sender writes to: a StreamLink (link.ts) — a StreamConnection, or a UdpLink, which has no socket (never busy). */
export interface SenderLink {
  /** The userId of its HELLO (server side): where a mix-minus frame for that user goes. */
  readonly userId?: string;
  /** Its HELLO: one whose `capabilities` include "metadata-patch" is sent METADATA as merge patches. */
  readonly hello?: unknown;
  /** Its socket: METADATA is written only while the write queue is below lowWaterBytes (audio goes first). Absent (UDP): never busy. */
  readonly socket?: LinkSocket;
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
  /**
   * Server side: a frame with a targetUserId goes to that user's receivers only, and a frame of a room other than
   * 'main' to the receivers whose HELLO names that room (runtime/rooms.ts helloRoom). Client side: every frame to the server.
   */
  routeByTarget: boolean;
  /**
   * The metadata to send now: an object is sent as it is, any other value as { value }; undefined or null: none
   * (yet). Read at every poll and by metadataChanged(), and when a receiver is added before anything was read.
   * Absent: no metadata, no timer.
   */
  metadata?: () => unknown;
  /** How often the source is read for a change (and waiting metadata retried); default 250 ms. */
  pollMs?: number;
  /** Unchanged metadata is sent again after this long, so a receiver that missed it (or restarted its state) gets it; default 1 s. */
  resendMs?: number;
  /** At most one METADATA frame per receiver this often (a change in between waits, and only the latest goes); default 250 ms. */
  metadataIntervalMs?: number;
  /** Serialised metadata larger than this (bytes of JSON) is not sent: counted, said once; the last good metadata stands. Default 256 KiB. */
  maxMetadataBytes?: number;
  /** METADATA is written to a receiver only while its socket's write queue holds fewer bytes than this; default 16 KiB. */
  lowWaterBytes?: number;
  /** A receiver taking merge patches gets the full object at least this often; default 10 s. */
  patchFullEveryMs?: number;
  /**
   * A receiver whose QOS reports (acceptQos) say it is further behind the audio sent to it than this — its link is
   * backlogged, in buffers the write queue does not show — gets no METADATA until it catches up; default 500 ms.
   */
  maxLagMs?: number;
  timers?: SenderTimers;
  /**
   * Metadata that cannot be sent (a value with a cycle, a BigInt, a toJSON that gives no object, more than
   * maxMetadataBytes) on the schedule: called once until the error changes, and again after a good new value.
   * Audio goes on; the last good metadata stands.
   */
  onMetadataError?: (err: Error) => void;
}

/** Counters of the metadata schedule (all since the sender was made). */
export interface MetadataStats {
  /** Distinct metadata values accepted (serialised once each, for every receiver). */
  versions: number;
  /** METADATA frames written, full objects and patches, and their bytes. */
  framesSent: number;
  bytesSent: number;
  /** Of framesSent, merge patches (to receivers that announced "metadata-patch"). */
  patchesSent: number;
  /** Values a receiver never got because a newer one replaced it while it waited (its interval, a full queue). */
  coalesced: number;
  /** Values refused for being larger than maxMetadataBytes (or of the reserved shape { "$patch": {…} }). */
  oversize: number;
}

/** Serialised metadata larger than maxMetadataBytes. */
export class MetadataTooLargeError extends Error {
  readonly code = 'metadata_too_large';
  constructor(readonly bytes: number, readonly max: number) {
    super(`metadata of ${bytes} bytes is larger than maxMetadataBytes (${max}): not sent, the last good metadata stands`);
    this.name = 'MetadataTooLargeError';
  }
}

/** Metadata that is exactly { "$patch": <object> }: that shape is reserved for merge patches (docs/streamproto1.md). */
export class MetadataReservedError extends Error {
  readonly code = 'metadata_reserved';
  constructor() {
    super('metadata that is exactly { "$patch": {…} } is reserved for merge patches: not sent, the last good metadata stands');
    this.name = 'MetadataReservedError';
  }
}

const PROCESS_TIMERS: SenderTimers = {
  now: () => Date.now(),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
};

/** The share of a slow receiver's link metadata may take: after a frame took T to leave the queue, wait T × (1/share − 1). */
const METADATA_LINK_SHARE = 0.25;

/** One metadata value: serialised once, its frames made once and shared by every receiver. */
interface Version {
  readonly text: string;
  readonly bytes: number;
  /** The full METADATA frame, made on first use. */
  frame?: Buffer;
  /** The value as receivers see it (JSON.parse of text), made when a patch is needed. */
  obj?: JsonObject;
  /** Patch frames from an earlier version (the receiver's base) to this one; null: send the full object. Dropped when superseded. */
  patches?: Map<Version, Buffer | null>;
}

interface Receiver {
  /** Its HELLO's room (helloRoom): it gets the frames of that room (and every frame of no room or 'main'). */
  room: string;
  readonly link: SenderLink;
  readonly patch: boolean;
  /** The last AUDIO frame sent to it: seq and duration (ms). */
  audioSeq: number;
  audioFrameMs: number;
  /** Since when its QOS reports say it lags more than maxLagMs (undefined: it does not); when it last reported. */
  lagSince: number | undefined;
  qosAt: number;
  /** The version it last got: the base of its next patch. */
  sent: Version | undefined;
  /** ms of the last METADATA frame written to it (-Infinity: none yet), and of the last full object. */
  sentAt: number;
  fullAt: number;
  /** A frame went into a busy queue at this time: the 'drain' that follows measures how long the link took. */
  busySince: number | undefined;
  /** No metadata before this (ms): the slow-link pause. */
  notBefore: number;
  readonly onDrain: () => void;
}

const EMPTY_PATCH_TEXT = `{"${PATCH_KEY}":{}}`;
const PATCH_PREFIX = `{"${PATCH_KEY}":{`;
/** The longest pause the slow-link share imposes, so a receiver that stopped reading for a while is not shut out long after. */
const MAX_PAUSE_MS = 10_000;
/** QOS reports older than this say nothing about the link any more (a receiver that stopped reporting). */
const STALE_QOS_MS = 5000;

function wantsPatches(link: SenderLink): boolean {
  const caps = (link.hello as { capabilities?: unknown } | undefined)?.capabilities;
  return Array.isArray(caps) && caps.includes(METADATA_PATCH_CAPABILITY);
}

function positive(name: string, v: number | undefined, dflt: number): number {
  const x = v ?? dflt;
  if (!(x > 0) || !Number.isFinite(x)) throw new RangeError(`StreamSender option ${name} must be a positive number, got ${String(v)}`);
  return x;
}

/**
 * One writer's receivers and its metadata schedule. Metadata goes to a receiver when it is added — before any
 * audio frame can reach it — then, per receiver, the latest value at most every metadataIntervalMs and again every
 * resendMs while it does not change; only while that receiver's write queue is below lowWaterBytes, so AUDIO is
 * never queued behind a backlog of metadata (a waiting value goes on 'drain' or at the next poll, and a newer value
 * replaces it). A value is serialised once for all receivers; receivers that announced "metadata-patch" get
 * RFC 7386 merge patches against the value they last got (docs/streamproto1.md, "METADATA patches").
 */
export class StreamSender {
  private readonly routeByTarget: boolean;
  private readonly source: (() => unknown) | undefined;
  private readonly resendMs: number;
  private readonly intervalMs: number;
  private readonly maxBytes: number;
  private readonly lowWater: number;
  private readonly fullEveryMs: number;
  private readonly maxLagMs: number;
  private readonly timers: SenderTimers;
  private readonly onMetadataError: (err: Error) => void;
  private readonly timer: unknown;
  // An array, which the audio path walks without an iterator object; replaced (never spliced) on add and remove.
  private rs: Receiver[] = [];
  private readonly byLink = new Map<SenderLink, Receiver>();
  /** The value being sent; the last text read from the source (accepted or not), to see a change. */
  private current: Version | undefined;
  private lastRead: string | undefined;
  private lastError = '';
  private closed = false;
  private emptyPatch: Buffer | undefined;
  private readonly counters: MetadataStats = { versions: 0, framesSent: 0, bytesSent: 0, patchesSent: 0, coalesced: 0, oversize: 0 };
  private readonly header: AudioHeader = { trackId: 1, seq: 0, captureTime: 0, sampleRate: 0, channels: 0, codec: 0, frameSamples: 0 };

  constructor(opts: StreamSenderOptions) {
    this.routeByTarget = opts.routeByTarget;
    this.source = opts.metadata;
    this.resendMs = positive('resendMs', opts.resendMs, 1000);
    this.intervalMs = positive('metadataIntervalMs', opts.metadataIntervalMs, 250);
    this.maxBytes = positive('maxMetadataBytes', opts.maxMetadataBytes, 256 * 1024);
    this.lowWater = positive('lowWaterBytes', opts.lowWaterBytes, 16 * 1024);
    this.fullEveryMs = positive('patchFullEveryMs', opts.patchFullEveryMs, 10_000);
    this.maxLagMs = positive('maxLagMs', opts.maxLagMs, 500);
    const pollMs = positive('pollMs', opts.pollMs, 250);
    this.timers = opts.timers ?? PROCESS_TIMERS;
    this.onMetadataError = opts.onMetadataError ?? (() => { /* the caller chose not to hear */ });
    if (this.source) this.timer = this.timers.setInterval(() => this.safely(() => this.poll()), pollMs);
  }

  /** Receivers now. */
  get receivers(): number {
    return this.rs.length;
  }

  /** Counters of the metadata schedule (a copy). */
  get metadataStats(): MetadataStats {
    return { ...this.counters };
  }

  /** A receiver completed its HELLO: it gets the current metadata now, then audio. */
  add(link: SenderLink): void {
    if (this.closed || this.byLink.has(link)) return;
    const r: Receiver = {
      link, room: helloRoom(link.hello), patch: wantsPatches(link), audioSeq: 0, audioFrameMs: 0, lagSince: undefined, qosAt: -Infinity,
      sent: undefined, sentAt: -Infinity, fullAt: -Infinity, busySince: undefined, notBefore: -Infinity,
      onDrain: () => this.safely(() => this.drained(r)),
    };
    this.rs = [...this.rs, r];
    this.byLink.set(link, r);
    if (!this.source) return;
    link.socket?.on('drain', r.onDrain);
    this.safely(() => {
      // The value of the last poll (at most pollMs old) when there is one: 2,000 connections in a burst are not
      // 2,000 serialisations of the state.
      if (this.current === undefined) this.read();
      if (this.current !== undefined) this.write(r, this.current, this.timers.now());
    });
  }

  remove(link: SenderLink): void {
    const r = this.byLink.get(link);
    if (!r) return;
    this.byLink.delete(link);
    this.rs = this.rs.filter((x) => x !== r);
    link.socket?.off('drain', r.onDrain);
  }

  /**
   * Encodes one audio frame (once) and sends it to every receiver, or — routed by target — to `targetUserId`'s;
   * routed, a frame of `room` (msg.room) other than 'main' goes only to receivers of that room.
   * Throws, sending nothing, when the codec is unknown or a PCM payload's size does not match its header.
   */
  sendAudio(a: SenderAudio, payload: Buffer, targetUserId?: string, room?: string): void {
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
    const rs = this.rs;
    const target = this.routeByTarget ? targetUserId : undefined;
    const inRoom = this.routeByTarget && room !== undefined && room !== DEFAULT_ROOM ? room : undefined;
    const frameMs = (a.frameSamples * 1000) / a.sampleRate;
    for (let i = 0; i < rs.length; i++) {
      const r = rs[i];
      if (target && r.link.userId !== target) continue;
      if (inRoom !== undefined && r.room !== inRoom) continue;
      r.link.send(frame);
      r.audioSeq = h.seq;
      r.audioFrameMs = frameMs;
    }
  }

  /**
   * The source has a new value (a metadata message): sent now to each receiver whose interval has passed and whose
   * queue is low, else when it is (only the latest value). Throws what serialising it throws; a value refused by its
   * size or shape is said once through onMetadataError, as on the schedule.
   */
  metadataChanged(): void {
    if (this.closed || !this.source) return;
    try {
      this.read();
    } catch (err) {
      if (!(err instanceof MetadataTooLargeError || err instanceof MetadataReservedError)) throw err;
      this.report(err);
    }
    this.flush();
  }

  /**
   * A receiver's QOS frame (one report or a batch): the validated reports. A malformed one refuses the whole frame:
   * the receiver is closed with bad_qos and the QosValidationError thrown, so no part of it reaches the admin state.
   */
  acceptQos(link: SenderLink, q: unknown): QOSMetrics[] {
    let out: QOSMetrics[];
    try {
      out = validateQosBatch(q);
    } catch (err) {
      link.close('bad_qos', (err as Error).message);
      throw err;
    }
    const r = this.byLink.get(link);
    if (r && out.length > 0) this.reported(r, out[out.length - 1].head.seq);
    return out;
  }

  /** Stops the schedule and forgets the receivers (closing them is their owner's). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) this.timers.clearInterval(this.timer);
    for (const r of this.rs) r.link.socket?.off('drain', r.onDrain);
    this.rs = [];
    this.byLink.clear();
    this.current = undefined;
  }

  private poll(): void {
    if (this.closed) return;
    this.read();
    this.flush();
  }

  /** Reads the source; a value that differs from the last read becomes the current version (when it is not too large). */
  private read(): void {
    let v = this.source!();
    if (v === undefined || v === null) return;
    if (typeof v !== 'object' || Array.isArray(v)) v = { value: v };
    const text = JSON.stringify(v);
    if (typeof text !== 'string' || text.charCodeAt(0) !== 0x7b /* { */) {
      throw new Error(`metadata must serialise to a JSON object, got ${typeof text === 'string' ? text.slice(0, 40) : String(text)}`);
    }
    if (text === this.lastRead) return;
    this.lastRead = text;
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > this.maxBytes) {
      this.counters.oversize++;
      throw new MetadataTooLargeError(bytes, this.maxBytes);
    }
    if (text.startsWith(PATCH_PREFIX) && isPatchFrame(JSON.parse(text) as JsonObject)) {
      this.counters.oversize++;
      throw new MetadataReservedError();
    }
    const old = this.current;
    if (old) {
      old.patches = undefined;   // so versions kept as receivers' bases do not chain to older ones
      for (const r of this.rs) if (r.sent !== old) this.counters.coalesced++;
    }
    this.current = { text, bytes };
    this.counters.versions++;
    this.lastError = '';
  }

  private flush(): void {
    const v = this.current;
    if (v === undefined) return;
    const now = this.timers.now();
    const rs = this.rs;
    for (let i = 0; i < rs.length; i++) this.offer(rs[i], v, now);
  }

  /** Writes the current version to r when it is due and r's queue is low; else it waits (drain, next poll). */
  private offer(r: Receiver, v: Version, now: number): void {
    if (now < r.notBefore) return;
    if (r.lagSince !== undefined && now - r.qosAt < STALE_QOS_MS) return;
    const since = now - r.sentAt;
    if (since < (r.sent === v ? this.resendMs : this.intervalMs)) return;
    const s = r.link.socket;
    if (s && s.writableLength >= this.lowWater) return;
    this.write(r, v, now);
  }

  /**
   * A QOS report from r about the frame of `seq`: how far behind the audio sent to it the receiver is. The write queue
   * may be empty while the kernel's buffers hold seconds of a slow link: this is what says so. When it has caught up,
   * metadata pauses as after a drain, so it keeps to its share of the link.
   */
  private reported(r: Receiver, seq: number): void {
    if (!this.source || r.audioFrameMs <= 0) return;
    const now = this.timers.now();
    r.qosAt = now;
    const behind = (r.audioSeq - seq) >>> 0;
    // A report from ahead (or a count restarted) says nothing of a backlog.
    const lagging = behind < 0x8000_0000 && behind * r.audioFrameMs > this.maxLagMs;
    if (lagging) {
      r.lagSince ??= now;
      return;
    }
    if (r.lagSince === undefined) return;
    const took = now - r.lagSince;
    r.lagSince = undefined;
    if (took > this.intervalMs) r.notBefore = Math.max(r.notBefore, now + Math.min(MAX_PAUSE_MS, took * (1 / METADATA_LINK_SHARE - 1)));
    if (this.current) this.offer(r, this.current, now);
  }

  private drained(r: Receiver): void {
    if (this.closed) return;
    const now = this.timers.now();
    if (r.busySince !== undefined) {
      // That frame (and the audio queued with it) took this long to leave: pause metadata so it keeps to its share.
      const took = now - r.busySince;
      r.busySince = undefined;
      if (took > this.intervalMs) r.notBefore = Math.max(r.notBefore, now + Math.min(MAX_PAUSE_MS, took * (1 / METADATA_LINK_SHARE - 1)));
    }
    if (this.current) this.offer(r, this.current, now);
  }

  private write(r: Receiver, v: Version, now: number): void {
    let frame: Buffer | undefined;
    let patch = false;
    if (r.patch) {
      frame = this.patchFrame(r, v, now);
      patch = frame !== undefined;
    }
    if (frame === undefined) {
      frame = v.frame ??= encodeMetadataText(v.text);
      r.fullAt = now;
    }
    r.link.send(frame);
    r.sent = v;
    r.sentAt = now;
    // Past the socket's high-water mark write() said false, so 'drain' will come and tell how long the link took.
    const s = r.link.socket;
    r.busySince = s && s.writableLength >= Math.max(this.lowWater, s.writableHighWaterMark ?? 0) ? now : undefined;
    this.counters.framesSent++;
    this.counters.bytesSent += frame.length;
    if (patch) this.counters.patchesSent++;
  }

  /** The patch frame taking r from what it has to v; undefined: send the full object. */
  private patchFrame(r: Receiver, v: Version, now: number): Buffer | undefined {
    const base = r.sent;
    if (base === undefined || now - r.fullAt >= this.fullEveryMs) return undefined;
    if (base === v) return (this.emptyPatch ??= encodeMetadataText(EMPTY_PATCH_TEXT));
    const patches = (v.patches ??= new Map());
    let f = patches.get(base);
    if (f === undefined) {
      const d = diff(objOf(base), objOf(v));
      f = null;
      if (d !== undefined) {
        const text = `{"${PATCH_KEY}":${JSON.stringify(d)}}`;
        if (Buffer.byteLength(text, 'utf8') < v.bytes) f = encodeMetadataText(text);
      }
      patches.set(base, f);
    }
    return f ?? undefined;
  }

  private safely(f: () => void): void {
    try {
      f();
    } catch (err) {
      this.report(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Says an error once until a different one comes or a good value is accepted. */
  private report(e: Error): void {
    const key = e instanceof MetadataTooLargeError || e instanceof MetadataReservedError ? e.code : e.message;
    if (key !== this.lastError) this.onMetadataError(e);
    this.lastError = key;
  }
}

function objOf(v: Version): JsonObject {
  return (v.obj ??= JSON.parse(v.text) as JsonObject);
}

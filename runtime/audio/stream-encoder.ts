// f32 PCM streams to Opus: one encoder per stream, on the calling thread or on encoder threads (./encode-pool.ts),
// and the shared encode of a room's mix for mix-minus — the Opus encode node's engine (nodes/opus-encode).
import { OpusEncoder, OpusFramer, checkOpusEncoderOptions, type OpusEncoderOptions, type OpusApplication } from './opus';
import { EncodePool } from './encode-pool';
import { StreamKeys } from './stream-key';
import { mapChannels } from './playout/channel-map';
import { f32View } from './pcm';
import { isSharedMix } from './shared-mix';

/** What the encoder reads of a PCM frame's msg.audio. */
export interface PcmFrameInfo { sampleRate: number; channels: number; seq: number; captureTime: number; trackId: number }

/** A packet's msg.audio. */
export interface OpusPacketAudio { codec: 'opus'; sampleRate: number; channels: number; frameSamples: number; seq: number; captureTime: number; trackId: number }

/** Which stream a frame is of: a sender's track, a room's mix (room), or one receiver's mix-minus (targetUserId). */
export interface EncodeStreamId { userId?: string; trackId?: number; targetUserId?: string; room?: string }

export interface StreamEncodersOptions {
  /** 2.5, 5, 10, 20, 40 or 60. */
  frameMs: number;
  bitrate: number;
  complexity: number;
  fec: boolean;
  packetLossPercent: number;
  application: OpusApplication;
  /** 0: the input's channels; 1 or 2: the input mixed (or copied) to that many before encoding. */
  channels: 0 | 1 | 2;
  /** Encoder threads; 0 encodes on the calling thread, at once. */
  workers: number;
}

export interface StreamEncodersSink<C> {
  /** A packet, with the caller's context of the frame it came from; a stream's packets come in seq order. */
  packet(packet: Buffer, audio: OpusPacketAudio, ctx: C): void;
  /** A frame lost on an encoder thread (the frame's context), or the pool's own trouble (null). */
  error(err: Error, ctx: C | null): void;
  warning?(message: string): void;
}

export const OPUS_FRAME_MS: readonly number[] = [2.5, 5, 10, 20, 40, 60];

/**
 * A stream with no frame for two sweeps is forgotten, its encoder freed: mix-minus makes one stream per receiver, and
 * receivers come and go (a browser per join). Its next frame, if any, starts a new encoder, its seq going on from where
 * it stopped (the last SWEPT_SEQS swept streams are remembered), so a receiver never sees the numbering jump back.
 */
const SWEPT_SEQS = 4096;
/** Packets of one stream held back, waiting for one before them, at most (the pool drops a frame it cannot encode with an error, so this is a guard). */
const MAX_EARLY = 64;

/** One stream: its encoder here, or its id in the encode pool; `onShared`: its last frame came from the shared encode. */
interface Stream<C> {
  enc: OpusEncoder | null; poolId: number; framer: OpusFramer; seq: number; sampleRate: number; channels: number; used: boolean; onShared: boolean;
  /**
   * On encoder threads: the seq of the next packet to send, and packets back early. A receiver's frames may be
   * encoded by two threads (its own encoder's and the shared one's), so they are put back in order here.
   */
  nextOut: number; early: Map<number, { f: InFlight<C>; packet: Buffer | null }> | null;
}

/**
 * The shared encode of a room's mix (mix-minus): every receiver that added nothing to a frame hears exactly the room's
 * mix (the mixer hands them one Buffer, ./shared-mix.ts); it is encoded once, by this stream's encoder, and each such
 * receiver gets that packet under its own seq. `last`/`prev`: the last two frames given (the PCM as encoded) and their
 * mix seq; `packet` the last one's packet, `waiting` the frames that wait for it from the pool.
 */
interface Shared<C> {
  enc: OpusEncoder | null; poolId: number; sampleRate: number; channels: number; used: boolean;
  lastIn: Buffer | null; last: Buffer | null; lastSeq: number; prev: Buffer | null;
  packet: Buffer | null; waiting: Array<InFlight<C>> | null;
}

/**
 * A frame on its way: the packet's audio and the caller's context, sent once its packet is back (no audio: an encode
 * whose packet is not sent, to bring a stream's encoder up to date); `group`: a shared encode's frames, all sent with
 * the packet; `stream`: whose order it keeps.
 */
interface InFlight<C> { audio: OpusPacketAudio | null; ctx: C | null; shared?: Shared<C>; group?: Array<InFlight<C>>; stream?: Stream<C> }

/**
 * Encodes many f32 streams to Opus, each keyed by its stream id (./stream-key.ts): any chunk size in, one packet per
 * frame out, a seq per stream counted from 0. A stream's encoder is made with its first frame and made again when its
 * rate or channel count changes.
 */
export class StreamEncoders<C> {
  private readonly streams = new Map<string, Stream<C>>();
  private readonly shared = new Map<string, Shared<C>>();
  private readonly sweptSeq = new Map<string, number>();
  private readonly keys = new StreamKeys();
  private readonly pool: EncodePool<InFlight<C>> | null;

  constructor(private readonly o: StreamEncodersOptions, private readonly sink: StreamEncodersSink<C>) {
    if (!OPUS_FRAME_MS.includes(o.frameMs)) throw new RangeError(`frameMs must be one of ${OPUS_FRAME_MS.join(', ')}, got ${String(o.frameMs)}`);
    this.pool = o.workers > 0 ? new EncodePool<InFlight<C>>(o.workers, {
      onPacket: (f, packet) => {
        const sh = f.shared;
        if (sh !== undefined && f.group !== undefined) {
          // The shared encode: every frame that waited for it goes now (the ones after it in its tick at once).
          if (sh.waiting === f.group) { sh.waiting = null; sh.packet = packet; }
          for (const g of f.group) this.inOrder(g, packet);
          return;
        }
        this.inOrder(f, packet);
      },
      onError: (f, err) => {
        if (f.shared && f.shared.waiting === f.group) f.shared.waiting = null;
        // The frames lost make no gap in the order their streams' next packets wait for.
        if (f.group) for (const g of f.group) this.inOrder(g, null); else this.inOrder(f, null);
        this.sink.error(err, f.ctx);
      },
    }) : null;
    this.pool?.on('warning', (m: string) => this.sink.warning?.(m));
  }

  /** Streams open. */
  get size(): number {
    return this.streams.size;
  }

  /**
   * One chunk of f32 interleaved PCM of a stream; its packets go to the sink (now, or from an encoder thread later).
   * Throws on a chunk it cannot take (a rate or channel count Opus has not, a size not whole samples).
   */
  push(id: EncodeStreamId, a: PcmFrameInfo, pcmIn: Buffer, ctx: C): void {
    const key = this.keys.key(id.userId, id.trackId, id.targetUserId, undefined, id.room);
    const channels = this.o.channels || a.channels;
    const frameSamples = (a.sampleRate * this.o.frameMs) / 1000;
    let s = this.streams.get(key);
    if (!s || s.sampleRate !== a.sampleRate || s.channels !== channels) {
      const opts = this.encoderOptions(a.sampleRate, channels);
      // Checked here, on the calling thread, in every case: a bad rate or channel count is this frame's error.
      if (this.pool) checkOpusEncoderOptions(opts);
      if (s && this.pool && s.poolId) this.pool.release(s.poolId);
      const seq = s ? 0 : this.sweptSeq.get(key) ?? 0;
      s = {
        enc: this.pool ? null : new OpusEncoder(opts), poolId: this.pool ? this.pool.open(opts) : 0,
        framer: new OpusFramer({ channels, frameSamples }),
        seq, sampleRate: a.sampleRate, channels, used: true, onShared: false, nextOut: seq, early: null,
      };
      this.sweptSeq.delete(key);
      this.streams.set(key, s);
    }
    s.used = true;
    // Mix-minus: a receiver that added nothing to this frame hears the room's mix, encoded once for all of them
    // (one whole frame, nothing held back in its framer).
    if (id.targetUserId !== undefined || s.onShared) {
      const sharedKey = this.keys.key(id.userId, id.trackId, undefined, undefined, id.room);
      if (id.targetUserId !== undefined && isSharedMix(pcmIn) && s.framer.bufferedSamples === 0 && pcmIn.length === frameSamples * a.channels * 4) {
        this.sendShared(a, pcmIn, s, sharedKey, ctx);
        return;
      }
      if (s.onShared) this.ownAgain(s, sharedKey, a.seq);
    }
    const frames = s.framer.push(toChannels(pcmIn, a.channels, channels));
    for (const pcm of frames) {
      const audio = this.packetAudio(a, s);
      if (s.enc) this.sink.packet(s.enc.encode(pcm), audio, ctx);
      else (this.pool as EncodePool<InFlight<C>>).encode(s.poolId, pcm, { audio, ctx, stream: s });
    }
  }

  /** Forgets the streams that had no frame since the last sweep (a flag per frame, no clock read); the streams left. */
  sweep(): number {
    for (const [key, st] of this.streams) {
      if (st.used) { st.used = false; continue; }
      if (this.pool && st.poolId) this.pool.release(st.poolId);
      this.streams.delete(key);
      this.sweptSeq.set(key, st.seq);
      if (this.sweptSeq.size > SWEPT_SEQS) this.sweptSeq.delete(this.sweptSeq.keys().next().value as string);
    }
    for (const [key, sh] of this.shared) {
      if (sh.used) { sh.used = false; continue; }
      if (this.pool && sh.poolId) this.pool.release(sh.poolId);
      this.shared.delete(key);
    }
    return this.streams.size;
  }

  close(): void {
    this.pool?.close();
    this.streams.clear();
    this.shared.clear();
    this.keys.clear();
  }

  private encoderOptions(sampleRate: number, channels: number): OpusEncoderOptions {
    const o = this.o;
    return { sampleRate, channels, frameSamples: (sampleRate * o.frameMs) / 1000, bitrate: o.bitrate, complexity: o.complexity, fec: o.fec, packetLossPercent: o.packetLossPercent, application: o.application };
  }

  /** The next packet's msg.audio of stream `s` (its seq taken). */
  private packetAudio(a: PcmFrameInfo, s: Stream<C>): OpusPacketAudio {
    const audio: OpusPacketAudio = { codec: 'opus', sampleRate: a.sampleRate, channels: s.channels, frameSamples: s.framer.frameSamples, seq: s.seq, captureTime: a.captureTime, trackId: a.trackId };
    s.seq = (s.seq + 1) >>> 0;
    return audio;
  }

  /** A packet of a frame that went through the pool or the shared encode: a sink's throw is that frame's error. */
  private send(f: InFlight<C>, packet: Buffer): void {
    if (f.audio === null) return;
    try {
      this.sink.packet(packet, f.audio, f.ctx as C);
    } catch (err) {
      this.sink.error(err as Error, f.ctx);
    }
  }

  /** A packet back from the pool (null: its frame was lost), sent once its stream's packets before it are. */
  private inOrder(f: InFlight<C>, packet: Buffer | null): void {
    const s = f.stream;
    if (s === undefined || f.audio === null) {
      if (packet !== null) this.send(f, packet);
      return;
    }
    const q = f.audio.seq;
    if (q !== s.nextOut) {
      const early = (s.early ??= new Map());
      early.set(q, { f, packet });
      // A packet that never came would hold the stream's up for good: past MAX_EARLY waiting, skip to the first.
      if (early.size <= MAX_EARLY) return;
      let first = q;
      for (const k of early.keys()) if (((k - s.nextOut) >>> 0) < ((first - s.nextOut) >>> 0)) first = k;
      s.nextOut = first;
      const head = early.get(first) as { f: InFlight<C>; packet: Buffer | null };
      early.delete(first);
      f = head.f;
      packet = head.packet;
    }
    if (packet !== null) this.send(f, packet);
    s.nextOut = (s.nextOut + 1) >>> 0;
    while (s.early !== null && s.early.size > 0) {
      const next = s.early.get(s.nextOut);
      if (next === undefined) break;
      s.early.delete(s.nextOut);
      if (next.packet !== null) this.send(next.f, next.packet);
      s.nextOut = (s.nextOut + 1) >>> 0;
    }
  }

  /**
   * A receiver's frame that is its room's whole mix (isSharedMix): the packet of the room's shared encode, made once
   * per frame, under this receiver's own seq. Its own encoder waits meanwhile; see ownAgain.
   */
  private sendShared(a: PcmFrameInfo, pcmIn: Buffer, s: Stream<C>, sharedKey: string, ctx: C): void {
    const pool = this.pool;
    let sh = this.shared.get(sharedKey);
    if (!sh || sh.sampleRate !== a.sampleRate || sh.channels !== s.channels) {
      if (sh && pool && sh.poolId) pool.release(sh.poolId);
      const opts = this.encoderOptions(a.sampleRate, s.channels);
      sh = {
        enc: pool ? null : new OpusEncoder(opts), poolId: pool ? pool.open(opts) : 0, sampleRate: a.sampleRate, channels: s.channels, used: true,
        lastIn: null, last: null, lastSeq: -1, prev: null, packet: null, waiting: null,
      };
      this.shared.set(sharedKey, sh);
    }
    sh.used = true;
    s.onShared = true;
    const f: InFlight<C> = { audio: this.packetAudio(a, s), ctx, stream: pool ? s : undefined };
    if (sh.lastIn === pcmIn && sh.lastSeq === a.seq) {
      // Encoded already in this frame: its packet, or a place in the line for it.
      if (sh.waiting !== null) sh.waiting.push(f);
      else if (pool) this.inOrder(f, sh.packet as Buffer);
      else this.send(f, sh.packet as Buffer);
      return;
    }
    const pcm = toChannels(pcmIn, a.channels, s.channels);
    if (sh.lastSeq !== a.seq) sh.prev = sh.last;
    sh.lastIn = pcmIn; sh.last = pcm; sh.lastSeq = a.seq;
    if (sh.enc) {
      sh.packet = sh.enc.encode(pcm);
      this.send(f, sh.packet);
    } else {
      sh.packet = null;
      const group = (sh.waiting = [f]);
      (pool as EncodePool<InFlight<C>>).encode(sh.poolId, pcm, { audio: null, ctx: null, shared: sh, group });
    }
  }

  /**
   * A receiver back on its own encode after shared frames: its encoder last saw audio from before them, and the
   * receiver's decoder has the shared stream's last frame. That frame goes through its encoder first (the packet
   * dropped), so the new packet's overlap and band energies follow on from what the receiver last heard.
   */
  private ownAgain(s: Stream<C>, sharedKey: string, seq: number): void {
    s.onShared = false;
    const sh = this.shared.get(sharedKey);
    if (!sh) return;
    const prime = sh.lastSeq === seq ? sh.prev : sh.last;
    if (prime === null || prime.length !== s.framer.frameSamples * s.channels * 4) return;
    if (s.enc) s.enc.encode(prime);
    else (this.pool as EncodePool<InFlight<C>>).encode(s.poolId, prime, { audio: null, ctx: null });
  }
}

/** The PCM the encoder takes, from the input's channels to `channels` (a fresh Buffer when they differ). */
function toChannels(pcmIn: Buffer, from: number, channels: number): Buffer {
  if (channels === from) return pcmIn;
  // Into a fresh Buffer: the framer hands out views of its input, and a view may wait in the encoder pool.
  const step = 4 * from;
  if (pcmIn.length % step !== 0) throw new Error(`opus encode: pcm is ${pcmIn.length} bytes, not a whole number of ${from}-channel f32 samples (${step} bytes each)`);
  const n = pcmIn.length / step;
  const mixed = Buffer.allocUnsafe(n * channels * 4);
  mapChannels(f32View(pcmIn), 0, from, f32View(mixed), 0, channels, n);
  return mixed;
}

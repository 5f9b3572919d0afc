// Node: Opus encode — f32 PCM in (any chunk size), one Opus packet per frame out; one encoder per stream.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { OpusEncoder, OpusFramer, checkOpusEncoderOptions, type OpusEncoderOptions } from '../../runtime/audio/opus';
import { EncodePool } from '../../runtime/audio/encode-pool';
import { StreamKeys } from '../../runtime/audio/stream-key';
import { readSettings, workerCount } from '../../runtime/settings';
import { num, bool, oneOf, ConfigError } from '../lib/config';
import { refuse, isAudioMsg, AudioMsg } from '../lib/glue';
import { onAudioInput, AudioOutput } from '../lib/direct';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';
import { shareAudioOnFanout } from '../lib/fanout';
import { mapChannels } from '../../runtime/audio/playout/channel-map';
import { f32View } from '../../runtime/audio/pcm';
import { isSharedMix } from '../../runtime/audio/shared-mix';

interface EncodeDef extends NodeDef {
  frameMs: string; bitrate: string; complexity: string; fec: boolean | string; packetLoss: string; application: string;
  encodeWorkers?: string;
  /** '' the input's channels; '1' or '2' mixes (or copies) the input to that many before encoding. */
  channels?: string;
}

/** One stream: its encoder here, or its id in the encode pool; `onShared`: its last frame came from the shared encode. */
interface Stream {
  enc: OpusEncoder | null; poolId: number; framer: OpusFramer; seq: number; sampleRate: number; channels: number; used: boolean; onShared: boolean;
  /**
   * On encoder threads: the seq of the next packet to send, and packets back early. A receiver's frames may be
   * encoded by two threads (its own encoder's and the shared one's), so they are put back in order here.
   */
  nextOut: number; early: Map<number, { f: InFlight; packet: Buffer | null }> | null;
}

/**
 * The shared encode of a room's mix (mix-minus): every receiver that added nothing to a frame hears exactly the room's
 * mix (the mixer hands them one Buffer, runtime/audio/shared-mix.ts); it is encoded once, by this stream's encoder,
 * and each such receiver gets that packet under its own seq. `last`/`prev`: the last two frames given (the PCM as
 * encoded) and their mix seq; `packet` the last one's packet, `waiting` the frames that wait for it from the pool.
 */
interface Shared {
  enc: OpusEncoder | null; poolId: number; sampleRate: number; channels: number; used: boolean;
  lastIn: Buffer | null; last: Buffer | null; lastSeq: number; prev: Buffer | null;
  packet: Buffer | null; waiting: InFlight[] | null;
}

/**
 * A stream with no frame for this long is forgotten, its encoder freed: mix-minus makes one stream per receiver, and
 * receivers come and go (a browser per join). Its next frame, if any, starts a new encoder, its seq going on from where
 * it stopped (the last SWEPT_SEQS swept streams are remembered), so a receiver never sees the numbering jump back.
 */
const IDLE_STREAM_MS = 10_000;
const SWEPT_SEQS = 4096;
/**
 * A frame on its way through the pool: the message to send once its packet is back (null: an encode whose packet
 * is not sent, to bring a stream's encoder up to date); `group`: a shared encode's frames, all sent with the packet.
 */
interface InFlight { out: AudioMsg | null; send?: (m: unknown) => void; shared?: Shared; group?: InFlight[]; stream?: Stream }

const LEGAL_MS = [2.5, 5, 10, 20, 40, 60];
/** Packets of one stream held back, waiting for one before them, at most (the pool drops a frame it cannot encode with an error, so this is a guard). */
const MAX_EARLY = 64;

export = function (RED: NodeAPI) {
  shareAudioOnFanout(RED);
  function OpusEncodeNode(this: Node, config: EncodeDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    const streams = new Map<string, Stream>();
    const shared = new Map<string, Shared>();
    let closePool: (() => void) | undefined;
    let sweep: NodeJS.Timeout | undefined;
    const sweptSeq = new Map<string, number>();
    try {
      const frameMs = num(config as never, 'frameMs', { def: 10 });
      if (!LEGAL_MS.includes(frameMs)) throw new ConfigError('frameMs', 'not_opus_frame', { ms: frameMs, legal: LEGAL_MS.join(', ') });
      const bitrate = num(config as never, 'bitrate', { def: 64, min: 6, max: 510 }) * 1000;
      const complexity = num(config as never, 'complexity', { def: 10, min: 0, max: 10, int: true });
      const fec = bool(config as never, 'fec', false);
      const packetLossPercent = num(config as never, 'packetLoss', { def: 0, min: 0, max: 100, int: true });
      const application = oneOf(config as never, 'application', ['audio', 'voip', 'lowdelay'] as const, 'audio');
      // Mono for receivers that asked for mono (a browser's answer without stereo=1): a mono encode costs about half a
      // stereo one, and mix-minus is one encode per listener. Blank: the input's channels.
      const forceChannels = config.channels === undefined || config.channels === '' ? 0 : Number(oneOf(config as never, 'channels', ['1', '2'] as const, '2'));
      // Encoder threads (runtime/audio/encode-pool.ts), from the node's 'encodeWorkers' or else the encodeWorkers
      // setting (runtime/settings.ts): 0 (default) encodes on the event loop, at once; N or 'auto' spreads the streams
      // over threads — for mix-minus, one stream per receiver — and sends each packet a little later, when its
      // thread hands it back.
      const encodeWorkers = workerCount(config.encodeWorkers === 'auto' ? 'auto'
        : config.encodeWorkers ? num(config as never, 'encodeWorkers', { min: 0, max: 16, int: true }) : readSettings(RED.settings).encodeWorkers);

      const output = new AudioOutput(RED, node, 0, 1);
      // Made only when the (throttled) status is shown, not for every frame.
      const statusText = () => t('opus-encode.status.streams', { count: streams.size, kbps: bitrate / 1000 });
      const pool = encodeWorkers > 0 ? new EncodePool<InFlight>(encodeWorkers, {
        onPacket: (f, packet) => {
          const sh = f.shared;
          if (sh !== undefined && f.group !== undefined) {
            // The shared encode: every frame that waited for it goes now (the ones after it in its tick at once).
            if (sh.waiting === f.group) { sh.waiting = null; sh.packet = packet; }
            for (const g of f.group) inOrder(g, packet);
            return;
          }
          inOrder(f, packet);
        },
        onError: (f, err) => {
          status.set('red', 'ring', t('opus-encode.status.error'));
          if (f.shared && f.shared.waiting === f.group) f.shared.waiting = null;
          // The frames lost make no gap in the order their streams' next packets wait for.
          if (f.group) for (const g of f.group) inOrder(g, null); else inOrder(f, null);
          node.error(err, (f.out ?? undefined) as never);
        },
      }) : null;
      if (pool) {
        pool.on('warning', (m: string) => node.warn(m));
        closePool = () => pool.close();
      }
      const sendPacket = (f: InFlight, packet: Buffer) => {
        if (f.out === null) return;
        f.out.payload = packet;
        try {
          output.send(f.out, f.send);
        } catch (err) {
          node.error(err as Error, f.out as never);
        }
      };
      /** A packet back from the pool (null: its frame was lost), sent once its stream's packets before it are. */
      const inOrder = (f: InFlight, packet: Buffer | null) => {
        const s = f.stream;
        if (s === undefined || f.out === null) {
          if (packet !== null) sendPacket(f, packet);
          return;
        }
        const q = f.out.audio.seq;
        if (q !== s.nextOut) {
          const early = (s.early ??= new Map());
          early.set(q, { f, packet });
          // A packet that never came would hold the stream's up for good: past MAX_EARLY waiting, skip to the first.
          if (early.size <= MAX_EARLY) return;
          let first = q;
          for (const k of early.keys()) if (((k - s.nextOut) >>> 0) < ((first - s.nextOut) >>> 0)) first = k;
          s.nextOut = first;
          const head = early.get(first) as { f: InFlight; packet: Buffer | null };
          early.delete(first);
          f = head.f;
          packet = head.packet;
        }
        if (packet !== null) sendPacket(f, packet);
        s.nextOut = (s.nextOut + 1) >>> 0;
        while (s.early !== null && s.early.size > 0) {
          const next = s.early.get(s.nextOut);
          if (next === undefined) break;
          s.early.delete(s.nextOut);
          if (next.packet !== null) sendPacket(next.f, next.packet);
          s.nextOut = (s.nextOut + 1) >>> 0;
        }
      };
      /** The PCM the encoder takes, from the input's channels to `channels` (a fresh Buffer when they differ). */
      const toChannels = (pcmIn: Buffer, from: number, channels: number): Buffer => {
        if (channels === from) return pcmIn;
        // Into a fresh Buffer: the framer hands out views of its input, and a view may wait in the encoder pool.
        const step = 4 * from;
        if (pcmIn.length % step !== 0) throw new Error(`opus encode: pcm is ${pcmIn.length} bytes, not a whole number of ${from}-channel f32 samples (${step} bytes each)`);
        const n = pcmIn.length / step;
        const mixed = Buffer.allocUnsafe(n * channels * 4);
        mapChannels(f32View(pcmIn), 0, from, f32View(mixed), 0, channels, n);
        return mixed;
      };
      /**
       * A receiver's frame that is its room's whole mix (isSharedMix): the packet of the room's shared encode, made
       * once per frame, under this receiver's own seq. Its own encoder waits meanwhile; see ownAgain.
       */
      const sendShared = (msg: AudioMsg, s: Stream, sharedKey: string, opts: OpusEncoderOptions, send?: (m: unknown) => void): void => {
        const a = msg.audio;
        let sh = shared.get(sharedKey);
        if (!sh || sh.sampleRate !== a.sampleRate || sh.channels !== s.channels) {
          if (sh && pool && sh.poolId) pool.release(sh.poolId);
          sh = {
            enc: pool ? null : new OpusEncoder(opts), poolId: pool ? pool.open(opts) : 0, sampleRate: a.sampleRate, channels: s.channels, used: true,
            lastIn: null, last: null, lastSeq: -1, prev: null, packet: null, waiting: null,
          };
          shared.set(sharedKey, sh);
        }
        sh.used = true;
        s.onShared = true;
        const out: AudioMsg = {
          ...msg, topic: 'audio', payload: msg.payload,
          audio: { codec: 'opus', sampleRate: a.sampleRate, channels: s.channels, frameSamples: opts.frameSamples, seq: s.seq, captureTime: a.captureTime, trackId: a.trackId },
        };
        s.seq = (s.seq + 1) >>> 0;
        const f: InFlight = { out, send, stream: pool ? s : undefined };
        if (sh.lastIn === msg.payload && sh.lastSeq === a.seq) {
          // Encoded already in this frame: its packet, or a place in the line for it.
          if (sh.waiting !== null) sh.waiting.push(f);
          else if (pool) inOrder(f, sh.packet as Buffer);
          else sendPacket(f, sh.packet as Buffer);
          return;
        }
        const pcm = toChannels(msg.payload, a.channels, s.channels);
        if (sh.lastSeq !== a.seq) sh.prev = sh.last;
        sh.lastIn = msg.payload; sh.last = pcm; sh.lastSeq = a.seq;
        if (sh.enc) {
          sh.packet = sh.enc.encode(pcm);
          sendPacket(f, sh.packet);
        } else {
          sh.packet = null;
          const group = (sh.waiting = [f]);
          (pool as EncodePool<InFlight>).encode(sh.poolId, pcm, { out: null, shared: sh, group });
        }
      };
      /**
       * A receiver back on its own encode after shared frames: its encoder last saw audio from before them, and the
       * receiver's decoder has the shared stream's last frame. That frame goes through its encoder first (the packet
       * dropped), so the new packet's overlap and band energies follow on from what the receiver last heard.
       */
      const ownAgain = (s: Stream, sharedKey: string, seq: number): void => {
        s.onShared = false;
        const sh = shared.get(sharedKey);
        if (!sh) return;
        const prime = sh.lastSeq === seq ? sh.prev : sh.last;
        if (prime === null || prime.length !== s.framer.frameSamples * s.channels * 4) return;
        if (s.enc) s.enc.encode(prime);
        else (pool as EncodePool<InFlight>).encode(s.poolId, prime, { out: null });
      };
      const keys = new StreamKeys();
      const handle = (msg: Record<string, unknown>, send?: (m: unknown) => void): void => {
        if (!isAudioMsg(msg)) throw new Error(t('xcast.errors.not-audio'));
        const a = msg.audio;
        if (a.codec !== 'pcm_f32le') throw new Error(t('xcast.errors.wrong-codec', { node: 'opus encode', want: 'pcm_f32le', got: a.codec }));
        // One encoder per stream: room, receiver (mix-minus), sender and track — the room mixes all say 'xcast'/1.
        const key = keys.key(msg.userId, a.trackId, msg.targetUserId, undefined, typeof msg.room === 'string' ? msg.room : undefined);
        let s = streams.get(key);
        try {
          const channels = forceChannels || a.channels;
          if (!s || s.sampleRate !== a.sampleRate || s.channels !== channels) {
            const frameSamples = (a.sampleRate * frameMs) / 1000;
            const opts: OpusEncoderOptions = { sampleRate: a.sampleRate, channels, frameSamples, bitrate, complexity, fec, packetLossPercent, application };
            // Checked here, on the calling thread, in every case: a bad rate or channel count is this message's error.
            if (pool) checkOpusEncoderOptions(opts);
            if (s && pool && s.poolId) pool.release(s.poolId);
            s = {
              enc: pool ? null : new OpusEncoder(opts), poolId: pool ? pool.open(opts) : 0,
              framer: new OpusFramer({ channels, frameSamples }),
              seq: s ? 0 : sweptSeq.get(key) ?? 0, sampleRate: a.sampleRate, channels, used: true, onShared: false, nextOut: 0, early: null,
            };
            s.nextOut = s.seq;
            sweptSeq.delete(key);
            streams.set(key, s);
          }
          s.used = true;
          const frameSamples = (a.sampleRate * frameMs) / 1000;
          // Mix-minus: a receiver that added nothing to this frame hears the room's mix, encoded once for all of them
          // (one whole frame, nothing held back in its framer).
          const target = msg.targetUserId;
          if (target !== undefined || s.onShared) {
            const sharedKey = keys.key(msg.userId, a.trackId, undefined, undefined, typeof msg.room === 'string' ? msg.room : undefined);
            if (target !== undefined && isSharedMix(msg.payload) && s.framer.bufferedSamples === 0 && msg.payload.length === frameSamples * a.channels * 4) {
              sendShared(msg, s, sharedKey, { sampleRate: a.sampleRate, channels, frameSamples, bitrate, complexity, fec, packetLossPercent, application }, send);
              status.setBy('green', 'dot', statusText);
              return;
            }
            if (s.onShared) ownAgain(s, sharedKey, a.seq);
          }
          const pcmIn = toChannels(msg.payload, a.channels, channels);
          const frames = s.framer.push(pcmIn);
          for (const pcm of frames) {
            const out: AudioMsg = {
              ...msg, topic: 'audio', payload: pcm,
              audio: { codec: 'opus', sampleRate: a.sampleRate, channels, frameSamples, seq: s.seq, captureTime: a.captureTime, trackId: a.trackId },
            };
            s.seq = (s.seq + 1) >>> 0;
            if (s.enc) {
              out.payload = s.enc.encode(pcm);
              output.send(out, send);
            } else {
              (pool as EncodePool<InFlight>).encode(s.poolId, pcm, { out, send, stream: s });
            }
          }
          status.setBy('green', 'dot', statusText);
        } catch (err) {
          status.set('red', 'ring', t('opus-encode.status.error'));
          throw err;
        }
      };
      // The mixer wired straight here hands its frames over by a call (nodes/lib/direct.ts).
      onAudioInput(node, handle);
      // Every IDLE_STREAM_MS, the streams that had no frame since the last sweep go (a flag per frame, no clock read).
      const sweepStreams = (): number => {
        for (const [key, st] of streams) {
          if (st.used) { st.used = false; continue; }
          if (pool && st.poolId) pool.release(st.poolId);
          streams.delete(key);
          sweptSeq.set(key, st.seq);
          if (sweptSeq.size > SWEPT_SEQS) sweptSeq.delete(sweptSeq.keys().next().value as string);
        }
        for (const [key, sh] of shared) {
          if (sh.used) { sh.used = false; continue; }
          if (pool && sh.poolId) pool.release(sh.poolId);
          shared.delete(key);
        }
        return streams.size;
      };
      sweep = setInterval(sweepStreams, IDLE_STREAM_MS);
      sweep.unref();
      // Diagnostics (a test sweeps without waiting for the interval): the sweep, answering how many streams are left.
      (node as unknown as { sweepStreams?: () => number }).sweepStreams = sweepStreams;
    } catch (err) {
      refuse(RED, node, err);
    }
    node.on('close', (removed: boolean, done: () => void) => { if (sweep) clearInterval(sweep); closePool?.(); streams.clear(); shared.clear(); status.clear(); done(); });
  }
  RED.nodes.registerType('xcast-opus-encode', OpusEncodeNode);
};

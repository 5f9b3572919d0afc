// Node: Opus encode — f32 PCM in (any chunk size), one Opus packet per frame out; one encoder per stream. The
// encoding, threads and mix-minus's shared encode are runtime/audio/stream-encoder.ts's.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { StreamEncoders, OPUS_FRAME_MS } from '../../runtime/audio/stream-encoder';
import { readSettings, workerCount } from '../../runtime/settings';
import { num, bool, oneOf, ConfigError } from '../lib/config';
import { refuse, isAudioMsg, AudioMsg } from '../lib/glue';
import { onAudioInput, AudioOutput } from '../lib/direct';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';
import { shareAudioOnFanout } from '../lib/fanout';

interface EncodeDef extends NodeDef {
  frameMs: string; bitrate: string; complexity: string; fec: boolean | string; packetLoss: string; application: string;
  encodeWorkers?: string;
  /** '' the input's channels; '1' or '2' mixes (or copies) the input to that many before encoding. */
  channels?: string;
}

/** A frame's message and the send it came with: what a packet goes out with. */
interface Ctx { msg: AudioMsg; send?: (m: unknown) => void }

/** Every IDLE_STREAM_MS, the streams that had no frame since the last sweep go (their encoders freed). */
const IDLE_STREAM_MS = 10_000;

export = function (RED: NodeAPI) {
  shareAudioOnFanout(RED);
  function OpusEncodeNode(this: Node, config: EncodeDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    let encoders: StreamEncoders<Ctx> | undefined;
    let sweep: NodeJS.Timeout | undefined;
    try {
      const frameMs = num(config as never, 'frameMs', { def: 10 });
      if (!OPUS_FRAME_MS.includes(frameMs)) throw new ConfigError('frameMs', 'not_opus_frame', { ms: frameMs, legal: OPUS_FRAME_MS.join(', ') });
      const bitrate = num(config as never, 'bitrate', { def: 64, min: 6, max: 510 }) * 1000;
      const complexity = num(config as never, 'complexity', { def: 10, min: 0, max: 10, int: true });
      const fec = bool(config as never, 'fec', false);
      const packetLossPercent = num(config as never, 'packetLoss', { def: 0, min: 0, max: 100, int: true });
      const application = oneOf(config as never, 'application', ['audio', 'voip', 'lowdelay'] as const, 'audio');
      // Mono for receivers that asked for mono (a browser's answer without stereo=1): a mono encode costs about half a
      // stereo one, and mix-minus is one encode per listener. Blank: the input's channels.
      const channels = config.channels === undefined || config.channels === '' ? 0 : Number(oneOf(config as never, 'channels', ['1', '2'] as const, '2')) as 1 | 2;
      // Encoder threads (runtime/audio/encode-pool.ts), from the node's 'encodeWorkers' or else the encodeWorkers
      // setting (runtime/settings.ts): 0 (default) encodes on the event loop, at once; N or 'auto' spreads the streams
      // over threads — for mix-minus, one stream per receiver — and sends each packet a little later, when its
      // thread hands it back.
      const workers = workerCount(config.encodeWorkers === 'auto' ? 'auto'
        : config.encodeWorkers ? num(config as never, 'encodeWorkers', { min: 0, max: 16, int: true }) : readSettings(RED.settings).encodeWorkers);

      const output = new AudioOutput(RED, node, 0, 1);
      // Made only when the (throttled) status is shown, not for every frame.
      const statusText = () => t('opus-encode.status.streams', { count: encoders?.size ?? 0, kbps: bitrate / 1000 });
      const streams = (encoders = new StreamEncoders<Ctx>({ frameMs, bitrate, complexity, fec, packetLossPercent, application, channels, workers }, {
        packet: (packet, audio, c) => output.send({ ...c.msg, topic: 'audio', payload: packet, audio }, c.send),
        error: (err, c) => {
          status.set('red', 'ring', t('opus-encode.status.error'));
          node.error(err, (c?.msg ?? undefined) as never);
        },
        warning: (m) => node.warn(m),
      }));
      const handle = (msg: Record<string, unknown>, send?: (m: unknown) => void): void => {
        if (!isAudioMsg(msg)) throw new Error(t('xcast.errors.not-audio'));
        const a = msg.audio;
        if (a.codec !== 'pcm_f32le') throw new Error(t('xcast.errors.wrong-codec', { node: 'opus encode', want: 'pcm_f32le', got: a.codec }));
        try {
          // One encoder per stream: room, receiver (mix-minus), sender and track — the room mixes all say 'xcast'/1.
          streams.push({ userId: msg.userId, trackId: a.trackId, targetUserId: msg.targetUserId, room: typeof msg.room === 'string' ? msg.room : undefined }, a, msg.payload, { msg, send });
          status.setBy('green', 'dot', statusText);
        } catch (err) {
          status.set('red', 'ring', t('opus-encode.status.error'));
          throw err;
        }
      };
      // The mixer wired straight here hands its frames over by a call (nodes/lib/direct.ts).
      onAudioInput(node, handle);
      sweep = setInterval(() => streams.sweep(), IDLE_STREAM_MS);
      sweep.unref();
      // Diagnostics (a test sweeps without waiting for the interval): the sweep, answering how many streams are left.
      (node as unknown as { sweepStreams?: () => number }).sweepStreams = () => streams.sweep();
    } catch (err) {
      refuse(RED, node, err);
    }
    node.on('close', (removed: boolean, done: () => void) => { if (sweep) clearInterval(sweep); encoders?.close(); status.clear(); done(); });
  }
  RED.nodes.registerType('xcast-opus-encode', OpusEncodeNode);
};

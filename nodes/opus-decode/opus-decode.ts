// Node: Opus decode — one Opus packet in, f32 PCM out; a gap in seq is filled with packet-loss concealment.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { StreamDecoders } from '../../runtime/audio/stream-decoder';
import { StreamKeys, OncePerStream, streamLabel } from '../../runtime/audio/stream-key';
import { num } from '../lib/config';
import { refuse, isAudioMsg } from '../lib/glue';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';
import { shareAudioOnFanout } from '../lib/fanout';

interface DecodeDef extends NodeDef { maxConceal: string }

export = function (RED: NodeAPI) {
  shareAudioOnFanout(RED);
  function OpusDecodeNode(this: Node, config: DecodeDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    let decoders: StreamDecoders | undefined;
    const keys = new StreamKeys();
    // A stream this node cannot decode (not Opus, a TOC that disagrees, a packet libopus refuses) is said once per
    // stream and reason, with the stream's label, and counted: not one log line per frame.
    const refusals = new OncePerStream();
    // Made only when the (throttled) status is shown, not for every packet.
    const statusText = () => {
      const n = decoders?.size ?? 0, concealed = decoders?.concealed ?? 0;
      const text = t(concealed ? 'opus-decode.status.streams-concealed' : 'opus-decode.status.streams', { count: n, concealed });
      return refusals.total ? `${text}, ${t('opus-decode.status.refused', { count: refusals.total })}` : text;
    };
    /** The error to answer a refused packet with: the first of each stream and reason (a Catch node sees it), else none. */
    const refuseOne = (msg: Record<string, unknown>, a: { trackId?: number } | undefined, reason: string, detail: string): Error | undefined => {
      const id = { userId: msg.userId as string | undefined, trackId: a?.trackId, targetUserId: msg.targetUserId as string | undefined, connectionId: typeof msg.connectionId === 'string' ? msg.connectionId : undefined };
      status.setBy('yellow', 'dot', statusText);
      if (!refusals.refuse(keys.key(id.userId, id.trackId, id.targetUserId, id.connectionId), reason)) return undefined;
      return new Error(t('opus-decode.errors.refused-stream', { stream: streamLabel(id), detail }));
    };
    try {
      const maxConceal = num(config as never, 'maxConceal', { def: 5, min: 0, max: 50, int: true });
      const streams = (decoders = new StreamDecoders({ maxConceal }));
      node.on('input', (msg: Record<string, unknown>, send, done) => {
        if (!isAudioMsg(msg)) { done(new Error(t('xcast.errors.not-audio'))); return; }
        const a = msg.audio;
        if (a.codec !== 'opus') {
          done(refuseOne(msg, a, 'codec', t('xcast.errors.wrong-codec', { node: 'opus decode', want: 'opus', got: String(a.codec) })));
          return;
        }
        const connectionId = typeof msg.connectionId === 'string' ? msg.connectionId : undefined;
        try {
          streams.decode(keys.key(msg.userId, a.trackId, msg.targetUserId, connectionId), a, msg.payload, (pcm, seq, concealed) => {
            send(concealed
              ? { ...msg, payload: pcm, audio: { ...a, codec: 'pcm_f32le', seq }, concealed: true }
              : { ...msg, payload: pcm, audio: { ...a, codec: 'pcm_f32le' } });
          });
          status.setBy('green', 'dot', statusText);
          done();
        } catch (err) {
          const e = err as Error;
          done(refuseOne(msg, a, e.name, e.message));
        }
      });
    } catch (err) {
      refuse(RED, node, err);
    }
    node.on('close', (removed: boolean, done: () => void) => { decoders?.clear(); keys.clear(); refusals.clear(); status.clear(); done(); });
  }
  RED.nodes.registerType('xcast-opus-decode', OpusDecodeNode);
};

// Node: Opus decode — one Opus packet in, f32 PCM out; a gap in seq is filled with packet-loss concealment.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { StreamDecoders } from '../../runtime/audio/stream-decoder';
import { streamKey } from '../../runtime/audio/stream-key';
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
    // Made only when the (throttled) status is shown, not for every packet.
    const statusText = () => {
      const n = decoders?.size ?? 0, concealed = decoders?.concealed ?? 0;
      return t(concealed ? 'opus-decode.status.streams-concealed' : 'opus-decode.status.streams', { count: n, concealed });
    };
    try {
      const maxConceal = num(config as never, 'maxConceal', { def: 5, min: 0, max: 50, int: true });
      const streams = (decoders = new StreamDecoders({ maxConceal }));
      node.on('input', (msg: Record<string, unknown>, send, done) => {
        if (!isAudioMsg(msg)) { done(new Error(t('xcast.errors.not-audio'))); return; }
        const a = msg.audio;
        if (a.codec !== 'opus') { done(new Error(t('xcast.errors.wrong-codec', { node: 'opus decode', want: 'opus', got: a.codec }))); return; }
        try {
          streams.decode(streamKey({ userId: msg.userId, trackId: a.trackId, targetUserId: msg.targetUserId }), a, msg.payload, (pcm, seq, concealed) => {
            send(concealed
              ? { ...msg, payload: pcm, audio: { ...a, codec: 'pcm_f32le', seq }, concealed: true }
              : { ...msg, payload: pcm, audio: { ...a, codec: 'pcm_f32le' } });
          });
          status.setBy('green', 'dot', statusText);
          done();
        } catch (err) {
          done(err as Error);
        }
      });
    } catch (err) {
      refuse(RED, node, err);
    }
    node.on('close', (removed: boolean, done: () => void) => { decoders?.clear(); status.clear(); done(); });
  }
  RED.nodes.registerType('xcast-opus-decode', OpusDecodeNode);
};

// Node: Opus decode — one Opus packet in, f32 PCM out; a gap in seq is filled with packet-loss concealment.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { OpusDecoder } from '../../runtime/audio/opus';
import { num } from '../lib/config';
import { refuse, isAudioMsg, AudioMsg } from '../lib/glue';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';
import { shareAudioOnFanout } from '../lib/fanout';

interface DecodeDef extends NodeDef { maxConceal: string }
interface Stream { dec: OpusDecoder; nextSeq: number; sampleRate: number; channels: number }

export = function (RED: NodeAPI) {
  shareAudioOnFanout(RED);
  function OpusDecodeNode(this: Node, config: DecodeDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    const streams = new Map<string, Stream>();
    let concealed = 0;
    // Made only when the (throttled) status is shown, not for every packet.
    const statusText = () => t(concealed ? 'opus-decode.status.streams-concealed' : 'opus-decode.status.streams', { count: streams.size, concealed });
    try {
      const maxConceal = num(config as never, 'maxConceal', { def: 5, min: 0, max: 50, int: true });
      node.on('input', (msg: Record<string, unknown>, send, done) => {
        if (!isAudioMsg(msg)) { done(new Error(t('xcast.errors.not-audio'))); return; }
        const a = msg.audio;
        if (a.codec !== 'opus') { done(new Error(t('xcast.errors.wrong-codec', { node: 'opus decode', want: 'opus', got: a.codec }))); return; }
        const key = `${msg.userId ?? ''}/${a.trackId}`;
        try {
          let s = streams.get(key);
          if (!s || s.sampleRate !== a.sampleRate || s.channels !== a.channels) {
            s = { dec: new OpusDecoder({ sampleRate: a.sampleRate, channels: a.channels }), nextSeq: a.seq, sampleRate: a.sampleRate, channels: a.channels };
            streams.set(key, s);
          }
          const gap = (a.seq - s.nextSeq) >>> 0;
          if (gap > 0 && gap <= maxConceal) {
            for (let i = 0; i < gap; i++) {
              const seq = (s.nextSeq + i) >>> 0;
              send({ ...msg, payload: s.dec.conceal(a.frameSamples), audio: { ...a, codec: 'pcm_f32le', seq }, concealed: true });
              concealed++;
            }
          }
          const out: AudioMsg = { ...msg, payload: s.dec.decode(msg.payload), audio: { ...a, codec: 'pcm_f32le' } };
          s.nextSeq = (a.seq + 1) >>> 0;
          send(out);
          status.setBy('green', 'dot', statusText);
          done();
        } catch (err) {
          done(err as Error);
        }
      });
    } catch (err) {
      refuse(RED, node, err);
    }
    node.on('close', (removed: boolean, done: () => void) => { streams.clear(); status.clear(); done(); });
  }
  RED.nodes.registerType('xcast-opus-decode', OpusDecodeNode);
};

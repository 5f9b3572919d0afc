// Node: resample — the seed's downsampleRatio / upsampleRatio with a windowed-sinc resampler, one per stream.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { Resampler, ratioRates } from '../../runtime/audio/resampler';
import { streamKey } from '../../runtime/audio/stream-key';
import { num } from '../lib/config';
import { refuse, isAudioMsg, AudioMsg } from '../lib/glue';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';
import { shareAudioOnFanout } from '../lib/fanout';

interface ResampleDef extends NodeDef { downsampleRatio: string; upsampleRatio: string }

export = function (RED: NodeAPI) {
  shareAudioOnFanout(RED);
  function ResampleNode(this: Node, config: ResampleDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    const streams = new Map<string, { r: Resampler; inRate: number; outRate: number; channels: number }>();
    // The last stream's rates, in the status made only when it is shown.
    let shown = { inRate: 0, outRate: 0 };
    const statusText = () => t('resample.status.rates', shown);
    try {
      const downsampleRatio = num(config as never, 'downsampleRatio', { def: 1, min: 1, max: 48, int: true });
      const upsampleRatio = num(config as never, 'upsampleRatio', { def: 1, min: 1, max: 48, int: true });
      node.on('input', (msg: Record<string, unknown>, send, done) => {
        if (!isAudioMsg(msg)) { done(new Error(t('xcast.errors.not-audio'))); return; }
        const a = (msg as AudioMsg).audio;
        if (a.codec !== 'pcm_f32le') { done(new Error(t('xcast.errors.wrong-codec', { node: 'resample', want: 'pcm_f32le', got: a.codec }))); return; }
        try {
          const key = streamKey({ userId: msg.userId as string | undefined, trackId: a.trackId, targetUserId: msg.targetUserId as string | undefined });
          let s = streams.get(key);
          if (!s || s.inRate !== a.sampleRate || s.channels !== a.channels) {
            const outRate = ratioRates(a.sampleRate, { downsampleRatio, upsampleRatio });
            s = { r: new Resampler(a.sampleRate, outRate, a.channels), inRate: a.sampleRate, outRate, channels: a.channels };
            streams.set(key, s);
          }
          const out = s.r.process(msg.payload as Buffer);
          const frameSamples = out.length / 4 / a.channels;
          if (frameSamples > 0) send({ ...msg, payload: out, audio: { ...a, sampleRate: s.outRate, frameSamples } });
          shown = s;
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
  RED.nodes.registerType('xcast-resample', ResampleNode);
};

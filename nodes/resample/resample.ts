// Node: resample — the seed's downsampleRatio / upsampleRatio with a windowed-sinc resampler, one per stream.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { Resampler, ratioRates } from '../../runtime/audio/resampler';
import { StreamKeys, OncePerStream, streamLabel } from '../../runtime/audio/stream-key';
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
    const streams = new Map<string, { r: Resampler; inRate: number; outRate: number; channels: number; lastAt: number }>();
    // Streams are keyed by connection too, so every reconnect is a new one: those silent for 30 s are let go.
    let packets = 0;
    const sweep = (now: number) => { for (const [k, st] of streams) if (now - st.lastAt > 30_000) streams.delete(k); };
    // The last stream's rates, in the status made only when it is shown.
    let shown = { inRate: 0, outRate: 0 };
    const keys = new StreamKeys();
    // A stream that is not f32 PCM is said once per stream and counted, not logged per frame.
    const refusals = new OncePerStream();
    const statusText = () => (refusals.total ? `${t('resample.status.rates', shown)}, ${t('resample.status.refused', { count: refusals.total })}` : t('resample.status.rates', shown));
    try {
      const downsampleRatio = num(config as never, 'downsampleRatio', { def: 1, min: 1, max: 1000, int: true });
      const upsampleRatio = num(config as never, 'upsampleRatio', { def: 1, min: 1, max: 1000, int: true });
      node.on('input', (msg: Record<string, unknown>, send, done) => {
        if (!isAudioMsg(msg)) { done(new Error(t('xcast.errors.not-audio'))); return; }
        const a = (msg as AudioMsg).audio;
        const id = { userId: msg.userId as string | undefined, trackId: a.trackId, targetUserId: msg.targetUserId as string | undefined, connectionId: typeof msg.connectionId === 'string' ? msg.connectionId : undefined };
        const key = keys.key(id.userId, id.trackId, id.targetUserId, id.connectionId);
        if (a.codec !== 'pcm_f32le') {
          // The first of each stream is the error a Catch node sees; the rest are counted only.
          status.setBy('yellow', 'dot', statusText);
          done(refusals.refuse(key, 'codec') ? new Error(t('resample.errors.refused-stream', { stream: streamLabel(id), detail: t('xcast.errors.wrong-codec', { node: 'resample', want: 'pcm_f32le', got: String(a.codec) }) })) : undefined);
          return;
        }
        try {
          let s = streams.get(key);
          if (!s || s.inRate !== a.sampleRate || s.channels !== a.channels) {
            const outRate = ratioRates(a.sampleRate, { downsampleRatio, upsampleRatio });
            s = { r: new Resampler(a.sampleRate, outRate, a.channels), inRate: a.sampleRate, outRate, channels: a.channels, lastAt: 0 };
            streams.set(key, s);
          }
          s.lastAt = Date.now();
          if (++packets % 1000 === 0) sweep(s.lastAt);
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
    node.on('close', (removed: boolean, done: () => void) => { streams.clear(); keys.clear(); refusals.clear(); status.clear(); done(); });
  }
  RED.nodes.registerType('xcast-resample', ResampleNode);
};

// Node: mixeradmin client — joins the xcast's metadata with the speaker's state, which getMetrics, /qos/, /metrics and /health answer from.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { buildAggregatedStatesSnapshot } from '../../runtime/qos/snapshot';
import type { MixerAdminSharedState, SpeakerFigures } from '../../runtime/qos/types';
import { num } from '../lib/config';
import { refuse } from '../lib/glue';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';
import { addHttpRoutes, addMetricsSource, type MetricsSource } from '../lib/http-routes';

interface ClientDef extends NodeDef { sampleRate: string; staleMs: string }

export = function (RED: NodeAPI) {
  // The routes (nodes/lib/http-routes.ts) answer from whichever client node is deployed now.
  addHttpRoutes(RED);

  function MixerAdminClientNode(this: Node, config: ClientDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    let entry: MetricsSource | undefined;
    let removeSource: (() => void) | undefined;
    try {
      const sampleRate = num(config as never, 'sampleRate', { def: 48000, min: 8000, max: 192000, int: true });
      const staleMs = num(config as never, 'staleMs', { def: 5000, min: 100 });
      let shared: MixerAdminSharedState | null = null;
      let metadataAt = 0;
      let speaker: SpeakerFigures = { bufferDepthSamples: 0, sampleRate, latencyMs: 0, misses: 0, silenceDetected: true };
      let speakerAt = 0;

      entry = {
        id: node.id,
        lastMetadataAt: () => metadataAt,
        answer: () => {
          const now = Date.now();
          // A speaker that stopped reporting has no input: it shows silence and no misses (docs/metrics.md).
          const sp = now - speakerAt > staleMs ? { ...speaker, bufferDepthSamples: 0, misses: 0, silenceDetected: true } : speaker;
          return buildAggregatedStatesSnapshot({ speaker: sp, sharedState: shared, now });
        },
      };
      removeSource = addMetricsSource(entry);

      node.on('input', (msg: Record<string, unknown>, send, done) => {
        const p = msg.payload as Record<string, unknown> | undefined;
        if (msg.topic === 'metadata' && p && typeof p === 'object') {
          // The seed's readMetadataPacket: the xcast's state rides in the metadata packet under its name.
          const s = (p.mixeradminSharedState ?? null) as MixerAdminSharedState | null;
          if (s && typeof s === 'object') {
            shared = s;
            metadataAt = Date.now();
            const users = Object.keys(s.connections ?? {}).length;
            status.set('green', 'dot', t('mixeradmin-client.status.reported', { count: users }));
          }
        } else if (msg.topic === 'speaker' && p && typeof p === 'object') {
          speaker = {
            bufferDepthSamples: Number(p.bufferDepthSamples) || 0,
            sampleRate: Number(p.sampleRate) || sampleRate,
            latencyMs: Number(p.latencyMs) || 0,
            misses: Number(p.misses) || 0,
            silenceDetected: p.silenceDetected === true,
          };
          speakerAt = Date.now();
        } else if (msg.topic === 'getMetrics') {
          send({ ...msg, payload: entry!.answer() });
        }
        done();
      });
      status.now('yellow', 'ring', t('mixeradmin-client.status.waiting'));
    } catch (err) {
      refuse(RED, node, err);
    }
    node.on('close', (removed: boolean, done: () => void) => {
      removeSource?.();
      status.clear();
      done();
    });
  }
  RED.nodes.registerType('xcast-mixeradmin-client', MixerAdminClientNode);
};

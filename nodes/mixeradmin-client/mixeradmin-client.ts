// Node: mixeradmin client — joins the xcast's metadata with the speaker's state and serves getMetrics, /qos/, /metrics, /health.
import path from 'node:path';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { Request, Response } from 'express';
import { buildAggregatedStatesSnapshot } from '../../runtime/qos/snapshot';
import { createMetricsRegistry } from '../../runtime/qos/prometheus';
import type { GetMetricsAnswer, MixerAdminSharedState, SpeakerFigures } from '../../runtime/qos/types';
import { num } from '../lib/config';
import { refuse } from '../lib/glue';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';

interface ClientDef extends NodeDef { sampleRate: string; staleMs: string }

/** What one deployed client node offers the HTTP routes. */
interface ClientState { id: string; answer(): GetMetricsAnswer; lastMetadataAt(): number }

const clients: ClientState[] = [];
let routesAdded = false;
const startedAt = Date.now();

export = function (RED: NodeAPI) {
  // Routes are added once per process; they answer from whichever client node is deployed now.
  if (!routesAdded) {
    routesAdded = true;
    const prom = createMetricsRegistry();
    const current = () => clients[clients.length - 1];
    RED.httpNode.get('/service/mixeradminclient', (req: Request, res: Response) => {
      if (!('getMetrics' in req.query)) { res.status(400).json({ error: 'use GET /service/mixeradminclient?getMetrics' }); return; }
      const c = current();
      if (!c) { res.status(503).json({ error: 'no mixeradmin client node is deployed' }); return; }
      res.set('Cache-Control', 'no-store').json(c.answer());
    });
    RED.httpNode.get('/metrics', async (_req: Request, res: Response) => {
      const c = current();
      if (!c) { res.status(503).type('text/plain').send('# no mixeradmin client node is deployed\n'); return; }
      prom.update(c.answer());
      res.set('Content-Type', prom.contentType).send(await prom.metrics());
    });
    RED.httpNode.get('/health', (_req: Request, res: Response) => {
      const c = current();
      const metadataAgeMs = c && c.lastMetadataAt() ? Date.now() - c.lastMetadataAt() : null;
      const ok = !!c;
      res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'no mixeradmin client deployed', uptimeS: Math.round((Date.now() - startedAt) / 1000), metadataAgeMs });
    });
    const web = path.join(__dirname, '..', '..', 'runtime', 'web', 'qos');
    RED.httpNode.get('/qos', (req: Request, res: Response, next: () => void) => {
      // The page fetches relative URLs: it must be served from /qos/.
      if (req.originalUrl === '/qos' || req.originalUrl.startsWith('/qos?')) res.redirect(301, req.originalUrl.replace('/qos', '/qos/'));
      else next();
    });
    // Served by the response's own sendFile: express comes with the Node-RED hosting the nodes, not with this package.
    RED.httpNode.get(['/qos/', '/qos/:file'], (req: Request, res: Response, next: () => void) => {
      const file = typeof req.params.file === 'string' ? req.params.file : 'index.html';
      res.sendFile(file, { root: web }, (err) => { if (err && !res.headersSent) next(); });
    });
  }

  function MixerAdminClientNode(this: Node, config: ClientDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    let entry: ClientState | undefined;
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
      clients.push(entry);

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
      const i = entry ? clients.indexOf(entry) : -1;
      if (i >= 0) clients.splice(i, 1);
      status.clear();
      done();
    });
  }
  RED.nodes.registerType('xcast-mixeradmin-client', MixerAdminClientNode);
};

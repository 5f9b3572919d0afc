// The xcast's HTTP routes on RED.httpNode, added once by whichever xcast node set loads first: /metrics on any xcast
// (the transport's counters and the UDP ingest's, plus the QoS series while a mixeradmin client is deployed), and getMetrics, /health and
// the /qos/ dashboard, which answer from the mixeradmin client node deployed now.
//
// They sit behind the launcher's httpNodeAuth (runtime/launcher.ts), like every RED.httpNode route.
import path from 'node:path';
import type { NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import { createMetricsRegistry, createTransportMetrics, createUdpMetrics, exposition } from '../../runtime/qos/prometheus';
import { udpTotals } from '../../runtime/protocol/udp-server';
import { transportStats } from '../../runtime/protocol/limits';
import type { GetMetricsAnswer } from '../../runtime/qos/types';

/** What one deployed mixeradmin client node offers the routes. */
export interface MetricsSource { id: string; answer(): GetMetricsAnswer; lastMetadataAt(): number }

const sources: MetricsSource[] = [];
const startedAt = Date.now();
/** The httpNode apps that have the routes (one per Node-RED; a test helper may make several in one process). */
const served = new WeakSet<object>();

/** A mixeradmin client node's state, answered from until it is removed (the last one deployed wins). */
export function addMetricsSource(s: MetricsSource): () => void {
  sources.push(s);
  return () => {
    const i = sources.indexOf(s);
    if (i >= 0) sources.splice(i, 1);
  };
}

const current = (): MetricsSource | undefined => sources[sources.length - 1];

/** Adds the routes to this Node-RED's httpNode, once. */
export function addHttpRoutes(RED: NodeAPI): void {
  const app = RED.httpNode as unknown as object;
  if (!app || served.has(app)) return;
  served.add(app);
  const prom = createMetricsRegistry();
  const transport = createTransportMetrics();
  const udp = createUdpMetrics();

  RED.httpNode.get('/service/mixeradminclient', (req: Request, res: Response) => {
    if (!('getMetrics' in req.query)) { res.status(400).json({ error: 'use GET /service/mixeradminclient?getMetrics' }); return; }
    const c = current();
    if (!c) { res.status(503).json({ error: 'no mixeradmin client node is deployed' }); return; }
    res.set('Cache-Control', 'no-store').json(c.answer());
  });
  RED.httpNode.get('/metrics', async (_req: Request, res: Response) => {
    transport.update(transportStats.snapshot());
    udp.update(udpTotals);
    const c = current();
    const regs = [transport.registry, udp.registry];
    if (c) { prom.update(c.answer()); regs.unshift(prom.registry); }
    const { contentType, text } = await exposition(regs);
    res.set('Content-Type', contentType).set('Cache-Control', 'no-store').send(text);
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

// Test support: GET /service/mixeradminclient?getMetrics of a running xcast with the monitor preset deployed.
import http from 'node:http';
import type { GetMetricsAnswer } from '../../runtime/qos/types';

export function getMetrics(baseUrl: string): Promise<GetMetricsAnswer> {
  return new Promise((resolve, reject) => {
    http.get(`${baseUrl}/service/mixeradminclient?getMetrics`, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        if (res.statusCode !== 200) { reject(new Error(`getMetrics answered ${res.statusCode}: ${body.slice(0, 200)}`)); return; }
        try { resolve(JSON.parse(body) as GetMetricsAnswer); } catch (e) { reject(e); }
      });
    }).on('error', reject);
  });
}

/** Polls getMetrics (every 100 ms) until `pred` holds; resolves with that answer or rejects with the last one. */
export async function getMetricsWhere(baseUrl: string, pred: (a: GetMetricsAnswer) => boolean, timeoutMs: number): Promise<GetMetricsAnswer> {
  const end = Date.now() + timeoutMs;
  let last: GetMetricsAnswer | undefined;
  for (;;) {
    try { last = await getMetrics(baseUrl); if (pred(last)) return last; } catch { /* not up yet */ }
    if (Date.now() > end) throw new Error(`getMetrics never matched in ${timeoutMs} ms; last: ${JSON.stringify(last?.aggregatedStatesSnapshot)?.slice(0, 3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

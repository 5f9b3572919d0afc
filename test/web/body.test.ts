// runtime/web/body.ts on a real HTTP server, with and without a body parser in front (the launcher mounts Node-RED's
// admin app, which parses JSON and urlencoded bodies, at the same root as the node routes).
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { readBody } from '../../runtime/web/body';

async function serve(parsers: boolean): Promise<{ url: string; close: () => Promise<void> }> {
  const app = express();
  if (parsers) { app.use(express.json({ limit: '5mb' })); app.use(express.urlencoded({ extended: true })); }
  app.post('/x', (req, res) => {
    readBody(req, 64).then((text) => res.json({ text }), () => res.status(500).end());
  });
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`, close: () => new Promise((r) => server.close(() => r())) };
}

async function post(url: string, body: string, type: string): Promise<unknown> {
  const r = await fetch(url, { method: 'POST', body, headers: { 'Content-Type': type } });
  return ((await r.json()) as { text: unknown }).text;
}

describe('readBody (runtime/web/body.ts)', () => {
  for (const parsers of [false, true]) {
    it(`${parsers ? 'behind JSON and urlencoded parsers' : 'on the raw stream'}: JSON as sent, curl -d's urlencoded JSON as sent, a form never JSON, a long body null (parsed or not)`, async () => {
      const s = await serve(parsers);
      try {
        const json = '{"userId":"alice","gainDb":-6}';
        assert.deepEqual(JSON.parse(String(await post(s.url, json, 'application/json'))), { userId: 'alice', gainDb: -6 });
        assert.deepEqual(JSON.parse(String(await post(s.url, json, 'application/x-www-form-urlencoded'))), { userId: 'alice', gainDb: -6 });
        const form = await post(s.url, 'a=1&b=2', 'application/x-www-form-urlencoded');
        assert.throws(() => JSON.parse(String(form)));
        if (!parsers) assert.equal(await post(s.url, 'x'.repeat(65), 'text/plain'), null);
        // a long body the parser took is bounded the same, a nesting too deep to give back as text too
        assert.equal(await post(s.url, JSON.stringify({ a: 'x'.repeat(100) }), 'application/json'), null);
        if (parsers) assert.equal(await post(s.url, '['.repeat(40000) + ']'.repeat(40000), 'application/json'), null);
      } finally {
        await s.close();
      }
    });
  }
});

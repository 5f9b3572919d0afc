// A hub on a real HTTP server (Node's own: the node puts the same handler on Node-RED's httpNode), and its clients,
// all closed after each test.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RtcHub, RtcHubOptions, serveSignaling } from '../../runtime/webrtc';
import { RtcClient, RtcClientOptions, waitFor } from '../support/rtc-client';

export const BASE_PATH = '/xcast/rtc';

export interface HubFixture {
  hub: RtcHub;
  /** http://127.0.0.1:PORT/xcast/rtc */
  base: string;
  server: http.Server;
  client(o: Omit<RtcClientOptions, 'base'>): RtcClient;
  /** A client connected on both sides (the server's 'connected' too: the mix reaches it from then on). */
  join(o: Omit<RtcClientOptions, 'base'>): Promise<RtcClient>;
  close(): Promise<void>;
}

export async function startHub(o: Partial<RtcHubOptions> = {}): Promise<HubFixture> {
  const hub = new RtcHub({ rooms: 'auto', maxPeers: 64, ...o });
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (!url.startsWith(BASE_PATH + '/')) { res.statusCode = 404; res.end(); return; }
    void serveSignaling(hub, req, res, url.slice(BASE_PATH.length));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}${BASE_PATH}`;
  const clients: RtcClient[] = [];
  const client = (co: Omit<RtcClientOptions, 'base'>) => {
    const c = new RtcClient({ base, ...co });
    clients.push(c);
    return c;
  };
  return {
    hub, base, server, client,
    async join(co) {
      const c = client(co);
      await c.connect();
      const id = c.answer!.clientId;
      const peers = (hub as unknown as { byClient: Map<string, { info: { state: string } }> }).byClient;
      await waitFor(() => peers.get(id)?.info.state === 'connected', 10_000, `the server side of ${co.userId} connected`);
      return c;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      await hub.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

// Micro-bench (not a test): CPU of this process per 10,000 AUDIO frames client -> server, plain TCP vs TLS, both ends
// in this one process. Run: npm run build && node dist/test/protocol/tls-bench.js [rounds]

import { once } from 'node:events';
import { Codec, type AudioHeader } from '../../runtime/protocol/frame';
import { StreamClient, StreamServer, type StreamConnection } from '../../runtime/protocol/transport';
import { makeTestCerts } from './tls-certs';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { OpusEncoder } = require('@discordjs/opus') as { OpusEncoder: new (rate: number, channels: number) => { encode(pcm: Buffer): Buffer; setBitrate(b: number): void } };

const FRAMES = 10_000;

function noisePacket(): Buffer {
  const enc = new OpusEncoder(48000, 2);
  enc.setBitrate(128_000);
  const pcm = Buffer.alloc(480 * 2 * 2);
  let x = 1;
  for (let i = 0; i < pcm.length; i += 2) { x = (x * 1103515245 + 12345) >>> 0; pcm.writeInt16LE(((x >>> 16) & 0x7fff) - 16384, i); }
  return enc.encode(pcm);
}

async function run(label: string, pace: 'burst' | 'paced', tlsOn: boolean, certs: ReturnType<typeof makeTestCerts>, packet: Buffer): Promise<number> {
  const server = new StreamServer({ pingIntervalMs: 0, ...(tlsOn ? { tls: { cert: certs.serverCert, key: certs.serverKey } } : {}) });
  const { port } = await server.listen();
  const client = new StreamClient({ port, hello: { userId: 'bench', role: 'peer' }, pingIntervalMs: 0, ...(tlsOn ? { tls: { ca: certs.caCert } } : {}) });
  const accepted = once(server, 'connection') as Promise<[StreamConnection]>;
  const connected = once(client, 'connect') as Promise<[StreamConnection]>;
  client.start();
  const [[conn], [sconn]] = await Promise.all([connected, accepted]);
  let received = 0;
  let wake: (() => void) | undefined;
  sconn.on('audio', () => { received++; if (wake && received % 250 === 0) wake(); });
  const h: AudioHeader = { trackId: 1, seq: 0, captureTime: 1763740000000000, sampleRate: 48000, channels: 2, codec: Codec.OPUS, frameSamples: 480 };
  const t0 = process.cpuUsage();
  const w0 = performance.now();
  for (let i = 0; i < FRAMES; i++) {
    h.seq = i;
    h.captureTime += 10000;
    conn.sendAudio(h, packet);
    if (pace === 'paced') await new Promise<void>((r) => setImmediate(r));
    else if ((i + 1) % 250 === 0) await new Promise<void>((r) => { wake = r; if (received >= i + 1) r(); });
  }
  while (received < FRAMES - conn.counters.audioDropped) await new Promise<void>((r) => setImmediate(r));
  const cpu = process.cpuUsage(t0);
  const wall = performance.now() - w0;
  const ms = (cpu.user + cpu.system) / 1000;
  console.log(`${label.padEnd(5)} ${pace.padEnd(6)} ${FRAMES} frames of ${packet.length} B: CPU ${ms.toFixed(1)} ms (${(ms * 1000 / FRAMES).toFixed(1)} µs/frame, both ends), wall ${wall.toFixed(0)} ms, dropped ${conn.counters.audioDropped}`);
  await client.close();
  await server.close();
  return ms;
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 3);
  const certs = makeTestCerts();
  const packet = noisePacket();
  try {
    for (const pace of ['burst', 'paced'] as const) {
      const tcp: number[] = [];
      const tls: number[] = [];
      await run('warm', pace, false, certs, packet);
      await run('warm', pace, true, certs, packet);
      for (let r = 0; r < rounds; r++) {
        tcp.push(await run('tcp', pace, false, certs, packet));
        tls.push(await run('tls', pace, true, certs, packet));
      }
      const med = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
      console.log(`${pace}: median CPU per 10k frames — tcp ${med(tcp).toFixed(1)} ms, tls ${med(tls).toFixed(1)} ms, ratio ${(med(tls) / med(tcp)).toFixed(2)}`);
    }
  } finally {
    certs.remove();
  }
}

void main();

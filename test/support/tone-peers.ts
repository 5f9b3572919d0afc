// Test support: many streamproto1 peers in one process, each a real StreamClient sending real Opus (a 10 ms stereo
// 48 kHz tone, encoded once and looped) in real time, with one timer that catches up on every wake-up.
import { performance } from 'node:perf_hooks';
import { OpusEncoder } from '../../runtime/audio/opus';
import { Codec, encodeAudioFrame, type AudioHeader } from '../../runtime/protocol/frame';
import { StreamClient, type StreamClientHello } from '../../runtime/protocol/transport';
import { nowMicros } from '../../runtime/clock';

const RATE = 48000;
const FRAME = 480;

let packets: Buffer[] | undefined;
/** One second of a 440 Hz tone, 100 Opus packets of 10 ms, stereo, 64 kbit/s. */
export function tonePackets(): Buffer[] {
  if (packets) return packets;
  const enc = new OpusEncoder({ sampleRate: RATE, channels: 2, frameSamples: FRAME, bitrate: 64000, complexity: 5 });
  const pcm = Buffer.alloc(FRAME * 2 * 4);
  packets = [];
  for (let k = 0; k < 100; k++) {
    for (let i = 0; i < FRAME; i++) {
      const v = 0.2 * Math.sin((2 * Math.PI * 440 * (k * FRAME + i)) / RATE);
      pcm.writeFloatLE(v, i * 8);
      pcm.writeFloatLE(v, i * 8 + 4);
    }
    packets.push(enc.encode(pcm));
  }
  return packets;
}

export interface TonePeer {
  userId: string;
  client: StreamClient;
  connected: boolean;
  sent: number;
  startedAt: number;
}

export class TonePeers {
  readonly peers = new Map<string, TonePeer>();
  private timer: NodeJS.Timeout | undefined;
  private ticks = 0;
  private readonly t0 = performance.now();
  private readonly header: AudioHeader = { trackId: 1, seq: 0, captureTime: 0, sampleRate: RATE, channels: 2, codec: Codec.OPUS, frameSamples: FRAME };
  private readonly seqs = new Map<string, number>();

  constructor(private readonly port: number, private readonly host = '127.0.0.1', private readonly hello: Partial<StreamClientHello> = {}) {
    tonePackets();
    // One timer for all: each wake-up sends every frame that is due by now (no drift, no burst beyond a stall).
    this.timer = setInterval(() => this.tick(), 5);
  }

  add(userId: string): TonePeer {
    const client = new StreamClient({ host: this.host, port: this.port, hello: { role: 'peer', ...this.hello, userId }, backoffMinMs: 100, backoffMaxMs: 1000 });
    const p: TonePeer = { userId, client, connected: false, sent: 0, startedAt: Date.now() };
    client.on('connect', () => { p.connected = true; });
    client.on('disconnect', () => { p.connected = false; });
    this.peers.set(userId, p);
    this.seqs.set(userId, 0);
    client.start();
    return p;
  }

  async remove(userId: string): Promise<void> {
    const p = this.peers.get(userId);
    if (!p) return;
    this.peers.delete(userId);
    this.seqs.delete(userId);
    await p.client.close();
  }

  private tick(): void {
    const due = Math.floor((performance.now() - this.t0) / 10);
    const pk = packets!;
    while (this.ticks < due) {
      const packet = pk[this.ticks % pk.length];
      this.ticks++;
      const now = nowMicros();
      for (const p of this.peers.values()) {
        const conn = p.client.connection;
        if (!conn) continue;
        const seq = this.seqs.get(p.userId)!;
        this.header.seq = seq;
        this.header.captureTime = now;
        conn.send(encodeAudioFrame(this.header, packet));
        this.seqs.set(p.userId, (seq + 1) >>> 0);
        p.sent++;
      }
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all([...this.peers.keys()].map((u) => this.remove(u)));
  }
}

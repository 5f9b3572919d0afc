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

/** A peer's own tone (TonePeers.add): frequency, level, the room its HELLO names and its name. */
export interface ToneSpec {
  /** Hz, a whole number: one second of packets loops seamlessly. */
  frequency: number;
  /** Sine amplitude (1 = full scale: a peak of 0 dBFS, 0 dB on the console's sine-referenced RMS meter). */
  amplitude: number;
  /** The room its HELLO names (absent: main). */
  room?: string;
  name?: string;
}

const cache = new Map<string, Buffer[]>();
/** One second of a stereo tone of its own as 100 Opus packets of 10 ms, 64 kbit/s (encoded once per tone). */
export function tonePacketsOf(frequency: number, amplitude: number): Buffer[] {
  const key = `${frequency}@${amplitude}`;
  const have = cache.get(key);
  if (have) return have;
  const enc = new OpusEncoder({ sampleRate: RATE, channels: 2, frameSamples: FRAME, bitrate: 64000, complexity: 5 });
  const pcm = Buffer.alloc(FRAME * 2 * 4);
  const out: Buffer[] = [];
  // Two seconds encoded, the second kept: the encoder's start-up is not in the loop.
  for (let k = 0; k < 200; k++) {
    for (let i = 0; i < FRAME; i++) {
      const v = amplitude * Math.sin((2 * Math.PI * frequency * (k * FRAME + i)) / RATE);
      pcm.writeFloatLE(v, i * 8);
      pcm.writeFloatLE(v, i * 8 + 4);
    }
    const p = enc.encode(pcm);
    if (k >= 100) out.push(Buffer.from(p));
  }
  cache.set(key, out);
  return out;
}

export interface TonePeer {
  userId: string;
  client: StreamClient;
  connected: boolean;
  /** When its connection last opened (ms since epoch). */
  connectedAt: number;
  sent: number;
  startedAt: number;
  /** Its own tone (add() with a spec), else the shared 440 Hz. */
  spec?: ToneSpec;
  /** False: it sends no audio while its connection stays (the mixer's timeout then drops the track). */
  sending: boolean;
  seq: number;
  packets: Buffer[];
}

export class TonePeers {
  readonly peers = new Map<string, TonePeer>();
  private timer: NodeJS.Timeout | undefined;
  private ticks = 0;
  private readonly t0 = performance.now();
  private readonly header: AudioHeader = { trackId: 1, seq: 0, captureTime: 0, sampleRate: RATE, channels: 2, codec: Codec.OPUS, frameSamples: FRAME };

  constructor(private readonly port: number, private readonly host = '127.0.0.1', private readonly hello: Partial<StreamClientHello> = {}) {
    tonePackets();
    // One timer for all: each wake-up sends every frame that is due by now (no drift, no burst beyond a stall).
    this.timer = setInterval(() => this.tick(), 5);
  }

  /** A peer playing the shared 440 Hz tone, or `spec`'s (its room and name in its HELLO, the tone in its profile). */
  add(userId: string, spec?: ToneSpec): TonePeer {
    const hello: StreamClientHello = spec
      ? { role: 'peer', ...this.hello, userId, name: spec.name ?? userId, profile: { kind: 'tone', tone: `${spec.frequency} Hz`, ...(spec.room ? { room: spec.room } : {}) } }
      : { role: 'peer', ...this.hello, userId };
    const client = new StreamClient({ host: this.host, port: this.port, hello, backoffMinMs: 100, backoffMaxMs: spec ? 500 : 1000 });
    const p: TonePeer = { userId, client, connected: false, connectedAt: 0, sent: 0, startedAt: Date.now(), spec, sending: true, seq: 0, packets: spec ? tonePacketsOf(spec.frequency, spec.amplitude) : tonePackets() };
    client.on('connect', () => { p.connected = true; p.connectedAt = Date.now(); });
    client.on('disconnect', () => { p.connected = false; });
    this.peers.set(userId, p);
    client.start();
    return p;
  }

  /** Stops (false) or resumes (true) sending audio; the connection stays. */
  setSending(userId: string, on: boolean): void {
    const p = this.peers.get(userId);
    if (p) p.sending = on;
  }

  async remove(userId: string): Promise<void> {
    const p = this.peers.get(userId);
    if (!p) return;
    this.peers.delete(userId);
    await p.client.close();
  }

  private tick(): void {
    const due = Math.floor((performance.now() - this.t0) / 10);
    while (this.ticks < due) {
      const k = this.ticks++;
      const now = nowMicros();
      for (const p of this.peers.values()) {
        const conn = p.client.connection;
        if (!conn || !p.sending) continue;
        this.header.seq = p.seq;
        this.header.captureTime = now;
        conn.send(encodeAudioFrame(this.header, p.packets[k % p.packets.length]));
        p.seq = (p.seq + 1) >>> 0;
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

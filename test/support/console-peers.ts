// Test support for the console: streamproto1 peers each playing a tone of its own (frequency, level, room) as real
// Opus from a real StreamClient in real time (TonePeers' one-timer pacing), that can stop sending while staying
// connected (the mixer's timeout then drops the track); and a listener on the xcast's mix output that decodes it
// (real libopus, frames in order, a gap concealed) and measures a tone's level per channel over what arrived in a
// time window.
import { performance } from 'node:perf_hooks';
import { OpusDecoder, OpusEncoder } from '../../runtime/audio/opus';
import { Codec, encodeAudioFrame, type AudioHeader } from '../../runtime/protocol/frame';
import { StreamClient } from '../../runtime/protocol/transport';
import { nowMicros } from '../../runtime/clock';
import { toneLevelDb } from '../../runtime/audio/analysis';

const RATE = 48000;
const FRAME = 480;

export interface ToneSpec {
  /** Hz, a whole number: one second of packets loops seamlessly. */
  frequency: number;
  /** Sine amplitude (1 = full scale: a peak of 0 dBFS, 0 dB on the console's sine-referenced RMS meter). */
  amplitude: number;
  /** The room its HELLO names (absent: main). */
  room?: string;
  name?: string;
}

export interface ToneSender {
  userId: string;
  spec: ToneSpec;
  client: StreamClient;
  connected: boolean;
  /** When its connection last opened (ms since epoch). */
  connectedAt: number;
  sending: boolean;
  sent: number;
  seq: number;
  packets: Buffer[];
}

const cache = new Map<string, Buffer[]>();
/** One second of a stereo tone as 100 Opus packets of 10 ms, 64 kbit/s (encoded once per tone). */
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

export class ToneSenders {
  readonly peers = new Map<string, ToneSender>();
  private timer: NodeJS.Timeout | undefined;
  private ticks = 0;
  private readonly t0 = performance.now();
  private readonly header: AudioHeader = { trackId: 1, seq: 0, captureTime: 0, sampleRate: RATE, channels: 2, codec: Codec.OPUS, frameSamples: FRAME };

  constructor(private readonly port: number, private readonly host = '127.0.0.1') {
    this.timer = setInterval(() => this.tick(), 5);
  }

  add(userId: string, spec: ToneSpec): ToneSender {
    // the room goes in the profile: the socket reader takes a HELLO's room from there (runtime/rooms.ts helloRoom)
    const profile: Record<string, string> = { kind: 'tone', tone: `${spec.frequency} Hz`, ...(spec.room ? { room: spec.room } : {}) };
    const client = new StreamClient({
      host: this.host, port: this.port, backoffMinMs: 100, backoffMaxMs: 500,
      hello: { role: 'peer', userId, name: spec.name ?? userId, profile },
    });
    const p: ToneSender = { userId, spec, client, connected: false, connectedAt: 0, sending: true, sent: 0, seq: 0, packets: tonePacketsOf(spec.frequency, spec.amplitude) };
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

interface Heard { at: number; pcm: Float32Array }

/** Levels (dB) of pieces of one tone → one level: the pieces within 1 dB of their median, power-averaged. */
export function robustLevel(levels: number[]): number {
  if (levels.length === 0) return -Infinity;
  const sorted = [...levels].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  if (!Number.isFinite(median)) return median;
  const kept = levels.filter((v) => Math.abs(v - median) <= 1);
  return 10 * Math.log10(kept.reduce((sum, v) => sum + Math.pow(10, v / 10), 0) / kept.length);
}

/** A streamproto1 receiver (role monitor) of the xcast's mix: decodes every frame and keeps the last `seconds`. */
export class MixListener {
  readonly client: StreamClient;
  private readonly decoder = new OpusDecoder({ sampleRate: RATE, channels: 2 });
  private readonly heard: Heard[] = [];
  private nextSeq = -1;
  private waiters: Array<{ t: number; resolve: () => void }> = [];
  frames = 0;
  concealed = 0;

  constructor(port: number, userId = 'console-test-listener', host = '127.0.0.1', private readonly seconds = 8) {
    this.client = new StreamClient({ host, port, hello: { userId, role: 'monitor' }, backoffMinMs: 100, backoffMaxMs: 500 });
    this.client.on('connect', (conn) => {
      this.nextSeq = -1;
      conn.on('audio', (h, data: Buffer) => this.onAudio(h.seq, h.codec, data));
    });
    this.client.start();
  }

  private onAudio(seq: number, codec: number, data: Buffer): void {
    if (codec !== Codec.OPUS) return;
    const now = Date.now();
    if (this.nextSeq >= 0) {
      const d = (seq - this.nextSeq) >>> 0;
      if (d >= 0x80000000) return; // old
      for (let i = 0; i < Math.min(d, 50); i++) { this.keep(now, this.decoder.conceal(FRAME)); this.concealed++; }
    }
    this.nextSeq = (seq + 1) >>> 0;
    let pcm: Buffer;
    try { pcm = this.decoder.decode(data); } catch { pcm = this.decoder.conceal(FRAME); this.concealed++; }
    this.keep(now, pcm);
    this.frames++;
    this.waiters = this.waiters.filter((w) => { if (now >= w.t) { w.resolve(); return false; } return true; });
  }

  private keep(at: number, pcm: Buffer): void {
    const f = new Float32Array(pcm.length / 4);
    for (let i = 0; i < f.length; i++) f[i] = pcm.readFloatLE(i * 4);
    this.heard.push({ at, pcm: f });
    while (this.heard.length > this.seconds * 100) this.heard.shift();
  }

  /** Resolves once a mix frame has arrived at or after `t` (ms since epoch), or rejects after `timeoutMs`. */
  until(t: number, timeoutMs = 10000): Promise<void> {
    const last = this.heard[this.heard.length - 1];
    if (last && last.at >= t) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no mix frame at the listener after ${new Date(t).toISOString()} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ t, resolve: () => { clearTimeout(timer); resolve(); } });
    });
  }

  /** The interleaved stereo of the frames that arrived in [from, to] (ms since epoch). */
  window(from: number, to: number): Float32Array {
    const parts = this.heard.filter((x) => x.at >= from && x.at <= to);
    const out = new Float32Array(parts.reduce((n, x) => n + x.pcm.length, 0));
    let o = 0;
    for (const x of parts) { out.set(x.pcm, o); o += x.pcm.length; }
    return out;
  }

  /**
   * The level of `f` Hz in each channel over `ms` of mix that arrives from `from` on (waits for it to arrive), from
   * its 250 ms pieces (a narrow band: little of the codecs' noise beside the tone): those more than 1 dB off their
   * median are left out (a stall of this loaded machine has frames concealed here or at the xcast), the rest
   * power-averaged. `seconds` of audio analysed: the frames of [from, from + ms].
   */
  async levelsOver(f: number, from: number, ms = 1000): Promise<{ left: number; right: number; seconds: number }> {
    await this.until(from + ms);
    const w = this.window(from, from + ms);
    const piece = (RATE / 4) * 2;
    const l: number[] = [], r: number[] = [];
    for (let o = 0; o + piece <= w.length; o += piece) {
      const p = w.subarray(o, o + piece);
      l.push(toneLevelDb(p, 2, 0, f, RATE));
      r.push(toneLevelDb(p, 2, 1, f, RATE));
    }
    return { left: robustLevel(l), right: robustLevel(r), seconds: w.length / 2 / RATE };
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

// Test support for the console (its tone peers are TonePeers with a ToneSpec each, test/support/tone-peers.ts): a
// listener on the xcast's mix output that decodes it
// (real libopus, frames in order, a gap concealed) and measures a tone's level per channel over what arrived in a
// time window.
import { OpusDecoder } from '../../runtime/audio/opus';
import { Codec } from '../../runtime/protocol/frame';
import { StreamClient } from '../../runtime/protocol/transport';
import { toneLevelDb } from '../../runtime/audio/analysis';

const RATE = 48000;
const FRAME = 480;

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

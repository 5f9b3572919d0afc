// Bench: what one mix-minus Opus encode costs by complexity, and what it does to the audio — CPU time per 10 ms
// stereo frame (this thread's, from process.cpuUsage, so other processes on the core do not count) and the SNR of
// the decoded signal against its input, on a mix-like signal (many voices' worth of tones under noise) and on a tone.
//
//   node dist/bench/encode-cost.js [frames=3000] [bitrate kbit/s=64] [complexities=10,5,3,2,1,0] [application=audio]
import { OpusDecoder, OpusEncoder, type OpusApplication } from '../runtime/audio/opus';
import { alignSignals, toneLevelDb, estimateFrequency } from '../runtime/audio/analysis';
import { NoiseGenerator, ToneGenerator } from '../runtime/audio/signals';

const SR = 48000;
const FRAME = 480;
const CH = 2;

/** A signal like a busy mix: a 1 kHz tone (the bench's tone peer), 40 voices' worth of low tones, and noise at −40 dBFS. */
function mixSignal(frames: number): Float32Array[] {
  const tone = new ToneGenerator({ frequency: 1000, amplitude: 0.2, sampleRate: SR, channels: CH });
  const voices = Array.from({ length: 40 }, (_, i) => new ToneGenerator({ frequency: 110 + 37 * i, amplitude: 0.01, sampleRate: SR, channels: CH, phase: i / 40 }));
  const noise = new NoiseGenerator({ amplitude: 0.01, channels: CH, seed: 7 });
  const out: Float32Array[] = [];
  for (let f = 0; f < frames; f++) {
    const a = new Float32Array(tone.next(FRAME).buffer.slice(0));
    for (const v of voices) {
      const b = new Float32Array(v.next(FRAME).buffer);
      for (let i = 0; i < a.length; i++) a[i] += b[i];
    }
    const n = new Float32Array(noise.next(FRAME).buffer);
    for (let i = 0; i < a.length; i++) a[i] += n[i];
    out.push(a);
  }
  return out;
}

function toneSignal(frames: number): Float32Array[] {
  const g = new ToneGenerator({ frequency: 440, amplitude: 0.5, sampleRate: SR, channels: CH });
  return Array.from({ length: frames }, () => new Float32Array(g.next(FRAME).buffer));
}

function leftOf(frames: Float32Array[], skip: number): Float64Array {
  const out = new Float64Array((frames.length - skip) * FRAME);
  for (let f = skip; f < frames.length; f++) for (let i = 0; i < FRAME; i++) out[(f - skip) * FRAME + i] = frames[f][i * CH];
  return out;
}

function run(signal: Float32Array[], complexity: number, bitrate: number, application: OpusApplication): { usPerFrame: number; snrDb: number; bytes: number; decoded: Float32Array[] } {
  const enc = new OpusEncoder({ sampleRate: SR, channels: CH, frameSamples: FRAME, bitrate, complexity, application });
  const dec = new OpusDecoder({ sampleRate: SR, channels: CH });
  const pcm = signal.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength));
  // Warm up (JIT, caches), then time the encodes alone.
  for (let i = 0; i < 200; i++) enc.encode(pcm[i % pcm.length]);
  const packets: Buffer[] = [];
  const c0 = process.cpuUsage();
  for (const p of pcm) packets.push(enc.encode(p));
  const c = process.cpuUsage(c0);
  const decoded = packets.map((p) => new Float32Array(dec.decode(p).buffer.slice(0)));
  let bytes = 0;
  for (const p of packets) bytes += p.length;
  // The first 50 frames are the decoder's start-up; the rest is compared with the input, aligned (Opus delays 6.5 ms).
  const ref = leftOf(signal, 50);
  const test = leftOf(decoded, 50);
  const snr = alignSignals(ref.subarray(0, 48000), test.subarray(0, 48000 + 2000), 1000).snrDb;
  return { usPerFrame: (c.user + c.system) / packets.length, snrDb: snr, bytes: bytes / packets.length, decoded };
}

function main(): void {
  const frames = Number(process.argv[2] ?? 3000);
  const bitrate = Number(process.argv[3] ?? 64) * 1000;
  const cs = (process.argv[4] ?? '10,5,3,2,1,0').split(',').map(Number);
  const application = (process.argv[5] ?? 'audio') as OpusApplication;
  const mix = mixSignal(frames);
  const tone = toneSignal(Math.min(frames, 500));
  const rows = [];
  for (const c of cs) {
    const m = run(mix, c, bitrate, application);
    const t = run(tone, c, bitrate, application);
    const left = leftOf(t.decoded, 50);
    rows.push({
      complexity: c, usPerFrame: Math.round(m.usPerFrame * 10) / 10, mixSnrDb: Math.round(m.snrDb * 10) / 10, bytesPerFrame: Math.round(m.bytes),
      toneSnrDb: Math.round(t.snrDb * 10) / 10, toneHz: Math.round(estimateFrequency(left, SR) * 10) / 10, toneDbfs: Math.round(toneLevelDb(left, 1, 0, 440, SR) * 100) / 100,
    });
  }
  process.stdout.write(`${JSON.stringify({ bitrate, application, frames, channels: CH, frameMs: 10 })}\n`);
  for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
}

main();

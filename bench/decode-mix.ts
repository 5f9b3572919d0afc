// Bench: CPU time the xcast's own decode + mix path (Mixer: playout buffers, libopus, gain sum) spends per stream-second, on the bench's packets.
//
// Run as a child process (pinned with taskset like ffmpeg's reference run) so both are measured the same way:
// `node dist/bench/decode-mix.js PACKETS.json STREAMS SECONDS` prints one JSON line { cpuSeconds, streamSeconds }.
import { Mixer } from '../runtime/audio/mixer';
import { loadPacketSet, SAMPLE_RATE, CHANNELS } from './lib/packets';

export interface DecodeMixResult {
  cpuSeconds: number;
  wallSeconds: number;
  streamSeconds: number;
  msPerStreamSecond: number;
}

export function runDecodeMix(packetsFile: string, streams: number, seconds: number): DecodeMixResult {
  const set = loadPacketSet(packetsFile);
  const loop = set.filler.packets;
  const fs = set.frameSamples;
  const frames = Math.round((seconds * SAMPLE_RATE) / fs);
  const mixer = new Mixer({ sampleRate: SAMPLE_RATE, channels: CHANNELS, frameSamples: fs });
  const users = Array.from({ length: streams }, (_, i) => `s${i}`);
  // The same rotation the Ogg files for ffmpeg get: stream i starts i × 37 packets into the loop.
  const headers = users.map(() => ({ seq: 0, codec: 'opus' as const, sampleRate: SAMPLE_RATE, channels: CHANNELS, frameSamples: fs, trackId: 1 }));
  const frameUs = (fs * 1e6) / SAMPLE_RATE;
  const t0 = Date.now() * 1000;
  const cpu0 = process.cpuUsage();
  const w0 = process.hrtime.bigint();
  for (let k = 0; k < frames; k++) {
    const now = t0 + k * frameUs;
    for (let i = 0; i < streams; i++) {
      const h = headers[i];
      h.seq = k;
      mixer.push(users[i], h, loop[(k + i * 37) % loop.length], now);
    }
    mixer.tick(now);
  }
  const cpu = process.cpuUsage(cpu0);
  const wall = Number(process.hrtime.bigint() - w0) / 1e9;
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return { cpuSeconds, wallSeconds: wall, streamSeconds: streams * seconds, msPerStreamSecond: (cpuSeconds * 1000) / (streams * seconds) };
}

if (require.main === module) {
  const [file, streams, seconds] = process.argv.slice(2);
  const r = runDecodeMix(file, Number(streams), Number(seconds));
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

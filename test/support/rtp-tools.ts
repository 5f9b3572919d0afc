// Test support: the outside RTP tools (ffmpeg, GStreamer) as child processes, UDP port pairs for them to bind, and
// measuring a tone's frequency in a mix that holds more than one.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { toneAmplitude, toneLevelDb } from '../../runtime/audio/analysis';

export async function bindUdp(port = 0): Promise<Socket> {
  const s = createSocket('udp4');
  s.bind(port, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

export { freePortPair } from './ports';

/** An outside tool run by a test: its stdout kept, its stderr for the failure message; killed by stop(). */
export class Tool {
  readonly proc: ChildProcess;
  readonly out: Buffer[] = [];
  outBytes = 0;
  err = '';
  exited: Promise<number | null>;

  constructor(readonly cmd: string, args: string[]) {
    this.proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (d: Buffer) => { this.out.push(d); this.outBytes += d.length; });
    this.proc.stderr!.on('data', (d: Buffer) => { if (this.err.length < 20000) this.err += d.toString(); });
    this.exited = new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)));
  }

  /** stdout as f32 samples. */
  f32(): Float32Array {
    const all = Buffer.concat(this.out);
    const copy = new Uint8Array(all.length & ~3);
    copy.set(all.subarray(0, copy.length));
    return new Float32Array(copy.buffer);
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGKILL');
      await this.exited;
    }
  }
}

/** Fails the test when `cmd` is missing (scripts/setup-system.sh installs ffmpeg and GStreamer: not a skip). */
export function requireTool(cmd: string, versionArg: string, pkg: string): void {
  assert.equal(spawnSync(cmd, [versionArg]).status, 0, `${cmd} is needed (sh scripts/setup-system.sh installs ${pkg})`);
}

/**
 * The frequency of the tone near `nominal` (± 5 Hz) in one channel: the maximum of the Hann-windowed single-bin DFT
 * (toneAmplitude) by golden-section search, so other tones in the mix do not move it.
 */
export function toneFrequencyNear(samples: Float32Array, channels: number, channel: number, nominal: number, sampleRate: number): number {
  let a = nominal - 5, b = nominal + 5;
  const g = (Math.sqrt(5) - 1) / 2;
  const f = (x: number) => toneAmplitude(samples, channels, channel, x, sampleRate);
  // A coarse grid first: the search starts inside the main lobe of the peak.
  let best = a, bestV = -1;
  for (let x = a; x <= b; x += 0.5) { const v = f(x); if (v > bestV) { bestV = v; best = x; } }
  a = best - 0.5; b = best + 0.5;
  let c = b - g * (b - a), d = a + g * (b - a);
  let fc = f(c), fd = f(d);
  for (let i = 0; i < 30; i++) {
    if (fc > fd) { b = d; d = c; fd = fc; c = b - g * (b - a); fc = f(c); } else { a = c; c = d; fc = fd; d = a + g * (b - a); fd = f(d); }
  }
  return (a + b) / 2;
}

/**
 * The steady level of the tone at `frequency` in one channel: the median toneLevelDb of 0.5 s windows (a frame a
 * loaded machine made late and the playout concealed moves one window, not the figure).
 */
export function steadyLevelDb(samples: Float32Array, channels: number, channel: number, frequency: number, sampleRate: number): number {
  const w = (sampleRate / 2) * channels;
  const levels: number[] = [];
  for (let o = 0; o + w <= samples.length; o += w) levels.push(toneLevelDb(samples.subarray(o, o + w), channels, channel, frequency, sampleRate));
  levels.sort((a, b) => a - b);
  return levels.length % 2 ? levels[(levels.length - 1) / 2] : (levels[levels.length / 2 - 1] + levels[levels.length / 2]) / 2;
}

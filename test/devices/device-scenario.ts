// Child-process side of the device tests: runs one scenario on the fixture's real devices and prints its result as JSON (see audio-env.ts for why a child).
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { AudioInputDevice, AudioOutputDevice, DeviceError } from '../../runtime/audio/devices';
import { FrameClock } from '../../runtime/clock';
import { RESULT_MARK, LOOP_IN, LOOP_OUT, FILE_OUT } from './audio-env';

const RATE = 48000;
const CHANNELS = 2;
const FRAMES = 480;
const FRAME_MS = (FRAMES * 1000) / RATE;

type Args = Record<string, number | string | undefined>;

function dir(): string {
  const d = path.dirname(process.env.XCAST_ALSA_FILE_OUT ?? '');
  if (!d || !fs.existsSync(d)) throw new Error('XCAST_ALSA_FILE_OUT must name a file in an existing scratch directory');
  return d;
}

function save(name: string, frames: Buffer[]): string {
  const file = path.join(dir(), name);
  fs.writeFileSync(file, Buffer.concat(frames));
  return file;
}

/** A stereo sine: left at ampL, right at ampR, phase carried across frames. */
function toneSource(freq: number, ampL: number, ampR: number): () => Buffer {
  let n = 0;
  return () => {
    const f = new Float32Array(FRAMES * CHANNELS);
    for (let i = 0; i < FRAMES; i++, n++) {
      const s = Math.sin((2 * Math.PI * freq * n) / RATE);
      f[2 * i] = ampL * s;
      f[2 * i + 1] = ampR * s;
    }
    return Buffer.from(f.buffer);
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function errorInfo(e: unknown): { code?: string; field?: string; name: string; message: string } {
  const err = e as DeviceError;
  return { name: err?.name, code: err?.code, field: err?.field, message: err?.message ?? String(e) };
}

/**
 * Plays `toneMs` of tone into the loop, paced by a FrameClock like a real playout, and records it back.
 * Options: stallAtMs/stallMs busy-wait the event loop once; tailMs keeps both running afterwards.
 */
async function loop(args: Args): Promise<unknown> {
  const toneMs = Number(args.toneMs ?? 1000);
  const tailMs = Number(args.tailMs ?? 500);
  const stallAtMs = Number(args.stallAtMs ?? -1);
  const stallMs = Number(args.stallMs ?? 0);
  const input = new AudioInputDevice({ deviceName: LOOP_IN, sampleRate: RATE, channels: CHANNELS, framesPerBuffer: FRAMES });
  const output = new AudioOutputDevice({ deviceName: LOOP_OUT, sampleRate: RATE, channels: CHANNELS, framesPerBuffer: FRAMES });
  const captured: Buffer[] = [];
  const arrivals: number[] = [];
  const sent: Buffer[] = [];
  const errors: unknown[] = [];
  const xruns: string[] = [];
  input.on('frame', (pcm: Buffer) => { captured.push(pcm); arrivals.push(performance.now()); });
  input.on('error', (e: unknown) => errors.push(errorInfo(e)));
  input.on('xrun', (k: string) => xruns.push(`in: ${k}`));
  output.on('error', (e: unknown) => errors.push(errorInfo(e)));
  output.on('xrun', (k: string) => xruns.push(`out: ${k}`));

  const next = toneSource(Number(args.freq ?? 440), Number(args.ampL ?? 0.5), Number(args.ampR ?? 0.25));
  const toneFrames = Math.round(toneMs / FRAME_MS);
  let refused = 0;
  input.start();
  output.start();
  const t0 = performance.now();
  const clock = new FrameClock({ periodMs: FRAME_MS });
  clock.on('tick', () => {
    if (sent.length >= toneFrames) return;
    const pcm = next();
    if (output.write(pcm)) sent.push(pcm);
    else refused++;
  });
  clock.start();
  let stallStart = -1;
  let stallEnd = -1;
  if (stallAtMs >= 0) {
    await sleep(stallAtMs);
    stallStart = performance.now() - t0;
    const until = performance.now() + stallMs;
    while (performance.now() < until) { /* the event loop is stalled on purpose */ }
    stallEnd = performance.now() - t0;
  }
  while (sent.length < toneFrames) await sleep(20);
  const runningBeforeStop = { input: input.running, output: output.running };
  await sleep(tailMs);
  clock.stop();
  const inStats = input.stats();
  const outStats = output.stats();
  const latencyMs = output.latencyMs;
  await Promise.all([input.stop(), output.stop()]);
  return {
    frameSizes: [...new Set(captured.map((b) => b.length))],
    frames: captured.length,
    arrivals: arrivals.map((t) => t - t0),
    stallStart, stallEnd,
    sentFrames: sent.length, refused,
    runningBeforeStop,
    inStats, outStats, latencyMs, errors, xruns,
    sentFile: save('sent.f32', sent),
    capturedFile: save('captured.f32', captured),
  };
}

/** Writes `frames` frames of a known ramp to the file-writing PCM, paced by a FrameClock, then stops. */
async function fileOut(args: Args): Promise<unknown> {
  const frames = Number(args.frames ?? 50);
  const output = new AudioOutputDevice({ deviceName: FILE_OUT, sampleRate: RATE, channels: CHANNELS, framesPerBuffer: FRAMES, maxQueuedMs: 2000 });
  const errors: unknown[] = [];
  output.on('error', (e: unknown) => errors.push(errorInfo(e)));
  const sent: Buffer[] = [];
  let k = 0;
  output.start();
  const clock = new FrameClock({ periodMs: FRAME_MS });
  await new Promise<void>((resolve) => {
    clock.on('tick', () => {
      if (sent.length >= frames) { resolve(); return; }
      const f = new Float32Array(FRAMES * CHANNELS);
      // Distinct non-zero values, exact in f32, alternating in sign so a channel swap or an offset shows.
      for (let i = 0; i < f.length; i++, k++) f[i] = ((k % 2 ? -1 : 1) * ((k % 1000000) + 1)) / 1048576;
      const pcm = Buffer.from(f.buffer);
      if (output.write(pcm)) sent.push(pcm);
    });
    clock.start();
  });
  clock.stop();
  const stats = output.stats();
  await output.stop();
  return { stats, errors, sentFile: save('file-sent.f32', sent), sentFrames: sent.length };
}

/**
 * Runs both loop devices, then kills the JACK server (pid `jackdPid`) under them: each must report
 * 'error' device_stalled within its stallTimeoutMs, and stop() must still come back.
 */
async function deviceLost(args: Args): Promise<unknown> {
  const stallTimeoutMs = Number(args.stallTimeoutMs ?? 1000);
  const input = new AudioInputDevice({ deviceName: LOOP_IN, stallTimeoutMs });
  const output = new AudioOutputDevice({ deviceName: LOOP_OUT, stallTimeoutMs });
  const errors: Array<{ device: string; at: number } & ReturnType<typeof errorInfo>> = [];
  let killedAt = -1;
  const t0 = performance.now();
  input.on('error', (e: unknown) => errors.push({ device: 'input', at: performance.now() - t0, ...errorInfo(e) }));
  output.on('error', (e: unknown) => errors.push({ device: 'output', at: performance.now() - t0, ...errorInfo(e) }));
  let frames = 0;
  let framesAtKill = 0;
  input.on('frame', () => frames++);
  input.start();
  output.start();
  const next = toneSource(440, 0.5, 0.5);
  const clock = new FrameClock({ periodMs: FRAME_MS });
  clock.on('tick', () => { output.write(next()); });
  clock.start();
  await sleep(500);
  framesAtKill = frames;
  killedAt = performance.now() - t0;
  process.kill(Number(args.jackdPid), 'SIGTERM');
  const deadline = performance.now() + stallTimeoutMs + 6000;
  while (performance.now() < deadline && !(errors.some((e) => e.device === 'input') && errors.some((e) => e.device === 'output'))) await sleep(50);
  clock.stop();
  const s0 = performance.now();
  await Promise.all([input.stop(), output.stop()]);
  return { errors, killedAt, framesAtKill, stopMs: performance.now() - s0, outLastError: output.lastError?.code };
}

/** What start() throws for a device it cannot open. */
async function openErrors(): Promise<unknown> {
  const attempt = (opts: ConstructorParameters<typeof AudioInputDevice>[0], dir: 'input' | 'output'): unknown => {
    const d = dir === 'input' ? new AudioInputDevice(opts) : new AudioOutputDevice(opts);
    try {
      d.start();
    } catch (e) {
      return errorInfo(e);
    }
    void d.stop();
    return { started: true };
  };
  return {
    unknownName: attempt({ deviceName: 'no such device' }, 'input'),
    wrongDirection: attempt({ deviceName: LOOP_OUT }, 'input'),
    ambiguous: attempt({ deviceName: 'out' }, 'output'),
    badRate: attempt({ deviceName: LOOP_IN, sampleRate: 44100 }, 'input'),
    tooManyChannels: attempt({ deviceName: LOOP_OUT, channels: 3 }, 'output'),
  };
}

const scenarios: Record<string, (args: Args) => Promise<unknown>> = { loop, 'file-out': fileOut, 'open-errors': openErrors, 'device-lost': deviceLost };

async function main(): Promise<void> {
  const [name, json] = process.argv.slice(2);
  const run = scenarios[name];
  if (!run) throw new Error(`unknown scenario "${name}"; known: ${Object.keys(scenarios).join(', ')}`);
  const result = await run(json ? (JSON.parse(json) as Args) : {});
  // After a device died under it, naudiodon keeps a libuv thread blocked and process.exit() would
  // wait for it for ever: such a scenario ends with SIGKILL once its result is out.
  const hard = name === 'device-lost';
  process.stdout.write(`\n${RESULT_MARK}${JSON.stringify(result)}\n`, () => (hard ? process.kill(process.pid, 'SIGKILL') : process.exit(0)));
}

main().catch((err) => {
  process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});

// The event-stream sub-commands of the xcast CLI: `events capture`, `events inspect` and `reconstruct`.
import fs from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { UsageError } from '../cli';
import { EventParser } from './codec';
import { formatSummary, inspectEvents } from './inspect';
import { reconstruct } from './reconstruct';
import { DEFAULT_ROOM, isRoomName } from '../rooms';

/** `xcast events capture|inspect …` */
export async function eventsCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'capture') return capture(rest);
  if (sub === 'inspect') return inspect(rest);
  throw new UsageError(`events: unknown sub-command "${sub ?? ''}" (capture or inspect)`);
}

/** Connects to an event stream and writes its bytes, unchanged, to a file until the stream ends, --seconds pass or SIGINT. */
async function capture(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { port: { type: 'string' }, host: { type: 'string' }, out: { type: 'string' }, seconds: { type: 'string' } } });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new UsageError(`events capture: --port "${values.port ?? ''}" is not a port number`);
  if (!values.out) throw new UsageError('events capture needs --out FILE.xcev');
  const seconds = values.seconds === undefined ? undefined : Number(values.seconds);
  if (seconds !== undefined && !(seconds > 0)) throw new UsageError(`events capture: --seconds "${values.seconds}" is not a positive number`);
  const host = values.host ?? '127.0.0.1';
  const out = fs.createWriteStream(values.out);
  // Parsing as we go only counts events and notices a corrupt stream; the file gets the bytes as they came.
  const parser = new EventParser();
  let events = 0;
  let bytes = 0;
  let parseError: Error | null = null;
  const socket = net.connect(port, host);
  const stop = (): void => { socket.end(); socket.destroy(); };
  const timer = seconds === undefined ? null : setTimeout(stop, seconds * 1000);
  process.once('SIGINT', stop);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.on('connect', () => console.error(`capturing ${host}:${port} to ${values.out}${seconds ? ` for ${seconds} s` : ''} (Ctrl-C stops)`));
      socket.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (!out.write(chunk)) { socket.pause(); out.once('drain', () => socket.resume()); }
        if (!parseError) {
          try { events += parser.push(chunk).length; } catch (err) { parseError = err as Error; }
        }
      });
      socket.on('error', reject);
      socket.on('close', () => resolve());
    });
  } catch (err) {
    console.error(`events capture: ${host}:${port}: ${(err as Error).message}`);
    return 1;
  } finally {
    if (timer) clearTimeout(timer);
    process.removeListener('SIGINT', stop);
    await new Promise<void>((r) => out.end(() => r()));
  }
  console.log(`captured ${events} events (${bytes} bytes) to ${values.out}`);
  if (parseError) {
    console.error(`warning: the stream did not parse: ${(parseError as Error).message}`);
    return 1;
  }
  const t = parser.end();
  if (t) console.error(`note: the capture ends inside an event at byte ${t.offset} (the readers skip it)`);
  return 0;
}

function jsonReplacer(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

async function inspect(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' } } });
  if (!positionals[0]) throw new UsageError('events inspect needs FILE.xcev');
  const sum = await inspectEvents(positionals[0]);
  process.stdout.write(values.json ? JSON.stringify(sum, jsonReplacer, 2) + '\n' : formatSummary(sum));
  return 0;
}

/** "-3dB", "-3 dB" or "0.5" (linear) → linear gain. */
function parseGain(s: string, what: string): number {
  const m = /^\s*([-+]?\d+(?:\.\d+)?)\s*(db)?\s*$/i.exec(s);
  if (!m) throw new UsageError(`${what}: "${s}" is neither a linear gain nor a level in dB (e.g. 0.5 or -6dB)`);
  const v = Number(m[1]);
  const g = m[2] ? Math.pow(10, v / 20) : v;
  if (!(g >= 0)) throw new UsageError(`${what}: "${s}" is a negative gain`);
  return g;
}

/** "mixing  [##########··········]  50%": one line, redrawn in place with \r. */
function progressBar(label: string, pct: number): string {
  const width = 30;
  const filled = Math.round((width * pct) / 100);
  return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(pct).padStart(3)}%`;
}

/** `xcast reconstruct FILE.xcev --out mix.wav [--room NAME] [--gain NAME=G]... [--mute NAME]... [--master -3dB] [--stems DIR] [--format s16|f32] [--channels N]` */
export async function reconstructCommand(argv: string[]): Promise<number> {
  // parseArgs takes "-3dB" after --master for an option; the usage writes it that way, so glue it on.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--master' && i + 1 < argv.length) args.push(`--master=${argv[++i]}`);
    else args.push(argv[i]);
  }
  const { values, positionals } = parseArgs({
    args, allowPositionals: true,
    options: {
      out: { type: 'string' }, gain: { type: 'string', multiple: true }, mute: { type: 'string', multiple: true },
      master: { type: 'string' }, stems: { type: 'string' }, format: { type: 'string' }, channels: { type: 'string' },
      room: { type: 'string' },
    },
  });
  const file = positionals[0];
  if (!file) throw new UsageError('reconstruct needs FILE.xcev');
  if (!values.out) throw new UsageError('reconstruct needs --out mix.wav');
  const gains: Record<string, number> = {};
  for (const g of values.gain ?? []) {
    const i = g.lastIndexOf('=');
    if (i <= 0) throw new UsageError(`--gain: "${g}" is not NAME=GAIN`);
    gains[g.slice(0, i)] = parseGain(g.slice(i + 1), `--gain ${g.slice(0, i)}`);
  }
  let masterDb: number | undefined;
  if (values.master !== undefined) {
    const m = /^\s*([-+]?\d+(?:\.\d+)?)\s*(db)?\s*$/i.exec(values.master);
    if (!m) throw new UsageError(`--master: "${values.master}" is not a level in dB (e.g. -3dB)`);
    masterDb = Number(m[1]);
  }
  if (values.format !== undefined && values.format !== 's16' && values.format !== 'f32') throw new UsageError(`--format: "${values.format}" is not s16 or f32`);
  const channels = values.channels === undefined ? undefined : Number(values.channels);
  if (values.room !== undefined && !isRoomName(values.room)) throw new UsageError(`--room: "${values.room}" is not a room name (1…64 letters, digits, "_" or "-")`);
  let shown = -1;
  const r = await reconstruct(file, {
    out: values.out, room: values.room, gains, mute: values.mute, masterDb, stems: values.stems, channels,
    format: values.format as 's16' | 'f32' | undefined,
    onProgress: (p) => {
      if (!process.stderr.isTTY) return;
      const pct = Math.floor((100 * p.done) / Math.max(1, p.total));
      if (pct !== shown || p.phase === 'mix' && pct === 0) process.stderr.write(`\r${progressBar(p.phase === 'index' ? 'reading' : 'mixing ', pct)}`);
      shown = pct;
    },
  });
  if (process.stderr.isTTY) process.stderr.write(`\r${' '.repeat(progressBar('', 100).length + 8)}\r`);
  console.log(`wrote ${r.out}: ${r.room === DEFAULT_ROOM ? '' : `room ${r.room}, `}${r.durationSeconds.toFixed(2)} s, ${r.sampleRate} Hz, ${r.channels} channels`);
  for (const t of r.tracks) {
    console.log(`  channel ${t.channelId}${t.name ? ` ${t.name}` : ''}: ${t.live} live, ${t.late} late packets put back, ${t.concealed + t.missing} concealed` +
      `${t.decodeErrors ? `, ${t.decodeErrors} undecodable` : ''}${t.stem ? ` → ${t.stem}` : ''}`);
  }
  for (const w of r.warnings) console.error(`warning: ${w}`);
  return 0;
}

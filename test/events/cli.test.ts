// The event sub-commands of the CLI, run in-process: capture from a live event server, inspect, reconstruct, and their usage errors.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readWav } from '../../runtime/audio/wav';
import { UsageError } from '../../runtime/cli';
import { EventType } from '../../runtime/events/codec';
import { eventsCommand, reconstructCommand } from '../../runtime/events/cli';
import { readAllEvents } from '../../runtime/events/reader';
import { EventStreamServer } from '../../runtime/events/server';
import { FRAME, RATE, writeSyntheticSession } from './session-fixture';

/** Runs a command with console output collected instead of printed. */
async function quietly(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const log = console.log;
  const error = console.error;
  const write = process.stdout.write.bind(process.stdout);
  let out = '';
  let err = '';
  console.log = (...a: unknown[]) => { out += a.join(' ') + '\n'; };
  console.error = (...a: unknown[]) => { err += a.join(' ') + '\n'; };
  process.stdout.write = ((s: string) => { out += s; return true; }) as typeof process.stdout.write;
  try {
    return { code: await fn(), out, err };
  } finally {
    console.log = log;
    console.error = error;
    process.stdout.write = write;
  }
}

describe('xcast events / reconstruct commands', () => {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-events-cli-'));
  });
  after(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('events capture writes the stream of a live server to a file, starting with Stream Info', async () => {
    const srv = new EventStreamServer({ port: 0, sampleRate: RATE, frameSamples: FRAME });
    const { port } = await srv.listen();
    const file = path.join(tmp, 'captured.xcev');
    const ch = srv.channelIdFor('ivy', 1);
    let k = 0;
    srv.on('clientConnected', () => {
      const t = setInterval(() => {
        srv.opusPacketReceived(ch, k, 0, 1, Buffer.from([0xf8, k & 0xff]));
        srv.audioFrameMixed(k, [{ channelId: ch, seq: k, channels: 1, frameSamples: FRAME }]);
        if (++k === 10) { clearInterval(t); void srv.close(); }
      }, 5);
    });
    const r = await quietly(() => eventsCommand(['capture', '--port', String(port), '--out', file, '--seconds', '15']));
    assert.equal(r.code, 0);
    assert.match(r.out, /captured 22 events/);
    const { events } = await readAllEvents(file);
    assert.deepEqual(events.slice(0, 2).map((e) => e.type), [EventType.STREAM_INFO, EventType.MIX_PARAMETERS]);
    assert.equal(events.filter((e) => e.type === EventType.AUDIO_FRAME_MIXED).length, 10);
  });

  it('events inspect prints the summary, or JSON with --json', async () => {
    const s = await writeSyntheticSession(path.join(tmp, 's.xcev'), 20);
    const text = await quietly(() => eventsCommand(['inspect', s.path]));
    assert.equal(text.code, 0);
    assert.match(text.out, /alice/);
    const json = await quietly(() => eventsCommand(['inspect', s.path, '--json']));
    const parsed = JSON.parse(json.out);
    assert.equal(parsed.frames, 20);
    assert.equal(parsed.channels[1].profile.name, 'bob');
  });

  it('reconstruct writes the mix and stems with gains in dB, mutes and --master given as "-6dB"', async () => {
    const s = await writeSyntheticSession(path.join(tmp, 'r.xcev'), 20);
    const out = path.join(tmp, 'r.wav');
    const r = await quietly(() => reconstructCommand([s.path, '--out', out, '--gain', 'bob=-6dB', '--mute', 'alice', '--master', '-6dB', '--stems', path.join(tmp, 'stems'), '--format', 's16']));
    assert.equal(r.code, 0);
    assert.match(r.out, /channel \d+ bob: 20 live/);
    const w = readWav(out);
    assert.equal(w.channels, 2);
    assert.equal(w.samples.length, 20 * FRAME * 2);
    assert.equal(fs.readdirSync(path.join(tmp, 'stems')).length, 2);
  });

  it('answers missing or malformed arguments with a UsageError naming them', async () => {
    await assert.rejects(eventsCommand(['capture', '--out', 'x.xcev']), (e: unknown) => e instanceof UsageError && /--port/.test((e as Error).message));
    await assert.rejects(eventsCommand(['frobnicate']), UsageError);
    await assert.rejects(reconstructCommand(['x.xcev']), /--out/);
    await assert.rejects(reconstructCommand(['x.xcev', '--out', 'y.wav', '--gain', 'bob']), /NAME=GAIN/);
    await assert.rejects(reconstructCommand(['x.xcev', '--out', 'y.wav', '--master', 'loud']), /--master/);
  });
});

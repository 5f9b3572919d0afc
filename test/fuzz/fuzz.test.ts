// Bounded in-process fuzzing inside `npm test` (~10 s): every parser of the project fed mutated valid inputs and noise,
// seeded (XCAST_FUZZ_SEED overrides the fixed default; `npm run fuzz` runs ≥ 1,000,000 inputs with a random seed).
// Then one test per defect the fuzzers found, skipped until its owner's fix is merged (see known-defects.ts).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatReport, runFuzz } from './engine';
import { KNOWN_DEFECTS } from './known-defects';
import { TARGETS, helloBoundsTarget, opusStats } from './targets';
import { ProtocolError, validateClientHello, FrameType, decodeJsonPayload, type JsonObject } from '../../runtime/protocol/frame';
import { QosValidationError, validateQos } from '../../runtime/qos/aggregator';
import { buildAggregatedStatesSnapshot } from '../../runtime/qos/snapshot';
import { EventFileError, readAllEvents } from '../../runtime/events/reader';
import { encodeStreamInfo } from '../../runtime/events/codec';
import net from 'node:net';
import { StreamServer } from '../../runtime/protocol/transport';
import { UdpSessionTable } from '../../runtime/protocol/udp-sessions';
import { encodeJsonFrame } from '../../runtime/protocol/frame';
import { FrameParser } from '../../runtime/protocol/parser';

const SEED = process.env.XCAST_FUZZ_SEED !== undefined ? Number(process.env.XCAST_FUZZ_SEED) >>> 0 : 20261202;
/** Inputs per target: about 10 s in all on the project's 2-core machine. */
const BUDGET: Record<string, number> = {
  parser: 6000, audio: 6000, 'opus-toc': 4000, hello: 4000, qos: 4000, metadata: 4000, control: 2000, events: 4000, 'event-file': 150, wav: 3000, console: 4000,
  // issue 13: each input a sequence of up to 24 datagrams into one table (a few thousand datagrams a second)
  'udp-sessions': 4000, rtp: 3000, 'sap-sdp': 8000, seed002: 3000,
};

/** Nested `depth` deep as JSON text (JSON.stringify would itself overflow building it). */
function deep(depth: number): string {
  return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

describe('fuzzing (bounded, in process)', function () {
  this.timeout(60000);
  const known = new Map<string, number>();
  after(() => {
    if (known.size) console.log(`      known defects hit (counted, see test/fuzz/known-defects.ts): ${[...known].map(([k, n]) => `${k} ×${n}`).join(', ')}`);
  });

  for (const target of TARGETS) {
    it(`${target.name}: ${BUDGET[target.name]} mutated and random inputs (seed ${SEED}) throw only the module's own errors, keep every invariant, never hang`, async () => {
      const before = opusStats.decoded;
      const r = await runFuzz({ seed: SEED, targets: [target], iterations: BUDGET[target.name], known: KNOWN_DEFECTS, slowMs: 2000 });
      for (const k of r.known) known.set(k.id, (known.get(k.id) ?? 0) + k.count);
      const t = r.targets[0];
      assert.equal(t.inputs, BUDGET[target.name], formatReport(r));
      // The inputs reach both the refusing and the accepting paths.
      assert.ok(t.accepted > 0 && (target.name === 'opus-toc' || t.rejected > 0), formatReport(r));
      if (target.name === 'audio' || target.name === 'opus-toc') assert.ok(opusStats.decoded - before > 100, `only ${opusStats.decoded - before} accepted Opus packets were decoded by libopus`);
    });
  }

  // ---- Defects the fuzzers found (issue 13), each fixed; these keep them fixed. ----

  // found by the udp-sessions fuzzer, fixed: a PING t0 near 2^64 read as a double rounds to 2^64, which encodePong
  // refuses with a RangeError — thrown out of UdpSessionTable.handle, and on TCP out of the socket's data handler (the process exits)
  it('[transport] a PING whose t0 is 2^64 − 1: TCP closes that connection with ERROR protocol and serves on, UDP drops it as protocol', async () => {
    const ping = Buffer.from('5350010600000008ffffffffffffffff', 'hex');
    const hello = encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId: 'pinger', role: 'peer' });
    const table = new UdpSessionTable();
    const from = { address: '127.0.0.1', port: 5000 };
    assert.equal(table.handle(hello, from, 0).kind, 'hello');
    const r = table.handle(ping, from, 1);
    assert.equal(r.kind, 'drop');
    assert.equal(r.reason, 'protocol');
    const server = new StreamServer({ host: '127.0.0.1', port: 0 });
    const { port } = await server.listen();
    try {
      const errors = await new Promise<string[]>((resolve, reject) => {
        const got: string[] = [];
        const parser = new FrameParser();
        const s = net.connect(port, '127.0.0.1', () => s.write(hello));
        s.on('data', (d) => parser.push(d, (type, payload) => {
          if (type === FrameType.HELLO) s.write(ping);
          if (type === FrameType.ERROR) got.push(JSON.parse(payload.toString()).code);
        }));
        s.on('close', () => resolve(got));
        s.on('error', reject);
      });
      assert.deepEqual(errors, ['protocol']);
      // Serving on: the next peer's HELLO is answered.
      const answered = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => s.write(hello));
        s.once('data', (d) => { resolve(d[3] === FrameType.HELLO); s.destroy(); });
        s.on('error', () => resolve(false));
      });
      assert.ok(answered);
    } finally {
      await server.close();
    }
  });

  // ---- Defects the fuzzers found (issue 10), each fixed; these keep them fixed. ----

  // found by the fuzzers, fixed: validateClientHello must refuse any HELLO with ProtocolError (wire values via wireText, not JSON.stringify)
  it('[transport] a HELLO whose role is nested 20,000 deep is refused with ProtocolError bad_hello, not a RangeError', () => {
    const obj = decodeJsonPayload(Buffer.from(`{"protocol":"streamproto1","userId":"a","role":${deep(20000)}}`), FrameType.HELLO) as JsonObject;
    assert.throws(() => validateClientHello(obj), (e: unknown) => e instanceof ProtocolError && e.code === 'bad_hello');
  });

  // found by the fuzzers, fixed: HELLO identity bounds (userId 1…128 no control chars, name ≤ 128, token ≤ 1024, capabilities ≤ 32×64, profile ≤ 4096 B depth ≤ 4)
  it('[transport] every HELLO validateClientHello accepts keeps the identity bounds of notes/common.md (4,000 fuzzed HELLOs)', async () => {
    const r = await runFuzz({ seed: SEED, targets: [helloBoundsTarget], iterations: 4000 });
    assert.equal(r.targets[0].inputs, 4000);
  });

  // found by the fuzzers, fixed: validateQos must throw QosValidationError for any report (no JSON.stringify of a wire value)
  it('[meta] a QOS report whose misses is nested 20,000 deep is refused with QosValidationError, not a RangeError', () => {
    const q = JSON.parse(`{"head":{"trackId":1,"seq":1,"captureTime":1},"qosTimestamp":1,"misses":${deep(20000)}}`);
    assert.throws(() => validateQos(q), QosValidationError);
  });

  // found by the fuzzers, fixed: the getMetrics answer must stay serialisable whatever METADATA arrived (take only well-typed parts of connections)
  it('[meta] the getMetrics answer built from a METADATA whose connections are nested 20,000 deep can be sent as JSON', () => {
    const s = JSON.parse(`{"at":1,"incomingAudioTracks":[],"outgoingAudioTracks":[],"connections":{"alice":${deep(20000)}}}`);
    const answer = buildAggregatedStatesSnapshot({ speaker: { bufferDepthSamples: 0, sampleRate: 48000, latencyMs: 0, misses: 0, silenceDetected: true }, sharedState: s, now: 1 });
    assert.doesNotThrow(() => JSON.stringify(answer));
  });

  // found by the fuzzers, fixed: readEventFile yields the events before a malformed one whatever its read size (EventParser.push drops the events its chunk completed before the error; pushTo keeps them)
  it('[mixer] readEventFile gives the same events before a malformed event with 1 MiB reads as with 1-byte reads', async () => {
    const good = encodeStreamInfo(0, { serverStartMicros: 1, sampleRate: 48000, frameSamples: 480 });
    const bad = Buffer.from(good);
    bad.writeUInt32LE(1, 9);            // a Stream Info of 1 data byte: bad_length
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-fuzz-')), 'x.xcev');
    fs.writeFileSync(file, Buffer.concat([good, bad.subarray(0, 14)]));
    const count = async (chunkBytes: number) => {
      let n = 0;
      try { for await (const e of (await import('../../runtime/events/reader')).readEventFile(file, { chunkBytes })) { void e; n++; } } catch (err) { assert.ok(err instanceof EventFileError); }
      return n;
    };
    assert.equal(await count(1 << 20), await count(1));
    void readAllEvents;
  });
});

// Fuzzing targets: each makes one input from an Rng (a mutated valid input, or random bytes) and feeds it to one of the
// project's parsers, checking invariants beyond "does not throw": split and coalesced reads parse identically, an
// Opus packet the TOC check accepts decodes in real libopus to exactly the samples the check computed, nothing
// pollutes Object.prototype. Only the module's own error classes may be thrown; anything else is a failure.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  FrameType, ProtocolError, decodeAudioPayload, decodeErrorPayload, decodeJsonPayload, decodePing, decodePong,
  encodeFrame, isLegalOpusFrameSamples, validateClientHello, validateServerHello, type JsonObject,
} from '../../runtime/protocol/frame';
import { FrameParser } from '../../runtime/protocol/parser';
import { opusPacketSamples } from '../../runtime/protocol/opus-toc';
import { OpusDecoder, OpusDecodeError } from '../../runtime/audio/opus';
import { AdminAggregator, MAX_QOS_BATCH, QosValidationError, validateQosBatch } from '../../runtime/qos/aggregator';
import { buildAggregatedStatesSnapshot } from '../../runtime/qos/snapshot';
import { createMetricsRegistry, type MetricsRegistry } from '../../runtime/qos/prometheus';
import { EventFormatError, EventParser, decodeEvent, type AudioEvent } from '../../runtime/events/codec';
import { EventFileError, readAllEvents } from '../../runtime/events/reader';
import { WavError, readWav } from '../../runtime/audio/wav';
import { ControlError, readControlBody, readPageMessage, type MixerControl } from '../../runtime/console/control';
import { MeterFrameError, decodeMeterFrame, encodeMeterFrame } from '../../runtime/console/meter-frame';
import {
  audioPayload, clientHello, opusPackets, qosReport, serverHello, sharedState, validEvent, validEventStream, validFrame,
  validStream, validWav,
} from './corpus';
import { mutateAudioPayload, mutateBytes, mutateFrame, mutateJson, randomSplits } from './mutate';
import { Rng } from './prng';

/** A broken invariant (not a thrown error of a wrong class): always a failure. */
export class InvariantError extends Error {
  override name = 'InvariantError';
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ErrorClass = new (...args: any[]) => Error;

export interface Target {
  name: string;
  /** Relative share of the inputs. */
  weight: number;
  /** Error classes the module under test may throw for a bad input. */
  allowed: ErrorClass[];
  gen(rng: Rng): Buffer;
  /** Returns normally for an accepted input; throws an allowed error for a refused one. */
  run(input: Buffer, rng: Rng): void | Promise<void>;
}

function check(cond: boolean, message: string): void {
  if (!cond) throw new InvariantError(message);
}

/** Mostly mutations of valid inputs, some valid ones (so acceptance paths run too), some pure noise. */
function pick(rng: Rng, valid: () => Buffer, mutate: (b: Buffer) => Buffer, noise = 0.05, keep = 0.1): Buffer {
  const r = rng.float();
  if (r < noise) return rng.bytes(rng.small(2048));
  if (r < noise + keep) return valid();
  return mutate(valid());
}

// ---- streamproto1 framing ----

interface Parsed { frames: Array<[number, Buffer]>; error: string | null }

function parseAll(parser: FrameParser, chunks: Buffer[], throwAt = -1): Parsed {
  const frames: Array<[number, Buffer]> = [];
  let error: string | null = null;
  let thrown = false;
  const onFrame = (type: number, payload: Buffer, shared: boolean) => {
    check(!shared || payload.length > 0, 'a shared (view) payload of length 0');
    frames.push([type, Buffer.from(payload)]);
    if (frames.length - 1 === throwAt && !thrown) { thrown = true; throw new HandlerThrew(); }
  };
  // One empty push at the end: after a handler threw, the rest of its chunk is parsed at the next push.
  for (const c of [...chunks, Buffer.alloc(0)]) {
    try {
      parser.push(c, onFrame);
    } catch (err) {
      if (err instanceof HandlerThrew) continue;
      if (!(err instanceof ProtocolError)) throw err;
      error = `${err.code}: ${err.message}`;
      // A failed parser stays failed.
      let again: unknown = null;
      try { parser.push(Buffer.from([0x53]), onFrame); } catch (e2) { again = e2; }
      check(again === err, 'a failed FrameParser did not throw the same error on the next push');
      break;
    }
  }
  return { frames, error };
}

class HandlerThrew extends Error {}

/** What the transport does with a frame's payload; the payload decoders' own errors are refusals. */
function dispatchPayload(type: number, payload: Buffer): void {
  switch (type) {
    case FrameType.HELLO: validateClientHello(decodeJsonPayload(payload, FrameType.HELLO) as JsonObject); break;
    case FrameType.METADATA: decodeJsonPayload(payload, FrameType.METADATA); break;
    case FrameType.AUDIO: decodeAudioPayload(payload); break;
    case FrameType.QOS: validateQosBatch(decodeJsonPayload(payload, FrameType.QOS)); break;
    case FrameType.ERROR: decodeErrorPayload(payload); break;
    case FrameType.PING: decodePing(payload); break;
    case FrameType.PONG: decodePong(payload); break;
  }
}

const parserTarget: Target = {
  name: 'parser',
  weight: 3,
  allowed: [ProtocolError, QosValidationError],
  gen(rng) {
    if (rng.bool(0.05)) return rng.bytes(rng.small(4096));
    // Frames of a stream, one or more of them mutated, sometimes spliced together.
    const frames: Buffer[] = [];
    const n = rng.range(1, 6);
    for (let i = 0; i < n; i++) frames.push(i === 0 && rng.bool(0.5) ? validStream(rng) : validFrame(rng));
    const bad = rng.small(2) + (rng.bool(0.85) ? 1 : 0);
    for (let i = 0; i < bad; i++) {
      const k = rng.int(frames.length);
      frames[k] = mutateFrame(rng, frames[k], () => validFrame(rng));
    }
    return Buffer.concat(frames);
  },
  run(input, rng) {
    const max = rng.pick([1 << 20, 1 << 20, 4096, 64]);
    const whole = parseAll(new FrameParser(max), [input]);
    const cuts = randomSplits(rng, input.length);
    const chunks: Buffer[] = [];
    let prev = 0;
    for (const c of cuts) { chunks.push(input.subarray(prev, c)); prev = c; }
    const split = parseAll(new FrameParser(max), chunks, rng.bool(0.3) ? rng.int(4) : -1);
    check(split.error === whole.error, `split reads (${cuts.length} chunks) ended with ${split.error}, one read with ${whole.error}`);
    check(split.frames.length === whole.frames.length, `split reads gave ${split.frames.length} frames, one read ${whole.frames.length}`);
    for (let i = 0; i < whole.frames.length; i++) {
      check(split.frames[i][0] === whole.frames[i][0] && split.frames[i][1].equals(whole.frames[i][1]), `frame ${i} differs between split and coalesced reads`);
    }
    // The payloads as the transport would take them.
    let refused: Error | null = null;
    for (const [type, payload] of whole.frames) {
      try { dispatchPayload(type, payload); } catch (e) { refused ??= e as Error; if (!(e instanceof ProtocolError || e instanceof QosValidationError)) throw e; }
    }
    if (whole.error) throw new ProtocolError(whole.error.slice(0, whole.error.indexOf(':')) as ProtocolError['code'], whole.error);
    if (refused) throw refused;
  },
};

// ---- AUDIO and Opus ----

const decoders = new Map<string, OpusDecoder>();
function decoder(sampleRate: number, channels: number): OpusDecoder {
  const k = `${sampleRate}/${channels}`;
  let d = decoders.get(k);
  if (!d) { d = new OpusDecoder({ sampleRate, channels }); decoders.set(k, d); }
  return d;
}

/** Counts of accepted Opus packets decoded by libopus (reported by the run). */
export const opusStats = { decoded: 0 };

/** An Opus packet accepted by the TOC check: libopus must decode it, to exactly that many samples per channel. */
function decodeAccepted(packet: Buffer, sampleRate: number, channels: number, samples: number): void {
  let pcm: Buffer;
  try {
    pcm = decoder(sampleRate, channels).decodeS16(packet);
  } catch (err) {
    if (err instanceof OpusDecodeError) throw new InvariantError(`the TOC check accepted a packet (${samples} samples at ${sampleRate} Hz) that libopus refuses: ${err.message}`);
    throw err;
  }
  opusStats.decoded++;
  const got = pcm.length / (2 * channels);
  check(got === samples, `the TOC check says ${samples} samples at ${sampleRate} Hz, libopus decoded ${got}`);
}

const audioTarget: Target = {
  name: 'audio',
  weight: 3,
  allowed: [ProtocolError],
  gen(rng) {
    return pick(rng, () => audioPayload(rng), (b) => (rng.bool(0.6) ? mutateAudioPayload(rng, b) : mutateBytes(rng, b)), 0.03, 0.1);
  },
  run(input) {
    const { header, data } = decodeAudioPayload(input);
    if (header.codec === 2) decodeAccepted(data, header.sampleRate, header.channels, header.frameSamples);
  },
};

/** Opus packets alone: mutated real packets and noise through opusPacketSamples, accepted ones into libopus. */
const opusTarget: Target = {
  name: 'opus-toc',
  weight: 2,
  allowed: [],
  gen(rng) {
    const s = rng.pick(opusPackets());
    const head = Buffer.alloc(5);
    head.writeUInt32BE(s.sampleRate, 0);
    head[4] = s.channels;
    const r = rng.float();
    let p: Buffer;
    if (r < 0.05) p = rng.bytes(1 + rng.small(3825));
    else if (r < 0.1) p = s.packet;
    else if (r < 0.4) { p = Buffer.from(s.packet); p[0] = rng.u32() & 0xff; if (p.length > 1 && rng.bool()) p[1] = rng.u32() & 0xff; }
    else p = mutateBytes(rng, s.packet, () => rng.pick(opusPackets()).packet);
    return Buffer.concat([head, p]);
  },
  run(input) {
    if (input.length < 5) return;
    const sampleRate = input.readUInt32BE(0);
    const channels = input[4];
    const packet = input.subarray(5);
    const samples = opusPacketSamples(packet, sampleRate);
    if (samples < 0 || packet.length === 0 || packet.length > 3825) return;
    // Only what validateAudio lets through reaches a decoder: a legal streamproto1 frame size.
    if (!isLegalOpusFrameSamples(samples, sampleRate)) return;
    decodeAccepted(packet, sampleRate, channels, samples);
  },
};

// ---- JSON payloads ----

function noPollution(): void {
  const probe = {} as Record<string, unknown>;
  check(probe.polluted === undefined && Object.keys(Object.prototype).length === 0, 'Object.prototype was polluted');
}

const helloTarget: Target = {
  name: 'hello',
  weight: 2,
  allowed: [ProtocolError],
  gen(rng) {
    return pick(rng, () => Buffer.from(JSON.stringify(rng.bool(0.9) ? clientHello(rng) : serverHello(rng))), (b) => mutateJson(rng, JSON.parse(b.toString())), 0.02, 0.08);
  },
  run(input) {
    try {
      const obj = decodeJsonPayload(input, FrameType.HELLO) as JsonObject;
      try { validateServerHello(obj); } catch (e) { if (!(e instanceof ProtocolError)) throw e; }
      validateClientHello(obj);
    } finally {
      noPollution();
    }
  },
};

/**
 * The HELLO identity bounds agreed in notes/common.md (transport's fix): every HELLO validateClientHello accepts
 * has a userId of 1…128 characters without control characters, name ≤ 128, token ≤ 1024, ≤ 32 capabilities of
 * ≤ 64, a profile of ≤ 4096 bytes as JSON and depth ≤ 4. Not in the default set until that fix is merged.
 */
export const helloBoundsTarget: Target = {
  name: 'hello-bounds',
  weight: 2,
  allowed: [ProtocolError],
  gen: helloTarget.gen,
  run(input) {
    const h = validateClientHello(decodeJsonPayload(input, FrameType.HELLO) as JsonObject);
    // eslint-disable-next-line no-control-regex
    check(h.userId.length >= 1 && h.userId.length <= 128 && !/[\u0000-\u001f\u007f-\u009f]/.test(h.userId), `accepted userId of ${h.userId.length} chars ${JSON.stringify(h.userId.slice(0, 40))}`);
    check(h.name === undefined || h.name.length <= 128, `accepted name of ${h.name?.length} chars`);
    check(h.token === undefined || h.token.length <= 1024, `accepted token of ${h.token?.length} chars`);
    check(h.capabilities === undefined || (h.capabilities.length <= 32 && h.capabilities.every((c) => c.length <= 64)), `accepted ${h.capabilities?.length} capabilities`);
    if (h.profile !== undefined) {
      let text: string;
      try { text = JSON.stringify(h.profile); } catch (e) { throw new InvariantError(`accepted a profile JSON.stringify cannot write: ${(e as Error).message}`); }
      check(Buffer.byteLength(text) <= 4096, `accepted a profile of ${Buffer.byteLength(text)} bytes`);
      check(depth(h.profile) <= 4, `accepted a profile of depth ${depth(h.profile)}`);
    }
  },
};

function depth(v: unknown): number {
  // Iterative: the value may be deeper than the stack.
  let max = 0;
  const stack: Array<[unknown, number]> = [[v, 0]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    max = Math.max(max, d + 1);
    for (const c of Object.values(x as object)) stack.push([c, d + 1]);
  }
  return max;
}

let aggregator = new AdminAggregator();
let aggregatorUses = 0;

const qosTarget: Target = {
  name: 'qos',
  weight: 2,
  allowed: [ProtocolError, QosValidationError],
  gen(rng) {
    const valid = () => Buffer.from(JSON.stringify(rng.bool(0.7) ? qosReport(rng) : Array.from({ length: rng.range(0, 4) }, () => qosReport(rng))));
    return pick(rng, valid, (b) => mutateJson(rng, JSON.parse(b.toString())), 0.02, 0.08);
  },
  run(input) {
    try {
      const parsed = decodeJsonPayload(input, FrameType.QOS);
      const batch = validateQosBatch(parsed);
      for (const q of batch) {
        const size = Buffer.byteLength(JSON.stringify(q));
        check(size <= 64 * 1024, `validateQos accepted a report of ${size} bytes`);
      }
      if (++aggregatorUses > 2000) { aggregator = new AdminAggregator(); aggregatorUses = 0; }
      // The aggregator gets the parsed payload as the socket writer hands it over; it validates again itself.
      const r = aggregator.onQos('fuzz', parsed, Date.now() * 1000);
      // The aggregator also caps a batch at MAX_QOS_BATCH; below that it takes what the validator took.
      if (batch.length <= MAX_QOS_BATCH) check(r.rejected.length === 0, `validateQosBatch accepted a batch the aggregator refused: ${r.rejected[0]?.message}`);
      else check(r.accepted === 0 && r.rejected.length > 0, `the aggregator took a batch of ${batch.length} > ${MAX_QOS_BATCH}`);
      aggregator.snapshot();
    } finally {
      noPollution();
    }
  },
};

let prom: MetricsRegistry | undefined;

/** What GET /service/mixeradminclient?getMetrics does with the answer (express's res.json). */
function answerAsTheRouteSendsIt(answer: unknown): string {
  return JSON.stringify(answer);
}

/** METADATA as a monitor takes it: the xcast's shared state into the getMetrics answer and the /metrics registry. */
const metadataTarget: Target = {
  name: 'metadata',
  weight: 2,
  allowed: [ProtocolError],
  gen(rng) {
    return pick(rng, () => Buffer.from(JSON.stringify(sharedState(rng))), (b) => mutateJson(rng, JSON.parse(b.toString())), 0.02, 0.05);
  },
  run(input) {
    try {
      const p = decodeJsonPayload(input, FrameType.METADATA) as JsonObject;
      const s = (p.mixeradminSharedState ?? null) as never;
      // The mixeradmin client keeps any object it gets under that name.
      if (!s || typeof s !== 'object') return;
      const answer = buildAggregatedStatesSnapshot({
        speaker: { bufferDepthSamples: 960, sampleRate: 48000, latencyMs: 20, misses: 0, silenceDetected: false }, sharedState: s, now: Date.now(),
      });
      answerAsTheRouteSendsIt(answer);
      prom ??= createMetricsRegistry();
      prom.update(answer);
    } finally {
      noPollution();
    }
  },
};

const controlTarget: Target = {
  name: 'control',
  weight: 1,
  allowed: [ProtocolError],
  gen(rng) {
    const k = rng.int(3);
    const valid = () => (k === 0 ? Buffer.from(JSON.stringify({ code: 'bad_magic', message: 'm' })) : k === 1 ? Buffer.alloc(8, 1) : Buffer.alloc(24, 2));
    const body = pick(rng, valid, (b) => (k === 0 ? mutateJson(rng, JSON.parse(b.toString())) : mutateBytes(rng, b)), 0.05, 0.1);
    return Buffer.concat([Buffer.from([k]), body]);
  },
  run(input) {
    if (input.length === 0) return;
    const body = input.subarray(1);
    if (input[0] === 0) decodeErrorPayload(body);
    else if (input[0] === 1) decodePing(body);
    else decodePong(body);
  },
};

// ---- event stream ----

function eventKey(e: AudioEvent): string {
  return JSON.stringify(e, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v && v.type === 'Buffer' && Array.isArray(v.data) ? Buffer.from(v.data).toString('hex') : v));
}

function parseEvents(chunks: Buffer[]): { events: string[]; error: string | null; end: string } {
  const p = new EventParser({ maxEventBytes: 1 << 20 });
  const events: string[] = [];
  let error: string | null = null;
  const out: AudioEvent[] = [];
  for (const c of chunks) {
    try {
      // pushTo, not push: push() loses the events a chunk completed before the malformed one (see the report).
      p.pushTo(c, out);
    } catch (err) {
      if (!(err instanceof EventFormatError)) throw err;
      error = `${err.code}: ${err.message}`;
      break;
    } finally {
      for (const e of out) events.push(eventKey(e));
      out.length = 0;
    }
  }
  return { events, error, end: error ? '' : JSON.stringify(p.end()) };
}

const eventsTarget: Target = {
  name: 'events',
  weight: 2,
  allowed: [EventFormatError],
  gen(rng) {
    return pick(rng, () => validEventStream(rng), (b) => mutateBytes(rng, b, () => validEvent(rng)), 0.03, 0.07);
  },
  run(input, rng) {
    const whole = parseEvents([input]);
    const chunks: Buffer[] = [];
    let prev = 0;
    for (const c of randomSplits(rng, input.length)) { chunks.push(input.subarray(prev, c)); prev = c; }
    const split = parseEvents(chunks);
    check(split.error === whole.error, `event stream: split reads ended with ${split.error}, one read with ${whole.error}`);
    check(split.events.length === whole.events.length && split.events.every((e, i) => e === whole.events[i]), 'event stream: split and coalesced reads decoded different events');
    check(split.end === whole.end, `event stream: end() differs: ${split.end} vs ${whole.end}`);
    // decodeEvent on exactly one event's bytes, as the random-access reader uses it.
    if (input.length >= 13) {
      const len = input.readUInt32LE(9);
      if (13 + len <= input.length) decodeEvent(input.subarray(0, 13 + len));
    }
    if (whole.error) throw new EventFormatError('bad_value', whole.error);
  },
};

let tmp: string | undefined;
let fileNo = 0;

/** The file reader over the same inputs, in small read sizes: the events, warnings and errors the parser gives. */
const eventFileTarget: Target = {
  name: 'event-file',
  weight: 0.1,
  allowed: [EventFileError],
  gen: eventsTarget.gen,
  async run(input, rng) {
    tmp ??= fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-fuzz-'));
    const file = path.join(tmp, `f${fileNo++ % 4}.xcev`);
    fs.writeFileSync(file, input);
    const whole = parseEvents([input]);
    let result: Awaited<ReturnType<typeof readAllEvents>>;
    try {
      result = await readAllEvents(file, { chunkBytes: 32 + rng.small(4096), maxEventBytes: 1 << 20 });
    } catch (err) {
      if (err instanceof EventFileError) check(whole.error !== null, `readEventFile failed (${err.message}) where the parser did not`);
      throw err;
    }
    check(whole.error === null, `readEventFile succeeded where the parser failed with ${whole.error}`);
    check(result.events.length === whole.events.length, `readEventFile gave ${result.events.length} events, the parser ${whole.events.length}`);
    check((result.warnings.length > 0) === (whole.end !== 'null'), 'readEventFile warned about truncation differently from the parser');
  },
};

// ---- WAV ----

const wavTarget: Target = {
  name: 'wav',
  weight: 1,
  allowed: [WavError],
  gen(rng) {
    return pick(rng, () => validWav(rng), (b) => mutateBytes(rng, b), 0.03, 0.07);
  },
  run(input) {
    const w = readWav(input);
    check(w.samples.length === w.frames * w.channels, `readWav: ${w.samples.length} samples for ${w.frames} frames × ${w.channels}`);
    check(w.samples.length * (w.bitsPerSample / 8) <= input.length, `readWav returned more samples (${w.samples.length}) than the ${input.length} bytes hold`);
  },
};

// ---- the operator console: a page's websocket messages, POST /control bodies, meter frames ----

const PAGE_MESSAGES: unknown[] = [
  { t: 'control', userId: 'alice', gainDb: -6, pan: -1, mute: true }, { t: 'control', userId: 'bob', gainDb: null },
  { t: 'master', room: 'studio', gainDb: 3 }, { t: 'monitor', on: true, room: 'main', solo: ['5:alice/1@c-3', '3:bob/1@'] },
];
const CONTROL_BODIES: unknown[] = [{ userId: 'alice', gainDb: -6, pan: 0.5, mute: false }, { room: 'main', masterGainDb: -3 }, { masterGainDb: null }];

/** What a control the console passes to the mixer may be: a gain the mixer takes (≥ 0, ≤ +12 dB), a pan in range. */
function checkControl(c: MixerControl): void {
  if (c.kind === 'gain' || c.kind === 'master') check(Number.isFinite(c.gain) && c.gain >= 0 && c.gain <= 10 ** (12 / 20) + 1e-9, `gain ${c.gain} accepted`);
  if (c.kind === 'pan') check(c.pan >= -1 && c.pan <= 1, `pan ${c.pan} accepted`);
  if (c.kind === 'mute') check(typeof c.mute === 'boolean', 'mute not a boolean');
  if (c.kind !== 'master') check(typeof c.userId === 'string' && c.userId !== '', 'an empty userId accepted');
}

const consoleTarget: Target = {
  name: 'console',
  weight: 1,
  allowed: [ControlError, MeterFrameError],
  gen(rng) {
    const k = rng.int(3);
    let body: Buffer;
    if (k === 2) {
      const valid = () => encodeMeterFrame({ layoutId: rng.int(1 << 30), frameSeq: rng.int(1 << 30), tracks: [{ peak: -6, level: -12 }, { peak: -Infinity, level: -Infinity }], rooms: [{ peak: 0.5, level: -3 }] });
      body = pick(rng, valid, (b) => mutateBytes(rng, b));
    } else {
      const valid = () => Buffer.from(JSON.stringify(rng.pick(k === 0 ? PAGE_MESSAGES : CONTROL_BODIES)));
      body = pick(rng, valid, (b) => mutateJson(rng, JSON.parse(b.toString())));
    }
    return Buffer.concat([Buffer.from([k]), body]);
  },
  run(input) {
    if (input.length === 0) return;
    const body = input.subarray(1);
    if (input[0] === 0) {
      const m = readPageMessage(body.toString('utf8'));
      if (m.t === 'control') { check(m.controls.length > 0, 'a control message with no control'); m.controls.forEach(checkControl); }
      noPollution();
    } else if (input[0] === 1) {
      let v: unknown;
      try { v = JSON.parse(body.toString('utf8')); } catch { return; } // the server answers non-JSON itself
      const cs = readControlBody(v);
      check(cs.length > 0, 'a body with no control');
      cs.forEach(checkControl);
      noPollution();
    } else {
      const f = decodeMeterFrame(body);
      for (const x of [...f.tracks, ...f.rooms]) for (const d of [x.peak, x.level]) check(d === -Infinity || (d >= -327.68 && d <= 327.67), `meter value ${d}`);
      // One round through the encoder (which clamps to −120…+24 dB) is stable from then on.
      const once = encodeMeterFrame(f);
      check(encodeMeterFrame(decodeMeterFrame(once)).equals(once), 'a meter frame does not survive decode → encode');
    }
  },
};

export const TARGETS: readonly Target[] = [
  parserTarget, audioTarget, opusTarget, helloTarget, qosTarget, metadataTarget, controlTarget, eventsTarget, eventFileTarget, wavTarget, consoleTarget,
];
export const EXTRA_TARGETS: readonly Target[] = [helloBoundsTarget];

export { encodeFrame };

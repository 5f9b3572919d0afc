// Fuzzing targets: each makes one input from an Rng (a mutated valid input, or random bytes) and feeds it to one of the
// project's parsers, checking invariants beyond "does not throw": split and coalesced reads parse identically, an
// Opus packet the TOC check accepts decodes in real libopus to exactly the samples the check computed, nothing
// pollutes Object.prototype. Only the module's own error classes may be thrown; anything else is a failure.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  FrameType, ProtocolError, decodeAudioPayload, decodeErrorPayload, decodeJsonPayload, decodePing, decodePong,
  encodeFrame, encodeJsonFrame, isLegalOpusFrameSamples, validateClientHello, validateServerHello, type JsonObject,
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
import { UdpSessionTable, type UdpFrom, type UdpSession } from '../../runtime/protocol/udp-sessions';
import { Seed002Ingest, type Seed002SampleFormat, type Seed002Output } from '../../runtime/protocol/seed002';
import { RtpSourceTable } from '../../runtime/rtp/sources';
import { RtcpFormatError, parseRtcp, type ReportBlock } from '../../runtime/rtp/rtcp';
import { RtpPayloadTable, SdpError, parseSdp, type SdpSession } from '../../runtime/rtp/sdp';
import { SapFormatError, parseSap } from '../../runtime/rtp/sap';
import { SapDirectory, type SapStream } from '../../runtime/rtp/sap-directory';
import {
  FRAME_HEADER_BYTES, UDP_TOKEN, audioPayload, clientHello, opusPackets, qosReport, rtcpCompound, rtpConfig, rtpConfigSdp,
  rtpPacket, sapPacket, sdpText, seed002Datagram, serverHello, sharedState, udpDatagram, validEvent, validEventStream,
  validFrame, validStream, validWav, type RtpConfig,
} from './corpus';
import { mutateAudioPayload, mutateBytes, mutateFrame, mutateJson, mutateSdp, randomSplits } from './mutate';
import { isIP } from 'node:net';
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

// ---- UDP and RTP (issue 13): sequences of datagrams into one socket-free table ----

/**
 * The last datagram of a sequence was dropped (by the table, with its reason as the code): a refusal. The drops
 * before it are checked by the invariants (each counted once, by reason), not thrown.
 */
export class DatagramDropped extends Error {
  override name = 'DatagramDropped';
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** One datagram of a sequence: from which source (an index), after how long (dt × 100 ms; 255 = 20 s, past the idle timeouts). */
interface Datagram { from: number; dt: number; bytes: Buffer }

/** `head` config bytes, then per datagram [from u8][dt u8][length u16 BE][bytes]: the whole sequence is one input. */
function packDatagrams(head: number[], ds: Datagram[]): Buffer {
  const parts: Buffer[] = [Buffer.from(head)];
  for (const d of ds) {
    const h = Buffer.alloc(4);
    const bytes = d.bytes.subarray(0, 0xffff);
    h[0] = d.from; h[1] = d.dt; h.writeUInt16BE(bytes.length, 2);
    parts.push(h, bytes);
  }
  return Buffer.concat(parts);
}

function unpackDatagrams(input: Buffer, headBytes: number): Datagram[] {
  const out: Datagram[] = [];
  let at = headBytes;
  while (at + 4 <= input.length) {
    const n = input.readUInt16BE(at + 2);
    out.push({ from: input[at], dt: input[at + 1], bytes: input.subarray(at + 4, Math.min(input.length, at + 4 + n)) });
    at += 4 + n;
  }
  return out;
}

const msOf = (dt: number) => (dt === 255 ? 20_000 : dt * 100);
const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

/** Senders: a few on one host (told apart by port), others elsewhere, one IPv6. */
const FROM: readonly UdpFrom[] = [
  { address: '127.0.0.1', port: 5000 }, { address: '127.0.0.1', port: 5001 }, { address: '10.0.0.2', port: 5000 },
  { address: '::1', port: 5000 }, { address: '192.168.1.9', port: 40000 }, { address: '10.0.0.3', port: 1 },
];

/** A sequence of datagrams from a few senders: valid ones (a sender starts with its first), mutated ones, noise. */
function datagramSequence(rng: Rng, first: (from: number) => Buffer, valid: (from: number) => Buffer, mutate: (b: Buffer) => Buffer): Datagram[] {
  const ds: Datagram[] = [];
  const started = new Set<number>();
  const n = rng.range(1, 24);
  for (let i = 0; i < n; i++) {
    const from = rng.bool(0.7) ? rng.int(3) : rng.int(FROM.length);
    const dt = rng.bool(0.03) ? 255 : rng.small(30);
    let bytes: Buffer;
    if (!started.has(from) && rng.bool(0.8)) { started.add(from); bytes = first(from); } else {
      const r = rng.float();
      bytes = r < 0.04 ? rng.bytes(rng.small(2048)) : r < 0.06 ? Buffer.alloc(rng.small(8)) : r < 0.5 ? valid(from) : mutate(valid(from));
    }
    ds.push({ from, dt, bytes });
  }
  return ds;
}

const MAX_CONNECTIONS = [1, 2, 4, 64];

const udpSessionsTarget: Target = {
  name: 'udp-sessions',
  weight: 1,
  allowed: [DatagramDropped],
  gen(rng) {
    const hello = () => { const h = clientHello(rng); h.token = UDP_TOKEN; return encodeFrame(FrameType.HELLO, Buffer.from(JSON.stringify(h))); };
    const mutate = (b: Buffer) => {
      if (b[3] === FrameType.AUDIO && rng.bool(0.5)) return encodeFrame(FrameType.AUDIO, mutateAudioPayload(rng, b.subarray(FRAME_HEADER_BYTES)));
      if ((b[3] === FrameType.HELLO || b[3] === FrameType.QOS || b[3] === FrameType.METADATA) && rng.bool(0.3)) return encodeFrame(b[3], mutateJson(rng, JSON.parse(b.subarray(FRAME_HEADER_BYTES).toString())));
      return mutateFrame(rng, b, () => udpDatagram(rng));
    };
    return packDatagrams([rng.u32() & 0xff], datagramSequence(rng, hello, () => udpDatagram(rng), mutate));
  },
  run(input) {
    const cfg = input[0] ?? 0;
    const token = cfg & 1 ? UDP_TOKEN : undefined;
    const maxConnections = MAX_CONNECTIONS[(cfg >> 1) & 3];
    const serverName = cfg & 8 ? 'xcast' : undefined;
    const table = new UdpSessionTable({ token, limits: { maxConnections }, serverName, clock: () => 1763740000000000 });
    const ackBytes = encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', sessionId: '6f1c3f0e-6b7e-4d0b-9a53-0c1d1d0f6a11', serverTime: 1763740000000000, ...(serverName ? { name: serverName } : {}) }).length;
    // The sessions opened by an accepted HELLO, as the test sees them: a session leaves with its 'close'.
    const helloed = new Map<string, UdpSession>();
    table.on('close', (s) => { if (helloed.get(s.key) === s) helloed.delete(s.key); });
    let now = 0;
    let accepted = 0;
    let last: DatagramDropped | null = null;
    for (const d of unpackDatagrams(input, 1)) {
      now += msOf(d.dt);
      const from = FROM[d.from % FROM.length];
      const key = `${from.address}:${from.port}`;
      const dropped = table.stats.dropped;
      const r = table.handle(d.bytes, from, now);
      if (r.kind === 'drop') {
        check(table.stats.dropped === dropped + 1 && typeof r.reason === 'string' && r.reason !== '', `a drop counted ${table.stats.dropped - dropped} times, reason ${String(r.reason)}`);
        last = new DatagramDropped(r.reason!, r.message ?? '');
      } else {
        check(table.stats.dropped === dropped, `an accepted ${r.kind} counted as a drop`);
        accepted++;
        last = null;
      }
      check(sum(table.stats.drops) === table.stats.dropped, `drops by reason add up to ${sum(table.stats.drops)}, dropped is ${table.stats.dropped}`);
      check(accepted + table.stats.dropped === table.stats.datagrams, `${accepted} accepted + ${table.stats.dropped} dropped ≠ ${table.stats.datagrams} datagrams`);
      // No amplification: a reply is at most the datagram + 64 bytes, except the HELLO-ack, which has a fixed size
      // (protocol, a 36-character sessionId, serverTime, the name): a minimal 48-byte HELLO draws 116 bytes (see the report).
      if (r.reply) check(r.reply.length <= d.bytes.length + 64 || (r.kind === 'hello' && r.reply.length <= ackBytes), `a ${d.bytes.length}-byte ${r.kind} datagram got a ${r.reply.length}-byte reply (amplification)`);
      check(table.size <= maxConnections, `${table.size} sessions, maxConnections ${maxConnections}`);
      if (r.kind === 'hello') {
        check(r.session !== undefined && r.session === table.get(from), 'an accepted HELLO whose session is not the table\'s');
        if (token) check(r.session!.hello.token === token, 'a HELLO without the token accepted');
        helloed.set(key, r.session!);
      } else if (r.kind === 'audio') {
        check(r.session !== undefined && helloed.get(key) === r.session && table.get(from) === r.session, `AUDIO accepted from ${key}, which has no accepted HELLO`);
        if (token) check(r.session!.hello.token === token, 'AUDIO accepted from a session without the token');
        // The same payload as TCP's reader would take it.
        let tcp: ReturnType<typeof decodeAudioPayload>;
        try { tcp = decodeAudioPayload(d.bytes.subarray(FRAME_HEADER_BYTES)); } catch (e) { throw new InvariantError(`UDP accepted an AUDIO that TCP refuses: ${(e as Error).message}`); }
        const h = r.header!;
        check(JSON.stringify(h) === JSON.stringify(tcp.header) && r.data!.equals(tcp.data), 'UDP and TCP read an AUDIO payload differently');
        if (h.codec === 2) check(isLegalOpusFrameSamples(h.frameSamples, h.sampleRate) && opusPacketSamples(r.data!, h.sampleRate) === h.frameSamples, `an accepted Opus AUDIO of ${h.frameSamples} samples fails the TOC check`);
      } else if (r.kind === 'error-frame') {
        check(table.get(from) === undefined, 'an ERROR frame left its session open');
      } else if (r.kind !== 'drop') {
        check(r.session !== undefined && r.session === table.get(from), `a ${r.kind} accepted from ${key} without a session`);
      }
    }
    if (last) throw last;
  },
};

// ---- RTP and RTCP ----

/** The config bytes of an RTP input: [codec | channels-1 << 2 | noSdp << 5, payload type]. */
function rtpConfigOf(input: Buffer): { c: RtpConfig; sdp: boolean } {
  const b = input[0] ?? 0;
  const codec = (['opus', 'opus', 'L16', 'L24'] as const)[b & 3];
  return { c: { codec, channels: codec === 'opus' ? 2 : ((b >> 2) & 7) + 1, payloadType: codec === 'opus' ? 96 + ((input[1] ?? 0) & 31) : codec === 'L16' ? 96 : 97 }, sdp: codec !== 'opus' || (b & 0x20) === 0 };
}

const RTP_MAX_SOURCES = 4;
const SSRCS = [0x11111111, 0x22222222, 0xdeadbeef, 0];

function checkBlock(b: ReportBlock, what: string): void {
  check(Number.isInteger(b.fractionLost) && b.fractionLost >= 0 && b.fractionLost <= 255, `${what}: fraction lost ${b.fractionLost}`);
  check(Number.isInteger(b.cumulativeLost) && b.cumulativeLost >= -(1 << 23) && b.cumulativeLost < 1 << 23, `${what}: cumulative lost ${b.cumulativeLost}`);
  for (const k of ['ssrc', 'highestSeq', 'jitter', 'lsr', 'dlsr'] as const) check(Number.isInteger(b[k]) && b[k] >= 0 && b[k] <= 0xffffffff, `${what}: ${k} ${b[k]}`);
}

const rtpTarget: Target = {
  name: 'rtp',
  weight: 1,
  allowed: [DatagramDropped],
  gen(rng) {
    const cfg = rng.u32() & 0xff;
    const pt = rng.u32() & 0xff;
    const { c } = rtpConfigOf(Buffer.from([cfg, pt]));
    const seq = [rng.int(65536), rng.int(65536), rng.int(65536), rng.int(65536), rng.int(65536), rng.int(65536)];
    const ssrcOf = (from: number) => SSRCS[from % SSRCS.length];
    // An RTCP compound has the top bit of `from` set.
    const valid = (from: number) => (rng.bool(0.15) ? rtcpCompound(rng, ssrcOf(from)) : rtpPacket(rng, rng.bool(0.9) ? c : rtpConfig(rng), rng.bool(0.9) ? ssrcOf(from) : rng.u32(), seq[from]++));
    const mutate = (b: Buffer) => {
      const m = Buffer.from(b);
      switch (rng.int(4)) {
        case 0: if (m.length > 12) m[12] = rng.u32() & 0xff; return m;                       // the Opus TOC byte
        case 1: if (m.length > 13) m[13] = rng.pick([0, 1, 0x3f, 0x40, 0x81, 0xc1, 0xff]); return m; // code-3 count byte
        case 2: m[0] ^= 1 << rng.int(8); return m;                                            // V, P, X, CC
        default: return mutateBytes(rng, m);
      }
    };
    const ds = datagramSequence(rng, (from) => valid(from), valid, mutate);
    for (const d of ds) if (d.bytes.length >= 2 && d.bytes[1] >= 200 && d.bytes[1] <= 204 && rng.bool(0.9)) d.from |= 0x80;
    return packDatagrams([cfg, pt], ds);
  },
  run(input) {
    const { c, sdp } = rtpConfigOf(input);
    const payloads = sdp ? new RtpPayloadTable(parseSdp(rtpConfigSdp(c))) : new RtpPayloadTable();
    const table = new RtpSourceTable({ payloads, maxSources: RTP_MAX_SOURCES });
    let now = 1_000_000;
    let accepted = 0;
    let packets = 0;
    let last: DatagramDropped | null = null;
    for (const d of unpackDatagrams(input, 2)) {
      now += msOf(d.dt) * 1000;
      const from = FROM[(d.from & 0x7f) % FROM.length];
      if (d.from & 0x80) {
        let pkts;
        try { pkts = parseRtcp(d.bytes); } catch (e) {
          if (!(e instanceof RtcpFormatError)) throw e;
          last = new DatagramDropped(`rtcp-${e.reason}`, e.message);
          continue;
        }
        last = null;
        for (const p of pkts) {
          if (p.type === 'sr' || p.type === 'rr') {
            check(p.reports.length <= 31, `an RTCP ${p.type} of ${p.reports.length} blocks`);
            p.reports.forEach((b) => checkBlock(b, `a parsed ${p.type} block`));
            if (p.type === 'sr') table.onSenderReport(p.ssrc, from.address, p.sender.ntpMsw, p.sender.ntpLsw, now);
          } else if (p.type === 'sdes') {
            for (const ch of p.chunks) check(ch.cname === undefined || ch.cname.length <= 255, `an SDES CNAME of ${ch.cname?.length} characters`);
          } else if (p.type === 'bye') {
            check(p.ssrcs.length <= 31, `a BYE of ${p.ssrcs.length} sources`);
            for (const ssrc of p.ssrcs) { const s = table.find(ssrc, from.address, from.port); if (s) table.remove(s); }
          }
        }
        continue;
      }
      packets++;
      const before = sum(table.dropped);
      const src = table.accept(d.bytes, from.address, from.port, now);
      if (src === null) {
        check(sum(table.dropped) === before + 1 && table.lastDropReason !== '', `an RTP drop counted ${sum(table.dropped) - before} times`);
        last = new DatagramDropped(table.lastDropReason, table.lastDropDetail);
      } else {
        accepted++;
        last = null;
        const p = table.packet;
        check(sum(table.dropped) === before, 'an accepted RTP packet counted as a drop');
        check(src === table.find(p.ssrc, from.address, from.port) && src.format.payloadType === p.payloadType, 'an accepted packet\'s source is not its SSRC and address\'s, or of another payload type');
        check(p.payload.length <= d.bytes.length - 12, 'a payload longer than the datagram');
        if (src.format.codec === 'opus') {
          const samples = opusPacketSamples(p.payload, 48000);
          check(samples > 0, `an accepted Opus payload of ${p.payload.length} bytes fails the TOC check`);
          // What the ingest's decoder then does with it: real libopus, exactly that many samples.
          decodeAccepted(p.payload, 48000, src.format.channels, samples);
        } else {
          const frame = (src.format.codec === 'L16' ? 2 : 3) * src.format.channels;
          check(p.payload.length % frame === 0, `an accepted ${src.format.codec} payload of ${p.payload.length} bytes is not whole ${src.format.channels}-channel samples`);
        }
      }
      check(accepted + sum(table.dropped) === packets, `${accepted} accepted + ${sum(table.dropped)} dropped ≠ ${packets} RTP packets`);
      check(table.size <= RTP_MAX_SOURCES && table.sources().length === table.size, `${table.size} sources (${table.sources().length} listed), at most ${RTP_MAX_SOURCES}`);
    }
    // Every source's receiver report: in range, and our RTCP parser reads back what our builder wrote.
    for (const s of table.sources()) {
      const rr = table.receiverReport(s, 0x5eed, 'xcast', now);
      const back = parseRtcp(rr);
      check(back[0].type === 'rr' && back[0].reports.length === 1, 'our receiver report does not parse back');
      if (back[0].type === 'rr') checkBlock(back[0].reports[0], `the RR of ${s.userId}`);
    }
    if (last) throw last;
  },
};

// ---- SAP and SDP ----

function checkSdp(s: SdpSession, what: string): void {
  const conn = (c: SdpSession['connection']) => {
    if (!c) return;
    check(isIP(c.address) !== 0, `${what}: connection address ${c.address}`);
    check(c.ttl === undefined || (Number.isInteger(c.ttl) && c.ttl >= 0 && c.ttl <= 255), `${what}: TTL ${c.ttl}`);
  };
  conn(s.connection);
  for (const a of s.audio) {
    check(Number.isInteger(a.port) && a.port >= 0 && a.port <= 65535, `${what}: port ${a.port}`);
    conn(a.connection);
    for (const ms of [a.ptimeMs, a.maxptimeMs]) check(ms === undefined || (Number.isFinite(ms) && ms > 0), `${what}: ptime ${ms}`);
    for (const f of a.formats) {
      check(Number.isInteger(f.payloadType) && f.payloadType >= 0 && f.payloadType <= 127, `${what}: payload type ${f.payloadType}`);
      check(Number.isSafeInteger(f.clockRate) && f.clockRate > 0, `${what}: clock rate ${f.clockRate}`);
      check(Number.isInteger(f.channels) && f.channels >= 1 && f.channels <= 255, `${what}: channels ${f.channels}`);
    }
  }
  // What an ingest given this SDP takes.
  const t = new RtpPayloadTable(s);
  for (const pt of t.payloadTypes()) {
    const info = t.get(pt)!;
    check(Number.isSafeInteger(info.clockRate) && info.clockRate > 0 && info.channels >= 1, `${what}: the payload table takes PT ${pt} at ${info.clockRate} Hz × ${info.channels}`);
  }
}

function checkStream(s: SapStream): void {
  check(s.port === null || (Number.isInteger(s.port) && s.port >= 0 && s.port <= 65535), `SAP stream port ${s.port}`);
  check(s.ttl === null || (Number.isInteger(s.ttl) && s.ttl >= 0 && s.ttl <= 255), `SAP stream TTL ${s.ttl}`);
  check(s.msgIdHash >= 0 && s.msgIdHash <= 0xffff, `SAP msgIdHash ${s.msgIdHash}`);
  for (const f of s.formats) check(Number.isSafeInteger(f.clockRate) && f.clockRate > 0 && f.channels >= 1, `SAP stream format ${f.rtpmap}`);
  check(s.intervalMs === null || (Number.isFinite(s.intervalMs) && s.intervalMs >= 0), `SAP interval ${s.intervalMs}`);
}

const SAP_MAX_STREAMS = 8;
let sapDirectory = new SapDirectory({ maxStreams: SAP_MAX_STREAMS });
let sapUses = 0;
let sapNow = 0;

const sapSdpTarget: Target = {
  name: 'sap-sdp',
  weight: 1,
  allowed: [SapFormatError, SdpError],
  gen(rng) {
    if (rng.bool(0.5)) {
      const body = pick(rng, () => Buffer.from(sdpText(rng)), (b) => Buffer.from(mutateSdp(rng, b.toString('utf8'))), 0.03, 0.1);
      return Buffer.concat([Buffer.from([1]), body]);
    }
    const mutate = (b: Buffer) => {
      if (rng.bool(0.4) && !(b[0] & 1)) {   // an uncompressed announcement: mutate the SDP inside it
        const head = (b[0] & 0x10 ? 20 : 8) + b[1] * 4;
        const nul = b.indexOf(0, head);
        return Buffer.concat([b.subarray(0, nul + 1), Buffer.from(mutateSdp(rng, b.subarray(nul + 1).toString('utf8')))]);
      }
      return mutateBytes(rng, b, () => sapPacket(rng));
    };
    return Buffer.concat([Buffer.from([0, rng.int(FROM.length), rng.bool(0.02) ? 255 : rng.small(50)]), pick(rng, () => sapPacket(rng), mutate, 0.03, 0.15)]);
  },
  run(input) {
    if (input.length === 0) return;
    if (input[0] === 1) {
      const s = parseSdp(input.subarray(1).toString('utf8'));
      checkSdp(s, 'parseSdp');
      return;
    }
    if (input.length < 3) return;
    const datagram = input.subarray(3);
    if (++sapUses > 500) { sapDirectory = new SapDirectory({ maxStreams: SAP_MAX_STREAMS }); sapUses = 0; }
    sapNow += input[2] === 255 ? 4_000_000 : input[2] * 1000;
    const dir = sapDirectory;
    const dropped = dir.stats.dropped;
    let direct: unknown = null;
    try {
      const p = parseSap(datagram);
      check(p.msgIdHash >= 0 && p.msgIdHash <= 0xffff && isIP(p.origin) !== 0, `parseSap: hash ${p.msgIdHash}, origin ${p.origin}`);
    } catch (e) {
      if (!(e instanceof SapFormatError)) throw e;
      direct = e;
    }
    const heard = dir.hear(datagram, FROM[input[1] % FROM.length], sapNow);
    if (dir.size > SAP_MAX_STREAMS) throw new InvariantError(`${dir.size} SAP streams, maxStreams ${SAP_MAX_STREAMS}`);
    if (heard.kind === 'drop') {
      check(dir.stats.dropped === dropped + 1 && sum(dir.stats.drops) === dir.stats.dropped, 'a SAP drop not counted once');
      throw direct ?? (heard.reason === 'sdp' ? new SdpError(heard.message) : new SapFormatError(heard.reason, heard.message));
    }
    check(direct === null, 'the directory took a datagram parseSap refuses');
    if (heard.kind === 'new' || heard.kind === 'changed' || heard.kind === 'repeat') {
      checkStream(heard.stream);
      checkSdp(parseSdp(heard.stream.sdp), 'an announced SDP');
    }
    for (const s of dir.expire(sapNow)) check(sapNow - s.lastHeardAt >= dir.timeoutOf(s), 'a SAP stream expired early');
  },
};

// ---- seed 002 ----

const SEED_FORMATS: readonly Seed002SampleFormat[] = ['s16le', 's16be', 'f32le'];
const SEED_BYTES: Record<Seed002SampleFormat, number> = { s16le: 2, s16be: 2, f32le: 4 };
const SEED_MAX_SOURCES = 3;

function seedConfigOf(b: number): { format: Seed002SampleFormat; channels: number; output: Seed002Output } {
  const format = SEED_FORMATS[(b & 3) % 3];
  return { format, channels: ((b >> 2) & 7) + 1, output: b & 0x20 ? 'pcm_f32le' : 'pcm_s16le' };
}

const seed002Target: Target = {
  name: 'seed002',
  weight: 1,
  allowed: [DatagramDropped],
  gen(rng) {
    const cfg = rng.u32() & 0xff;
    const { format, channels } = seedConfigOf(cfg);
    const seq = [rng.u32(), rng.u32(), rng.u32(), rng.u32(), rng.u32(), rng.u32()];
    // Sometimes a sender of another format or channel count than the node is set to.
    const valid = (from: number) => seed002Datagram(rng, rng.bool(0.9) ? SEED_BYTES[format] * channels : rng.range(1, 32), seq[from]++);
    return packDatagrams([cfg], datagramSequence(rng, valid, valid, (b) => mutateBytes(rng, b)));
  },
  run(input) {
    const o = seedConfigOf(input[0] ?? 0);
    const ingest = new Seed002Ingest({ ...o, sampleRate: 48000, maxSources: SEED_MAX_SOURCES });
    let now = 0;
    let last: DatagramDropped | null = null;
    for (const d of unpackDatagrams(input, 1)) {
      now += msOf(d.dt);
      const from = FROM[d.from % FROM.length];
      const dropped = ingest.stats.dropped;
      const r = ingest.handle(d.bytes, from, now);
      if (r.kind === 'drop') {
        check(ingest.stats.dropped === dropped + 1 && ['short', 'partial_sample', 'too_many_samples'].includes(r.reason!), `a seed 002 drop counted ${ingest.stats.dropped - dropped} times, reason ${String(r.reason)}`);
        last = new DatagramDropped(r.reason!, r.message ?? '');
      } else {
        last = null;
        const h = r.header!;
        const out = o.output === 'pcm_s16le' ? 2 : 4;
        check(Number.isInteger(h.frameSamples) && h.frameSamples >= 1 && h.frameSamples <= 0xffff, `seed 002 frameSamples ${h.frameSamples}`);
        check(h.channels === o.channels && r.data!.length === h.frameSamples * h.channels * out, `seed 002 audio of ${r.data!.length} bytes for ${h.frameSamples} samples × ${h.channels} as ${o.output}`);
        check(d.bytes.length - 4 === h.frameSamples * h.channels * SEED_BYTES[o.format], 'seed 002: accepted audio is not the datagram\'s whole samples');
        check(h.seq === d.bytes.readUInt32BE(0), 'seed 002: the header\'s seq is not the datagram\'s');
        check(r.source !== undefined && ingest.list().includes(r.source) && r.source.key === `${from.address}:${from.port}`, 'seed 002 audio without its source');
        if (o.output === 'pcm_f32le' && o.format !== 'f32le') {
          for (let i = 0; i < r.data!.length; i += 4) { const v = r.data!.readFloatLE(i); check(v >= -1 && v < 1, `s16 → f32 gave ${v}`); }
        }
      }
      check(sum(ingest.stats.drops) === ingest.stats.dropped && ingest.stats.packets + ingest.stats.dropped === ingest.stats.datagrams, 'seed 002 counts do not add up');
      check(ingest.size <= SEED_MAX_SOURCES, `${ingest.size} seed 002 sources, at most ${SEED_MAX_SOURCES}`);
    }
    if (last) throw last;
  },
};

export const TARGETS: readonly Target[] = [
  parserTarget, audioTarget, opusTarget, helloTarget, qosTarget, metadataTarget, controlTarget, eventsTarget, eventFileTarget, wavTarget, consoleTarget,
  udpSessionsTarget, rtpTarget, sapSdpTarget, seed002Target,
];
export const EXTRA_TARGETS: readonly Target[] = [helloBoundsTarget];

export { encodeFrame };

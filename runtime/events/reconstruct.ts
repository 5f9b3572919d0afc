// Offline re-mix of a session from its .xcev event file: late packets put back into their frame slots, gains/mutes/master overridable, optional per-channel stems.
import fs from 'node:fs';
import path from 'node:path';
import { addTrack, writeMix } from '../audio/mixer';
import { OpusDecoder } from '../audio/opus';
import { opusPacketSamples } from '../protocol/opus-toc';
import { PcmConcealment, crossfade, frameTrimFadeSamples, mapChannels } from '../audio/playout';
import { readF32, s16ToF32 } from '../audio/pcm';
import { WavWriter } from '../audio/wav';
import { EventType, PCM_F32LE, PCM_S16LE, type MixParametersEvent } from './codec';
import { EventFileRandomAccess } from './reader';
import { SlotSource, indexSession, type ChannelIndex, type SessionIndex } from './session';
import { DEFAULT_ROOM, isRoomName } from '../rooms';

/** Why a session cannot be reconstructed; the message names the channel or option. */
export class ReconstructError extends Error {
  override readonly name = 'ReconstructError';
  constructor(readonly code: 'no_format' | 'unsupported_channel' | 'frame_size_mismatch' | 'bad_option', message: string) {
    super(message);
  }
}

export interface ReconstructProgress {
  /** 'index': reading the file once; 'mix': decoding and mixing frame by frame. */
  phase: 'index' | 'mix';
  done: number;
  total: number;
}

export interface ReconstructOptions {
  /** The mix WAV to write. */
  out: string;
  /** The room whose mix to rebuild (runtime/rooms.ts): 'main' (default) from 0x02, another room from its 0x13 frames. */
  room?: string;
  /** Linear gains replacing the recorded ones for the whole session, keyed by channel id ("3") or musician name ("alice"); an id wins over a name. */
  gains?: Record<string, number>;
  /** Channel ids or musician names to leave out of the mix. */
  mute?: string[];
  /** Master gain in dB replacing the recorded master. */
  masterDb?: number;
  /** A directory for one WAV per channel: the decoded channel before gain and pan, in its own channel count, aligned sample for sample with the mix. */
  stems?: string;
  /** Channels of the mix, as the live mixer's `channels`; default 2. */
  channels?: number;
  /** Sample format of the WAVs; default 'f32' (the mix is not clipped, as in the live float path). */
  format?: 's16' | 'f32';
  onProgress?: (p: ReconstructProgress) => void;
}

export interface ReconstructedChannel {
  channelId: number;
  name: string;
  /** Frames filled with the packet the live mix used. */
  live: number;
  /** Frames the live mix concealed, filled here with the packet that arrived too late. */
  late: number;
  /** Frames concealed here too (packet never received). */
  concealed: number;
  /** Frames whose live packet is not in the file (concealed here). */
  missing: number;
  /** Packets libopus refused (concealed instead, as live). */
  decodeErrors: number;
  /** Latency trims of the live buffer replayed: runs of whole packets it dropped, faded over as live. */
  trims: number;
  /** Packets those trims dropped. */
  trimmedPackets: number;
  stem: string | null;
}

export interface ReconstructResult {
  out: string;
  /** The room rebuilt. */
  room: string;
  sampleRate: number;
  frameSamples: number;
  channels: number;
  /** Frames written (mixed frames plus silence for gaps in the frame sequence). */
  frames: number;
  durationSeconds: number;
  tracks: ReconstructedChannel[];
  warnings: string[];
}

interface ChannelRun {
  ix: ChannelIndex;
  name: string;
  /** Channels of its packets (the stem's channel count). */
  srcChannels: number;
  decoder: OpusDecoder | null;
  /** Relative seq of the last Opus packet decoded. */
  lastDecoded: number;
  /** Its frame in its own layout, and converted to the mix's. */
  frame: Float32Array;
  mixFrame: Float32Array;
  silence: Float32Array;
  // PCM concealment, the playout buffer's own (its conceal.ts), in the channel's layout (the stem) and the mix's.
  concealSrc: PcmConcealment;
  concealMix: PcmConcealment;
  // Latency trims: the last slot with a seq and its frame (relative frame seqs), where the current run of
  // consecutive frames with this channel started, the global index of its previous frame, and the faded-out head.
  lastSlot: number;
  lastSlotF: number;
  runStartF: number;
  prevK: number;
  fadeW: number;
  headTaken: boolean;
  headSrc: Float32Array;
  headMix: Float32Array;
  stem: WavWriter | null;
  lastFrame: number;
  gainOverride: number | undefined;
  muteOverride: boolean;
  result: ReconstructedChannel;
}

/** Largest seq jump over which skipped packets are decoded to keep the Opus state as live (beyond: a restart). */
const MAX_CATCH_UP = 1000;

function safeFileName(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[/\\:*?"<>|\x00-\x1f]/g, '_').slice(0, 64);
}

/**
 * Rebuilds the mix of a recorded session. Each channel is decoded as the live playout
 * buffer does it (same decoder, rate and channels; packets in sequence order, one decode
 * or one concealment per frame; packets the live buffer decoded only to drop them are
 * decoded and dropped here too, and where it dropped whole packets to trim its latency the
 * next frame fades in from the first dropped one as it did live), then mixed with the live mixer's own addTrack/writeMix
 * in the order the frame's entries list. Where the live mix concealed, the packet that
 * belonged to that slot is used if it arrived at all (session.ts assigns slots). With no
 * late or lost packets and unchanged parameters the result equals the live mix.
 */
export async function reconstruct(file: string, opts: ReconstructOptions): Promise<ReconstructResult> {
  if (!opts || typeof opts.out !== 'string' || opts.out === '') throw new ReconstructError('bad_option', 'out: the path of the WAV to write is required');
  if (opts.masterDb !== undefined && !Number.isFinite(opts.masterDb)) throw new ReconstructError('bad_option', `masterDb must be a finite number, got ${opts.masterDb}`);
  for (const [k, v] of Object.entries(opts.gains ?? {})) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ReconstructError('bad_option', `gains["${k}"] must be a finite number ≥ 0, got ${String(v)}`);
  }
  const C = opts.channels ?? 2;
  if (!Number.isInteger(C) || C < 1 || C > 8) throw new ReconstructError('bad_option', `channels must be 1…8, got ${String(opts.channels)}`);
  const format = opts.format ?? 'f32';
  const room = opts.room ?? DEFAULT_ROOM;
  if (!isRoomName(room)) throw new ReconstructError('bad_option', `room must be 1…64 letters, digits, "_" or "-", got ${JSON.stringify(String(room)).slice(0, 80)}`);

  const ix = await indexSession(file, { room, onProgress: (done, total) => opts.onProgress?.({ phase: 'index', done, total }) });
  const warnings = [...ix.warnings];
  if (ix.frames === 0 && ix.rooms.size > 0) {
    const list = [...ix.rooms].map(([r, n]) => `${r} (${n} frames)`).join(', ');
    throw new ReconstructError('bad_option', `room "${room}": ${file} has no frame of this room's mix (rooms: ${list})`);
  }
  if (ix.sampleRate === null || ix.frameSamples === null) {
    throw new ReconstructError('no_format', `${file}: no Stream Info or Audio Frame Mixed event, so the sample rate and frame size are unknown`);
  }
  const sampleRate = ix.sampleRate;
  const frameSamples = ix.frameSamples;
  const len = frameSamples * C;

  const runs = new Map<number, ChannelRun>();
  const writers: WavWriter[] = [];
  const ra = new EventFileRandomAccess(file);
  let framesOut = 0;
  try {
    if (opts.stems) fs.mkdirSync(opts.stems, { recursive: true });
    for (const c of [...ix.channels.values()].sort((a, b) => a.channelId - b.channelId)) {
      if (c.firstFrame < 0) continue; // never in the mix: nothing to place on the timeline
      const run = prepareChannel(c, opts, sampleRate, frameSamples, C, format);
      if (run.stem) writers.push(run.stem);
      runs.set(c.channelId, run);
    }
    // An override that names no channel is most likely a typo: say so rather than mix as if it applied.
    const names = [...ix.channels.values()].filter((c) => c.firstFrame >= 0).map((c) => ({ id: String(c.channelId), name: c.profile?.name ?? '' }));
    const known = names.map((c) => `${c.id}${c.name ? ` (${c.name})` : ''}`).join(', ') || 'none';
    for (const [what, keys] of [['gain', Object.keys(opts.gains ?? {})], ['mute', opts.mute ?? []]] as const) {
      for (const k of keys) {
        if (!names.some((c) => overrideKey([k], c.id, c.name) !== undefined)) warnings.push(`${what} "${k}" names no channel of this session (channels: ${known}); ignored`);
      }
    }
    const outWriter = new WavWriter(opts.out, { sampleRate, channels: C, format });
    writers.push(outWriter);

    const acc = new Float64Array(len);
    const mix = new Float32Array(len);
    const silentOut = new Float32Array(len);
    const masterOverride = opts.masterDb === undefined ? undefined : Math.pow(10, opts.masterDb / 20);
    const params = ix.params;
    const paramsRel = params.map((p) => Number(p.fromFrameSeq - ix.firstFrameSeq!));
    let pi = -1;
    // Room Masters (0x14): the room's own master where one is in force, else 0x11's (a room never set follows main's).
    const masters = room === DEFAULT_ROOM ? [] : ix.roomMasters;
    const mastersRel = masters.map((p) => Number(p.fromFrameSeq - ix.firstFrameSeq!));
    let mi = -1;
    let roomMaster: number | undefined;
    let settings = new Map<number, { gain: number; pan: number; muted: boolean }>();
    const progressEvery = Math.max(1, Math.floor(ix.frames / 100));

    for (let k = 0; k < ix.frames; k++) {
      const f = ix.frameSeqRel[k];
      if (k > 0) {
        const gap = f - ix.frameSeqRel[k - 1] - 1;
        if (gap > 0) {
          warnings.push(`frames ${ix.firstFrameSeq! + BigInt(ix.frameSeqRel[k - 1] + 1)}…${ix.firstFrameSeq! + BigInt(f - 1)} are not in the file; written as silence`);
          for (let g = 0; g < gap; g++) {
            outWriter.write(silentOut);
            for (const run of runs.values()) run.stem?.write(run.silence);
            framesOut++;
          }
        }
      }
      let changed = false;
      while (pi + 1 < params.length && paramsRel[pi + 1] <= f) { pi++; changed = true; }
      if (changed) settings = snapshot(params[pi]);
      let mChanged = false;
      while (mi + 1 < masters.length && mastersRel[mi + 1] <= f) { mi++; mChanged = true; }
      if (mChanged) roomMaster = masters[mi].rooms.find((r) => r.room === room)?.master;
      const master = masterOverride ?? roomMaster ?? (pi >= 0 ? params[pi].master : 1);

      acc.fill(0);
      for (let e = ix.entryStart[k]; e < ix.entryStart[k + 1]; e++) {
        const run = runs.get(ix.entryChannels[e])!;
        if (run.lastFrame === k) continue; // listed twice in one frame: its audio goes in once
        run.lastFrame = k;
        const src = channelFrame(run, k, ix, ra, frameSamples, C, warnings);
        run.stem?.write(src);
        const p = settings.get(run.ix.channelId);
        const muted = run.muteOverride || (p ? p.muted : false);
        const gain = run.gainOverride ?? (p ? p.gain : 1);
        addTrack(acc, run.mixFrame, gain, p ? p.pan : 0, muted, C, frameSamples);
      }
      for (const run of runs.values()) if (run.stem && run.lastFrame !== k) run.stem.write(run.silence);
      writeMix(acc, master, mix, len);
      outWriter.write(mix);
      framesOut++;
      if (opts.onProgress && (k % progressEvery === 0 || k === ix.frames - 1)) opts.onProgress({ phase: 'mix', done: k + 1, total: ix.frames });
    }
  } finally {
    ra.close();
    for (const w of writers) w.close();
  }

  return {
    out: opts.out,
    room,
    sampleRate,
    frameSamples,
    channels: C,
    frames: framesOut,
    durationSeconds: (framesOut * frameSamples) / sampleRate,
    tracks: [...runs.values()].map((r) => r.result),
    warnings,
  };
}

/**
 * The override key that names a channel: its id, else its musician name exactly, else the name
 * ignoring case (a peer's profile says "Alice" where its userId, what the operator knows, is "alice").
 */
function overrideKey(keys: readonly string[], id: string, name: string): string | undefined {
  if (keys.includes(id)) return id;
  if (name === '') return undefined;
  if (keys.includes(name)) return name;
  const lower = name.toLowerCase();
  return keys.find((k) => k.toLowerCase() === lower);
}

/** Each Mix Parameters event is a complete snapshot: a channel it does not list is at unity, centred, unmuted. */
function snapshot(p: MixParametersEvent): Map<number, { gain: number; pan: number; muted: boolean }> {
  const m = new Map<number, { gain: number; pan: number; muted: boolean }>();
  for (const c of p.channels) m.set(c.channelId, { gain: c.gain, pan: c.pan, muted: c.muted });
  return m;
}

function prepareChannel(c: ChannelIndex, opts: ReconstructOptions, sampleRate: number, frameSamples: number, C: number, format: 's16' | 'f32'): ChannelRun {
  const name = c.profile?.name ?? '';
  const id = String(c.channelId);
  const where = `channel ${c.channelId}${name ? ` (${name})` : ''}`;
  const ch = c.channels;
  if (!(ch >= 1 && ch <= 8)) throw new ReconstructError('unsupported_channel', `${where}: ${ch} audio channels (1…8 supported)`);
  if (c.kind === 'pcm') {
    if (c.pcmCodec !== PCM_S16LE && c.pcmCodec !== PCM_F32LE) throw new ReconstructError('unsupported_channel', `${where}: PCM codec ${c.pcmCodec} is neither s16le (0) nor f32le (1)`);
    if (c.pcmSampleRate !== sampleRate) throw new ReconstructError('unsupported_channel', `${where}: PCM at ${c.pcmSampleRate} Hz, the mix runs at ${sampleRate} Hz`);
    if (c.frameSamples !== frameSamples) throw new ReconstructError('frame_size_mismatch', `${where}: packets of ${c.frameSamples} samples, the mix frame is ${frameSamples}`);
  } else if (c.kind === 'opus' && ch > 2) {
    throw new ReconstructError('unsupported_channel', `${where}: Opus with ${ch} channels (1 or 2 supported)`);
  }
  const gains = opts.gains ?? {};
  const gainKey = overrideKey(Object.keys(gains), id, name);
  const gainOverride = gainKey === undefined ? undefined : gains[gainKey];
  const muteOverride = overrideKey(opts.mute ?? [], id, name) !== undefined;
  let stem: WavWriter | null = null;
  let stemPath: string | null = null;
  if (opts.stems) {
    stemPath = path.join(opts.stems, `${c.channelId}${name ? `-${safeFileName(name)}` : ''}.wav`);
    stem = new WavWriter(stemPath, { sampleRate, channels: ch, format });
  }
  return {
    ix: c, name, srcChannels: ch,
    decoder: null,
    lastDecoded: NaN,
    frame: new Float32Array(frameSamples * ch),
    mixFrame: new Float32Array(frameSamples * C),
    silence: new Float32Array(frameSamples * ch),
    concealSrc: new PcmConcealment(frameSamples * ch),
    concealMix: new PcmConcealment(frameSamples * C),
    lastSlot: NaN,
    lastSlotF: NaN,
    runStartF: NaN,
    prevK: -1,
    fadeW: frameTrimFadeSamples(sampleRate, frameSamples),
    headTaken: false,
    headSrc: new Float32Array(frameSamples * ch),
    headMix: new Float32Array(frameSamples * C),
    stem,
    lastFrame: -1,
    gainOverride, muteOverride,
    result: { channelId: c.channelId, name, live: 0, late: 0, concealed: 0, missing: 0, decodeErrors: 0, trims: 0, trimmedPackets: 0, stem: stemPath },
  };
}

/**
 * The channel's audio for global frame k: its slot's packet decoded, or one frame of
 * concealment, faded in from the packets before it where the live buffer trimmed its latency.
 * Leaves the frame in run.frame (own layout) and run.mixFrame (the mix's), and returns run.frame.
 */
function channelFrame(run: ChannelRun, k: number, ix: SessionIndex, ra: EventFileRandomAccess, frameSamples: number, C: number, warnings: string[]): Float32Array {
  const c = run.ix;
  const i = k - c.firstFrame;
  const source = c.slotSource[i] as SlotSource;
  if (source === SlotSource.LIVE) run.result.live++;
  else if (source === SlotSource.LATE) run.result.late++;
  else if (source === SlotSource.MISSING) run.result.missing++;
  else run.result.concealed++;
  const rel = c.slotSeq[i];
  const offset = source === SlotSource.LIVE || source === SlotSource.LATE ? c.packetOffsets.get(rel) : undefined;
  const f = ix.frameSeqRel[k];
  if (run.prevK !== k - 1 || k === 0 || f !== ix.frameSeqRel[k - 1] + 1) run.runStartF = f;
  const trimFrom = source === SlotSource.LIVE ? trimStart(run, rel, f, ix.frameOffset[k]) : NaN;
  run.prevK = k;
  if (!Number.isNaN(rel)) {
    run.lastSlot = rel;
    run.lastSlotF = f;
  }
  if (c.kind === null) {
    // Listed in the mix but not one packet in the file (capture started late, or all lost): silence.
    run.frame.fill(0);
    run.mixFrame.fill(0);
    return run.frame;
  }
  run.headTaken = false;
  const out = c.kind === 'pcm'
    ? pcmFrame(run, offset, trimFrom, ra, frameSamples, C)
    : opusFrame(run, source === SlotSource.LIVE ? rel : NaN, trimFrom, offset, k, ix, ra, frameSamples, C, warnings);
  if (run.headTaken) {
    run.result.trims++;
    run.result.trimmedPackets += rel - trimFrom;
    crossfade(run.headSrc, 0, run.frame, 0, run.fadeW, run.srcChannels);
    crossfade(run.headMix, 0, run.mixFrame, 0, run.fadeW, C);
  }
  return out;
}

/**
 * Where the live buffer trimmed its latency just before this frame (the playout profile 'mixer'):
 * the channel was in the frame before, its seq jumps past the one its timeline continues with (last seq + frames
 * elapsed, as slots are assigned), and every packet skipped had arrived before this frame was mixed — the live
 * buffer drops only packets it holds. Returns the first skipped seq, or NaN when this frame is no trim.
 */
function trimStart(run: ChannelRun, rel: number, f: number, frameOffset: number): number {
  if (Number.isNaN(run.lastSlot) || !(run.lastSlotF >= run.runStartF) || run.lastSlotF >= f) return NaN;
  const expected = run.lastSlot + (f - run.lastSlotF);
  if (!(rel > expected) || rel - expected >= MAX_CATCH_UP) return NaN;
  for (let r = expected; r < rel; r++) {
    const off = run.ix.packetOffsets.get(r);
    if (off === undefined || off > frameOffset) return NaN;
  }
  return expected;
}

/** Keeps the first W samples of a dropped packet (f32 in its own layout in `src`) as the trim's head, in both layouts. */
function takeHead(run: ChannelRun, src: Float32Array, C: number): void {
  const n = run.fadeW * run.srcChannels;
  run.headSrc.set(src.subarray(0, n));
  mapChannels(run.headSrc, 0, run.srcChannels, run.headMix, 0, C, run.fadeW);
  run.headTaken = true;
}

/** A PCM packet event's samples as f32 in `out` (converted as the playout buffer converts them). */
function readPcm(run: ChannelRun, offset: number | undefined, ra: EventFileRandomAccess, out: Float32Array, n: number): boolean {
  const ev = offset === undefined ? null : ra.read(offset);
  if (!ev || ev.type !== EventType.PCM_PACKET_RECEIVED) return false;
  const got = ev.data.length / (ev.codec === PCM_F32LE ? 4 : 2);
  if (got !== n) throw new ReconstructError('frame_size_mismatch', `channel ${run.ix.channelId}: PCM packet at byte ${ev.offset} holds ${got} samples, a frame is ${n}`);
  if (ev.codec === PCM_F32LE) readF32(ev.data, out, 0, n);
  else s16ToF32(ev.data, out, 0, n);
  return true;
}

function pcmFrame(run: ChannelRun, offset: number | undefined, trimFrom: number, ra: EventFileRandomAccess, frameSamples: number, C: number): Float32Array {
  const ch = run.srcChannels;
  const n = frameSamples * ch;
  // A trim: the first dropped packet's start is the head (run.frame is free until this frame's packet is read).
  if (!Number.isNaN(trimFrom) && readPcm(run, run.ix.packetOffsets.get(trimFrom), ra, run.frame, n)) takeHead(run, run.frame, C);
  if (readPcm(run, offset, ra, run.frame, n)) {
    const out = run.frame;
    mapChannels(out, 0, ch, run.mixFrame, 0, C, frameSamples);
    // Before the trim's fade: the live buffer keeps the frame as decoded for a later concealment's repeat.
    run.concealSrc.keep(out, 0, frameSamples, ch);
    run.concealMix.keep(run.mixFrame, 0, frameSamples, C);
    run.concealSrc.played();
    run.concealMix.played();
    return out;
  }
  // Lost: concealed as live. The mix layout's is the live buffer's own (it keeps frames at the output's channels).
  run.concealSrc.fill(run.frame, 0, frameSamples, ch, true);
  run.concealMix.fill(run.mixFrame, 0, frameSamples, C, true);
  return run.frame;
}

function opusFrame(
  run: ChannelRun, liveRel: number, trimFrom: number, offset: number | undefined, k: number, ix: SessionIndex,
  ra: EventFileRandomAccess, frameSamples: number, C: number, warnings: string[],
): Float32Array {
  const c = run.ix;
  if (!run.decoder) {
    try {
      run.decoder = new OpusDecoder({ sampleRate: ix.sampleRate!, channels: run.srcChannels as 1 | 2 });
    } catch (err) {
      throw new ReconstructError('unsupported_channel', `channel ${c.channelId}: ${(err as Error).message}`);
    }
  }
  const dec = run.decoder;
  // The live buffer jumped over packets it held (dropping excess depth): it decoded them to keep libopus' state
  // in order, so decode them here too — those that had arrived before this frame was mixed. A trim's first one
  // gives the head that fades into this frame.
  const from = Number.isNaN(run.lastDecoded) ? trimFrom : run.lastDecoded + 1;
  if (!Number.isNaN(liveRel) && !Number.isNaN(from) && liveRel - from >= 1 && liveRel - from < MAX_CATCH_UP) {
    for (let r = from; r < liveRel; r++) {
      const off = c.packetOffsets.get(r);
      if (off === undefined || off > ix.frameOffset[k]) continue;
      const skipped = ra.read(off);
      if (!skipped || skipped.type !== EventType.OPUS_PACKET_RECEIVED) continue;
      // Into run.frame (the frame itself is decoded over it below), as the live buffer decodes: libopus's float
      // output where this process has it, else @discordjs/opus's s16 (OpusDecoder.decodeInto either way).
      try {
        dec.decodeInto(skipped.packet, run.frame, 0, frameSamples);
      } catch {
        dec.concealInto(frameSamples, run.frame, 0);
      }
      if (r === trimFrom) takeHead(run, run.frame, C);
    }
  }
  const ev = offset === undefined ? null : ra.read(offset);
  const ch = run.srcChannels;
  const out = run.frame;
  if (ev && ev.type === EventType.OPUS_PACKET_RECEIVED) {
    const got = opusPacketSamples(ev.packet, ix.sampleRate!);
    if (got > 0 && got !== frameSamples) {
      throw new ReconstructError('frame_size_mismatch',
        `channel ${c.channelId}: packet at byte ${ev.offset} decodes to ${got} samples, the mix frame is ${frameSamples}`);
    }
    try {
      dec.decodeInto(ev.packet, out, 0, frameSamples);
    } catch (err) {
      run.result.decodeErrors++;
      if (run.result.decodeErrors <= 10) warnings.push(`channel ${c.channelId}: packet at byte ${ev.offset}: ${(err as Error).message}; concealed`);
      dec.concealInto(frameSamples, out, 0);
    }
    run.lastDecoded = c.slotSeq[k - c.firstFrame];
  } else {
    dec.concealInto(frameSamples, out, 0);
  }
  // The channel map, as the playout buffer does it.
  mapChannels(out, 0, ch, run.mixFrame, 0, C, frameSamples);
  return out;
}

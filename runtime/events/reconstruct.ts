// Offline re-mix of a session from its .xcev event file: late packets put back into their frame slots, gains/mutes/master overridable, optional per-channel stems.
import fs from 'node:fs';
import path from 'node:path';
import { OpusDecoder } from '../audio/opus';
import { f32View } from '../audio/pcm';
import { WavWriter } from '../audio/wav';
import { EventType, PCM_F32LE, PCM_S16LE, type MixParametersEvent } from './codec';
import { EventFileRandomAccess } from './reader';
import { SlotSource, indexSession, type ChannelIndex } from './session';

/** Why a session cannot be reconstructed; the message names the channel or field. */
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
  /** The mix WAV to write (stereo). */
  out: string;
  /** Linear gains replacing the recorded ones for the whole session, keyed by channel id ("3") or musician name ("alice"); an id wins over a name. */
  gains?: Record<string, number>;
  /** Channel ids or musician names to leave out of the mix. */
  mute?: string[];
  /** Master gain in dB replacing the recorded master. */
  masterDb?: number;
  /** A directory for one WAV per channel: the decoded channel before gain and pan, aligned sample for sample with the mix. */
  stems?: string;
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
  /** Packets libopus refused (concealed instead). */
  decodeErrors: number;
  stem: string | null;
}

export interface ReconstructResult {
  out: string;
  sampleRate: number;
  frameSamples: number;
  /** Frames written (mixed frames plus silence for gaps in the frame sequence). */
  frames: number;
  durationSeconds: number;
  channels: ReconstructedChannel[];
  warnings: string[];
}

/** Output channels of the mix: the live mixer's stereo bus. */
const OUT_CHANNELS = 2;

/**
 * One channel's contribution to a stereo mix frame, the live mixer's math: balance pan
 * (unity at centre: L × min(1, 1−pan), R × min(1, 1+pan)), a mono source feeds both
 * sides, gain and pan folded into one factor per side, summed into f32 without clipping.
 * The master gain is applied after the sum (applyMaster).
 */
export function mixChannelInto(acc: Float32Array, src: Float32Array, srcChannels: number, gain: number, pan: number): void {
  const gl = gain * Math.min(1, 1 - pan);
  const gr = gain * Math.min(1, 1 + pan);
  const n = acc.length >> 1;
  if (srcChannels === 1) {
    for (let i = 0; i < n; i++) {
      const s = src[i];
      acc[2 * i] += s * gl;
      acc[2 * i + 1] += s * gr;
    }
  } else {
    for (let i = 0; i < n; i++) {
      acc[2 * i] += src[i * srcChannels] * gl;
      acc[2 * i + 1] += src[i * srcChannels + 1] * gr;
    }
  }
}

/** Scales the summed frame by the master gain, in place. */
export function applyMaster(acc: Float32Array, master: number): void {
  if (master === 1) return;
  for (let i = 0; i < acc.length; i++) acc[i] *= master;
}

interface ChannelRun {
  ix: ChannelIndex;
  name: string;
  /** The mix rate: Opus channels are decoded at it, as live. */
  sampleRate: number;
  decoder: OpusDecoder | null;
  frame: Float32Array;
  silence: Float32Array;
  stem: WavWriter | null;
  stemPath: string | null;
  lastFrame: number;
  gainOverride: number | undefined;
  muteOverride: boolean;
  result: ReconstructedChannel;
}

function safeFileName(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[/\\:*?"<>|\x00-\x1f]/g, '_').slice(0, 64);
}

/**
 * Rebuilds the mix of a recorded session. Every channel's packets are decoded in sequence
 * order exactly as the live path does (same decoder, rate, channel count, one decode or
 * one conceal per frame); where the live mix concealed, the packet that belonged to that
 * slot is decoded if it arrived at all (see session.ts for how slots are assigned). With no
 * late or lost packets and unchanged parameters the result equals the live mix.
 */
export async function reconstruct(file: string, opts: ReconstructOptions): Promise<ReconstructResult> {
  if (!opts || typeof opts.out !== 'string') throw new ReconstructError('bad_option', 'out: the path of the WAV to write is required');
  if (opts.masterDb !== undefined && !Number.isFinite(opts.masterDb)) throw new ReconstructError('bad_option', `masterDb must be a finite number, got ${opts.masterDb}`);
  for (const [k, v] of Object.entries(opts.gains ?? {})) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ReconstructError('bad_option', `gains["${k}"] must be a finite number, got ${String(v)}`);
  }
  const format = opts.format ?? 'f32';

  const ix = await indexSession(file, { onProgress: (done, total) => opts.onProgress?.({ phase: 'index', done, total }) });
  const warnings = [...ix.warnings];
  if (ix.sampleRate === null || ix.frameSamples === null) {
    throw new ReconstructError('no_format', `${file}: no Stream Info or Audio Frame Mixed event, so the sample rate and frame size are unknown`);
  }
  const sampleRate = ix.sampleRate;
  const fs_ = ix.frameSamples;

  const runs = new Map<number, ChannelRun>();
  const writers: WavWriter[] = [];
  const ra = new EventFileRandomAccess(file);
  let framesOut = 0;
  try {
    if (opts.stems) fs.mkdirSync(opts.stems, { recursive: true });
    for (const c of [...ix.channels.values()].sort((a, b) => a.channelId - b.channelId)) {
      if (c.firstFrame < 0) continue; // never in the mix: nothing to place on the timeline
      const run = prepareChannel(c, opts, sampleRate, fs_, format);
      if (run.stem) writers.push(run.stem);
      runs.set(c.channelId, run);
    }
    const outWriter = new WavWriter(opts.out, { sampleRate, channels: OUT_CHANNELS, format });
    writers.push(outWriter);

    const acc = new Float32Array(fs_ * OUT_CHANNELS);
    const silentOut = new Float32Array(fs_ * OUT_CHANNELS);
    const masterOverride = opts.masterDb === undefined ? undefined : Math.pow(10, opts.masterDb / 20);
    const params = ix.params;
    const paramsRel = params.map((p) => Number(p.fromFrameSeq - ix.firstFrameSeq!));
    let pi = -1;
    let gains = new Map<number, { gain: number; pan: number; muted: boolean }>();
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
      if (changed) gains = paramsMap(params[pi]);
      const master = masterOverride ?? (pi >= 0 ? params[pi].master : 1);

      acc.fill(0);
      for (let e = ix.entryStart[k]; e < ix.entryStart[k + 1]; e++) {
        const run = runs.get(ix.entryChannels[e])!;
        if (run.lastFrame === k) continue; // listed twice in one frame: decode once
        run.lastFrame = k;
        const pcm = frameFor(run, k - run.ix.firstFrame, ra, fs_, warnings);
        run.stem?.write(pcm);
        const p = gains.get(run.ix.channelId);
        const muted = run.muteOverride || (p ? p.muted : false);
        if (muted) continue;
        const gain = run.gainOverride ?? (p ? p.gain : 1);
        mixChannelInto(acc, pcm, run.ix.channels, gain, p ? p.pan : 0);
      }
      for (const run of runs.values()) if (run.stem && run.lastFrame !== k) run.stem.write(run.silence);
      applyMaster(acc, master);
      outWriter.write(acc);
      framesOut++;
      if (opts.onProgress && (k % progressEvery === 0 || k === ix.frames - 1)) opts.onProgress({ phase: 'mix', done: k + 1, total: ix.frames });
    }
  } finally {
    ra.close();
    for (const w of writers) w.close();
  }

  return {
    out: opts.out,
    sampleRate,
    frameSamples: fs_,
    frames: framesOut,
    durationSeconds: (framesOut * fs_) / sampleRate,
    channels: [...runs.values()].map((r) => r.result),
    warnings,
  };
}

function paramsMap(p: MixParametersEvent): Map<number, { gain: number; pan: number; muted: boolean }> {
  // Each Mix Parameters event is a complete snapshot: a channel it does not list is at unity, centred, unmuted.
  const m = new Map<number, { gain: number; pan: number; muted: boolean }>();
  for (const c of p.channels) m.set(c.channelId, { gain: c.gain, pan: c.pan, muted: c.muted });
  return m;
}

function prepareChannel(c: ChannelIndex, opts: ReconstructOptions, sampleRate: number, frameSamples: number, format: 's16' | 'f32'): ChannelRun {
  const name = c.profile?.name ?? '';
  const id = String(c.channelId);
  const where = `channel ${c.channelId}${name ? ` (${name})` : ''}`;
  if (c.channels < 1) throw new ReconstructError('unsupported_channel', `${where}: unknown number of audio channels`);
  if (c.kind === 'pcm') {
    if (c.pcmCodec !== PCM_S16LE && c.pcmCodec !== PCM_F32LE) throw new ReconstructError('unsupported_channel', `${where}: PCM codec ${c.pcmCodec} is neither s16le (0) nor f32le (1)`);
    if (c.pcmSampleRate !== sampleRate) throw new ReconstructError('unsupported_channel', `${where}: PCM at ${c.pcmSampleRate} Hz, the mix runs at ${sampleRate} Hz`);
  } else if (c.channels > 2) {
    throw new ReconstructError('unsupported_channel', `${where}: Opus with ${c.channels} channels (1 or 2 supported)`);
  }
  if (c.kind === 'pcm' && c.frameSamples !== frameSamples) {
    throw new ReconstructError('frame_size_mismatch', `${where}: packets of ${c.frameSamples} samples, the mix frame is ${frameSamples}`);
  }
  const gains = opts.gains ?? {};
  const gainOverride = Object.prototype.hasOwnProperty.call(gains, id) ? gains[id]
    : name && Object.prototype.hasOwnProperty.call(gains, name) ? gains[name] : undefined;
  const muteOverride = (opts.mute ?? []).some((m) => m === id || (name !== '' && m === name));
  let stem: WavWriter | null = null;
  let stemPath: string | null = null;
  if (opts.stems) {
    stemPath = path.join(opts.stems, `${c.channelId}${name ? `-${safeFileName(name)}` : ''}.wav`);
    stem = new WavWriter(stemPath, { sampleRate, channels: c.channels, format });
  }
  return {
    ix: c, name, sampleRate,
    decoder: null,
    frame: new Float32Array(frameSamples * c.channels),
    silence: new Float32Array(frameSamples * c.channels),
    stem, stemPath,
    lastFrame: -1,
    gainOverride, muteOverride,
    result: { channelId: c.channelId, name, live: 0, late: 0, concealed: 0, missing: 0, decodeErrors: 0, stem: stemPath },
  };
}

/** The channel's audio for its slot i: the slot's packet decoded, or one frame of concealment. */
function frameFor(run: ChannelRun, i: number, ra: EventFileRandomAccess, frameSamples: number, warnings: string[]): Float32Array {
  const c = run.ix;
  const src = c.slotSource[i] as SlotSource;
  if (src === SlotSource.LIVE) run.result.live++;
  else if (src === SlotSource.LATE) run.result.late++;
  else if (src === SlotSource.MISSING) run.result.missing++;
  else run.result.concealed++;
  const offset = src === SlotSource.LIVE || src === SlotSource.LATE ? c.packetOffsets.get(c.slotSeq[i]) : undefined;
  const ev = offset === undefined ? null : ra.read(offset);

  if (c.kind === 'pcm') {
    if (!ev || ev.type !== EventType.PCM_PACKET_RECEIVED) return run.silence; // a lost PCM frame is silence
    const want = frameSamples * c.channels;
    const got = ev.data.length / (ev.codec === PCM_F32LE ? 4 : 2);
    if (got !== want) throw new ReconstructError('frame_size_mismatch', `channel ${c.channelId}: PCM packet at byte ${ev.offset} holds ${got} samples, a frame is ${want}`);
    const out = run.frame;
    if (ev.codec === PCM_F32LE) for (let j = 0; j < want; j++) out[j] = ev.data.readFloatLE(j * 4);
    else for (let j = 0; j < want; j++) out[j] = ev.data.readInt16LE(j * 2) / 32768;
    return out;
  }

  // Opus: decode at the mix rate, as the live path does.
  if (!run.decoder) {
    try {
      run.decoder = new OpusDecoder({ sampleRate: run.sampleRate, channels: c.channels as 1 | 2 });
    } catch (err) {
      throw new ReconstructError('unsupported_channel', `channel ${c.channelId}: ${(err as Error).message}`);
    }
  }
  let pcm: Buffer;
  if (ev && ev.type === EventType.OPUS_PACKET_RECEIVED) {
    try {
      pcm = run.decoder.decode(ev.packet);
    } catch (err) {
      run.result.decodeErrors++;
      if (run.result.decodeErrors <= 10) warnings.push(`channel ${c.channelId}: packet at byte ${ev.offset}: ${(err as Error).message}; concealed`);
      pcm = run.decoder.conceal(frameSamples);
    }
  } else {
    pcm = run.decoder.conceal(frameSamples);
  }
  const want = frameSamples * c.channels;
  if (pcm.length !== want * 4) {
    throw new ReconstructError('frame_size_mismatch',
      `channel ${c.channelId}: packet at byte ${ev?.offset ?? '?'} decodes to ${pcm.length / 4 / c.channels} samples, the mix frame is ${frameSamples}`);
  }
  return f32View(pcm);
}

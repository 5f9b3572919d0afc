// The monitor side: speaker state (misses, silence) and the getMetrics answer (aggregatedStatesSnapshot).

import { jsonDepth } from '../protocol/frame';
import type {
  AggregatedStatesSnapshot, ConnectionEntry, GetMetricsAnswer, IncomingTrack, MixerAdminSharedState, OutgoingTrack,
  RefusedCounters, SpeakerFigures,
} from './types';

export type { GetMetricsAnswer, AggregatedStatesSnapshot, SpeakerFigures } from './types';

export interface SpeakerStateOptions {
  sampleRate?: number;
  /** Channels of the played frames: depth in samples counts all channels, latency divides them out. */
  channels?: number;
  /** RMS (full scale 1.0) below which a window of input counts as silence; 1e-4 ≈ −80 dBFS. */
  silenceRms?: number;
  /** Length of the RMS window, ms of audio. */
  silenceWindowMs?: number;
  /** The aggregator input counts as stopped when nothing arrived for longer than this (ms). */
  inputTimeoutMs?: number;
  /** The output device's own latency, added to the buffer's (ms). */
  deviceLatencyMs?: number;
  /** ms clock; injectable for tests. */
  now?: () => number;
}

export class SpeakerConfigError extends Error {
  readonly code = 'bad_config';
  constructor(readonly field: string, detail: string) {
    super(`SpeakerState option ${field} ${detail}`);
    this.name = 'SpeakerConfigError';
  }
}

/**
 * The monitor's speaker (or recorder) figures for getMetrics. Misses follow docs/metrics.md: they count the
 * output's pulls that found no frame, and go back to 0 when a window of input is silent or the aggregator
 * input stops (then every pull misses, which says nothing about the network).
 */
export class SpeakerState {
  readonly sampleRate: number;
  readonly channels: number;
  private readonly silenceRms: number;
  private readonly windowSamples: number;
  private readonly inputTimeoutMs: number;
  private readonly now: () => number;
  private deviceLatencyMs: number;
  private depthSamples = 0;
  private misses = 0;
  private lastInputAt = -Infinity;
  private sumSquares = 0;
  private windowFill = 0;
  private windowSilent = false;

  constructor(opts: SpeakerStateOptions = {}) {
    this.sampleRate = opts.sampleRate ?? 48000;
    this.channels = opts.channels ?? 2;
    this.silenceRms = opts.silenceRms ?? 1e-4;
    const windowMs = opts.silenceWindowMs ?? 500;
    this.inputTimeoutMs = opts.inputTimeoutMs ?? 1000;
    this.deviceLatencyMs = opts.deviceLatencyMs ?? 0;
    this.now = opts.now ?? Date.now;
    if (!Number.isInteger(this.sampleRate) || this.sampleRate < 8000 || this.sampleRate > 192000) {
      throw new SpeakerConfigError('sampleRate', `must be an integer in 8000…192000, got ${this.sampleRate}`);
    }
    if (!Number.isInteger(this.channels) || this.channels < 1 || this.channels > 8) {
      throw new SpeakerConfigError('channels', `must be an integer in 1…8, got ${this.channels}`);
    }
    if (!(this.silenceRms >= 0)) throw new SpeakerConfigError('silenceRms', `must be ≥ 0, got ${this.silenceRms}`);
    if (!(windowMs > 0)) throw new SpeakerConfigError('silenceWindowMs', `must be > 0, got ${windowMs}`);
    if (!(this.inputTimeoutMs > 0)) throw new SpeakerConfigError('inputTimeoutMs', `must be > 0, got ${this.inputTimeoutMs}`);
    this.windowSamples = Math.max(1, Math.round((this.sampleRate * this.channels * windowMs) / 1000));
  }

  /** Audio reached the speaker's input (from the aggregator / socket reader). */
  onAggregatorInput(): void {
    this.lastInputAt = this.now();
  }

  /**
   * The output pulled one frame: `pcm` is what it got (interleaved f32, a Float32Array or an f32le Buffer),
   * `missed` true when the buffer had nothing and `pcm` is concealment. Per-frame path: allocates nothing.
   */
  onFrame(pcm: Float32Array | Buffer, missed: boolean): void {
    if (!this.inputActive()) {
      this.misses = 0;
      this.sumSquares = 0;
      this.windowFill = 0;
      return;
    }
    if (missed) {
      this.misses++;
      return; // concealment is not input: keep it out of the silence window
    }
    let s = this.sumSquares;
    let n = this.windowFill;
    if (pcm instanceof Float32Array) {
      for (let i = 0; i < pcm.length; i++) { const v = pcm[i]; s += v * v; if (++n === this.windowSamples) { this.closeWindow(s); s = 0; n = 0; } }
    } else {
      const len = pcm.length >> 2;
      for (let i = 0; i < len; i++) { const v = pcm.readFloatLE(i << 2); s += v * v; if (++n === this.windowSamples) { this.closeWindow(s); s = 0; n = 0; } }
    }
    this.sumSquares = s;
    this.windowFill = n;
  }

  /** Samples (all channels) waiting in the playout buffer now. */
  setBufferDepth(samples: number): void {
    if (Number.isFinite(samples) && samples >= 0) this.depthSamples = samples;
  }

  setDeviceLatency(ms: number): void {
    if (Number.isFinite(ms) && ms >= 0) this.deviceLatencyMs = ms;
  }

  figures(): SpeakerFigures {
    const active = this.inputActive();
    if (!active) this.misses = 0;
    return {
      bufferDepthSamples: this.depthSamples,
      sampleRate: this.sampleRate,
      latencyMs: (this.depthSamples / (this.sampleRate * this.channels)) * 1000 + this.deviceLatencyMs,
      misses: this.misses,
      silenceDetected: !active || this.windowSilent,
    };
  }

  private inputActive(): boolean {
    return this.now() - this.lastInputAt <= this.inputTimeoutMs;
  }

  private closeWindow(sumSquares: number): void {
    this.windowSilent = Math.sqrt(sumSquares / this.windowSamples) < this.silenceRms;
    if (this.windowSilent) this.misses = 0;
  }
}

export interface BuildSnapshotInput {
  speaker: SpeakerFigures;
  /** The xcast's mixeradminSharedState as last received in a metadata packet; absent before the first. */
  sharedState?: MixerAdminSharedState | null;
  /** ms since Unix epoch. */
  now: number;
}

const MAX_STATE_DEPTH = 12;

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The getMetrics answer. The shared state arrived over the network as metadata, so only its well-typed parts
 * are carried over (a malformed packet yields empty lists rather than a broken answer).
 */
export function buildAggregatedStatesSnapshot(input: BuildSnapshotInput): GetMetricsAnswer {
  const { speaker, now } = input;
  const shared: unknown = input.sharedState;
  // Deeper than any state the aggregator makes (connections → user → lastQOS → head is 4): a packet nested deeper
  // could not even be sent on as JSON (a stack overflow in res.json), so it reads as malformed.
  const s = isObj(shared) && jsonDepth(shared, MAX_STATE_DEPTH) <= MAX_STATE_DEPTH ? shared : undefined;
  const snapshot: AggregatedStatesSnapshot = {
    at: now,
    currentSpeakerBufferDepthInFloat32Samples: speaker.bufferDepthSamples,
    currentSpeakerSampleRate: speaker.sampleRate,
    speakerScriptProcessorLatencyMS: speaker.latencyMs,
    speakerScriptProcessorIncomingBufferMisses: speaker.misses,
    speakerSilenceDetected: speaker.silenceDetected,
    incomingAudioTracks: Array.isArray(s?.incomingAudioTracks) ? (s!.incomingAudioTracks as IncomingTrack[]).filter(isObj) : [],
    outgoingAudioTracks: Array.isArray(s?.outgoingAudioTracks) ? (s!.outgoingAudioTracks as OutgoingTrack[]).filter(isObj) : [],
    connections: isObj(s?.connections) ? (s!.connections as Record<string, ConnectionEntry>) : {},
    sharedStateAt: typeof s?.at === 'number' ? s.at : null,
    refused: isObj(s?.refused) ? (s!.refused as unknown as RefusedCounters) : null,
  };
  return { aggregatedStatesSnapshot: snapshot };
}

// Prometheus export of the QoS state: a private prom-client Registry updated from a snapshot, in base units.

import { Counter, Gauge, Registry } from 'prom-client';
import { TRANSPORT_STAT_NAMES } from '../protocol/limits';
import type { AggregatedStatesSnapshot, ConnectionEntry, GetMetricsAnswer, MixerAdminSharedState } from './types';

/** What update() accepts: the getMetrics answer, its inner snapshot, or the xcast's shared state (no speaker). */
export type MetricsSource = GetMetricsAnswer | AggregatedStatesSnapshot | MixerAdminSharedState;

export interface MetricsRegistry {
  registry: Registry;
  /** Replaces every series with the figures of `snapshot`; users no longer in it disappear. */
  update(snapshot: MetricsSource): void;
  /** The exposition text (same as `registry.metrics()`). */
  metrics(): Promise<string>;
  contentType: string;
}

const USER = ['user'] as const;

/**
 * Counters are set from the absolute totals the snapshot carries: prom-client's Counter has no set(), so each
 * update does reset() + inc(total), which keeps the exposition type `counter` (what `_total` promises) and
 * lets rate() work; a total that goes down (the mixer recreated a track) reads as a counter reset, which is
 * what Prometheus expects of one. Figures that may reset by design (speaker misses) are gauges.
 */
export function createMetricsRegistry(): MetricsRegistry {
  const registry = new Registry();
  const reg = [registry];
  const counter = (name: string, help: string) => new Counter({ name, help, labelNames: USER, registers: reg });
  const gauge = (name: string, help: string) => new Gauge({ name, help, labelNames: USER, registers: reg });

  const perUser = {
    connected: gauge('xcast_connected', 'User has an open connection to the xcast (1) or not (0)'),
    trackConnected: gauge('xcast_incoming_track_connected', 'User\'s incoming audio track sequence moved within the threshold (isIncomingAudioTrackConnected)'),
    received: counter('xcast_packets_received_total', 'Audio packets the xcast received from the user'),
    lost: counter('xcast_packets_lost_total', 'Audio packets from the user never received (sequence gaps never filled)'),
    late: counter('xcast_packets_late_total', 'Audio packets from the user that arrived after their frame was mixed'),
    duplicate: counter('xcast_packets_duplicate_total', 'Duplicate audio packets from the user'),
    outOfOrder: counter('xcast_packets_out_of_order_total', 'Audio packets from the user that filled an earlier gap'),
    concealed: counter('xcast_concealed_samples_total', 'Samples of the user\'s track made up by loss concealment or silence'),
    jitter: gauge('xcast_jitter_seconds', 'RFC 3550 interarrival jitter of the user\'s audio at the xcast'),
    latency: gauge('xcast_latency_seconds', 'One-way latency xcast to user from QOS reports, clock-offset corrected'),
    rtt: gauge('xcast_rtt_seconds', 'Round-trip time to the user from PING/PONG'),
    depth: gauge('xcast_buffer_depth_samples', 'Samples waiting in the xcast\'s playout buffer for the user\'s tracks'),
    bitrate: gauge('xcast_bitrate_bits_per_second', 'Bitrate of the user\'s incoming audio payload'),
    downLost: counter('xcast_downstream_packets_lost_total', 'Frames of the xcast mix the user never reported (QOS sequence gaps)'),
    downJitter: gauge('xcast_downstream_jitter_seconds', 'RFC 3550 jitter of the xcast mix as the user received it'),
    downDepth: gauge('xcast_downstream_buffer_depth_samples', 'The user\'s own playout buffer depth, as reported in QOS'),
  };
  const incomingTracks = new Gauge({ name: 'xcast_incoming_audio_tracks', help: 'Audio tracks the xcast receives', registers: reg });
  const outgoingTracks = new Gauge({ name: 'xcast_outgoing_audio_tracks', help: 'Audio tracks the xcast sends', registers: reg });
  const refusedFrames = new Counter({ name: 'xcast_refused_frames_total', help: 'Frames or QOS reports refused, by error code', labelNames: ['code'], registers: reg });
  const snapshotTime = new Gauge({ name: 'xcast_snapshot_timestamp_seconds', help: 'When the exported snapshot was taken (Unix time)', registers: reg });

  // speaker series exist only on a monitor: registered on the first snapshot that has them, removed otherwise
  const speaker = {
    depth: new Gauge({ name: 'xcast_speaker_buffer_depth_samples', help: 'Samples (all channels) waiting in the speaker\'s playout buffer', registers: [] }),
    rate: new Gauge({ name: 'xcast_speaker_sample_rate_hertz', help: 'Sample rate the speaker plays at', registers: [] }),
    latency: new Gauge({ name: 'xcast_speaker_latency_seconds', help: 'Speaker playout buffer plus output device latency', registers: [] }),
    misses: new Gauge({ name: 'xcast_speaker_misses', help: 'Output pulls that found no frame since the last reset (resets on silence or input stop)', registers: [] }),
    silence: new Gauge({ name: 'xcast_speaker_silence_detected', help: 'Speaker input is silent (1) or not (0)', registers: [] }),
  };
  const speakerNames: Record<string, Gauge<string>> = {
    xcast_speaker_buffer_depth_samples: speaker.depth, xcast_speaker_sample_rate_hertz: speaker.rate,
    xcast_speaker_latency_seconds: speaker.latency, xcast_speaker_misses: speaker.misses,
    xcast_speaker_silence_detected: speaker.silence,
  };
  let speakerRegistered = false;

  function setUser(user: string, c: ConnectionEntry): void {
    const l = { user };
    const connected = typeof c.connected === 'boolean' ? c.connected : c.isIncomingAudioTrackConnected;
    perUser.connected.set(l, connected ? 1 : 0);
    perUser.trackConnected.set(l, c.isIncomingAudioTrackConnected ? 1 : 0);
    incTotal(perUser.received, l, c.packetsReceived);
    incTotal(perUser.lost, l, c.packetsLost);
    incTotal(perUser.late, l, c.packetsLate);
    incTotal(perUser.duplicate, l, c.packetsDuplicate);
    incTotal(perUser.outOfOrder, l, c.packetsOutOfOrder);
    incTotal(perUser.concealed, l, c.concealedSamples);
    setSeconds(perUser.jitter, l, c.jitterMs);
    setSeconds(perUser.latency, l, c.latencyMs);
    setSeconds(perUser.rtt, l, c.rttMs);
    setIf(perUser.depth, l, c.bufferDepthSamples, 1);
    setIf(perUser.bitrate, l, c.bitrateKbps, 1000);
    const d = c.downstream;
    if (d && typeof d === 'object') {
      incTotal(perUser.downLost, l, d.packetsLost);
      setSeconds(perUser.downJitter, l, d.jitterMs);
      setIf(perUser.downDepth, l, d.bufferDepthSamples, 1);
    }
  }

  function update(src: MetricsSource): void {
    const s: Partial<AggregatedStatesSnapshot> =
      'aggregatedStatesSnapshot' in src ? src.aggregatedStatesSnapshot : (src as Partial<AggregatedStatesSnapshot>);
    for (const m of Object.values(perUser)) m.reset();
    refusedFrames.reset();
    const conns = s.connections && typeof s.connections === 'object' ? s.connections : {};
    for (const user of Object.keys(conns)) {
      const c = conns[user];
      if (c && typeof c === 'object') setUser(user, c);
    }
    incomingTracks.set(Array.isArray(s.incomingAudioTracks) ? s.incomingAudioTracks.length : 0);
    outgoingTracks.set(Array.isArray(s.outgoingAudioTracks) ? s.outgoingAudioTracks.length : 0);
    const refused = s.refused;
    if (refused && typeof refused === 'object' && refused.byCode && typeof refused.byCode === 'object') {
      for (const code of Object.keys(refused.byCode)) incTotal(refusedFrames, { code }, refused.byCode[code]);
    }
    if (typeof s.at === 'number') snapshotTime.set(s.at / 1000);

    const hasSpeaker = typeof s.currentSpeakerSampleRate === 'number';
    if (hasSpeaker !== speakerRegistered) {
      for (const [name, g] of Object.entries(speakerNames)) {
        if (hasSpeaker) registry.registerMetric(g);
        else registry.removeSingleMetric(name);
      }
      speakerRegistered = hasSpeaker;
    }
    if (hasSpeaker) {
      speaker.depth.set(finite(s.currentSpeakerBufferDepthInFloat32Samples));
      speaker.rate.set(finite(s.currentSpeakerSampleRate));
      speaker.latency.set(finite(s.speakerScriptProcessorLatencyMS) / 1000);
      speaker.misses.set(finite(s.speakerScriptProcessorIncomingBufferMisses));
      speaker.silence.set(s.speakerSilenceDetected ? 1 : 0);
    }
  }

  return { registry, update, metrics: () => registry.metrics(), contentType: registry.contentType };
}

function finite(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** Sets a series only when the figure is known: an unmeasured value (null) is no sample, not a zero. */
function setIf(g: Gauge<string>, labels: Record<string, string>, v: unknown, scale: number): void {
  if (typeof v === 'number' && Number.isFinite(v)) g.set(labels, v * scale);
}

/** A ms figure as seconds: divides, because 12.4 / 1000 is 0.0124 and 12.4 * 1e-3 is not. */
function setSeconds(g: Gauge<string>, labels: Record<string, string>, ms: unknown): void {
  if (typeof ms === 'number' && Number.isFinite(ms)) g.set(labels, ms / 1000);
}

function incTotal(c: Counter<string>, labels: Record<string, string>, v: unknown): void {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) c.inc(labels, v);
}

export interface TransportMetrics {
  registry: Registry;
  /** Sets `xcast_transport_limit_hits_total{limit=…}` from a snapshot of totals (every known limit shown, 0 until hit). */
  update(totals: Record<string, number>): void;
}

/** The process's transport counters (runtime/protocol/limits.ts transportStats, its stable names as label values) as one Prometheus counter; merged with the QoS registry into one exposition. */
export function createTransportMetrics(): TransportMetrics {
  const registry = new Registry();
  const hits = new Counter({
    name: 'xcast_transport_limit_hits_total',
    help: 'Server limits hit and connections refused by the streamproto1 transport, by limit (see docs/streamproto1.md)',
    labelNames: ['limit'], registers: [registry],
  });
  return {
    registry,
    update(totals) {
      hits.reset();
      for (const name of TRANSPORT_STAT_NAMES) hits.inc({ limit: name }, 0);
      for (const name of Object.keys(totals)) incTotal(hits, { limit: name }, totals[name]);
    },
  };
}

export interface UdpMetrics {
  registry: Registry;
  /** Sets the UDP ingest's series from the process's totals (runtime/protocol/udp-server.ts udpTotals). */
  update(t: { datagrams: number; drops: Record<string, number>; sessionsOpened: number; sessionsEnded: Record<string, number> }): void;
}

/** The UDP ingest's counters (every UdpStreamServer of the process): datagrams, drops by reason, sessions opened and ended. */
export function createUdpMetrics(): UdpMetrics {
  const registry = new Registry();
  const datagrams = new Counter({ name: 'xcast_udp_datagrams_total', help: 'Datagrams received by the streamproto1 UDP ingest', registers: [registry] });
  const dropped = new Counter({ name: 'xcast_udp_dropped_total', help: 'Datagrams the streamproto1 UDP ingest dropped, by reason (docs/streamproto1.md, UDP)', labelNames: ['reason'], registers: [registry] });
  const opened = new Counter({ name: 'xcast_udp_sessions_opened_total', help: 'UDP sessions opened by an accepted HELLO', registers: [registry] });
  const ended = new Counter({ name: 'xcast_udp_sessions_ended_total', help: 'UDP sessions ended, by reason (idle_timeout, evicted, replaced, unauthorized, error-frame, closed)', labelNames: ['reason'], registers: [registry] });
  return {
    registry,
    update(t) {
      datagrams.reset(); dropped.reset(); opened.reset(); ended.reset();
      incTotal(datagrams, {}, t.datagrams);
      incTotal(opened, {}, t.sessionsOpened);
      for (const r of Object.keys(t.drops)) incTotal(dropped, { reason: r }, t.drops[r]);
      for (const r of Object.keys(t.sessionsEnded)) incTotal(ended, { reason: r }, t.sessionsEnded[r]);
    },
  };
}

/** One exposition of several registries (prom-client's Registry.merge refuses none of ours: their names differ). */
export async function exposition(registries: Registry[]): Promise<{ contentType: string; text: string }> {
  const merged = Registry.merge(registries);
  return { contentType: merged.contentType, text: await merged.metrics() };
}

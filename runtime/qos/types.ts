// Shapes the QoS engine consumes (mixer track state, QOSMetrics, connection events) and produces (mixeradminSharedState, getMetrics answer).

/**
 * One mixer track as the mixer (runtime/audio/mixer.ts) reports it. Declared here structurally so the QoS
 * engine depends on the shape, not on the mixer module; fields the aggregator does not read are allowed.
 * All counters are cumulative since the track was created; times are ms since Unix epoch.
 */
export interface TrackState {
  userId: string;
  trackId: number;
  codec?: string;
  sampleRate?: number;
  channels?: number;
  lastSeq: number;
  /** ms epoch of the last packet the track received, if any. */
  lastPacketAt?: number | null;
  /** The mixer's own view (track not removed / socket open); `false` forces isIncomingAudioTrackConnected false. */
  connected?: boolean;
  received: number;
  lost: number;
  late: number;
  duplicate: number;
  outOfOrder: number;
  concealedSamples: number;
  misses?: number;
  depthFrames?: number;
  depthSamples: number;
  jitterMs: number;
  /** Optional cumulative payload bytes received; when present the aggregator derives bitrateKbps from it. */
  bytesReceived?: number;
  /** The track's room (runtime/rooms.ts); the user's entry shows it when no connection event named one. */
  room?: string;
  [extra: string]: unknown;
}

/** The header of the AUDIO frame a QOS report is about (streamproto1 "QOS"). */
export interface QosHead {
  trackId: number;
  seq: number;
  captureTime: number;
  sampleRate?: number;
  channels?: number;
  codec?: number;
  frameSamples?: number;
}

/** QOSMetrics as sent back by a receiver, after validateQos. */
export interface QOSMetrics {
  head: QosHead;
  /** Receiver's µs clock when the frame arrived. */
  qosTimestamp: number;
  userId?: string;
  bufferDepthSamples?: number;
  misses?: number;
  /** Optional: bytes of the AUDIO frame's data, lets the aggregator compute the downstream bitrate for Opus. */
  payloadBytes?: number;
  [extra: string]: unknown;
}

/** A transport connection event, as the socket reader / writer nodes emit them. */
export interface ConnectionEvent {
  event: 'open' | 'hello' | 'close' | 'error';
  userId?: string;
  remote?: string;
  role?: string;
  /** The connection's room (runtime/rooms.ts; the socket reader's from the HELLO, the WebRTC node's); shown in its user's entry. */
  room?: string;
  connectionId: string | number;
  /** ms since Unix epoch. */
  at?: number;
  /**
   * Which side of the xcast the connection belongs to: 'incoming' = the ingest reader (peer → xcast audio),
   * 'outgoing' = the mix-out writer (xcast → receiver audio). Absent: unknown, counts for neither track list.
   */
  direction?: 'incoming' | 'outgoing';
  /**
   * The connection's HELLO passed the server's token / users check. Only such a connection makes its user part of
   * the state by itself; others wait until the user sends audio (a mixer track) or QOS reports.
   */
  authenticated?: boolean;
}

export interface PongResult {
  rttMs: number;
  /** Remote clock minus local (xcast) clock, in ms; absent for a WebRTC peer (RTT from RTCP, no clock offset). */
  offsetMs?: number;
}

/** What one receiver reported about the xcast → receiver path (extra field of a connection entry). */
export interface DownstreamState {
  trackId: number;
  /** QOS reports accepted (one per AUDIO frame the receiver got). */
  reportsReceived: number;
  /** Frames never reported, i.e. seq gaps in the QOS stream never filled (frame or its QOS report lost). */
  packetsLost: number;
  packetsDuplicate: number;
  packetsOutOfOrder: number;
  /** RFC 3550 jitter of the xcast → receiver path, from qosTimestamp − head.captureTime. */
  jitterMs: number;
  /** Same as the entry's latencyMs. */
  latencyMs: number;
  /** head.captureTime → QOS report back at the xcast, one clock, no offset needed: latency + the report's way back. */
  loopMs: number;
  /** The receiver's playout depth as it reported it, null when it did not. */
  bufferDepthSamples: number | null;
  misses: number | null;
  bitrateKbps: number | null;
  /** ms epoch (xcast clock) when the last report arrived. */
  lastQosAt: number;
}

/** One `connections` entry of mixeradminSharedState (docs/metrics.md), plus extra fields. */
export interface ConnectionEntry {
  remote: string | null;
  role: string | null;
  /** The user's room (extra field; absent while no connection event or mixer track named one). */
  room?: string;
  connectedAt: number;
  isIncomingAudioTrackConnected: boolean;
  packetsReceived: number;
  packetsLost: number;
  packetsLate: number;
  packetsDuplicate: number;
  packetsOutOfOrder: number;
  concealedSamples: number;
  jitterMs: number;
  latencyMs: number | null;
  rttMs: number | null;
  bufferDepthSamples: number;
  bitrateKbps: number;
  lastSeq: number | null;
  lastQOS: QOSMetrics | null;
  // extra fields
  /** At least one transport connection of this user is open (false once all closed). */
  connected: boolean;
  disconnectedAt: number | null;
  clockOffsetMs: number | null;
  protocolErrors: number;
  downstream: DownstreamState | null;
}

export interface IncomingTrack { userId: string; trackId: number; connected: boolean }
export interface OutgoingTrack { userId: string; trackId: number }

export interface RefusedCounters {
  /** Frames refused by the transports (onProtocolError), all codes. */
  frames: number;
  byCode: Record<string, number>;
  /** QOS reports refused by validateQos (also counted in byCode as 'bad_qos'). */
  qos: number;
}

/** The admin state the xcast's aggregator builds and the xcast sends out as metadata. */
export interface MixerAdminSharedState {
  at: number;
  incomingAudioTracks: IncomingTrack[];
  outgoingAudioTracks: OutgoingTrack[];
  connections: Record<string, ConnectionEntry>;
  refused: RefusedCounters;
  /**
   * Extra field: users seen only in connection events (no audio, no QOS, not authenticated), kept out of
   * `connections`, and their open connections. Absent in states from before it was added.
   */
  unconfirmed?: UnconfirmedCounters;
}

export interface UnconfirmedCounters {
  users: number;
  connections: number;
}

/** The monitor's own speaker figures. */
export interface SpeakerFigures {
  bufferDepthSamples: number;
  sampleRate: number;
  latencyMs: number;
  misses: number;
  silenceDetected: boolean;
}

export interface AggregatedStatesSnapshot {
  at: number;
  currentSpeakerBufferDepthInFloat32Samples: number;
  currentSpeakerSampleRate: number;
  speakerScriptProcessorLatencyMS: number;
  speakerScriptProcessorIncomingBufferMisses: number;
  speakerSilenceDetected: boolean;
  incomingAudioTracks: IncomingTrack[];
  outgoingAudioTracks: OutgoingTrack[];
  connections: Record<string, ConnectionEntry>;
  // extra fields
  /** `at` of the mixeradminSharedState this snapshot carries, null when none was received. */
  sharedStateAt: number | null;
  refused: RefusedCounters | null;
}

/** The body of GET /service/mixeradminclient?getMetrics. */
export interface GetMetricsAnswer {
  aggregatedStatesSnapshot: AggregatedStatesSnapshot;
}

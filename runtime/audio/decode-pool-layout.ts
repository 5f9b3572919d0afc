// Shared-memory layout of the mixer's decode pool (main thread and decode workers both read it from here).
import type { PlayoutStats } from './playout';

export const POOL = {
  /** Control words (Int32): the generation of the last tick a worker finished, and packets it refused. */
  C_DONE: 0,
  C_ERRORS: 1,
  CONTROL_WORDS: 4,
  /** Packet ring: records of RECORD_HEADER bytes + the packet, each starting 8-byte aligned. */
  RING_BYTES: 1 << 20,
  RECORD_HEADER: 32,
  /** A record whose slot is WRAP says: continue at the start of the ring. */
  WRAP: 0xffffffff,
  /** Slots (tracks) per worker. */
  SLOTS: 1024,
  /** Float64 words per slot: seq, wireSeq, concealed, then the statistics (STATS_FIELDS). */
  INFO: 24,
} as const;

/** PlayoutStats as numbers, in this order (state as its index in STATES). */
const STATS_FIELDS = [
  'received', 'lost', 'late', 'duplicate', 'outOfOrder', 'concealedSamples', 'misses', 'depthFrames', 'depthSamples',
  'targetDepthFrames', 'jitterMs', 'lastSeq', 'resets', 'droppedSamples', 'trimmedSamples', 'decodeErrors', 'bytesReceived',
] as const;
const STATES: PlayoutStats['state'][] = ['prebuffering', 'playing', 'rebuffering'];

export function statsToSlots(s: PlayoutStats, out: Float64Array, at: number): void {
  for (let i = 0; i < STATS_FIELDS.length; i++) out[at + i] = s[STATS_FIELDS[i]];
  out[at + STATS_FIELDS.length] = STATES.indexOf(s.state);
}

export function statsFromSlots(src: Float64Array, at: number): PlayoutStats {
  const s = {} as Record<string, number | string>;
  for (let i = 0; i < STATS_FIELDS.length; i++) s[STATS_FIELDS[i]] = src[at + i];
  s.state = STATES[src[at + STATS_FIELDS.length]] ?? 'prebuffering';
  return s as unknown as PlayoutStats;
}

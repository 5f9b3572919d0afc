// A stream event: what the stream event log (seed 002's Logfile) reports about one stream, as the mixer emits it.
//
// 'new'          a track was made (its first packet; seq: that packet's)
// 'repeated'     a packet with a seq already received (PlayoutStats.duplicate + 1)
// 'out-of-order' an accepted packet below the highest seq seen (outOfOrder + 1)
// 'missing'      `count` seqs from `seq` on never came in time (lost + count; a run of slots in a row is one event)
// 'late'         a packet after its slot was played (late + 1); `filled`: it took one back from lost
// 'dropped'      the track was removed after `timeoutMs` (the mixer's trackTimeoutMs) without a packet
// 'closed'       the track was removed because its connection closed (or the flow removed its user)
// The sequence kinds are raised by the playout buffer where it counts (runtime/audio/playout/events.ts), so per
// track Σ missing.count − Σ late(filled) = lost, #repeated = duplicate, #out-of-order = outOfOrder, #late = late.
export type StreamEventKind = 'new' | 'repeated' | 'out-of-order' | 'missing' | 'late' | 'dropped' | 'closed';

export const STREAM_EVENT_KINDS: readonly StreamEventKind[] = ['new', 'repeated', 'out-of-order', 'missing', 'late', 'dropped', 'closed'];

export interface StreamEvent {
  kind: StreamEventKind;
  userId: string;
  trackId: number;
  /** The connection the track's packets came on ('' for a stream made in the flow). */
  connectionId: string;
  room: string;
  /** The 32-bit wire seq the event is about (missing: the first of the run); null for 'dropped' / 'closed'. */
  seq: number | null;
  /** Packets the event stands for: 1, a missing run's length, 0 for new / dropped / closed. */
  count: number;
  /** When, in ms since the epoch (the packet's arrival, or the mix tick's time). */
  at: number;
  /** 'late' only: the packet's slot had been counted missing, and no longer is. */
  filled?: boolean;
  /** 'dropped' only: the mixer's trackTimeoutMs. */
  timeoutMs?: number;
}

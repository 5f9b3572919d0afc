// What a mixed frame was made of, compact: the tracks of one room's mix in mixing order, one row of numbers each.
//
// Every tick the mixer says, per room, which packet of which track went into the frame (the audio event stream's
// 0x02 / 0x13, the bench's hop, the WebRTC hub's "is this peer in the mix"). As one object per track per tick that
// was, at 300 tracks, 30 000 objects a second made on the mix thread, structured-cloned (strings and all) to the
// event loop and rebuilt there. Here it is two parts:
//   - the track table (UsedTrack[]: userId, trackId, connectionId, room), one frozen array per room that is the same
//     object from tick to tick until a track of the room comes or goes — posted to the event loop only then;
//   - the per-tick rows, one Float64Array (USED_STRIDE numbers per track: seq, wire seq, concealed, codec, channels,
//     frame size, the packet's arrival), transferred, not copied.
// A UsedFrame joins the two and is read through its accessors (no object per entry); entry(i) / entries() build
// UsedEntry objects for cold paths and tests. A UsedFrame is never written after it is made: it is shared by every
// receiver of a message (and Node-RED's deep clone leaves it shared, Symbol.toStringTag below), as a Buffer is.
import type { AudioCodecName } from './playout';
import { CODEC_NAMES, codecOf } from '../codec';

/** One track of a room's mix: what does not change while the track lives. */
export interface UsedTrack {
  readonly userId: string;
  readonly trackId: number;
  /** The connection the track's packets came on ('' for a stream made in the flow): with userId and trackId, the track. */
  readonly connectionId: string;
  /** The track's room (runtime/rooms.ts): the mix this entry is part of. */
  readonly room: string;
}

/** One track's part in a mixed frame, as an object (UsedFrame.entry()). */
export interface UsedEntry extends UsedTrack {
  /** Unwrapped seq of the packet the frame came from; null when the track gave no packet to this frame. */
  seq: number | null;
  /** The 32-bit wire seq of that packet, or null. */
  wireSeq: number | null;
  concealed: boolean;
  codec: AudioCodecName;
  /** The stream's own channels and frame size (as received). */
  channels: number;
  frameSamples: number;
  /** When that packet arrived (µs since epoch, the stamp its reader gave it), or null with no packet. */
  arrival: number | null;
}

/** What UsedFrame.from() takes per entry. */
export type UsedEntryInput = Pick<UsedEntry, 'userId' | 'wireSeq' | 'concealed' | 'codec' | 'channels' | 'frameSamples'> & Partial<UsedEntry>;

/** Numbers per track in UsedFrame.rows, and their offsets. */
export const USED_STRIDE = 7;
const SEQ = 0, WIRE = 1, CONCEALED = 2, CODEC = 3, CHANNELS = 4, FRAME = 5, ARRIVAL = 6;

const NO_TRACKS: readonly UsedTrack[] = Object.freeze([]);
const NO_ROWS = new Float64Array(0);

export class UsedFrame {
  /** The room's tracks, in mixing order (shared by every frame until the list changes; never written). */
  readonly tracks: readonly UsedTrack[];
  /** USED_STRIDE numbers per track (NaN: null). */
  readonly rows: Float64Array;

  constructor(tracks: readonly UsedTrack[] = NO_TRACKS, rows: Float64Array = NO_ROWS) {
    if (rows.length !== tracks.length * USED_STRIDE) throw new RangeError(`used frame: ${rows.length} numbers for ${tracks.length} tracks`);
    this.tracks = tracks;
    this.rows = rows;
  }

  /** Node-RED's deep clone (lodash) shares an object of a tag it does not know instead of copying it. */
  get [Symbol.toStringTag](): string {
    return 'UsedFrame';
  }

  get length(): number {
    return this.tracks.length;
  }

  userId(i: number): string { return this.tracks[i].userId; }
  trackId(i: number): number { return this.tracks[i].trackId; }
  connectionId(i: number): string { return this.tracks[i].connectionId; }
  room(i: number): string { return this.tracks[i].room; }

  seq(i: number): number | null { return nullable(this.rows[i * USED_STRIDE + SEQ]); }
  wireSeq(i: number): number | null { return nullable(this.rows[i * USED_STRIDE + WIRE]); }
  concealed(i: number): boolean { return this.rows[i * USED_STRIDE + CONCEALED] !== 0; }
  codec(i: number): AudioCodecName { return CODEC_NAMES[this.rows[i * USED_STRIDE + CODEC]]; }
  channels(i: number): number { return this.rows[i * USED_STRIDE + CHANNELS]; }
  frameSamples(i: number): number { return this.rows[i * USED_STRIDE + FRAME]; }
  /** The arrival stamp (µs since epoch) of the packet the track's frame came from, or null. */
  arrival(i: number): number | null { return nullable(this.rows[i * USED_STRIDE + ARRIVAL]); }

  /** Whether a track of connection `id` is in this frame. */
  hasConnection(id: string): boolean {
    const t = this.tracks;
    for (let i = 0; i < t.length; i++) if (t[i].connectionId === id) return true;
    return false;
  }

  /**
   * A frame made from entry objects (tests, tools): absent fields as a flow-made stream has them (trackId 0,
   * connectionId '', room 'main', seq and arrival null).
   */
  static from(entries: ReadonlyArray<UsedEntryInput>): UsedFrame {
    const tracks: UsedTrack[] = [];
    const rows = new Float64Array(entries.length * USED_STRIDE);
    entries.forEach((e, i) => {
      tracks.push(Object.freeze({ userId: e.userId, trackId: e.trackId ?? 0, connectionId: e.connectionId ?? '', room: e.room ?? 'main' }));
      writeUsedRow(rows, i, e.seq ?? null, e.wireSeq, e.concealed, e.codec, e.channels, e.frameSamples, e.arrival ?? null);
    });
    return new UsedFrame(Object.freeze(tracks), rows);
  }

  /** Entry `i` as an object (fresh). */
  entry(i: number): UsedEntry {
    const t = this.tracks[i];
    return {
      userId: t.userId, trackId: t.trackId, connectionId: t.connectionId, room: t.room,
      seq: this.seq(i), wireSeq: this.wireSeq(i), concealed: this.concealed(i), codec: this.codec(i),
      channels: this.channels(i), frameSamples: this.frameSamples(i), arrival: this.arrival(i),
    };
  }

  /** Entry `i` as an object (fresh), or undefined past the end (as an array's `at`, without negative indexes). */
  at(i: number): UsedEntry | undefined {
    return i >= 0 && i < this.tracks.length ? this.entry(i) : undefined;
  }

  /** Every entry as an object (fresh), in mixing order. */
  entries(): UsedEntry[] {
    const out: UsedEntry[] = [];
    for (let i = 0; i < this.tracks.length; i++) out.push(this.entry(i));
    return out;
  }
}

const nullable = (x: number): number | null => (x === x ? x : null);

/** Writes entry `i` of a frame's rows (the mixer's tick). Nulls as NaN. */
export function writeUsedRow(
  rows: Float64Array, i: number, seq: number | null, wireSeq: number | null, concealed: boolean, codec: AudioCodecName,
  channels: number, frameSamples: number, arrival: number | null,
): void {
  const o = i * USED_STRIDE;
  rows[o + SEQ] = seq === null ? NaN : seq;
  rows[o + WIRE] = wireSeq === null ? NaN : wireSeq;
  rows[o + CONCEALED] = concealed ? 1 : 0;
  // (the codec table's wire ids, runtime/codec.ts)
  rows[o + CODEC] = codecOf(codec);
  rows[o + CHANNELS] = channels;
  rows[o + FRAME] = frameSamples;
  rows[o + ARRIVAL] = arrival === null ? NaN : arrival;
}

/** An empty frame (no track), shared. */
export const EMPTY_USED = new UsedFrame();

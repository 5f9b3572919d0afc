// One pass over an .xcev file that indexes a session for the offline tools: frames, packets by seq, mix parameters, and which packet belongs to each frame slot.
import {
  CT_PCM, EventType,
  type AudioEvent, type DecodedProfile, type MixParametersEvent, type RoomMastersEvent, type StreamInfoEvent, type TruncatedEvent,
} from './codec';
import { readEventFile, type EventFileWarning } from './reader';
import { DEFAULT_ROOM } from '../rooms';

/** Where a channel's audio for one mixed frame comes from. */
export const enum SlotSource {
  /** The channel was not in this frame's mix. */
  ABSENT = 0,
  /** The packet the live mix used. */
  LIVE = 1,
  /** The live mix concealed, but the packet of this slot arrived later: the offline tools use it. */
  LATE = 2,
  /** Concealed live and never received (or the live mix played it later, so it is not this slot's). */
  CONCEALED = 3,
  /** The live mix used a packet that is not in the file (capture started after it arrived). */
  MISSING = 4,
}

/** A Float64Array that grows; gaps are filled with `fill`. */
class Growable {
  data: Float64Array;
  length = 0;
  constructor(private readonly fill: number, capacity = 1024) {
    this.data = new Float64Array(capacity).fill(fill);
  }
  set(i: number, v: number): void {
    if (i >= this.data.length) {
      let cap = this.data.length * 2;
      while (cap <= i) cap *= 2;
      const next = new Float64Array(cap).fill(this.fill);
      next.set(this.data.subarray(0, this.length));
      this.data = next;
    }
    this.data[i] = v;
    if (i >= this.length) this.length = i + 1;
  }
  push(v: number): void {
    this.set(this.length, v);
  }
  view(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

/** What the index knows of one channel. */
export interface ChannelIndex {
  channelId: number;
  /** The latest non-empty profile an Audio Frame Mixed entry carried (else the latest one). */
  profile: DecodedProfile | null;
  kind: 'opus' | 'pcm' | null;
  /** RFC compression type (Opus), or CT_PCM. */
  compression: number;
  /** Audio channels of its packets. */
  channels: number;
  /** Samples per channel in one packet (from Audio Frame Mixed entries, or the PCM events). */
  frameSamples: number;
  /** For PCM: the codec (0 s16le, 1 f32le) and sample rate of its packets. */
  pcmCodec: number;
  pcmSampleRate: number;
  /** Packet events (0x01/0x12) in the file, duplicates included. */
  packets: number;
  duplicates: number;
  packetBytes: number;
  /** Sequence numbers are kept relative to this one (the first seen), as exact doubles. */
  baseSeq: bigint | null;
  firstSeq: bigint | null;
  lastSeq: bigint | null;
  /** relative seq → byte offset of its packet event (first arrival). */
  packetOffsets: Map<number, number>;
  /** Global index of the first frame whose mix included this channel (−1: never). */
  firstFrame: number;
  /** Frames whose mix included the channel, and of those the ones concealed live. */
  framesMixed: number;
  concealedFrames: number;
  /** Concealed live but the slot's packet arrived later (used offline). */
  latePackets: number;
  /** Concealed live and never received. */
  lostPackets: number;
  /** Used live but not in the file. */
  missingPackets: number;
  /** Up to 100 seqs of late packets, for display. */
  lateSeqs: bigint[];
  /** Per frame from firstFrame: relative seq of the packet for this slot (NaN: none), and where it comes from. */
  slotSeq: Float64Array;
  slotSource: Uint8Array;
}

export interface SessionIndex {
  path: string;
  /** The room whose frames are indexed (IndexOptions.room): 'main' is 0x02, another room its 0x13 events. */
  room: string;
  /** Frames in the file per room (every room's, whichever is indexed), in the order the rooms first appear. */
  rooms: Map<string, number>;
  bytes: number;
  events: number;
  eventsByType: Record<number, number>;
  unknownEvents: number;
  streamInfo: StreamInfoEvent | null;
  sampleRate: number | null;
  frameSamples: number | null;
  firstTimestamp: number | null;
  lastTimestamp: number | null;
  /** Audio Frame Mixed events indexed, in order. */
  frames: number;
  firstFrameSeq: bigint | null;
  lastFrameSeq: bigint | null;
  /** Per frame: frameSeq − firstFrameSeq. */
  frameSeqRel: Float64Array;
  /** Per frame: byte offset of its Audio Frame Mixed event (what had arrived before it, the live mix could have used). */
  frameOffset: Float64Array;
  /** Per frame: where its entries start in entryChannels (entryStart[frames] = total). */
  entryStart: Float64Array;
  /** Channel ids of every frame's entries, in the order the live mix listed them. */
  entryChannels: Uint32Array;
  /** Mix Parameters sorted by fromFrameSeq (file order kept among equals: the later one wins). */
  params: MixParametersEvent[];
  /** Room Masters (0x14) sorted by fromFrameSeq (file order kept among equals: the later one wins); empty in most files. */
  roomMasters: RoomMastersEvent[];
  channels: Map<number, ChannelIndex>;
  warnings: string[];
  truncated: TruncatedEvent | null;
}

export interface IndexOptions {
  /** The room whose mix to index: 'main' (default) its 0x02 frames, another room its 0x13 Room Frame Mixed. */
  room?: string;
  onProgress?: (bytesRead: number, totalBytes: number) => void;
  onWarning?: (w: EventFileWarning) => void;
}

const MAX_LATE_SEQS = 100;

function newChannel(channelId: number): ChannelIndex {
  return {
    channelId, profile: null, kind: null, compression: 0, channels: 0, frameSamples: 0, pcmCodec: 0, pcmSampleRate: 0,
    packets: 0, duplicates: 0, packetBytes: 0, baseSeq: null, firstSeq: null, lastSeq: null, packetOffsets: new Map(),
    firstFrame: -1, framesMixed: 0, concealedFrames: 0, latePackets: 0, lostPackets: 0, missingPackets: 0, lateSeqs: [],
    slotSeq: new Float64Array(0), slotSource: new Uint8Array(0),
  };
}

/** Slot values while indexing: a relative seq, or one of these. */
const SLOT_ABSENT = -Infinity;
const SLOT_CONCEALED = NaN;

/**
 * Reads an event file once and indexes it. Packet data is not kept, only each packet's
 * offset, so memory grows with the number of packets, not their bytes.
 */
export async function indexSession(path: string, opts: IndexOptions = {}): Promise<SessionIndex> {
  const channels = new Map<number, ChannelIndex>();
  const slots = new Map<number, Growable>();
  const frameSeqRel = new Growable(0);
  const frameOffset = new Growable(0);
  const entryStart = new Growable(0);
  let entryChannels = new Uint32Array(4096);
  let entries = 0;
  const params: MixParametersEvent[] = [];
  const roomMasters: RoomMastersEvent[] = [];
  const warnings: string[] = [];
  const eventsByType: Record<number, number> = {};
  let streamInfo: StreamInfoEvent | null = null;
  let sampleRate: number | null = null;
  let frameSamples: number | null = null;
  let firstTs: number | null = null;
  let lastTs: number | null = null;
  let events = 0;
  let frames = 0;
  let firstFrameSeq: bigint | null = null;
  let lastFrameSeq: bigint | null = null;
  const room = opts.room ?? DEFAULT_ROOM;
  const rooms = new Map<string, number>();

  const channel = (id: number): ChannelIndex => {
    let c = channels.get(id);
    if (!c) channels.set(id, (c = newChannel(id)));
    return c;
  };
  const rel = (c: ChannelIndex, seq: bigint): number => {
    if (c.baseSeq === null) c.baseSeq = seq;
    return Number(seq - c.baseSeq);
  };

  const reader = readEventFile(path, { onProgress: opts.onProgress, onWarning: opts.onWarning });
  for await (const e of reader as AsyncIterable<AudioEvent>) {
    events++;
    eventsByType[e.type] = (eventsByType[e.type] ?? 0) + 1;
    if (firstTs === null) firstTs = e.timestamp;
    lastTs = e.timestamp;
    switch (e.type) {
      case EventType.STREAM_INFO:
        if (!streamInfo) {
          streamInfo = e;
          sampleRate = e.sampleRate;
          frameSamples = e.frameSamples;
        } else if (e.sampleRate !== streamInfo.sampleRate || e.frameSamples !== streamInfo.frameSamples) {
          warnings.push(`at byte ${e.offset}: Stream Info changes the format to ${e.sampleRate} Hz / ${e.frameSamples} samples; the first one is kept`);
        }
        break;
      case EventType.MIX_PARAMETERS:
        params.push(e);
        break;
      case EventType.ROOM_MASTERS:
        roomMasters.push(e);
        break;
      case EventType.OPUS_PACKET_RECEIVED:
      case EventType.PCM_PACKET_RECEIVED: {
        const c = channel(e.channelId);
        const isPcm = e.type === EventType.PCM_PACKET_RECEIVED;
        if (c.kind === null) {
          c.kind = isPcm ? 'pcm' : 'opus';
          c.channels = e.channels;
          if (isPcm) {
            c.compression = CT_PCM;
            c.pcmCodec = e.codec;
            c.pcmSampleRate = e.sampleRate;
            c.frameSamples = e.frameSamples;
          } else {
            c.compression = e.compression;
          }
        }
        c.packets++;
        c.packetBytes += isPcm ? e.data.length : e.packet.length;
        const r = rel(c, e.seq);
        if (c.packetOffsets.has(r)) {
          c.duplicates++;
        } else {
          c.packetOffsets.set(r, e.offset);
          if (c.firstSeq === null || e.seq < c.firstSeq) c.firstSeq = e.seq;
          if (c.lastSeq === null || e.seq > c.lastSeq) c.lastSeq = e.seq;
        }
        break;
      }
      case EventType.AUDIO_FRAME_MIXED:
      case EventType.ROOM_FRAME_MIXED: {
        const of = e.type === EventType.ROOM_FRAME_MIXED ? e.room : DEFAULT_ROOM;
        rooms.set(of, (rooms.get(of) ?? 0) + 1);
        if (of !== room) break;
        if (sampleRate === null) {
          sampleRate = e.sampleRate;
          frameSamples = e.frameSamples;
        }
        if (lastFrameSeq !== null && e.frameSeq <= lastFrameSeq) {
          warnings.push(`at byte ${e.offset}: ${of === DEFAULT_ROOM ? 'Audio Frame Mixed' : `Room Frame Mixed (${of})`} ${e.frameSeq} does not follow frame ${lastFrameSeq}; skipped`);
          break;
        }
        if (firstFrameSeq === null) firstFrameSeq = e.frameSeq;
        lastFrameSeq = e.frameSeq;
        const k = frames++;
        frameSeqRel.push(Number(e.frameSeq - firstFrameSeq));
        frameOffset.push(e.offset);
        entryStart.push(entries);
        for (const en of e.entries) {
          const c = channel(en.channelId);
          if (c.firstFrame < 0) {
            c.firstFrame = k;
            slots.set(c.channelId, new Growable(SLOT_ABSENT, 256));
          }
          if (c.kind === null || c.frameSamples === 0) {
            c.frameSamples = en.frameSamples;
            if (c.kind === null) {
              c.compression = en.compression;
              c.channels = en.channels;
            }
          }
          if (en.profile.name !== '' || en.profile.city !== '' || c.profile === null) c.profile = en.profile;
          c.framesMixed++;
          let v: number;
          if (en.seq === null) {
            c.concealedFrames++;
            v = SLOT_CONCEALED;
          } else {
            v = rel(c, en.seq);
          }
          slots.get(c.channelId)!.set(k - c.firstFrame, v);
          if (entries === entryChannels.length) {
            const next = new Uint32Array(entries * 2);
            next.set(entryChannels);
            entryChannels = next;
          }
          entryChannels[entries++] = en.channelId;
        }
        break;
      }
    }
  }
  entryStart.push(entries);
  for (const w of reader.warnings) warnings.push(w.message);

  const frameRel = frameSeqRel.view();
  for (const c of channels.values()) {
    const g = slots.get(c.channelId);
    if (g) assignSlots(c, g.view(), frameRel, frames);
  }

  // Stable sort: among snapshots for the same frame, the later one in the file wins.
  params.sort((a, b) => (a.fromFrameSeq < b.fromFrameSeq ? -1 : a.fromFrameSeq > b.fromFrameSeq ? 1 : 0));
  roomMasters.sort((a, b) => (a.fromFrameSeq < b.fromFrameSeq ? -1 : a.fromFrameSeq > b.fromFrameSeq ? 1 : 0));

  return {
    path, room, rooms, bytes: reader.totalBytes, events, eventsByType, unknownEvents: reader.skipped,
    streamInfo, sampleRate, frameSamples, firstTimestamp: firstTs, lastTimestamp: lastTs,
    frames, firstFrameSeq, lastFrameSeq, frameSeqRel: frameRel, frameOffset: frameOffset.view(), entryStart: entryStart.view(),
    entryChannels: entryChannels.subarray(0, entries), params, roomMasters, channels, warnings, truncated: reader.truncated,
  };
}

/**
 * Decides which packet belongs to each of a channel's frame slots. Where the live mix used
 * a packet, that one. Where it concealed, the packet that continues the channel's sequence
 * (last used seq + frames elapsed; before the first used packet, counted back from it) —
 * if it was received at all and the live mix did not play it in a later frame instead
 * (then the concealment was a delay, not a loss, and the reconstruction conceals too).
 */
function assignSlots(c: ChannelIndex, raw: Float64Array, frameRel: Float64Array, totalFrames: number): void {
  const n = Math.max(0, totalFrames - c.firstFrame);
  const slotSeq = new Float64Array(n).fill(NaN);
  const slotSource = new Uint8Array(n);
  // Next used seq (and its frame) at or after each slot, from a backward pass.
  const nextUsed = new Float64Array(n);
  const nextUsedFrame = new Float64Array(n);
  let nu = NaN;
  let nuf = NaN;
  for (let i = n - 1; i >= 0; i--) {
    const v = i < raw.length ? raw[i] : SLOT_ABSENT;
    if (v !== SLOT_ABSENT && !Number.isNaN(v)) { nu = v; nuf = frameRel[c.firstFrame + i]; }
    nextUsed[i] = nu;
    nextUsedFrame[i] = nuf;
  }
  // A channel that was never played live: its first received packet goes to its first frame.
  let minReceived = Infinity;
  for (const r of c.packetOffsets.keys()) if (r < minReceived) minReceived = r;
  const firstRel = frameRel[c.firstFrame];

  let lastUsed = NaN;
  let lastUsedFrame = NaN;
  for (let i = 0; i < n; i++) {
    const v = i < raw.length ? raw[i] : SLOT_ABSENT;
    const f = frameRel[c.firstFrame + i];
    if (v === SLOT_ABSENT) {
      slotSource[i] = SlotSource.ABSENT;
      continue;
    }
    if (!Number.isNaN(v)) {
      lastUsed = v;
      lastUsedFrame = f;
      slotSeq[i] = v;
      if (c.packetOffsets.has(v)) {
        slotSource[i] = SlotSource.LIVE;
      } else {
        slotSource[i] = SlotSource.MISSING;
        c.missingPackets++;
      }
      continue;
    }
    let cand: number;
    if (!Number.isNaN(lastUsed)) cand = lastUsed + (f - lastUsedFrame);
    else if (!Number.isNaN(nextUsed[i])) cand = nextUsed[i] - (nextUsedFrame[i] - f);
    else cand = minReceived + (f - firstRel);
    // Slots after i that the live mix filled start at i + 1; nextUsed[i] is one of them since slot i is concealed.
    const playedLater = !Number.isNaN(nextUsed[i]) && nextUsed[i] <= cand;
    if (Number.isFinite(cand) && !playedLater && c.packetOffsets.has(cand)) {
      slotSeq[i] = cand;
      slotSource[i] = SlotSource.LATE;
      c.latePackets++;
      if (c.lateSeqs.length < MAX_LATE_SEQS) c.lateSeqs.push(c.baseSeq! + BigInt(cand));
    } else {
      slotSource[i] = SlotSource.CONCEALED;
      c.lostPackets++;
    }
  }
  c.slotSeq = slotSeq;
  c.slotSource = slotSource;
}

/** The Mix Parameters in force for frame `frameSeq`, walking `params` forward from `cursor` (frames are visited in order). */
export function paramsAt(params: readonly MixParametersEvent[], frameSeq: bigint, cursor: { i: number }): MixParametersEvent | null {
  while (cursor.i + 1 < params.length && params[cursor.i + 1].fromFrameSeq <= frameSeq) cursor.i++;
  const p = cursor.i >= 0 ? params[cursor.i] : null;
  return p && p.fromFrameSeq <= frameSeq ? p : null;
}

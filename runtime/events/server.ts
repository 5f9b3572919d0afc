// The xcast's audio event stream: a TCP server (and optional rotating .xcev file) that every received packet and mixed frame is written to, encoded once.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { SeqUnwrapper } from '../seq';
import { codecOf } from '../codec';
import { DEFAULT_ROOM } from '../rooms';
import type { UsedFrame, UsedTrack } from '../audio/used';
import {
  CT_OPUS, CT_PCM,
  encodeAudioFrameMixed, encodeRoomFrameMixed, encodeRoomName, encodeMixParameters, encodeRoomMasters, encodeOpusPacketReceived, encodePcmPacketReceived, encodeProfile, encodeStreamInfo,
  type ChannelMixParameters, type MixedEntry, type OpusPacketReceived, type PcmPacketReceived, type Profile, type U64,
} from './codec';

/** Rotation and bounds of the file copy of the stream. */
export interface EventFileOptions {
  /** Where to write. Without rotation exactly this file; with rotation `<name>.0000<ext>`, `<name>.0001<ext>`, … beside it. */
  path: string;
  /** Start a new file before one would grow past this many bytes. */
  rotateBytes?: number;
  /** Start a new file once the current one is this old (checked when an event is written). */
  rotateMs?: number;
  /** Bytes handed to the file stream but not yet on disk past which events are dropped (counted) rather than buffered; default 64 MiB. */
  maxBacklogBytes?: number;
}

export interface EventStreamServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 7012; 0 picks a free port. */
  port?: number;
  /** The mixer's sample rate and frame size, announced in Stream Info. */
  sampleRate: number;
  frameSamples: number;
  /** Unsent bytes (socket.writableLength) past which a client is cut off; default 4 MiB. */
  maxClientBacklogBytes?: number;
  file?: EventFileOptions;
}

/**
 * One channel of an audioFrameMixed call. The mixer's UsedEntry maps onto it field for
 * field: { channelId, seq: u.wireSeq, concealed: u.concealed, codec: u.codec, channels: u.channels, frameSamples: u.frameSamples }.
 */
export interface MixedFrameEntry {
  channelId: number;
  /** The 32-bit wire seq of the packet the mixer used for this frame, or null where it had none. */
  seq: number | null;
  /**
   * With seq null: true (or absent) = the frame was concealed (written with the concealment marker);
   * false = the track gave no audio at all (prebuffering): it is left out of the event, as it is out of the mix.
   */
  concealed?: boolean;
  channels: number;
  frameSamples: number;
  /** The track's codec; PCM tracks are written with compression CT_PCM. */
  codec?: 'opus' | 'pcm_s16le' | 'pcm_f32le';
  /** Explicit RFC compression type; default from `codec`, else CT_OPUS. */
  compression?: number;
}

/** What trackPacketReceived reads of msg.audio. */
export interface TrackPacket {
  trackId: number;
  seq: number;
  codec: 'opus' | 'pcm_s16le' | 'pcm_f32le';
  channels: number;
  frameSamples: number;
  sampleRate: number;
}

/** One track of the mixer's parameters (its `tracks` list), by user and track. */
export interface TrackMixParameters {
  userId: string;
  trackId: number;
  /** The connection the track came on (the mixer's TrackState.connectionId); '' or absent: not a network stream. */
  connectionId?: string;
  gain: number;
  pan: number;
  muted: boolean;
}

/** One track the mixer used for a frame, as an object (what UsedFrame.from takes; the mixer's UsedEntry has these fields). */
export interface TrackUse {
  userId: string;
  trackId: number;
  /** The connection the track came on; '' or absent: not a network stream. */
  connectionId?: string;
  /** The 32-bit wire seq of the packet used, or null. */
  wireSeq: number | null;
  concealed: boolean;
  codec: 'opus' | 'pcm_s16le' | 'pcm_f32le';
  channels: number;
  frameSamples: number;
}

export interface EventStreamStats {
  /** Clients that ever connected. */
  clientsAccepted: number;
  /** Clients cut off because their backlog passed maxClientBacklogBytes. */
  clientsDropped: number;
  /** Client sockets that failed (reset, …). */
  clientErrors: number;
  /** Events encoded (each once, whatever the number of clients). */
  events: number;
  /** Bytes of those events. */
  bytes: number;
  /** Packets whose seq unwrapped to before the channel's first packet: not emitted. */
  packetsBeforeStart: number;
  /** Times a channel's wire seq jumped so far (SEQ_RESTART_JUMP, runtime/seq.ts) that the peer must have restarted its count. */
  seqRestarts: number;
  /** Files opened (1 + rotations). */
  filesOpened: number;
  /** Bytes handed to the file(s). */
  fileBytes: number;
  /** Events not written to the file because its backlog passed maxBacklogBytes. */
  fileEventsDropped: number;
  fileErrors: number;
}

const DEFAULT_PORT = 7012;
const DEFAULT_CLIENT_BACKLOG = 4 * 1024 * 1024;
const DEFAULT_FILE_BACKLOG = 64 * 1024 * 1024;

interface ChannelState {
  /** Wire seq → u64; its `highest` is the highest u64 emitted (NaN before the first packet). */
  seq: SeqUnwrapper;
  /** restartChannel() was called: the next packet continues after `highest`, whatever its wire seq. */
  restarted: boolean;
  /** The numbering before the last restart: the mix thread may still name its packets in a frame or two. */
  previous: SeqUnwrapper | null;
  /** The profile block, encoded once. */
  profile: Buffer;
}

const EMPTY_PROFILE = encodeProfile(undefined);

/** One channel of a (userId, trackId) pair as a connection holds it. */
interface Binding {
  id: number;
  connectionId: string;
  /** The connection closed: the pair's next connection takes this channel over (a reconnect keeps its channel). */
  closed: boolean;
}

/** Closed connections whose channels late mix entries may still name (a frame or two): kept this many, oldest out. */
const CLOSED_KEPT = 256;

/**
 * Streams the xcast's events to TCP clients and, optionally, to .xcev files.
 * A client gets Stream Info, then the current Mix Parameters, then every event
 * from that moment. Each event is encoded once into one Buffer that every client
 * and the file share; a client that cannot keep up is destroyed, never waited for.
 */
export class EventStreamServer extends EventEmitter {
  /** µs since the Unix epoch when this server was made; event timestamps count from here. */
  readonly startMicros: number;
  readonly sampleRate: number;
  readonly frameSamples: number;
  readonly stats: EventStreamStats = {
    clientsAccepted: 0, clientsDropped: 0, clientErrors: 0, events: 0, bytes: 0,
    packetsBeforeStart: 0, seqRestarts: 0,
    filesOpened: 0, fileBytes: 0, fileEventsDropped: 0, fileErrors: 0,
  };

  private readonly host: string;
  private readonly port: number;
  private readonly maxBacklog: number;
  private readonly perfStart: number;
  private readonly sockets = new Set<net.Socket>();
  // The same clients as an array: the hot path walks it without an iterator object.
  private clientList: net.Socket[] = [];
  private server: net.Server | null = null;
  private closed = false;
  private readonly file: FileSink | null;
  private readonly channels = new Map<number, ChannelState>();
  private readonly ids = new Map<string, Map<number, number>>();
  private nextChannelId = 1;
  // The profile of each user's last HELLO, for the channels it opens later.
  private readonly profiles = new Map<string, Profile | null>();
  /** Room names as 0x13 carries them, encoded once per room. */
  private readonly roomNames = new Map<string, Buffer>();
  // By connection (what the socket reader's messages say): the channels each holds, by user and track. Two
  // connections claiming one userId never share a channel (and so never a seq numbering); a connection that
  // follows a closed one of the same user takes over its channels, so a reconnect keeps its channel ids.
  private readonly byConn = new Map<string, Map<string, Map<number, Binding>>>();
  private readonly pairs = new Map<string, Map<number, Binding[]>>();
  private readonly connProfiles = new Map<string, Profile | null>();
  private readonly closedConns: string[] = [];
  private readonly trackEntries: MixedFrameEntry[] = [];
  /** Bumped whenever trackChannel's answers may change (a channel made or taken over, a connection's let go). */
  private channelEpoch = 0;
  /** Each used frame's track table's channels (trackFrameMixed), as of a channelEpoch. */
  private readonly tableChannels = new WeakMap<readonly UsedTrack[], { epoch: number; ids: Float64Array }>();
  private params: { fromFrameSeq: U64; master: number; channels: ChannelMixParameters[] } = { fromFrameSeq: 0, master: 1, channels: [] };
  /** The room masters (0x14) last recorded: empty until a room's master is set. */
  private masters: { fromFrameSeq: U64; rooms: Array<{ room: string; master: number }> } = { fromFrameSeq: 0, rooms: [] };
  // Scratch objects reused on every hot-path call.
  private readonly opusScratch: OpusPacketReceived = { channelId: 0, seq: 0, compression: 0, channels: 0, packet: Buffer.alloc(0) };
  private readonly pcmScratch: PcmPacketReceived = { channelId: 0, seq: 0, codec: 0, channels: 0, frameSamples: 0, sampleRate: 0, data: Buffer.alloc(0) };
  private readonly entryPool: MixedEntry[] = [];
  private readonly entryView: MixedEntry[] = [];
  private readonly frameScratch = { frameSeq: 0 as U64, frameSamples: 0, sampleRate: 0, entries: this.entryView as readonly MixedEntry[] };

  constructor(opts: EventStreamServerOptions) {
    super();
    if (!Number.isInteger(opts.sampleRate) || opts.sampleRate <= 0) throw new RangeError(`sampleRate must be a positive integer, got ${opts.sampleRate}`);
    if (!Number.isInteger(opts.frameSamples) || opts.frameSamples <= 0 || opts.frameSamples > 0xffff) {
      throw new RangeError(`frameSamples must be an integer 1…65535, got ${opts.frameSamples}`);
    }
    this.host = opts.host ?? '127.0.0.1';
    this.port = opts.port ?? DEFAULT_PORT;
    this.sampleRate = opts.sampleRate;
    this.frameSamples = opts.frameSamples;
    this.maxBacklog = opts.maxClientBacklogBytes ?? DEFAULT_CLIENT_BACKLOG;
    this.perfStart = performance.now();
    this.startMicros = Math.round((performance.timeOrigin + this.perfStart) * 1000);
    this.file = opts.file ? new FileSink(opts.file, this) : null;
  }

  /** Starts listening (and opens the event file, if any); resolves with the bound address. */
  listen(): Promise<{ host: string; port: number }> {
    if (this.server) throw new Error('EventStreamServer.listen called twice');
    if (this.closed) throw new Error('EventStreamServer is closed');
    this.file?.start();
    const server = net.createServer((s) => this.accept(s));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => {
        server.off('error', reject);
        server.on('error', (err) => this.emit('serverError', err));
        const a = server.address() as net.AddressInfo;
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  /** Connected clients. */
  get clients(): number {
    return this.sockets.size;
  }

  /** Paths of the event files written so far, oldest first. */
  get files(): readonly string[] {
    return this.file ? this.file.paths : [];
  }

  /** Stops listening, drops every client, flushes and closes the file. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.clientList = [];
    const server = this.server;
    this.server = null;
    const done: Promise<unknown>[] = [];
    if (server) done.push(new Promise<void>((r) => server.close(() => r())));
    if (this.file) done.push(this.file.close());
    await Promise.all(done);
  }

  /** A stable u32 channel id for one incoming track of one user (the same pair always gets the same id). */
  channelIdFor(userId: string, trackId: number): number {
    let byTrack = this.ids.get(userId);
    if (!byTrack) this.ids.set(userId, (byTrack = new Map()));
    let id = byTrack.get(trackId);
    if (id === undefined) {
      id = this.nextChannelId++;
      byTrack.set(trackId, id);
      this.state(id);
    }
    return id;
  }

  /** Registers the musician profile (the peer's HELLO `profile`) that Audio Frame Mixed entries of this channel carry. */
  setProfile(channelId: number, profile: Profile | undefined | null): void {
    this.state(channelId).profile = profile ? encodeProfile(profile) : EMPTY_PROFILE;
  }

  /** Call when a channel's sender restarted (reconnected): its next seq continues after the highest one emitted, whatever its wire value. */
  restartChannel(channelId: number): void {
    const st = this.channels.get(channelId);
    if (st && st.seq.anchored) st.restarted = true;
  }

  // --- By user and track: what the event-stream node hands over (flow messages name users, events name channels) ---

  /**
   * A sender connected (its HELLO): the profile its channels carry from now on. With its `connectionId` (the
   * socket reader's), the profile is that connection's; channels of the user's closed connections are taken over
   * by this one at its first packet of each track. Without one: channels the user already has are a reconnect: they
   * take the new profile and restart (restartChannel), so their sequence continues.
   */
  senderConnected(userId: string, profile: Profile | null | undefined, connectionId = ''): void {
    if (connectionId) {
      if (profile) encodeProfile(profile);   // refused here, naming the field, as without a connection
      this.connProfiles.set(connectionId, profile ?? null);
      this.profiles.set(userId, profile ?? null);
      const mine = this.byConn.get(connectionId)?.get(userId);
      if (mine) for (const b of mine.values()) this.setProfile(b.id, profile);
      return;
    }
    this.profiles.set(userId, profile ?? null);
    const byTrack = this.ids.get(userId);
    if (!byTrack) return;
    for (const id of byTrack.values()) {
      this.setProfile(id, profile);
      this.restartChannel(id);
    }
  }

  /** A sender's connection closed: the next connection of that user takes over its channels (restarted, continuing). */
  senderDisconnected(userId: string, connectionId: string): void {
    if (!connectionId) return;
    this.channelEpoch++;
    const byUser = this.byConn.get(connectionId);
    if (!byUser) { this.connProfiles.delete(connectionId); return; }
    for (const byTrack of byUser.values()) for (const b of byTrack.values()) if (b.connectionId === connectionId) b.closed = true;
    this.connProfiles.delete(connectionId);
    this.closedConns.push(connectionId);
    if (this.closedConns.length > CLOSED_KEPT) {
      this.byConn.delete(this.closedConns.shift() as string);
    }
    void userId;
  }

  /**
   * The channel of a user's track: without a connection, channelIdFor's, made with the profile of the user's last
   * HELLO; with one, that connection's channel for the track — the pair's first channel if no connection holds it,
   * else one a closed connection held (taken over, restarted), else a new one.
   */
  trackChannel(userId: string, trackId: number, connectionId = ''): number {
    if (!connectionId) {
      const known = this.ids.get(userId)?.get(trackId);
      if (known !== undefined) return known;
      this.channelEpoch++;
      const id = this.channelIdFor(userId, trackId);
      this.setProfile(id, this.profiles.get(userId));
      return id;
    }
    let byUser = this.byConn.get(connectionId);
    const hit = byUser?.get(userId)?.get(trackId);
    if (hit !== undefined) return hit.id;
    this.channelEpoch++;
    let list = this.pairs.get(userId)?.get(trackId);
    if (!list) {
      let byTrack = this.pairs.get(userId);
      if (!byTrack) this.pairs.set(userId, (byTrack = new Map()));
      byTrack.set(trackId, (list = []));
    }
    let b = list.find((x) => x.closed);
    if (b) {
      b.closed = false;
      b.connectionId = connectionId;
      this.restartChannel(b.id);
    } else {
      const first = list.length === 0;
      const id = first ? this.channelIdFor(userId, trackId) : this.nextChannelId++;
      if (!first) this.state(id);
      b = { id, connectionId, closed: false };
      list.push(b);
    }
    const profile = this.connProfiles.has(connectionId) ? this.connProfiles.get(connectionId) : this.profiles.get(userId);
    this.setProfile(b.id, profile);
    if (!byUser) this.byConn.set(connectionId, (byUser = new Map()));
    let byTrack = byUser.get(userId);
    if (!byTrack) byUser.set(userId, (byTrack = new Map()));
    byTrack.set(trackId, b);
    return b.id;
  }

  /** Hot path: a packet of a user's track arrived, as the flow carries it (msg.audio, msg.payload): 0x01 or 0x12. */
  trackPacketReceived(userId: string, a: TrackPacket, payload: Buffer, connectionId = ''): void {
    const id = this.trackChannel(userId, a.trackId, connectionId);
    if (a.codec === 'opus') this.opusPacketReceived(id, a.seq, 0, a.channels, payload);
    else this.pcmPacketReceived(id, a.seq, a.codec, a.channels, a.frameSamples, a.sampleRate, payload);
  }

  /**
   * mixParameters with the mixer's tracks by user and track; `rooms` (MixParameters.rooms: the masters of rooms other
   * than 'main' that were set) recorded as 0x14 Room Masters when it differs from the last one recorded.
   */
  trackMixParameters(fromFrameSeq: U64, master: number, tracks: readonly TrackMixParameters[], rooms?: Record<string, number>): void {
    this.mixParameters(fromFrameSeq, master, tracks.map((t) => ({ channelId: this.trackChannel(t.userId, t.trackId, t.connectionId), gain: t.gain, pan: t.pan, muted: t.muted })));
    if (rooms !== undefined && rooms !== null) this.roomMasters(fromFrameSeq, rooms);
  }

  /**
   * 0x14 (issue 12): the masters of rooms other than 'main', a complete snapshot in force from `fromFrameSeq`; written
   * only when it differs from the last one (a session whose rooms' masters were never set has none).
   */
  roomMasters(fromFrameSeq: U64, rooms: Record<string, number>): void {
    if (this.closed) return;
    const list: Array<{ room: string; master: number }> = [];
    for (const [room, master] of Object.entries(rooms)) if (room !== DEFAULT_ROOM) list.push({ room, master: Math.fround(master) });
    const prev = this.masters.rooms;
    if (list.length === prev.length && list.every((r, i) => r.room === prev[i].room && r.master === prev[i].master)) return;
    const buf = encodeRoomMasters(this.now(), { fromFrameSeq, rooms: list });
    this.masters = { fromFrameSeq, rooms: list };
    if (this.hasSinks()) this.broadcast(buf);
  }

  /**
   * Hot path: audioFrameMixed with the mixer's used frame (runtime/audio/used.ts: tracks by user and track, wire seqs). `room`: the mix's
   * room (msg.mixed.room); a room other than 'main' is written as 0x13 Room Frame Mixed, 'main' or none as 0x02.
   */
  trackFrameMixed(frameSeq: U64, used: UsedFrame, room?: string): void {
    const entries = this.trackEntries;
    const n = used.length;
    entries.length = n;
    // The channels of a track table (the same object every frame until a track comes or goes), looked up once: a
    // lookup that finds its channel changes nothing, so the ids stand until a lookup makes or takes over a channel
    // or a connection's channels are let go (channelEpoch).
    let c = this.tableChannels.get(used.tracks);
    if (c === undefined || c.epoch !== this.channelEpoch) {
      const ids = c !== undefined && c.ids.length === n ? c.ids : new Float64Array(n);
      for (let i = 0; i < n; i++) ids[i] = this.trackChannel(used.userId(i), used.trackId(i), used.connectionId(i));
      this.tableChannels.set(used.tracks, (c = { epoch: this.channelEpoch, ids }));
    }
    const ids = c.ids;
    for (let i = 0; i < n; i++) {
      const e = entries[i] ?? (entries[i] = { channelId: 0, seq: null, channels: 0, frameSamples: 0 });
      e.channelId = ids[i];
      e.seq = used.wireSeq(i); e.concealed = used.concealed(i); e.codec = used.codec(i); e.channels = used.channels(i); e.frameSamples = used.frameSamples(i);
    }
    this.audioFrameMixed(frameSeq, entries, room);
  }

  /** 0x01, hot path: an Opus packet arrived (also when too late for the mix). `seq32` is the wire seq. */
  opusPacketReceived(channelId: number, seq32: number, compression: number, channels: number, packet: Buffer): void {
    if (this.closed) return;
    const seq = this.unwrap(channelId, seq32);
    if (seq < 0 || !this.hasSinks()) return;
    const e = this.opusScratch;
    e.channelId = channelId; e.seq = seq; e.compression = compression; e.channels = channels; e.packet = packet;
    const buf = encodeOpusPacketReceived(this.now(), e);
    e.packet = EMPTY;
    this.broadcast(buf);
  }

  /** 0x12, hot path: a PCM packet arrived. `codec` is 0/'pcm_s16le' or 1/'pcm_f32le'. */
  pcmPacketReceived(
    channelId: number, seq32: number, codec: number | 'pcm_s16le' | 'pcm_f32le',
    channels: number, frameSamples: number, sampleRate: number, data: Buffer,
  ): void {
    if (this.closed) return;
    const seq = this.unwrap(channelId, seq32);
    if (seq < 0 || !this.hasSinks()) return;
    const e = this.pcmScratch;
    e.channelId = channelId; e.seq = seq;
    e.codec = typeof codec === 'number' ? codec : codecOf(codec);
    e.channels = channels; e.frameSamples = frameSamples; e.sampleRate = sampleRate; e.data = data;
    const buf = encodePcmPacketReceived(this.now(), e);
    e.data = EMPTY;
    this.broadcast(buf);
  }

  /**
   * 0x02, hot path: the mixer produced frame `frameSeq` from these channels (wire seqs, null where concealed). With a
   * `room` other than 'main' (runtime/rooms.ts): 0x13, that room's frame (each room is a mix of its own, with the same
   * frame numbers).
   */
  audioFrameMixed(frameSeq: U64, entries: readonly MixedFrameEntry[], room?: string): void {
    if (this.closed || !this.hasSinks()) return;
    let roomName: Buffer | null = null;
    if (room !== undefined && room !== '' && room !== DEFAULT_ROOM) {
      roomName = this.roomNames.get(room) ?? null;
      if (roomName === null) {
        if (this.roomNames.size >= 4096) this.roomNames.clear();
        this.roomNames.set(room, (roomName = encodeRoomName(room)));
      }
    }
    const n = entries.length;
    const pool = this.entryPool;
    const view = this.entryView;
    while (pool.length < n) pool.push({ channelId: 0, seq: null, compression: 0, channels: 0, frameSamples: 0, profile: EMPTY_PROFILE });
    let m = 0;
    for (let i = 0; i < n; i++) {
      const src = entries[i];
      if (src.seq === null && src.concealed === false) continue;
      const dst = pool[m];
      const st = this.channels.get(src.channelId);
      dst.channelId = src.channelId;
      dst.seq = src.seq === null || !st ? null : this.seqFor(st, src.seq);
      dst.compression = src.compression ?? (src.codec === undefined || src.codec === 'opus' ? CT_OPUS : CT_PCM);
      dst.channels = src.channels;
      dst.frameSamples = src.frameSamples;
      dst.profile = st ? st.profile : EMPTY_PROFILE;
      view[m++] = dst;
    }
    view.length = m;
    const f = this.frameScratch;
    f.frameSeq = frameSeq; f.frameSamples = this.frameSamples; f.sampleRate = this.sampleRate;
    this.broadcast(roomName === null ? encodeAudioFrameMixed(this.now(), f) : encodeRoomFrameMixed(this.now(), roomName, f));
  }

  /** 0x11: the complete set of mix parameters, in force from frame `fromFrameSeq`; call at start and on every change. */
  mixParameters(fromFrameSeq: U64, master: number, channels: readonly ChannelMixParameters[]): void {
    if (this.closed) return;
    this.params = {
      fromFrameSeq, master,
      channels: channels.map((c) => ({ channelId: c.channelId, gain: c.gain, pan: c.pan, muted: !!c.muted })),
    };
    const buf = encodeMixParameters(this.now(), this.params);
    if (this.hasSinks()) this.broadcast(buf);
  }

  /** Stream Info + current Mix Parameters: what each client and each file starts with. */
  preamble(): Buffer[] {
    const ts = this.now();
    return [
      encodeStreamInfo(ts, { serverStartMicros: this.startMicros, sampleRate: this.sampleRate, frameSamples: this.frameSamples }),
      encodeMixParameters(ts, this.params),
      ...(this.masters.rooms.length > 0 ? [encodeRoomMasters(ts, this.masters)] : []),
    ];
  }

  // -------------------------------------------------------------------------

  private now(): number {
    const t = Math.round((performance.now() - this.perfStart) * 1000);
    return t > 0 ? t : 0;
  }

  private hasSinks(): boolean {
    return this.sockets.size > 0 || (this.file !== null && this.file.usable);
  }

  private state(channelId: number): ChannelState {
    let st = this.channels.get(channelId);
    if (!st) {
      if (!Number.isInteger(channelId) || channelId < 0 || channelId > 0xffffffff) throw new RangeError(`channelId must be a u32, got ${channelId}`);
      st = { seq: new SeqUnwrapper(), restarted: false, previous: null, profile: EMPTY_PROFILE };
      this.channels.set(channelId, st);
    }
    return st;
  }

  /**
   * Wire seq → monotonic u64 per channel (as a number: exact up to 2^53), unwrapped by runtime/seq.ts with its
   * restart policy: a restarted count continues after the highest u64 emitted, so the u64s never repeat.
   * −1: from before the channel's first packet.
   */
  private unwrap(channelId: number, seq32: number): number {
    const st = this.state(channelId);
    const u = st.seq;
    seq32 >>>= 0;
    if (!u.anchored) {
      u.anchor(seq32);
      return seq32;
    }
    if (st.restarted) {
      // restartChannel(): continue after the highest seq emitted.
      st.restarted = false;
      return this.renumber(st, seq32);
    }
    const seq = u.extend(seq32);
    if (u.isRestart(seq)) {
      this.stats.seqRestarts++;
      return this.renumber(st, seq32);
    }
    if (seq > u.highest) {
      u.advance(seq);
      return seq;
    }
    if (seq < 0) {
      this.stats.packetsBeforeStart++;
      return -1;
    }
    return seq;
  }

  /** A restarted count: wire seq `seq32` continues after the highest u64 emitted; the old numbering is kept for seqFor(). */
  private renumber(st: ChannelState, seq32: number): number {
    const next = st.previous ?? new SeqUnwrapper();
    next.anchor(st.seq.highest + 1, seq32);
    st.previous = st.seq;
    st.seq = next;
    return next.highest;
  }

  /**
   * The u64 a wire seq the mixer used maps to: the one nearest the channel's highest seq with those low 32 bits —
   * or, where that is a restart away, in the numbering before the restart (a frame the mix thread made from the old
   * packets, delivered after the restart's first packet was filed here).
   */
  private seqFor(st: ChannelState, seq32: number): number | null {
    if (!st.seq.anchored || st.restarted) return null;
    let seq = st.seq.extend(seq32 >>> 0);
    if (st.seq.isRestart(seq) && st.previous !== null) {
      const old = st.previous.extend(seq32 >>> 0);
      if (!st.previous.isRestart(old)) seq = old;
    }
    return seq >= 0 ? seq : null;
  }

  private accept(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.stats.clientsAccepted++;
    socket.setNoDelay(true);
    socket.on('error', () => {
      this.stats.clientErrors++;
    });
    socket.on('close', () => this.removeClient(socket));
    // Clients have nothing to say; read and discard so their bytes do not pile up.
    socket.on('data', noop);
    for (const b of this.preamble()) socket.write(b);
    this.sockets.add(socket);
    this.clientList = [...this.sockets];
    this.emit('clientConnected', { remote: `${socket.remoteAddress}:${socket.remotePort}` });
  }

  private removeClient(s: net.Socket): void {
    // A new array rather than a splice: broadcast may be walking the old one.
    if (this.sockets.delete(s)) this.clientList = [...this.sockets];
  }

  private broadcast(buf: Buffer): void {
    this.stats.events++;
    this.stats.bytes += buf.length;
    const list = this.clientList;
    for (let i = 0; i < list.length; i++) {
      const s = list[i];
      if (s.destroyed) continue;
      s.write(buf);
      if (s.writableLength > this.maxBacklog) {
        const backlogBytes = s.writableLength;
        this.stats.clientsDropped++;
        s.destroy();
        this.removeClient(s);
        this.emit('clientDropped', { remote: `${s.remoteAddress}:${s.remotePort}`, backlogBytes });
      }
    }
    if (this.file) this.file.write(buf);
  }
}

const EMPTY = Buffer.alloc(0);
function noop(): void { /* discard */ }

/**
 * The file copy: an fs.WriteStream per file, so disk writes happen on libuv's thread
 * pool and never block the mixer; its backlog is bounded (events past it are dropped
 * and counted, as a slow TCP client is cut off). Rotation starts the new file with
 * Stream Info + Mix Parameters so every file stands alone.
 */
class FileSink {
  readonly paths: string[] = [];
  usable = true;
  private stream: fs.WriteStream | null = null;
  private bytesInFile = 0;
  private preambleBytes = 0;
  private openedAt = 0;
  private index = 0;
  private readonly rotating: boolean;
  private readonly maxBacklog: number;
  private readonly closing: Promise<void>[] = [];

  constructor(private readonly opts: EventFileOptions, private readonly owner: EventStreamServer) {
    if (opts.rotateBytes !== undefined && !(opts.rotateBytes > 0)) throw new RangeError(`file.rotateBytes must be positive, got ${opts.rotateBytes}`);
    if (opts.rotateMs !== undefined && !(opts.rotateMs > 0)) throw new RangeError(`file.rotateMs must be positive, got ${opts.rotateMs}`);
    this.rotating = opts.rotateBytes !== undefined || opts.rotateMs !== undefined;
    this.maxBacklog = opts.maxBacklogBytes ?? DEFAULT_FILE_BACKLOG;
  }

  /** Opens the first file now rather than at the first event. */
  start(): void {
    if (this.usable && !this.stream && this.paths.length === 0) this.open();
  }

  write(buf: Buffer): void {
    if (!this.usable) return;
    if (!this.stream) this.open();
    else if (this.rotating && this.shouldRotate(buf.length)) this.rotate();
    const s = this.stream;
    if (!s) return;
    if (s.writableLength > this.maxBacklog) {
      this.owner.stats.fileEventsDropped++;
      return;
    }
    s.write(buf);
    this.bytesInFile += buf.length;
    this.owner.stats.fileBytes += buf.length;
  }

  async close(): Promise<void> {
    this.usable = false;
    this.finish();
    await Promise.all(this.closing);
  }

  private shouldRotate(nextBytes: number): boolean {
    const o = this.opts;
    if (o.rotateMs !== undefined && performance.now() - this.openedAt >= o.rotateMs) return true;
    // A file holding only its preamble is not rotated, or one oversized event would rotate forever.
    return o.rotateBytes !== undefined && this.bytesInFile + nextBytes > o.rotateBytes && this.bytesInFile > this.preambleBytes;
  }

  private rotate(): void {
    this.finish();
    this.open();
  }

  private finish(): void {
    const s = this.stream;
    if (!s) return;
    this.stream = null;
    this.closing.push(new Promise<void>((resolve) => {
      s.once('close', resolve);
      s.end();
    }));
  }

  private nextPath(): string {
    if (!this.rotating) return this.opts.path;
    const p = path.parse(this.opts.path);
    return path.join(p.dir, `${p.name}.${String(this.index++).padStart(4, '0')}${p.ext}`);
  }

  private open(): void {
    const file = this.nextPath();
    const s = fs.createWriteStream(file, { flags: 'w' });
    s.on('error', (err) => {
      this.owner.stats.fileErrors++;
      this.usable = false;
      if (this.stream === s) this.stream = null;
      this.owner.emit('fileError', err);
    });
    this.stream = s;
    this.paths.push(file);
    this.owner.stats.filesOpened++;
    this.openedAt = performance.now();
    this.bytesInFile = 0;
    for (const b of this.owner.preamble()) {
      s.write(b);
      this.bytesInFile += b.length;
      this.owner.stats.fileBytes += b.length;
    }
    this.preambleBytes = this.bytesInFile;
    this.owner.emit('file', file);
  }
}

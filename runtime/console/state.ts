// The console's state: one strip per mixer track, the mix parameters per user and the masters per room, a QoS light
// per user from the admin aggregator, names and profiles from the connections' HELLOs, and the last meter layout and
// frame. Fed by the mixer's 'tracks', 'mixParameters' and 'meters' messages, the aggregator's mixeradminSharedState
// and the transports' connection events; it says what changed as events
// ('strip', 'gone', 'params', 'layout') which the server turns into websocket messages. The mixer is the truth:
// nothing here changes because a page asked, only because the mixer said so.
import { EventEmitter } from 'node:events';
import { streamKey } from '../audio/stream-key';
import { DEFAULT_ROOM, roomOf } from '../rooms';
import { decodeMeterFrame } from './meter-frame';
import type { MeterLayout } from './meter-frame';
import { gainToDb, dbOrNull } from './control';

export type { MeterLayout };
export type QosLight = 'good' | 'fair' | 'poor' | 'unknown';

/** One strip (a mixer track) as GET /state and the websocket give it. Levels in dBFS, null = −∞. */
export interface Strip {
  key: string;
  userId: string;
  trackId: number;
  connectionId: string;
  name: string;
  profile: Record<string, unknown> | null;
  room: string;
  gainDb: number | null;
  pan: number;
  mute: boolean;
  level: number | null;
  peak: number | null;
  qos: QosLight;
  connected: boolean;
}

export interface MasterStrip { room: string; gainDb: number | null; level: number | null; peak: number | null }

export interface ConsoleSnapshot { tracks: Strip[]; masters: MasterStrip[] }

/** The changed parameters, as the websocket's `params` message carries them. */
export interface ParamsChange {
  users: Record<string, { gainDb: number | null; pan: number; mute: boolean }>;
  masters: Record<string, number | null>;
}

/** The mixer's track state fields read here (runtime/audio/mixer.ts TrackState). */
interface TrackIn { userId?: unknown; trackId?: unknown; connectionId?: unknown; room?: unknown; connected?: unknown; removedReason?: unknown }
/** The mixer's MixParameters (runtime/audio/mixer.ts), `rooms` the non-main rooms' masters. */
interface ParamsIn { master?: unknown; rooms?: unknown; tracks?: unknown }

interface TrackRec { userId: string; trackId: number; connectionId: string; room: string; connected: boolean }
interface UserParams { gain: number; pan: number; mute: boolean }
interface Person { name: string | null; profile: Record<string, unknown> | null; qos: QosLight }
interface Counters { at: number; received: number; lost: number; late: number }
interface Hello { userId: string; name: string | null; profile: Record<string, unknown> | null }
interface Shown { name: string; profileJson: string; room: string; qos: QosLight; connected: boolean }

/** QoS is judged over the counters of about this long (the aggregator's snapshots kept that far back). */
export const QOS_WINDOW_MS = 5000;
/** The light's thresholds (fractions of the packets due in the window): poor above POOR, fair above FAIR. */
export const QOS_POOR = 0.05;
export const QOS_FAIR = 0.01;
const MAX_NAME_CHARS = 64;
/** Open connections whose HELLO is remembered (a lost close event cannot grow the map: the oldest go first). */
const MAX_CONNECTIONS = 4096;
const DEFAULT_PARAMS: UserParams = { gain: 1, pan: 0, mute: false };

/**
 * The light for one user from its aggregator entry and the counters before: poor when not connected (no open
 * connection, or its audio stopped) or loss > 5 % or late > 5 % over the window; fair above 1 %; good otherwise;
 * unknown with no entry.
 */
export function qosLight(entry: Record<string, unknown> | undefined, base: Counters | undefined, now: Counters | undefined): QosLight {
  if (!entry || !now) return 'unknown';
  if (entry.connected === false || entry.isIncomingAudioTrackConnected === false) return 'poor';
  const from = base ?? { at: 0, received: 0, lost: 0, late: 0 };
  const received = now.received - from.received;
  const lost = now.lost - from.lost;
  const late = now.late - from.late;
  const due = received + lost;
  if (!(due > 0)) return 'good';
  const worst = Math.max(lost / due, late / due);
  return worst > QOS_POOR ? 'poor' : worst > QOS_FAIR ? 'fair' : 'good';
}

const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

export class ConsoleState extends EventEmitter {
  private readonly tracks = new Map<string, TrackRec>();
  private readonly params = new Map<string, UserParams>();
  /** The 'main' room's master and the rooms' own (MixParameters.master, .rooms), linear. */
  private mainMaster = 1;
  private readonly roomGains = new Map<string, number>();
  private readonly people = new Map<string, Person>();
  /** connectionId → the name and profile its HELLO gave (socket reader output 3, webrtc output 2). */
  private readonly hellos = new Map<string, Hello>();
  private readonly history = new Map<string, Counters[]>();
  private layoutNow: MeterLayout | null = null;
  private layoutIndex = new Map<string, number>();
  private roomIndex = new Map<string, number>();
  private frame: Buffer | null = null;
  private decoded: { peak: number; level: number }[] | null = null;
  private decodedRooms: { peak: number; level: number }[] | null = null;
  /** The fields of the last strip sent per key whose change is a 'strip' event (the profile as its JSON). */
  private readonly shown = new Map<string, Shown>();
  /**
   * onTracks' scratch, reused (the message comes ten times a second with every track): the track states kept by key,
   * and the key of each position as the last message had it — the mixer lists its tracks in the same order each time,
   * so a position with the same userId, trackId and connectionId has its key without building it again.
   */
  private readonly live = new Map<string, TrackIn>();
  private readonly keyUser: string[] = [];
  private readonly keyTrack: number[] = [];
  private readonly keyConn: string[] = [];
  private readonly keyAt: string[] = [];

  /** How many strips there are. */
  get size(): number {
    return this.tracks.size;
  }

  /** The mixer's 'tracks' message: new tracks appear, changed ones are told, those no longer listed are gone. */
  onTracks(states: unknown): void {
    if (!Array.isArray(states)) return;
    const live = this.live;
    live.clear();
    const ku = this.keyUser, kt = this.keyTrack, kc = this.keyConn, ka = this.keyAt;
    for (let i = 0; i < states.length; i++) {
      const s = states[i] as TrackIn;
      if (!s || typeof s !== 'object' || typeof s.userId !== 'string' || typeof s.trackId !== 'number') continue;
      // A track that left is listed once more with its final counters (and removedReason, where the mixer says it).
      if (s.removedReason !== undefined && s.removedReason !== null) continue;
      const connectionId = typeof s.connectionId === 'string' ? s.connectionId : '';
      let key: string;
      if (i < ka.length && ku[i] === s.userId && kt[i] === s.trackId && kc[i] === connectionId) key = ka[i];
      else {
        key = streamKey({ userId: s.userId, trackId: s.trackId, connectionId });
        if (i <= ka.length) { ku[i] = s.userId; kt[i] = s.trackId; kc[i] = connectionId; ka[i] = key; }
      }
      if (live.has(key) && s.connected === false) continue;
      live.set(key, s);
    }
    if (ka.length > states.length) { ku.length = kt.length = kc.length = ka.length = states.length; }
    // A track listed only as removed (connected false and then absent) goes with the next message; one with a
    // removedReason at once.
    let gone: string[] | null = null;
    for (const key of this.tracks.keys()) if (!live.has(key)) (gone ??= []).push(key);
    if (gone !== null) {
      for (const key of gone) {
        this.tracks.delete(key);
        this.shown.delete(key);
        this.emit('gone', key);
      }
    }
    for (const [key, s] of live) {
      const room = roomOf(s.room), connected = s.connected !== false;
      const t = this.tracks.get(key);
      // The record is the strip's own (strip() reads it when asked): changed in place, never shared. Its userId,
      // trackId and connectionId are the key's (the strings it was made with: the later lookups by them hash no
      // fresh string).
      if (t === undefined) {
        const connectionId = typeof s.connectionId === 'string' ? s.connectionId : '';
        this.tracks.set(key, { userId: s.userId as string, trackId: s.trackId as number, connectionId, room, connected });
      } else { t.room = room; t.connected = connected; }
      this.tell(key);
    }
    live.clear();
  }

  /** The mixer's 'mixParameters': the changed users and masters are told. */
  onParams(p: unknown): void {
    if (!p || typeof p !== 'object') return;
    const q = p as ParamsIn;
    const change: ParamsChange = { users: {}, masters: {} };
    let any = false;
    if (Array.isArray(q.tracks)) {
      const seen = new Set<string>();
      for (const t of q.tracks as Array<Record<string, unknown>>) {
        if (!t || typeof t.userId !== 'string' || seen.has(t.userId)) continue;
        seen.add(t.userId);
        const v: UserParams = { gain: n(t.gain), pan: n(t.pan), mute: t.muted === true };
        const was = this.params.get(t.userId);
        if (was && was.gain === v.gain && was.pan === v.pan && was.mute === v.mute) continue;
        this.params.set(t.userId, v);
        change.users[t.userId] = { gainDb: gainToDb(v.gain), pan: v.pan, mute: v.mute };
        any = true;
      }
      // Users with no track any more are forgotten (the mixer keeps their settings; a new track brings them back).
      for (const u of [...this.params.keys()]) if (!seen.has(u)) this.params.delete(u);
    }
    // A room whose master was never set follows the 'main' room's (runtime/audio/mixer.ts roomMaster).
    const before = new Map(this.knownRooms().map((r) => [r, this.roomMaster(r)]));
    if (typeof q.master === 'number' && Number.isFinite(q.master)) this.mainMaster = q.master;
    if (q.rooms && typeof q.rooms === 'object' && !Array.isArray(q.rooms)) {
      for (const [room, g] of Object.entries(q.rooms as Record<string, unknown>)) {
        if (room !== DEFAULT_ROOM && roomOf(room) === room && typeof g === 'number' && Number.isFinite(g)) this.roomGains.set(room, g);
      }
    }
    for (const room of this.knownRooms()) {
      const g = this.roomMaster(room);
      if (before.get(room) === g) continue;
      change.masters[room] = gainToDb(g);
      any = true;
    }
    if (any) this.emit('params', change);
  }

  /** The aggregator's mixeradminSharedState: names, profiles and QoS lights per user. */
  onShared(state: unknown): void {
    const conns = (state as { connections?: unknown } | null)?.connections;
    if (!conns || typeof conns !== 'object') return;
    const at = n((state as { at?: unknown }).at) || Date.now();
    const users = new Set<string>();
    for (const [userId, e] of Object.entries(conns as Record<string, Record<string, unknown>>)) {
      if (!e || typeof e !== 'object') continue;
      users.add(userId);
      const now: Counters = { at, received: n(e.packetsReceived), lost: n(e.packetsLost), late: n(e.packetsLate) };
      let h = this.history.get(userId);
      if (!h) this.history.set(userId, (h = []));
      const last = h[h.length - 1];
      // Counters only grow; a smaller one is a new record of the user (the aggregator forgot it): start again.
      if (last && (now.received < last.received || now.lost < last.lost || now.late < last.late)) h.length = 0;
      h.push(now);
      // Keep the newest sample at least QOS_WINDOW_MS old (the base) and everything after it.
      while (h.length > 2 && h[1].at <= at - QOS_WINDOW_MS) h.shift();
      const base = h.length > 1 ? h[0] : undefined;
      const profile = e.profile && typeof e.profile === 'object' && !Array.isArray(e.profile) ? e.profile as Record<string, unknown> : null;
      const named = typeof e.name === 'string' ? e.name : typeof profile?.name === 'string' ? profile.name as string : null;
      const p: Person = { name: named === null ? null : [...named].slice(0, MAX_NAME_CHARS).join(''), profile, qos: qosLight(e, base, now) };
      this.people.set(userId, p);
    }
    for (const u of [...this.people.keys()]) {
      if (!users.has(u)) { this.people.delete(u); this.history.delete(u); }
    }
    for (const key of this.tracks.keys()) this.tell(key);
  }

  /**
   * A connection event (the socket reader's output 3, the webrtc node's output 2): the name and profile of its HELLO
   * name the strips of that connection (the aggregator's state carries neither).
   */
  onConnection(ev: unknown, msgUserId?: unknown): void {
    if (!ev || typeof ev !== 'object') return;
    const e = ev as { event?: unknown; connectionId?: unknown; userId?: unknown; hello?: unknown };
    const id = typeof e.connectionId === 'string' || typeof e.connectionId === 'number' ? String(e.connectionId) : '';
    if (id === '') return;
    if (e.event === 'close') {
      if (this.hellos.delete(id)) this.tellUser(null, id);
      return;
    }
    if (e.event !== 'open' && e.event !== 'hello') return;
    const h = e.hello && typeof e.hello === 'object' ? e.hello as { userId?: unknown; name?: unknown; profile?: unknown } : {};
    const userId = typeof e.userId === 'string' ? e.userId : typeof h.userId === 'string' ? h.userId : typeof msgUserId === 'string' ? msgUserId : '';
    if (userId === '') return;
    const profile = h.profile && typeof h.profile === 'object' && !Array.isArray(h.profile) ? h.profile as Record<string, unknown> : null;
    const named = typeof h.name === 'string' && h.name !== '' ? h.name : typeof profile?.name === 'string' ? profile.name as string : null;
    this.hellos.delete(id);
    if (this.hellos.size >= MAX_CONNECTIONS) this.hellos.delete(this.hellos.keys().next().value as string);
    this.hellos.set(id, { userId, name: named === null ? null : [...named].slice(0, MAX_NAME_CHARS).join(''), profile });
    this.tellUser(userId, id);
  }

  private tellUser(userId: string | null, connectionId: string): void {
    for (const [key, t] of this.tracks) if (t.connectionId === connectionId || t.userId === userId) this.tell(key);
  }

  /**
   * A meter frame from the mixer and its layout. True when the layout is new (the server sends it before the frame).
   * The frame is kept as it came (never changed: it is also what every page is sent).
   */
  onMeters(frame: Buffer, layout: MeterLayout): boolean {
    this.frame = frame;
    this.decoded = null;
    this.decodedRooms = null;
    if (this.layoutNow !== null && this.layoutNow.layoutId === layout.layoutId) return false;
    this.layoutNow = layout;
    this.layoutIndex = new Map(layout.tracks.map((t, i) => [t.key, i]));
    this.roomIndex = new Map(layout.rooms.map((r, i) => [r, i]));
    return true;
  }

  get layout(): MeterLayout | null {
    return this.layoutNow;
  }

  /** The last meter frame, as the mixer made it. */
  get lastFrame(): Buffer | null {
    return this.frame;
  }

  /** Every strip, in the order the tracks appeared. */
  strips(): Strip[] {
    return [...this.tracks.keys()].map((k) => this.strip(k)!);
  }

  /** One master per room: 'main' first, then every room with a track, a master set or a meter. */
  masters(): MasterStrip[] {
    return this.knownRooms().map((room) => {
      const m = this.roomMeter(room);
      return { room, gainDb: gainToDb(this.roomMaster(room)), level: m.level, peak: m.peak };
    });
  }

  /** The master gain a room is mixed with: its own, else the 'main' room's. */
  roomMaster(room: string): number {
    return room === DEFAULT_ROOM ? this.mainMaster : this.roomGains.get(room) ?? this.mainMaster;
  }

  private knownRooms(): string[] {
    const rooms = new Set<string>([DEFAULT_ROOM]);
    for (const t of this.tracks.values()) rooms.add(t.room);
    for (const r of this.roomGains.keys()) rooms.add(r);
    for (const r of this.layoutNow?.rooms ?? []) rooms.add(r);
    return [...rooms];
  }

  snapshot(): ConsoleSnapshot {
    return { tracks: this.strips(), masters: this.masters() };
  }

  /** Users with a strip (a control for one with none is still passed on: the mixer keeps it for its next track). */
  hasTrack(key: string): boolean {
    return this.tracks.has(key);
  }

  strip(key: string): Strip | undefined {
    const t = this.tracks.get(key);
    if (!t) return undefined;
    const p = this.params.get(t.userId) ?? DEFAULT_PARAMS;
    const who = this.people.get(t.userId);
    const mine = this.helloOf(t);
    const m = this.trackMeter(key);
    return {
      key, userId: t.userId, trackId: t.trackId, connectionId: t.connectionId,
      name: mine?.name ?? who?.name ?? t.userId, profile: mine?.profile ?? who?.profile ?? null, room: t.room,
      gainDb: gainToDb(p.gain), pan: p.pan, mute: p.mute, level: m.level, peak: m.peak,
      qos: who?.qos ?? 'unknown', connected: t.connected,
    };
  }

  /** The HELLO of the track's own connection (it names the strip before the aggregator's entry does). */
  private helloOf(t: TrackRec): Hello | undefined {
    const hello = this.hellos.get(t.connectionId);
    return hello && hello.userId === t.userId ? hello : undefined;
  }

  /**
   * A 'strip' event when the strip is new or its name, profile, room, QoS light or connected changed. Compared field
   * by field (the profile by its JSON): the strip itself is made only when it is told,
   * not for every track of every 'tracks' message and aggregator state.
   */
  private tell(key: string): void {
    const t = this.tracks.get(key);
    if (!t) return;
    const who = this.people.get(t.userId);
    const mine = this.helloOf(t);
    const name = mine?.name ?? who?.name ?? t.userId;
    const profile = mine?.profile ?? who?.profile ?? null;
    const qos = who?.qos ?? 'unknown';
    // By its JSON even when it is the same object (one changed in place is a change, as the whole signature was).
    const profileJson = profile === null ? 'null' : JSON.stringify(profile);
    const was = this.shown.get(key);
    if (was !== undefined && was.name === name && was.room === t.room && was.qos === qos && was.connected === t.connected && was.profileJson === profileJson) return;
    this.shown.set(key, { name, profileJson, room: t.room, qos, connected: t.connected });
    this.emit('strip', this.strip(key));
  }

  private decode(): void {
    if (this.decoded !== null || this.frame === null || this.layoutNow === null) return;
    try {
      const f = decodeMeterFrame(this.frame);
      if (f.layoutId !== this.layoutNow.layoutId) return;
      this.decoded = f.tracks;
      this.decodedRooms = f.rooms;
    } catch {
      this.frame = null;
    }
  }

  private trackMeter(key: string): { level: number | null; peak: number | null } {
    this.decode();
    const i = this.layoutIndex.get(key);
    const v = i === undefined ? undefined : this.decoded?.[i];
    return v ? { level: dbOrNull(v.level), peak: dbOrNull(v.peak) } : { level: null, peak: null };
  }

  private roomMeter(room: string): { level: number | null; peak: number | null } {
    this.decode();
    const i = this.roomIndex.get(room);
    const v = i === undefined ? undefined : this.decodedRooms?.[i];
    return v ? { level: dbOrNull(v.level), peak: dbOrNull(v.peak) } : { level: null, peak: null };
  }
}

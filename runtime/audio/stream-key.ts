// The one key for a stream of audio messages in a flow: connection, sender, track, room and (for a mix-minus stream) its receiver.
import { DEFAULT_ROOM } from '../rooms';

/** What tells one stream of flow audio messages from another (msg.userId, msg.audio.trackId, msg.targetUserId, msg.connectionId). */
export interface StreamIdentity {
  /** The sender (msg.userId); the mixer's mix-minus streams all say 'xcast'. */
  userId?: string;
  trackId?: number;
  /** The one receiver a routed (mix-minus) stream is for; absent or '' for a stream to everyone. */
  targetUserId?: string;
  /**
   * The transport connection the stream came on (msg.connectionId, set by the socket reader); absent or '' for a
   * stream made in the flow. Two connections never share a stream, whatever userId they claim: a second connection
   * under a peer's userId and trackId (a reconnect that overlaps the old one, an impostor where no token is asked)
   * gets a playout buffer, a decoder and an event-stream channel of its own and cannot touch the first one's.
   */
  connectionId?: string;
  /**
   * The stream's room (msg.room, runtime/rooms.ts); absent, '' or 'main' are the DEFAULT_ROOM. The mixer's room mixes
   * all say userId 'xcast' and trackId 1: the room keeps them apart (one Opus encoder per room).
   */
  room?: string;
}

/**
 * The key a per-stream map (decoder, encoder, resampler, playout buffer, mixer track, event-stream channel) is keyed
 * by. Mix-minus streams share userId 'xcast' and differ only by receiver, so the receiver is part of the key; streams
 * of different connections differ by connection. Every string part but the last is length-prefixed, so that no
 * userId, receiver or connection id — all any string a peer or a flow chose — can make two streams collide.
 */
export function streamKey(s: StreamIdentity): string {
  const userId = s.userId ?? '';
  let key = `${userId.length}:${userId}/${s.trackId}`;
  if (s.targetUserId) key += `>${s.targetUserId.length}:${s.targetUserId}`;
  if (s.room && s.room !== DEFAULT_ROOM) key += `~${s.room.length}:${s.room}`;
  if (s.connectionId) key += `@${s.connectionId}`;
  return key;
}

/**
 * The stream as an operator reads it in a warning: `"alice"/1`, `"xcast"/1 → "bob"` for a mix-minus stream,
 * `… on c-12` with its connection. Each wire-supplied part goes through `text` (JSON-quoted, control characters
 * escaped, cut at 80 characters), so a userId cannot break or forge a log line.
 */
export function streamLabel(s: StreamIdentity): string {
  let label = `${text(s.userId ?? '')}/${s.trackId}`;
  if (s.targetUserId) label += ` → ${text(s.targetUserId)}`;
  if (s.room && s.room !== DEFAULT_ROOM) label += ` in room ${text(s.room)}`;
  if (s.connectionId) label += ` on ${text(s.connectionId)}`;
  return label;
}

// A minimal stand-in for runtime/log-text.ts's wireText (the transport branch's), with the same output for strings:
// JSON-quoted, U+2028/2029, DEL and C1 controls escaped too, cut at `max` characters with "…(N bytes)".
// eslint-disable-next-line no-control-regex
const LINE_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
function text(v: string, max = 80): string {
  const cut = v.length > max ? v.slice(0, (v.charCodeAt(max - 1) & 0xfc00) === 0xd800 ? max - 1 : max) : v;
  const q = JSON.stringify(cut).replace(LINE_UNSAFE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return cut === v ? q : `${q}…(${Buffer.byteLength(v, 'utf8')} bytes)`;
}

/**
 * streamKey() without a string per packet: the key of each stream is made once and found again through maps by
 * connection, sender, receiver and track. Bounded: past `maxStreams` keys it starts afresh (the keys are the same
 * strings again, only made once more).
 */
export class StreamKeys {
  private readonly byConn = new Map<string, Map<string, Map<string, Map<string, Map<number | undefined, string>>>>>();
  private count = 0;
  constructor(private readonly maxStreams = 4096) {}

  key(userId: string | undefined, trackId: number | undefined, targetUserId?: string, connectionId?: string, room?: string): string {
    const c = connectionId ?? '';
    const u = userId ?? '';
    const r = targetUserId ?? '';
    const m = room === undefined || room === DEFAULT_ROOM ? '' : room;
    let byRoom = this.byConn.get(c);
    if (byRoom === undefined) this.byConn.set(c, (byRoom = new Map()));
    let byUser = byRoom.get(m);
    if (byUser === undefined) byRoom.set(m, (byUser = new Map()));
    let byTarget = byUser.get(u);
    if (byTarget === undefined) byUser.set(u, (byTarget = new Map()));
    let byTrack = byTarget.get(r);
    if (byTrack === undefined) byTarget.set(r, (byTrack = new Map()));
    let k = byTrack.get(trackId);
    if (k === undefined) {
      if (this.count >= this.maxStreams) {
        this.clear();
        return this.key(userId, trackId, targetUserId, connectionId, room);
      }
      k = streamKey({ userId: u, trackId, targetUserId: r, connectionId: c, room: m });
      byTrack.set(trackId, k);
      this.count++;
    }
    return k;
  }

  clear(): void {
    this.byConn.clear();
    this.count = 0;
  }
}

/**
 * What a node says once per stream and counts after: a refused packet (a rate the node cannot play, a codec it does
 * not take) is told once per stream and reason — with the stream's label — and every one of them is counted, so a
 * stream of 200 frames at the wrong rate is one warning and a count of 200, not 200 log lines.
 * Bounded: past `maxStreams` streams the oldest are forgotten (told again if they come back). And the telling is
 * bounded across streams too: at most `maxToldPerMinute` in any minute (default 10), the rest counted only — a sender
 * that can open streams cheaply (a UDP session per HELLO, an RTP source per SSRC) cannot grow the log with them.
 */
export class OncePerStream {
  private readonly seen = new Map<string, { count: number; reasons: Set<string> }>();
  /** Packets refused, over every stream. */
  total = 0;
  /** First refusals not told because the minute's telling was spent (still counted). */
  untold = 0;
  /** When the last `maxToldPerMinute` tellings were (ms, a ring). */
  private readonly toldAt: Float64Array;
  private toldNext = 0;
  constructor(private readonly maxStreams = 4096, maxToldPerMinute = 10, private readonly now: () => number = Date.now) {
    this.toldAt = new Float64Array(Math.max(1, maxToldPerMinute)).fill(-Infinity);
  }

  /**
   * Counts one refusal of stream `key` for `reason`; true when it is the first of that reason for that stream and the
   * minute's telling is not spent (say it).
   */
  refuse(key: string, reason: string): boolean {
    this.total++;
    let s = this.seen.get(key);
    if (s === undefined) {
      if (this.seen.size >= this.maxStreams) this.seen.delete(this.seen.keys().next().value as string);
      this.seen.set(key, (s = { count: 0, reasons: new Set() }));
    }
    s.count++;
    if (s.reasons.has(reason)) return false;
    if (s.reasons.size < 16) s.reasons.add(reason);
    // The oldest of the last maxToldPerMinute tellings: within a minute, the minute's telling is spent.
    const t = this.now();
    if (t - this.toldAt[this.toldNext] < 60_000) { this.untold++; return false; }
    this.toldAt[this.toldNext] = t;
    this.toldNext = (this.toldNext + 1) % this.toldAt.length;
    return true;
  }

  /** Packets of stream `key` refused so far. */
  count(key: string): number {
    return this.seen.get(key)?.count ?? 0;
  }

  clear(): void {
    this.seen.clear();
    this.total = 0;
    this.untold = 0;
    this.toldAt.fill(-Infinity);
  }
}

// Rooms: each room is its own mix. A stream (an audio message, a streamproto1 connection, a WebRTC peer) belongs to
// one room; a stream that names none, or names one that is not a room name, is in DEFAULT_ROOM.

/** The room of everything that names none: the mixer's output 1 is its mix, exactly as before rooms. */
export const DEFAULT_ROOM = 'main';

/** A room name: 1 to 64 of A–Z, a–z, 0–9, '_' and '-' (safe in a URL path, a log line and a file name). */
export const ROOM_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function isRoomName(v: unknown): v is string {
  return typeof v === 'string' && ROOM_PATTERN.test(v);
}

/** `v` when it is a room name, else DEFAULT_ROOM (absent, empty, a number, a name with a space …). */
export function roomOf(v: unknown): string {
  return isRoomName(v) ? v : DEFAULT_ROOM;
}

/**
 * A streamproto1 peer's room from its HELLO: `room`, else `profile.room` (the WebRTC node's connection events carry
 * it in the profile), through roomOf(). The socket reader tags the peer's audio with it; the socket writer sends a
 * room's frames only to receivers whose HELLO names that room.
 */
export function helloRoom(hello: unknown): string {
  if (hello === null || typeof hello !== 'object') return DEFAULT_ROOM;
  const h = hello as { room?: unknown; profile?: unknown };
  const profile = h.profile !== null && typeof h.profile === 'object' ? (h.profile as { room?: unknown }) : undefined;
  return roomOf(h.room ?? profile?.room);
}

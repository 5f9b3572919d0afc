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

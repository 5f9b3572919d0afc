// The one key for a stream of audio messages in a flow: sender, track and (for a mix-minus stream) its receiver.

/** What tells one stream of flow audio messages from another (msg.userId, msg.audio.trackId, msg.targetUserId). */
export interface StreamIdentity {
  /** The sender (msg.userId); the mixer's mix-minus streams all say 'xcast'. */
  userId?: string;
  trackId?: number;
  /** The one receiver a routed (mix-minus) stream is for; absent or '' for a stream to everyone. */
  targetUserId?: string;
}

/**
 * The key a per-stream map (decoder, encoder, resampler, playout buffer, mixer track) is keyed by. Mix-minus
 * streams share userId 'xcast' and differ only by receiver, so the receiver is part of the key. The userId's length
 * goes first so that no userId or receiver — both any string a peer's HELLO chose — can make two streams collide.
 */
export function streamKey(s: StreamIdentity): string {
  const userId = s.userId ?? '';
  const base = `${userId.length}:${userId}/${s.trackId}`;
  return s.targetUserId ? `${base}>${s.targetUserId}` : base;
}

/** The stream as an operator reads it in a warning: `alice/1`, or `xcast/1 → bob` for a mix-minus stream. */
export function streamLabel(s: StreamIdentity): string {
  const base = `${s.userId ?? ''}/${s.trackId}`;
  return s.targetUserId ? `${base} → ${s.targetUserId}` : base;
}

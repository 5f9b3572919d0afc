// Which remote address each connection has: from the connection events of the socket reader and the webrtc node
// (`{ event: 'open' | 'close' | 'error', connectionId, remote }`), so a stream event's line shows its sender.
//
// A connection's address is kept past its close (the mixer's 'closed' event for its tracks comes after the close),
// among the last `keepClosed` closed ones; the open ones are bounded by `maxOpen` (the oldest forgotten past it).
export class ConnectionAddresses {
  private readonly open = new Map<string, string>();
  private readonly closed = new Map<string, string>();

  constructor(private readonly maxOpen = 65536, private readonly keepClosed = 4096) {}

  /** Takes one connection event's payload; anything that is not one is ignored. */
  onConnectionEvent(p: unknown): void {
    if (p === null || typeof p !== 'object') return;
    const e = p as { event?: unknown; connectionId?: unknown; remote?: unknown };
    if (typeof e.connectionId !== 'string' || e.connectionId === '') return;
    const id = e.connectionId;
    const remote = typeof e.remote === 'string' && e.remote !== '' ? e.remote : undefined;
    if (e.event === 'close') {
      const a = remote ?? this.open.get(id);
      this.open.delete(id);
      if (a === undefined) return;
      this.closed.delete(id);
      this.closed.set(id, a);
      if (this.closed.size > this.keepClosed) this.closed.delete(this.closed.keys().next().value as string);
      return;
    }
    if (remote === undefined) return;
    if (!this.open.has(id) && this.open.size >= this.maxOpen) this.open.delete(this.open.keys().next().value as string);
    this.open.set(id, remote);
    this.closed.delete(id);
  }

  /** The connection's address; else its id; '-' for a stream with no connection (made in the flow). */
  addressOf(connectionId: string): string {
    if (connectionId === '') return '-';
    return this.open.get(connectionId) ?? this.closed.get(connectionId) ?? connectionId;
  }

  get size(): number {
    return this.open.size + this.closed.size;
  }
}

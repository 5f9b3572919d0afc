// Server-side limits of a StreamServer (what one peer or one address may use) and the process-wide counters of limits hit.

export interface ServerLimits {
  /** All connections, handshaking included (default 1024). Over it, a new socket is destroyed at accept. */
  maxConnections: number;
  /** Open (post-HELLO) connections per remote IP (default 64). Over it, the HELLO is answered with ERROR too_many_connections. */
  maxConnectionsPerAddress: number;
  /** Pre-HELLO connections (TLS handshake included); when full the OLDEST pending one is dropped (default 128). */
  maxPendingHandshakes: number;
  /** Socket accepted -> HELLO accepted, TLS handshake included (default 5000). */
  helloTimeoutMs: number;
  /** One incoming METADATA payload (default 64 KiB) — larger: dropped + counted, the connection stays. */
  maxMetadataBytes: number;
  /** Incoming METADATA frames per connection (token bucket of this rate, burst twice it; default 20/s) — over: dropped + counted. */
  metadataPerSecond: number;
  /** Distinct AUDIO trackIds per connection (default 16) — frames of more tracks: dropped + counted. */
  maxTracksPerConnection: number;
  /** Failed HELLOs per remote IP within AUTH_FAILURE_WINDOW_MS (default 5) — then its HELLOs are answered late. */
  authFailuresBeforeSlowdown: number;
}

export const DEFAULT_SERVER_LIMITS: Readonly<ServerLimits> = Object.freeze({
  maxConnections: 1024,
  maxConnectionsPerAddress: 64,
  maxPendingHandshakes: 128,
  helloTimeoutMs: 5000,
  maxMetadataBytes: 64 * 1024,
  metadataPerSecond: 20,
  maxTracksPerConnection: 16,
  authFailuresBeforeSlowdown: 5,
});

/** The window in which failed HELLOs from one IP are counted towards the slow-down. */
export const AUTH_FAILURE_WINDOW_MS = 60_000;
/** First and largest delay of a slowed-down IP's HELLO (doubling per further failure). */
export const AUTH_SLOWDOWN_MIN_MS = 250;
export const AUTH_SLOWDOWN_MAX_MS = 8000;
/** How many remote IPs the slow-down remembers (least recently seen forgotten first). */
export const AUTH_SLOWDOWN_TABLE_SIZE = 4096;

/** Which fields may be 0 (= no limit / never). helloTimeoutMs 0 turns the timeout off, like before. */
const LIMIT_FIELDS: Record<keyof ServerLimits, { min: number; max: number; integer: boolean }> = {
  maxConnections: { min: 1, max: 1_000_000, integer: true },
  maxConnectionsPerAddress: { min: 1, max: 1_000_000, integer: true },
  maxPendingHandshakes: { min: 1, max: 1_000_000, integer: true },
  helloTimeoutMs: { min: 0, max: 600_000, integer: true },
  maxMetadataBytes: { min: 2, max: 1 << 30, integer: true },
  metadataPerSecond: { min: 0.01, max: 1_000_000, integer: false },
  maxTracksPerConnection: { min: 1, max: 65_536, integer: true },
  authFailuresBeforeSlowdown: { min: 1, max: 1_000_000, integer: true },
};

/**
 * Fills in DEFAULT_SERVER_LIMITS for what `partial` leaves out (undefined, or an object of some fields); throws an Error
 * naming the field ('limits.maxConnections: must be an integer 1 … 1000000, got -1') for a bad value or an unknown field.
 */
export function checkServerLimits(partial: unknown): ServerLimits {
  const out: ServerLimits = { ...DEFAULT_SERVER_LIMITS };
  if (partial === undefined || partial === null) return out;
  if (typeof partial !== 'object' || Array.isArray(partial)) throw new Error(`limits: must be an object, got ${Array.isArray(partial) ? 'an array' : typeof partial}`);
  for (const [key, value] of Object.entries(partial as Record<string, unknown>)) {
    const spec = (LIMIT_FIELDS as Record<string, { min: number; max: number; integer: boolean } | undefined>)[key];
    if (!spec) throw new Error(`limits.${key}: not a limit (known: ${Object.keys(LIMIT_FIELDS).join(', ')})`);
    if (value === undefined) continue;
    const ok = typeof value === 'number' && Number.isFinite(value) && value >= spec.min && value <= spec.max && (!spec.integer || Number.isInteger(value));
    if (!ok) {
      const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : typeof value === 'number' ? String(value) : typeof value;
      throw new Error(`limits.${key}: must be ${spec.integer ? 'an integer' : 'a number'} ${spec.min} … ${spec.max}, got ${shown}`);
    }
    (out as unknown as Record<string, number>)[key] = value as number;
  }
  return out;
}

/** The names counted (stable: used as Prometheus label values). */
export const TRANSPORT_STAT_NAMES = [
  'connections', 'connections_per_address', 'pending_handshakes', 'hello_timeout', 'metadata_size', 'metadata_rate',
  'tracks_per_connection', 'unauthorized', 'auth_slowdown', 'bad_hello', 'user_in_use', 'tls_handshake',
] as const;
export type TransportStatName = typeof TRANSPORT_STAT_NAMES[number];

export interface TransportStats {
  count(name: string, n?: number): void;
  /** name -> total; every name of TRANSPORT_STAT_NAMES is present (0 until hit). */
  snapshot(): Record<string, number>;
}

/** A fresh set of counters (every StreamServer has one as `server.stats`; `transportStats` is the process's). */
export function createTransportStats(): TransportStats {
  const counts: Record<string, number> = {};
  for (const n of TRANSPORT_STAT_NAMES) counts[n] = 0;
  return {
    count(name: string, n = 1): void {
      counts[name] = (counts[name] ?? 0) + n;
    },
    snapshot(): Record<string, number> {
      return { ...counts };
    },
  };
}

/** Process-wide counters of limits hit and refusals, for /metrics: name -> total (all StreamServers together). */
export const transportStats: TransportStats = createTransportStats();

// The stream event log's line: seed 002's format, `[ms since the xcast started] [address of the sender] event`.
//
//   [12034] [127.0.0.1:51234] new stream "alice"/1
//   [12100] [127.0.0.1:51234] repeated packet seq 17 ("alice"/1)
//   [12110] [127.0.0.1:51234] out-of-order packet seq 39 ("alice"/1)
//   [12150] [127.0.0.1:51234] missing 3 packets from seq 40 ("alice"/1)
//   [12160] [127.0.0.1:51234] late packet seq 41 ("alice"/1), counted missing before
//   [15230] [127.0.0.1:51234] dropped stream "alice"/1 (nothing for 2000 ms)
//   [15400] [127.0.0.1:51234] closed stream "alice"/1 (its connection closed)
//
// "ms since the xcast started": since the process started (performance.timeOrigin), whole ms. The userId and room
// come off the wire: they go through wireText (runtime/log-text.ts: JSON-quoted, control characters escaped, cut
// at 80), so no userId can break a line or forge one. The address is the sender's as its connection event said
// (ip:port, [v6]:port), else the connectionId, else '-'; anything but a plain address goes through wireText too.
import { performance } from 'node:perf_hooks';
import { wireText } from '../log-text';
import { DEFAULT_ROOM } from '../rooms';
import type { StreamEvent } from './event';

/** The epoch ms at which the process started: "ms since the xcast started" counts from here. */
export const XCAST_STARTED_AT_MS = performance.timeOrigin;

/** Whole ms from the process's start to `atMs` (ms since the epoch); never below 0. */
export function msSinceStart(atMs: number, startedAtMs = XCAST_STARTED_AT_MS): number {
  return Math.max(0, Math.floor(atMs - startedAtMs));
}

const PLAIN_ADDRESS = /^[0-9A-Za-z.:[\]_-]{1,100}$/;

/** The address as it goes between the brackets: a plain ip:port as is, '-' for none, anything else through wireText. */
export function addressText(address: string | null | undefined): string {
  if (address === undefined || address === null || address === '') return '-';
  return PLAIN_ADDRESS.test(address) ? address : wireText(address, 60);
}

/** The stream as the log names it: `"alice"/1`, with ` in room "r"` outside the main room. */
export function streamText(e: Pick<StreamEvent, 'userId' | 'trackId' | 'room'>): string {
  const s = `${wireText(e.userId)}/${Number.isInteger(e.trackId) ? e.trackId : wireText(e.trackId, 20)}`;
  return e.room && e.room !== DEFAULT_ROOM ? `${s} in room ${wireText(e.room, 70)}` : s;
}

/** The event part of a line (after the address). */
export function eventText(e: StreamEvent): string {
  const s = streamText(e);
  switch (e.kind) {
    case 'new': return `new stream ${s}`;
    case 'repeated': return `repeated packet seq ${e.seq} (${s})`;
    case 'out-of-order': return `out-of-order packet seq ${e.seq} (${s})`;
    case 'missing': return `missing ${e.count} packet${e.count === 1 ? '' : 's'} from seq ${e.seq} (${s})`;
    case 'late': return `late packet seq ${e.seq} (${s})${e.filled ? ', counted missing before' : ''}`;
    case 'dropped': return `dropped stream ${s} (nothing for ${e.timeoutMs ?? '?'} ms)`;
    case 'closed': return `closed stream ${s} (its connection closed)`;
    default: return `${wireText(String((e as { kind: unknown }).kind), 20)} ${s}`;
  }
}

/** One log line (no newline). */
export function formatStreamEvent(e: StreamEvent, address: string | null | undefined, startedAtMs = XCAST_STARTED_AT_MS): string {
  return `[${msSinceStart(e.at, startedAtMs)}] [${addressText(address)}] ${eventText(e)}`;
}

/** The line said when a tick had more events than the mix thread sends (they were counted, not sent). */
export function formatLeftOut(leftOut: number, atMs: number, startedAtMs = XCAST_STARTED_AT_MS): string {
  return `[${msSinceStart(atMs, startedAtMs)}] [-] ${leftOut} stream event${leftOut === 1 ? '' : 's'} left out (more than the mix sends in one tick)`;
}

/** Parses a line back (tests, tools): ms, address and the event text; null if it is not one. */
export function parseStreamLogLine(line: string): { ms: number; address: string; text: string } | null {
  const m = /^\[(\d+)\] \[(.+?)\] (.+)$/.exec(line);
  return m ? { ms: Number(m[1]), address: m[2], text: m[3] } : null;
}

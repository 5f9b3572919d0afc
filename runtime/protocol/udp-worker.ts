// The UDP ingest's thread: owns the dgram socket and the UdpSessionTable, so no datagram costs the event loop anything.
//
// Per datagram (one JS callback each: Node 20's dgram has no recvmmsg): the session table checks it (one frame,
// HELLO and credentials, limits) and the worker sends the reply itself (HELLO-ack, PONG, ERROR). An AUDIO frame goes
// either straight into the mix thread's ring (a ring attached: checked as MixEngine.push checks it, a refused one
// told to its track by writeRefused) — the event loop never sees it — or, with no ring, into a batch: one
// ArrayBuffer of many records posted at most once a millisecond (or when full), which the UdpLink on the
// main side emits as 'audio'. Everything else (a session opened or ended, METADATA, QOS, PONG, ERROR, stats) is rare
// and posted as small messages with them. A flush is at the end of the turn, and at most one a millisecond.
//
// Outgoing frames come from the main side in batches (udp-server.ts, one message per event-loop turn) and are sent
// with a lookup that answers at once: an unconnected send with the default one does a dns.lookup even for an IP
// literal, whose answer comes back through process.nextTick — a callback and a tick per datagram.
import { parentPort, workerData } from 'node:worker_threads';
import dgram from 'node:dgram';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { UdpSessionTable, type UdpSession, type UdpCloseReason } from './udp-sessions';
import { UsersList } from './auth';
import { encodeErrorFrame, encodePing, codecName, type JsonObject } from './frame';
import { PacketRingWriter, type PacketRingShared } from '../audio/packet-ring';
import { checkPlayoutPacket, type PlayoutHeader } from '../audio/playout';
import { helloRoom, DEFAULT_ROOM } from '../rooms';
import { nowMicros, threadCpuMs } from '../clock';
import type { UdpWorkerInit, UdpWorkerIn, UdpWorkerOut, UdpSessionInfo, UdpWorkerEvent } from './udp-server';

const init = workerData as UdpWorkerInit;
const port = parentPort!;

/** An audio batch is posted when it holds this many records or bytes, whichever first (else at the end of the turn). */
const BATCH_RECORDS = 256;
const BATCH_BYTES = 256 * 1024;
/** Record: u32 session handle, u32 payload length, f64 arrival µs, then the AUDIO payload (24-byte header + data), 8-aligned. */
const RECORD_HEADER = 16;

const table = new UdpSessionTable({
  token: init.token,
  users: init.users ? UsersList.fromDigests(init.users) : undefined,
  limits: init.limits,
  maxFrameBytes: init.maxFrameBytes,
  idleTimeoutMs: init.idleTimeoutMs,
  serverName: init.serverName,
});

// ---- sessions by handle (a small integer the main side names them by) ----
let nextHandle = 1;
const handleOf = new Map<UdpSession, number>();
const byHandle = new Map<number, UdpSession>();
/** Per session, what the ring path needs: its room as the ring takes it ('' for the default room). */
const roomOf = new Map<UdpSession, string>();

// ---- events to the main side, posted once per turn ----
let events: UdpWorkerEvent[] = [];
let batch: Buffer | null = null;
let batchAt = 0;
let batchRecords = 0;
let flushQueued = false;
const counters = { batches: 0, eventMessages: 0, ringWritten: 0, ringRefused: 0, ringFull: 0, sent: 0, sendErrors: 0, audioPosted: 0 };

/** At most one flush per this many ms (plus one per full batch): at 20,000 datagrams a second, ~1,000 messages, not 20,000. */
const FLUSH_EVERY_MS = 1;
let lastFlushMs = 0;

function queueFlush(): void {
  if (flushQueued) return;
  flushQueued = true;
  // At the end of this turn when the last flush is a period ago (an idle link waits for nothing), else at the period.
  const wait = lastFlushMs + FLUSH_EVERY_MS - performance.now();
  if (wait <= 0) setImmediate(flush);
  else setTimeout(flush, wait);
}

function flush(): void {
  flushQueued = false;
  lastFlushMs = performance.now();
  if (batch !== null && batchRecords > 0) postBatch();
  if (events.length === 0) return;
  const e = events;
  events = [];
  counters.eventMessages++;
  post({ t: 'events', events: e });
}

function post(m: UdpWorkerOut, transfer?: ArrayBuffer[]): void {
  port.postMessage(m, transfer as never);
}

function event(e: UdpWorkerEvent): void {
  events.push(e);
  queueFlush();
}

function postBatch(): void {
  const b = batch as Buffer;
  // Events first: a session's 'open' must reach the main side before its first audio.
  if (events.length > 0) {
    const e = events;
    events = [];
    counters.eventMessages++;
    post({ t: 'events', events: e });
  }
  const ab = b.buffer.slice(b.byteOffset, b.byteOffset + batchAt) as ArrayBuffer;
  post({ t: 'audio', data: ab, records: batchRecords }, [ab]);
  counters.batches++;
  counters.audioPosted += batchRecords;
  batchAt = 0;
  batchRecords = 0;
}

/** Appends the AUDIO payload of `datagram` (from `from` on: past the 8-byte frame header), no view made. */
function batchAudio(handle: number, datagram: Buffer, from: number, arrival: number): void {
  const len = datagram.length - from;
  const need = (RECORD_HEADER + len + 7) & ~7;
  if (batch !== null && batchAt + need > batch.length) postBatch();
  if (batch === null || batchAt + need > batch.length) {
    batch = Buffer.allocUnsafeSlow(Math.max(BATCH_BYTES, need));
    batchAt = 0;
  }
  const b = batch;
  b.writeUInt32LE(handle, batchAt);
  b.writeUInt32LE(len, batchAt + 4);
  b.writeDoubleLE(arrival, batchAt + 8);
  datagram.copy(b, batchAt + RECORD_HEADER, from);
  batchAt += need;
  batchRecords++;
  if (batchRecords >= BATCH_RECORDS) postBatch();
  else queueFlush();
}

function info(s: UdpSession, handle: number): UdpSessionInfo {
  return { handle, id: s.id, address: s.address, port: s.port, remote: s.remote, hello: s.hello as unknown as JsonObject, authenticated: s.authenticated };
}

table.on('open', (s) => {
  const h = nextHandle++;
  handleOf.set(s, h);
  byHandle.set(h, s);
  const room = helloRoom(s.hello);
  roomOf.set(s, room === DEFAULT_ROOM ? '' : room);
  event({ t: 'open', session: info(s, h) });
});
table.on('close', (s, reason: UdpCloseReason) => {
  const h = handleOf.get(s);
  if (h === undefined) return;
  handleOf.delete(s);
  byHandle.delete(h);
  roomOf.delete(s);
  toldRefusals.delete(s);
  event({ t: 'close', handle: h, reason });
});

// ---- the ring into the mix thread ----
let ring: PacketRingWriter | null = null;
let ringRate = 0;
/** With a ring, batch the audio to the main side as well (the reader's other targets). */
let alsoAudio = false;
const ph: PlayoutHeader & { trackId: number } = { seq: 0, captureTime: 0, codec: 'opus', sampleRate: 0, channels: 0, frameSamples: 0, trackId: 0 };

/** Per session, the refusal reasons already told to the main side (one event per session and reason, not per packet). */
const toldRefusals = new Map<UdpSession, Set<string>>();

function toRing(s: UdpSession, payloadHeader: { trackId: number; seq: number; captureTime: number; sampleRate: number; channels: number; codec: number; frameSamples: number }, data: Buffer, arrival: number): void {
  const w = ring as PacketRingWriter;
  ph.seq = payloadHeader.seq; ph.captureTime = payloadHeader.captureTime; ph.codec = codecName(payloadHeader.codec);
  ph.sampleRate = payloadHeader.sampleRate; ph.channels = payloadHeader.channels; ph.frameSamples = payloadHeader.frameSamples;
  ph.trackId = payloadHeader.trackId;
  const room = roomOf.get(s) ?? '';
  try {
    checkPlayoutPacket(ph, data, ringRate);
  } catch (err) {
    // The track counts it (TrackState.refused), as the mixer node's push does for a TCP packet.
    const message = (err as Error).message;
    w.writeRefused(s.hello.userId, ph, message, arrival, s.id, room);
    counters.ringRefused++;
    const field = (err as { field?: string }).field ?? message;
    let told = toldRefusals.get(s);
    if (told === undefined) toldRefusals.set(s, (told = new Set()));
    const h = handleOf.get(s);
    if (!told.has(field) && told.size < 16 && h !== undefined) {
      told.add(field);
      event({ t: 'audio-refused', handle: h, message });
    }
    return;
  }
  // mixMinus false: what the socket reader's messages carry on TCP (a mix-minus is the mixer's option there).
  if (w.write(s.hello.userId, ph, data, arrival, s.id, room, false)) counters.ringWritten++;
  else counters.ringFull++;
}

// ---- the socket ----
/** An IP literal needs no lookup: answered at once, not through a dns.lookup and a nextTick per datagram. */
const ipLookup = (address: string, family: unknown, cb: (err: Error | null, address: string, family: number) => void): void => {
  const f = net.isIP(address);
  if (f !== 0) { cb(null, address, f); return; }
  // A name (only our own bind host can be one): the system's lookup.
  void import('node:dns').then((dns) => dns.lookup(address, { family: typeof family === 'number' ? family : 0 }, (err, a, fam) => cb(err, a, fam)));
};
const socket = dgram.createSocket({ type: net.isIPv6(init.host) ? 'udp6' : 'udp4', lookup: ipLookup as never, recvBufferSize: init.recvBufferBytes, sendBufferSize: init.sendBufferBytes });
const from = { address: '', port: 0 };

socket.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => {
  from.address = rinfo.address;
  from.port = rinfo.port;
  const r = table.handle(msg, from, performance.now());
  if (r.reply !== undefined) send(r.reply, rinfo.port, rinfo.address);
  switch (r.kind) {
    case 'audio': {
      const s = r.session as UdpSession;
      const arrival = nowMicros();
      if (ring !== null) toRing(s, r.header!, r.data!, arrival);
      if (ring === null || alsoAudio) {
        const h = handleOf.get(s);
        // The AUDIO payload (its 24-byte header and the data) as it came: the main side decodes it again.
        if (h !== undefined) batchAudio(h, msg, 8, arrival);
      }
      return;
    }
    case 'metadata': case 'qos': case 'error-frame': {
      const h = handleOf.get(r.session as UdpSession);
      if (h !== undefined) event({ t: r.kind, handle: h, json: r.json as JsonObject });
      return;
    }
    case 'hello':
      // A refresh may name another room: the ring takes the session's packets there from now on.
      if (!r.opened && r.session !== undefined && roomOf.has(r.session)) {
        const room = helloRoom(r.session.hello);
        roomOf.set(r.session, room === DEFAULT_ROOM ? '' : room);
      }
      return;
    case 'pong': {
      const h = handleOf.get(r.session as UdpSession);
      if (h !== undefined) event({ t: 'pong', handle: h, pong: r.pong! });
      return;
    }
    case 'ping':
      return;   // answered (r.reply): nothing for the main side
    case 'drop':
      // A refused HELLO is a refusal the node warns of (as a refused TCP handshake), at most REFUSED_PER_SECOND told.
      if (r.reason === 'unauthorized' && refusedAdmit(performance.now())) event({ t: 'refused', code: 'unauthorized', remote: `${rinfo.address}:${rinfo.port}`, message: r.message ?? '' });
      return;
    default:
      return;
  }
});
socket.on('error', (err) => post({ t: 'error', message: err.message }));

const REFUSED_PER_SECOND = 20;
let refusedWindow = 0;
let refusedInWindow = 0;
function refusedAdmit(nowMs: number): boolean {
  if (nowMs - refusedWindow >= 1000) { refusedWindow = nowMs; refusedInWindow = 0; }
  return ++refusedInWindow <= REFUSED_PER_SECOND;
}

function send(frame: Buffer, p: number, address: string): void {
  try {
    socket.send(frame, p, address, onSent);
    counters.sent++;
  } catch {
    counters.sendErrors++;   // the socket is closing (stop)
  }
}

function onSent(err: Error | null): void {
  if (err) counters.sendErrors++;
}

// ---- from the main side ----
port.on('message', (m: UdpWorkerIn) => {
  switch (m.t) {
    case 'send': {
      const data = Buffer.from(m.data);
      const frames = m.frames;
      const to = m.to;
      for (let i = 0; i < to.length; i += 2) {
        const s = byHandle.get(to[i + 1]);
        if (s === undefined) continue;
        const f = to[i];
        send(data.subarray(frames[2 * f], frames[2 * f] + frames[2 * f + 1]), s.port, s.address);
      }
      return;
    }
    case 'ping': {
      const f = encodePing(nowMicros());
      for (const s of table.list()) send(f, s.port, s.address);
      return;
    }
    case 'close': {
      const s = byHandle.get(m.handle);
      if (s === undefined) return;
      if (m.code !== undefined) send(encodeErrorFrame(m.code, m.message ?? m.code), s.port, s.address);
      table.close(s, 'closed');
      return;
    }
    case 'ring':
      ring = m.ring === null ? null : new PacketRingWriter(m.ring as PacketRingShared);
      ringRate = m.sampleRate;
      alsoAudio = m.ring !== null && m.alsoAudio;
      // Audio batched before the switch goes out first; after it, nothing of the ring's reaches the main side.
      flush();
      return;
    case 'stop':
      table.closeAll();
      flush();
      socket.close(() => process.exit(0));
      return;
  }
});

// ---- timers: idle sessions end even when nothing arrives; stats at least once a second ----
const sweepTimer = setInterval(() => table.sweep(performance.now()), Math.max(50, Math.min(1000, (init.idleTimeoutMs || 1000) / 4)));
let lastStats = '';
const statsTimer = setInterval(postStats, init.statsIntervalMs);
let statsTurn = 0;
function postStats(): void {
  const s = table.stats;
  const key = `${s.datagrams}/${s.dropped}/${table.size}/${counters.sent}/${counters.ringWritten}/${counters.ringRefused}`;
  // Unchanged stats are posted once a second anyway (the refresh the brief promises), changed ones at once.
  if (key === lastStats && ++statsTurn * init.statsIntervalMs < 1000) return;
  statsTurn = 0;
  lastStats = key;
  const perSession: number[] = [];
  for (const [sess, h] of handleOf) perSession.push(h, sess.framesIn, sess.bytesIn);
  post({
    t: 'stats',
    stats: {
      datagrams: s.datagrams, audioFrames: s.audioFrames, drops: { ...s.drops }, dropped: s.dropped, ended: { ...s.ended }, opened: s.opened,
      sessions: table.size, ...counters, ringDropped: ring?.dropped ?? 0, busyMs: performance.eventLoopUtilization().active, cpuMs: threadCpuMs() ?? -1,
    },
    perSession,
  });
}

socket.bind({ address: init.host, port: init.port, exclusive: true }, () => {
  const a = socket.address();
  if (init.recvBufferBytes === undefined) {
    try { socket.setRecvBufferSize(4 << 20); } catch { /* the system's cap (net.core.rmem_max) holds it lower */ }
  }
  post({ t: 'listening', host: a.address, port: a.port });
});
sweepTimer.unref();
statsTimer.unref();

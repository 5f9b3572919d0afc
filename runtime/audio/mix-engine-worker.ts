// The mix engine's thread: the mixer's clock and the mixer itself (playout buffers, Opus decoders, sums), off the event loop.
//
// A loop, not an event loop: sleep in Atomics.wait until the next deadline (spinning the last `spinMs` where the
// thread has a core to spin on), then per tick: apply the control messages the event loop posted (gain, pan,
// mute, master, removeUser — read with receiveMessageOnPort, no event needed), drain the packet ring into the
// mixer, mix, and post the frame (its ArrayBuffers transferred, not copied) with the tick's lateness. A GC pause
// or a burst of Node-RED messages on the event loop delays when the mix is sent, never when it is made. After a
// stall of this thread, missed ticks run back to back (packets that came meanwhile are drained before each) up to
// resyncAfterMs, beyond which the clock re-anchors at now — FrameClock's semantics (runtime/clock.ts).
//
// Once a second, when the next deadline is far enough off, the loop lets the thread's event loop turn once (an
// awaited setImmediate). Node-API finalizers run there, not in the GC: the native Opus decoder of every track the
// mixer dropped (@discordjs/opus, ~36 KB each with its PCM buffer) is freed only by its finalizer, so a loop that never
// turned kept every one it ever made (the soak: RSS +25 % in 10 min at one join and leave a second).
import { workerData, receiveMessageOnPort, MessagePort } from 'node:worker_threads';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import fs from 'node:fs';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { Mixer, MixerOptions, MixParameters, MonitorSpec, TrackState } from './mixer';
import { DEFAULT_ROOM } from '../rooms';
import type { MeterLayout } from '../console/meter-frame';
import { PacketRingReader, PacketRingShared } from './packet-ring';
import type { StreamEvent } from '../streamlog/event';
import type { UsedFrame, UsedTrack } from './used';

export interface MixEngineInit {
  ring: PacketRingShared;
  /** Int32 [0]: bumped to wake the thread, [1]: 1 = stop, [2]: ticks posted so far (the event loop polls it). */
  wake: SharedArrayBuffer;
  /** Controls in (read at each tick). */
  port: MessagePort;
  /** Events out: the event loop takes them on its 'message' event, or sooner by polling (MixEngine.push). */
  out: MessagePort;
  mixer: MixerOptions;
  periodMs: number;
  spinMs: number;
  resyncAfterMs: number;
  statsEveryTicks: number;
  /** Nice value to give this thread (Linux; lower is more urgent), or null to leave it. */
  nice: number | null;
  /** SCHED_FIFO priority to ask for (Linux, through chrt), or null not to. */
  realtime: number | null;
  /** CPUs to pin this thread to (a taskset list, Linux, through taskset), or null to leave it. */
  cpus: string | null;
}

export type EngineControl =
  | { t: 'gain'; userId: string; value: number }
  | { t: 'pan'; userId: string; value: number }
  | { t: 'mute'; userId: string; value: boolean }
  | { t: 'master'; value: number; room?: string }
  // operator console (issue 12)
  | { t: 'metering'; on: boolean }
  | { t: 'monitor'; listener: string; spec: MonitorSpec | null }
  | { t: 'removeUser'; userId: string }
  | { t: 'removeConnection'; connectionId: string }
  // another writer's ring (MixEngine.attachRing: e.g. the UDP ingest's thread), drained with the main one each tick
  | { t: 'ring'; id: number; ring: PacketRingShared }
  | { t: 'unring'; id: number };

export type EngineParams = MixParameters;

/**
 * The mix thread's own heap, cumulative since it started: its GCs (count, total and longest pause, ms) as its
 * PerformanceObserver sees them (delivered when its event loop turns, about once a second), and the bytes allocated
 * in its ticks (used heap after the tick − before it, over the ticks in which no GC ran; `allocTicks` of them).
 */
export interface MixThreadHeap { gcs: number; scavenges: number; gcMs: number; gcMaxMs: number; allocBytes: number; allocTicks: number }

/** One room's mix as the thread posts it. */
export interface EngineRoomMix {
  room: string;
  mix: ArrayBuffer;
  users: string[] | null;
  frames: ArrayBuffer[] | null;
  /** Its UsedFrame's rows (transferred) and track table: null when the same as the room's last one posted. */
  used: ArrayBuffer;
  usedTable: readonly UsedTrack[] | null;
}

export type EngineEvent =
  | {
    t: 'tick'; index: number; late: number; workMs: number; seq: number; mix: ArrayBuffer; users: string[] | null; frames: ArrayBuffer[] | null;
    /**
     * The DEFAULT_ROOM's UsedFrame (runtime/audio/used.ts): its rows (transferred) and its track table, posted only
     * when it is not the one posted last (null: the same) — a track list changes far less often than every tick.
     */
    used: ArrayBuffer; usedTable: readonly UsedTrack[] | null; tracks: TrackState[] | null; missed: number; catchUp: number; resyncs: number; ringErrors: number;
    /** Every room other than the DEFAULT_ROOM that has a track (MixResult.rooms), its buffers transferred; null when none. */
    rooms: EngineRoomMix[] | null;
    /** Times the thread let its event loop turn (where Node-API finalizers free the native decoders of dropped tracks). */
    loopTurns: number;
    /** This thread's heap so far (with `tracks`, else null): GCs, their pause, and the bytes its ticks allocated. */
    heap: MixThreadHeap | null;
  }
  | { t: 'params'; params: EngineParams }
  // operator console (issue 12): a meter frame (its buffer transferred; the layout only when it changed since the
  // last one posted) and the tick's monitor frames (transferred)
  | { t: 'meters'; seq: number; frame: ArrayBuffer; layout: MeterLayout | null }
  | { t: 'monitors'; seq: number; listeners: string[]; frames: ArrayBuffer[] }
  | { t: 'track-added' | 'track-removed'; state: TrackState }
  | { t: 'error'; message: string }
  /** The tick's stream events (runtime/streamlog/event.ts), at most STREAM_EVENTS_PER_TICK; `leftOut` more were not sent. */
  | { t: 'stream-events'; events: StreamEvent[]; leftOut: number }
  | { t: 'priority'; nice: number | null; realtime: number | null; cpus: string | null; error: string | null };

const init = workerData as MixEngineInit;
const post = (e: EngineEvent, transfer?: ArrayBuffer[]) => init.out.postMessage(e, transfer);
const wake = new Int32Array(init.wake);
const ring = new PacketRingReader(init.ring);
/** The attached rings (MixEngine.attachRing), each with a writer of its own on another thread. */
const rings = new Map<number, PacketRingReader>();
const mixer = new Mixer(init.mixer);
const P = init.periodMs;
const now = () => performance.timeOrigin + performance.now();

let missed = 0;
let catchUp = 0;
let resyncs = 0;
let ringErrors = 0;
let loopTurns = 0;
const heap: MixThreadHeap = { gcs: 0, scavenges: 0, gcMs: 0, gcMaxMs: 0, allocBytes: 0, allocTicks: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    heap.gcs++;
    if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === 1) heap.scavenges++;
    heap.gcMs += e.duration;
    if (e.duration > heap.gcMaxMs) heap.gcMaxMs = e.duration;
  }
}).observe({ entryTypes: ['gc'] });
/** The used heap at the start of the tick being run. */
const usedHeap = () => v8.getHeapStatistics().used_heap_size;
/** Ticks between two turns of the event loop, and the least time before the next deadline to take one in (ms). */
const TURN_EVERY_TICKS = 100;
const TURN_SLACK_MS = 2;
const turnEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));
/** The errors of ticks that threw, each posted once. */
const toldErrors = new Set<string>();
let index = 0;
/** How long the last tick took (ms): what of the period the mix uses. */
let lastWorkMs = 0;

mixer.on('track-added', (state: TrackState) => {
  post({ t: 'track-added', state });
  post({ t: 'params', params: mixer.parameters() });
});
mixer.on('track-removed', (state: TrackState) => post({ t: 'track-removed', state }));

// ---- stream events (owner: log): the tick's, in one message after it; past the cap only counted ----
const STREAM_EVENTS_PER_TICK = 256;
let streamEvents: StreamEvent[] = [];
let streamEventsLeftOut = 0;
mixer.on('stream-event', (e: StreamEvent) => {
  if (streamEvents.length < STREAM_EVENTS_PER_TICK) streamEvents.push(e);
  else streamEventsLeftOut++;
});
function postStreamEvents(): void {
  if (streamEvents.length === 0 && streamEventsLeftOut === 0) return;
  post({ t: 'stream-events', events: streamEvents, leftOut: streamEventsLeftOut });
  streamEvents = [];
  streamEventsLeftOut = 0;
}

function applyControls(): void {
  let changed = false;
  for (let m = receiveMessageOnPort(init.port); m !== undefined; m = receiveMessageOnPort(init.port)) {
    const c = m.message as EngineControl;
    try {
      switch (c.t) {
        case 'gain': mixer.setGain(c.userId, c.value); break;
        case 'pan': mixer.setPan(c.userId, c.value); break;
        case 'mute': mixer.setMute(c.userId, c.value); break;
        case 'master': mixer.setMaster(c.value, c.room); break;
        case 'metering': mixer.setMetering(c.on); break;
        case 'monitor': mixer.setMonitor(c.listener, c.spec); break;
        case 'removeUser': mixer.removeUser(c.userId); break;
        // Drained again first: an attached ring's writer wrote that connection's last packets before its close went
        // round the event loop to here, so they are counted on its track before it goes (as the main ring's are).
        case 'removeConnection': drainRings(); mixer.removeConnection(c.connectionId); break;
        case 'ring': rings.set(c.id, new PacketRingReader(c.ring)); break;
        case 'unring': rings.delete(c.id); break;
      }
      if (c.t !== 'removeUser' && c.t !== 'removeConnection' && c.t !== 'metering' && c.t !== 'monitor' && c.t !== 'ring' && c.t !== 'unring') changed = true;
    } catch (err) {
      post({ t: 'error', message: (err as Error).message });
    }
  }
  if (changed) post({ t: 'params', params: mixer.parameters() });
}

function push(userId: string, h: Parameters<Mixer['push']>[1], data: Buffer, arrival: number, connectionId: string, room: string, mixMinus: boolean): void {
  try {
    mixer.push(userId, h, data, arrival, connectionId, room === '' ? undefined : room, mixMinus);
  } catch {
    // The event loop checked the packet before writing it; one refused here is counted (here and on its track), not fatal.
    ringErrors++;
  }
}

function refused(userId: string, h: Parameters<Mixer['push']>[1], reason: string, arrival: number, connectionId: string, room: string): void {
  mixer.refused(userId, h, arrival, connectionId, reason, room === '' ? undefined : room);
}

/** Every ring: the main one (the event loop's) and the attached ones. */
function drainRings(): void {
  ring.drain(push, refused);
  for (const r of rings.values()) r.drain(push, refused);
}

/** The track table last posted per room (the event loop keeps the same): a room's is posted again only when it changed. */
const postedTables = new Map<string, readonly UsedTrack[]>();

/** The table to post with a room's frame: null when the event loop has it already. */
function tableToPost(room: string, used: UsedFrame): readonly UsedTrack[] | null {
  if (postedTables.get(room) === used.tracks) return null;
  postedTables.set(room, used.tracks);
  return used.tracks;
}

/** Rows to transfer: a frame's own buffer (an empty frame's shared one is copied, never detached). */
function rowsOf(used: UsedFrame, transfer: ArrayBuffer[]): ArrayBuffer {
  if (used.rows.byteLength === 0) return new ArrayBuffer(0);
  const b = used.rows.buffer as ArrayBuffer;
  transfer.push(b);
  return b;
}

function tick(late: number, workMs: number): void {
  // The rings first: a connection's close (removeConnection) was posted after every packet it had, so they are counted
  // on its track before it goes.
  drainRings();
  applyControls();
  const r = mixer.tick(now() * 1000);
  const transfer = [r.mix.buffer as ArrayBuffer];
  let users: string[] | null = null;
  let frames: ArrayBuffer[] | null = null;
  if (r.perUser) {
    users = [];
    frames = [];
    for (const [u, b] of r.perUser) {
      users.push(u);
      frames.push(b.buffer as ArrayBuffer);
      // The room's mix itself (a user that added nothing hears it: Mixer.finishTick) is in the list already.
      if (b !== r.mix) transfer.push(b.buffer as ArrayBuffer);
    }
  }
  const used = rowsOf(r.used, transfer);
  const usedTable = tableToPost(DEFAULT_ROOM, r.used);
  let rooms: EngineRoomMix[] | null = null;
  if (postedTables.size > 1) {
    // A room no longer mixed is forgotten here as on the event loop (a room made again has a table of its own).
    for (const name of postedTables.keys()) if (name !== DEFAULT_ROOM && !r.rooms?.some((m) => m.room === name)) postedTables.delete(name);
  }
  if (r.rooms) {
    rooms = [];
    for (const m of r.rooms) {
      const e: EngineRoomMix = { room: m.room, mix: m.mix.buffer as ArrayBuffer, users: null, frames: null, used: rowsOf(m.used, transfer), usedTable: tableToPost(m.room, m.used) };
      transfer.push(e.mix);
      if (m.perUser) {
        const us: string[] = (e.users = []);
        const fs: ArrayBuffer[] = (e.frames = []);
        for (const [u, b] of m.perUser) {
          us.push(u);
          fs.push(b.buffer as ArrayBuffer);
          if (b !== m.mix) transfer.push(b.buffer as ArrayBuffer);
        }
      }
      rooms.push(e);
    }
  }
  const i = index++;
  const tracks = i % init.statsEveryTicks === init.statsEveryTicks - 1 ? mixer.tracks() : null;
  post({ t: 'tick', index: i, late, workMs, seq: r.seq, mix: r.mix.buffer as ArrayBuffer, users, frames, used, usedTable, tracks, missed, catchUp, resyncs, ringErrors, loopTurns, rooms, heap: tracks ? { ...heap } : null }, transfer);
  // --- operator console (issue 12): after the tick's own event, before the event loop is told it is there ---
  if (r.meters) {
    const layout = r.meterLayout ?? null;
    const frame = r.meters.buffer as ArrayBuffer;
    post({ t: 'meters', seq: r.seq, frame, layout: layout !== null && layout !== postedLayout ? layout : null }, [frame]);
    postedLayout = layout;
  }
  if (r.monitors) {
    const listeners: string[] = [];
    const pcm: ArrayBuffer[] = [];
    for (const m of r.monitors) {
      listeners.push(m.listener);
      pcm.push(m.pcm.buffer as ArrayBuffer);
    }
    post({ t: 'monitors', seq: r.seq, listeners, frames: pcm }, pcm);
  }
  postStreamEvents();
  Atomics.store(wake, 2, index);
}

/** The meter layout last posted (a layout is posted once, with the first frame of it). */
let postedLayout: MeterLayout | null = null;

async function run(): Promise<void> {
  let anchor = now();
  let k = 0;
  let turnedAt = 0;
  const gen = () => Atomics.load(wake, 0);
  for (;;) {
    if (Atomics.load(wake, 1) === 1) return;
    const deadline = anchor + k * P;
    let t = now();
    if (t < deadline) {
      const w = deadline - t;
      if (index - turnedAt >= TURN_EVERY_TICKS && w > init.spinMs + TURN_SLACK_MS) {
        turnedAt = index;
        await turnEventLoop();
        loopTurns++;
        continue;
      }
      if (w > init.spinMs) {
        Atomics.wait(wake, 0, gen(), w - init.spinMs);
        continue;
      }
      while (t < deadline) t = now();
    }
    let late = t - deadline;
    if (late > init.resyncAfterMs) {
      resyncs++;
      anchor = t;
      k = 0;
      late = 0;
    }
    if (late >= P) {
      missed++;
      // Not the first of this wake-up's ticks: catching up.
      if (late >= 2 * P) catchUp++;
    }
    try {
      const t0 = now();
      const h0 = usedHeap();
      tick(late, lastWorkMs);
      const h1 = usedHeap();
      // A tick in which a GC ran shows less (or garbage freed): only the others are counted.
      if (h1 >= h0) {
        heap.allocBytes += h1 - h0;
        heap.allocTicks++;
      }
      lastWorkMs = now() - t0;
    } catch (err) {
      // A tick that throws every time is one error, not a hundred a second: each different one said once.
      const m = (err as Error).stack ?? String(err);
      if (!toldErrors.has(m) && toldErrors.size < 32) {
        toldErrors.add(m);
        post({ t: 'error', message: m });
      }
    }
    k++;
  }
}

// Above the event loop's: with both threads on one core, the scheduler otherwise lets a busy event loop finish its
// slice before the woken mix thread runs (ticks 10–30 ms late at 80 peers on one core, measured). Nice −11 (the
// audio threads of PulseAudio) brought that to ~2 ms (the event loop's run of work); SCHED_FIFO, as JACK and
// PipeWire ask for their audio threads, to ~0.1 ms. Both need CAP_SYS_NICE (or RLIMIT_NICE / RLIMIT_RTPRIO);
// without it the thread runs at the process's priority and the engine says so once.
/** Runs a util-linux tool (Node has no sched_setscheduler or sched_setaffinity): null, or why it failed. */
function utilLinux(cmd: string, args: string[]): string | null {
  try {
    execFileSync(cmd, args, { stdio: 'pipe', timeout: 2000 });
    return null;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    return e.code === 'ENOENT' ? `${cmd} not found (util-linux)` : (e.stderr?.toString().trim() || e.message);
  }
}

function raisePriority(): void {
  if (init.nice === null && init.realtime === null && init.cpus === null) return;
  let tid = 0;
  let nice: number | null = null;
  let realtime: number | null = null;
  let cpus: string | null = null;
  const errors: string[] = [];
  try {
    tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
    if (!(tid > 0)) throw new Error('no thread id (/proc/thread-self)');
  } catch (err) {
    post({ t: 'priority', nice: null, realtime: null, cpus: null, error: (err as Error).message });
    return;
  }
  if (init.cpus !== null) {
    const e = utilLinux('taskset', ['-pc', init.cpus, String(tid)]);
    if (e === null) cpus = init.cpus;
    else errors.push(`CPUs ${init.cpus}: ${e}`);
  }
  if (init.nice !== null) {
    try {
      os.setPriority(tid, init.nice);
      nice = os.getPriority(tid);
    } catch (err) {
      errors.push(`nice ${init.nice}: ${(err as Error).message}`);
    }
  }
  if (init.realtime !== null) {
    // SCHED_FIFO through util-linux chrt (Node has no sched_setscheduler): the scheduler then runs this thread the
    // moment its futex wait times out, whatever the event loop is doing. It sleeps all but a few ms of every
    // period; the kernel's real-time throttling (95 % of each second by default) bounds a runaway anyway.
    const e = utilLinux('chrt', ['--fifo', '--pid', String(init.realtime), String(tid)]);
    if (e === null) realtime = init.realtime;
    else errors.push(`SCHED_FIFO ${init.realtime}: ${e}`);
  }
  post({ t: 'priority', nice, realtime, cpus, error: errors.length ? errors.join('; ') : null });
}

raisePriority();
void run();

// The mix engine: a Mixer on a steady clock on a thread of its own, as the mixer node uses it.
//
// Why a thread: the event loop of an xcast carries every packet through Node-RED, and its pauses (a full GC of
// 8–14 ms, a burst of socket reads, a slow flow elsewhere) made the mixer's ticks late and, at a period or more,
// missed (docs/performance.md). On its own thread (runtime/audio/mix-engine-worker.ts) the clock sleeps in
// Atomics.wait and the mix is made on time whatever the event loop does; packets reach it through a shared ring
// (runtime/audio/packet-ring.ts, no message per packet), the frames come back as transferred ArrayBuffers.
//
// Events: 'mix' (MixResult), 'tracks' (TrackState[], every statsEveryTicks ticks), 'params'
// (EngineParams: the full mix parameters and the frame they apply from, after a control or a new track),
// 'track-added' / 'track-removed' (TrackState), 'tick' (frameIndex, latenessMs — TickSource), 'error',
// 'stream-events' (StreamEvent[] of a tick and how many past the cap were left out).
// Operator console (issue 12): 'meters' (frame: Buffer, layout: MeterLayout, seq) while metering is on, 'monitor'
// (listener, pcm: Buffer, seq) per tick per monitor listener; both made on the thread, their buffers transferred.
// Controls are checked here and throw a MixerConfigError at once; on the thread they apply from the next tick.
import path from 'node:path';
import os from 'node:os';
import { EventEmitter } from 'node:events';
import { Worker, MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { Mixer, MixerOptions, MixResult, RoomMix, TrackState, MixerConfigError, MonitorSpec, MAX_MONITORS, checkGain, checkPan, checkRoom, checkMonitor } from './mixer';
import type { MeterLayout } from '../console/meter-frame';
import { checkPlayoutPacket, PlayoutHeader } from './playout';
import { createPacketRing, PacketRingWriter, type PacketRingShared } from './packet-ring';
import { FrameClockStats, TickSource, LATENESS_WINDOW, latenessStats } from '../clock';
import { DEFAULT_ROOM, roomOf } from '../rooms';
import type { EngineControl, EngineEvent, EngineParams, MixEngineInit, MixThreadHeap } from './mix-engine-worker';
import type { StreamEvent } from '../streamlog/event';
import { UsedFrame, UsedTrack, EMPTY_USED } from './used';
import { markSharedMix } from './shared-mix';

/** A room's mix that is also the mix-minus of users who added nothing to the frame: marked, and the one Buffer for all. */
function sharedMix(mix: Buffer): Buffer {
  markSharedMix(mix);
  return mix;
}

export type { EngineParams } from './mix-engine-worker';

export interface MixEngineOptions extends MixerOptions {
  /** 'tracks' every this many ticks; default 10. */
  statsEveryTicks?: number;
  /** The thread spins this long before a deadline instead of sleeping; default 0.1 ms with 2+ cores, 0 with one. */
  spinMs?: number;
  /** Behind by more than this, the clock re-anchors instead of catching up; default 200 ms. */
  resyncAfterMs?: number;
  /** The mix thread's nice value (Linux), default −11; null leaves it at the process's. */
  nice?: number | null;
  /** The mix thread's SCHED_FIFO priority (Linux, through `chrt`), default 10; null: not real-time. */
  realtime?: number | null;
  /**
   * CPUs the mix thread may run on (a taskset list such as "0" or "2-3", Linux, through util-linux `taskset`), default
   * none: the process's. A real-time thread on a core of its own (isolcpus) keeps its time best.
   */
  cpus?: string | null;
  /** The mix thread's young generation (V8 maxYoungGenerationSizeMb), default 96: rarer scavenges on that thread. */
  youngGenerationMb?: number;
}

export interface MixEngine extends TickSource {
  readonly sampleRate: number;
  readonly channels: number;
  readonly frameSamples: number;
  /**
   * Files a packet of `userId` that came on `connectionId` ('' or absent: made in the flow); checked here: throws
   * what PlayoutBuffer.push throws, after handing the thread the refusal so the track's state counts it
   * (TrackState.refused). False if it was dropped (ring full). `room` (msg.room) and `mixMinus` (msg.mixMinus === true):
   * as Mixer.push takes them.
   */
  push(userId: string, header: PlayoutHeader, data: Buffer, arrivalMicros: number, connectionId?: string, room?: string, mixMinus?: boolean): boolean;
  setGain(userId: string, gain: number): void;
  setPan(userId: string, pan: number): void;
  setMute(userId: string, muted: boolean): void;
  /** The master of `room` (default 'main'). */
  setMaster(gain: number, room?: string): void;
  /** Meters on the mix thread on or off (Mixer.setMetering): 'meters' events while on. */
  setMetering(on: boolean): void;
  /** A console monitor listener's feed, or null to remove it (Mixer.setMonitor; at most MAX_MONITORS). */
  setMonitor(listener: string, spec: MonitorSpec | null): void;
  removeUser(userId: string): void;
  /** A connection ended: its tracks leave the mix at once (Mixer.removeConnection). */
  removeConnection(connectionId: string): void;
  /**
   * Another single-writer ring the mix thread drains every tick with its own (before applying a removeConnection),
   * for a writer on another thread — the UDP ingest's worker — so its packets never cross the event loop. The writer
   * checks each packet as push() does (checkPlayoutPacket against `sampleRate`; a refused one by writeRefused).
   * Kept across a restart of the mix thread; detach() stops draining it.
   */
  attachRing(bytes?: number): AttachedRing;
  /** The last track states (as of the last 'tracks' on the thread). */
  tracks(): TrackState[];
  /** Times the mix thread let its event loop turn (Node-API finalizers run there: dropped tracks' decoders freed). */
  readonly loopTurns: number;
  /** The mix thread's heap figures (its GCs, the bytes its ticks allocated), as of its last track state; null before one. */
  readonly threadHeap: MixThreadHeap | null;
  /** Stops the clock and ends the thread; the engine is not used after this. */
  close(): void;
  on(event: 'mix', l: (r: MixResult) => void): this;
  on(event: 'tracks', l: (t: TrackState[]) => void): this;
  on(event: 'params', l: (p: EngineParams) => void): this;
  on(event: 'track-added' | 'track-removed', l: (t: TrackState) => void): this;
  on(event: 'tick', l: (frameIndex: number, latenessMs: number) => void): this;
  on(event: 'error', l: (err: Error) => void): this;
  on(event: 'meters', l: (frame: Buffer, layout: MeterLayout, seq: number) => void): this;
  on(event: 'monitor', l: (listener: string, pcm: Buffer, seq: number) => void): this;
  /** A tick's stream events (runtime/streamlog/event.ts), in order; `leftOut` more past the per-tick cap were only counted. */
  on(event: 'stream-events', l: (events: StreamEvent[], leftOut: number) => void): this;
  /** Something the user should know once (e.g. the thread's priority could not be raised). */
  on(event: 'warning', l: (message: string) => void): this;
}

export interface AttachedRing {
  ring: PacketRingShared;
  /** The mix's rate: what the writer checks packets against. */
  sampleRate: number;
  detach(): void;
}

/** The engine on its own thread. */
class ThreadMixEngine extends EventEmitter implements MixEngine {
  readonly sampleRate: number;
  readonly channels: number;
  readonly frameSamples: number;
  readonly periodMs: number;
  private readonly opts: MixEngineOptions;
  private worker: Worker | null = null;
  private port: MessageChannel['port1'] | null = null;
  /** The thread's events; polled from push() as well as delivered by the event loop. */
  private events: MessageChannel['port1'] | null = null;
  /** Ticks whose event this side has taken. */
  private taken = 0;
  private wake: Int32Array | null = null;
  private writer: PacketRingWriter | null = null;
  private lastTracks: TrackState[] = [];
  private readonly lateness = new Float32Array(LATENESS_WINDOW);
  private ticks = 0;
  private readonly counters = { missed: 0, catchUp: 0, resyncs: 0, ringErrors: 0, loopTurns: 0 };
  /** The mix thread's heap figures (GCs, bytes its ticks allocated), as of its last track state; null before one. */
  threadHeap: MixThreadHeap | null = null;
  /** What the thread's priority became (nice), once it has said. */
  priority: { nice: number | null; realtime: number | null; cpus: string | null; error: string | null } | null = null;

  constructor(opts: MixEngineOptions) {
    super();
    // Every option checked here, where a bad one throws to the caller, not on the thread.
    const probe = new Mixer(opts);
    this.sampleRate = probe.sampleRate;
    this.channels = probe.channels;
    this.frameSamples = probe.frameSamples;
    this.periodMs = (this.frameSamples * 1000) / this.sampleRate;
    this.opts = opts;
  }

  start(): void {
    if (this.worker) return;
    this.closing = false;
    this.spawn();
  }

  /** Times the mix thread died and was started again (its tracks then start afresh from their next packets). */
  restarts = 0;
  private closing = false;
  private restartTimer: NodeJS.Timeout | null = null;

  private spawn(): void {
    this.taken = 0;
    this.usedTables.clear();
    const shared = createPacketRing();
    const wake = new SharedArrayBuffer(12);
    const { port1, port2 } = new MessageChannel();
    const events = new MessageChannel();
    const o = this.opts;
    const spinMs = o.spinMs ?? (os.availableParallelism() > 1 ? 0.1 : 0);
    const mixer: MixerOptions = {
      sampleRate: o.sampleRate, channels: o.channels, frameSamples: o.frameSamples, masterGain: o.masterGain, mixMinus: o.mixMinus,
      trackTimeoutMs: o.trackTimeoutMs, connectedThresholdMs: o.connectedThresholdMs, playout: o.playout,
    };
    const data: MixEngineInit = {
      ring: shared, wake, port: port2, out: events.port2, mixer, periodMs: this.periodMs, spinMs,
      resyncAfterMs: Math.max(o.resyncAfterMs ?? 200, this.periodMs), statsEveryTicks: Math.max(1, Math.round(o.statsEveryTicks ?? 10)),
      nice: o.nice === undefined ? -11 : o.nice,
      realtime: o.realtime === undefined ? 10 : o.realtime,
      cpus: o.cpus ?? null,
    };
    const w = new Worker(path.join(__dirname, 'mix-engine-worker.js'), { workerData: data, transferList: [port2, events.port2], resourceLimits: { maxYoungGenerationSizeMb: o.youngGenerationMb ?? 96 } });
    events.port1.on('message', this.onEvent);
    this.events = events.port1;
    w.on('error', (err) => this.emit('error', err));
    // A thread that dies (a native crash is not this; an exception escaping its loop, or a terminate()) is started
    // again: the mix goes on, its tracks start afresh from their next packets.
    w.on('exit', (code) => {
      if (this.worker !== w) return;
      this.releaseThread();
      if (this.closing) return;
      this.restarts++;
      this.emit('error', new Error(`mix engine: the mix thread stopped (exit code ${code}); starting it again`));
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (!this.closing && !this.worker) this.spawn();
      }, 200);
    });
    this.worker = w;
    this.port = port1;
    for (const c of this.kept.values()) port1.postMessage(c);
    for (const [id, r] of this.attached) port1.postMessage({ t: 'ring', id, ring: r } satisfies EngineControl);
    this.wake = new Int32Array(wake);
    this.writer = new PacketRingWriter(shared);
  }

  stop(): void {
    this.close();
  }

  close(): void {
    this.closing = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const w = this.worker;
    if (!w) return;
    const wake = this.wake as Int32Array;
    Atomics.store(wake, 1, 1);
    Atomics.add(wake, 0, 1);
    Atomics.notify(wake, 0);
    this.releaseThread();
    // It ends its loop at the flag; terminate() in case a tick is stuck.
    setTimeout(() => void w.terminate(), 1000).unref();
  }

  private releaseThread(): void {
    this.worker = null;
    this.writer = null;
    this.events?.off('message', this.onEvent);
    this.events?.close();
    this.events = null;
    this.port?.close();
    this.port = null;
  }

  private checkedRoom: unknown = undefined;
  private checkedRoomValid = false;

  push(userId: string, header: PlayoutHeader, data: Buffer, arrivalMicros: number, connectionId = '', room?: string, mixMinus = false): boolean {
    // A room that is not a room name is the DEFAULT_ROOM (the thread's Mixer would say so too; '' in the ring is none).
    let r = '';
    if (room !== undefined && room !== DEFAULT_ROOM) {
      // The last room checked is remembered: no pattern test per packet of a stream.
      if (room !== this.checkedRoom) {
        this.checkedRoom = room;
        this.checkedRoomValid = roomOf(room) !== DEFAULT_ROOM;
      }
      if (this.checkedRoomValid) r = room;
    }
    try {
      checkPlayoutPacket(header, data, this.sampleRate);
    } catch (err) {
      // The refusal to the track's counter (its header as claimed, when there is one to tell the track by).
      if (header && typeof header === 'object' && this.writer) this.writer.writeRefused(userId, header, (err as Error).message, arrivalMicros, connectionId, r);
      throw err;
    }
    if (!this.writer) return false;
    const ok = this.writer.write(userId, header, data, arrivalMicros, connectionId, r, mixMinus === true);
    // A mix finished since the last look: take it now. Under load the event loop reads many sockets per turn
    // before it gets to the port's 'message' event; polling here (one shared-memory load per packet) sends each
    // mix out within a packet's handling of its making, not a turn later.
    if (Atomics.load(this.wake as Int32Array, 2) !== this.taken) this.poll();
    return ok;
  }

  /** Delivers every event the thread has posted (in order; the same handler as the 'message' event). */
  poll(): void {
    const port = this.events;
    if (!port) return;
    for (let m = receiveMessageOnPort(port); m !== undefined; m = this.events ? receiveMessageOnPort(this.events) : undefined) {
      this.onEvent(m.message as EngineEvent);
    }
  }

  setGain(userId: string, gain: number): void {
    this.control({ t: 'gain', userId, value: checkGain('gain', gain) });
  }

  setPan(userId: string, pan: number): void {
    this.control({ t: 'pan', userId, value: checkPan('pan', pan) });
  }

  setMute(userId: string, muted: boolean): void {
    this.control({ t: 'mute', userId, value: !!muted });
  }

  setMaster(gain: number, room?: string): void {
    const g = checkGain('masterGain', gain);
    const r = checkRoom(room);
    this.control(r === DEFAULT_ROOM ? { t: 'master', value: g } : { t: 'master', value: g, room: r });
  }

  // --- operator console (issue 12) ---
  private readonly monitorListeners = new Set<string>();
  /** The meter layout of the last meter frame (the thread posts a layout only when it changes). */
  private layout: MeterLayout | null = null;

  setMetering(on: boolean): void {
    this.control({ t: 'metering', on: !!on });
  }

  setMonitor(listener: string, spec: MonitorSpec | null): void {
    const s = checkMonitor(listener, spec);
    if (s !== null && !this.monitorListeners.has(listener) && this.monitorListeners.size >= MAX_MONITORS) {
      throw new MixerConfigError('listener', `at most ${MAX_MONITORS} monitor listeners, and "${listener.slice(0, 64)}" would be one more`);
    }
    if (s === null) this.monitorListeners.delete(listener);
    else this.monitorListeners.add(listener);
    this.control({ t: 'monitor', listener, spec: s });
  }
  // --- end operator console ---

  removeUser(userId: string): void {
    this.control({ t: 'removeUser', userId });
  }

  removeConnection(connectionId: string): void {
    this.control({ t: 'removeConnection', connectionId });
  }

  tracks(): TrackState[] {
    return this.lastTracks;
  }

  private readonly attached = new Map<number, PacketRingShared>();
  private nextRing = 1;

  attachRing(bytes?: number): AttachedRing {
    const ring = createPacketRing(bytes);
    const id = this.nextRing++;
    this.attached.set(id, ring);
    this.port?.postMessage({ t: 'ring', id, ring } satisfies EngineControl);
    return {
      ring, sampleRate: this.sampleRate,
      detach: () => {
        if (!this.attached.delete(id)) return;
        this.port?.postMessage({ t: 'unring', id } satisfies EngineControl);
      },
    };
  }

  /** Packets dropped because the ring was full (the thread stalled for about a second). */
  get droppedPackets(): number {
    return this.writer?.dropped ?? 0;
  }

  /**
   * Times the mix thread let its event loop turn (about once a second): Node-API finalizers run there, so the native
   * Opus decoders of the tracks it dropped are freed.
   */
  get loopTurns(): number {
    return this.counters.loopTurns;
  }

  stats(): FrameClockStats {
    return {
      ticks: this.ticks, ...latenessStats(this.lateness, this.ticks),
      missedDeadlines: this.counters.missed, catchUpTicks: this.counters.catchUp, resyncs: this.counters.resyncs, running: this.worker !== null,
    };
  }

  private control(c: EngineControl): void {
    // Kept (the last of each kind per user, bounded) so a thread started again mixes with the same settings.
    if (c.t === 'ring' || c.t === 'unring') throw new Error('attachRing() keeps the rings');
    if (c.t !== 'removeUser' && c.t !== 'removeConnection') {
      const k = c.t === 'master' ? (c.room === undefined ? 'master' : `master@${c.room}`)
        : c.t === 'metering' ? 'metering'
          : c.t === 'monitor' ? `monitor:${c.listener}`
            : `${c.t}:${c.userId.length}:${c.userId}`;
      if (c.t === 'monitor' && c.spec === null) this.kept.delete(k);
      else if (this.kept.has(k) || this.kept.size < 4 * 4096) this.kept.set(k, c);
    }
    this.port?.postMessage(c);
  }

  /** The controls given so far: posted again to a thread started again (and to the first, if given before start()). */
  private readonly kept = new Map<string, EngineControl>();

  /** The track table of each room's used frames, as the thread last posted it (it posts one only when it changes). */
  private readonly usedTables = new Map<string, readonly UsedTrack[]>();

  private usedFrame(room: string, rows: ArrayBuffer, table: readonly UsedTrack[] | null): UsedFrame {
    if (table !== null) {
      for (const x of table) Object.freeze(x);
      this.usedTables.set(room, Object.freeze(table));
    }
    const t = this.usedTables.get(room);
    return t === undefined ? EMPTY_USED : new UsedFrame(t, new Float64Array(rows));
  }

  private readonly onEvent = (e: EngineEvent): void => {
    switch (e.t) {
      case 'tick': {
        this.taken = e.index + 1;
        this.lateness[this.ticks++ % LATENESS_WINDOW] = e.late;
        const c = this.counters;
        c.missed = e.missed; c.catchUp = e.catchUp; c.resyncs = e.resyncs; c.ringErrors = e.ringErrors; c.loopTurns = e.loopTurns;
        if (e.tracks) this.lastTracks = e.tracks;
        if (e.heap) this.threadHeap = e.heap;
        const r: MixResult = { seq: e.seq, mix: Buffer.from(e.mix), used: this.usedFrame(DEFAULT_ROOM, e.used, e.usedTable) };
        if (e.users && e.frames) {
          const perUser = new Map<string, Buffer>();
          for (let i = 0; i < e.users.length; i++) perUser.set(e.users[i], e.frames[i] === e.mix ? sharedMix(r.mix) : Buffer.from(e.frames[i]));
          r.perUser = perUser;
        }
        const tables = this.usedTables;
        if (tables.size > 1) {
          // A room no longer mixed is forgotten, as on the thread (tableToPost in mix-engine-worker.ts).
          for (const name of tables.keys()) if (name !== DEFAULT_ROOM && !e.rooms?.some((m) => m.room === name)) tables.delete(name);
        }
        if (e.rooms) {
          r.rooms = [];
          for (const m of e.rooms) {
            const rm: RoomMix = { room: m.room, mix: Buffer.from(m.mix), used: this.usedFrame(m.room, m.used, m.usedTable) };
            if (m.users && m.frames) {
              const perUser = new Map<string, Buffer>();
              for (let i = 0; i < m.users.length; i++) perUser.set(m.users[i], m.frames[i] === m.mix ? sharedMix(rm.mix) : Buffer.from(m.frames[i]));
              rm.perUser = perUser;
            }
            r.rooms.push(rm);
          }
        }
        this.emitSafe('tick', e.index, e.late, e.workMs);
        this.emitSafe('mix', r);
        if (e.tracks) this.emitSafe('tracks', e.tracks);
        break;
      }
      case 'params': this.emitSafe('params', e.params); break;
      case 'meters': {
        if (e.layout !== null || this.layout === null) this.layout = e.layout ?? { layoutId: 0, tracks: [], rooms: [DEFAULT_ROOM] };
        this.emitSafe('meters', Buffer.from(e.frame), this.layout, e.seq);
        break;
      }
      case 'monitors':
        for (let i = 0; i < e.listeners.length; i++) this.emitSafe('monitor', e.listeners[i], Buffer.from(e.frames[i]), e.seq);
        break;
      case 'track-added': case 'track-removed': this.emitSafe(e.t, e.state); break;
      case 'error': this.emit('error', new Error(`mix engine: ${e.message}`)); break;
      case 'stream-events': this.emitSafe('stream-events', e.events, e.leftOut); break;
      case 'priority':
        this.priority = e;
        if (e.error) this.emitSafe('warning', `the mix thread's priority: ${e.realtime !== null ? `SCHED_FIFO ${e.realtime}` : e.nice !== null ? `nice ${e.nice}` : "the process's"}${e.cpus ? `, CPUs ${e.cpus}` : ''} (${e.error}); ticks may run late on a busy core`);
        break;
    }
  };

  private emitSafe(event: string, ...args: unknown[]): void {
    try {
      this.emit(event, ...args);
    } catch (err) {
      if (this.listenerCount('error') > 0) this.emit('error', err);
      else process.nextTick(() => { throw err; });
    }
  }
}

/** A mix engine (not started: call start()). Throws a MixerConfigError naming a bad option. */
export function createMixEngine(opts: MixEngineOptions = {}): MixEngine {
  return new ThreadMixEngine(opts);
}

// Sound devices through naudiodon (PortAudio): list them, pick one by name, capture and play fixed-size f32 frames.
//
// How naudiodon is used, and why:
// - It is loaded lazily (loadBinding), so a machine without a working naudiodon/libasound still runs
//   everything else; using a device there throws DeviceError 'naudiodon_unavailable'.
// - We drive naudiodon's native object (its `create()` with read/write/quit) rather than its AudioIO
//   stream wrapper: the wrapper destroys the stream on the first PortAudio status flag (an underflow
//   after a 500 ms event-loop stall kills it) or, with closeOnError:false, printf()s every flag to
//   stdout. Natively, closeOnError:true only means "hand me the status text with the next
//   read/write"; nothing is closed unless we close it. So xruns are counted, never fatal.
// - Formats are always explicit (f32, rate, channels, framesPerBuffer): naudiodon's defaults are
//   8-bit samples and host-chosen (~85 ms) chunks.
// - Devices are opened by name, resolved to a PortAudio index in this process right before opening.
//   A bare index is never accepted: indexes move when devices come and go, and naudiodon silently
//   opens the default device for an out-of-range one.
// - Listing runs in a child process: PortAudio's enumeration blocks for 0.1 s to seconds, libasound
//   prints its probe failures ("ALSA lib ...") on stderr, and PortAudio V19.6 can abort() the
//   process on some ALSA configurations; a child keeps all three away from the caller.
//
// What cannot be helped (it is native code writing to the process's own stdout/stderr): opening a
// device prints PortAudio's version and the stream options to stdout and the same "ALSA lib ..."
// probe lines to stderr; stopping one prints "Finishing input/output - ..." to stdout.
//
// Threads: each running input device keeps one libuv thread-pool thread waiting for audio almost
// all the time (naudiodon's read blocks in the pool), so with many devices raise UV_THREADPOOL_SIZE
// (default 4) before Node starts.
import { EventEmitter } from 'node:events';
import { spawnSync, execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

export type DeviceErrorCode =
  | 'naudiodon_unavailable' // naudiodon or its native parts (libportaudio, libasound) cannot be loaded
  | 'list_failed' // the device enumeration failed or crashed
  | 'unknown_device' // no device of that direction matches the name
  | 'ambiguous_device' // the name matches more than one device
  | 'bad_option' // an option is out of range; `field` names it
  | 'bad_state' // start() on a running device
  | 'bad_frame' // write() got a frame of the wrong size or type
  | 'open_failed' // PortAudio refused to open or start the stream
  | 'device_failed' // the stream ended or failed while running
  | 'device_stalled'; // no audio moved for stallTimeoutMs while the event loop was responsive

/** Any failure of a sound device; `code` says which, `field` names the option when one is at fault. */
export class DeviceError extends Error {
  constructor(readonly code: DeviceErrorCode, message: string, readonly field?: string) {
    super(message);
    this.name = 'DeviceError';
  }
}

/** One PortAudio device as listed. A duplex device appears in both lists of a DeviceList. */
export interface DeviceInfo {
  /** PortAudio's index when listed: for display only, never used to open a device (indexes move). */
  id: number;
  name: string;
  hostAPIName: string;
  maxInputChannels: number;
  maxOutputChannels: number;
  defaultSampleRate: number;
  /**
   * Latencies in seconds as naudiodon 2.3.6 reports them: truncated to whole seconds (so usually 0);
   * -1 where the direction does not apply.
   */
  defaultLowInputLatency: number;
  defaultLowOutputLatency: number;
  defaultHighInputLatency: number;
  defaultHighOutputLatency: number;
}

export interface DeviceList {
  inputs: DeviceInfo[];
  outputs: DeviceInfo[];
}

export type DeviceDirection = 'input' | 'output';

// ---- the native binding -------------------------------------------------------------------------

interface NativeDeviceInfo {
  id: number; name: string; hostAPIName: string;
  maxInputChannels: number; maxOutputChannels: number; defaultSampleRate: number;
  defaultLowInputLatency: number; defaultLowOutputLatency: number;
  defaultHighInputLatency: number; defaultHighOutputLatency: number;
}

interface NativeStreamOptions {
  deviceId: number; sampleRate: number; channelCount: number; sampleFormat: number;
  framesPerBuffer: number; maxQueue: number; closeOnError: boolean;
}

/** Result of a native read: a buffer, the end of the stream, or a PortAudio status text (that frame's samples are gone). */
interface NativeReadResult { buf?: Buffer; finished?: boolean; err?: string }

interface NativeAudioIO {
  start(): void;
  read(bytes: number): Promise<NativeReadResult>;
  /** Resolves once the chunk is queued (blocking in the thread pool while the queue is full), with a status text if one was pending. */
  write(chunk: Buffer): Promise<string | undefined>;
  /** Releases blocked reads/writes, plays out queued output, then stops and closes the stream. */
  quit(mode: 'WAIT' | 'ABORT'): Promise<void>;
}

interface NaudiodonBinding {
  getDevices(): NativeDeviceInfo[];
  create(options: { inOptions: NativeStreamOptions } | { outOptions: NativeStreamOptions }): NativeAudioIO;
}

/** naudiodon's SampleFormatFloat32. */
const SAMPLE_FORMAT_F32 = 1;
const F32_BYTES = 4;

let binding: NaudiodonBinding | undefined;
let bindingFile: string | undefined;

/** Where the device options stand when naudiodon is missing: why (the load error's message), and how to get it. */
function unavailable(why: string): DeviceError {
  return new DeviceError('naudiodon_unavailable', `sound devices are unavailable: ${why}. ` +
    'They need naudiodon, an optional dependency built against ALSA: install libasound2-dev, then `npm install naudiodon` ' +
    'where xcast is installed (or `npm rebuild naudiodon` when it is there but not built)');
}

/** Path of naudiodon's compiled addon (the module naudiodon's own index.js loads). */
function naudiodonAddonPath(): string {
  if (bindingFile) return bindingFile;
  let root: string;
  try {
    root = path.dirname(require.resolve('naudiodon/package.json'));
  } catch (err) {
    // The message's first line only: the rest is Node's require stack.
    throw unavailable(`naudiodon is not installed (${(err as Error).message.split('\n')[0]})`);
  }
  for (const build of ['Release', 'Debug']) {
    const file = path.join(root, 'build', build, 'naudiodon.node');
    if (fs.existsSync(file)) return (bindingFile = file);
  }
  throw unavailable(`naudiodon at ${root} has no compiled addon (build/Release/naudiodon.node)`);
}

/** The naudiodon addon, loaded on first use; DeviceError 'naudiodon_unavailable' when it cannot load. */
function loadBinding(): NaudiodonBinding {
  if (binding) return binding;
  const file = naudiodonAddonPath();
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    binding = require(file) as NaudiodonBinding;
  } catch (err) {
    throw unavailable(`cannot load naudiodon (${file}): ${(err as Error).message}`);
  }
  return binding;
}

/** naudiodon converts PortAudio's doubles to uint32: -1 ("not applicable") arrives as 4294967295. */
function latency(v: number): number {
  return typeof v === 'number' && v >= 0 && v < 0x7fffffff ? v : -1;
}

function toDeviceInfo(d: NativeDeviceInfo): DeviceInfo {
  return {
    id: d.id,
    name: d.name,
    hostAPIName: d.hostAPIName,
    maxInputChannels: d.maxInputChannels,
    maxOutputChannels: d.maxOutputChannels,
    defaultSampleRate: d.defaultSampleRate,
    defaultLowInputLatency: latency(d.defaultLowInputLatency),
    defaultLowOutputLatency: latency(d.defaultLowOutputLatency),
    defaultHighInputLatency: latency(d.defaultHighInputLatency),
    defaultHighOutputLatency: latency(d.defaultHighOutputLatency),
  };
}

function toDeviceList(devices: NativeDeviceInfo[]): DeviceList {
  const all = devices.map(toDeviceInfo);
  return { inputs: all.filter((d) => d.maxInputChannels > 0), outputs: all.filter((d) => d.maxOutputChannels > 0) };
}

// ---- listing --------------------------------------------------------------------------------------

const LIST_MARK = '@@xcast-devices@@';
const LIST_ERROR_MARK = '@@xcast-devices-error@@';
const LOAD_ERROR_MARK = '@@xcast-devices-load-error@@';
const LIST_TIMEOUT_MS = 20000;

// The child tells a failure to load the addon (no device option can work) from a failure to enumerate.
function listScript(addon: string): string {
  const fail = (mark: string) => `{ process.stderr.write(${JSON.stringify('\n' + mark)} + String(e && e.message || e).split('\\n', 1)[0] + '\\n'); process.exit(1); }`;
  return `let b, d; try { b = require(${JSON.stringify(addon)}); } catch (e) ${fail(LOAD_ERROR_MARK)}` +
    ` try { d = b.getDevices(); } catch (e) ${fail(LIST_ERROR_MARK)}` +
    ` process.stdout.write(${JSON.stringify('\n' + LIST_MARK)} + JSON.stringify(d) + '\\n');`;
}

/** The child's stderr without libasound's probe noise, last lines only: what explains a failure. */
function stderrTail(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('ALSA lib '));
  return lines.slice(-8).join(' | ');
}

function parseListing(addon: string, stdout: string, stderr: string, status: number | null, signal: string | null, error?: Error): DeviceList {
  const at = stdout.lastIndexOf(LIST_MARK);
  if (!error && status === 0 && at >= 0) {
    const json = stdout.slice(at + LIST_MARK.length).split('\n', 1)[0];
    try {
      return toDeviceList(JSON.parse(json) as NativeDeviceInfo[]);
    } catch (err) {
      throw new DeviceError('list_failed', `device list is not valid JSON: ${(err as Error).message}`);
    }
  }
  const loadFailed = stderr.lastIndexOf(LOAD_ERROR_MARK);
  if (!error && loadFailed >= 0) {
    throw unavailable(`cannot load naudiodon (${addon}): ${stderr.slice(loadFailed + LOAD_ERROR_MARK.length).split('\n', 1)[0]}`);
  }
  const why = error ? error.message : signal ? `killed by ${signal}` : `exit code ${status}`;
  const marked = stderr.lastIndexOf(LIST_ERROR_MARK);
  const tail = marked >= 0 ? stderr.slice(marked + LIST_ERROR_MARK.length).split('\n', 1)[0] : stderrTail(stderr);
  throw new DeviceError('list_failed', `listing sound devices failed (${why})${tail ? `: ${tail}` : ''}`);
}

/**
 * The sound devices PortAudio sees, split into inputs and outputs (the seed's getaudiodevices).
 * Enumerates in a child process (blocking this thread ~0.1–0.5 s): libasound's stderr noise is
 * dropped and a PortAudio crash cannot take this process down. Inside a running server prefer
 * listDevicesAsync, which leaves the event loop free.
 */
export function listDevices(): DeviceList {
  const addon = naudiodonAddonPath();
  const r = spawnSync(process.execPath, ['-e', listScript(addon)], {
    env: process.env, encoding: 'utf8', timeout: LIST_TIMEOUT_MS, maxBuffer: 16 << 20, windowsHide: true,
  });
  return parseListing(addon, r.stdout ?? '', r.stderr ?? '', r.status, r.signal, r.error);
}

/** listDevices without blocking the event loop. */
export function listDevicesAsync(): Promise<DeviceList> {
  return new Promise((resolve, reject) => {
    let addon: string;
    try {
      addon = naudiodonAddonPath();
    } catch (err) {
      reject(err);
      return;
    }
    execFile(process.execPath, ['-e', listScript(addon)], {
      env: process.env, encoding: 'utf8', timeout: LIST_TIMEOUT_MS, maxBuffer: 16 << 20, windowsHide: true,
    }, (err, stdout, stderr) => {
      // execFile's error: code = exit status (number), or a string when it could not run; signal when killed.
      const e = err as (Error & { code?: number | string | null; signal?: string | null }) | null;
      const status = !e ? 0 : typeof e.code === 'number' ? e.code : null;
      try {
        resolve(parseListing(addon, stdout, stderr, status, e?.signal ?? null, e && typeof e.code === 'string' ? e : undefined));
      } catch (parseErr) {
        reject(parseErr);
      }
    });
  });
}

/** Enumerates in this process: the indexes that the stream about to be opened here will use. */
function listDevicesHere(b: NaudiodonBinding): DeviceList {
  try {
    return toDeviceList(b.getDevices());
  } catch (err) {
    throw new DeviceError('list_failed', `listing sound devices failed: ${(err as Error).message}`);
  }
}

const quoteNames = (list: DeviceInfo[]): string => list.map((d) => `"${d.name}"`).join(', ');

/**
 * The one device of `direction` called `name`: an exact match first, else the one device whose name
 * contains `name` ignoring case. Never by index. DeviceError 'unknown_device' or 'ambiguous_device'
 * (the message lists the candidates). `devices` defaults to listDevices().
 */
export function resolveDevice(name: string, direction: DeviceDirection, devices?: DeviceList): DeviceInfo {
  if (typeof name !== 'string' || name.trim() === '') {
    throw new DeviceError('bad_option', 'deviceName: a device name is required (devices are chosen by name, never by index)', 'deviceName');
  }
  const all = devices ?? listDevices();
  const list = direction === 'input' ? all.inputs : all.outputs;
  const exact = list.filter((d) => d.name === name);
  if (exact.length === 1) return exact[0];
  const needle = name.trim().toLowerCase();
  const matches = exact.length > 1 ? exact : list.filter((d) => d.name.toLowerCase().includes(needle));
  if (matches.length === 1) return matches[0];
  if (matches.length > 1) {
    throw new DeviceError('ambiguous_device',
      `${direction} device "${name}" is ambiguous: it matches ${quoteNames(matches)}; give more of the name`, 'deviceName');
  }
  const other = (direction === 'input' ? all.outputs : all.inputs).filter((d) => d.name.toLowerCase().includes(needle));
  const hint = other.length ? ` (${quoteNames(other)} ${other.length === 1 ? 'is an' : 'are'} ${direction === 'input' ? 'output' : 'input'} device${other.length === 1 ? '' : 's'})` : '';
  throw new DeviceError('unknown_device',
    `no ${direction} device matches "${name}"${hint}; ${direction} devices: ${list.length ? quoteNames(list) : '(none)'}`, 'deviceName');
}

// ---- options ----------------------------------------------------------------------------------------

function intOption(value: unknown, field: string, def: number, min: number, max: number): number {
  const v = value === undefined ? def : value;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new DeviceError('bad_option', `${field}: ${String(v)} is not a whole number from ${min} to ${max}`, field);
  }
  return v;
}

interface StreamFormat { deviceName: string; sampleRate: number; channels: number; framesPerBuffer: number }

function streamFormat(opts: { deviceName: string; sampleRate?: number; channels?: number; framesPerBuffer?: number }): StreamFormat {
  if (!opts || typeof opts.deviceName !== 'string' || opts.deviceName.trim() === '') {
    throw new DeviceError('bad_option', 'deviceName: a device name is required (devices are chosen by name, never by index)', 'deviceName');
  }
  return {
    deviceName: opts.deviceName,
    sampleRate: intOption(opts.sampleRate, 'sampleRate', 48000, 8000, 384000),
    channels: intOption(opts.channels, 'channels', 2, 1, 64),
    framesPerBuffer: intOption(opts.framesPerBuffer, 'framesPerBuffer', 480, 16, 16384),
  };
}

/** Opens and starts a stream on the resolved device; DeviceError 'open_failed' naming the device otherwise. */
function openStream(b: NaudiodonBinding, direction: DeviceDirection, info: DeviceInfo, opts: NativeStreamOptions): NativeAudioIO {
  let io: NativeAudioIO;
  try {
    io = b.create(direction === 'input' ? { inOptions: opts } : { outOptions: opts });
  } catch (err) {
    throw new DeviceError('open_failed', `cannot open ${direction} device "${info.name}" at ${opts.sampleRate} Hz, ${opts.channelCount} ch, f32: ${(err as Error).message}`);
  }
  try {
    io.start();
  } catch (err) {
    void io.quit('ABORT').catch(() => undefined);
    throw new DeviceError('open_failed', `cannot start ${direction} device "${info.name}": ${(err as Error).message}`);
  }
  return io;
}

/** PortAudio's status text ("portAudio status - input overflow ") without the prefix. */
function statusKind(s: string): string {
  return s.replace(/^portAudio status - /, '').trim() || s;
}

const STOP_TIMEOUT_MS = 5000;

/**
 * Output streams whose device stopped taking audio. naudiodon's quit() would wait for the driver to
 * take the rest (for ever, so a libuv thread would stay blocked), and dropping the native object
 * would free memory its audio thread still uses; so they are kept here, neither quit nor freed.
 */
const abandoned = new Set<NativeAudioIO>();
/** A queued frame not taken by the driver for this long means the output device stopped. */
const DEAD_AFTER_MS = 500;

/** Resolves when `p` settles or after `ms`, whichever is first (a wedged native stream must not hang stop()). */
function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref();
    p.then(() => { clearTimeout(t); resolve(); }, () => { clearTimeout(t); resolve(); });
  });
}

/** An exception thrown by a listener surfaces as an uncaught exception, as from any emitter, without ending the stream. */
function rethrowLater(err: unknown): void {
  process.nextTick(() => { throw err; });
}

// ---- input ------------------------------------------------------------------------------------------

/** What every device stream is opened with. */
export interface DeviceStreamOptions {
  /** Device name: exact, or a unique case-insensitive part of it. */
  deviceName: string;
  sampleRate?: number; // default 48000
  channels?: number; // default 2
}

export interface AudioInputOptions extends DeviceStreamOptions {
  /** Frames (samples per channel) in each 'frame' event; default 480 (10 ms at 48 kHz). */
  framesPerBuffer?: number;
  /** Audio the device keeps while this process is too busy to take it (event-loop stalls); default 2000 ms. */
  maxBacklogMs?: number;
  /** 'error' device_stalled after this long without audio while the event loop was responsive; default 2000 ms, 0 = never. */
  stallTimeoutMs?: number;
}

export interface AudioInputStats {
  running: boolean;
  /** Frames emitted (including the silent ones standing in for lost frames). */
  frames: number;
  /** PortAudio status reports (input overflow …); each cost the samples of one frame. */
  xruns: number;
  /** Frames whose samples PortAudio discarded with a status report; emitted as silence to keep the count. */
  lostFrames: number;
  /** Times the stall watchdog fired. */
  stalls: number;
}

/**
 * Captures from a sound device and emits 'frame'(pcm: Buffer): interleaved f32le, exactly
 * framesPerBuffer × channels samples, a new Buffer each time (the receiver may keep it). The device's
 * clock drives the timing. After an event-loop stall the frames captured meanwhile (up to
 * maxBacklogMs) arrive back to back, none lost. Emits 'error'(DeviceError) when the stream fails or
 * stalls, and 'xrun'(kind: string) for each PortAudio status report (the stream goes on).
 */
export class AudioInputDevice extends EventEmitter {
  readonly deviceName: string;
  readonly sampleRate: number;
  readonly channels: number;
  readonly framesPerBuffer: number;
  /** Bytes in one frame: framesPerBuffer × channels × 4. */
  readonly frameBytes: number;
  /** The device opened by start(). */
  device: DeviceInfo | undefined;
  private readonly maxQueue: number;
  private readonly stallTimeoutMs: number;
  private io: NativeAudioIO | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private lastFrameAt = 0;
  private lastCheckAt = 0;
  private stalled = false;
  private partial: Buffer | null = null;
  private partialBytes = 0;
  private readonly counters = { frames: 0, xruns: 0, lostFrames: 0, stalls: 0 };

  constructor(opts: AudioInputOptions) {
    super();
    const f = streamFormat(opts);
    this.deviceName = f.deviceName;
    this.sampleRate = f.sampleRate;
    this.channels = f.channels;
    this.framesPerBuffer = f.framesPerBuffer;
    this.frameBytes = f.framesPerBuffer * f.channels * F32_BYTES;
    const frameMs = (f.framesPerBuffer * 1000) / f.sampleRate;
    const backlogMs = intOption(opts.maxBacklogMs, 'maxBacklogMs', 2000, 50, 60000);
    // naudiodon queues whole PortAudio buffers; once its queue is full the audio callback blocks and the device overruns.
    this.maxQueue = Math.max(4, Math.ceil(backlogMs / frameMs));
    this.stallTimeoutMs = intOption(opts.stallTimeoutMs, 'stallTimeoutMs', 2000, 0, 3600000);
  }

  get running(): boolean {
    return this.io !== null;
  }

  stats(): AudioInputStats {
    return { running: this.running, ...this.counters };
  }

  /** Resolves the device by name and starts capturing; throws DeviceError (unknown/ambiguous name, open failure). */
  start(): void {
    if (this.io) throw new DeviceError('bad_state', `input device "${this.deviceName}" is already running`);
    const b = loadBinding();
    const info = resolveDevice(this.deviceName, 'input', listDevicesHere(b));
    if (this.channels > info.maxInputChannels) {
      throw new DeviceError('bad_option', `channels: input device "${info.name}" has ${info.maxInputChannels} channel(s), ${this.channels} asked`, 'channels');
    }
    const io = openStream(b, 'input', info, {
      deviceId: info.id, sampleRate: this.sampleRate, channelCount: this.channels, sampleFormat: SAMPLE_FORMAT_F32,
      framesPerBuffer: this.framesPerBuffer, maxQueue: this.maxQueue, closeOnError: true,
    });
    this.device = info;
    this.io = io;
    this.partial = null;
    this.partialBytes = 0;
    this.stalled = false;
    this.lastFrameAt = this.lastCheckAt = performance.now();

    // One read in flight at a time (naudiodon's reads are not safe to overlap); the next is issued
    // before this one's frame is emitted, so listeners run while the device fills the next frame.
    const onRead = (r: NativeReadResult): void => {
      if (this.io !== io) return; // stopped (or restarted): whatever this read returned is dropped
      if (r.err !== undefined) {
        io.read(this.frameBytes).then(onRead, onFail);
        this.counters.xruns++;
        this.counters.lostFrames++;
        this.emitSafely('xrun', statusKind(r.err));
        this.emitFrame(Buffer.alloc(this.frameBytes));
        return;
      }
      if (r.finished || !r.buf) {
        this.fail(new DeviceError('device_failed', `input device "${info.name}": the stream ended while running`));
        return;
      }
      io.read(this.frameBytes).then(onRead, onFail);
      if (r.buf.length === this.frameBytes && this.partialBytes === 0) this.emitFrame(r.buf);
      else this.rechunk(r.buf);
    };
    const onFail = (err: unknown): void => {
      if (this.io !== io) return;
      this.fail(new DeviceError('device_failed', `input device "${info.name}": read failed: ${(err as Error)?.message ?? String(err)}`));
    };
    io.read(this.frameBytes).then(onRead, onFail);

    if (this.stallTimeoutMs > 0) {
      this.watchdog = setInterval(this.checkStall, Math.min(250, this.stallTimeoutMs));
      this.watchdog.unref();
    }
  }

  /** Stops capturing and closes the device; resolves when it is closed (within ~5 s even if the driver hangs). */
  async stop(): Promise<void> {
    const io = this.io;
    if (!io) return;
    this.io = null;
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    // ABORT: nothing to play out, and PortAudio's polite stop waits ~20 s for a device that died.
    await settleWithin(io.quit('ABORT'), STOP_TIMEOUT_MS);
  }

  private emitFrame(buf: Buffer): void {
    this.lastFrameAt = performance.now();
    this.stalled = false;
    this.counters.frames++;
    this.emitSafely('frame', buf);
  }

  private emitSafely(event: string, arg: unknown): void {
    try {
      this.emit(event, arg);
    } catch (err) {
      rethrowLater(err);
    }
  }

  /** Cuts reads of another size into whole frames (naudiodon returns exactly what was asked, so this is a safety net). */
  private rechunk(buf: Buffer): void {
    let off = 0;
    while (off < buf.length) {
      if (!this.partial) this.partial = Buffer.allocUnsafe(this.frameBytes);
      const n = Math.min(this.frameBytes - this.partialBytes, buf.length - off);
      buf.copy(this.partial, this.partialBytes, off, off + n);
      this.partialBytes += n;
      off += n;
      if (this.partialBytes === this.frameBytes) {
        const frame = this.partial;
        this.partial = null; // handed on: never written again
        this.partialBytes = 0;
        this.emitFrame(frame);
      }
    }
  }

  private readonly checkStall = (): void => {
    const now = performance.now();
    const interval = Math.min(250, this.stallTimeoutMs);
    const late = now - this.lastCheckAt - interval;
    this.lastCheckAt = now;
    // This timer itself ran late: the event loop was stalled and the frames may be queued behind it.
    if (late > interval) {
      this.lastFrameAt = now;
      return;
    }
    if (!this.stalled && this.io && now - this.lastFrameAt > this.stallTimeoutMs) {
      this.stalled = true;
      this.counters.stalls++;
      this.emitSafely('error', new DeviceError('device_stalled',
        `input device "${this.device?.name ?? this.deviceName}": no audio for ${Math.round(now - this.lastFrameAt)} ms`));
    }
  };

  private fail(err: DeviceError): void {
    void this.stop();
    this.emitSafely('error', err);
  }
}

// ---- output -----------------------------------------------------------------------------------------

export interface AudioOutputOptions extends DeviceStreamOptions {
  /** Frames (samples per channel) in each write(); default 480 (10 ms at 48 kHz). */
  framesPerBuffer?: number;
  /**
   * Lead, in frames, the device keeps ahead of the writer to absorb its timing jitter: queued as
   * silence at start(), restored when a writer starts or resumes; default 2 (20 ms at 480/48 kHz).
   */
  prefillFrames?: number;
  /** write() drops frames (returns false) once this much audio is queued; default 200 ms (at least prefill + 2 frames). */
  maxQueuedMs?: number;
  /** 'error' device_stalled when queued frames are not taken for this long; default 2000 ms, 0 = never. */
  stallTimeoutMs?: number;
}

export interface AudioOutputStats {
  running: boolean;
  /** Frames accepted from write(). */
  written: number;
  /** Frames write() refused (queue full, or not running). */
  dropped: number;
  /** Silent frames the device queued itself because nothing was written in time. */
  filled: number;
  /** Times the queue (by the clock estimate) ran dry: the device probably played a gap. */
  underruns: number;
  /** PortAudio status reports (output underflow …). */
  xruns: number;
  /** Frames queued now (estimate). */
  queuedFrames: number;
}

/**
 * Plays f32 frames on a sound device. The caller (a node with a playout buffer and a clock) calls
 * write() once per tick with one frame of framesPerBuffer × channels interleaved f32 samples; the
 * Buffer is copied at once, so the caller may reuse it.
 *
 * Back-pressure and underrun: the device consumes on its own clock. The queue between writer and
 * device (tracked from the wall clock: naudiodon does not report the device's position) starts with
 * prefillFrames of silence, and a writer that starts or resumes after a pause is given that lead
 * again (silence queued before its first frame). A writer running ahead fills it: once maxQueuedMs is queued, write()
 * returns false and drops the frame (latency stays bounded; the writer's playout buffer should
 * slow down). A writer falling behind or stopping drains it: when less than half a frame is left
 * the device queues silence up to prefillFrames itself (counted in `filled`), so the device plays
 * silence rather than starving. During an event-loop stall longer than the queue nothing can be
 * queued and the device underruns (counted in `underruns`); what it then plays depends on the
 * backend (ALSA hardware: silence after an xrun; the ALSA JACK plugin: the last buffer again).
 * A device whose clock runs faster than ours reports 'output underflow' now and then; the model
 * then restarts from an empty queue and the device tops it up again.
 *
 * latencyMs = what the device reports (naudiodon truncates it to whole seconds, so usually 0) +
 * the audio queued here. Emits 'xrun'(kind) on PortAudio status reports and 'error'(DeviceError) on
 * a failed or stalled stream (only when someone listens for 'error'; always kept in lastError).
 */
export class AudioOutputDevice extends EventEmitter {
  readonly deviceName: string;
  readonly sampleRate: number;
  readonly channels: number;
  readonly framesPerBuffer: number;
  /** Bytes in one frame: framesPerBuffer × channels × 4. */
  readonly frameBytes: number;
  /** The device opened by start(). */
  device: DeviceInfo | undefined;
  /** The last failure, also when nobody listened for 'error'. */
  lastError: DeviceError | undefined;
  private readonly frameMs: number;
  private readonly prefillFrames: number;
  private readonly maxQueuedFrames: number;
  private readonly stallTimeoutMs: number;
  private readonly silence: Buffer;
  private io: NativeAudioIO | null = null;
  private stopping: Promise<void> | null = null;
  private drained: (() => void) | null = null;
  // Frames not yet handed to naudiodon, in order (one native write in flight at a time keeps them in order).
  private readonly pending: Array<Buffer | undefined>;
  private head = 0;
  private count = 0;
  private inFlight = false;
  private onWritten: ((status: string | undefined) => void) | null = null;
  private onWriteFailed: ((err: unknown) => void) | null = null;
  // Queue model: frames queued so far vs. frames the device has played since `anchor` (ms, performance.now()).
  private queuedTotal = 0;
  private anchor = 0;
  private lastAcceptedAt = 0;
  private lastWriteAt = -Infinity;
  private lastTickAt = 0;
  private stalled = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly tickMs: number;
  private readonly counters = { written: 0, dropped: 0, filled: 0, underruns: 0, xruns: 0 };

  constructor(opts: AudioOutputOptions) {
    super();
    const f = streamFormat(opts);
    this.deviceName = f.deviceName;
    this.sampleRate = f.sampleRate;
    this.channels = f.channels;
    this.framesPerBuffer = f.framesPerBuffer;
    this.frameBytes = f.framesPerBuffer * f.channels * F32_BYTES;
    this.frameMs = (f.framesPerBuffer * 1000) / f.sampleRate;
    this.prefillFrames = intOption(opts.prefillFrames, 'prefillFrames', 2, 1, 1000);
    const maxQueuedMs = intOption(opts.maxQueuedMs, 'maxQueuedMs', 200, 1, 60000);
    this.maxQueuedFrames = Math.max(this.prefillFrames + 2, Math.ceil(maxQueuedMs / this.frameMs));
    this.stallTimeoutMs = intOption(opts.stallTimeoutMs, 'stallTimeoutMs', 2000, 0, 3600000);
    this.pending = new Array<Buffer | undefined>(this.maxQueuedFrames + this.prefillFrames + 1);
    this.silence = Buffer.alloc(this.frameBytes); // shared by every silent frame: never written to
    this.tickMs = Math.max(2, this.frameMs / 2);
  }

  get running(): boolean {
    return this.io !== null;
  }

  /** Device-reported output latency + audio queued here, in ms. */
  get latencyMs(): number {
    const device = this.device && this.device.defaultLowOutputLatency > 0 ? this.device.defaultLowOutputLatency * 1000 : 0;
    return device + (this.io ? this.queuedFrames(performance.now()) * this.frameMs : 0);
  }

  stats(): AudioOutputStats {
    return { running: this.running, ...this.counters, queuedFrames: this.io ? this.queuedFrames(performance.now()) : 0 };
  }

  /** Resolves the device by name, queues prefillFrames of silence and starts playing; throws DeviceError. */
  start(): void {
    if (this.io) throw new DeviceError('bad_state', `output device "${this.deviceName}" is already running`);
    const b = loadBinding();
    const info = resolveDevice(this.deviceName, 'output', listDevicesHere(b));
    if (this.channels > info.maxOutputChannels) {
      throw new DeviceError('bad_option', `channels: output device "${info.name}" has ${info.maxOutputChannels} channel(s), ${this.channels} asked`, 'channels');
    }
    const io = openStream(b, 'output', info, {
      deviceId: info.id, sampleRate: this.sampleRate, channelCount: this.channels, sampleFormat: SAMPLE_FORMAT_F32,
      framesPerBuffer: this.framesPerBuffer,
      // Room beyond what the model lets in, so a native write does not block a thread-pool thread
      // unless the device really stopped taking audio.
      maxQueue: this.maxQueuedFrames + this.prefillFrames + 8,
      closeOnError: true,
    });
    this.device = info;
    this.io = io;
    this.head = 0;
    this.count = 0;
    this.pending.fill(undefined);
    this.inFlight = false;
    this.stalled = false;
    this.onWritten = (status) => {
      if (this.io !== io) return;
      this.inFlight = false;
      this.lastAcceptedAt = performance.now();
      this.stalled = false;
      if (status) {
        this.counters.xruns++;
        // The device really ran dry (its clock may run faster than ours): the queue is empty now.
        if (/output underflow/.test(status)) this.anchor = performance.now() - this.queuedTotal * this.frameMs;
        this.emitSafely('xrun', statusKind(status));
      }
      this.pump();
      if (this.drained && this.count === 0 && !this.inFlight) this.drained();
    };
    this.onWriteFailed = (err) => {
      if (this.io !== io) return;
      this.fail(new DeviceError('device_failed', `output device "${info.name}": write failed: ${(err as Error)?.message ?? String(err)}`));
    };
    const now = performance.now();
    this.anchor = now;
    this.queuedTotal = 0;
    this.lastAcceptedAt = this.lastTickAt = now;
    this.lastWriteAt = -Infinity;
    for (let i = 0; i < this.prefillFrames; i++) this.enqueue(this.silence);
    this.timer = setInterval(this.tick, this.tickMs);
    this.timer.unref();
  }

  /**
   * Queues one frame (exactly frameBytes of interleaved f32le; copied at once). false when dropped:
   * the queue holds maxQueuedMs already, or the device is not running. Throws DeviceError 'bad_frame'
   * for a wrong size.
   */
  write(pcm: Buffer): boolean {
    if (!Buffer.isBuffer(pcm) || pcm.length !== this.frameBytes) {
      throw new DeviceError('bad_frame', `write: a frame is a Buffer of ${this.frameBytes} bytes ` +
        `(${this.framesPerBuffer} frames × ${this.channels} channels × 4-byte f32), got ${Buffer.isBuffer(pcm) ? `${pcm.length} bytes` : typeof pcm}`);
    }
    if (!this.io || this.stopping || this.count === this.pending.length || this.queuedFrames(performance.now()) >= this.maxQueuedFrames) {
      this.counters.dropped++;
      return false;
    }
    // A writer starting (or resuming after a pause) gets prefillFrames of lead, whatever the phase of
    // its clock against start(): the lead is what absorbs its tick jitter from then on.
    const now = performance.now();
    if (now - this.lastWriteAt > 2 * this.frameMs) {
      while (this.queuedFrames(now) < this.prefillFrames && this.count < this.pending.length - 1) {
        this.counters.filled++;
        this.enqueue(this.silence);
      }
    }
    this.lastWriteAt = now;
    this.counters.written++;
    this.enqueue(pcm);
    return true;
  }

  /**
   * Stops playing and closes the device: what was written plays out first (at most maxQueuedMs), then
   * the stream closes. Resolves when closed (within ~5 s even if the driver hangs).
   */
  stop(): Promise<void> {
    return this.close(true);
  }

  private close(drain: boolean): Promise<void> {
    if (this.stopping) return this.stopping;
    const io = this.io;
    if (!io) return Promise.resolve();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.stopping = (async () => {
      if (drain && !this.looksDead() && (this.count > 0 || this.inFlight)) {
        await settleWithin(new Promise<void>((resolve) => { this.drained = resolve; }), STOP_TIMEOUT_MS);
      }
      const dead = this.looksDead();
      this.drained = null;
      this.io = null;
      this.pending.fill(undefined);
      this.count = 0;
      if (dead) abandoned.add(io);
      else await settleWithin(io.quit('WAIT'), STOP_TIMEOUT_MS);
      this.stopping = null;
    })();
    return this.stopping;
  }

  /** The driver has not taken a frame for a while although one is waiting: the device stopped. */
  private looksDead(): boolean {
    return this.stalled || (this.inFlight && performance.now() - this.lastAcceptedAt > DEAD_AFTER_MS);
  }

  /** Frames queued and not yet played, by the wall clock; re-anchors (and counts an underrun) when the model ran dry. */
  private queuedFrames(now: number): number {
    const q = this.queuedTotal - (now - this.anchor) / this.frameMs;
    if (q >= 0) return q;
    if (q < -0.5) this.counters.underruns++;
    this.anchor = now - this.queuedTotal * this.frameMs;
    return 0;
  }

  private enqueue(buf: Buffer): void {
    this.pending[(this.head + this.count) % this.pending.length] = buf;
    this.count++;
    this.queuedTotal++;
    this.pump();
  }

  private pump(): void {
    const io = this.io;
    if (!io || this.inFlight || this.count === 0) return;
    const buf = this.pending[this.head] as Buffer;
    this.pending[this.head] = undefined;
    this.head = (this.head + 1) % this.pending.length;
    this.count--;
    this.inFlight = true;
    io.write(buf).then(this.onWritten!, this.onWriteFailed!); // naudiodon copies buf before write() returns
  }

  private readonly tick = (): void => {
    const now = performance.now();
    const late = now - this.lastTickAt - this.tickMs;
    this.lastTickAt = now;
    if (!this.io) return;
    // Keep the device fed when the writer is late or idle. Below half a frame the device is about to
    // run dry (the model counts up to the DAC, so its own buffer is included); a higher mark would
    // insert silence on ordinary tick jitter of the writer.
    if (this.queuedFrames(now) < 0.5 && this.count < this.pending.length) {
      while (this.queuedFrames(now) < this.prefillFrames && this.count < this.pending.length) {
        this.counters.filled++;
        this.enqueue(this.silence);
      }
    }
    if (this.stallTimeoutMs <= 0) return;
    // After an event-loop stall the driver's answers may be queued behind this timer: start counting afresh.
    if (late > Math.max(this.tickMs, 50)) {
      this.lastAcceptedAt = now;
      return;
    }
    if (!this.stalled && this.inFlight && now - this.lastAcceptedAt > this.stallTimeoutMs) {
      this.stalled = true;
      this.report(new DeviceError('device_stalled',
        `output device "${this.device?.name ?? this.deviceName}": the driver has taken no audio for ${Math.round(now - this.lastAcceptedAt)} ms`));
    }
  };

  private emitSafely(event: string, arg: unknown): void {
    try {
      this.emit(event, arg);
    } catch (err) {
      rethrowLater(err);
    }
  }

  private report(err: DeviceError): void {
    this.lastError = err;
    if (this.listenerCount('error') > 0) this.emitSafely('error', err);
  }

  private fail(err: DeviceError): void {
    void this.close(false);
    this.report(err);
  }
}

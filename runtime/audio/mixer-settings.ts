// The mixer's settings that control messages set (gain, pan, mute per userId, the master gain), kept across a
// redeploy, a restart of Node-RED and a SIGKILL.
//
// Where: a small JSON file per mixer node (written atomically: a temporary file beside it, fsync, rename — a crash
// leaves the old file or the new one, never half of one), or any other backend with the same two calls (the mixer
// node uses Node-RED's node context in a persistent store when one is named). When: at most every `delayMs` (200 ms)
// after a change — a fader moved by a dashboard sends tens of messages a second, and one write follows them — and at
// once when the node closes (a redeploy). A SIGKILL loses at most the last `delayMs` of changes.
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_ROOM, isRoomName } from '../rooms';

export interface UserMixSettings {
  gain?: number;
  pan?: number;
  muted?: boolean;
}

/** What is kept: per user what a control message set, and the master gain with the configured one it replaced. */
export interface MixerSettingsState {
  version: 1;
  /** The master gain a 'master' control set; with `configMaster`, the node's configured master gain at the time. */
  master?: number;
  configMaster?: number;
  users: Record<string, UserMixSettings>;
  /** Masters of rooms other than 'main' that a 'master' control with msg.room set (issue 12). */
  rooms?: Record<string, number>;
}

/** Where the state is read and written. `load` may be asynchronous (a context store); `save` is given a fresh copy. */
export interface SettingsBackend {
  load(): MixerSettingsState | null | Promise<MixerSettingsState | null>;
  save(state: MixerSettingsState): void | Promise<void>;
}

/** Users kept at most: a flood of userIds in control messages cannot grow the file without bound. */
export const MAX_SAVED_USERS = 4096;
/** Room masters kept at most (the mixer's own bound, MAX_ROOM_MASTERS). */
export const MAX_SAVED_ROOMS = 1024;

function defineOwn<T>(o: Record<string, T>, k: string, v: T): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** The state read back, checked field by field: a value that is not a valid control is left out, not applied. */
export function checkSettingsState(v: unknown): MixerSettingsState {
  const out: MixerSettingsState = { version: 1, users: Object.create(null) as Record<string, UserMixSettings> };
  if (!v || typeof v !== 'object') return out;
  const o = v as Record<string, unknown>;
  const finiteGain = (g: unknown) => typeof g === 'number' && Number.isFinite(g) && g >= 0;
  if (finiteGain(o.master)) out.master = o.master as number;
  if (finiteGain(o.configMaster)) out.configMaster = o.configMaster as number;
  const users = o.users;
  if (users && typeof users === 'object') {
    let n = 0;
    for (const [u, s] of Object.entries(users as Record<string, unknown>)) {
      if (n++ >= MAX_SAVED_USERS) break;
      if (!s || typeof s !== 'object') continue;
      const x = s as Record<string, unknown>;
      const e: UserMixSettings = {};
      if (finiteGain(x.gain)) e.gain = x.gain as number;
      if (typeof x.pan === 'number' && x.pan >= -1 && x.pan <= 1) e.pan = x.pan;
      if (typeof x.muted === 'boolean') e.muted = x.muted;
      if (Object.keys(e).length) Object.defineProperty(out.users, u, { value: e, enumerable: true, writable: true, configurable: true });
    }
  }
  // Room masters: a room name (not 'main', whose master is `master`) and a valid gain, else left out.
  const rooms = o.rooms;
  if (rooms && typeof rooms === 'object') {
    let n = 0;
    for (const [r, g] of Object.entries(rooms as Record<string, unknown>)) {
      if (n >= MAX_SAVED_ROOMS) break;
      if (r === DEFAULT_ROOM || !isRoomName(r) || !finiteGain(g)) continue;
      defineOwn((out.rooms ??= Object.create(null) as Record<string, number>), r, g as number);
      n++;
    }
  }
  return out;
}

/** A JSON file, replaced atomically (temporary file, fsync, rename, fsync of the directory). */
export class JsonFileBackend implements SettingsBackend {
  constructor(readonly file: string) {}

  load(): MixerSettingsState | null {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    return checkSettingsState(JSON.parse(text));
  }

  save(state: MixerSettingsState): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.writeSync(fd, `${JSON.stringify(state)}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file);
    try {
      const d = fs.openSync(path.dirname(this.file), 'r');
      try { fs.fsyncSync(d); } finally { fs.closeSync(d); }
    } catch { /* a directory that cannot be fsynced (some filesystems): the rename is still atomic */ }
  }
}

/**
 * The settings a mixer's controls made, saved through a backend at most every `delayMs` after a change and at
 * once on flush(). Errors of the backend go to `onError` (once per different message), never thrown at a control.
 */
export class MixerSettingsStore {
  private state: MixerSettingsState = { version: 1, users: Object.create(null) as Record<string, UserMixSettings> };
  private timer: NodeJS.Timeout | null = null;
  private dirty = false;
  private lastError = '';
  /** Saves made (for tests and the status). */
  saves = 0;

  constructor(private readonly backend: SettingsBackend, private readonly opts: { delayMs?: number; onError?: (err: Error) => void; onSaved?: () => void } = {}) {}

  /** Reads what was kept (null: nothing yet); the store starts from it. */
  async load(): Promise<MixerSettingsState | null> {
    const s = await this.backend.load();
    if (s === null || s === undefined) return null;
    const checked = checkSettingsState(s);
    // Changes made before the load finished win over what was kept.
    for (const [u, v] of Object.entries(this.state.users)) checked.users[u] = { ...checked.users[u], ...v };
    if (this.state.master !== undefined) { checked.master = this.state.master; checked.configMaster = this.state.configMaster; }
    for (const [r, g] of Object.entries(this.state.rooms ?? {})) defineOwn((checked.rooms ??= Object.create(null) as Record<string, number>), r, g);
    this.state = checked;
    return checked;
  }

  setUser(userId: string, change: UserMixSettings): void {
    const users = this.state.users;
    let u = Object.prototype.hasOwnProperty.call(users, userId) ? users[userId] : undefined;
    if (u === undefined) {
      if (Object.keys(users).length >= MAX_SAVED_USERS) return;
      u = {};
      Object.defineProperty(users, userId, { value: u, enumerable: true, writable: true, configurable: true });
    }
    Object.assign(u, change);
    this.changed();
  }

  setMaster(master: number, configMaster: number): void {
    this.state.master = master;
    this.state.configMaster = configMaster;
    this.changed();
  }

  /** A room's master (a room other than 'main'; the mixer checked the name). */
  setRoomMaster(room: string, master: number): void {
    const rooms = (this.state.rooms ??= Object.create(null) as Record<string, number>);
    if (!Object.prototype.hasOwnProperty.call(rooms, room) && Object.keys(rooms).length >= MAX_SAVED_ROOMS) return;
    defineOwn(rooms, room, master);
    this.changed();
  }

  /** Writes now if anything changed since the last write (a close, a redeploy). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.dirty) this.write();
  }

  /** Stops the timer without writing. */
  close(): void {
    this.flush();
  }

  private changed(): void {
    this.dirty = true;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.write();
    }, this.opts.delayMs ?? 200);
    this.timer.unref?.();
  }

  private write(): void {
    this.dirty = false;
    const copy = JSON.parse(JSON.stringify(this.state)) as MixerSettingsState;
    const fail = (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      if (e.message !== this.lastError) { this.lastError = e.message; this.opts.onError?.(e); }
    };
    try {
      const r = this.backend.save(copy);
      if (r && typeof (r as Promise<void>).then === 'function') {
        (r as Promise<void>).then(() => { this.saves++; this.opts.onSaved?.(); }, fail);
      } else {
        this.saves++;
        this.opts.onSaved?.();
      }
    } catch (err) {
      fail(err);
    }
  }
}

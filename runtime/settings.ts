// xcast's settings, the one place they are read: Node-RED's `settings.xcast` with XCAST_* environment variables over it, each checked.
//
// A node passes RED.settings; the launcher puts its own `xcast` object there. The environment wins so that one run
// (a bench probe, a test) can change a setting without editing settings.js. A bad value, or a key that is not a
// setting (a typo), is refused with a SettingsError naming the setting and where it came from.
import os from 'node:os';

export interface XcastSettings {
  /** CPUs the mixer's thread may run on, a taskset list ("0", "2-3"), or null: the process's. */
  readonly mixCpus: string | null;
  /** The mix thread's young generation (V8 semi-spaces), MB: bigger means rarer scavenges on that thread. */
  readonly mixYoungGenerationMb: number;
  /** Opus encoder threads for an encode node whose Threads field is blank: a count, or 'auto'. */
  readonly encodeWorkers: number | 'auto';
}

export class SettingsError extends Error {
  readonly code = 'bad_setting';
  /** `where` is `settings.xcast.<name>` or the environment variable that held the value. */
  constructor(readonly setting: keyof XcastSettings | string, readonly where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'SettingsError';
  }
}

interface Definition<K extends keyof XcastSettings> {
  env: string;
  def: XcastSettings[K];
  /** The value from settings.js (any JSON-ish value) or the environment (a string); throws a message. */
  parse(raw: unknown): XcastSettings[K];
  doc: string;
}

type Definitions = { [K in keyof XcastSettings]: Definition<K> };

function intIn(raw: unknown, min: number, max: number): number {
  const v = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw.trim()) : NaN;
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${JSON.stringify(raw)} is not a whole number from ${min} to ${max}`);
  return v;
}

/** Every setting: its environment variable, default and check. The README's table lists the same. */
export const SETTINGS: Definitions = {
  mixCpus: {
    env: 'XCAST_MIX_CPUS',
    def: null,
    parse(raw) {
      if (raw === null || raw === '') return null;
      const s = String(raw).trim();
      if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(s)) throw new Error(`${JSON.stringify(raw)} is not a CPU list such as 0, 2-3 or 0,2`);
      return s;
    },
    doc: "CPUs the mixer's thread may run on (Linux, through util-linux taskset)",
  },
  mixYoungGenerationMb: {
    env: 'XCAST_MIX_YOUNG_MB',
    def: 96,
    parse: (raw) => intIn(raw, 1, 4096),
    doc: "the mix thread's young generation, MB (V8 resourceLimits.maxYoungGenerationSizeMb)",
  },
  encodeWorkers: {
    env: 'XCAST_ENCODE_WORKERS',
    def: 0,
    parse: (raw) => (raw === 'auto' ? 'auto' : intIn(raw, 0, 16)),
    doc: 'Opus encoder threads for an encode node whose Threads field is blank: 0 to 16, or auto',
  },
};

/**
 * The settings from Node-RED's settings object (its `xcast` property; absent: every default) with the environment
 * over them. Throws a SettingsError naming the setting.
 */
export function readSettings(nodeRedSettings?: object | null, env: NodeJS.ProcessEnv = process.env): XcastSettings {
  const given = (nodeRedSettings as { xcast?: unknown } | null | undefined)?.xcast;
  if (given !== undefined && given !== null && (typeof given !== 'object' || Array.isArray(given))) {
    throw new SettingsError('xcast', 'settings.xcast', `must be an object of settings, got ${JSON.stringify(given)}`);
  }
  const fromFile = (given ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(fromFile)) {
    if (!(key in SETTINGS)) throw new SettingsError(key, `settings.xcast.${key}`, `is not an xcast setting (the settings: ${Object.keys(SETTINGS).join(', ')})`);
  }
  const out: Record<string, unknown> = {};
  for (const [name, d] of Object.entries(SETTINGS) as Array<[keyof XcastSettings, Definition<keyof XcastSettings>]>) {
    const e = env[d.env];
    const [raw, where] = e !== undefined && e !== '' ? [e, d.env] : [fromFile[name], `settings.xcast.${name}`];
    try {
      out[name] = raw === undefined ? d.def : d.parse(raw);
    } catch (err) {
      throw new SettingsError(name, where, (err as Error).message);
    }
  }
  return out as unknown as XcastSettings;
}

/** Threads to use for `n` or 'auto' (the cores this process may use — availableParallelism() reads the affinity mask, so taskset counts — less the event loop's). */
export function workerCount(n: number | 'auto'): number {
  return n === 'auto' ? Math.max(0, Math.min(8, os.availableParallelism() - 1)) : n;
}

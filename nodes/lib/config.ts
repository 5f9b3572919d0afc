// Reads and checks a node's editor configuration; a bad value is refused with an error that names the field.

export class ConfigError extends Error {
  readonly code = 'bad_config';
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Cfg = Record<string, unknown>;

export function num(cfg: Cfg, field: string, opts: { def?: number; min?: number; max?: number; int?: boolean } = {}): number {
  const raw = cfg[field];
  if (raw === undefined || raw === null || raw === '') {
    if (opts.def !== undefined) return opts.def;
    throw new ConfigError(field, 'is required');
  }
  const v = typeof raw === 'number' ? raw : Number(String(raw).trim());
  if (!Number.isFinite(v)) throw new ConfigError(field, `"${String(raw)}" is not a number`);
  if (opts.int && !Number.isInteger(v)) throw new ConfigError(field, `${v} is not a whole number`);
  if (opts.min !== undefined && v < opts.min) throw new ConfigError(field, `${v} is below the minimum ${opts.min}`);
  if (opts.max !== undefined && v > opts.max) throw new ConfigError(field, `${v} is above the maximum ${opts.max}`);
  return v;
}

export function str(cfg: Cfg, field: string, opts: { def?: string; required?: boolean } = {}): string {
  const raw = cfg[field];
  const v = raw === undefined || raw === null ? '' : String(raw).trim();
  if (v === '') {
    if (opts.required) throw new ConfigError(field, 'is required');
    return opts.def ?? '';
  }
  return v;
}

export function oneOf<T extends string>(cfg: Cfg, field: string, allowed: readonly T[], def: T): T {
  const v = str(cfg, field, { def });
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(field, `"${v}" is not one of ${allowed.join(', ')}`);
  }
  return v as T;
}

export function bool(cfg: Cfg, field: string, def = false): boolean {
  const raw = cfg[field];
  if (raw === undefined || raw === null || raw === '') return def;
  if (typeof raw === 'boolean') return raw;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new ConfigError(field, `"${String(raw)}" is not true or false`);
}

export function json(cfg: Cfg, field: string): Record<string, unknown> | undefined {
  const raw = cfg[field];
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (typeof raw === 'object') return raw as Record<string, unknown>;
  try {
    const v = JSON.parse(String(raw));
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v;
  } catch (e) {
    throw new ConfigError(field, `is not a JSON object (${(e as Error).message})`);
  }
}

/** Milliseconds of a frame → samples per channel at a rate, refusing sizes that are not whole samples. */
export function frameSamplesOf(cfg: Cfg, field: string, sampleRate: number, defMs = 10): number {
  const ms = num(cfg, field, { def: defMs, min: 2.5, max: 120 });
  const samples = (sampleRate * ms) / 1000;
  if (!Number.isInteger(samples)) throw new ConfigError(field, `${ms} ms is not a whole number of samples at ${sampleRate} Hz`);
  return samples;
}

/** A gain given as a number (linear) or a string such as "-6dB". */
export function parseGain(v: unknown): number {
  if (typeof v === 'number') return v;
  const s = String(v).trim();
  const m = /^(-?\d+(?:\.\d+)?)\s*dB$/i.exec(s);
  const g = m ? Math.pow(10, Number(m[1]) / 20) : Number(s);
  if (!Number.isFinite(g) || g < 0) throw new Error(`gain "${s}" is not a non-negative number or a dB value`);
  return g;
}

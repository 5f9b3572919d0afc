// Reads and checks a node's editor configuration; a bad value is refused with an error that names the field.
import { render } from './i18n';

/**
 * The English text of each reason is the en-US catalog's (locales/en-US/xcast.json, `xcast.config.<reason>`): the
 * error's message is that, for logs and any caller without Node-RED; a node shows the user's language from
 * `reason` and `params` through RED._ (glue.ts refuse()).
 */
export class ConfigError extends Error {
  readonly code = 'bad_config';
  constructor(readonly field: string, readonly reason: ConfigReason, readonly params: Record<string, unknown> = {}) {
    super(`${field}: ${configText(reason, params)}`);
    this.name = 'ConfigError';
  }
}

// eslint-disable-next-line @typescript-eslint/no-var-requires
const EN: Record<string, string> = require('./locales/en-US/xcast.json').xcast.config;
export type ConfigReason = 'required' | 'not_number' | 'not_integer' | 'below_min' | 'above_max' | 'not_one_of' | 'not_boolean' | 'not_json'
  | 'not_whole_samples' | 'not_opus_frame' | 'below_jitter' | 'required_in_client_mode' | 'required_for_context' | 'cannot_read' | 'cannot_write' | 'device'
  | 'not_fingerprint' | 'no_tls_config' | 'tls_config_invalid' | 'tls_needs_cert' | 'tls_needs_ca' | 'udp_no_tls'
  | 'bad_mapping' | 'bad_sdp' | 'not_address';

function configText(reason: ConfigReason, params: Record<string, unknown>): string {
  return render(EN[reason] ?? reason, params);
}

type Cfg = Record<string, unknown>;

export function num(cfg: Cfg, field: string, opts: { def?: number; min?: number; max?: number; int?: boolean } = {}): number {
  const raw = cfg[field];
  if (raw === undefined || raw === null || raw === '') {
    if (opts.def !== undefined) return opts.def;
    throw new ConfigError(field, 'required');
  }
  const v = typeof raw === 'number' ? raw : Number(String(raw).trim());
  if (!Number.isFinite(v)) throw new ConfigError(field, 'not_number', { value: String(raw) });
  if (opts.int && !Number.isInteger(v)) throw new ConfigError(field, 'not_integer', { value: v });
  if (opts.min !== undefined && v < opts.min) throw new ConfigError(field, 'below_min', { value: v, min: opts.min });
  if (opts.max !== undefined && v > opts.max) throw new ConfigError(field, 'above_max', { value: v, max: opts.max });
  return v;
}

export function str(cfg: Cfg, field: string, opts: { def?: string; required?: boolean } = {}): string {
  const raw = cfg[field];
  const v = raw === undefined || raw === null ? '' : String(raw).trim();
  if (v === '') {
    if (opts.required) throw new ConfigError(field, 'required');
    return opts.def ?? '';
  }
  return v;
}

export function oneOf<T extends string>(cfg: Cfg, field: string, allowed: readonly T[], def: T): T {
  const v = str(cfg, field, { def });
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(field, 'not_one_of', { value: v, allowed: allowed.join(', ') });
  }
  return v as T;
}

export function bool(cfg: Cfg, field: string, def = false): boolean {
  const raw = cfg[field];
  if (raw === undefined || raw === null || raw === '') return def;
  if (typeof raw === 'boolean') return raw;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new ConfigError(field, 'not_boolean', { value: String(raw) });
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
    throw new ConfigError(field, 'not_json', { detail: (e as Error).message });
  }
}

/** Milliseconds of a frame → samples per channel at a rate, refusing sizes that are not whole samples. */
export function frameSamplesOf(cfg: Cfg, field: string, sampleRate: number, defMs = 10): number {
  const ms = num(cfg, field, { def: defMs, min: 2.5, max: 120 });
  const samples = (sampleRate * ms) / 1000;
  if (!Number.isInteger(samples)) throw new ConfigError(field, 'not_whole_samples', { ms, sampleRate });
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

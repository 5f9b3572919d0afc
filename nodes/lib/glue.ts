// Small pieces every xcast node shares: refusing a bad config, paths, and the audio message shape.
import fs from 'node:fs';
import path from 'node:path';
import type { Node, NodeAPI } from 'node-red';
import { ConfigError } from './config';
import { translator } from './i18n';

export interface AudioInfo {
  codec: 'opus' | 'pcm_f32le' | 'pcm_s16le';
  sampleRate: number;
  channels: number;
  frameSamples: number;
  seq: number;
  captureTime: number;
  trackId: number;
}

export interface AudioMsg {
  topic?: string;
  payload: Buffer;
  audio: AudioInfo;
  userId?: string;
  targetUserId?: string;
  connectionId?: string;
  _msgid?: string;
  [k: string]: unknown;
}

/**
 * Logs why the node will not run and shows it on the node, from the node set's catalog; the message names the field.
 * A ConfigError is told in the user's language from its reason; the runtime's own errors (an engine's option check,
 * a SettingsError) by their message, which names the field or the setting. The node still answers its input —
 * every message is done with the refusal, so a Catch node sees why nothing came out, where a message to a node
 * without an input handler would vanish silently. Handlers the node set up before the refusal go: it is not half
 * running.
 */
export function refuse(RED: NodeAPI, node: Node, err: unknown): void {
  const t = translator(RED);
  const why = err instanceof ConfigError ? `${err.field}: ${t(`xcast.config.${err.reason}`, err.params)}` : err instanceof Error ? err.message : String(err);
  const refusal = new Error(t('xcast.errors.refused', { why }));
  node.error(refusal.message);
  const e = err as { field?: unknown; setting?: unknown };
  const field = typeof e?.field === 'string' ? e.field : typeof e?.setting === 'string' ? e.setting : 'config';
  node.status({ fill: 'red', shape: 'ring', text: t('xcast.status.bad', { field }) });
  node.removeAllListeners('input');
  node.on('input', (_msg: unknown, _send: unknown, done: (err?: Error) => void) => done(refusal));
}

/** Is this message audio in the shape architecture.md gives? */
export function isAudioMsg(msg: unknown): msg is AudioMsg {
  const m = msg as AudioMsg;
  return !!m && Buffer.isBuffer(m.payload) && !!m.audio && typeof m.audio.sampleRate === 'number';
}

/** Resolves a relative file path against Node-RED's user directory (where flows.json lives). */
export function resolveUserPath(RED: NodeAPI, p: string): string {
  if (path.isAbsolute(p)) return p;
  const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? process.cwd();
  return path.resolve(userDir, p);
}

/** Resolves an input file: absolute, relative to the working directory, the user directory, or this package. */
export function resolveInputPath(RED: NodeAPI, p: string): string {
  if (path.isAbsolute(p)) return p;
  const candidates = [path.resolve(process.cwd(), p), resolveUserPath(RED, p), path.resolve(__dirname, '..', '..', '..', p)];
  return candidates.find((c) => fs.existsSync(c)) ?? candidates[0];
}

// Fan-out without deep copies: xcast audio (and the mixer's track state, mix parameters and stream events) reaches every
// wire as a shallow copy sharing its Buffer (or its state payload).
//
// Node-RED deep-clones every message after the first in one send() (lodash cloneDeep, Buffer bytes included). On
// the xcast every received packet fans out to the mixer and the event stream, and every mixed frame to the encoder
// and the event stream; the bench's profile showed those clones (and the garbage they leave) as the largest
// Node-RED cost. Audio Buffers are never mutated after send (docs/architecture.md), so a shallow copy of the
// message, with its own `audio` and `mixed` objects, is as safe for the receivers as the deep clone was.
// Messages that carry anything else nested (a property a user's node added upstream) still get Node-RED's clone.
import type { NodeAPI } from 'node-red';

const HOOK = 'onSend.xcast-shared-fanout';

interface SendEvent {
  msg: Record<string, unknown>;
  source?: { node?: { type?: string } };
  cloneMessage?: boolean;
}

/** Keys whose values are copied one level (own objects per receiver); arrays inside them stay shared. */
const COPIED = new Set(['audio', 'mixed']);

function shareable(m: Record<string, unknown>, type: string): boolean {
  const audio = Buffer.isBuffer(m.payload) && m.audio !== null && typeof m.audio === 'object';
  // Track state from the mixer: a fresh array of fresh objects per send, which receivers only read.
  const tracks = m.topic === 'tracks' && Array.isArray(m.payload);
  // The mixer's other state on the same output (to the aggregator, event stream, console and stream log): its mix
  // parameters (every track's, sent at each track added: a join of N peers cloned N^2/2 track entries three times,
  // 4 % of the event loop's profile at 250 UDP peers) and a tick's stream events — also fresh per send, only read.
  const state = type === 'xcast-mixer' && ((m.topic === 'streamEvents' && Array.isArray(m.payload))
    || (m.topic === 'mixParameters' && m.payload !== null && typeof m.payload === 'object' && !Array.isArray(m.payload) && !Buffer.isBuffer(m.payload)));
  if (!audio && !tracks && !state) return false;
  for (const k in m) {
    const v = m[k];
    if (v === null || typeof v !== 'object' || k === 'payload' || COPIED.has(k)) continue;
    return false;
  }
  return true;
}

interface Hooks { has(id: string): boolean; add(id: string, cb: (events: SendEvent[]) => void): void }

/** Node-RED's hook registry: RED.hooks, or the module the router itself uses when RED has none (test helper). */
function hooksOf(RED: NodeAPI): Hooks | undefined {
  const h = (RED as unknown as { hooks?: Hooks }).hooks;
  if (h) return h;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return require('@node-red/util').hooks as Hooks;
  } catch {
    return undefined;
  }
}

/** Registers the hook once per Node-RED runtime (every xcast node module calls this when it loads). */
export function shareAudioOnFanout(RED: NodeAPI): void {
  const hooks = hooksOf(RED);
  if (!hooks || hooks.has(HOOK)) return;
  hooks.add(HOOK, (events: SendEvent[]) => {
    for (let i = 0; i < events.length; i++) {
      const ev = events[i];
      if (!ev.cloneMessage) continue;
      const type = ev.source?.node?.type;
      if (typeof type !== 'string' || !type.startsWith('xcast-')) continue;
      const m = ev.msg;
      if (!shareable(m, type)) continue;
      const copy: Record<string, unknown> = { ...m };
      if (m.audio) copy.audio = { ...(m.audio as object) };
      if (m.mixed && typeof m.mixed === 'object') copy.mixed = { ...(m.mixed as object) };
      ev.msg = copy;
      ev.cloneMessage = false;
    }
  });
}

// Node: mixer — the xcast's clock: every frame period it mixes one frame from each track's playout buffer.
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { createMixEngine } from '../../runtime/audio/mix-engine';
import { checkRoom, type MonitorSpec, type TrackState } from '../../runtime/audio/mixer';
import { readSettings } from '../../runtime/settings';
import { TickSource, nowMicros } from '../../runtime/clock';
import { num, bool, str, frameSamplesOf, parseGain, ConfigError } from '../lib/config';
import { refuse, isAudioMsg, AudioMsg } from '../lib/glue';
import { onAudioInput, offerRingIngest, AudioOutput } from '../lib/direct';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';
import { shareAudioOnFanout } from '../lib/fanout';
import { StreamKeys, OncePerStream, streamLabel } from '../../runtime/audio/stream-key';
import { MixerSettingsStore, JsonFileBackend, SettingsBackend, MixerSettingsState } from '../../runtime/audio/mixer-settings';
import { DEFAULT_ROOM } from '../../runtime/rooms';
import path from 'node:path';

interface MixerDef extends NodeDef {
  sampleRate: string; channels: string; frameMs: string; masterGain: string; mixMinus: boolean | string;
  trackTimeoutMs: string; jitterFrames: string; stateIntervalMs: string; emitWhenIdle: boolean | string;
  thread?: string; jitterAdaptive?: boolean | string; jitterMaxFrames?: string;
  /** Where the controls' settings are kept: '' a JSON file in Node-RED's userDir, 'none' nowhere, else a context store's name. */
  settingsStore?: string;
}

const CONTEXT_KEY = 'xcastMixerSettings';

/**
 * With a fixed depth (adapt off: the lowest latency) a burst after a stall is dropped back to the target after a
 * quarter second instead of a second: at 130 peers on one core the hub hop's p50 went from ~38 ms to ~16 ms.
 */
const FIXED_TRIM_WINDOW_MS = 250;

export = function (RED: NodeAPI) {
  shareAudioOnFanout(RED);
  function MixerNode(this: Node, config: MixerDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    let closeEngine: (() => void) | undefined;
    let store: MixerSettingsStore | undefined;
    try {
      const sampleRate = num(config as never, 'sampleRate', { def: 48000, min: 8000, max: 192000, int: true });
      const channels = num(config as never, 'channels', { def: 2, min: 1, max: 8, int: true });
      const frameSamples = frameSamplesOf(config as never, 'frameMs', sampleRate, 10);
      const masterGain = parseGain(config.masterGain === undefined || config.masterGain === '' ? 1 : config.masterGain);
      const mixMinus = bool(config as never, 'mixMinus', false);
      const trackTimeoutMs = num(config as never, 'trackTimeoutMs', { def: 2000, min: 100 });
      const jitterFrames = num(config as never, 'jitterFrames', { def: 3, min: 1, max: 50, int: true });
      const jitterAdaptive = bool(config as never, 'jitterAdaptive', true);
      // A cap on each track's depth: above it the buffer is cut back to the target at once (whole packets, faded),
      // so latency never stands above it — the fixed-size buffer of live-audio tools. Blank: 50 frames.
      const jitterMaxFrames = num(config as never, 'jitterMaxFrames', { def: 50, min: 1, max: 50, int: true });
      if (jitterMaxFrames < jitterFrames) throw new ConfigError('jitterMaxFrames', 'below_jitter', { value: jitterMaxFrames, jitterFrames });
      const stateIntervalMs = num(config as never, 'stateIntervalMs', { def: 100, min: 10 });
      const emitWhenIdle = bool(config as never, 'emitWhenIdle', false);
      const settingsStore = str(config as never, 'settingsStore', { def: '' }).trim();
      // Gain, pan, mute per user and the master gain that control messages set survive a redeploy and a restart:
      // in the node's context in the persistent store named, else a JSON file per mixer in Node-RED's userDir.
      const userDir = (RED.settings as unknown as { userDir?: string }).userDir;
      let backend: SettingsBackend | null = null;
      if (settingsStore === 'none') backend = null;
      else if (settingsStore) {
        // A store Node-RED does not have would fall back to memory with a log line: refused here instead, by name.
        const stores = Object.keys((RED.settings as unknown as { contextStorage?: Record<string, unknown> }).contextStorage ?? {});
        if (!stores.includes(settingsStore)) throw new ConfigError('settingsStore', 'not_one_of', { value: settingsStore, allowed: ['(blank: a file)', 'none', ...stores].join(', ') });
        const ctx = node.context();
        backend = {
          load: () => new Promise<MixerSettingsState | null>((resolve, reject) => {
            ctx.get(CONTEXT_KEY, settingsStore, (err: Error | null, v: unknown) => (err ? reject(err) : resolve((v as MixerSettingsState | undefined) ?? null)));
          }),
          save: (state) => new Promise<void>((resolve, reject) => {
            ctx.set(CONTEXT_KEY, state, settingsStore, (err?: Error | null) => (err ? reject(err) : resolve()));
          }),
        };
      } else if (userDir) backend = new JsonFileBackend(path.join(userDir, 'xcast', `mixer-${node.id.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`));
      // The mix is made on a thread of its own (runtime/audio/mix-engine.ts). Flows saved when the editor offered
      // 'Mix on: the event loop' still carry `thread`; they deploy, and are told once that it is ignored.
      if (config.thread !== undefined && config.thread !== '' && config.thread !== 'worker') node.warn(t('mixer.errors.thread-ignored', { value: config.thread }));
      const settings = readSettings(RED.settings);
      const stateEvery = Math.max(1, Math.round(stateIntervalMs / ((frameSamples * 1000) / sampleRate)));
      const engine = createMixEngine({
        cpus: settings.mixCpus, youngGenerationMb: settings.mixYoungGenerationMb,
        sampleRate, channels, frameSamples, masterGain, mixMinus, trackTimeoutMs, playout: { targetDepthFrames: jitterFrames, maxDepthFrames: jitterMaxFrames, adaptive: jitterAdaptive, ...(jitterAdaptive ? {} : { adaptWindowMs: FIXED_TRIM_WINDOW_MS }) },
        statsEveryTicks: stateEvery,
      });
      closeEngine = () => engine.close();
      engine.on('error', (err) => node.error(err.message));
      engine.on('warning', (m) => node.warn(m));

      // The full set of mix parameters, from the frame they apply to: the event stream records it (0x11 Mix Parameters).
      engine.on('params', (p) => {
        const payload: Record<string, unknown> = { fromFrameSeq: p.fromFrameSeq, master: p.master, tracks: p.tracks };
        if (p.rooms) payload.rooms = p.rooms;
        node.send([null, { topic: 'mixParameters', payload } as NodeMessage, null, null, null]);
      });

      // Stream events (new, repeated, out-of-order, missing, late, dropped, closed) on output 2, a tick's in one
      // message: the stream log node (nodes/stream-log) takes them.
      engine.on('stream-events', (events, leftOut) => {
        node.send([null, { topic: 'streamEvents', payload: events, leftOut } as NodeMessage]);
      });

      const keys = new StreamKeys();
      const refusals = new OncePerStream();
      const handle = (msg: Record<string, unknown>): void => {
        const userId = msg.userId as string | undefined;
        switch (msg.topic) {
          case 'gain': { if (!userId) throw new Error(t('mixer.errors.gain-needs-user')); const g = parseGain(msg.payload); engine.setGain(userId, g); store?.setUser(userId, { gain: g }); break; }
          case 'pan': { if (!userId) throw new Error(t('mixer.errors.pan-needs-user')); const p = Number(msg.payload); engine.setPan(userId, p); store?.setUser(userId, { pan: p }); break; }
          case 'mute': { if (!userId) throw new Error(t('mixer.errors.mute-needs-user')); const m = msg.payload === true || msg.payload === 'true' || msg.payload === 1; engine.setMute(userId, m); store?.setUser(userId, { muted: m }); break; }
          case 'master': {
            // msg.room: that room's master (absent: 'main', the node's Master gain).
            const g = parseGain(msg.payload);
            const room = checkRoom(msg.room);
            engine.setMaster(g, room);
            if (room === DEFAULT_ROOM) store?.setMaster(g, masterGain); else store?.setRoomMaster(room, g);
            break;
          }
          // Operator console (issue 12): meters on the mix thread on/off; a monitor listener's feed ({ room, solo } | null).
          case 'metering': engine.setMetering(msg.payload === true || msg.payload === 'true' || msg.payload === 1); break;
          case 'monitor': engine.setMonitor(msg.listener as string, (msg.payload ?? null) as MonitorSpec | null); break;
          // A sender's connection closed (the socket reader's or the webrtc node's connection events): its tracks leave
          // the mix now, not after trackTimeoutMs of concealment.
          case 'connection': {
            const p = msg.payload as { event?: unknown; connectionId?: unknown } | undefined;
            const id = typeof p?.connectionId === 'string' ? p.connectionId : typeof msg.connectionId === 'string' ? msg.connectionId : '';
            if (p?.event === 'close' && id !== '') engine.removeConnection(id);
            break;
          }
          default: {
            if (!isAudioMsg(msg)) return;
            const a = (msg as AudioMsg).audio;
            const connectionId = typeof msg.connectionId === 'string' ? msg.connectionId : '';
            try {
              // msg.room: the track's room (not a room name: 'main'); msg.mixMinus true: this user wants a mix-minus.
              engine.push(userId ?? '', a, msg.payload as Buffer, (msg.arrivalTime as number | undefined) ?? nowMicros(), connectionId, msg.room as string | undefined, msg.mixMinus === true);
            } catch (err) {
              // A stream the mixer cannot play (another rate, a bad size) is said once per stream and reason, and
              // counted on its track (TrackState.refused): not one log line per frame (200 frames were 200 errors).
              const e = err as Error & { field?: string };
              const key = keys.key(userId, a?.trackId, undefined, connectionId);
              // The first of each stream and reason is the error a Catch node sees; the rest are counted only.
              if (refusals.refuse(key, e.field ?? e.message)) {
                throw new Error(t('mixer.errors.refused-stream', { stream: streamLabel({ userId: userId ?? '', trackId: a?.trackId, connectionId }), detail: e.message }));
              }
            }
          }
        }
      };
      // A socket reader wired straight here hands its packets over by a call (nodes/lib/direct.ts); one whose socket is
      // on a thread of its own (UDP) writes them into a ring of the mix thread's instead (engine.attachRing).
      onAudioInput(node, handle);
      offerRingIngest(node, () => engine.attachRing());

      // Mix, mix-minus and the other rooms' mixes go by call where they are wired only to xcast nodes that take audio
      // directly. Output 1: the 'main' room's mix; 3: mix-minus per user, in its room; 4: every other room's mix.
      const mixOut = new AudioOutput(RED, node, 0, 5);
      const minusOut = new AudioOutput(RED, node, 2, 5);
      const roomsOut = new AudioOutput(RED, node, 3, 5);
      // Output 5, the operator console (issue 12): meter frames (with their layout) and monitor feeds, made on the mix thread.
      engine.on('meters', (frame, layout) => {
        node.send([null, null, null, null, { topic: 'meters', payload: frame, layout, sampleRate } as NodeMessage]);
      });
      engine.on('monitor', (listener, pcm, seq) => {
        const audio = { codec: 'pcm_f32le' as const, sampleRate, channels, frameSamples, seq: seq >>> 0, captureTime: nowMicros(), trackId: 1 };
        node.send([null, null, null, null, { topic: 'monitor', listener, payload: pcm, audio } as NodeMessage]);
      });
      const minusOf = (perUser: Map<string, Buffer>, audio: AudioMsg['audio'], room: string, into: AudioMsg[]) => {
        for (const [target, pcm] of perUser) into.push({ topic: 'audio', payload: pcm, audio: { ...audio }, userId: 'xcast', targetUserId: target, room });
      };
      engine.on('mix', (r) => {
        const tracks = r.used.length;
        const audio = { codec: 'pcm_f32le' as const, sampleRate, channels, frameSamples, seq: r.seq >>> 0, captureTime: nowMicros(), trackId: 1 };
        let minus: AudioMsg[] | null = null;
        if (tracks > 0 || emitWhenIdle) {
          const mix: AudioMsg = { topic: 'audio', payload: r.mix, audio, userId: 'xcast', room: DEFAULT_ROOM, mixed: { frameSeq: r.seq, used: r.used, room: DEFAULT_ROOM } };
          mixOut.send(mix);
          if (r.perUser) minusOf(r.perUser, audio, DEFAULT_ROOM, (minus = []));
        }
        if (r.rooms) {
          const others: AudioMsg[] = [];
          for (const m of r.rooms) {
            others.push({ topic: 'audio', payload: m.mix, audio: { ...audio }, userId: 'xcast', room: m.room, mixed: { frameSeq: r.seq, used: m.used, room: m.room } });
            if (m.perUser) minusOf(m.perUser, audio, m.room, (minus ??= []));
          }
          roomsOut.send(others);
        }
        if (minus !== null) minusOut.send(minus);
      });
      // The text is made only when the throttled status is shown: a catalog lookup (i18next, plural rules) costs more
      // than the rest of a track-state event, which comes 10 times a second.
      let trackCount = 0;
      const mixingText = () => t('mixer.status.mixing', { count: trackCount });
      // A track that left (its connection closed, or its timeout) is listed once more with its final counters and
      // connected: false, so the aggregator's totals include the packets it had after the last periodic state.
      const removed: TrackState[] = [];
      engine.on('track-removed', (st) => { if (removed.length < 4096) removed.push(st); });
      engine.on('tracks', (states) => {
        const payload = removed.length === 0 ? states : states.concat(removed.splice(0));
        node.send([null, { topic: 'tracks', payload } as NodeMessage, null, null, null]);
        const n = (trackCount = states.length);
        status.setBy(n ? 'green' : 'yellow', n ? 'dot' : 'ring', mixingText);
      });
      engine.start();
      if (backend) {
        const st = (store = new MixerSettingsStore(backend, { onError: (err) => node.warn(t('mixer.errors.settings-save', { detail: err.message })) }));
        // What was kept, applied from the next frame (a control that came meanwhile wins: the store merges it).
        const apply = (kept: MixerSettingsState | null) => {
          if (!kept) return;
          for (const [u, v] of Object.entries(kept.users)) {
            try {
              if (v.gain !== undefined) engine.setGain(u, v.gain);
              if (v.pan !== undefined) engine.setPan(u, v.pan);
              if (v.muted !== undefined) engine.setMute(u, v.muted);
            } catch { /* checkSettingsState let only valid values through */ }
          }
          // The kept master, unless the node's own master gain was changed since (the editor's value is newer).
          if (kept.master !== undefined && kept.configMaster === masterGain) engine.setMaster(kept.master);
          for (const [room, g] of Object.entries(kept.rooms ?? {})) {
            try { engine.setMaster(g, room); } catch { /* checkSettingsState let only valid rooms and gains through */ }
          }
        };
        const loadFailed = (err: unknown) => node.warn(t('mixer.errors.settings-load', { detail: (err as Error).message }));
        try {
          const r = st.load();
          r.then(apply, loadFailed);
        } catch (err) {
          loadFailed(err);
        }
      }
      // Diagnostics (the bench reads tick lateness here): the clock this node mixes on.
      (node as unknown as { tickSource?: TickSource }).tickSource = engine;
      status.now('yellow', 'ring', t('mixer.status.mixing', { count: 0 }));
    } catch (err) {
      refuse(RED, node, err);
    }
    node.on('close', (removed: boolean, done: () => void) => { store?.flush(); closeEngine?.(); status.clear(); done(); });
  }
  RED.nodes.registerType('xcast-mixer', MixerNode);
};

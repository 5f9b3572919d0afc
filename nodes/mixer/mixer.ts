// Node: mixer — the xcast's clock: every frame period it mixes one frame from each track's playout buffer.
import os from 'node:os';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { Mixer } from '../../runtime/audio/mixer';
import { FrameClock, TickSource, nowMicros } from '../../runtime/clock';
import { WorkerFrameClock } from '../../runtime/worker-clock';
import { num, bool, frameSamplesOf, parseGain } from '../lib/config';
import { refuse, isAudioMsg, AudioMsg } from '../lib/glue';
import { StatusThrottle } from '../lib/status';
import { shareAudioOnFanout } from '../lib/fanout';

interface MixerDef extends NodeDef {
  sampleRate: string; channels: string; frameMs: string; masterGain: string; mixMinus: boolean | string;
  trackTimeoutMs: string; jitterFrames: string; stateIntervalMs: string; emitWhenIdle: boolean | string;
  decodeWorkers?: string;
}

export = function (RED: NodeAPI) {
  shareAudioOnFanout(RED);
  function MixerNode(this: Node, config: MixerDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    let clock: FrameClock | undefined;
    let closeMixer: (() => void) | undefined;
    try {
      const sampleRate = num(config as never, 'sampleRate', { def: 48000, min: 8000, max: 192000, int: true });
      const channels = num(config as never, 'channels', { def: 2, min: 1, max: 8, int: true });
      const frameSamples = frameSamplesOf(config as never, 'frameMs', sampleRate, 10);
      const masterGain = parseGain(config.masterGain === undefined || config.masterGain === '' ? 1 : config.masterGain);
      const mixMinus = bool(config as never, 'mixMinus', false);
      const trackTimeoutMs = num(config as never, 'trackTimeoutMs', { def: 2000, min: 100 });
      const jitterFrames = num(config as never, 'jitterFrames', { def: 3, min: 1, max: 50, int: true });
      const stateIntervalMs = num(config as never, 'stateIntervalMs', { def: 100, min: 10 });
      const emitWhenIdle = bool(config as never, 'emitWhenIdle', false);
      // Decode workers (runtime/audio/decode-pool.ts), from the node's 'decodeWorkers' or XCAST_DECODE_WORKERS
      // ('auto': the cores this process may use, less the event loop's — availableParallelism() reads the
      // affinity mask, so taskset counts). Default 0: the tick waits for its workers, so a worker thread that
      // does not get a core in time (a machine shared with other busy processes) delays the whole mix; give
      // workers to an xcast that has its cores to itself.
      const w = config.decodeWorkers || process.env.XCAST_DECODE_WORKERS || '0';
      const decodeWorkers = w === 'auto' ? Math.max(0, Math.min(8, os.availableParallelism() - 1)) : num({ decodeWorkers: w } as never, 'decodeWorkers', { min: 0, max: 16, int: true });
      const mixer = new Mixer({ sampleRate, channels, frameSamples, masterGain, mixMinus, trackTimeoutMs, playout: { targetDepthFrames: jitterFrames }, decodeWorkers });
      closeMixer = () => mixer.close();
      const stateEvery = Math.max(1, Math.round(stateIntervalMs / ((frameSamples * 1000) / sampleRate)));

      let nextFrameSeq = 0;
      // The full set of mix parameters, from the next frame on: the event stream records it (0x11 Mix Parameters).
      const sendMixParameters = () => {
        const tracks = mixer.tracks().map((t) => ({ userId: t.userId, trackId: t.trackId, gain: t.gain, pan: t.pan, muted: t.muted }));
        node.send([null, { topic: 'mixParameters', payload: { fromFrameSeq: nextFrameSeq, master: mixer.masterGain, tracks } } as NodeMessage, null]);
      };
      mixer.on('track-added', () => sendMixParameters());

      node.on('input', (msg: Record<string, unknown>, _send, done) => {
        const userId = msg.userId as string | undefined;
        const control = msg.topic === 'gain' || msg.topic === 'pan' || msg.topic === 'mute' || msg.topic === 'master';
        try {
          switch (msg.topic) {
            case 'gain': if (!userId) throw new Error('gain needs msg.userId'); mixer.setGain(userId, parseGain(msg.payload)); break;
            case 'pan': {
              const p = Number(msg.payload);
              if (!userId || !(p >= -1 && p <= 1)) throw new Error('pan needs msg.userId and a payload from -1 to +1');
              mixer.setPan(userId, p); break;
            }
            case 'mute': if (!userId) throw new Error('mute needs msg.userId'); mixer.setMute(userId, msg.payload === true || msg.payload === 'true' || msg.payload === 1); break;
            case 'master': mixer.setMaster(parseGain(msg.payload)); break;
            default:
              if (!isAudioMsg(msg)) { done(); return; }
              {
                const a = (msg as AudioMsg).audio;
                mixer.push(userId ?? '', a, msg.payload as Buffer, (msg.arrivalTime as number | undefined) ?? nowMicros());
              }
          }
          if (control) sendMixParameters();
          done();
        } catch (err) {
          done(err as Error);
        }
      });

      // The worker-thread clock leaves the event loop free between ticks (FrameClock's setImmediate spin cost ~15 %
      // of a core at 10 ms frames, ~60 % at 2.5 ms); XCAST_CLOCK=timer selects the event-loop clock.
      const periodMs = (frameSamples * 1000) / sampleRate;
      clock = process.env.XCAST_CLOCK === 'timer' ? new FrameClock({ periodMs }) : new WorkerFrameClock({ periodMs });
      let ticks = 0;
      clock.on('tick', () => {
        const r = mixer.tick();
        nextFrameSeq = r.seq + 1;
        ticks++;
        const tracks = r.used.length;
        if (tracks > 0 || emitWhenIdle) {
          const audio = { codec: 'pcm_f32le' as const, sampleRate, channels, frameSamples, seq: r.seq >>> 0, captureTime: nowMicros(), trackId: 1 };
          const mix: AudioMsg = { topic: 'audio', payload: r.mix, audio, userId: 'xcast', mixed: { frameSeq: r.seq, used: r.used } };
          let minus: NodeMessage[] | null = null;
          if (r.perUser) {
            minus = [];
            for (const [target, pcm] of r.perUser) {
              minus.push({ topic: 'audio', payload: pcm, audio: { ...audio }, userId: 'xcast', targetUserId: target } as unknown as NodeMessage);
            }
          }
          node.send([mix as unknown as NodeMessage, null, minus as unknown as NodeMessage]);
        }
        if (ticks % stateEvery === 0) {
          node.send([null, { topic: 'tracks', payload: mixer.tracks() } as NodeMessage, null]);
          status.set(tracks ? 'green' : 'yellow', tracks ? 'dot' : 'ring', `mixing ${tracks} track${tracks === 1 ? '' : 's'}`);
        }
      });
      clock.start();
      // Diagnostics (the bench reads tick lateness here): the clock this node mixes on.
      (node as unknown as { tickSource?: TickSource }).tickSource = clock;
      status.now('yellow', 'ring', 'mixing 0 tracks');
    } catch (err) {
      refuse(node, err);
    }
    node.on('close', (removed: boolean, done: () => void) => { clock?.stop(); closeMixer?.(); status.clear(); done(); });
  }
  RED.nodes.registerType('xcast-mixer', MixerNode);
};

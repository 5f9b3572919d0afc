// Node: audio output — plays to a sound device and/or records a WAV file, both behind one playout buffer and clock.
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { PlayoutBuffer } from '../../runtime/audio/playout';
import { StreamKeys, OncePerStream, streamLabel } from '../../runtime/audio/stream-key';
import { WavWriter } from '../../runtime/audio/wav';
import { AudioOutputDevice } from '../../runtime/audio/devices';
import { FrameClock, nowMicros } from '../../runtime/clock';
import { SpeakerState } from '../../runtime/qos/snapshot';
import { num, str, oneOf, frameSamplesOf, ConfigError } from '../lib/config';
import { refuse, isAudioMsg, resolveUserPath, AudioMsg } from '../lib/glue';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';
import fs from 'node:fs';
import path from 'node:path';

interface AudioOutDef extends NodeDef {
  output: string; path: string; format: string; device: string; sampleRate: string; channels: string;
  frameMs: string; jitterFrames: string; idleMs: string; stateIntervalMs: string;
}

/** Another stream replaces the one played once that one has sent nothing for this long (a reconnect, a new sender). */
const TAKE_OVER_MS = 500;

export = function (RED: NodeAPI) {
  function AudioOutNode(this: Node, config: AudioOutDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    let clock: FrameClock | undefined;
    let wav: WavWriter | undefined;
    let device: AudioOutputDevice | undefined;
    try {
      const output = oneOf(config as never, 'output', ['file', 'device', 'both'] as const, 'file');
      const sampleRate = num(config as never, 'sampleRate', { def: 48000, min: 8000, max: 192000, int: true });
      const channels = num(config as never, 'channels', { def: 2, min: 1, max: 8, int: true });
      const frameSamples = frameSamplesOf(config as never, 'frameMs', sampleRate, 10);
      const jitterFrames = num(config as never, 'jitterFrames', { def: 3, min: 1, max: 50, int: true });
      const idleMs = num(config as never, 'idleMs', { def: 2000, min: 100 });
      const stateIntervalMs = num(config as never, 'stateIntervalMs', { def: 250, min: 20 });
      const format = oneOf(config as never, 'format', ['s16', 'f32'] as const, 's16');
      const periodMs = (frameSamples * 1000) / sampleRate;
      let file = '';
      if (output !== 'device') {
        file = resolveUserPath(RED, str(config as never, 'path', { required: true }));
        try {
          fs.mkdirSync(path.dirname(file), { recursive: true });
          wav = new WavWriter(file, { sampleRate, channels, format });
        } catch (e) {
          throw new ConfigError('path', 'cannot_write', { file, detail: (e as Error).message });
        }
      }
      if (output !== 'file') {
        const deviceName = str(config as never, 'device', { required: true });
        device = new AudioOutputDevice({ deviceName, sampleRate, channels, framesPerBuffer: frameSamples });
        device.on('error', (err: Error) => {
          node.error(t('xcast.errors.device', { device: deviceName, detail: err.message }));
          status.now('red', 'ring', t('xcast.status.device-error'));
        });
        try {
          device.start();
        } catch (e) {
          throw new ConfigError('device', 'device', { detail: (e as Error).message });
        }
      }
      const newPlayout = () => new PlayoutBuffer({ sampleRate, channels, frameSamples, targetDepthFrames: jitterFrames });
      let playout = newPlayout();
      let playing: string | undefined;
      let playingLabel = '';
      let warnedOther = false;
      const keys = new StreamKeys();
      // A packet the playout buffer refuses (another rate, a bad size) is said once per stream and reason and
      // counted (the speaker state's `refused`), not logged per frame.
      const refusals = new OncePerStream();
      let lastPacketAt = 0;
      let framesOut = 0;
      const stateEvery = Math.max(1, Math.round(stateIntervalMs / periodMs));

      // The speaker's figures for getMetrics (docs/metrics.md): depth, latency, misses, silence.
      const speaker = new SpeakerState({ sampleRate, channels, deviceLatencyMs: device ? device.latencyMs : 0 });
      const speakerState = () => {
        const st = playout.stats();
        speaker.setBufferDepth(st.depthSamples);
        if (device) speaker.setDeviceLatency(device.latencyMs);
        return { ...speaker.figures(), concealedSamples: st.concealedSamples, received: st.received, lost: st.lost, late: st.late, refused: refusals.total, playing: !!clock };
      };
      const onTick = () => {
        const f = playout.pull();
        speaker.onFrame(f.pcm, f.concealed);
        wav?.write(f.pcm);
        device?.write(f.pcm);
        framesOut++;
        if (framesOut % stateEvery === 0) {
          node.send({ topic: 'speaker', payload: speakerState() } as NodeMessage);
          status.set('green', 'dot', t(output === 'device' ? 'audio-out.status.playing' : 'audio-out.status.recording', { s: (framesOut * periodMs / 1000).toFixed(0), misses: playout.stats().misses }));
        }
        if (Date.now() - lastPacketAt > idleMs) {
          // The input stopped: stop the clock rather than write silence forever; it restarts on the next packet.
          clock?.stop();
          clock = undefined;
          node.send({ topic: 'speaker', payload: { ...speakerState(), inputStopped: true } } as NodeMessage);
          status.now('yellow', 'ring', file ? t('audio-out.status.idle-file', { file: path.basename(file) }) : t('audio-out.status.idle-device'));
        }
      };

      node.on('input', (msg: Record<string, unknown>, _send, done) => {
        if (!isAudioMsg(msg)) { done(); return; }
        const a = (msg as AudioMsg).audio;
        const id = { userId: msg.userId as string | undefined, trackId: a.trackId, targetUserId: msg.targetUserId as string | undefined, connectionId: typeof msg.connectionId === 'string' ? msg.connectionId : undefined };
        const key = keys.key(id.userId, id.trackId, id.targetUserId, id.connectionId);
        if (playing === undefined) { playing = key; playingLabel = streamLabel(id); }
        if (key !== playing && Date.now() - lastPacketAt > TAKE_OVER_MS) {
          // The stream played has stopped (a reconnect is a new connection, so a new stream): the new one takes
          // over with a playout buffer of its own — two connections never share one.
          playing = key;
          playingLabel = streamLabel(id);
          playout = newPlayout();
          warnedOther = false;
        }
        if (key !== playing) {
          if (!warnedOther) node.warn(t('audio-out.errors.one-stream', { stream: playingLabel, other: streamLabel(id) }));
          warnedOther = true;
          done();
          return;
        }
        try {
          playout.push(a, msg.payload as Buffer, (msg.arrivalTime as number | undefined) ?? nowMicros());
        } catch (err) {
          const e = err as Error & { field?: string };
          // The first of each stream and reason is the error a Catch node sees; the rest are counted only.
          done(refusals.refuse(key, e.field ?? e.message) ? new Error(t('audio-out.errors.refused-stream', { stream: streamLabel(id), detail: e.message })) : undefined);
          return;
        }
        lastPacketAt = Date.now();
        speaker.onAggregatorInput();
        if (!clock) {
          clock = new FrameClock({ periodMs });
          clock.on('tick', onTick);
          clock.start();
        }
        done();
      });
      status.now('grey', 'ring', output === 'device' ? t('audio-out.status.waiting') : t('audio-out.status.ready', { file: path.basename(file) }));
    } catch (err) {
      refuse(RED, node, err);
    }
    node.on('close', (removed: boolean, done: () => void) => {
      clock?.stop();
      status.clear();
      try { wav?.close(); } catch { /* already closed */ }
      Promise.resolve(device?.stop()).then(() => done(), () => done());
    });
  }
  RED.nodes.registerType('xcast-audio-out', AudioOutNode);
};

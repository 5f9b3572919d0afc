// Node: audio input — a test signal, a WAV file paced in real time, or a sound device, as f32 audio messages.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { FrameClock, nowMicros } from '../../runtime/clock';
import { ToneGenerator, NoiseGenerator, silence } from '../../runtime/audio/signals';
import { readWavAs } from '../../runtime/audio/wav';
import { AudioInputDevice, listDevicesAsync } from '../../runtime/audio/devices';
import { num, str, oneOf, bool, frameSamplesOf, ConfigError } from '../lib/config';
import { refuse, resolveInputPath, AudioMsg } from '../lib/glue';
import { StatusThrottle } from '../lib/status';
import { translator } from '../lib/i18n';
import { shareAudioOnFanout } from '../lib/fanout';

interface AudioInDef extends NodeDef {
  source: string; frequency: string; amplitude: string; file: string; loop: boolean | string;
  device: string; sampleRate: string; channels: string; frameMs: string; trackId: string; autoStart: boolean | string;
}

export = function (RED: NodeAPI) {
  shareAudioOnFanout(RED);
  function AudioInNode(this: Node, config: AudioInDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new StatusThrottle(node);
    const t = translator(RED);
    let clock: FrameClock | undefined;
    let device: AudioInputDevice | undefined;
    try {
      const source = oneOf(config as never, 'source', ['tone', 'noise', 'silence', 'file', 'device'] as const, 'tone');
      const sampleRate = num(config as never, 'sampleRate', { def: 48000, min: 8000, max: 192000, int: true });
      const channels = num(config as never, 'channels', { def: 1, min: 1, max: 8, int: true });
      const frameSamples = frameSamplesOf(config as never, 'frameMs', sampleRate, 10);
      const trackId = num(config as never, 'trackId', { def: 1, min: 0, max: 0xffffffff, int: true });
      const autoStart = bool(config as never, 'autoStart', true);
      let seq = 0;
      let frames = 0;
      // Made only when the (throttled) status is shown, not for every frame.
      const streamingText = () => t('audio-in.status.streaming', { source, kHz: sampleRate / 1000, channels });
      const emit = (pcm: Buffer, captureTime: number) => {
        const msg: AudioMsg = {
          topic: 'audio', payload: pcm,
          audio: { codec: 'pcm_f32le', sampleRate, channels, frameSamples, seq, captureTime, trackId },
        };
        seq = (seq + 1) >>> 0;
        frames++;
        node.send(msg);
        status.setBy('green', 'dot', streamingText);
      };

      let next: () => Buffer | null;
      if (source === 'tone') {
        const frequency = num(config as never, 'frequency', { def: 440, min: 1, max: sampleRate / 2 });
        const amplitude = num(config as never, 'amplitude', { def: 0.5, min: 0, max: 1 });
        const gen = new ToneGenerator({ frequency, amplitude, sampleRate, channels });
        next = () => gen.next(frameSamples);
      } else if (source === 'noise') {
        const amplitude = num(config as never, 'amplitude', { def: 0.1, min: 0, max: 1 });
        const gen = new NoiseGenerator({ amplitude, channels });
        next = () => gen.next(frameSamples);
      } else if (source === 'silence') {
        next = () => silence(frameSamples, channels);
      } else if (source === 'file') {
        const file = str(config as never, 'file', { required: true });
        const loop = bool(config as never, 'loop', true);
        let samples: Float32Array;
        try {
          samples = readWavAs(resolveInputPath(RED, file), sampleRate, channels);
        } catch (e) {
          throw new ConfigError('file', 'cannot_read', { file, detail: (e as Error).message });
        }
        const step = frameSamples * channels;
        let pos = 0;
        next = () => {
          if (pos >= samples.length) {
            if (!loop || samples.length === 0) return null;
            pos = 0;
          }
          let out: Buffer;
          if (pos + step <= samples.length) {
            // A view of the file's samples: never written to, so sharing it downstream is safe.
            out = Buffer.from(samples.buffer, samples.byteOffset + pos * 4, step * 4);
          } else {
            out = Buffer.alloc(step * 4);
            Buffer.from(samples.buffer, samples.byteOffset + pos * 4, (samples.length - pos) * 4).copy(out);
          }
          pos += step;
          return out;
        };
      } else {
        const deviceName = str(config as never, 'device', { required: true });
        next = () => null;
        const startDevice = () => {
          device = new AudioInputDevice({ deviceName, sampleRate, channels, framesPerBuffer: frameSamples });
          device.on('frame', (pcm: Buffer) => emit(pcm, nowMicros()));
          device.on('error', (err: Error) => {
            node.error(t('xcast.errors.device', { device: deviceName, detail: err.message }));
            status.now('red', 'ring', t('xcast.status.device-error'));
          });
          try {
            device.start();
          } catch (e) {
            node.error(t('xcast.errors.device', { device: deviceName, detail: (e as Error).message }));
            status.now('red', 'ring', t('xcast.status.device-error'));
            device = undefined;
            return;
          }
          status.now('green', 'dot', t('audio-in.status.recording', { device: deviceName }));
        };
        if (autoStart) startDevice();
        node.on('input', (msg: { payload?: unknown }, _send, done) => {
          if (msg.payload === 'stop' || msg.payload === false) { void device?.stop(); device = undefined; status.now('grey', 'ring', t('xcast.status.stopped')); }
          else if (!device) startDevice();
          done();
        });
      }

      if (source !== 'device') {
        const periodMs = (frameSamples * 1000) / sampleRate;
        const startClock = () => {
          clock = new FrameClock({ periodMs });
          clock.on('tick', () => {
            const pcm = next();
            if (pcm) emit(pcm, nowMicros());
            else { clock?.stop(); clock = undefined; status.now('grey', 'ring', t('audio-in.status.ended', { count: frames })); }
          });
          clock.start();
        };
        if (autoStart) startClock();
        else status.now('grey', 'ring', t('xcast.status.stopped'));
        node.on('input', (msg: { payload?: unknown }, _send, done) => {
          if (msg.payload === 'stop' || msg.payload === false) { clock?.stop(); clock = undefined; status.now('grey', 'ring', t('xcast.status.stopped')); }
          else if (!clock) startClock();
          done();
        });
      }
    } catch (err) {
      refuse(RED, node, err);
    }
    node.on('close', (removed: boolean, done: () => void) => {
      clock?.stop();
      status.clear();
      Promise.resolve(device?.stop()).then(() => done(), () => done());
    });
  }
  RED.nodes.registerType('xcast-audio-in', AudioInNode);

  // The editor's device pickers list devices by name (never by index: an index may have moved).
  RED.httpAdmin.get('/xcast/devices', RED.auth.needsPermission('xcast.read'), (_req, res) => {
    // Listed in a child process: PortAudio's enumeration blocks and prints, and must not stall the flows.
    listDevicesAsync().then(
      (d) => res.json(d),
      (err: Error) => res.status(503).json({ error: err.message, inputs: [], outputs: [] }),
    );
  });
};

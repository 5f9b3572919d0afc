// Device nodes in a real Node-RED flow: tone → audio-out on an ALSA PCM → JACK loop → audio-in from an ALSA PCM → WAV.
import assert from 'node:assert/strict';
import path from 'node:path';
import { readWav } from '../../runtime/audio/wav';
import { estimateFrequency, rms, dbfs } from '../../runtime/audio/analysis';
import { startXcast, tmpDir, sleep, XcastProcess } from '../support/xcast-process';
import { startAudioTestEnv, AudioTestEnv, LOOP_IN, LOOP_OUT } from '../devices/audio-env';

describe('device nodes on real ALSA PCMs (JACK dummy server loop)', function () {
  this.timeout(90000);
  let audio: AudioTestEnv | undefined;
  let x: XcastProcess | undefined;
  after(async () => { await x?.stop(); audio?.close(); });

  it('plays a 440 Hz tone through xcast-audio-out to a device and records it back through xcast-audio-in from a device', async () => {
    audio = startAudioTestEnv();
    const dir = tmpDir();
    const wavPath = path.join(dir, 'loop.wav');
    const flowFile = path.join(dir, 'devices.json');
    const tab = { id: 'tab0000000000001', type: 'tab', label: 'devices' };
    const n = (id: string, type: string, x: number, y: number, props: Record<string, unknown>, wires: string[][]) => ({ id, type, z: tab.id, x, y, wires, ...props });
    const flow = [
      tab,
      n('node000000000001', 'xcast-audio-in', 150, 80, { source: 'tone', frequency: '440', amplitude: '0.5', sampleRate: '48000', channels: '2', frameMs: '10', trackId: '1' }, [['node000000000002']]),
      n('node000000000002', 'xcast-audio-out', 400, 80, { output: 'device', device: LOOP_OUT, sampleRate: '48000', channels: '2', frameMs: '10', jitterFrames: '6' }, [[]]),
      n('node000000000003', 'xcast-audio-in', 150, 180, { source: 'device', device: LOOP_IN, sampleRate: '48000', channels: '2', frameMs: '10', trackId: '1' }, [['node000000000004']]),
      n('node000000000004', 'xcast-audio-out', 400, 180, { output: 'file', path: wavPath, format: 'f32', sampleRate: '48000', channels: '2', frameMs: '10', jitterFrames: '10' }, [[]]),
    ];
    require('node:fs').writeFileSync(flowFile, JSON.stringify(flow));
    x = await startXcast({ flows: [flowFile], userDir: dir, env: audio.env });
    await sleep(4000);
    await x.stop();
    const wav = readWav(wavPath);
    // A real-time path on a shared 2-core machine may drop out under load (an xrun writes silence);
    // analyse the longest unbroken stretch of tone, which must be at least half a second.
    const block = 480;
    let best = { from: 0, len: 0 };
    let run = { from: 0, len: 0 };
    for (let b = 0; b + block <= wav.frames; b += block) {
      const r = rms(wav.samples.subarray(b * 2, (b + block) * 2), 2, 0);
      if (r > 0.25) {
        if (run.len === 0) run.from = b;
        run.len += block;
        if (run.len > best.len) best = { ...run };
      } else run = { from: 0, len: 0 };
    }
    assert.ok(best.len >= 24000, `longest stretch of tone ${best.len} frames of ${wav.frames}:\n${x.output()}`);
    // Skip the edges of the stretch (the block where it starts or stops may hold a fade).
    const seg = wav.samples.subarray((best.from + block) * 2, (best.from + best.len - block) * 2);
    for (const ch of [0, 1]) {
      const f = estimateFrequency(seg, 48000, 2, ch);
      const level = dbfs(rms(seg, 2, ch));
      console.log(`      channel ${ch}: ${f.toFixed(2)} Hz, ${level.toFixed(2)} dBFS over ${(best.len / 48000).toFixed(2)} s through ${LOOP_OUT} → ${LOOP_IN}`);
      assert.ok(Math.abs(f - 440) <= 1, `frequency ${f}`);
      assert.ok(Math.abs(level - -9.03) <= 1, `level ${level}`);
    }
  });
});

// End to end through the preset flows in a real embedded Node-RED: peer → xcast → monitor, on loopback.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { readWav } from '../../runtime/audio/wav';
import { estimateFrequency, rms, dbfs } from '../../runtime/audio/analysis';
import { startXcast, freePortMap, tmpDir, sleep } from '../support/xcast-process';

/** Index of the first frame whose level rises above silence. */
function firstSound(samples: Float32Array, channels: number): number {
  for (let i = 0; i < samples.length; i += channels) if (Math.abs(samples[i]) > 0.01) return i / channels;
  return -1;
}

function hasCommand(cmd: string): boolean {
  try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); return true; } catch { return false; }
}

describe('audio path end to end (xcast + peer + monitor presets)', function () {
  this.timeout(90000);

  it('carries a 440 Hz tone from a peer through the xcast mix to the monitor WAV at 440 ± 1 Hz and the tone level, and the WAV survives SIGKILL', async () => {
    const dir = tmpDir();
    const wavPath = path.join(dir, 'monitor.wav');
    const x = await startXcast({ flows: ['xcast', 'peer', 'monitor'], portMap: await freePortMap(), overrides: { 'xcast-audio-out': { path: wavPath } }, userDir: dir });
    await sleep(4500);
    // A killed process must leave a playable file: no graceful close here.
    await x.kill('SIGKILL');

    const wav = readWav(wavPath);
    assert.equal(wav.sampleRate, 48000);
    assert.equal(wav.channels, 2);
    const start = firstSound(wav.samples, 2);
    assert.ok(start >= 0, `the recording holds no sound:\n${x.output()}`);
    const from = start + 0.3 * 48000;
    const seconds = 2;
    assert.ok(wav.frames >= from + seconds * 48000, `recording too short: ${wav.frames} frames, sound from ${start}`);
    const seg = wav.samples.subarray(from * 2, (from + seconds * 48000) * 2);
    const f = estimateFrequency(seg, 48000, 2, 0);
    const level = dbfs(rms(seg, 2, 0));
    // The peer's tone: amplitude 0.5 → RMS 0.354 → −9.03 dBFS; the mix passes it at unity through 64 kbit/s Opus.
    console.log(`      monitor WAV: ${f.toFixed(2)} Hz, ${level.toFixed(2)} dBFS (expected 440 Hz, −9.03 dBFS)`);
    assert.ok(Math.abs(f - 440) <= 1, `frequency ${f}`);
    assert.ok(Math.abs(level - -9.03) <= 1, `level ${level} dBFS`);

    // Outside readers: scripts/setup-system.sh installs sox and ffmpeg.
    assert.ok(hasCommand('sox') && hasCommand('ffprobe'), 'sox and ffprobe are needed (apt-get install sox ffmpeg)');
    const ds = Number(execFileSync('sox', ['--i', '-D', wavPath]).toString().trim());
    assert.ok(Math.abs(ds - wav.frames / 48000) < 0.6, `sox reads ${ds} s, the file holds ${wav.frames / 48000} s`);
    const df = Number(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', wavPath]).toString().trim());
    assert.ok(df > 2.5, `ffprobe reads ${df} s`);
  });
});

// End to end: a cascade — an edge xcast (examples/09 Cascade.json) whose mix feeds the main xcast as one peer, in two processes.
import assert from 'node:assert/strict';
import path from 'node:path';
import { readWav } from '../../runtime/audio/wav';
import { toneAmplitude } from '../../runtime/audio/analysis';
import { PACKAGE_ROOT } from '../../runtime/launcher';
import { startXcast, freePortMap, freePort, tmpDir, sleep, XcastProcess } from '../support/xcast-process';

const EXAMPLE = path.join(PACKAGE_ROOT, 'examples', '09 Cascade.json');

const db = (a: number) => 20 * Math.log10(a);

describe('cascade end to end (edge xcast → main xcast → monitor)', function () {
  this.timeout(120000);
  let main: XcastProcess | undefined;
  let edge: XcastProcess | undefined;
  after(async () => {
    await edge?.stop();
    await main?.stop();
  });

  it('mixes the edge xcast\'s stream like a peer\'s: the monitor hears the main peer\'s 440 Hz and the edge peers\' 660 and 880 Hz, each at its level, without dropouts', async () => {
    const dir = tmpDir();
    const wavPath = path.join(dir, 'monitor.wav');
    const ports = await freePortMap();
    // Main: the preset xcast with alice (440 Hz, amplitude 0.5) and the monitor recording its mix.
    main = await startXcast({ flows: ['xcast', 'peer', 'monitor'], portMap: ports, overrides: { 'xcast-audio-out': { path: wavPath } }, userDir: dir });
    // Edge: carol (660 Hz) and dave (880 Hz), amplitude 0.2 each, into the edge xcast, whose mix goes to main's ingest.
    edge = await startXcast({ flows: [EXAMPLE], portMap: { 7010: ports[7010], 17130: await freePort() } });
    await sleep(6000);
    const metrics = await (await fetch(`${main.url}/service/mixeradminclient?getMetrics`)).text();
    await main.kill('SIGKILL');
    main = undefined;

    assert.match(metrics, /edge-1/, `the main xcast's admin state does not list the edge as a user:\n${metrics.slice(0, 2000)}`);
    const wav = readWav(wavPath);
    assert.equal(wav.sampleRate, 48000);
    // The edge joins later than alice (its own jitter buffer, then main's): analyse the last 2 s.
    const seconds = 2;
    assert.ok(wav.frames > (seconds + 1) * 48000, `recording too short: ${wav.frames} frames\n${edge.output()}`);
    const seg = wav.samples.subarray((wav.frames - seconds * 48000 - 4800) * 2, (wav.frames - 4800) * 2);
    // Median over 100 ms blocks: a latency trim (whole frames, 5 ms fade) steps the phase, which would make one
    // coherent 2 s DFT cancel itself while the tone plays on at its level.
    const blockLevel = (f: number) => {
      const amps: number[] = [];
      for (let b = 0; b + 4800 <= seg.length / 2; b += 4800) amps.push(toneAmplitude(seg.subarray(b * 2, (b + 4800) * 2), 2, 0, f, 48000));
      amps.sort((a, b) => a - b);
      return db(amps[amps.length >> 1]);
    };
    const levels = [440, 660, 880].map(blockLevel);
    console.log(`      monitor: 440 Hz ${levels[0].toFixed(2)} dB, 660 Hz ${levels[1].toFixed(2)} dB, 880 Hz ${levels[2].toFixed(2)} dB (expected −6.02, −13.98, −13.98)`);
    // Two mixers at unity gain and two Opus generations at 64 kbit/s: the edge's tones went through both encoders and
    // were seen up to 1.7 dB off across runs (the main peer's, one generation, within 0.2 dB); bounds with margin.
    assert.ok(Math.abs(levels[0] - db(0.5)) <= 1.5, `440 Hz at ${levels[0]} dB`);
    assert.ok(Math.abs(levels[1] - db(0.2)) <= 2.5, `660 Hz (through the edge) at ${levels[1]} dB`);
    assert.ok(Math.abs(levels[2] - db(0.2)) <= 2.5, `880 Hz (through the edge) at ${levels[2]} dB`);
    // No dropouts: every 10 ms block of the segment carries the three tones' power (a lost frame would fall silent).
    const block = 480;
    let minRms = Infinity;
    for (let b = 0; b + block <= seg.length / 2; b += block) {
      let s = 0;
      for (let i = b; i < b + block; i++) s += seg[i * 2] * seg[i * 2];
      minRms = Math.min(minRms, Math.sqrt(s / block));
    }
    // Expected RMS of 0.5, 0.2, 0.2 sines summed: √((0.25 + 0.04 + 0.04) / 2) ≈ 0.41.
    assert.ok(minRms > 0.25, `a 10 ms block fell to RMS ${minRms.toFixed(3)}`);
  });
});

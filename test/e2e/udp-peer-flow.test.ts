// End to end over streamproto1/UDP through the preset flows in one real xcast process: the peer preset's tone →
// opus-encode → socket writer (client, transport udp) → the xcast's ingest reader (server, udp; its socket on a
// worker thread) → mixer → mix writer (server, udp) → the monitor preset's socket reader (client, udp) → monitor.wav,
// with the monitor's QoS reports going back over the same UDP session into the aggregator (getMetrics).
import assert from 'node:assert/strict';
import path from 'node:path';
import { readWav } from '../../runtime/audio/wav';
import { estimateFrequency, rms, dbfs } from '../../runtime/audio/analysis';
import { startXcast, freePortMap, tmpDir } from '../support/xcast-process';
import { getMetricsWhere } from '../support/get-metrics';

type N = Record<string, unknown>;

/** The four streamproto1 endpoints of the presets on UDP (7010 and 7011 are UDP ports then). */
export function allUdp(nodes: N[]): void {
  for (const n of nodes) {
    if ((n.type === 'xcast-socket-reader' || n.type === 'xcast-socket-writer') && n.port !== undefined) n.transport = 'udp';
  }
}

describe('peer → xcast → monitor over streamproto1/UDP (presets, client and server modes)', function () {
  this.timeout(90000);

  it('the peer’s 440 Hz tone reaches the monitor at its frequency and level, and the monitor’s QoS reports reach the aggregator over the same UDP session', async () => {
    const dir = tmpDir();
    const wavPath = path.join(dir, 'monitor.wav');
    const x = await startXcast({ flows: ['xcast', 'peer', 'monitor'], portMap: await freePortMap(), overrides: { 'xcast-audio-out': { path: wavPath } }, userDir: dir, edit: (nodes) => allUdp(nodes) });
    try {
      // alice's track at the ingest (received over UDP) and monitor-1's downstream reports (QOS back over UDP).
      const a = await getMetricsWhere(x.url, (m) => {
        const c = m.aggregatedStatesSnapshot.connections;
        return (c.alice?.packetsReceived ?? 0) >= 300 && (c['monitor-1']?.downstream?.reportsReceived ?? 0) >= 200;
      }, 30000);
      const c = a.aggregatedStatesSnapshot.connections;
      console.log(`      alice: ${c.alice.packetsReceived} received, ${c.alice.packetsLost} lost; monitor-1 downstream: ${c['monitor-1'].downstream?.reportsReceived} QoS reports, ${c['monitor-1'].downstream?.packetsLost} lost, latency ${c['monitor-1'].downstream?.latencyMs.toFixed(1)} ms`);
      assert.equal(c.alice.packetsLost, 0);
      assert.ok(a.aggregatedStatesSnapshot.incomingAudioTracks.some((t) => t.userId === 'alice' && t.connected));
      assert.equal(c['monitor-1'].downstream!.packetsLost, 0);
    } finally {
      await x.kill('SIGKILL');
    }
    const wav = readWav(wavPath);
    let start = -1;
    for (let i = 0; i < wav.samples.length; i += 2) if (Math.abs(wav.samples[i]) > 0.01) { start = i / 2; break; }
    assert.ok(start >= 0, `the recording holds no sound:\n${x.output()}`);
    const from = start + 0.3 * 48000;
    assert.ok(wav.frames >= from + 2 * 48000, `recording too short: ${wav.frames} frames, sound from ${start}`);
    const seg = wav.samples.subarray(from * 2, (from + 2 * 48000) * 2);
    const f = estimateFrequency(seg, 48000, 2, 0);
    const level = dbfs(rms(seg, 2, 0));
    console.log(`      monitor WAV: ${f.toFixed(2)} Hz, ${level.toFixed(2)} dBFS (expected 440 Hz, −9.03 dBFS)`);
    assert.ok(Math.abs(f - 440) <= 1, `frequency ${f}`);
    assert.ok(Math.abs(level - -9.03) <= 1, `level ${level} dBFS`);
  });
});

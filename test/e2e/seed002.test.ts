// Seed 002's raw UDP formats through a real xcast (the xcast and monitor presets in one embedded Node-RED, started by
// the CLI): an independent sender written here — a few lines of dgram, `[seq u32 BE][s16le]` of a 440 Hz tone, not the
// project's seed002 code — into xcast-raw-udp-in → mixer; the monitor's WAV has the tone at its frequency and level;
// datagrams the sender drops, swaps and repeats show in getMetrics' counts exactly; garbage is dropped and counted in
// /metrics; a second sender is a track of its own whose silence closes it; and xcast-raw-udp-out's datagrams, read by a
// recorder written here (s16le stereo), carry the tone on both channels.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import path from 'node:path';
import { startXcast, freePortMap, freeUdpPort, tmpDir, type XcastProcess } from '../support/xcast-process';
import { PACKAGE_ROOT } from '../../runtime/launcher';
import { getMetricsWhere } from '../support/get-metrics';
import { estimateFrequency, rms, dbfs, toneLevelDb } from '../../runtime/audio/analysis';
import { readWav } from '../../runtime/audio/wav';
import type { GetMetricsAnswer } from '../../runtime/qos/types';

const RATE = 48000;
const N = 480; // 10 ms packets
const AMP = 0.5; // −9.03 dBFS RMS
/** The first seq: the count wraps through 2^32 at packet 256. */
const SEQ0 = 0xffffff00;
const SLOTS = 600;
const DROPPED = [350, 362, 377, 391, 404];
const SWAPPED = [420, 440, 460]; // k+1 sent before k
const REPEATED = [430, 450];
const SECOND_FROM = 500;

async function udpSocket(port = 0): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.bind(port, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

/** Packet k of the tone: [seq BE][480 × s16le]. */
function packet(k: number, freq = 440, amp = AMP): Buffer {
  const b = Buffer.alloc(4 + N * 2);
  b.writeUInt32BE((SEQ0 + k) >>> 0, 0);
  for (let i = 0; i < N; i++) b.writeInt16LE(Math.round(amp * 32767 * Math.sin((2 * Math.PI * freq * (k * N + i)) / RATE)), 4 + 2 * i);
  return b;
}

/** What goes out in each 10 ms slot: the packet indices (in order), after the drops, swaps and repeats. */
function plan(): number[][] {
  const slots: number[][] = [];
  for (let j = 0; j < SLOTS; j++) slots.push([j]);
  for (const j of DROPPED) slots[j] = [];
  for (const j of SWAPPED) { slots[j] = [j + 1]; slots[j + 1] = [j]; }
  for (const j of REPEATED) slots[j] = [j, j];
  return slots;
}

/** Sends `slots` in real time (slot j at j × 10 ms), `extra(j)` after slot j's packets. */
function stream(sock: dgram.Socket, port: number, slots: number[][], make: (k: number) => Buffer, extra?: (j: number) => Buffer[]): Promise<void> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let j = 0;
    // Pacing a live stream, not waiting for something: each tick sends what the clock says is due.
    const timer = setInterval(() => {
      const due = Math.min(slots.length, Math.floor((Date.now() - t0) / 10) + 1);
      for (; j < due; j++) {
        for (const k of slots[j]) sock.send(make(k), port, '127.0.0.1');
        for (const g of extra?.(j) ?? []) sock.send(g, port, '127.0.0.1');
      }
      if (j >= slots.length) { clearInterval(timer); resolve(); }
    }, 5);
  });
}

function firstSound(samples: ArrayLike<number>, channels: number): number {
  for (let i = 0; i < samples.length; i += channels) if (Math.abs(samples[i]) > 0.01) return i / channels;
  return -1;
}

describe('seed 002 raw UDP in and out through a real xcast', function () {
  this.timeout(90000);
  let x: XcastProcess | undefined;
  const sockets: dgram.Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.close();
    await x?.stop();
    x = undefined;
  });

  it('an independent sender\'s 440 Hz tone reaches the monitor at its frequency and level; drops, swaps and repeats are counted exactly, garbage is dropped and counted, a quiet source closes, and the recorder hears the tone on both channels', async () => {
    const dir = tmpDir();
    const wavPath = path.join(dir, 'monitor.wav');
    const sax = await udpSocket();
    const other = await udpSocket();
    const recorder = await udpSocket();
    sockets.push(sax, other, recorder);
    const got: Buffer[] = [];
    recorder.on('message', (m) => got.push(m));
    const ports = await freePortMap();
    const inPort = ports[4030];
    const saxId = 'sax';
    const otherId = `seed002-127.0.0.1:${other.address().port}`;

    x = await startXcast({
      flows: ['xcast', 'monitor'], portMap: { ...ports, 4040: recorder.address().port }, userDir: dir,
      overrides: { 'xcast-audio-out': { path: wavPath } },
      edit: (nodes) => {
        const mixer = nodes.find((n) => n.type === 'xcast-mixer')!;
        const agg = nodes.find((n) => n.type === 'xcast-admin-aggregator')!;
        // The preset's seed 002 nodes when it has them, else ours; either way on the test's ports.
        let rin = nodes.find((n) => n.type === 'xcast-raw-udp-in');
        if (!rin) nodes.push((rin = { id: 'rawin', type: 'xcast-raw-udp-in', z: mixer.z, x: 100, y: 700, port: String(inPort), wires: [[mixer.id], [mixer.id, agg.id]] }));
        Object.assign(rin, { idleTimeoutMs: '500', userMap: JSON.stringify({ [`127.0.0.1:${sax.address().port}`]: saxId }) });
        if (!nodes.some((n) => n.type === 'xcast-raw-udp-out')) {
          nodes.push({ id: 'rawout', type: 'xcast-raw-udp-out', z: mixer.z, x: 600, y: 700, host: '127.0.0.1', port: String(recorder.address().port), wires: [] });
          (mixer.wires as string[][])[0].push('rawout');
        }
      },
    });

    const garbage = (j: number): Buffer[] => (j === 480 ? [Buffer.alloc(3), Buffer.alloc(4), Buffer.alloc(4 + 5), Buffer.alloc(4 + 7), Buffer.alloc(4 + 1)] : []);
    const second: number[][] = Array.from({ length: SLOTS }, (_, j) => (j >= SECOND_FROM ? [j - SECOND_FROM] : []));
    await Promise.all([
      stream(sax, inPort, plan(), (k) => packet(k), garbage),
      stream(other, inPort, second, (k) => packet(k, 660, 0.1)),
    ]);
    const unique = SLOTS - DROPPED.length;
    const conn = (a: GetMetricsAnswer, u: string) => a.aggregatedStatesSnapshot.connections[u];
    // Both sources went quiet: their close events (after the 500 ms silence timeout) reach the aggregator.
    const a = await getMetricsWhere(x.url, (m) => conn(m, saxId)?.packetsReceived === unique && conn(m, saxId)?.connected === false
      && conn(m, otherId)?.connected === false, 15000);
    const c = conn(a, saxId);
    const counts = { received: c.packetsReceived, lost: c.packetsLost, late: c.packetsLate, duplicate: c.packetsDuplicate, outOfOrder: c.packetsOutOfOrder };
    console.log(`      sax: ${JSON.stringify(counts)}; ${otherId}: ${conn(a, otherId).packetsReceived} received`);
    assert.deepEqual(counts, { received: unique, lost: DROPPED.length, late: 0, duplicate: REPEATED.length, outOfOrder: SWAPPED.length });
    assert.equal(conn(a, otherId).packetsReceived, SLOTS - SECOND_FROM);
    assert.equal(a.aggregatedStatesSnapshot.incomingAudioTracks.filter((t) => t.connected).length, 0);

    // Garbage: 2 with no audio after the seq, 3 not whole samples — counted in /metrics, the stream went on.
    const text = await (await fetch(`${x.url}/metrics`)).text();
    const hits = (name: string) => Number(new RegExp(`^xcast_transport_limit_hits_total\\{limit="${name}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
    assert.equal(hits('seed002_short'), 2, text.split('\n').filter((l) => l.includes('seed002')).join('\n'));
    assert.equal(hits('seed002_partial_sample'), 3);

    // The recorder: one datagram per 10 ms mix frame, 480 stereo s16le samples; the tone on both channels, at its level (no codec on this path).
    assert.ok(got.length > 300, `${got.length} datagrams at the recorder`);
    assert.ok(got.every((d) => d.length === N * 4), `datagram sizes ${[...new Set(got.map((d) => d.length))]}`);
    const pcm = Buffer.concat(got);
    const rec = new Float32Array(pcm.length / 2);
    for (let i = 0; i < rec.length; i++) rec[i] = pcm.readInt16LE(2 * i) / 32768;
    const rs = firstSound(rec, 2);
    assert.ok(rs >= 0, 'the recorder heard no sound');
    const recSeg = rec.subarray((rs + 0.3 * RATE) * 2, (rs + 2.3 * RATE) * 2);
    for (const ch of [0, 1]) {
      const f = estimateFrequency(recSeg, RATE, 2, ch);
      const level = dbfs(rms(recSeg, 2, ch));
      console.log(`      recorder ch${ch}: ${f.toFixed(2)} Hz, ${level.toFixed(2)} dBFS`);
      assert.ok(Math.abs(f - 440) <= 1, `recorder channel ${ch}: ${f} Hz`);
      assert.ok(Math.abs(level - -9.03) <= 0.5, `recorder channel ${ch}: ${level} dBFS`);
    }

    // The monitor (the mix as Opus, decoded, to a WAV): the tone at 440 Hz and its level.
    await x.stop();
    x = undefined;
    const wav = readWav(wavPath);
    const start = firstSound(wav.samples, 2);
    assert.ok(start >= 0, 'the monitor recorded no sound');
    const seg = wav.samples.subarray((start + 0.3 * RATE) * 2, (start + 2.3 * RATE) * 2);
    const f = estimateFrequency(seg, RATE, 2, 0);
    const level = dbfs(rms(seg, 2, 0));
    console.log(`      monitor WAV: ${f.toFixed(2)} Hz, ${level.toFixed(2)} dBFS (expected 440 Hz, −9.03 dBFS)`);
    assert.ok(Math.abs(f - 440) <= 1, `frequency ${f}`);
    assert.ok(Math.abs(level - -9.03) <= 1, `level ${level} dBFS`);
  });

  it('example 14 (the seed 002 streamer and recorder) runs as shipped: two streamers\' tones mixed reach its recorder port on both channels', async () => {
    const a = await udpSocket();
    const b = await udpSocket();
    const recorder = await udpSocket();
    sockets.push(a, b, recorder);
    const got: Buffer[] = [];
    recorder.on('message', (m) => got.push(m));
    const inPort = await freeUdpPort();
    x = await startXcast({ flows: [path.join(PACKAGE_ROOT, 'examples', '14 Seed 002 streamer and recorder.json')], portMap: { 17140: inPort, 17141: recorder.address().port } });
    const slots: number[][] = Array.from({ length: 300 }, (_, j) => [j]);
    await Promise.all([stream(a, inPort, slots, (k) => packet(k, 440, 0.25)), stream(b, inPort, slots, (k) => packet(k, 660, 0.25))]);
    const pcm = Buffer.concat(got);
    const rec = new Float32Array(pcm.length / 2);
    for (let i = 0; i < rec.length; i++) rec[i] = pcm.readInt16LE(2 * i) / 32768;
    const rs = firstSound(rec, 2);
    assert.ok(rs >= 0 && rec.length / 2 - rs > 1.5 * RATE, `${rec.length / 2} frames at the recorder, sound from ${rs}`);
    // Both tones, each at its own level (amplitude 0.25: −15.05 dBFS RMS), in both channels: one frequency bin each,
    // the median of ten 100 ms blocks (a block with a concealed frame, on a loaded machine, reads lower).
    for (const ch of [0, 1]) {
      for (const f of [440, 660]) {
        const blocks = Array.from({ length: 10 }, (_, b) => toneLevelDb(rec.subarray((rs + (0.3 + b / 10) * RATE) * 2, (rs + (0.4 + b / 10) * RATE) * 2), 2, ch, f, RATE)).sort((p, q) => p - q);
        const level = (blocks[4] + blocks[5]) / 2;
        assert.ok(Math.abs(level - -15.05) <= 0.5, `channel ${ch}, ${f} Hz: ${level} dBFS (blocks ${blocks.map((v) => v.toFixed(1))})`);
      }
    }
  });
});

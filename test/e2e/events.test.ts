// End to end through the preset flows: the xcast's audio event stream (7012) rebuilt offline and compared with the xcast's own mix, with packets delayed past its jitter buffer, and with a client that never reads.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { readWav } from '../../runtime/audio/wav';
import { findOffset } from '../../runtime/audio/analysis';
import { EventParser, EventType, PCM_F32LE, type AudioEvent, type MixParametersEvent } from '../../runtime/events/codec';
import { readAllEvents } from '../../runtime/events/reader';
import { indexSession, SlotSource } from '../../runtime/events/session';
import { inspectEvents, type ChannelSummary } from '../../runtime/events/inspect';
import { reconstruct } from '../../runtime/events/reconstruct';
import { startXcast, freePortMap, tmpDir, sleep, findNode, XcastProcess } from '../support/xcast-process';
import { LossyRelay } from '../support/lossy-relay';
import { bypass } from '../support/flow-edit';
import { PACKAGE_ROOT } from '../../runtime/launcher';

type N = Record<string, unknown>;
const RATE = 48000;
const FRAME = 480;
const CHORD = path.join(PACKAGE_ROOT, 'media', 'demo-chord.wav');

/**
 * Records the xcast's own mix: Node-RED's file node on the xcast tab, fed by the mixer's output 1, appends each
 * mixed frame's f32 samples as they are (raw, stereo interleaved, nothing rounded). Not an audio-out: its playout
 * buffer would trim its own latency (a splice) once calm, and the recording would no longer be the mix. The
 * recording starts at the first frame the mixer sent, so comparisons first find the offset.
 */
function addMixRecorder(nodes: N[], file: string): void {
  const mixer = findNode(nodes, 'xcast-mixer', 'xcast') as N & { wires: string[][] };
  nodes.push({
    id: 'e2e0000000rec001', type: 'file', z: mixer.z, x: 640, y: 400, wires: [[]], name: 'xcast mix recorder',
    filename: file, filenameType: 'str', appendNewline: false, createDir: true, overwriteFile: 'false', encoding: 'none',
  });
  mixer.wires[0].push('e2e0000000rec001');
}

/** A raw recording of addMixRecorder (f32 stereo interleaved). */
interface Recording { frames: number; channels: number; samples: Float32Array }

function readRecording(file: string): Recording {
  const b = fs.readFileSync(file);
  const samples = new Float32Array(Math.floor(b.length / 8) * 2);
  for (let i = 0; i < samples.length; i++) samples[i] = b.readFloatLE(i * 4);
  return { frames: samples.length / 2, channels: 2, samples };
}

/**
 * Logs the mixer's latency trims: a function node fed by both mixer outputs notes the frame seq of each mix and, on
 * each 'tracks' state (every 100 ms), writes a line when the tracks' trimmedSamples grew (droppedSamples also counts
 * packets skipped at the start of play down to the target, which reconstruct needs no trim for). The mixer's playout
 * buffers trim excess depth by whole packets with a fixed cross-fade (PlayoutOptions.trim 'frames'), which the
 * event stream describes and reconstruct replays; the probe shows the sessions do trim.
 */
function addTrimProbe(nodes: N[], file: string): void {
  const mixer = findNode(nodes, 'xcast-mixer', 'xcast') as N & { wires: string[][] };
  nodes.push({
    id: 'e2e00000trimfn01', type: 'function', z: mixer.z, x: 640, y: 460, wires: [['e2e00000trimlog1']], name: 'trim probe', outputs: 1,
    func: [
      "if (msg.mixed) { context.set('f', msg.mixed.frameSeq); return null; }",
      "if (msg.topic !== 'tracks') return null;",
      'const dropped = msg.payload.reduce((s, t) => s + t.trimmedSamples, 0);',
      "if (dropped === (context.get('d') || 0)) return null;",
      "context.set('d', dropped);",
      "return { payload: JSON.stringify({ frameSeq: context.get('f'), dropped }) };",
    ].join('\n'),
    initialize: '', finalize: '', libs: [], noerr: 0,
  });
  nodes.push({
    id: 'e2e00000trimlog1', type: 'file', z: mixer.z, x: 840, y: 460, wires: [[]], name: 'trim log',
    filename: file, filenameType: 'str', appendNewline: true, createDir: true, overwriteFile: 'false', encoding: 'none',
  });
  mixer.wires[0].push('e2e00000trimfn01');
  mixer.wires[1].push('e2e00000trimfn01');
}

/** The mixer's latency trims as the probe saw them: frame seq (the trim was in the 10 frames before) and samples dropped so far. */
function trimsSeen(file: string): Array<{ frameSeq: number; dropped: number }> {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
}

/** A client of the event stream that reads everything, keeping a summary (not the packets). */
class EventWatcher {
  readonly socket: net.Socket;
  private readonly parser = new EventParser();
  bytes = 0;
  types: number[] = [];
  /** Date.now() when the first packet event (0x01/0x12) came. */
  firstPacketAt = 0;
  opus = 0;
  pcm: Array<{ codec: number; channels: number; frameSamples: number; bytes: number }> = [];
  frames: Array<{ seq: number; ts: number }> = [];
  error: Error | null = null;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.bytes += d.length;
      let events: AudioEvent[];
      try { events = this.parser.push(d); } catch (e) { this.error = e as Error; return; }
      for (const e of events) {
        if (this.types.length < 4) this.types.push(e.type);
        if (e.type === EventType.OPUS_PACKET_RECEIVED || e.type === EventType.PCM_PACKET_RECEIVED) {
          if (!this.firstPacketAt) this.firstPacketAt = Date.now();
          if (e.type === EventType.OPUS_PACKET_RECEIVED) this.opus++;
          else if (this.pcm.length < 1000) this.pcm.push({ codec: e.codec, channels: e.channels, frameSamples: e.frameSamples, bytes: e.data.length });
        } else if (e.type === EventType.AUDIO_FRAME_MIXED) {
          this.frames.push({ seq: Number(e.frameSeq), ts: e.timestamp });
        }
      }
    });
    socket.on('error', (e) => { this.error = e; });
  }

  /** Connects as soon as the event server listens (the flow starts it after `xcast start` prints its URL). */
  static async connect(port: number, timeoutMs = 20000): Promise<EventWatcher> {
    return new EventWatcher(await connectWhenListening(port, timeoutMs));
  }

  async waitFor(what: string, timeoutMs: number, cond: () => boolean): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!cond()) {
      if (this.error) throw this.error;
      if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(50);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

async function connectWhenListening(port: number, timeoutMs: number, paused = false): Promise<net.Socket> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await new Promise<net.Socket>((resolve, reject) => {
        const s = new net.Socket();
        if (paused) s.pause();
        s.once('error', reject);
        s.connect(port, '127.0.0.1', () => { s.off('error', reject); resolve(s); });
      });
    } catch (e) {
      if (Date.now() > end) throw new Error(`event stream on port ${port} not listening after ${timeoutMs} ms: ${(e as Error).message}`);
      await sleep(100);
    }
  }
}

/** One channel of an interleaved recording. */
function channelOf(w: Recording, c: number): Float32Array {
  const out = new Float32Array(w.frames);
  for (let i = 0; i < w.frames; i++) out[i] = w.samples[i * w.channels + c];
  return out;
}

function firstAbove(x: Float32Array, level: number): number {
  for (let i = 0; i < x.length; i++) if (Math.abs(x[i]) > level) return i;
  return -1;
}

/**
 * Where the reconstruction's frame timeline sits in the recording: the recording's sample index of the
 * reconstruction's sample 0. Found as the bit-exact position of a 0.1 s stretch taken `at` samples into the reconstruction.
 */
function recordingOffset(recording: Float32Array, recon: Float32Array, at: number): number {
  const needle = recon.subarray(at, at + 4800);
  const pos = findOffset(recording, needle);
  assert.ok(pos >= 0, 'the reconstruction is not found in the recording');
  for (let i = 0; i < needle.length; i++) assert.equal(recording[pos + i], needle[i], `no bit-exact match for the stretch at ${at} (best guess ${pos})`);
  return pos - at;
}

/**
 * SNR (dB) of mono signals against the looped source, block by block: each 0.25 s block is aligned on its own,
 * within ±0.25 s of the one before (the stream shifts by whole frames where the playout buffer ran dry and refilled),
 * and blocks `skip` names are left out, the lag found on
 * `guide` (the cleaner signal), so every signal is measured on the same alignment; a least-squares gain per block.
 */
function snrAgainstSource(
  source: Float32Array, guide: Float32Array, signals: Float32Array[], sourceOffset: number, skip: (from: number, to: number) => boolean,
): { snr: number[]; blocks: number; skipped: number } {
  const B = RATE / 4;
  const M = RATE / 4;
  const ref = new Float32Array(B + 2 * M);
  const sig = signals.map(() => 0);
  const noise = signals.map(() => 0);
  let base = sourceOffset;
  let blocks = 0;
  let skipped = 0;
  const L = source.length;
  for (let b = 0; b + B <= guide.length; b += B) {
    const start = (((base + b - M) % L) + L) % L;
    for (let i = 0; i < ref.length; i++) ref[i] = source[(start + i) % L];
    let energy = 0;
    for (let i = b; i < b + B; i++) energy += guide[i] * guide[i];
    blocks++;
    // A near-silent block (the chord's tail, below −60 dBFS) cannot be placed: it is left out of every measurement.
    const p = energy > B * 1e-6 ? findOffset(ref, guide.subarray(b, b + B)) : -1;
    if (p >= 0) base += p - M;
    if (p < 0 || skip(b, b + B)) { skipped++; continue; }
    signals.forEach((x, k) => {
      let rt = 0, tt = 0, rr = 0;
      for (let i = 0; i < B; i++) { const r = ref[p + i], t = x[b + i]; rt += r * t; tt += t * t; rr += r * r; }
      const g = tt > 0 ? rt / tt : 0;
      let e = 0;
      for (let i = 0; i < B; i++) { const d = ref[p + i] - g * x[b + i]; e += d * d; }
      sig[k] += rr;
      noise[k] += e;
    });
  }
  return { snr: sig.map((sgl, k) => 10 * Math.log10(sgl / noise[k])), blocks, skipped };
}

/** The peer preset (alice, profile Alice from Lyon) playing the demo chord in a loop, as Opus, to `port`. */
function startPeer(port: number, edit?: (nodes: N[]) => void): Promise<XcastProcess> {
  return startXcast({
    flows: ['peer'], portMap: { 7010: port }, userDir: tmpDir(),
    overrides: { 'xcast-audio-in': { source: 'file', file: CHORD, loop: true } },
    edit,
  });
}

async function postInject(x: XcastProcess, id: string): Promise<void> {
  const r = await fetch(`${x.url}/inject/${id}`, { method: 'POST' });
  assert.equal(r.status, 200, `inject ${id}: HTTP ${r.status}`);
}

describe('audio event stream end to end (xcast preset, events on 7012)', function () {
  this.timeout(180000);
  const procs: XcastProcess[] = [];
  const relays: LossyRelay[] = [];
  const clients: Array<{ close(): void }> = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await Promise.all(procs.splice(0).map((p) => p.stop()));
    await Promise.all(relays.splice(0).map((r) => r.close()));
  });

  it('rebuilds, with unchanged parameters, the xcast\'s own mix output sample for sample over a whole session with no late or lost packet (a live gain change and the mixer\'s latency trims included)', async () => {
    const dir = tmpDir();
    const ports = await freePortMap();
    const events = path.join(dir, 'session.xcev');
    const recording = path.join(dir, 'xcast-mix.f32');
    const trims = path.join(dir, 'trims.jsonl');
    const x = await startXcast({
      flows: ['xcast'], portMap: ports, userDir: dir,
      overrides: { 'xcast-event-stream': { file: events } },
      edit: (nodes) => {
        addMixRecorder(nodes, recording);
        addTrimProbe(nodes, trims);
        // A control the test fires mid-session: alice's gain to 0.5, which the mixer announces as Mix Parameters.
        const mixer = findNode(nodes, 'xcast-mixer', 'xcast');
        nodes.push({
          id: 'e2e000000gain001', type: 'inject', z: mixer.z, x: 200, y: 400, wires: [[mixer.id]], name: 'alice gain 0.5',
          props: [{ p: 'payload', v: '0.5', vt: 'num' }, { p: 'topic', v: 'gain', vt: 'str' }, { p: 'userId', v: 'alice', vt: 'str' }],
          repeat: '', crontab: '', once: false, onceDelay: 0.1, topic: 'gain', payload: '0.5', payloadType: 'num',
        });
      },
    });
    procs.push(x);
    const watch = await EventWatcher.connect(ports[7012]);
    clients.push(watch);
    // The peer in its own process, as on its own machine: a stall of one process does not hold up the other.
    const peer = await startPeer(ports[7010]);
    procs.push(peer);
    await watch.waitFor('alice\'s first packet', 20000, () => watch.firstPacketAt > 0);
    await sleep(2500);
    await postInject(x, 'e2e000000gain001');
    await sleep(1000);
    // The peer stalls for 150 ms (its clock then catches up: a burst of 15 packets). The mixer conceals while it
    // waits (a delay, not a loss: the packets play later) and its buffer then stands well above target for a
    // window: it trims, whatever else it does. It also lowers its target after three calm 2 s windows and trims
    // again. The probe must see a trim.
    peer.proc.kill('SIGSTOP');
    await sleep(150);
    peer.proc.kill('SIGCONT');
    await sleep(7500);
    await x.stop();

    const sum = await inspectEvents(events);
    const alice = sum.channels.find((c) => c.profile?.name === 'Alice') as ChannelSummary;
    assert.ok(alice, `no channel with alice's profile: ${sum.channels.map((c) => c.profile?.name).join(', ')}`);
    // No packet lost or late on the way in; a frame the mixer concealed because a packet was merely delayed (a
    // stalled process; the packet played a frame later) is part of the live mix, and rebuilt as such.
    assert.deepEqual([alice.latePackets, alice.missingPackets], [0, 0], `no late packet and none missing from the file (${dir})`);
    assert.equal(alice.packets, Number(alice.lastSeq! - alice.firstSeq!) + 1, 'every packet from the first to the last arrived');
    assert.equal(alice.profile!.city, 'Lyon');
    const { events: all } = await readAllEvents(events);
    const halved = all.filter((e): e is MixParametersEvent => e.type === EventType.MIX_PARAMETERS && e.channels.some((c) => c.channelId === alice.channelId && c.gain === 0.5));
    assert.equal(halved.length, 1, `one Mix Parameters event with alice at gain 0.5 (snapshots: ${sum.mixParameterChanges}); xcast output:\n${x.output()}`);

    const out = path.join(dir, 'rebuilt.wav');
    const r = await reconstruct(events, { out });
    assert.deepEqual(r.warnings, []);
    const rec = readRecording(recording);
    const rebuilt = readWav(out);
    assert.equal(rebuilt.format, 'float', 'reconstruct writes f32 by default');
    const recL = channelOf(rec, 0);
    const rebL = channelOf(rebuilt, 0);
    const sound = firstAbove(rebL, 1e-3);
    assert.ok(sound >= 0, 'the reconstruction holds sound');
    const off = recordingOffset(recL, rebL, sound + 4800);
    // The whole overlap, every sample of both channels, the mixer's latency trims included.
    const seen = trimsSeen(trims);
    const track = r.tracks.find((t) => t.channelId === alice.channelId)!;
    const from = Math.max(0, -off);
    const to = Math.min(rebuilt.frames, rec.frames - off);
    let mismatches = 0;
    let first = -1;
    for (let i = from; i < to; i++) {
      for (let c = 0; c < 2; c++) {
        if (rebuilt.samples[i * 2 + c] !== rec.samples[(i + off) * 2 + c]) {
          mismatches++;
          if (first < 0) first = i;
        }
      }
    }
    console.log(`      ${alice.framesMixed} frames mixed live, ${alice.concealedFrames} concealed; ` +
      `${rebuilt.frames} samples rebuilt (${r.durationSeconds.toFixed(2)} s), recording ${rec.frames}, offset ${off}; ` +
      `compared ${to - from} samples × 2 channels: ${mismatches} differ${first >= 0 ? ` (the first at sample ${first}, mix frame ${Math.floor(first / FRAME)})` : ''}`);
    const dropped = seen.length > 0 ? seen[seen.length - 1].dropped : 0;
    console.log(`      the probe saw the mixer trim ${seen.length} time(s), ${dropped} samples in all (at frames ${seen.map((t) => t.frameSeq).join(', ') || '-'}); ` +
      `reconstruct replayed ${track.trims} trim(s) of alice's channel, ${track.trimmedPackets} packets`);
    assert.ok(seen.length >= 1, `the mixer trimmed its latency at least once in ${(r.durationSeconds).toFixed(1)} s (files in ${dir})`);
    assert.ok(track.trims >= 1 && track.trimmedPackets * FRAME >= dropped, `reconstruct replayed the trims (${track.trimmedPackets} packets; the probe saw ${dropped} samples dropped)`);
    assert.ok(to - from >= rebuilt.frames - 0.2 * RATE, `the overlap (${to - from}) covers the reconstruction (${rebuilt.frames}) but for its last 0.2 s`);
    assert.ok(to - from >= 9 * RATE, `at least 9 s compared (${((to - from) / RATE).toFixed(2)} s)`);
    assert.equal(mismatches, 0, `${mismatches} samples differ, the first at sample ${first}; files in ${dir}`);
    // The live gain change holds from the frame its Mix Parameters name: rebuilt with alice forced to unity, every
    // frame before it is the same and every frame from it on is exactly twice the live one (halving is exact in f32).
    const unityOut = path.join(dir, 'unity.wav');
    await reconstruct(events, { out: unityOut, gains: { alice: 1 } });
    const unity = readWav(unityOut).samples;
    const changeAt = Number(halved[0].fromFrameSeq - sum.firstFrameSeq!) * FRAME * 2;
    assert.ok(changeAt > 0 && changeAt < rebuilt.samples.length, `the change (frame ${halved[0].fromFrameSeq}) is inside the session`);
    let wrong = 0;
    for (let i = 0; i < unity.length; i++) if (unity[i] !== (i < changeAt ? rebuilt.samples[i] : rebuilt.samples[i] * 2)) wrong++;
    assert.equal(wrong, 0, `${wrong} samples do not follow the gain change at frame ${halved[0].fromFrameSeq}`);
  });

  it('puts back the packets a relay delayed past the xcast\'s jitter buffer: the rebuilt mix conceals fewer samples and is closer to the peer\'s source than the live mix', async () => {
    const dir = tmpDir();
    const ports = await freePortMap();
    const events = path.join(dir, 'session.xcev');
    const recording = path.join(dir, 'xcast-mix.f32');
    const trims = path.join(dir, 'trims.jsonl');
    const x = await startXcast({
      flows: ['xcast'], portMap: ports, userDir: dir,
      overrides: { 'xcast-event-stream': { file: events } },
      edit: (nodes) => { addMixRecorder(nodes, recording); addTrimProbe(nodes, trims); },
    });
    procs.push(x);
    // Every 25th packet from seq 100 on arrives 600 ms late: past the mixer's 3-frame (30 ms) buffer, and past the
    // 50 frames its adaptation may grow to, so the live mix conceals every one of them whatever the buffer does.
    const late = new Map<number, number>();
    for (let seq = 100; seq < 2000; seq += 25) late.set(seq, 600);
    const relay = new LossyRelay(ports[7010], { late });
    await relay.listen();
    relays.push(relay);
    const watch = await EventWatcher.connect(ports[7012]);
    clients.push(watch);
    procs.push(await startPeer(relay.port));
    await watch.waitFor('alice\'s first packet', 20000, () => watch.firstPacketAt > 0);
    await sleep(5000);
    await x.stop();

    const sum = await inspectEvents(events);
    const alice = sum.channels.find((c) => c.profile?.name === 'Alice') as ChannelSummary;
    assert.ok(alice, 'alice\'s channel');
    // The mixer trims by whole packets (seldom here: each late packet raises its target): its frames keep starting
    // at packet boundaries, a concealed slot keeps its marker, and a trim is replayed, so every late packet is placed.
    const seen = trimsSeen(trims);
    const out = path.join(dir, 'rebuilt.wav');
    const r = await reconstruct(events, { out });
    const track = r.tracks.find((t) => t.channelId === alice.channelId)!;
    const liveConcealed = alice.concealedFrames * FRAME;
    const rebuiltConcealed = (track.concealed + track.missing) * FRAME;

    const rec = readRecording(recording);
    const rebuilt = readWav(out);
    const recL = channelOf(rec, 0);
    const rebL = channelOf(rebuilt, 0);
    const sound = firstAbove(rebL, 1e-3);
    assert.ok(sound >= 0, 'the reconstruction holds sound');
    // Before the first late packet (seq 100, a second in) the two are the same: that fixes the offset.
    const off = recordingOffset(recL, rebL, sound + 4800);
    const from = sound + 0.3 * RATE;
    const to = Math.min(rebuilt.frames, rec.frames - off) - 0.1 * RATE;
    assert.ok(to - from >= 3 * RATE, `at least 3 s to compare (${((to - from) / RATE).toFixed(2)} s)`);
    const source = readWav(CHORD).samples;
    const loop2 = new Float32Array(source.length * 2);
    loop2.set(source);
    loop2.set(source, source.length);
    const rebuiltSeg = rebL.subarray(from, to);
    const liveSeg = recL.subarray(from + off, to + off);
    // A 2 s needle always holds some of the chord's attack (it decays to silence within its 4 s loop).
    const srcOff = findOffset(loop2, rebuiltSeg.subarray(0, 2 * RATE));
    assert.ok(srcOff >= 0, 'the source is found in the reconstruction');
    // Blocks holding a frame concealed in both mixes (the buffer ran dry: a delay, not a late packet) are the same
    // in both and say nothing of late packets; they are left out of both measurements.
    const ix = await indexSession(events);
    const ch = ix.channels.get(alice.channelId)!;
    const bothConcealed = new Set<number>();
    ch.slotSource.forEach((src, i) => { if (src === SlotSource.CONCEALED || src === SlotSource.MISSING) bothConcealed.add(ch.firstFrame + i); });
    const skip = (a: number, b: number) => {
      for (let k = Math.floor((from + a) / FRAME); k <= Math.floor((from + b - 1) / FRAME); k++) if (bothConcealed.has(k)) return true;
      return false;
    };
    const m = snrAgainstSource(source, rebuiltSeg, [liveSeg, rebuiltSeg], srcOff, skip);
    const [snrLive, snrRebuilt] = m.snr;
    console.log(`      relay: ${relay.stats.late} packets held 600 ms; inspect: ${alice.framesMixed} frames mixed, ${alice.concealedFrames} concealed live, ` +
      `${alice.latePackets} late, ${alice.lostPackets} lost; the mixer trimmed ${seen.length} time(s), reconstruct replayed ${track.trims}; files in ${dir}`);
    console.log(`      concealed samples: live ${liveConcealed}, rebuilt ${rebuiltConcealed} (${track.late} late packets put back); ` +
      `SNR against the source over ${m.blocks - m.skipped} of ${m.blocks} blocks of 0.25 s: live ${snrLive.toFixed(2)} dB, rebuilt ${snrRebuilt.toFixed(2)} dB`);
    assert.ok(alice.latePackets >= 10, `the live mix concealed the delayed packets (${alice.latePackets} late; ${dir})`);
    assert.equal(track.late, alice.latePackets, 'every late packet is put back into its slot');
    assert.ok(rebuiltConcealed < liveConcealed, `fewer concealed samples rebuilt (${rebuiltConcealed}) than live (${liveConcealed})`);
    assert.ok(snrRebuilt > snrLive + 3, `the rebuilt mix is closer to the source (${snrRebuilt.toFixed(2)} dB) than the live one (${snrLive.toFixed(2)} dB) by more than 3 dB`);
  });

  it('cuts off a client that never reads, while a reading client gets every mixed frame in sequence and the mixer misses no tick', async () => {
    const ports = await freePortMap();
    const boundKb = 64;
    const x = await startXcast({ flows: ['xcast'], portMap: ports, overrides: { 'xcast-event-stream': { maxClientBacklogKb: String(boundKb) } } });
    procs.push(x);
    const watch = await EventWatcher.connect(ports[7012]);
    clients.push(watch);
    // Never reads: the kernel's socket buffers fill (megabytes on loopback), then the server's backlog passes the bound.
    const slow = await connectWhenListening(ports[7012], 5000, true);
    clients.push({ close: () => slow.destroy() });
    let slowBytes = 0;
    let slowClosed = false;
    slow.on('error', () => { /* reset by the server: expected */ });
    slow.on('close', () => { slowClosed = true; });
    // A PCM peer of 8 channels (15 KiB a frame, 1.5 MB/s of PCM Packet Received events) fills those buffers in seconds.
    procs.push(await startXcast({
      flows: ['peer'], portMap: { 7010: ports[7010] }, userDir: tmpDir(),
      overrides: { 'xcast-audio-in': { channels: '8', amplitude: '0.2' } },
      edit: (nodes) => bypass(nodes, 'xcast-opus-encode'),
    }));
    await watch.waitFor('the server to cut the slow client off', 90000, () => /event client \S+ cut off/.test(x.output()));
    const framesAtCut = watch.frames.length;
    await sleep(1500);
    assert.ok(!slowClosed, 'the slow client, paused, has not read the end of its stream yet');
    slow.on('data', (d: Buffer) => { slowBytes += d.length; });
    slow.resume();
    await watch.waitFor('the slow client to reach the end of what it was sent', 30000, () => slowClosed);
    const framesAfterCut = watch.frames.length - framesAtCut;
    watch.close();

    const f = watch.frames;
    const gaps = f.filter((e, i) => i > 0 && e.seq !== f[i - 1].seq + 1).length;
    const seqSpan = f[f.length - 1].seq - f[0].seq;
    const timeSpanFrames = (f[f.length - 1].ts - f[0].ts) / 10000;
    console.log(`      cut off after the bound of ${boundKb} KiB: slow client got ${(slowBytes / 1e6).toFixed(2)} MB, the reading one ${(watch.bytes / 1e6).toFixed(2)} MB; ` +
      `${f.length} mixed frames in sequence (${gaps} gaps), ${framesAfterCut} after the cut; frame seqs span ${seqSpan}, event times ${timeSpanFrames.toFixed(1)} frame periods`);
    assert.match(x.output(), new RegExp(`cut off: \\d+ KiB unsent \\(bound ${boundKb} KiB\\)`));
    assert.ok(slowBytes < watch.bytes, 'the slow client got only part of the stream');
    assert.equal(gaps, 0, 'the reading client got every Audio Frame Mixed, consecutive');
    assert.ok(framesAfterCut >= 100, `the mix went on after the cut (${framesAfterCut} frames)`);
    // The clock catches up on stalls shorter than 200 ms and skips ahead only past that: every frame period
    // of the session has its frame unless one was skipped.
    assert.ok(timeSpanFrames - seqSpan < 20, `${(timeSpanFrames - seqSpan).toFixed(1)} frame periods without a frame`);
    assert.ok(watch.pcm.length > 0 && watch.pcm.every((p) => p.codec === PCM_F32LE && p.channels === 8 && p.frameSamples === FRAME && p.bytes === FRAME * 8 * 4),
      'the PCM track came as PCM Packet Received events (f32, 8 channels, 480 samples)');
    assert.deepEqual(watch.types.slice(0, 2), [EventType.STREAM_INFO, EventType.MIX_PARAMETERS], 'a client gets Stream Info first, then Mix Parameters');
  });
});

// End to end through the preset flows: the xcast's audio event stream (7012) rebuilt offline and compared with the xcast's own mix, with packets delayed past its jitter buffer, and with a client that never reads.
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { readWav, WavData } from '../../runtime/audio/wav';
import { alignSignals, findOffset } from '../../runtime/audio/analysis';
import { EventParser, EventType, PCM_F32LE, type AudioEvent, type MixParametersEvent } from '../../runtime/events/codec';
import { readAllEvents } from '../../runtime/events/reader';
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
 * Records the xcast's own mix: an audio-out on the xcast tab fed by the mixer's output 1, writing the
 * mixer's f32 frames to a WAV (f32, so nothing is rounded). Its playout buffer only delays them (prebuffer
 * silence at the start), so comparisons first find the offset.
 */
function addMixRecorder(nodes: N[], file: string): void {
  const mixer = findNode(nodes, 'xcast-mixer', 'xcast') as N & { wires: string[][] };
  nodes.push({
    id: 'e2e0000000rec001', type: 'xcast-audio-out', z: mixer.z, x: 640, y: 400, wires: [[]], name: 'xcast mix recorder',
    output: 'file', path: file, format: 'f32', device: '', sampleRate: '48000', channels: '2', frameMs: '10',
    jitterFrames: '10', idleMs: '2000', stateIntervalMs: '250',
  });
  mixer.wires[0].push('e2e0000000rec001');
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
function channelOf(w: WavData, c: number): Float32Array {
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

/** SNR (dB) of a stretch of a mono signal against the looped source, after alignment and best gain. */
function snrAgainstSource(source: Float32Array, signal: Float32Array, sourceOffset: number): number {
  const ref = new Float32Array(signal.length);
  for (let i = 0; i < ref.length; i++) ref[i] = source[(sourceOffset + i) % source.length];
  return alignSignals(ref, signal, 200).snrDb;
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

  it('rebuilds, with unchanged parameters, the xcast\'s own mix output sample for sample in a session with no late or lost packet (a live gain change included)', async () => {
    const dir = tmpDir();
    const ports = await freePortMap();
    const events = path.join(dir, 'session.xcev');
    const recording = path.join(dir, 'xcast-mix.wav');
    const x = await startXcast({
      flows: ['xcast'], portMap: ports, userDir: dir,
      overrides: { 'xcast-event-stream': { file: events } },
      edit: (nodes) => {
        addMixRecorder(nodes, recording);
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
    procs.push(await startPeer(ports[7010]));
    await watch.waitFor('alice\'s first packet', 20000, () => watch.firstPacketAt > 0);
    await sleep(2500);
    await postInject(x, 'e2e000000gain001');
    // Both playout buffers (the mixer's and the recorder's) lower their depth after three calm 2 s windows and
    // splice out the excess; the session ends before that (see the report on latency trims).
    await sleep(2500);
    await x.stop();

    const sum = await inspectEvents(events);
    const alice = sum.channels.find((c) => c.profile?.name === 'Alice') as ChannelSummary;
    assert.ok(alice, `no channel with alice's profile: ${sum.channels.map((c) => c.profile?.name).join(', ')}`);
    // No packet lost or late on the way in; a frame the mixer concealed while a packet was merely delayed inside
    // this busy process (played one frame later) is part of the live mix, and rebuilt as such.
    assert.deepEqual([alice.latePackets, alice.missingPackets], [0, 0], `no late packet and none missing from the file (${dir})`);
    assert.equal(alice.packets, Number(alice.lastSeq! - alice.firstSeq!) + 1, 'every packet from the first to the last arrived');
    assert.equal(alice.profile!.city, 'Lyon');
    const { events: all } = await readAllEvents(events);
    const halved = all.filter((e): e is MixParametersEvent => e.type === EventType.MIX_PARAMETERS && e.channels.some((c) => c.channelId === alice.channelId && c.gain === 0.5));
    assert.equal(halved.length, 1, `one Mix Parameters event with alice at gain 0.5 (snapshots: ${sum.mixParameterChanges}); xcast output:\n${x.output()}`);

    const out = path.join(dir, 'rebuilt.wav');
    const r = await reconstruct(events, { out });
    assert.deepEqual(r.warnings, []);
    const rec = readWav(recording);
    const rebuilt = readWav(out);
    assert.equal(rebuilt.format, 'float', 'reconstruct writes f32 by default');
    const recL = channelOf(rec, 0);
    const rebL = channelOf(rebuilt, 0);
    const sound = firstAbove(rebL, 1e-3);
    assert.ok(sound >= 0, 'the reconstruction holds sound');
    const off = recordingOffset(recL, rebL, sound + 4800);
    // The whole overlap, every sample of both channels.
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
    assert.ok(to - from >= rebuilt.frames - 0.2 * RATE, `the overlap (${to - from}) covers the reconstruction (${rebuilt.frames}) but for its last 0.2 s`);
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
});

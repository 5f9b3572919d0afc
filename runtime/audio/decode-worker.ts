// Worker thread of the mixer's decode pool: owns the playout buffers (and so the Opus decoders) of its share of the tracks.
//
// Protocol (runtime/audio/decode-pool.ts): 'add' / 'remove' messages open and close slots; at each mixer tick a
// 'tick' message hands over the packets the main thread wrote into the shared ring since the last tick. The
// worker files them into the slots' playout buffers (in arrival order, as Mixer.push would have), pulls one frame
// per active slot into the shared frame area, writes each slot's PullInfo and statistics beside it, and
// publishes the tick's generation in the control word, which the main thread is waiting on.
import { parentPort, workerData } from 'node:worker_threads';
import { PlayoutBuffer, PlayoutHeader, PlayoutOptions, AudioCodecName } from './playout';
import { POOL, statsToSlots } from './decode-pool-layout';

interface Init {
  control: SharedArrayBuffer;
  ring: SharedArrayBuffer;
  frames: SharedArrayBuffer;
  info: SharedArrayBuffer;
  frameFloats: number;
  playout: PlayoutOptions;
}

type Msg =
  | { t: 'add'; slot: number; gen: number }
  | { t: 'remove'; slot: number }
  | { t: 'tick'; gen: number; start: number; end: number }
  | { t: 'exit' };

const init = workerData as Init;
const control = new Int32Array(init.control);
const ring = new Uint8Array(init.ring);
const ringView = new DataView(init.ring);
const frames = new Float32Array(init.frames);
const info = new Float64Array(init.info);
const F = init.frameFloats;
const CODECS: AudioCodecName[] = ['opus', 'pcm_f32le', 'pcm_s16le'];

const playouts: (PlayoutBuffer | null)[] = [];
const slotGen: number[] = [];
const active: number[] = [];
const header: PlayoutHeader = { seq: 0, codec: 'opus', sampleRate: 48000, channels: 2, frameSamples: 480 };

function drain(start: number, end: number): void {
  let pos = start;
  const size = ring.length;
  while (pos < end) {
    let off = pos % size;
    if (size - off < POOL.RECORD_HEADER) { pos += size - off; continue; }
    const slot = ringView.getUint32(off, true);
    if (slot === POOL.WRAP) { pos += size - off; continue; }
    const len = ringView.getUint32(off + 20, true);
    const gen = ringView.getUint32(off + 24, true);
    const p = playouts[slot];
    if (p && slotGen[slot] === gen) {
      header.seq = ringView.getUint32(off + 4, true);
      header.sampleRate = ringView.getUint32(off + 16, true);
      header.codec = CODECS[ring[off + 28]];
      header.channels = ring[off + 29];
      header.frameSamples = ringView.getUint16(off + 30, true);
      // The playout buffer keeps the packet until it is played: a copy of its own, the ring is reused.
      const data = Buffer.from(ring.subarray(off + POOL.RECORD_HEADER, off + POOL.RECORD_HEADER + len));
      try {
        p.push(header, data, ringView.getFloat64(off + 8, true));
      } catch {
        // The main thread checked the packet already; a packet refused here is counted, not fatal.
        Atomics.add(control, POOL.C_ERRORS, 1);
      }
    }
    pos += (POOL.RECORD_HEADER + len + 7) & ~7;
  }
}

function tick(gen: number, start: number, end: number): void {
  drain(start, end);
  for (const slot of active) {
    const p = playouts[slot] as PlayoutBuffer;
    const r = p.pullInto(frames.subarray(slot * F, slot * F + F));
    const base = slot * POOL.INFO;
    info[base] = r.seq === null ? NaN : r.seq;
    info[base + 1] = r.wireSeq === null ? NaN : r.wireSeq;
    info[base + 2] = r.concealed ? 1 : 0;
    statsToSlots(p.stats(), info, base + 3);
  }
  Atomics.store(control, POOL.C_DONE, gen);
  Atomics.notify(control, POOL.C_DONE);
}

parentPort!.on('message', (m: Msg) => {
  switch (m.t) {
    case 'add':
      playouts[m.slot] = new PlayoutBuffer(init.playout);
      slotGen[m.slot] = m.gen;
      active.push(m.slot);
      info.fill(0, m.slot * POOL.INFO, (m.slot + 1) * POOL.INFO);
      break;
    case 'remove': {
      playouts[m.slot] = null;
      const i = active.indexOf(m.slot);
      if (i >= 0) active.splice(i, 1);
      break;
    }
    case 'tick':
      tick(m.gen, m.start, m.end);
      break;
    case 'exit':
      process.exit(0);
  }
});

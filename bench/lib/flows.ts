// Bench: the xcast flows under test — the preset flows/xcast.json on free ports, and its variants (mix-minus, 2.5 ms frames, minimal jitter buffer).
import fs from 'node:fs';
import path from 'node:path';
import { customiseFlow, loadFlow, resolveFlowFile } from '../../runtime/launcher';

export type FlowNode = Record<string, unknown> & { id: string; type: string; wires?: string[][] };

export interface Variant {
  /** Mixer mix-minus: the mixer's per-user output feeds the encoder; each receiver gets everyone but itself. */
  mixMinus?: boolean;
  /** Frame duration in ms for mixer, encoder and event stream (the preset: 10). */
  frameMs?: number;
  /** Mixer jitter buffer target in frames (the preset: 3). */
  jitterFrames?: number;
  /** Extra mixer properties (e.g. jitterAdaptive). */
  mixer?: Record<string, unknown>;
  /** Extra properties of the socket writer that sends the mix (e.g. metaSource 'none'). */
  writer?: Record<string, unknown>;
  /** Extra properties of the Opus encoder (e.g. encodeWorkers). */
  encoder?: Record<string, unknown>;
  /**
   * streamproto1 over UDP: the ingest reader and the mix writer take `transport: 'udp'` (the reader's socket on a
   * worker thread, its AUDIO through the packet ring); the load generator's peers then speak UDP too.
   */
  udp?: boolean;
}

export interface BenchFlow {
  file: string;
  ingestPort: number;
  mixPort: number;
  eventsPort: number;
  encoder: { complexity: number; bitrate: number };
}

/** Writes the preset xcast flow, customised for `v` and moved to the given ports, into `dir`. */
export function writeXcastFlow(dir: string, name: string, ports: { ingest: number; mix: number; events: number }, v: Variant): BenchFlow {
  // The preset's other ways in and out (its UDP reader and writer on the 7010 / 7011 numbers, RTP in and out, seed
  // 002's raw UDP) are left out: the bench drives one transport at a time, on the TCP nodes or (variant udp) on those
  // same nodes switched to UDP, and the figures stay comparable with builds from before those nodes.
  const others = new Set(['xcast-rtp-in', 'xcast-rtp-out', 'xcast-raw-udp-in', 'xcast-raw-udp-out']);
  const preset = loadFlow(resolveFlowFile('xcast'));
  const dropped = new Set(preset.filter((n) => others.has(String(n.type)) || n.transport === 'udp').map((n) => String(n.id)));
  for (const n of preset) {
    if (Array.isArray(n.wires)) n.wires = (n.wires as string[][]).map((out) => out.filter((id) => !dropped.has(id)));
  }
  const nodes = customiseFlow(preset.filter((n) => !dropped.has(String(n.id))), { 7010: ports.ingest, 7011: ports.mix, 7012: ports.events }) as FlowNode[];
  const of = (type: string) => {
    const n = nodes.find((x) => x.type === type);
    if (!n) throw new Error(`the xcast preset has no ${type} node`);
    return n;
  };
  const mixer = of('xcast-mixer');
  const encoder = of('xcast-opus-encode');
  const events = of('xcast-event-stream');
  if (v.frameMs !== undefined) {
    mixer.frameMs = String(v.frameMs);
    encoder.frameMs = String(v.frameMs);
    events.frameMs = String(v.frameMs);
  }
  if (v.jitterFrames !== undefined) mixer.jitterFrames = String(v.jitterFrames);
  if (v.mixMinus) {
    mixer.mixMinus = true;
    const w = mixer.wires as string[][];
    // The full mix still goes to the event stream (recording); the encoder gets one mix-minus per receiver.
    w[0] = w[0].filter((id) => id !== encoder.id);
    // Only this encoder (to the socket writer): the preset's own mix-minus encoder feeds the WebRTC node, and
    // streamproto1 receivers would cost two encodes each with it (its hub drops what is for no browser).
    w[2] = [encoder.id];
  }
  // Every bench peer connects from 127.0.0.1: the servers' per-address limit (64 open connections by default,
  // runtime/protocol/limits.ts) would refuse the 65th, so the bench raises it with the others a ramp can reach.
  for (const n of nodes) {
    if ((n.type === 'xcast-socket-reader' || n.type === 'xcast-socket-writer') && (n.mode ?? 'server') === 'server') {
      Object.assign(n, { maxConnectionsPerAddress: '100000', maxConnections: '100000', maxPendingHandshakes: '4096' });
    }
  }
  if (v.udp) {
    // The ingest reader wired to the mixer alone: then the mixer hands it its mix thread's ring (RingWire) and no
    // AUDIO packet touches the event loop (the event stream still records the mix, from the mixer's output).
    const reader = nodes.find((n) => n.type === 'xcast-socket-reader' && Number(n.port) === ports.ingest);
    if (reader) (reader.wires as string[][])[0] = [mixer.id];
    for (const n of nodes) {
      if ((n.type === 'xcast-socket-reader' && Number(n.port) === ports.ingest) || (n.type === 'xcast-socket-writer' && Number(n.port) === ports.mix)) n.transport = 'udp';
    }
  }
  if (v.mixer) Object.assign(mixer, v.mixer);
  if (v.writer) Object.assign(of('xcast-socket-writer'), v.writer);
  if (v.encoder) Object.assign(encoder, v.encoder);
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(nodes, null, 2));
  return {
    file,
    ingestPort: ports.ingest,
    mixPort: ports.mix,
    eventsPort: ports.events,
    encoder: { complexity: Number(encoder.complexity ?? 10), bitrate: Number(encoder.bitrate ?? 64) * 1000 },
  };
}

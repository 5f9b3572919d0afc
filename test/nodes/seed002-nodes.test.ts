// Node tests (the embedded Node-RED of node-red-node-test-helper) of xcast-raw-udp-in, xcast-raw-udp-out and
// xcast-sap-listen: the node contract (a refused setting names its field, close releases every socket and timer),
// raw-udp-in's connection events and drops, raw-udp-out's answers to what it cannot send, and the SAP listener
// hearing ffmpeg's SAP announcement and deletion (ffmpeg's `sap` muxer as the referee), and a timeout.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { loadFlow, nodeContract, useNodeRed, audioMsg, statusOf, light, loggedErrors } from '../support/node-red';
import { until } from '../support/resources';
import { freeUdpPort } from '../support/xcast-process';
import request from 'supertest';
import type { NodeAPI } from 'node-red';
import { buildSap } from '../../runtime/rtp/sap';
import type { SapStream } from '../../runtime/rtp/sap-directory';
import { estimateFrequency, rms } from '../../runtime/audio/analysis';

const rawIn = require('../../nodes/raw-udp-in/raw-udp-in');
const rawOut = require('../../nodes/raw-udp-out/raw-udp-out');
const mixerNode = require('../../nodes/mixer/mixer');
const resampleNode = require('../../nodes/resample/resample');
const sapListenNode = require('../../nodes/sap-listen/sap-listen');
/** The RED the SAP node set was loaded with: its httpNode is the app GET /xcast/rtp/sap is on. */
let red: NodeAPI | null = null;
const sapListen = (RED: NodeAPI) => { red = RED; return sapListenNode(RED); };

async function udpSocket(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

async function boundPort(f: Awaited<ReturnType<typeof loadFlow>>, id: string): Promise<number> {
  const n = f.node(id) as unknown as { boundPort?: number };
  assert.ok(await until(() => n.boundPort !== undefined, 5000), `${id} never bound its socket`);
  return n.boundPort!;
}

describe('xcast-raw-udp-in node', function () {
  this.timeout(20000);
  useNodeRed();

  nodeContract({
    type: 'xcast-raw-udp-in', module: rawIn, noInput: true,
    config: async () => ({ port: '0' }),
    refused: { config: { port: '0', sampleRate: '1000' }, field: 'sampleRate' },
    async exercise(f) {
      const port = await boundPort(f, 'n1');
      const s = await udpSocket();
      s.send(Buffer.alloc(4 + 960), port, '127.0.0.1');
      const ing = (f.node('n1') as unknown as { ingest: { size: number } }).ingest;
      assert.ok(await until(() => ing.size === 1, 5000), 'the source opened');
      s.close();
    },
  });

  it('one source per address and port: open on its first good datagram, close after its silence; audio as the mixer takes it; bad datagrams dropped and counted', async () => {
    const f = await loadFlow([rawIn], [{ id: 'in', type: 'xcast-raw-udp-in', port: '0', idleTimeoutMs: '300', sampleRate: '44100', userMap: '{"127.0.0.1": "by-address"}', room: 'stage', wires: [['audio'], ['events']] }], { helpers: ['audio', 'events'] });
    const port = await boundPort(f, 'in');
    const s = await udpSocket();
    const d = Buffer.alloc(4 + 2 * 441);
    d.writeUInt32BE(0xfffffffe, 0);
    d.writeInt16LE(1234, 4);
    s.send(Buffer.alloc(4 + 3), port, '127.0.0.1'); // not whole s16 samples: dropped, opens nothing
    s.send(d, port, '127.0.0.1');
    const [m] = await f.receivedAtLeast('audio', 1);
    assert.equal(m.userId, 'by-address');
    assert.equal(m.room, 'stage');
    assert.deepEqual({ ...(m.audio as object), captureTime: 0 }, { codec: 'pcm_s16le', sampleRate: 44100, channels: 1, frameSamples: 441, seq: 0xfffffffe, captureTime: 0, trackId: 0 });
    assert.equal((m.payload as Buffer).readInt16LE(0), 1234);
    assert.equal(typeof m.arrivalTime, 'number');
    const ev = await f.receivedAtLeast('events', 2, 5000);
    const [open, close] = ev.map((e) => e.payload as Record<string, unknown>);
    assert.equal(open.event, 'open');
    assert.equal(close.event, 'close');
    assert.equal(close.reason, 'idle_timeout');
    assert.equal(open.connectionId, m.connectionId);
    assert.equal(close.connectionId, m.connectionId);
    assert.equal(open.remote, `127.0.0.1:${s.address().port}`);
    const ing = (f.node('in') as unknown as { ingest: { stats: { dropped: number; drops: Record<string, number> } } }).ingest;
    assert.deepEqual(ing.stats.drops, { partial_sample: 1 });
    s.close();
  });
});

describe('a 44.1 kHz seed streamer (the seed\'s default rate)', function () {
  this.timeout(30000);
  useNodeRed();
  const paths = [
    { label: 'a mixer at 44100 Hz (no Opus needed: example 14\'s advice)', rate: 44100 },
    { label: 'resample ×160/147 (f32) → a mixer at 48000 Hz (the preset\'s rate)', rate: 48000 },
  ];
  for (const p of paths) {
    it(`raw UDP in at 44100 Hz → ${p.label}: 441-sample packets play the tone at 440 Hz and its level`, async () => {
      const f = await loadFlow([rawIn, resampleNode, mixerNode], [
        { id: 'in', type: 'xcast-raw-udp-in', port: '0', sampleRate: '44100', output: p.rate === 48000 ? 'pcm_f32le' : '', wires: [[p.rate === 48000 ? 'rs' : 'mx'], ['mx']] },
        { id: 'rs', type: 'xcast-resample', upsampleRatio: '160', downsampleRatio: '147', wires: [['mx']] },
        { id: 'mx', type: 'xcast-mixer', sampleRate: String(p.rate), channels: '1', frameMs: '10', jitterFrames: '3', wires: [['mix'], [], [], [], []] },
      ], { helpers: ['mix'] });
      const port = await boundPort(f, 'in');
      const s = await udpSocket();
      // 441-sample packets (10 ms at 44.1 kHz), [seq BE][s16le], paced in real time for 1.5 s.
      let k = 0;
      const t0 = Date.now();
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          for (; k < Math.min(150, Math.floor((Date.now() - t0) / 10) + 1); k++) {
            const b = Buffer.alloc(4 + 882);
            b.writeUInt32BE(k, 0);
            for (let i = 0; i < 441; i++) b.writeInt16LE(Math.round(16000 * Math.sin((2 * Math.PI * 440 * (k * 441 + i)) / 44100)), 4 + 2 * i);
            s.send(b, port, '127.0.0.1');
          }
          if (k >= 150) { clearInterval(timer); resolve(); }
        }, 5);
      });
      s.close();
      const frames = await f.receivedAtLeast('mix', 100, 5000);
      assert.deepEqual(f.caught, []);
      const pcm = Buffer.concat(frames.map((m) => m.payload as Buffer));
      const x = new Float32Array(pcm.buffer, pcm.byteOffset, pcm.length / 4);
      let from = 0;
      while (from < x.length && Math.abs(x[from]) < 0.01) from++;
      const seg = x.subarray(from + p.rate / 10, from + p.rate / 10 + p.rate * 0.8);
      assert.ok(seg.length > 30000, `${x.length} samples mixed, sound from ${from}`);
      const hz = estimateFrequency(seg, p.rate, 1, 0);
      assert.ok(Math.abs(hz - 440) < 1, `${hz} Hz`);
      assert.ok(Math.abs(rms(seg) - 16000 / 32768 / Math.SQRT2) < 0.02, `rms ${rms(seg)}`);
    });
  }
});

describe('xcast-raw-udp-out node', function () {
  this.timeout(20000);
  useNodeRed();
  // Made before any test's baseline: the contract counts the sockets a node leaves behind.
  let recorder: dgram.Socket;
  before(async () => { recorder = await udpSocket(); });
  after(() => recorder.close());

  nodeContract({
    type: 'xcast-raw-udp-out', module: rawOut,
    config: async () => ({ port: String(recorder.address().port) }),
    refused: { config: { port: '0' }, field: 'port' },
    badInput: [
      { what: 'a message that is not audio', msg: () => ({ payload: 'x' }), error: /expected an audio message/ },
      { what: 'Opus', msg: () => audioMsg({ codec: 'opus', payload: Buffer.from([0xfc, 0, 0]) }), error: /takes pcm_f32le or pcm_s16le, got opus/ },
      { what: 'four channels', msg: () => audioMsg({ channels: 4 }), error: /takes 1 or 2 channels/ },
    ],
  });

  it('sends each frame as one datagram of stereo s16le: mono copied to both channels, f32 rounded and clipped', async () => {
    const got: Buffer[] = [];
    recorder.on('message', (m) => got.push(m));
    const f = await loadFlow([rawOut], [{ id: 'out', type: 'xcast-raw-udp-out', port: String(recorder.address().port) }]);
    // Sent once connected: offered until the first arrives.
    assert.ok(await until(() => { f.node('out').receive(audioMsg({ channels: 1, frameSamples: 480, value: 0.25 })); return got.length > 0; }, 5000));
    f.node('out').receive(audioMsg({ channels: 2, frameSamples: 2, payload: Buffer.from(new Float32Array([1.5, -1.5, 0.5, -0.25]).buffer) }));
    assert.ok(await until(() => got.some((g) => g.length === 8), 5000));
    assert.equal(got[0].length, 480 * 4);
    assert.deepEqual([got[0].readInt16LE(0), got[0].readInt16LE(2)], [8192, 8192]);
    const st = got.find((g) => g.length === 8)!;
    assert.deepEqual([0, 2, 4, 6].map((o) => st.readInt16LE(o)), [32767, -32768, 16384, -8192]);
  });
});

describe('xcast-raw-udp-out node with ffmpeg as the recorder', function () {
  this.timeout(30000);
  useNodeRed();
  it('ffmpeg reads its datagrams as raw s16le stereo 48 kHz (`-f s16le -ac 2 -i udp://…`): a mono f32 440 Hz tone on both channels at its level', async () => {
    assert.equal(spawnSync('ffmpeg', ['-version']).status, 0, 'ffmpeg is needed (apt-get install ffmpeg)');
    const port = await freeUdpPort();
    const ff = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-f', 's16le', '-ar', '48000', '-ac', '2', '-i', `udp://127.0.0.1:${port}`,
      '-t', '1.5', '-f', 'f32le', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    ff.stdout.on('data', (d: Buffer) => out.push(d));
    ff.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const closed = once(ff, 'close');
    const f = await loadFlow([rawOut], [{ id: 'out', type: 'xcast-raw-udp-out', port: String(port) }]);
    // The mix's pace: one 10 ms mono f32 frame per 10 ms until ffmpeg has its 1.5 s.
    let k = 0;
    const t0 = Date.now();
    const timer = setInterval(() => {
      for (; k < Math.floor((Date.now() - t0) / 10) + 1; k++) {
        const a = new Float32Array(480);
        for (let i = 0; i < 480; i++) a[i] = 0.25 * Math.sin((2 * Math.PI * 440 * (k * 480 + i)) / 48000);
        f.node('out').receive(audioMsg({ channels: 1, frameSamples: 480, seq: k, payload: Buffer.from(a.buffer) }));
      }
    }, 5);
    const kill = setTimeout(() => ff.kill('SIGKILL'), 20000);
    try {
      const [code] = (await closed) as [number | null];
      assert.equal(code, 0, `ffmpeg failed: ${err}`);
    } finally {
      clearInterval(timer);
      clearTimeout(kill);
    }
    const all = Buffer.concat(out);
    const x = new Float32Array(all.buffer, all.byteOffset, all.length / 4);
    assert.ok(x.length >= 1.4 * 48000 * 2, `ffmpeg decoded ${x.length / 2} frames`);
    const seg = x.subarray(4800 * 2, x.length - 4800 * 2);
    for (const ch of [0, 1]) {
      assert.ok(Math.abs(estimateFrequency(seg, 48000, 2, ch) - 440) < 1, `channel ${ch}: ${estimateFrequency(seg, 48000, 2, ch)} Hz`);
      assert.ok(Math.abs(rms(seg, 2, ch) - 0.25 / Math.SQRT2) < 0.005, `channel ${ch}: rms ${rms(seg, 2, ch)}`);
    }
  });
});

describe('xcast-raw-udp-out node without a recorder', function () {
  this.timeout(20000);
  useNodeRed();
  it('keeps taking frames when nothing listens: the refused sends are counted, the status says so, nothing is thrown', async () => {
    const dead = await udpSocket();
    const port = dead.address().port;
    dead.close();
    const f = await loadFlow([rawOut], [{ id: 'out', type: 'xcast-raw-udp-out', port: String(port) }]);
    const stats = (f.node('out') as unknown as { stats: { sent: number; sendErrors: number } }).stats;
    // Linux reports the ICMP port-unreachable of one send on a later one: keep sending until it does.
    assert.ok(await until(() => { f.node('out').receive(audioMsg({ channels: 2 })); return stats.sendErrors > 0; }, 5000), JSON.stringify(stats));
    assert.equal(f.caught.length, 0, JSON.stringify(f.caught));
    assert.deepEqual(loggedErrors(), [], 'no log line per refused frame');
    await statusOf('out', light('yellow', 'dot', /ECONNREFUSED|refused/i), 'the send error');
  });
});

describe('xcast-sap-listen node', function () {
  this.timeout(30000);
  useNodeRed();

  nodeContract({
    type: 'xcast-sap-listen', module: sapListen,
    config: async () => ({ address: '127.0.0.1', port: '0', timeoutS: '1', listIntervalS: '1' }),
    refused: { config: { address: 'not-an-address', port: '0' }, field: 'address' },
    noBadInput: 'every message asks for the list',
  });

  it('hears ffmpeg\'s SAP announcement (name, origin, address, port, opus/48000/2) and its deletion when ffmpeg ends; GET /xcast/rtp/sap lists it meanwhile', async () => {
    assert.equal(spawnSync('ffmpeg', ['-version']).status, 0, 'ffmpeg is needed (apt-get install ffmpeg)');
    const f = await loadFlow([sapListen], [{ id: 'sap', type: 'xcast-sap-listen', address: '127.0.0.1', port: '0', wires: [['out']] }], { helpers: ['out'] });
    const port = await boundPort(f, 'sap');
    const rtp = await udpSocket(); // where ffmpeg's RTP goes
    const url = `sap://127.0.0.1:${rtp.address().port}?announce_addr=127.0.0.1&announce_port=${port}`;
    const ff = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', '-f', 'lavfi', '-i', 'sine=f=440:d=3:sample_rate=48000',
      '-c:a', 'libopus', '-b:a', '64k', '-metadata', 'title=sap test tone', '-f', 'sap', url], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    ff.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const exited = once(ff, 'exit');
    try {
      const [first] = await f.receivedAtLeast('out', 1, 10000);
      const a = first.payload as SapStream & { event: string };
      assert.equal(first.topic, 'sap');
      assert.equal(a.event, 'announce');
      assert.equal(a.name, 'sap test tone');
      assert.equal(a.origin?.address, '127.0.0.1');
      assert.equal(a.address, '127.0.0.1');
      assert.equal(a.port, rtp.address().port);
      assert.deepEqual(a.formats.map((x) => [x.rtpmap, x.codec]), [['opus/48000/2', 'opus']]);
      const listed = (await request((red as unknown as { httpNode: Parameters<typeof request>[0] }).httpNode).get('/xcast/rtp/sap').expect(200)).body as { listeners: Array<{ id: string; streams: SapStream[] }> };
      assert.deepEqual(listed.listeners.find((l) => l.id === 'sap')?.streams.map((s) => s.port), [rtp.address().port]);
      const [code] = (await exited) as [number | null];
      assert.equal(code, 0, `ffmpeg failed: ${err}`);
      const all = await f.receivedAtLeast('out', 2, 5000);
      const del = all[all.length - 1].payload as SapStream & { event: string };
      assert.equal(del.event, 'delete');
      assert.equal(del.key, a.key);
      f.node('sap').receive({ topic: 'list' });
      const list = await f.receivedAtLeast('out', all.length + 1, 5000);
      assert.deepEqual(list[list.length - 1], { ...list[list.length - 1], topic: 'sapList', payload: [] });
    } finally {
      ff.kill('SIGKILL');
      rtp.close();
    }
  });

  it('joins the SAP group (239.255.255.255 on the loopback interface) and hears a multicast announcement', async () => {
    const probe = await udpSocket();
    const port = probe.address().port;
    probe.close();
    const f = await loadFlow([sapListen], [{ id: 'sap', type: 'xcast-sap-listen', address: '239.255.255.255', iface: '127.0.0.1', port: String(port), wires: [['out']] }], { helpers: ['out'] });
    await boundPort(f, 'sap');
    const s = await udpSocket();
    s.setMulticastInterface('127.0.0.1');
    s.setMulticastLoopback(true);
    const sdp = 'v=0\r\no=- 7 1 IN IP4 127.0.0.1\r\ns=multicast\r\nc=IN IP4 239.1.2.3/16\r\nt=0 0\r\nm=audio 5006 RTP/AVP 97\r\na=rtpmap:97 opus/48000/2\r\n';
    try {
      // Offered until heard: the group is joined once the node's bind callback ran.
      assert.ok(await until(() => { s.send(buildSap({ sdp, origin: '127.0.0.1', msgIdHash: 1 }), port, '239.255.255.255'); return f.received('out').length > 0; }, 5000), 'no announcement heard on the group');
      assert.equal((f.received('out')[0].payload as SapStream).name, 'multicast');
    } finally {
      s.close();
    }
  });

  it('a stream not heard for its timeout goes ("timeout"); a repeat only refreshes it; garbage is dropped and counted', async () => {
    const f = await loadFlow([sapListen], [{ id: 'sap', type: 'xcast-sap-listen', address: '127.0.0.1', port: '0', timeoutS: '0.6', wires: [['out']] }], { helpers: ['out'] });
    const port = await boundPort(f, 'sap');
    const s = await udpSocket();
    const sdp = 'v=0\r\no=dev 42 1 IN IP4 192.0.2.9\r\ns=stage left\r\nc=IN IP4 239.69.1.2/32\r\nt=0 0\r\nm=audio 5004 RTP/AVP 98\r\na=rtpmap:98 L24/48000/2\r\na=ptime:1\r\n';
    const ann = buildSap({ sdp, origin: '192.0.2.9', msgIdHash: 7 });
    s.send(ann, port, '127.0.0.1');
    s.send(ann, port, '127.0.0.1');
    s.send(Buffer.from('not sap'), port, '127.0.0.1');
    const dir = (f.node('sap') as unknown as { directory: { stats: { announcements: number; drops: Record<string, number> } } }).directory;
    assert.ok(await until(() => dir.stats.announcements === 2, 5000));
    const got = await f.receivedAtLeast('out', 2, 5000);
    const [a, t] = got.map((m) => m.payload as SapStream & { event: string });
    assert.equal(a.event, 'announce');
    assert.deepEqual({ name: a.name, address: a.address, ttl: a.ttl, multicast: a.multicast, port: a.port, ptimeMs: a.ptimeMs, rtpmap: a.formats[0].rtpmap, codec: a.formats[0].codec },
      { name: 'stage left', address: '239.69.1.2', ttl: 32, multicast: true, port: 5004, ptimeMs: 1, rtpmap: 'L24/48000/2', codec: 'L24' });
    assert.equal(t.event, 'timeout');
    assert.equal(t.announcements, 2);
    assert.equal(got.length, 2, 'the repeat sent nothing');
    assert.deepEqual(dir.stats.drops, { short: 1 });
    s.close();
  });
});

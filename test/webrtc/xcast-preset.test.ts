// The xcast preset in a real `xcast start` (real Node-RED, mixer, encoders): werift clients join through its
// /xcast/rtc and a streamproto1 peer (the peer preset, 440 Hz) is in the same session. The browser's 660 Hz reaches
// the streamproto1 monitor and a listening browser; the listening browser hears both; the publishing browser never
// hears itself; the join page's config.json names the base; leaving is a close event the aggregator sees.
import assert from 'node:assert/strict';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../runtime/launcher';
import { StreamClient } from '../../runtime/protocol/transport';
import { OpusDecoder } from '../../runtime/audio/opus';
import { startXcast, freePortMap, XcastProcess } from '../support/xcast-process';
import { RtcClient, waitFor } from '../support/rtc-client';
import { getMetricsWhere } from '../support/get-metrics';

/**
 * Power of one frequency in a signal (Goertzel), relative to its total power: ~1 for a pure tone at f. The median
 * over 100 ms windows, so a phase jump (a playout trim drops a whole frame) costs one window, not the whole result.
 */
function toneShare(x: Float32Array, f: number, rate = 48000): number {
  const n = rate / 10;
  const shares: number[] = [];
  for (let at = 0; at + n <= x.length; at += n) shares.push(windowShare(x.subarray(at, at + n), f, rate));
  shares.sort((a, b) => a - b);
  return shares.length ? shares[shares.length >> 1] : 0;
}

function windowShare(x: Float32Array, f: number, rate: number): number {
  const w = (2 * Math.PI * f) / rate;
  const c = 2 * Math.cos(w);
  let s1 = 0, s2 = 0, total = 0;
  for (let i = 0; i < x.length; i++) { const s = x[i] + c * s1 - s2; s2 = s1; s1 = s; total += x[i] * x[i]; }
  const p = s1 * s1 + s2 * s2 - c * s1 * s2;
  return total > 0 ? (2 * p) / (x.length * total) : 0;
}

/** The streamproto1 monitor of the mix (port 7011): decodes the last seconds, channel 0. */
class Monitor {
  readonly client: StreamClient;
  private readonly ring = new Float32Array(48000 * 2);
  private at = 0;
  frames = 0;
  private dec: OpusDecoder | null = null;
  constructor(port: number) {
    this.client = new StreamClient({ host: '127.0.0.1', port, hello: { userId: 'probe', role: 'monitor' } });
    this.client.on('connect', (conn) => conn.on('audio', (h, data: Buffer) => {
      if (!this.dec) this.dec = new OpusDecoder({ sampleRate: 48000, channels: h.channels as 1 | 2 });
      const pcm = this.dec.decode(data);
      const f = new Float32Array(pcm.buffer, pcm.byteOffset, pcm.length / 4);
      for (let i = 0; i < f.length; i += h.channels) { this.ring[this.at] = f[i]; this.at = (this.at + 1) % this.ring.length; }
      this.frames++;
    }));
    this.client.start();
  }
  last(seconds: number): Float32Array {
    const n = Math.round(seconds * 48000);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.ring[(this.at - n + i + this.ring.length * 2) % this.ring.length];
    return out;
  }
}

describe('webrtc in the xcast preset (xcast start): browsers and a streamproto1 peer in one session', function () {
  this.timeout(90_000);
  let x: XcastProcess | null = null;
  let monitor: Monitor | null = null;
  const clients: RtcClient[] = [];
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await monitor?.client.close();
    await x?.stop();
  });

  it('the browser\'s tone reaches the streamproto1 monitor and a listening browser, which hears the peer too; the publisher never hears itself; leaving is seen', async () => {
    const ports = await freePortMap();
    x = await startXcast({ flows: ['xcast', 'peer', 'monitor'], portMap: ports });
    const cfg = await (await fetch(`${x.url}/xcast/join/config.json`)).json();
    assert.deepEqual(cfg, { base: '/xcast/rtc' });
    const base = `${x.url}/xcast/rtc`;
    const carol = new RtcClient({ base, userId: 'carol', name: 'Carol', toneHz: 660, toneDb: -12, decode: true });
    const bob = new RtcClient({ base, userId: 'bob', publish: false, decode: true });
    clients.push(carol, bob);
    await carol.connect();
    await bob.connect();
    carol.startTone();
    monitor = new Monitor(ports[7011]);
    // 2 s of the mix heard by each (after the playout buffers filled).
    await bob.heardPackets(300, 20_000);
    await waitFor(() => monitor!.frames >= 300, 20_000, 'the monitor\'s mix');
    const heardByBob = bob.heardAudio(1.5);
    const heardByMonitor = monitor.last(1.5);
    const shares = {
      bob440: toneShare(heardByBob, 440), bob660: toneShare(heardByBob, 660),
      mon440: toneShare(heardByMonitor, 440), mon660: toneShare(heardByMonitor, 660),
      carol660: carol.received ? toneShare(carol.heardAudio(1.5), 660) : 0,
      carol440: carol.received ? toneShare(carol.heardAudio(1.5), 440) : 0,
    };
    console.log(`      tone shares: ${JSON.stringify(Object.fromEntries(Object.entries(shares).map(([k, v]) => [k, Number(v.toFixed(3))])))}; carol heard ${carol.received} packets`);
    assert.ok(shares.bob660 > 0.1, `bob hears carol's 660 Hz (${shares.bob660})`);
    assert.ok(shares.bob440 > 0.1, `bob hears the streamproto1 peer's 440 Hz (${shares.bob440})`);
    assert.ok(shares.mon660 > 0.1, `the streamproto1 monitor hears carol's 660 Hz (${shares.mon660})`);
    assert.ok(shares.carol660 < 0.01, `carol never hears her own voice (${shares.carol660})`);
    assert.equal(bob.gaps, 0, 'bob\'s RTP arrived without a gap');
    // With the mixer's rooms and per-packet mix-minus: carol hears the room without herself.
    assert.ok(shares.carol440 > 0.5, `carol hears the streamproto1 peer in her mix-minus (${shares.carol440})`);

    // In getMetrics under her userId (role webrtc, her room), and gone from the room at once when she leaves.
    const m = await getMetricsWhere(x.url, (a) => JSON.stringify(a).includes('"carol"'), 20_000);
    const conns = (m as unknown as { aggregatedStatesSnapshot?: { connections?: Record<string, { role?: string; room?: string }> } }).aggregatedStatesSnapshot?.connections ?? {};
    const entry = JSON.stringify(m).match(/"carol":\{[^}]*\}/)?.[0] ?? '';
    assert.match(entry, /"role":"webrtc"/, `carol's entry: ${entry} (${Object.keys(conns).join(',')})`);
    assert.equal(await carol.leave(), 204);
    const rooms = await (await fetch(`${base}/rooms`)).json() as { rooms: Array<{ peers: Array<{ userId: string }> }> };
    assert.deepEqual(rooms.rooms.flatMap((r) => r.peers.map((p) => p.userId)), ['bob']);
  });

  it('examples/10 Browsers join.json: a browser hears another\'s tone through the example\'s mixer and encoders', async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await monitor?.client.close();
    monitor = null;
    await x?.stop();
    x = await startXcast({ flows: [path.join(PACKAGE_ROOT, 'examples', '10 Browsers join.json')] });
    const base = `${x.url}/xcast/rtc`;
    const carol = new RtcClient({ base, userId: 'carol', room: 'main', toneHz: 660, decode: true });
    const dave = new RtcClient({ base, userId: 'dave', room: 'other', toneHz: 440, decode: true });
    const bob = new RtcClient({ base, userId: 'bob', room: 'main', publish: false, decode: true });
    clients.push(carol, dave, bob);
    await Promise.all([carol.connect(), dave.connect(), bob.connect()]);
    carol.startTone();
    dave.startTone();
    await bob.heardPackets(250, 20_000);
    const heard = bob.heardAudio(1.5);
    assert.ok(toneShare(heard, 660) > 0.3, `bob hears carol (${toneShare(heard, 660)})`);
    assert.ok(toneShare(heard, 440) < 0.01, `bob hears nothing of room "other" (${toneShare(heard, 440)})`);
    assert.ok(toneShare(heard, 660) > 0.5, `bob hears carol alone (${toneShare(heard, 660)})`);
  });

  it('behind the launcher\'s httpNodeAuth: the signaling needs the HTTP credentials like every httpNode route', async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await x?.stop();
    x = await startXcast({ flows: ['xcast'], portMap: await freePortMap(), env: { XCAST_ADMIN_PASSWORD: 'rtc-admin-pw-1' } });
    assert.equal((await fetch(`${x.url}/xcast/rtc/rooms`)).status, 401);
    const basic = `Basic ${Buffer.from('admin:rtc-admin-pw-1').toString('base64')}`;
    const ok = await fetch(`${x.url}/xcast/rtc/rooms`, { headers: { Authorization: basic } });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { rooms: [] });
    const c = new RtcClient({ base: `${x.url}/xcast/rtc`, userId: 'alice', headers: { Authorization: basic } });
    clients.push(c);
    await c.connect();
  });
});

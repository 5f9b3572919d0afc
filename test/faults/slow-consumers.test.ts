// Slow consumers never delay the mix: monitors that stop reading the mix output and event-stream clients that stop
// reading the event stream, while a healthy monitor counts every mix frame of a healthy peer.
import assert from 'node:assert/strict';
import net from 'node:net';
import { startXcast, freePortMap, type XcastProcess } from '../support/xcast-process';
import { MixMonitor } from '../support/mix-monitor';
import { TonePeers } from '../support/tone-peers';
import { alive, fdCount, rssMb } from '../support/proc-stats';
import { FrameType, encodeJsonFrame } from '../../runtime/protocol/frame';

describe('faults: slow consumers', function () {
  this.timeout(60000);
  let hub: XcastProcess | undefined;
  let peers: TonePeers | undefined;
  let monitor: MixMonitor | undefined;
  const stalled: net.Socket[] = [];

  after(async () => {
    for (const s of stalled) s.destroy();
    await peers?.close();
    await monitor?.close();
    await hub?.stop();
  });

  it('30 monitors and 10 event-stream clients that never read, for 4 s: the healthy monitor gets every mix frame (no seq gap), the xcast\'s fds come back when they go', async () => {
    const ports = await freePortMap();
    hub = await startXcast({ flows: ['xcast'], portMap: ports });
    const pid = hub.proc.pid!;
    monitor = new MixMonitor(ports[7011], 'healthy-monitor');
    peers = new TonePeers(ports[7010]);
    peers.add('healthy');
    await monitor.stateWhere((s) => s.incomingAudioTracks.some((t) => t.userId === 'healthy' && t.connected), 20000);
    const fdsBefore = fdCount(pid);
    const rssBefore = rssMb(pid);
    monitor.startCounting();
    const open = (port: number, hello: Buffer | null) => new Promise<void>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      stalled.push(s);
      s.on('error', () => undefined);
      s.on('connect', () => { if (hello) s.write(hello); s.pause(); resolve(); });
    });
    for (let i = 0; i < 30; i++) await open(ports[7011], encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId: `stalled-${i}`, role: 'monitor' }));
    for (let i = 0; i < 10; i++) await open(ports[7012], null);
    await new Promise((r) => setTimeout(r, 4000));
    const c = monitor.stopCounting();
    console.log(`      healthy mix: ${c.received}/${c.expected} frames, ${c.gaps} gaps, longest interval ${c.maxIntervalMs} ms; xcast RSS ${rssBefore.toFixed(0)} → ${rssMb(pid).toFixed(0)} MiB`);
    assert.ok(alive(pid));
    assert.equal(c.gaps, 0, JSON.stringify(c));
    assert.equal(c.received, c.expected);
    assert.ok(c.received >= 300, `${c.received} frames in 4 s`);
    for (const s of stalled.splice(0)) s.destroy();
    const end = Date.now() + 5000;
    while (fdCount(pid) > fdsBefore + 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    assert.ok(fdCount(pid) <= fdsBefore + 2, `fds ${fdsBefore} before, ${fdCount(pid)} after the stalled clients left`);
  });
});

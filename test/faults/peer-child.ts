// A streamproto1 peer as a child process (for `ip netns exec`): a real StreamClient sending a real Opus tone (10 ms
// frames, stereo 48 kHz) in real time. Args: host port userId frames. With frames > 0 it sends exactly that many, then
// prints "flushed <n>" once the kernel has them all (from then on a SIGKILL loses none) and idles; with 0 it streams
// until SIGTERM, then stops, flushes, prints "flushed <n>" and exits. Prints "connected" at the server's HELLO.
import { performance } from 'node:perf_hooks';
import { Codec, encodeAudioFrame, type AudioHeader } from '../../runtime/protocol/frame';
import { StreamClient } from '../../runtime/protocol/transport';
import { nowMicros } from '../../runtime/clock';
import { tonePackets } from '../support/tone-peers';

const [host, portText, userId, framesText] = process.argv.slice(2);
const limit = Number(framesText ?? 0);
const packets = tonePackets();
const header: AudioHeader = { trackId: 1, seq: 0, captureTime: 0, sampleRate: 48000, channels: 2, codec: Codec.OPUS, frameSamples: 480 };
const client = new StreamClient({ host, port: Number(portText), hello: { userId, role: 'peer' }, backoffMinMs: 50, backoffMaxMs: 500, pingIntervalMs: 1000 });
let sent = 0;
let stopping = false;

client.once('connect', (conn) => {
  process.stdout.write('connected\n');
  const t0 = performance.now();
  let ticks = 0;
  const flush = (then: () => void) => conn.socket.write(Buffer.alloc(0), () => { process.stdout.write(`flushed ${sent}\n`); then(); });
  const timer = setInterval(() => {
    const due = Math.floor((performance.now() - t0) / 10);
    while (ticks < due && !stopping && (limit === 0 || sent < limit)) {
      header.seq = sent;
      header.captureTime = nowMicros();
      conn.send(encodeAudioFrame(header, packets[ticks % packets.length]));
      ticks++;
      sent++;
    }
    if (limit > 0 && sent >= limit) { clearInterval(timer); flush(() => undefined); }
    if (stopping) { clearInterval(timer); flush(() => { void client.close().then(() => process.exit(0)); }); }
  }, 5);
});
// Retried (e.g. the xcast has not yet seen the killed predecessor's socket close and refuses the userId).
client.on('connectError', (err) => { process.stdout.write(`connectError ${err.message}\n`); });
client.on('disconnect', (info) => { process.stdout.write(`disconnect ${info.reason}\n`); });
process.on('SIGTERM', () => { stopping = true; });
client.start();

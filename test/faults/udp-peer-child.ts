// A streamproto1-over-UDP peer as a child process (for `ip netns exec`, or beside a relay): a real UdpStreamClient
// sending a real Opus tone (440 Hz, 10 ms frames, stereo 48 kHz, seq from 0) in real time. Args: host port userId.
// Prints "connected" at the first HELLO-ack; streams until SIGTERM, then prints "sent <n>" and exits.
import { performance } from 'node:perf_hooks';
import { Codec, type AudioHeader } from '../../runtime/protocol/frame';
import { UdpStreamClient } from '../../runtime/protocol/udp-client';
import { nowMicros } from '../../runtime/clock';
import { tonePackets } from '../support/tone-peers';

const [host, portText, userId] = process.argv.slice(2);
const packets = tonePackets();
const header: AudioHeader = { trackId: 1, seq: 0, captureTime: 0, sampleRate: 48000, channels: 2, codec: Codec.OPUS, frameSamples: 480 };
const client = new UdpStreamClient({ host, port: Number(portText), hello: { userId, role: 'peer' } });
let sent = 0;
let stopping = false;

client.once('connect', (link) => {
  process.stdout.write('connected\n');
  const t0 = performance.now();
  const timer = setInterval(() => {
    const due = Math.floor((performance.now() - t0) / 10);
    while (sent < due && !stopping) {
      header.seq = sent;
      header.captureTime = nowMicros();
      // The link of the latest session (a new one if the xcast forgot us): the stream goes on, seq unbroken.
      (client.connection ?? link).sendAudio(header, packets[sent % packets.length]);
      sent++;
    }
    if (stopping) {
      clearInterval(timer);
      process.stdout.write(`sent ${sent}\n`);
      void client.close().then(() => process.exit(0));
    }
  }, 2);
});
client.on('connectError', (err) => { process.stdout.write(`connectError ${err.message}\n`); });
client.on('disconnect', (info) => { process.stdout.write(`disconnect ${info.reason}\n`); });
process.on('SIGTERM', () => { stopping = true; });
client.start();

// The contract of the RTP nodes (nodeContract): a bad setting refused naming it, bad input answered, close releasing
// the sockets and timers (the ports bound again). Their work with ffmpeg and GStreamer: test/rtp/nodes.test.ts.
import { OpusEncoder } from '../../runtime/audio/opus';
import { buildRtp } from '../../runtime/rtp/packet';
import { audioMsg, nodeContract, nodeModules, useNodeRed } from '../support/node-red';
import { until } from '../support/resources';
import { bindUdp, freePortPair } from '../support/rtp-tools';
import assert from 'node:assert/strict';

const opusPacket = () => new OpusEncoder({ channels: 2, frameSamples: 960 }).encode(Buffer.alloc(960 * 8));

describe('rtp in node', function () {
  this.timeout(20000);
  useNodeRed();
  nodeContract({
    type: 'xcast-rtp-in', module: nodeModules.rtpIn, noInput: true,
    config: async () => ({ port: String(await freePortPair()), timeoutS: '60', wires: [[], []] }),
    refused: { config: { port: '0', users: '[1]' }, field: 'users' },
    async exercise(f, config) {
      // A source (its RR timer and idle check run), then close.
      const tx = await bindUdp();
      tx.send(buildRtp({ payloadType: 97, seq: 1, timestamp: 0, ssrc: 3 }, opusPacket()), Number(config.port), '127.0.0.1');
      const stats = () => (f.node('n1') as unknown as { rtpStats(): { sources: number } }).rtpStats();
      assert.ok(await until(() => stats().sources === 1, 3000));
      tx.close();
    },
    ports: (config) => [Number(config.port), Number(config.port) + 1],
  });
});

describe('rtp out node', function () {
  this.timeout(20000);
  useNodeRed();
  nodeContract({
    type: 'xcast-rtp-out', module: nodeModules.rtpOut,
    config: async () => ({ codec: 'opus', port: String(await freePortPair()), sap: true, sapAddress: '127.0.0.1', sapPort: String(await freePortPair()) }),
    refused: { config: { host: 'localhost' }, field: 'host' },
    badInput: [
      { what: 'PCM on an Opus stream', msg: () => audioMsg(), error: /takes opus/ },
      { what: 'a message that is not audio', msg: () => ({ payload: 'x' }), error: /expected an audio message/ },
    ],
    async exercise(f) {
      f.node('n1').receive({ topic: 'audio', payload: opusPacket(), audio: { codec: 'opus', sampleRate: 48000, channels: 2, frameSamples: 960, seq: 0, captureTime: 0, trackId: 1 } });
      const sent = () => (f.node('n1') as unknown as { rtpOut: { sender: { packetCount: number } } }).rtpOut.sender.packetCount;
      assert.ok(await until(() => sent() === 1, 3000));
    },
  });
});

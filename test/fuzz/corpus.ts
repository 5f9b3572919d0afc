// Fuzzing support: valid inputs of every kind the project parses (streamproto1 frames, event-stream events, WAV files),
// the seeds that test/fuzz/mutate.ts mutates. Opus packets come from the real libopus encoder.
import { OpusEncoder } from '../../runtime/audio/opus';
import { validOpusFrameSamples } from '../../runtime/audio/opus';
import {
  AUDIO_HEADER_BYTES, FRAME_HEADER_BYTES, FrameType, encodeFrame, encodeJsonFrame, encodePing, encodePong,
  type JsonObject,
} from '../../runtime/protocol/frame';
import {
  CT_OPUS, CT_PCM, EventType, encodeAudioFrameMixed, encodeMixParameters, encodeOpusPacketReceived,
  encodePcmPacketReceived, encodeStreamInfo,
} from '../../runtime/events/codec';
import { buildRtp } from '../../runtime/rtp/packet';
import { buildBye, buildCompound, buildReceiverReport, buildSdesCname, buildSenderReport } from '../../runtime/rtp/rtcp';
import { writeSdp } from '../../runtime/rtp/sdp';
import { buildSap } from '../../runtime/rtp/sap';
import { encodeSeed002Mono } from '../../runtime/protocol/seed002';
import { deflateSync } from 'node:zlib';
import { Rng } from './prng';

export interface OpusSample { sampleRate: number; channels: number; frameSamples: number; packet: Buffer }

let opusCache: OpusSample[] | undefined;

/**
 * Real Opus packets: every rate, both channel counts, every frame size the encoder takes at that rate, at a low and a
 * high bitrate, of a tone with noise. Then packets made of several real frames (codes 1, 2 and 3, with padding),
 * which libopus itself does not write at these settings but must decode.
 */
export function opusPackets(): OpusSample[] {
  if (opusCache) return opusCache;
  const out: OpusSample[] = [];
  const rng = new Rng(7);
  for (const sampleRate of [8000, 12000, 16000, 24000, 48000]) {
    for (const channels of [1, 2]) {
      for (const frameSamples of validOpusFrameSamples(sampleRate)) {
        if (frameSamples * 1000 / sampleRate > 60) continue;
        for (const bitrate of [8000, 96000]) {
          const enc = new OpusEncoder({ sampleRate, channels, frameSamples, bitrate, complexity: 2 });
          const pcm = Buffer.alloc(frameSamples * channels * 4);
          for (let k = 0; k < 3; k++) {
            for (let i = 0; i < frameSamples * channels; i++) {
              pcm.writeFloatLE(0.4 * Math.sin((2 * Math.PI * 440 * (k * frameSamples + i / channels)) / sampleRate) + (rng.float() - 0.5) * 0.1, i * 4);
            }
            out.push({ sampleRate, channels, frameSamples, packet: enc.encode(pcm) });
          }
        }
      }
    }
  }
  // Multi-frame packets from pairs of real code-0 frames of the same configuration (TOC byte).
  const code0 = out.filter((s) => (s.packet[0] & 3) === 0 && s.packet.length > 1);
  const extra: OpusSample[] = [];
  for (const s of code0) {
    const frame = s.packet.subarray(1);
    const toc = s.packet[0] & ~3;
    if (2 * s.frameSamples * 1000 / s.sampleRate > 60) continue;
    // code 1: two frames of equal size
    extra.push({ ...s, frameSamples: 2 * s.frameSamples, packet: Buffer.concat([Buffer.from([toc | 1]), frame, frame]) });
    // code 2: two frames, the first length coded
    if (frame.length < 252) extra.push({ ...s, frameSamples: 2 * s.frameSamples, packet: Buffer.concat([Buffer.from([toc | 2, frame.length]), frame, frame]) });
    // code 3 VBR with 3 bytes of padding: two frames
    if (frame.length < 252) {
      extra.push({ ...s, frameSamples: 2 * s.frameSamples, packet: Buffer.concat([Buffer.from([toc | 3, 0x80 | 0x40 | 2, 3, frame.length]), frame, frame, Buffer.alloc(3)]) });
    }
  }
  opusCache = out.concat(extra);
  return opusCache;
}

const ROLES = ['peer', 'monitor', 'xcast'];

export function clientHello(rng: Rng): JsonObject {
  const h: JsonObject = { protocol: 'streamproto1', userId: rng.pick(['alice', 'bob', 'xcast', 'monitor-1', `u${rng.int(1000)}`]), role: rng.pick(ROLES) };
  if (rng.bool()) h.name = rng.pick(['Alice', 'Bob the bass', 'Zoë']);
  if (rng.bool(0.3)) h.token = rng.pick(['secret', 's3cr3t-token', '']);
  if (rng.bool(0.4)) h.capabilities = rng.pick([['metadata-patch'], [], ['a', 'b']]);
  if (rng.bool(0.5)) h.profile = { name: 'Alice', city: 'Lyon', countryCode: 74, skillLevel: 2, instrument: 1 };
  return h;
}

export function serverHello(rng: Rng): JsonObject {
  return { protocol: 'streamproto1', sessionId: '6f1c3f0e-6b7e-4d0b-9a53-0c1d1d0f6a11', serverTime: 1763740000000000 + rng.int(1e6), name: 'xcast' };
}

export function qosReport(rng: Rng): JsonObject {
  const q: JsonObject = {
    head: { trackId: rng.int(4), seq: rng.u32(), captureTime: 1763740000000000 + rng.int(1e9), sampleRate: 48000, channels: 2, codec: 2, frameSamples: 480 },
    qosTimestamp: 1763740000012345 + rng.int(1e9),
    userId: rng.pick(['alice', 'monitor-1']),
    bufferDepthSamples: rng.int(4000), misses: rng.int(3),
  };
  if (rng.bool(0.3)) q.payloadBytes = rng.int(400);
  if (rng.bool(0.2)) q.extraStat = rng.pick([1.5, true, null, 'x']);
  return q;
}

export function sharedState(rng: Rng): JsonObject {
  const conn = () => ({
    remote: '127.0.0.1:5000', role: 'peer', connectedAt: 1763740000000, isIncomingAudioTrackConnected: true,
    packetsReceived: rng.int(1e6), packetsLost: rng.int(10), packetsLate: rng.int(10), packetsDuplicate: 0, packetsOutOfOrder: 0,
    concealedSamples: rng.int(1e4), jitterMs: rng.float() * 5, latencyMs: rng.bool() ? null : 12.5, rttMs: 0.4, bufferDepthSamples: 1440,
    bitrateKbps: 64, lastSeq: rng.int(1e6), lastQOS: null, connected: true, disconnectedAt: null, clockOffsetMs: 0.01, protocolErrors: 0,
    downstream: rng.bool() ? null : { trackId: 1, reportsReceived: 100, packetsLost: 1, packetsDuplicate: 0, packetsOutOfOrder: 0, jitterMs: 1, latencyMs: 2, loopMs: 3, bufferDepthSamples: 960, misses: 0, bitrateKbps: 64, lastQosAt: 1763740000000 },
  });
  return {
    mixeradminSharedState: {
      at: 1763740000000,
      incomingAudioTracks: [{ userId: 'alice', trackId: 1, connected: true }],
      outgoingAudioTracks: [{ userId: 'monitor-1', trackId: 1 }],
      connections: { alice: conn(), bob: conn() },
      refused: { frames: 2, byCode: { bad_magic: 1, bad_qos: 1 }, qos: 1 },
    },
  };
}

/** An AUDIO payload (audio header + data) that decodeAudioPayload accepts. */
export function audioPayload(rng: Rng): Buffer {
  let sampleRate: number, channels: number, codec: number, frameSamples: number, data: Buffer;
  if (rng.bool(0.6)) {
    const s = rng.pick(opusPackets());
    ({ sampleRate, channels, frameSamples } = s);
    codec = 2;
    data = s.packet;
  } else {
    sampleRate = rng.pick([8000, 16000, 44100, 48000, 96000, 192000]);
    channels = rng.range(1, 8);
    codec = rng.int(2);
    frameSamples = rng.range(1, 480);
    data = rng.bytes(frameSamples * channels * (codec === 0 ? 2 : 4));
  }
  const p = Buffer.alloc(AUDIO_HEADER_BYTES + data.length);
  p.writeUInt32BE(rng.int(4), 0);
  p.writeUInt32BE(rng.u32(), 4);
  p.writeUInt32BE(0x0006441c, 8);
  p.writeUInt32BE(rng.u32(), 12);
  p.writeUInt32BE(sampleRate, 16);
  p[20] = channels;
  p[21] = codec;
  p.writeUInt16BE(frameSamples, 22);
  data.copy(p, AUDIO_HEADER_BYTES);
  return p;
}

/** One valid frame of a random type (client → server traffic mostly, as a peer would send it). */
export function validFrame(rng: Rng): Buffer {
  switch (rng.int(8)) {
    case 0: return encodeJsonFrame(FrameType.HELLO, clientHello(rng));
    case 1: return encodeJsonFrame(FrameType.METADATA, rng.bool() ? sharedState(rng) : { title: 'x', n: rng.int(100) });
    case 2: case 3: case 4: return encodeFrame(FrameType.AUDIO, audioPayload(rng));
    case 5: return encodeJsonFrame(FrameType.QOS, rng.bool(0.7) ? qosReport(rng) : [qosReport(rng), qosReport(rng)]);
    case 6: return encodeJsonFrame(FrameType.ERROR, { code: rng.pick(['bad_magic', 'protocol', 'whatever']), message: 'm' });
    default: return rng.bool() ? encodePing(1763740000000000 + rng.int(1e6)) : encodePong(1, 2, 3);
  }
}

/** A valid TCP conversation of a peer: HELLO then a few frames. */
export function validStream(rng: Rng): Buffer {
  const parts = [encodeJsonFrame(FrameType.HELLO, clientHello(rng))];
  const n = rng.range(0, 6);
  for (let i = 0; i < n; i++) parts.push(validFrame(rng));
  return Buffer.concat(parts);
}

/** One valid event-stream event of any type. */
export function validEvent(rng: Rng): Buffer {
  const ts = rng.int(1e9);
  switch (rng.int(5)) {
    case 0: {
      const s = rng.pick(opusPackets());
      return encodeOpusPacketReceived(ts, { channelId: rng.int(8), seq: rng.int(1e6), compression: CT_OPUS, channels: s.channels, packet: s.packet });
    }
    case 1:
      return encodeAudioFrameMixed(ts, {
        frameSeq: rng.int(1e6), frameSamples: 480, sampleRate: 48000,
        entries: Array.from({ length: rng.int(4) }, (_, i) => ({
          channelId: i, seq: rng.bool(0.8) ? rng.int(1e6) : null, compression: rng.pick([CT_OPUS, CT_PCM]), channels: rng.range(1, 2),
          frameSamples: 480, profile: { name: rng.pick(['Alice', 'Zoë', '']), city: 'Lyon', countryCode: 74, skillLevel: 2, instrument: 1 },
        })),
      });
    case 2: return encodeStreamInfo(ts, { serverStartMicros: 1763740000000000, sampleRate: 48000, frameSamples: 480 });
    case 3:
      return encodeMixParameters(ts, {
        fromFrameSeq: rng.int(1e6), master: 1,
        channels: Array.from({ length: rng.int(4) }, (_, i) => ({ channelId: i, gain: rng.float() * 2, pan: rng.float() * 2 - 1, muted: rng.bool() })),
      });
    default: {
      const channels = rng.range(1, 2);
      const frameSamples = rng.range(1, 480);
      const codec = rng.int(2);
      return encodePcmPacketReceived(ts, { channelId: rng.int(8), seq: rng.int(1e6), codec, channels, frameSamples, sampleRate: 48000, data: rng.bytes(frameSamples * channels * (codec === 0 ? 2 : 4)) });
    }
  }
}

export function validEventStream(rng: Rng): Buffer {
  const n = rng.range(1, 6);
  const parts: Buffer[] = [];
  for (let i = 0; i < n; i++) parts.push(validEvent(rng));
  return Buffer.concat(parts);
}

/** A WAV file: PCM 8/16/24/32 or float 32/64, plain or extensible fmt, sometimes with a LIST chunk before the data. */
export function validWav(rng: Rng): Buffer {
  const kind = rng.pick([[1, 8], [1, 16], [1, 24], [1, 32], [3, 32], [3, 64]] as const);
  const [tag, bits] = kind;
  const channels = rng.range(1, 4);
  const sampleRate = rng.pick([8000, 22050, 44100, 48000, 96000]);
  const frames = rng.small(600);
  const extensible = rng.bool(0.2);
  const blockAlign = channels * bits / 8;
  const fmt = Buffer.alloc(extensible ? 40 : 16);
  fmt.writeUInt16LE(extensible ? 0xfffe : tag, 0);
  fmt.writeUInt16LE(channels, 2);
  fmt.writeUInt32LE(sampleRate, 4);
  fmt.writeUInt32LE(sampleRate * blockAlign, 8);
  fmt.writeUInt16LE(blockAlign, 12);
  fmt.writeUInt16LE(bits, 14);
  if (extensible) { fmt.writeUInt16LE(22, 16); fmt.writeUInt16LE(bits, 18); fmt.writeUInt32LE(0, 20); fmt.writeUInt16LE(tag, 24); }
  const chunk = (id: string, body: Buffer) => {
    const h = Buffer.alloc(8);
    h.write(id, 0, 'latin1');
    h.writeUInt32LE(body.length, 4);
    return Buffer.concat([h, body, body.length & 1 ? Buffer.alloc(1) : Buffer.alloc(0)]);
  };
  const parts = [chunk('fmt ', fmt)];
  if (rng.bool(0.3)) parts.push(chunk('LIST', Buffer.from('INFOISFT\x05\x00\x00\x00xcast', 'latin1')));
  parts.push(chunk('data', rng.bytes(frames * blockAlign)));
  const body = Buffer.concat(parts);
  const riff = Buffer.alloc(12);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(4 + body.length, 4);
  riff.write('WAVE', 8, 'latin1');
  return Buffer.concat([riff, body]);
}

// ---- UDP and RTP (issue 13) ----

/** The token a token-guarded UDP table of the fuzzer is set up with (a HELLO carries it, or another, or none). */
export const UDP_TOKEN = 'secret';

/** One streamproto1-over-UDP datagram a sender sends: HELLO (often with the token), AUDIO, PING, QOS or METADATA. */
export function udpDatagram(rng: Rng): Buffer {
  switch (rng.int(8)) {
    case 0: case 1: {
      const h = clientHello(rng);
      if (rng.bool(0.7)) h.token = UDP_TOKEN;
      return encodeJsonFrame(FrameType.HELLO, h);
    }
    case 2: case 3: case 4: return encodeFrame(FrameType.AUDIO, audioPayload(rng));
    case 5: return encodePing(1763740000000000 + rng.int(1e6));
    case 6: return encodeJsonFrame(FrameType.QOS, rng.bool(0.7) ? qosReport(rng) : [qosReport(rng), qosReport(rng)]);
    default: return encodeJsonFrame(FrameType.METADATA, rng.bool() ? sharedState(rng) : { title: 'x', n: rng.int(100) });
  }
}

/** An RTP ingest's formats: Opus on the dynamic types (no SDP), or L16 / L24 at a channel count on 96 / 97. */
export interface RtpConfig { codec: 'opus' | 'L16' | 'L24'; channels: number; payloadType: number }

export function rtpConfig(rng: Rng): RtpConfig {
  const codec = rng.pick(['opus', 'opus', 'L16', 'L24'] as const);
  return { codec, channels: codec === 'opus' ? 2 : rng.range(1, 8), payloadType: codec === 'opus' ? rng.range(96, 127) : codec === 'L16' ? 96 : 97 };
}

/** The SDP of an ingest configured as `c` (what the node is given). */
export function rtpConfigSdp(c: RtpConfig): string {
  if (c.codec === 'opus') return ['v=0', 's=x', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio 5004 RTP/AVP ${c.payloadType}`, `a=rtpmap:${c.payloadType} opus/48000/2`, `a=fmtp:${c.payloadType} sprop-stereo=1`, ''].join('\r\n');
  return ['v=0', 's=x', 't=0 0', 'm=audio 5004 RTP/AVP 96 97', `a=rtpmap:96 L16/48000/${c.channels}`, `a=rtpmap:97 L24/48000/${c.channels}`, 'a=ptime:1', ''].join('\r\n');
}

/** An RTP packet of a source sending as `c`: a real Opus packet (48 kHz) or whole L16 / L24 frames. */
export function rtpPacket(rng: Rng, c: RtpConfig, ssrc: number, seq: number): Buffer {
  let payload: Buffer;
  if (c.codec === 'opus') payload = rng.pick(opusPackets().filter((s) => s.sampleRate === 48000)).packet;
  else payload = rng.bytes(rng.range(1, 96) * c.channels * (c.codec === 'L16' ? 2 : 3));
  const csrc = rng.bool(0.1) ? [rng.u32()] : undefined;
  return buildRtp({ payloadType: c.payloadType, seq, timestamp: seq * 480, ssrc, marker: rng.bool(0.05), csrc }, payload);
}

/** A compound RTCP packet a sender sends: SR (or RR) + SDES CNAME, sometimes a BYE. */
export function rtcpCompound(rng: Rng, ssrc: number): Buffer {
  const block = { ssrc: rng.u32(), fractionLost: rng.int(256), cumulativeLost: rng.int(1000), highestSeq: rng.u32(), jitter: rng.int(1e5), lsr: rng.u32(), dlsr: rng.int(1 << 20) };
  const reports = Array.from({ length: rng.small(3) }, () => ({ ...block }));
  const parts = [rng.bool(0.7)
    ? buildSenderReport(ssrc, { ntpMsw: rng.u32(), ntpLsw: rng.u32(), rtpTimestamp: rng.u32(), packetCount: rng.int(1e6), octetCount: rng.int(1e8) }, reports)
    : buildReceiverReport(ssrc, reports), buildSdesCname(ssrc, rng.pick(['ffmpeg@host', 'gst', 'x'.repeat(200), 'Zoë']))];
  if (rng.bool(0.2)) parts.push(buildBye([ssrc]));
  return buildCompound(parts);
}

/** An SDP of an RTP audio stream: the xcast's own writer, or one as ffmpeg / GStreamer / AES67 devices write them. */
export function sdpText(rng: Rng): string {
  if (rng.bool(0.5)) {
    const codec = rng.pick(['opus', 'L24'] as const);
    return writeSdp({
      codec, address: rng.pick(['127.0.0.1', '239.69.1.2', '::1', 'ff0e::1']), port: rng.range(1, 65535), payloadType: rng.range(96, 127),
      channels: codec === 'opus' ? rng.range(1, 2) : rng.range(1, 8), ptimeMs: rng.pick([1, 2.5, 5, 10, 20]), ttl: rng.int(256),
      sampleRate: rng.pick([44100, 48000, 96000]), sessionName: rng.pick(['xcast mix', 'Zoë', '']), sessionId: rng.int(1e9),
    });
  }
  const lines = ['v=0', `o=- ${rng.int(1e9)} ${rng.int(10)} IN IP4 10.0.0.${rng.int(255)}`, `s=${rng.pick(['stream', 'AES67 ch1-2', 'Lavf60'])}`, `c=IN IP4 239.69.${rng.int(255)}.${rng.int(255)}/${rng.int(256)}`, 't=0 0'];
  if (rng.bool(0.3)) lines.push('m=video 5008 RTP/AVP 96', 'a=rtpmap:96 H264/90000');
  lines.push(`m=audio ${rng.range(0, 65535)} RTP/AVP 96 97 10 11 0`, 'a=rtpmap:96 opus/48000/2', 'a=fmtp:96 minptime=10;useinbandfec=1; sprop-stereo=1', `a=rtpmap:97 L24/${rng.pick([44100, 48000, 96000])}/${rng.range(1, 8)}`, `a=ptime:${rng.pick([1, 0.125, 20])}`, 'a=maxptime:60');
  if (rng.bool(0.3)) lines.push(`c=IN IP6 ff0e::${rng.int(100)}`);
  return lines.join(rng.bool() ? '\r\n' : '\n') + '\r\n';
}

/** A SAP datagram: an announcement (sometimes zlib-compressed) or a deletion, from IPv4 or IPv6. */
export function sapPacket(rng: Rng): Buffer {
  const sdp = sdpText(rng);
  const deletion = rng.bool(0.15);
  const b = buildSap({ sdp: deletion && rng.bool() ? (/^o=.*$/m.exec(sdp)?.[0] ?? sdp) : sdp, origin: rng.pick(['10.0.0.7', '192.168.1.20', 'fe80::1']), msgIdHash: rng.int(0x10000), deletion });
  if (!rng.bool(0.2)) return b;
  const head = (b[0] & 0x10) ? 20 : 8;
  const out = Buffer.concat([b.subarray(0, head), deflateSync(b.subarray(head))]);
  out[0] |= 0x01;
  return out;
}

/** A seed 002 "mono with sequence numbers" datagram of `bytesPerFrame`-byte frames. */
export function seed002Datagram(rng: Rng, bytesPerFrame: number, seq: number): Buffer {
  return encodeSeed002Mono(seq >>> 0, rng.bytes((1 + rng.small(480)) * bytesPerFrame));
}

export { FRAME_HEADER_BYTES, EventType };

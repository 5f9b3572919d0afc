// Test support: a streamproto1-over-UDP sender written with a few lines of dgram — its own socket, HELLO and frames
// sent by hand (so a test can send garbage too), and every frame the receiver sent back, parsed.
import * as dgram from 'node:dgram';
import { Codec, FrameType, encodeAudioFrame, encodeJsonFrame, type AudioHeader } from '../../runtime/protocol/frame';
import { FrameParser } from '../../runtime/protocol/parser';

export class UdpTestSender {
  readonly socket = dgram.createSocket('udp4');
  readonly replies: Array<{ type: number; payload: Buffer }> = [];
  port = 0;
  private readonly header: AudioHeader = { trackId: 1, seq: 0, captureTime: 0, sampleRate: 48000, channels: 1, codec: Codec.PCM_S16LE, frameSamples: 480 };

  constructor(private readonly toPort: number, private readonly toHost = '127.0.0.1') {
    const parser = new FrameParser();
    this.socket.on('message', (msg) => {
      try {
        parser.push(msg, (type, payload) => this.replies.push({ type, payload: Buffer.from(payload) }));
      } catch {
        parser.reset();
      }
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
    this.port = this.socket.address().port;
    return this;
  }

  send(datagram: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(datagram, this.toPort, this.toHost, (err) => (err ? reject(err) : resolve())));
  }

  hello(userId: string, extra: Record<string, unknown> = {}): Promise<void> {
    return this.send(encodeJsonFrame(FrameType.HELLO, { protocol: 'streamproto1', userId, role: 'peer', ...extra }));
  }

  /** One AUDIO frame (the header's fields over a mono 48 kHz pcm_s16le default). */
  audio(data: Buffer, h: Partial<AudioHeader> = {}): Promise<void> {
    return this.send(encodeAudioFrame({ ...this.header, ...h }, data));
  }

  of(type: FrameType): Buffer[] {
    return this.replies.filter((r) => r.type === type).map((r) => r.payload);
  }

  close(): void {
    this.socket.close();
  }
}

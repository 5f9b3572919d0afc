// The RTP examples in a real xcast (the CLI, its launcher's HTTP routes), their fixed ports moved to free ones:
// "12 ffmpeg into the xcast" records what ffmpeg sends (Opus 440 Hz, L24 660 Hz at 1 ms packets) at its levels;
// "13 The mix to ffplay / VLC" is heard by ffmpeg from GET /xcast/rtp/mix.sdp and /xcast/rtp/mix-l24.sdp.
//
// Levels: the mixer sums at unity and copies a mono track to both channels (test/rtp/nodes.test.ts says why), so a
// tone of amplitude A reads 20·log10(A/√2): ffmpeg's lavfi sine (1/8) −21.07 dBFS, the example's 0.25 tone −15.05.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { estimateFrequency } from '../../runtime/audio/analysis';
import { readWavAs } from '../../runtime/audio/wav';
import { PACKAGE_ROOT } from '../../runtime/launcher';
import { startXcast, type XcastProcess } from '../support/xcast-process';
import { until } from '../support/resources';
import { Tool, freePortPair, requireTool, steadyLevelDb, toneFrequencyNear } from '../support/rtp-tools';

const example = (name: string) => path.join(PACKAGE_ROOT, 'examples', name);
const db = (a: number) => 20 * Math.log10(a / Math.SQRT2);

describe('the RTP examples in a real xcast, with ffmpeg', function () {
  this.timeout(60000);
  let x: XcastProcess | undefined;
  const tools: Tool[] = [];
  before(() => requireTool('ffmpeg', '-version', 'ffmpeg'));
  afterEach(async () => {
    for (const t of tools.splice(0)) await t.stop();
    await x?.stop();
    x = undefined;
  });

  it('12 ffmpeg into the xcast: Opus 440 Hz and L24 660 Hz at 1 ms packets, each a track, recorded at its frequency and level', async () => {
    const [opusPort, l24Port] = [await freePortPair(), await freePortPair()];
    x = await startXcast({
      flows: [example('12 ffmpeg into the xcast.json')],
      edit: (nodes) => {
        for (const n of nodes) if (n.type === 'xcast-rtp-in') n.port = String(n.port === '5004' ? opusPort : l24Port);
      },
    });
    const send = (args: string[], port: number) => new Tool('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', ...args, '-f', 'rtp', `rtp://127.0.0.1:${port}`]);
    // The commands of the example's comment, with a 6 s tone for a file.
    tools.push(send(['-f', 'lavfi', '-i', 'sine=f=440:d=6', '-c:a', 'libopus', '-b:a', '96k'], opusPort));
    tools.push(send(['-f', 'lavfi', '-i', 'sine=f=660:d=6', '-ar', '48000', '-ac', '2', '-af', 'asetnsamples=n=48', '-c:a', 'pcm_s24be', '-payload_type', '97'], l24Port));
    const wav = path.join(x.userDir, 'recordings', 'rtp-in.wav');
    for (const t of tools) assert.equal(await t.exited, 0, t.err);
    // The recorder goes idle 2 s after the tones end; what it wrote by then is the whole recording.
    let pcm: Float32Array<ArrayBufferLike> = new Float32Array(0);
    assert.ok(await until(() => {
      try { pcm = readWavAs(fs.readFileSync(wav), 48000, 2); } catch { return false; }
      return pcm.length >= 5 * 48000 * 2;
    }, 10000), `${pcm.length / 2} frames recorded`);
    // Both tones play in the middle second (the two senders started within a second of each other).
    const mid = pcm.subarray(Math.floor(pcm.length / 2) - 48000, Math.floor(pcm.length / 2) + 48000);
    // The L24 sender's `-ac 2` up-mixes its mono sine with swresample's centre mix level, −3 dB: 1/8 × 1/√2 a side.
    for (const [f, level] of [[440, db(0.125)], [660, db(0.125 / Math.SQRT2)]]) {
      const got = toneFrequencyNear(mid, 2, 0, f, 48000);
      assert.ok(Math.abs(got - f) <= 1, `${f} Hz tone at ${got} Hz`);
      // The steady level: the median of 0.5 s windows from 1 s in to 1.5 s before the end (a sender that started a
      // little later, a frame concealed on the shared machine, do not move it).
      const l = steadyLevelDb(pcm.subarray(48000 * 2, pcm.length - 72000 * 2), 2, 1, f, 48000);
      assert.ok(Math.abs(l - level) <= 1, `${f} Hz tone at ${l.toFixed(2)} dBFS, expected ${level.toFixed(2)}`);
    }
  });

  it('13 the mix to ffplay / VLC: ffmpeg decodes 440 Hz from /xcast/rtp/mix.sdp (Opus) and /xcast/rtp/mix-l24.sdp (L24)', async () => {
    const [opusPort, l24Port] = [await freePortPair(), await freePortPair()];
    x = await startXcast({
      flows: [example('13 The mix to ffplay - VLC.json')],
      edit: (nodes) => {
        for (const n of nodes) if (n.type === 'xcast-rtp-out') n.port = String(n.name === 'mix' ? opusPort : l24Port);
      },
    });
    const sdp = await (await fetch(`${x.url}/xcast/rtp/mix.sdp`)).text();
    assert.match(sdp, new RegExp(`m=audio ${opusPort} RTP/AVP 96`));
    const seconds = 2;
    const hear = (name: string) => new Tool('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-protocol_whitelist', 'file,udp,rtp,http,tcp',
      '-i', `${x!.url}/xcast/rtp/${name}.sdp`, '-t', String(seconds + 0.5), '-f', 'f32le', '-ac', '2', '-ar', '48000', '-']);
    const opus = hear('mix');
    const l24 = hear('mix-l24');
    tools.push(opus, l24);
    for (const t of [opus, l24]) assert.equal(await t.exited, 0, t.err);
    for (const [name, t, tol] of [['Opus', opus, 1], ['L24', l24, 0.2]] as const) {
      const pcm = t.f32();
      assert.ok(pcm.length >= seconds * 48000 * 2, `${name}: ${pcm.length / 2} frames`);
      const tail = pcm.subarray(pcm.length - seconds * 48000 * 2);
      const f = estimateFrequency(tail, 48000, 2, 0);
      assert.ok(Math.abs(f - 440) <= 1, `${name}: ${f} Hz`);
      const l = steadyLevelDb(tail, 2, 1, 440, 48000);
      assert.ok(Math.abs(l - db(0.25)) <= tol, `${name}: ${l.toFixed(2)} dBFS, expected ${db(0.25).toFixed(2)}`);
    }
  });
});

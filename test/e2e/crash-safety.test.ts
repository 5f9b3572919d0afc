// End to end through the real CLI: what an xcast writes survives a SIGKILL. The mixer's settings set by control
// messages are there again when Node-RED starts over the same user directory; the monitor's WAV and the event
// stream's .xcev capture are readable up to about the last second streamed (ffprobe and sox as referees for the WAV,
// `xcast events inspect` for the capture).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { readWav } from '../../runtime/audio/wav';
import { EventParser, EventType } from '../../runtime/events/codec';
import { PACKAGE_ROOT } from '../../runtime/launcher';
import { startXcast, freePortMap, tmpDir, sleep, findNode, XcastProcess } from '../support/xcast-process';
import { until } from '../support/resources';

type N = Record<string, unknown> & { id: string; wires?: string[][] };

/** POSTs JSON to the flow's test endpoint; resolves with the answer's body. */
function request(url: string, method: 'GET' | 'POST', body?: unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(url, { method, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${method} ${url}: ${res.statusCode} ${text}`))));
    });
    req.on('error', reject);
    req.end(data);
  });
}

/**
 * Test endpoints on the xcast tab, built of Node-RED's own nodes: POST /test/control { topic, userId, value } sends a
 * control message to the mixer; POST /test/probe files one PCM packet for a userId (a track, so the mixer's
 * parameters list that user's settings); GET /test/params answers the mixer's last Mix Parameters.
 */
function addControlEndpoints(nodes: N[]): void {
  const mixer = findNode(nodes, 'xcast-mixer', 'xcast') as N & { wires: string[][] };
  const z = mixer.z;
  const fn = (id: string, func: string, wires: string[][]): N => ({ id, type: 'function', z, x: 600, y: 600, name: id, outputs: 1, func, initialize: '', finalize: '', libs: [], noerr: 0, wires });
  nodes.push(
    { id: 'test0000ctlin001', type: 'http in', z, x: 100, y: 600, name: '', url: '/test/control', method: 'post', upload: false, swaggerDoc: '', wires: [['test0000ctlfn001', 'test0000ctlres01']] },
    fn('test0000ctlfn001', 'return { topic: msg.payload.topic, userId: msg.payload.userId, payload: msg.payload.value };', [[mixer.id]]),
    { id: 'test0000ctlres01', type: 'http response', z, x: 600, y: 640, name: '', statusCode: '', headers: {}, wires: [] },
    { id: 'test0000prbin001', type: 'http in', z, x: 100, y: 700, name: '', url: '/test/probe', method: 'post', upload: false, swaggerDoc: '', wires: [['test0000prbfn001', 'test0000prbres01']] },
    fn('test0000prbfn001', [
      "const seq = (context.get('seq') || 0); context.set('seq', seq + 1);",
      "return { topic: 'audio', userId: msg.payload.userId, connectionId: 'probe', payload: Buffer.alloc(480 * 4),",
      "  audio: { codec: 'pcm_f32le', sampleRate: 48000, channels: 1, frameSamples: 480, seq, captureTime: 0, trackId: 1 } };",
    ].join('\n'), [[mixer.id]]),
    { id: 'test0000prbres01', type: 'http response', z, x: 600, y: 740, name: '', statusCode: '', headers: {}, wires: [] },
    fn('test0000parfn001', "if (msg.topic === 'mixParameters') global.set('testParams', msg.payload); return null;", [[]]),
    { id: 'test0000parin001', type: 'http in', z, x: 100, y: 800, name: '', url: '/test/params', method: 'get', upload: false, swaggerDoc: '', wires: [['test0000parfn002']] },
    fn('test0000parfn002', "msg.payload = global.get('testParams') || null; return msg;", [['test0000parres01']]),
    { id: 'test0000parres01', type: 'http response', z, x: 600, y: 840, name: '', statusCode: '', headers: {}, wires: [] },
  );
  mixer.wires[1].push('test0000parfn001');
}

interface Params { master: number; tracks: Array<{ userId: string; gain: number; pan: number; muted: boolean }> }

describe('crash safety: SIGKILL of the xcast', function () {
  this.timeout(120000);
  let x: XcastProcess | null = null;
  afterEach(async () => { await x?.stop(); x = null; });

  it('the mixer\'s gain, pan, mute and master set by control messages are there again after a SIGKILL and a restart', async () => {
    const userDir = tmpDir();
    const portMap = await freePortMap();
    const start = () => startXcast({ flows: ['xcast'], portMap, userDir, edit: (nodes) => addControlEndpoints(nodes as N[]) });
    x = await start();
    const control = (topic: string, userId: string | undefined, value: unknown) => request(`${x!.url}/test/control`, 'POST', { topic, userId, value });
    await control('gain', 'alice', 0.25);
    await control('pan', 'alice', -0.5);
    await control('mute', 'bob', true);
    await control('master', undefined, 0.5);
    // Written within ~200 ms of the last change (not per message): wait for the file to say so, then kill.
    const file = path.join(userDir, 'xcast', 'mixer-0000000000000c03.json');
    const written = await until(() => {
      try { return JSON.parse(fs.readFileSync(file, 'utf8')).master === 0.5; } catch { return false; }
    }, 10000);
    assert.ok(written, `the settings file ${file} was written`);
    await x.kill('SIGKILL');
    x = null;
    x = await start();
    // A packet each for alice and bob makes their tracks, whose parameters the mixer then sends.
    await request(`${x.url}/test/probe`, 'POST', { userId: 'alice' });
    await request(`${x.url}/test/probe`, 'POST', { userId: 'bob' });
    // Polled over HTTP (the flow has no event to await from outside): the parameters once both tracks are in.
    let p: Params | null = null;
    for (let i = 0; i < 100 && !(p && p.tracks.length === 2); i++) {
      p = JSON.parse(await request(`${x.url}/test/params`, 'GET')) as Params | null;
      if (!(p && p.tracks.length === 2)) await sleep(100);
    }
    assert.ok(p && p.tracks.length === 2, `the mixer's parameters after the restart: ${JSON.stringify(p)}`);
    assert.equal(p.master, 0.5);
    const by = new Map(p.tracks.map((t) => [t.userId, t]));
    assert.deepEqual([by.get('alice')!.gain, by.get('alice')!.pan, by.get('alice')!.muted], [0.25, -0.5, false]);
    assert.deepEqual([by.get('bob')!.gain, by.get('bob')!.muted], [1, true]);
  });

  it('the monitor\'s WAV and the .xcev capture are readable to within a second of the kill', async () => {
    const dir = tmpDir();
    const wav = path.join(dir, 'monitor.wav');
    const xcev = path.join(dir, 'session.xcev');
    const portMap = await freePortMap();
    x = await startXcast({
      flows: ['demo'], portMap,
      edit: (nodes) => {
        findNode(nodes, 'xcast-audio-out').path = wav;
        findNode(nodes, 'xcast-event-stream').file = xcev;
      },
    });
    // The first mixed frame, as the event stream's TCP clients see it.
    const firstFrame = await new Promise<number>((resolve, reject) => {
      const tryConnect = (left: number) => {
        const s = net.connect(portMap[7012], '127.0.0.1');
        const parser = new EventParser();
        s.on('data', (d: Buffer) => {
          for (const e of parser.push(d)) if (e.type === EventType.AUDIO_FRAME_MIXED) { s.destroy(); resolve(Date.now()); return; }
        });
        s.on('error', (err) => { if (left > 0) setTimeout(() => tryConnect(left - 1), 100); else reject(err); });
      };
      tryConnect(100);
    });
    // The WAV's first audio: its file grows past the 44-byte header.
    const wavStarted = await until(() => fs.existsSync(wav) && fs.statSync(wav).size > 44 + 4800, 20000);
    assert.ok(wavStarted, 'the monitor records');
    const wavFrom = Date.now();
    // Stream for a while (the scenario, not a wait for an event), then SIGKILL mid-session.
    await sleep(6000);
    const killedAt = Date.now();
    await x.kill('SIGKILL');
    x = null;

    const streamedWav = (killedAt - wavFrom) / 1000;
    const streamedMix = (killedAt - firstFrame) / 1000;
    // The WAV, read by the project, ffprobe and sox: the header's sizes were patched within the last 0.5 s.
    const w = readWav(wav);
    const ours = w.samples.length / w.channels / w.sampleRate;
    const ffprobe = Number(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=nw=1:nk=1', wav]).toString().trim());
    const sox = Number(execFileSync('sox', ['--i', '-D', wav]).toString().trim());
    console.log(`      WAV after SIGKILL: ${streamedWav.toFixed(2)} s streamed; readWav ${ours.toFixed(2)} s, ffprobe ${ffprobe.toFixed(2)} s, sox ${sox.toFixed(2)} s`);
    for (const [who, d] of [['readWav', ours], ['ffprobe', ffprobe], ['sox', sox]] as const) {
      assert.ok(Math.abs(d - streamedWav) < 1, `${who}: ${d.toFixed(2)} s of WAV for ${streamedWav.toFixed(2)} s streamed`);
    }
    // The capture: every event before the kill, a cut last one at most (said, not fatal).
    const out = execFileSync(process.execPath, [path.join(PACKAGE_ROOT, 'bin', 'xcast.js'), 'events', 'inspect', '--json', xcev]).toString();
    const sum = JSON.parse(out) as { durationSeconds: number; frames: number; truncated: unknown; channels: Array<{ packets: number }> };
    console.log(`      .xcev after SIGKILL: ${streamedMix.toFixed(2)} s mixed; ${sum.durationSeconds.toFixed(2)} s of frames (${sum.frames}), last event cut: ${sum.truncated ? 'yes' : 'no'}`);
    assert.ok(Math.abs(sum.durationSeconds - streamedMix) < 1, `${sum.durationSeconds.toFixed(2)} s of mixed frames captured for ${streamedMix.toFixed(2)} s mixed`);
    assert.equal(sum.channels.length, 2, 'alice and bob');
    for (const c of sum.channels) assert.ok(c.packets > 50 * streamedMix, `${c.packets} packets on a channel`);
  });
});

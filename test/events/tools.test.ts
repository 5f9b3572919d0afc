// The offline event tools on real files: reading (truncated and corrupt files), inspect, and reconstruct against hand-made and live-mixer sessions.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Mixer, addTrack, writeMix } from '../../runtime/audio/mixer';
import { OpusDecoder } from '../../runtime/audio/opus';
import { frameTrimFadeSamples } from '../../runtime/audio/playout';
import { readWav } from '../../runtime/audio/wav';
import { EventType, encodeOpusPacketReceived, encodeStreamInfo } from '../../runtime/events/codec';
import { formatSummary, inspectEvents } from '../../runtime/events/inspect';
import { EventFileError, readAllEvents } from '../../runtime/events/reader';
import { ReconstructError, reconstruct } from '../../runtime/events/reconstruct';
import { EventStreamServer } from '../../runtime/events/server';
import { FRAME, RATE, encode, tone, writeSyntheticSession, type SyntheticSession, samplesOf, assertSameSamples } from './session-fixture';

/**
 * Decodes packets in order as the playout buffer does: 'd' decodes packet k, 'c' conceals one frame — f32 as this
 * process decodes (libopus's float decoder, or @discordjs/opus's s16 scaled by 1/32768).
 */
function decodePlan(packets: Buffer[], channels: 1 | 2, plan: string): Float32Array[] {
  const dec = new OpusDecoder({ sampleRate: RATE, channels });
  return [...plan].map((p, k) => {
    const b = p === 'd' ? dec.decode(packets[k]) : dec.conceal(FRAME);
    return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
  });
}

/** s16 of the last packet of `order` decoded after all the ones before it. */
function decodePlanS16(packets: Buffer[], order: number[]): Buffer {
  const dec = new OpusDecoder({ sampleRate: RATE, channels: 1 });
  let last: Buffer = Buffer.alloc(0);
  for (const i of order) last = dec.decodeS16(packets[i]);
  return last;
}

interface Track { frames: Float32Array[]; channels: number; gain(k: number): number; pan(k: number): number; muted?: boolean }

/** Stereo mix of whole tracks with the live mixer's arithmetic (mono copied to both sides). */
function mixTracks(tracks: Track[], master: (k: number) => number, frames: number): Buffer {
  const out = new Float32Array(frames * FRAME * 2);
  const acc = new Float64Array(FRAME * 2);
  const st = new Float32Array(FRAME * 2);
  for (let k = 0; k < frames; k++) {
    acc.fill(0);
    for (const t of tracks) {
      const src = t.frames[k];
      for (let i = 0; i < FRAME; i++) {
        st[2 * i] = t.channels === 1 ? src[i] : src[2 * i];
        st[2 * i + 1] = t.channels === 1 ? src[i] : src[2 * i + 1];
      }
      addTrack(acc, st, t.gain(k), t.pan(k), !!t.muted, 2, FRAME);
    }
    writeMix(acc, master(k), out.subarray(k * FRAME * 2, (k + 1) * FRAME * 2), FRAME * 2);
  }
  return Buffer.from(out.buffer);
}

function frameOf(b: Buffer, k: number, channels = 2): Buffer {
  return b.subarray(k * FRAME * channels * 4, (k + 1) * FRAME * channels * 4);
}

describe('event file tools', () => {
  let tmp: string;
  let s: SyntheticSession;
  // What the reconstruction should hear: alice whole; bob with the late packet decoded in its slot and only the lost one concealed.
  let aliceFrames: Float32Array[];
  let bobIdeal: Float32Array[];
  let bobLive: Float32Array[];

  before(async function () {
    this.timeout(60000);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-tools-'));
    s = await writeSyntheticSession(path.join(tmp, 'session.xcev'));
    const plan = (concealed: number[]): string => Array.from({ length: s.frames }, (_, k) => (concealed.includes(k) ? 'c' : 'd')).join('');
    aliceFrames = decodePlan(s.alice.packets, 1, plan([]));
    bobIdeal = decodePlan(s.bob.packets, 2, plan([s.lostFrame]));
    bobLive = decodePlan(s.bob.packets, 2, plan([s.lateFrame, s.lostFrame]));
  });
  after(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const recorded = (bob: Float32Array[], o: { aliceGain?: number; bobGain?: number; aliceMuted?: boolean; bobMuted?: boolean; master?: number } = {}): Buffer => {
    const change = s.paramsChangeFrame;
    return mixTracks([
      { frames: aliceFrames, channels: 1, gain: () => o.aliceGain ?? 0.75, pan: () => 0.25, muted: o.aliceMuted },
      { frames: bob, channels: 2, gain: (k) => o.bobGain ?? (k < change ? 1 : 0.5), pan: (k) => (k < change ? 0 : -1), muted: o.bobMuted },
    ], (k) => o.master ?? (k < change ? 1 : 0.5), s.frames);
  };

  describe('readEventFile', () => {
    it('reads every event of a file in order', async () => {
      const { events, warnings } = await readAllEvents(s.path);
      assert.deepEqual(warnings, []);
      assert.equal(events[0].type, EventType.STREAM_INFO);
      assert.equal(events.filter((e) => e.type === EventType.AUDIO_FRAME_MIXED).length, s.frames);
      assert.equal(events.filter((e) => e.type === EventType.OPUS_PACKET_RECEIVED).length, 2 * s.frames - 1);
    });

    it('reports a truncated last event as a warning with its offset and uses the events before it', async () => {
      const full = fs.readFileSync(s.path);
      const { events } = await readAllEvents(s.path);
      const last = events[events.length - 1];
      const cut = path.join(tmp, 'cut.xcev');
      fs.writeFileSync(cut, full.subarray(0, last.offset + 17));
      const progress: number[] = [];
      const r = await readAllEvents(cut, { onProgress: (done) => progress.push(done), chunkBytes: 4096 });
      assert.equal(r.events.length, events.length - 1);
      assert.equal(r.warnings.length, 1);
      assert.equal(r.warnings[0].code, 'truncated');
      assert.equal(r.warnings[0].offset, last.offset);
      assert.match(r.warnings[0].message, new RegExp(`at byte ${last.offset}:`));
      assert.equal(progress[progress.length - 1], last.offset + 17);
    });

    it('throws an error naming the file and the byte offset of a malformed event', async () => {
      const bad = path.join(tmp, 'bad.xcev');
      const first = encodeStreamInfo(0, { serverStartMicros: 1, sampleRate: RATE, frameSamples: FRAME });
      const pkt = encodeOpusPacketReceived(1, { channelId: 1, seq: 0, compression: 0, channels: 1, packet: Buffer.from([1, 2, 3]) });
      pkt.writeUInt16LE(9, 13 + 14); // Opus byte count disagrees with the event length
      fs.writeFileSync(bad, Buffer.concat([first, pkt]));
      await assert.rejects(readAllEvents(bad), (e: unknown) =>
        e instanceof EventFileError && e.offset === first.length && e.message.includes(bad) && e.message.includes(`at byte ${first.length}`));
    });
  });

  describe('inspectEvents', () => {
    it('summarises format, duration, channels with profiles, packets, concealed frames and the late packet', async () => {
      const sum = await inspectEvents(s.path);
      assert.equal(sum.sampleRate, RATE);
      assert.equal(sum.frameSamples, FRAME);
      assert.equal(sum.formatVersion, 1);
      assert.equal(sum.frames, s.frames);
      assert.equal(sum.durationSeconds, (s.frames * FRAME) / RATE);
      assert.ok(sum.mixParameterChanges >= 2);
      assert.deepEqual(sum.channels.map((c) => c.profile?.name), ['alice', 'bob']);
      const [a, b] = sum.channels;
      assert.deepEqual(a.profile, { name: 'alice', city: 'Oslo', countryCode: 161, skillLevel: 3, instrument: 1 });
      assert.deepEqual({ packets: a.packets, concealed: a.concealedFrames, late: a.latePackets, lost: a.lostPackets, channels: a.channels },
        { packets: s.frames, concealed: 0, late: 0, lost: 0, channels: 1 });
      assert.deepEqual({ packets: b.packets, concealed: b.concealedFrames, late: b.latePackets, lost: b.lostPackets, channels: b.channels },
        { packets: s.frames - 1, concealed: 2, late: 1, lost: 1, channels: 2 });
      // bob's wire seqs start at 2^32 − 16 and wrap: the late one is unwrapped past 2^32.
      assert.deepEqual(b.lateSeqs, [BigInt(s.bob.firstWireSeq) + BigInt(s.lateFrame)]);
      assert.equal(b.firstSeq, BigInt(s.bob.firstWireSeq));
      assert.equal(b.lastSeq, BigInt(s.bob.firstWireSeq) + BigInt(s.frames - 1));
      const text = formatSummary(sum);
      assert.match(text, /48000 Hz, 480 samples per frame/);
      assert.match(text, /alice/);
      assert.match(text, new RegExp(`late packets of channel ${s.bob.channelId}: seq ${BigInt(s.bob.firstWireSeq) + BigInt(s.lateFrame)}`));
    });
  });

  describe('reconstruct', () => {
    it('puts the packet that came too late for the live mix into its slot and conceals only the lost one', async () => {
      const out = path.join(tmp, 'mix.wav');
      const phases = new Set<string>();
      const r = await reconstruct(s.path, { out, onProgress: (p) => phases.add(p.phase) });
      assert.deepEqual([...phases], ['index', 'mix']);
      assert.equal(r.frames, s.frames);
      const bob = r.tracks.find((t) => t.name === 'bob')!;
      assert.deepEqual({ live: bob.live, late: bob.late, concealed: bob.concealed, missing: bob.missing }, { live: s.frames - 2, late: 1, concealed: 1, missing: 0 });
      const w = readWav(out);
      assert.equal(w.sampleRate, RATE);
      assert.equal(w.channels, 2);
      const got = samplesOf(out);
      assertSameSamples(got, recorded(bobIdeal), 'reconstruction');
      const live = recorded(bobLive);
      assert.ok(!frameOf(got, s.lateFrame).equals(frameOf(live, s.lateFrame)), 'the late frame differs from the live concealment');
      assert.ok(frameOf(got, s.lateFrame - 1).equals(frameOf(live, s.lateFrame - 1)), 'frames before it are the live ones');
    });

    it('applies gain overrides by name and by channel id, mutes by name, and the master in dB', async () => {
      const byName = path.join(tmp, 'gain-name.wav');
      await reconstruct(s.path, { out: byName, gains: { bob: 0 } });
      assertSameSamples(samplesOf(byName), recorded(bobIdeal, { bobGain: 0 }), 'bob at gain 0');

      const byId = path.join(tmp, 'gain-id.wav');
      await reconstruct(s.path, { out: byId, gains: { [String(s.alice.channelId)]: 2, alice: 0 } });
      assertSameSamples(samplesOf(byId), recorded(bobIdeal, { aliceGain: 2 }), 'alice at gain 2 by id (the id wins over the name)');

      const muted = path.join(tmp, 'mute.wav');
      await reconstruct(s.path, { out: muted, mute: ['alice'], masterDb: 20 * Math.log10(0.25) });
      assertSameSamples(samplesOf(muted), recorded(bobIdeal, { aliceMuted: true, master: Math.pow(10, Math.log10(0.25)) }), 'alice muted, master −12 dB');
    });

    it('writes one stem per channel, in its own channel count, aligned with the mix', async () => {
      const stems = path.join(tmp, 'stems');
      const r = await reconstruct(s.path, { out: path.join(tmp, 'with-stems.wav'), stems });
      assert.deepEqual(fs.readdirSync(stems).sort(), [`${s.alice.channelId}-alice.wav`, `${s.bob.channelId}-bob.wav`]);
      const a = readWav(path.join(stems, `${s.alice.channelId}-alice.wav`));
      const b = readWav(path.join(stems, `${s.bob.channelId}-bob.wav`));
      assert.equal(a.channels, 1);
      assert.equal(b.channels, 2);
      assertSameSamples(samplesOf(path.join(stems, `${s.alice.channelId}-alice.wav`)), Buffer.concat(aliceFrames.map((f) => Buffer.from(f.buffer))), 'alice stem');
      assertSameSamples(samplesOf(path.join(stems, `${s.bob.channelId}-bob.wav`)), Buffer.concat(bobIdeal.map((f) => Buffer.from(f.buffer))), 'bob stem');
      assert.deepEqual(r.tracks.map((t) => t.stem), [path.join(stems, `${s.alice.channelId}-alice.wav`), path.join(stems, `${s.bob.channelId}-bob.wav`)]);
    });

    it('equals the live Mixer output sample for sample when no packet came late (Opus and PCM tracks, lost packets, parameters changed mid-session)', async function () {
      this.timeout(60000);
      const frames = 60;
      const file = path.join(tmp, 'live.xcev');
      const peers = [
        { user: 'carol', channels: 1 as const, packets: encode(tone([330], frames), 1), seq0: 7 },
        { user: 'dan', channels: 2 as const, packets: encode(tone([550, 770], frames), 2), seq0: 0xfffffff8 },
      ];
      // fay sends PCM: her two lost frames are a faded repeat, then silence, live and here.
      const fayPcm = tone([440], frames, 0.3).map((f) => {
        const v = new Float32Array(f.buffer, f.byteOffset, FRAME);
        const b = Buffer.alloc(FRAME * 2);
        for (let i = 0; i < FRAME; i++) b.writeInt16LE(Math.round(v[i] * 32767), i * 2);
        return b;
      });
      const lost = { user: 'dan', frame: 30 };
      const fayLost = [40, 41];
      const mixer = new Mixer({ sampleRate: RATE, channels: 2, frameSamples: FRAME });
      const srv = new EventStreamServer({ port: 0, sampleRate: RATE, frameSamples: FRAME, file: { path: file } });
      const ids = new Map([...peers.map((p) => p.user), 'fay'].map((u) => [u, srv.channelIdFor(u, 1)]));
      for (const u of ids.keys()) srv.setProfile(ids.get(u)!, { name: u });
      const params = (k: number): void => {
        srv.mixParameters(k, mixer.masterGain, peers.map((p) => ({ channelId: ids.get(p.user)!, ...mixer.userSettings(p.user) })));
      };
      mixer.setGain('carol', 0.75);
      mixer.setPan('carol', 0.5);
      params(0);
      const live: Buffer[] = [];
      for (let k = 0; k < frames; k++) {
        const now = 1_000_000 + k * 10_000;
        if (k === 20) {
          mixer.setGain('dan', 1.5);
          mixer.setPan('dan', -0.25);
          mixer.setMaster(0.5);
          params(k);
        }
        if (!fayLost.includes(k)) {
          const wire = 1000 + k;
          mixer.push('fay', { seq: wire, codec: 'pcm_s16le', sampleRate: RATE, channels: 1, frameSamples: FRAME, trackId: 1 }, fayPcm[k], now);
          srv.pcmPacketReceived(ids.get('fay')!, wire, 'pcm_s16le', 1, FRAME, RATE, fayPcm[k]);
        }
        for (const p of peers) {
          if (p.user === lost.user && k === lost.frame) continue;
          const wire = (p.seq0 + k) >>> 0;
          const header = { seq: wire, codec: 'opus' as const, sampleRate: RATE, channels: p.channels, frameSamples: FRAME, trackId: 1 };
          mixer.push(p.user, header, p.packets[k], now);
          srv.opusPacketReceived(ids.get(p.user)!, wire, 0, p.channels, p.packets[k]);
        }
        const r = mixer.tick(now);
        live.push(r.mix);
        srv.audioFrameMixed(r.seq, r.used.entries().map((u) => ({
          channelId: srv.channelIdFor(u.userId, u.trackId), seq: u.wireSeq, concealed: u.concealed,
          codec: u.codec, channels: u.channels, frameSamples: u.frameSamples,
        })));
      }
      await srv.close();
      const out = path.join(tmp, 'live.wav');
      const r = await reconstruct(file, { out });
      const dan = r.tracks.find((t) => t.name === 'dan')!;
      assert.equal(dan.late, 0);
      assert.equal(dan.concealed, 1, 'the lost packet is concealed, as live');
      const fay = r.tracks.find((t) => t.name === 'fay')!;
      assert.equal(fay.concealed, 2);
      assertSameSamples(samplesOf(out), Buffer.concat(live), 'reconstruction of the live session');
    });

    it('equals the live Mixer output sample for sample across its latency trims (whole packets faded in): Opus mono and stereo, PCM concealed right after a trim', async function () {
      this.timeout(60000);
      const frames = 160;
      const file = path.join(tmp, 'trims.xcev');
      const pcmOf = (f: Buffer): Buffer => {
        const v = new Float32Array(f.buffer, f.byteOffset, FRAME);
        const b = Buffer.alloc(FRAME * 2);
        for (let i = 0; i < FRAME; i++) b.writeInt16LE(Math.round(v[i] * 32767), i * 2);
        return b;
      };
      // Each peer sends packet k at frame k until `burstAt`, from then on `ahead` packets early: a stall's backlog
      // that arrives at once and stays, so the mixer's buffers stand above their target and trim.
      const peers = [
        { user: 'carol', codec: 'opus' as const, channels: 1, packets: encode(tone([330], frames + 20), 1), seq0: 7, burstAt: 30, ahead: 8, lost: [] as number[] },
        { user: 'dan', codec: 'opus' as const, channels: 2, packets: encode(tone([550, 770], frames + 20), 2), seq0: 0xfffffff8, burstAt: 50, ahead: 6, lost: [130] },
        // fay's burst passes maxDepthFrames: trimmed at once, up to the packet before her lost one (100), which is
        // then concealed (a faded repeat of the frame as decoded, before the trim's fade).
        { user: 'fay', codec: 'pcm_s16le' as const, channels: 1, packets: tone([440], frames + 20, 0.3).map(pcmOf), seq0: 1000, burstAt: 90, ahead: 14, lost: [100] },
      ];
      const mixer = new Mixer({ sampleRate: RATE, channels: 2, frameSamples: FRAME, playout: { adaptWindowMs: 100, maxDepthFrames: 12 } });
      const srv = new EventStreamServer({ port: 0, sampleRate: RATE, frameSamples: FRAME, file: { path: file } });
      const ids = new Map(peers.map((p) => [p.user, srv.channelIdFor(p.user, 1)]));
      for (const u of ids.keys()) srv.setProfile(ids.get(u)!, { name: u });
      mixer.setGain('carol', 0.75);
      mixer.setPan('carol', 0.5);
      mixer.setGain('dan', 1.5);
      srv.mixParameters(0, mixer.masterGain, peers.map((p) => ({ channelId: ids.get(p.user)!, ...mixer.userSettings(p.user) })));
      const sent = new Map(peers.map((p) => [p.user, 0]));
      const live: Buffer[] = [];
      const used: Array<Map<string, { seq: number | null; concealed: boolean }>> = [];
      for (let k = 0; k < frames; k++) {
        const now = 1_000_000 + k * 10_000;
        for (const p of peers) {
          for (let j = sent.get(p.user)!; j <= k + (k >= p.burstAt ? p.ahead : 0); j++) {
            sent.set(p.user, j + 1);
            if (p.lost.includes(j)) continue;
            const wire = (p.seq0 + j) >>> 0;
            mixer.push(p.user, { seq: wire, codec: p.codec, sampleRate: RATE, channels: p.channels, frameSamples: FRAME, trackId: 1 }, p.packets[j], now);
            if (p.codec === 'opus') srv.opusPacketReceived(ids.get(p.user)!, wire, 0, p.channels as 1 | 2, p.packets[j]);
            else srv.pcmPacketReceived(ids.get(p.user)!, wire, 'pcm_s16le', 1, FRAME, RATE, p.packets[j]);
          }
        }
        const r = mixer.tick(now);
        live.push(r.mix);
        used.push(new Map(r.used.entries().map((u) => [u.userId, { seq: u.seq, concealed: u.concealed }])));
        srv.audioFrameMixed(r.seq, r.used.entries().map((u) => ({
          channelId: srv.channelIdFor(u.userId, u.trackId), seq: u.wireSeq, concealed: u.concealed,
          codec: u.codec, channels: u.channels, frameSamples: u.frameSamples,
        })));
      }
      await srv.close();
      // The live trims, from the seqs the mixer reports: whole packets, as many as the buffers say they dropped.
      const dropped = new Map(mixer.tracks().map((t) => [t.userId, t.trimmedSamples]));
      const jumps = new Map<string, { trims: number; packets: number; frames: number[] }>();
      for (const p of peers) {
        const j = { trims: 0, packets: 0, frames: [] as number[] };
        let last = NaN;
        let lastK = NaN;
        for (let k = 0; k < frames; k++) {
          const e = used[k].get(p.user);
          if (!e || e.seq === null) continue;
          if (e.seq - last > k - lastK) { j.trims++; j.packets += e.seq - last - (k - lastK); j.frames.push(k); }
          last = e.seq;
          lastK = k;
        }
        jumps.set(p.user, j);
        assert.ok(j.trims >= 1, `${p.user}'s buffer trimmed (${dropped.get(p.user)} samples dropped)`);
        assert.equal(dropped.get(p.user), j.packets * FRAME, `${p.user}: trimmedSamples are the packets skipped, whole`);
      }
      // (Trims before the bursts too: calm windows lower the target, and the excess goes.)
      const fayTrim = jumps.get('fay')!.frames.find((k) => k >= 90)!;
      assert.deepEqual([fayTrim, used[fayTrim + 1].get('fay')!.seq, used[fayTrim + 1].get('fay')!.concealed], [90, null, true], 'fay\'s frame after her burst\'s trim is concealed');

      const out = path.join(tmp, 'trims.wav');
      const r = await reconstruct(file, { out });
      for (const p of peers) {
        const t = r.tracks.find((x) => x.name === p.user)!;
        assert.deepEqual([t.trims, t.trimmedPackets, t.late], [jumps.get(p.user)!.trims, jumps.get(p.user)!.packets, 0], `${p.user}: the trims replayed`);
      }
      assert.equal(r.tracks.find((x) => x.name === 'fay')!.concealed, 1);
      assertSameSamples(samplesOf(out), Buffer.concat(live), 'reconstruction of the live session with trims');
    });

    /**
     * One mono channel whose frame k plays packet plan[k] (null: concealed); packets are received in the order
     * `arrivals[k]` lists them, just before frame k's mix event.
     */
    async function oneChannelSession(file: string, packets: Buffer[], plan: (number | null)[], arrivals: number[][]): Promise<void> {
      const srv = new EventStreamServer({ port: 0, sampleRate: RATE, frameSamples: FRAME, file: { path: file } });
      const ch = srv.channelIdFor('eve', 1);
      for (let k = 0; k < plan.length; k++) {
        for (const a of arrivals[k]) srv.opusPacketReceived(ch, 500 + a, 0, 1, packets[a]);
        srv.audioFrameMixed(k, [{ channelId: ch, seq: plan[k] === null ? null : 500 + plan[k]!, channels: 1, frameSamples: FRAME }]);
      }
      await srv.close();
    }

    it('replays a latency trim of the live buffer: decodes the packets it dropped (libopus\' state follows the live one) and fades the first into the next frame', async () => {
      const packets = encode(tone([523], 30), 1);
      // Frames 0–19 play packets 0–19; then the live buffer dropped excess depth: frame 20 plays 23, 21 plays 24, …
      const plan = Array.from({ length: 26 }, (_, k) => (k < 20 ? k : k + 3));
      const arrivals = plan.map((_, k) => (k < 20 ? [k] : k === 20 ? [20, 21, 22, 23] : [k + 3]));
      const file = path.join(tmp, 'skip.xcev');
      await oneChannelSession(file, packets, plan, arrivals);
      const out = path.join(tmp, 'skip.wav');
      const r = await reconstruct(file, { out });
      assert.deepEqual([r.tracks[0].trims, r.tracks[0].trimmedPackets], [1, 3]);
      // Expected: the decoder saw 0…22 in order (20–22 decoded and dropped), then 23…28; frame 20 is packet 23 with
      // its first 5 ms faded in from packet 20's, the playout buffer's rule.
      const all = decodePlan(packets, 1, 'd'.repeat(29));
      const played = plan.map((p) => Float32Array.from(all[p!]));
      const W = frameTrimFadeSamples(RATE, FRAME);
      for (let i = 0; i < W; i++) {
        const g = (i + 0.5) / W;
        played[20][i] = all[20][i] * (1 - g) + all[23][i] * g;
      }
      const expected = mixTracks([{ frames: played, channels: 1, gain: () => 1, pan: () => 0 }], () => 1, plan.length);
      assertSameSamples(samplesOf(out), expected, 'reconstruction across the trim');
      // Without the dropped decodes frame 20 would come out of a decoder that never saw packets 20–22.
      const naive = new OpusDecoder({ sampleRate: RATE, channels: 1 });
      for (let i = 0; i < 20; i++) naive.decodeS16(packets[i]);
      assert.ok(!naive.decodeS16(packets[23]).equals(decodePlanS16(packets, [...Array(23).keys(), 23])), 'the test can tell the difference');
    });

    it('takes a seq jump over a packet never received for no trim: no fade (the live buffer drops only packets it holds)', async () => {
      const packets = encode(tone([523], 30), 1);
      const plan = Array.from({ length: 26 }, (_, k) => (k < 20 ? k : k + 3));
      // Packet 21 never came.
      const arrivals = plan.map((_, k) => (k < 20 ? [k] : k === 20 ? [20, 22, 23] : [k + 3]));
      const file = path.join(tmp, 'skip-lost.xcev');
      await oneChannelSession(file, packets, plan, arrivals);
      const out = path.join(tmp, 'skip-lost.wav');
      const r = await reconstruct(file, { out });
      assert.equal(r.tracks[0].trims, 0);
      // The received ones are still decoded in order (20, 22), then 23 plays as it comes.
      const dec = new OpusDecoder({ sampleRate: RATE, channels: 1 });
      const frames = plan.map((p, k) => {
        if (k === 20) { dec.decode(packets[20]); dec.decode(packets[22]); }
        const b = dec.decode(packets[p!]);
        return new Float32Array(b.buffer, b.byteOffset, FRAME);
      });
      assertSameSamples(samplesOf(out), mixTracks([{ frames, channels: 1, gain: () => 1, pan: () => 0 }], () => 1, plan.length), 'no fade');
    });

    it('conceals, as live, a frame whose packet the live mix played one frame later (a delay, not a loss)', async () => {
      const packets = encode(tone([587], 20), 1);
      // Packet 10 came just too late for frame 10 (concealed) and was played at frame 11; everything shifts by one.
      const plan = Array.from({ length: 20 }, (_, k) => (k < 10 ? k : k === 10 ? null : k - 1));
      const arrivals = plan.map((_, k) => (k < 10 ? [k] : k === 10 ? [] : k === 11 ? [10, 11] : [k]));
      const file = path.join(tmp, 'delay.xcev');
      await oneChannelSession(file, packets, plan, arrivals);
      const sum = await inspectEvents(file);
      assert.deepEqual({ concealed: sum.channels[0].concealedFrames, late: sum.channels[0].latePackets, lost: sum.channels[0].lostPackets }, { concealed: 1, late: 0, lost: 1 });
      const out = path.join(tmp, 'delay.wav');
      await reconstruct(file, { out });
      const dec = new OpusDecoder({ sampleRate: RATE, channels: 1 });
      const frames = plan.map((p) => {
        const b = p === null ? dec.conceal(FRAME) : dec.decode(packets[p]);
        return new Float32Array(b.buffer, b.byteOffset, FRAME);
      });
      assertSameSamples(samplesOf(out), mixTracks([{ frames, channels: 1, gain: () => 1, pan: () => 0 }], () => 1, plan.length), 'the live timeline');
    });

    it('refuses a file without Stream Info or mixed frames, and bad options, naming them', async () => {
      const empty = path.join(tmp, 'empty.xcev');
      fs.writeFileSync(empty, Buffer.alloc(0));
      await assert.rejects(reconstruct(empty, { out: path.join(tmp, 'x.wav') }), (e: unknown) => e instanceof ReconstructError && e.code === 'no_format');
      await assert.rejects(reconstruct(s.path, { out: path.join(tmp, 'x.wav'), gains: { bob: Number.NaN } }), /gains\["bob"\]/);
      await assert.rejects(reconstruct(s.path, { out: path.join(tmp, 'x.wav'), masterDb: Infinity }), /masterDb/);
    });
  });
});

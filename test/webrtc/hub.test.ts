// RtcHub through the real HTTP contract (docs/webrtc.md) with real werift clients: answers, media both ways, rooms,
// leaving, access, and every error row.
import assert from 'node:assert/strict';
import dns from 'node:dns';
import net from 'node:net';
import { RTCPeerConnection } from 'werift';
import { RtcHub, candidateAddresses } from '../../runtime/webrtc';
import type { RtcPeerInfo, RtcAudioHeader } from '../../runtime/webrtc';
import { OpusDecoder } from '../../runtime/audio/opus';
import { ToneGenerator } from '../../runtime/audio/signals';
import { OpusEncoder } from '../../runtime/audio/opus';
import { estimateFrequency } from '../../runtime/audio/analysis';
import { startHub, HubFixture } from './fixture';
import { RtcClient, TonePacer, waitFor } from '../support/rtc-client';
import { UsedFrame } from '../../runtime/audio/used';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A raw signaling request (no client): status, JSON body, content type. */
async function call(f: HubFixture, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; type: string | null; headers: Headers }> {
  const res = await fetch(`${f.base}${path}`, { method, headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers }, body });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, type: res.headers.get('content-type'), headers: res.headers };
}

/** A complete offer SDP from a werift client (candidates in it), for raw requests. */
async function offerSdp(o: { stereo?: boolean } = {}): Promise<string> {
  const c = new RtcClient({ base: 'http://127.0.0.1:9', userId: 'x', stereo: o.stereo });
  c.pc.addTransceiver('audio', { direction: 'sendrecv' });
  for (const t of c.pc.iceTransports) (t.connection as unknown as { stunServer?: unknown }).stunServer = undefined;
  await c.pc.setLocalDescription(await c.pc.createOffer());
  const sdp = c.pc.localDescription!.sdp;
  await c.pc.close();
  return sdp;
}

function expectError(r: { status: number; body: any; type: string | null }, status: number, code: string, field: RegExp): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.match(r.type ?? '', /^application\/json/);
  assert.equal(r.body.error.code, code);
  assert.equal(typeof r.body.error.message, 'string');
  assert.match(r.body.error.message, field);
}

/** The 'leave' events of a hub, as they come. */
function leaves(hub: RtcHub): Array<{ userId: string; connectionId: string; reason: string }> {
  const out: Array<{ userId: string; connectionId: string; reason: string }> = [];
  hub.on('leave', (p: RtcPeerInfo, reason: string) => out.push({ userId: p.userId, connectionId: p.connectionId, reason }));
  return out;
}

describe('webrtc hub: the signaling contract with werift clients', function () {
  this.timeout(30_000);
  let f: HubFixture;
  afterEach(async () => { await f?.close(); });

  it('answers an offer with the server\'s host candidates (127.0.0.1 included), a UUID clientId and a mono Opus fmtp; the peer connects and is listed without its clientId', async () => {
    f = await startHub();
    const joined: RtcPeerInfo[] = [];
    const connected: RtcPeerInfo[] = [];
    f.hub.on('join', (p) => joined.push(p));
    f.hub.on('connected', (p) => connected.push(p));
    const c = f.client({ userId: 'alice', name: 'Alice', room: 'studio' });
    const a = await c.join();
    assert.equal(a.type, 'answer');
    assert.match(a.clientId, UUID_V4);
    assert.equal(a.room, 'studio');
    assert.equal(a.userId, 'alice');
    const hosts = candidateAddresses(a.sdp).map((l) => l.split(' ')[0]);
    assert.ok(hosts.includes('127.0.0.1'), `candidates: ${JSON.stringify(candidateAddresses(a.sdp))}`);
    for (const l of candidateAddresses(a.sdp)) assert.match(l, / host$/, 'host candidates only (no STUN, no TURN)');
    const fmtp = /^a=fmtp:\d+ (.*)$/m.exec(a.sdp)?.[1] ?? '';
    assert.equal(fmtp.trim(), 'minptime=10;useinbandfec=1');
    assert.match(a.sdp, /^a=ptime:10\r?$/m, '10 ms frames asked of the browser');
    assert.match(a.sdp, /^a=sendrecv/m);
    await waitFor(() => c.pc.connectionState === 'connected' && connected.length === 1, 10_000, 'connected');
    assert.equal(joined.length, 1);
    assert.equal(connected[0].userId, 'alice');
    assert.equal(connected[0].name, 'Alice');
    assert.match(connected[0].connectionId, /^webrtc-\d+$/);
    assert.equal(connected[0].state, 'connected');
    // The pair that carries the media: loopback with loopback.
    assert.match(connected[0].remote, /^127\.0\.0\.1:\d+$/);
    const r = await call(f, 'GET', '/rooms');
    assert.equal(r.status, 200);
    assert.match(r.type ?? '', /^application\/json/);
    assert.equal(r.body.rooms.length, 1);
    assert.equal(r.body.rooms[0].room, 'studio');
    const p = r.body.rooms[0].peers[0];
    assert.deepEqual(Object.keys(p).sort(), ['connectedAt', 'listen', 'name', 'publish', 'state', 'userId']);
    assert.equal(p.state, 'connected');
    assert.ok(p.connectedAt > Date.now() - 60_000 && p.connectedAt <= Date.now());
    assert.ok(!JSON.stringify(r.body).includes(a.clientId), 'GET /rooms never shows a clientId');
  });

  it('answers stereo=1;sprop-stereo=1 only to an offer whose Opus fmtp had stereo=1', async () => {
    f = await startHub();
    const s = await f.client({ userId: 'st', stereo: true, publish: false }).join();
    assert.match(s.sdp, /^a=fmtp:\d+ minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1\r?$/m);
    const m = await f.client({ userId: 'mo', stereo: false, publish: false }).join();
    assert.doesNotMatch(m.sdp, /stereo/);
    const peers = f.hub.rooms()[0].peers;
    assert.equal(peers.find((p) => p.userId === 'st')?.stereo, true);
    assert.equal(peers.find((p) => p.userId === 'mo')?.stereo, false);
  });

  it('looks up no STUN server (nor any other name) while it answers, with no ICE servers configured', async () => {
    const looked: string[] = [];
    const orig = { lookup: dns.lookup, promises: dns.promises.lookup };
    (dns as { lookup: unknown }).lookup = function (host: string, ...rest: unknown[]) {
      if (!net.isIP(host)) looked.push(host);
      return (orig.lookup as (...a: unknown[]) => unknown).call(dns, host, ...rest);
    };
    dns.promises.lookup = (async (host: string, ...rest: unknown[]) => {
      if (!net.isIP(host)) looked.push(host);
      return (orig.promises as (...a: unknown[]) => unknown).call(dns.promises, host, ...rest);
    }) as typeof dns.promises.lookup;
    try {
      // The detector sees werift's own fallback: a plain peer connection with iceServers [] asks for a public STUN server.
      const plain = new RTCPeerConnection({ iceServers: [] });
      plain.addTransceiver('audio');
      await plain.setLocalDescription(await plain.createOffer());
      await plain.close();
      assert.ok(looked.some((h) => /stun/.test(h)), `werift's fallback STUN lookup seen (${JSON.stringify(looked)})`);
      looked.length = 0;
      f = await startHub();
      const c = f.client({ userId: 'alice' });
      await c.connect();
      assert.deepEqual(looked, [], 'no name looked up');
    } finally {
      (dns as { lookup: unknown }).lookup = orig.lookup;
      dns.promises.lookup = orig.promises;
    }
  });

  it('passes a publisher\'s 440 Hz tone on as Opus audio events: 10 ms frames, u32 seqs +1, capture times 10 ms apart', async () => {
    f = await startHub();
    const got: Array<{ h: RtcAudioHeader; data: Buffer; p: RtcPeerInfo }> = [];
    f.hub.on('audio', (p, h, data) => got.push({ p, h, data }));
    const c = f.client({ userId: 'alice', listen: false, toneHz: 440 });
    await c.connect();
    c.startTone();
    await waitFor(() => got.length >= 150, 10_000, '150 packets');
    assert.equal(got[0].p.userId, 'alice');
    const dec = new OpusDecoder({ sampleRate: 48000, channels: 1 });
    const pcm: Buffer[] = [];
    let steps = 0;
    for (let i = 0; i < got.length; i++) {
      const { h, data } = got[i];
      assert.equal(h.codec, 'opus');
      assert.equal(h.sampleRate, 48000);
      assert.equal(h.channels, 1);
      assert.equal(h.frameSamples, 480);
      assert.equal(h.trackId, 1);
      if (i > 0) {
        assert.equal(h.seq, (got[i - 1].h.seq + 1) >>> 0, `seq after ${got[i - 1].h.seq}`);
        // The RTP clock: 10 ms apart, but for one step where the first sender report sets the sender's clock.
        if (Math.abs(h.captureTime - got[i - 1].h.captureTime - 10_000) >= 1) steps++;
      }
      pcm.push(dec.decode(data));
    }
    assert.ok(steps <= 1, `capture times 10 ms apart but for the first SR's step (${steps} steps)`);
    const all = Buffer.concat(pcm.slice(50));
    const hz = estimateFrequency(new Float32Array(all.buffer, all.byteOffset, all.length / 4), 48000);
    assert.ok(Math.abs(hz - 440) < 1, `440 Hz, got ${hz}`);
  });

  it('drops an Opus packet that does not parse, counts it, and passes the rest on', async () => {
    f = await startHub();
    const warnings: string[] = [];
    f.hub.on('warning', (w) => warnings.push(w));
    let n = 0;
    f.hub.on('audio', () => n++);
    const c = await f.join({ userId: 'alice', listen: false });
    const { RtpHeader, RtpPacket } = await import('werift');
    const send = (payload: Buffer, seq: number) => c.transceiver!.sender.sendRtp(new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: seq * 480, payloadType: 0 }), payload));
    const enc = new OpusEncoder({ sampleRate: 48000, channels: 1, frameSamples: 480 });
    const tone = new ToneGenerator({ frequency: 440, sampleRate: 48000 });
    await send(Buffer.from([0x03]), 1); // code 3 without its frame count byte: [R6]
    await send(enc.encode(tone.next(480)), 2);
    await send(Buffer.from([0x01, 0x00]), 3); // code 1 (two equal frames) with an odd length: [R3]
    await send(enc.encode(tone.next(480)), 4);
    await waitFor(() => n === 2, 5000, 'the two good packets');
    const peer = (f.hub as unknown as { byClient: Map<string, { badPackets: number }> }).byClient.get(c.answer!.clientId)!;
    assert.equal(peer.badPackets, 2);
    assert.equal(warnings.filter((w) => /does not parse/.test(w)).length, 1, 'said once per peer');
  });

  it('sends a room\'s mix to its listeners only, never to a publisher whose voice is in it; sendTo reaches one listener; each gets its own RTP numbering', async () => {
    f = await startHub();
    const [alice, bob, dave, carol] = await Promise.all([
      f.join({ userId: 'alice', room: 'A', toneHz: 0 }), // publishes and listens
      f.join({ userId: 'bob', room: 'A', publish: false }), // listens
      f.join({ userId: 'dave', room: 'A', toneHz: 0 }), // publishes and listens, not in the mix
      f.join({ userId: 'carol', room: 'B', publish: false }), // another room
    ]);
    const ids = new Map(f.hub.rooms().flatMap((r) => r.peers.map((p) => [p.userId, p.connectionId] as const)));
    const enc = new OpusEncoder({ sampleRate: 48000, channels: 1, frameSamples: 480 });
    const tone = new ToneGenerator({ frequency: 440, sampleRate: 48000 });
    const packets = Array.from({ length: 20 }, () => enc.encode(tone.next(480)));
    for (const p of packets) f.hub.sendRoom('A', p, 480, UsedFrame.from([{ userId: 'alice', connectionId: ids.get('alice')!, room: 'A', wireSeq: 0, concealed: false, codec: 'opus', channels: 1, frameSamples: 480 }]));
    await Promise.all([bob.heardPackets(20), dave.heardPackets(20)]);
    assert.equal(alice.received, 0, 'alice is in the mix: she never hears it');
    assert.equal(carol.received, 0, 'room B hears nothing of room A');
    assert.equal(bob.gaps, 0);
    // sendTo: alice's mix-minus to alice only.
    for (const p of packets) f.hub.sendTo('A', 'alice', p, 480);
    await alice.heardPackets(20);
    assert.equal(alice.gaps, 0);
    // Right after her mix-minus, the room's mix without `used` still skips her (she has her own), not bob.
    for (const p of packets.slice(0, 5)) f.hub.sendRoom('A', p, 480);
    await bob.heardPackets(25);
    assert.equal(alice.received, 20);
    assert.equal(bob.received, 25);
    assert.equal(carol.received, 0);
    f.hub.sendTo('B', 'alice', packets[0], 480); // no alice in room B
    f.hub.sendRoom('B', packets[0], 480);
    await carol.heardPackets(1);
    assert.equal(alice.received, 20);
  });

  it('DELETE /session/ID: 204, and the peer has left its room when the answer arrives; the server closes its side', async () => {
    f = await startHub();
    const left = leaves(f.hub);
    const c = f.client({ userId: 'alice' });
    await c.connect();
    assert.equal(await c.leave(), 204);
    assert.deepEqual(left.map((l) => [l.userId, l.reason]), [['alice', 'deleted']]);
    assert.deepEqual(f.hub.rooms(), []);
    const again = await call(f, 'DELETE', `/session/${c.answer!.clientId}`);
    expectError(again, 404, 'no_such_client', /clientId/);
    assert.equal(again.body.error.reason, 'deleted');
    // werift sends no close_notify of its own: the hub's tells the client at once.
    await waitFor(() => c.pc.dtlsTransports[0]?.state === 'closed', 5000, 'the client to see the server close');
  });

  it('closes a peer whose media stopped (no RTP or RTCP; ICE consent checks go on): leave "timeout"', async () => {
    f = await startHub({ inactivityMs: 300 });
    const left = leaves(f.hub);
    const c = f.client({ userId: 'alice' });
    await c.connect();
    c.startTone();
    await waitFor(() => (f.hub as unknown as { stats: { packetsIn: number } }).stats.packetsIn > 20, 5000, 'media');
    assert.equal(left.length, 0, 'a peer with media stays');
    // Media stops: no RTP, and werift's RTCP loops stopped; the ICE transport (consent checks) lives on.
    c.stopTone();
    c.transceiver!.sender.stop();
    c.transceiver!.receiver.stop();
    await waitFor(() => left.length === 1, 5000, 'the timeout');
    assert.deepEqual(left.map((l) => [l.userId, l.reason]), [['alice', 'timeout']]);
    assert.equal(c.pc.iceConnectionState === 'connected' || c.pc.iceConnectionState === 'completed' || c.pc.iceConnectionState === 'closed', true);
    assert.deepEqual(f.hub.rooms(), []);
  });

  it('a listen-only peer is held to its RTCP only while the mix streams to it: kept in a silent room, closed when its reports stop', async () => {
    // Longer than werift's receiver report interval (0.5–1.5 s; Chromium's is about 1 s, RFC 3550's at most 5 s).
    f = await startHub({ inactivityMs: 2500 });
    const left = leaves(f.hub);
    const bob = await f.join({ userId: 'bob', publish: false });
    // A silent room: nothing is sent to bob, so he sends no RTCP (werift, like Chromium, reports only what it receives).
    const sweeps = f.hub.stats.sweeps;
    await waitFor(() => f.hub.stats.sweeps >= sweeps + 5, 10_000, 'five sweeps (> the timeout)');
    assert.equal(left.length, 0, 'kept while the room is silent');
    // The mix streams (the test is the mixer's clock here); his receiver reports keep him.
    const enc = new OpusEncoder({ sampleRate: 48000, channels: 1, frameSamples: 480 });
    const tone = new ToneGenerator({ frequency: 440, sampleRate: 48000 });
    const pkt = enc.encode(tone.next(480));
    const clock = setInterval(() => f.hub.sendRoom('main', pkt, 480), 10);
    try {
      await bob.heardPackets(100);
      const s2 = f.hub.stats.sweeps;
      await waitFor(() => f.hub.stats.sweeps >= s2 + 5, 10_000, 'five more sweeps');
      assert.equal(left.length, 0, 'kept while he reports what he hears');
      // His reports stop (a dead tab's media), the mix goes on: closed.
      bob.transceiver!.receiver.stop();
      bob.transceiver!.sender.stop();
      await waitFor(() => left.length === 1, 10_000, 'the timeout');
      assert.deepEqual(left.map((l) => [l.userId, l.reason]), [['bob', 'timeout']]);
    } finally {
      clearInterval(clock);
    }
  });

  it('a second offer with the same userId in a room replaces the first (leave "replaced"); the same userId in another room is another peer', async () => {
    f = await startHub();
    const left = leaves(f.hub);
    const first = f.client({ userId: 'alice', room: 'A' });
    await first.connect();
    const second = f.client({ userId: 'alice', room: 'A' });
    await second.connect();
    assert.deepEqual(left.map((l) => [l.userId, l.reason]), [['alice', 'replaced']]);
    const other = f.client({ userId: 'alice', room: 'B' });
    await other.connect();
    const rooms = f.hub.rooms();
    assert.deepEqual(rooms.map((r) => [r.room, r.peers.length]).sort(), [['A', 1], ['B', 1]]);
    assert.notEqual(rooms.find((r) => r.room === 'A')!.peers[0].connectionId, left[0].connectionId);
    const old = await call(f, 'DELETE', `/session/${first.answer!.clientId}`);
    expectError(old, 404, 'no_such_client', /clientId.*replaced/);
    // An added field says why, so a page whose DTLS transport closed can tell "replaced" (stop) from "ended" (retry).
    assert.equal(old.body.error.reason, 'replaced');
  });

  it('with a token: /offer and GET /rooms need it (body token or Bearer), 401 naming the token otherwise', async () => {
    f = await startHub({ token: 's3cret' });
    const sdp = await offerSdp();
    const body = (extra: object) => JSON.stringify({ type: 'offer', sdp, room: 'main', userId: 'u1', publish: true, listen: true, ...extra });
    expectError(await call(f, 'POST', '/offer', body({})), 401, 'unauthorized', /token/);
    expectError(await call(f, 'POST', '/offer', body({ token: 'wrong' })), 401, 'unauthorized', /token/);
    expectError(await call(f, 'GET', '/rooms'), 401, 'unauthorized', /token/);
    expectError(await call(f, 'GET', '/rooms', undefined, { Authorization: 'Bearer nope' }), 401, 'unauthorized', /token/);
    await f.client({ userId: 'alice', token: 's3cret' }).connect();
    await f.client({ userId: 'bob', token: 's3cret', bearer: true }).connect();
    const r = await call(f, 'GET', '/rooms', undefined, { Authorization: 'Bearer s3cret' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.rooms[0].peers.map((p: { userId: string }) => p.userId).sort(), ['alice', 'bob']);
  });

  it('with a users list: each userId with its own token', async () => {
    const { UsersList } = await import('../../runtime/protocol/auth');
    f = await startHub({ users: UsersList.parse([{ userId: 'alice', token: 'a-tok' }, { userId: 'bob', token: 'b-tok' }]) });
    await f.client({ userId: 'alice', token: 'a-tok' }).connect();
    await assert.rejects(f.client({ userId: 'alice', token: 'b-tok' }).join(), (e: Error & { status?: number; code?: string }) => e.status === 401 && e.code === 'unauthorized');
    await assert.rejects(f.client({ userId: 'mallory', token: 'a-tok' }).join(), (e: Error & { status?: number }) => e.status === 401);
    const r = await call(f, 'GET', '/rooms?userId=bob', undefined, { Authorization: 'Bearer b-tok' });
    assert.equal(r.status, 200);
  });

  it('refuses a cross-origin request unless its origin is allowed (same-origin pages pass)', async () => {
    f = await startHub({ allowedOrigins: ['http://good.example'] });
    const host = new URL(f.base).host;
    expectError(await call(f, 'GET', '/rooms', undefined, { Origin: 'http://evil.example' }), 403, 'forbidden_origin', /Origin/);
    const same = await call(f, 'GET', '/rooms', undefined, { Origin: `http://${host}` });
    assert.equal(same.status, 200);
    const good = await call(f, 'GET', '/rooms', undefined, { Origin: 'http://good.example' });
    assert.equal(good.status, 200);
    assert.equal(good.headers.get('access-control-allow-origin'), 'http://good.example');
    const pre = await call(f, 'OPTIONS', '/offer', undefined, { Origin: 'http://good.example' });
    assert.equal(pre.status, 204);
    assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
    await assert.rejects(f.client({ userId: 'e', headers: { Origin: 'http://evil.example' } }).join(), (e: Error & { status?: number }) => e.status === 403);
  });

  it('answers every error row of webrtc.md as written: status, code, a message naming the field, application/json', async () => {
    f = await startHub({ rooms: ['main', 'studio'], maxPeers: 2, maxPeersPerRoom: 1 });
    const sdp = await offerSdp();
    const offer = (o: Record<string, unknown>) => JSON.stringify({ type: 'offer', sdp, room: 'main', userId: 'u1', publish: true, listen: true, ...o });
    const without = (k: string) => { const o = JSON.parse(offer({})); delete o[k]; return JSON.stringify(o); };
    // 400 bad_request
    expectError(await call(f, 'POST', '/offer', 'not json {'), 400, 'bad_request', /body.*not JSON/);
    expectError(await call(f, 'POST', '/offer', ''), 400, 'bad_request', /body/);
    expectError(await call(f, 'POST', '/offer', '[1,2]'), 400, 'bad_request', /body/);
    expectError(await call(f, 'POST', '/offer', without('type')), 400, 'bad_request', /^type/);
    expectError(await call(f, 'POST', '/offer', offer({ type: 'answer' })), 400, 'bad_request', /^type/);
    expectError(await call(f, 'POST', '/offer', without('sdp')), 400, 'bad_request', /^sdp/);
    expectError(await call(f, 'POST', '/offer', offer({ sdp: 42 })), 400, 'bad_request', /^sdp/);
    expectError(await call(f, 'POST', '/offer', without('room')), 400, 'bad_request', /^room/);
    expectError(await call(f, 'POST', '/offer', offer({ room: 'a room' })), 400, 'bad_request', /^room/);
    expectError(await call(f, 'POST', '/offer', offer({ room: 'x'.repeat(65) })), 400, 'bad_request', /^room/);
    expectError(await call(f, 'POST', '/offer', without('userId')), 400, 'bad_request', /^userId/);
    expectError(await call(f, 'POST', '/offer', offer({ userId: '' })), 400, 'bad_request', /^userId/);
    expectError(await call(f, 'POST', '/offer', offer({ userId: 'u'.repeat(65) })), 400, 'bad_request', /^userId/);
    expectError(await call(f, 'POST', '/offer', offer({ userId: 7 })), 400, 'bad_request', /^userId/);
    expectError(await call(f, 'POST', '/offer', offer({ name: 5 })), 400, 'bad_request', /^name/);
    expectError(await call(f, 'POST', '/offer', without('publish')), 400, 'bad_request', /^publish/);
    expectError(await call(f, 'POST', '/offer', offer({ listen: 'yes' })), 400, 'bad_request', /^listen/);
    expectError(await call(f, 'POST', '/offer', offer({ publish: false, listen: false })), 400, 'bad_request', /^publish/);
    expectError(await call(f, 'POST', '/offer', offer({ token: 3 })), 400, 'bad_request', /^token/);
    expectError(await call(f, 'POST', '/ice-candidate', 'nope'), 400, 'bad_request', /body/);
    expectError(await call(f, 'POST', '/ice-candidate', JSON.stringify({ candidate: null })), 400, 'bad_request', /^clientId/);
    expectError(await call(f, 'POST', '/ice-candidate', JSON.stringify({ clientId: 'x' })), 400, 'bad_request', /^candidate/);
    expectError(await call(f, 'POST', '/ice-candidate', JSON.stringify({ clientId: 'x', candidate: { candidate: 'garbage' } })), 400, 'bad_request', /^candidate\.candidate/);
    // 400 bad_sdp
    expectError(await call(f, 'POST', '/offer', offer({ sdp: 'hello' })), 400, 'bad_sdp', /^sdp/);
    expectError(await call(f, 'POST', '/offer', offer({ sdp: sdp.replace(/opus\/48000\/2/g, 'PCMU/8000') })), 400, 'bad_sdp', /^sdp.*Opus/);
    expectError(await call(f, 'POST', '/offer', offer({ sdp: sdp.replace(/m=audio/g, 'm=video') })), 400, 'bad_sdp', /^sdp.*Opus/);
    // 404 no_such_room, no_such_client
    expectError(await call(f, 'POST', '/offer', offer({ room: 'lobby' })), 404, 'no_such_room', /^room/);
    expectError(await call(f, 'POST', '/ice-candidate', JSON.stringify({ clientId: '00000000-0000-4000-8000-000000000000', candidate: null })), 404, 'no_such_client', /^clientId/);
    expectError(await call(f, 'DELETE', '/session/00000000-0000-4000-8000-000000000000'), 404, 'no_such_client', /^clientId/);
    // 503 full: per room, then in all.
    await f.client({ userId: 'a', room: 'main' }).join();
    expectError(await call(f, 'POST', '/offer', offer({ userId: 'b', room: 'main' })), 503, 'full', /^maxPeersPerRoom/);
    await f.client({ userId: 'b', room: 'studio' }).join();
    const fixedOnly = await startHub({ maxPeers: 1 });
    try {
      await fixedOnly.client({ userId: 'a' }).join();
      const r = await fetch(`${fixedOnly.base}/offer`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: offer({ userId: 'b' }) });
      expectError({ status: r.status, body: await r.json(), type: r.headers.get('content-type') }, 503, 'full', /^maxPeers/);
      // Replacing a peer is not one more.
      await fixedOnly.client({ userId: 'a' }).join();
    } finally {
      await fixedOnly.close();
    }
    // 401 is the token test's; unknown paths and methods answer JSON too.
    expectError(await call(f, 'GET', '/offer'), 405, 'method_not_allowed', /method/);
    expectError(await call(f, 'GET', '/nothing'), 404, 'not_found', /path/);
  });

  it('/ice-candidate answers 204 at once (before any lookup: an mDNS name included); trickled candidates and null connect', async () => {
    f = await startHub();
    const c = f.client({ userId: 'alice', trickle: true });
    const a = await c.join();
    assert.equal(candidateAddresses(a.sdp).length > 0, true);
    await waitFor(() => c.pc.connectionState === 'connected', 10_000, 'connected by trickled candidates');
    const answered = f.hub.handle({ method: 'POST', path: '/ice-candidate', headers: {}, body: JSON.stringify({ clientId: a.clientId, candidate: { candidate: 'candidate:1 1 udp 2122260223 0f4e4b5c-1b1d-4f43-9a37-6e1b0b0c0d0e.local 54321 typ host', sdpMid: '0', sdpMLineIndex: 0 } }) });
    // Settled before the event loop's next turn: nothing waited for a lookup (werift's mDNS one takes seconds).
    const first = await Promise.race([answered, new Promise((r) => setImmediate(() => r('not yet')))]);
    assert.deepEqual(first, { status: 204, headers: { 'Cache-Control': 'no-store' } });
    const end = await call(f, 'POST', '/ice-candidate', JSON.stringify({ clientId: a.clientId, candidate: null }));
    assert.equal(end.status, 204);
    assert.equal(end.body, undefined);
    const empty = await call(f, 'POST', '/ice-candidate', JSON.stringify({ clientId: a.clientId, candidate: { candidate: '', sdpMid: '0' } }));
    assert.equal(empty.status, 204);
  });

  it('refuses bad options naming the field', () => {
    const bad: Array<[object, RegExp]> = [
      [{ rooms: [], maxPeers: 1 }, /^rooms/],
      [{ rooms: ['a b'], maxPeers: 1 }, /^rooms/],
      [{ rooms: 'auto', maxPeers: 0 }, /^maxPeers/],
      [{ rooms: 'auto', maxPeers: 2, maxPeersPerRoom: 1.5 }, /^maxPeersPerRoom/],
      [{ rooms: 'auto', maxPeers: 2, iceServers: [{ urls: 'http://x' }] }, /^iceServers\[0\]\.urls/],
      [{ rooms: 'auto', maxPeers: 2, hostAddresses: ['nope'] }, /^hostAddresses/],
      [{ rooms: 'auto', maxPeers: 2, portRange: [5000, 4000] }, /^portRange/],
      [{ rooms: 'auto', maxPeers: 2, inactivityMs: 0 }, /^inactivityMs/],
      [{ rooms: 'auto', maxPeers: 2, allowedOrigins: ['evil'] }, /^allowedOrigins/],
      [{ rooms: 'auto', maxPeers: 2, token: '' }, /^token/],
    ];
    for (const [o, field] of bad) assert.throws(() => new RtcHub(o as never), (e: Error & { field?: string }) => field.test(e.message) && typeof e.field === 'string', JSON.stringify(o));
  });

  it('keeps to a configured UDP port range and host address list', async () => {
    f = await startHub({ portRange: [47100, 47199], hostAddresses: ['127.0.0.1'] });
    const c = f.client({ userId: 'alice' });
    await c.connect();
    const cands = candidateAddresses(c.answer!.sdp);
    assert.equal(cands.length, 1, JSON.stringify(cands));
    const [ip, port] = cands[0].split(' ');
    assert.equal(ip, '127.0.0.1');
    assert.ok(Number(port) >= 47100 && Number(port) <= 47199, `port ${port}`);
  });

  it('listeners hear the mix as decodable Opus: a 440 Hz mix arrives as 440 Hz', async () => {
    f = await startHub();
    const bob = await f.join({ userId: 'bob', publish: false, decode: true });
    const enc = new OpusEncoder({ sampleRate: 48000, channels: 1, frameSamples: 480 });
    const tone = new ToneGenerator({ frequency: 440, sampleRate: 48000 });
    // Paced by a "clock" of our own here: the hub sends when it is called, never by a timer of its own.
    for (let i = 0; i < 100; i++) f.hub.sendRoom('main', enc.encode(tone.next(480)), 480);
    await bob.heardPackets(100);
    const hz = estimateFrequency(bob.heardAudio(0.8), 48000);
    assert.ok(Math.abs(hz - 440) < 1, `heard ${hz} Hz`);
  });

  it('the load generator: one TonePacer publishes several clients\' tones, each in order', async () => {
    f = await startHub();
    const seqs = new Map<string, number[]>();
    f.hub.on('audio', (p: RtcPeerInfo, h: RtcAudioHeader) => { let a = seqs.get(p.userId); if (!a) seqs.set(p.userId, (a = [])); a.push(h.seq); });
    const clients = await Promise.all(['a', 'b', 'c'].map((u) => f.join({ userId: u, listen: false })));
    const pacer = new TonePacer();
    try {
      for (const c of clients) pacer.add(c);
      await waitFor(() => ['a', 'b', 'c'].every((u) => (seqs.get(u)?.length ?? 0) >= 50), 10_000, '50 packets from each');
    } finally {
      pacer.stop();
    }
    for (const [u, a] of seqs) for (let i = 1; i < a.length; i++) assert.equal(a[i], (a[i - 1] + 1) >>> 0, `${u}: seq after ${a[i - 1]}`);
  });

  it('a burst of offers beyond maxPeers: the offers still negotiating count, the rest are 503 full at once', async () => {
    f = await startHub({ maxPeers: 2 });
    const sdp = await offerSdp();
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => call(f, 'POST', '/offer',
      JSON.stringify({ type: 'offer', sdp, room: 'main', userId: `u${i}`, publish: true, listen: true }))));
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [200, 200, 503, 503, 503, 503]);
    for (const a of answers.filter((x) => x.status === 503)) expectError(a, 503, 'full', /^maxPeers/);
    assert.equal(f.hub.size, 2);
  });
});

// Bench: the page that times mouth-to-ear through the xcast in real Chromium (bench/webrtc-m2e.ts drives it).
//
// One AudioContext, one AudioWorklet ("click-probe") that both makes the clicks and listens for them, so the two
// ends are counted on the same sample clock (the worklet's currentFrame): no clock offset, no timer jitter.
//   publisher  RTCPeerConnection: the worklet's output (a click every `periodMs`: 2 kHz, 5 ms, starting at its
//              peak) → MediaStreamDestination → the track it publishes (publish: true, listen: false);
//   listener   RTCPeerConnection in the same room (publish: false, listen: true): the room's mix → a playing
//              <audio> element (Chromium renders remote audio only for a playing media element) and a
//              MediaStreamSource → the worklet's input, where the first sample above `threshold` after ≥ 50 ms
//              of quiet is the click's onset.
// mouth-to-ear = onset frame − click frame: WebAudio → capture → Opus encode (the browser's frame) → SRTP/UDP →
// the xcast (jitter buffer, mix, Opus encode) → UDP → Chromium's jitter buffer (NetEq) → decode → WebAudio.
// getStats() at the start and the end of the window gives NetEq's mean delay and the publisher's packet rate.

export const WORKLET = String.raw`
class ClickProbe extends AudioWorkletProcessor {
  constructor(opts) {
    super();
    const o = opts.processorOptions;
    this.period = o.periodSamples; this.len = o.clickSamples; this.w = 2 * Math.PI * o.hz / sampleRate;
    this.amp = o.amplitude; this.threshold = o.threshold; this.quietLevel = o.quietLevel; this.quietNeed = o.quietSamples;
    this.next = -1; this.last = -1e12; this.quiet = 0; this.armed = false; this.on = false;
    this.port.onmessage = (e) => {
      if (e.data === 'start') { this.on = true; this.next = currentFrame + Math.round(sampleRate * 0.1); }
      if (e.data === 'stop') this.on = false;
    };
  }
  process(inputs, outputs) {
    const out = outputs[0] && outputs[0][0];
    const inp = inputs[0] && inputs[0][0];
    const n = out ? out.length : 128;
    for (let i = 0; i < n; i++) {
      const g = currentFrame + i;
      if (this.on && g === this.next) { this.last = g; this.next += this.period; this.port.postMessage({ click: g }); }
      const k = g - this.last;
      if (out) out[i] = k >= 0 && k < this.len ? this.amp * Math.cos(this.w * k) : 0;
      if (inp) {
        const a = Math.abs(inp[i]);
        if (this.armed && a > this.threshold) { this.armed = false; this.quiet = 0; this.port.postMessage({ onset: g, level: a }); }
        else if (a < this.quietLevel) { if (++this.quiet >= this.quietNeed) this.armed = true; }
        else this.quiet = 0;
      }
    }
    return true;
  }
}
registerProcessor('click-probe', ClickProbe);
`;

export const PAGE = String.raw`<!doctype html>
<html><head><meta charset="utf-8"><title>xcast bench: mouth-to-ear</title></head>
<body><audio id="ear" autoplay playsinline></audio>
<script>
const m2e = { clicks: [], onsets: [], log: [], stats: [], state: {} };
window.m2e = m2e;
const say = (s) => m2e.log.push((performance.now() / 1000).toFixed(3) + ' ' + s);

async function waitGathered(pc) {
  if (pc.iceGatheringState === 'complete') return;
  await new Promise((resolve) => {
    const t = setTimeout(resolve, 2000);
    pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); } });
  });
}

/** Offer (complete, no trickle) → POST {base}/offer → the answer (its ptime forced to cfg.ptime when asked). */
async function join(pc, cfg, userId, publish, listen) {
  await pc.setLocalDescription(await pc.createOffer());
  await waitGathered(pc);
  const res = await fetch(cfg.base + '/offer', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ type: 'offer', sdp: pc.localDescription.sdp, room: cfg.room, userId, name: userId, publish, listen }) });
  const text = await res.text();
  if (res.status !== 200) throw new Error('offer ' + userId + ': HTTP ' + res.status + ' ' + text);
  const a = JSON.parse(text);
  let sdp = a.sdp;
  m2e.state['answer_' + userId] = sdp;
  if (cfg.forcePtime && !/a=ptime:/.test(sdp)) { sdp = sdp.replace(/(a=rtpmap:\d+ opus\/48000\/2\r?\n)/i, '$1a=ptime:' + cfg.forcePtime + '\r\n'); m2e.state.mungedPtime = true; }
  await pc.setRemoteDescription({ type: 'answer', sdp });
  m2e.state['clientId_' + userId] = a.clientId;
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(userId + ': not connected in 10 s (' + pc.connectionState + ')')), 10000);
    const check = () => { if (pc.connectionState === 'connected') { clearTimeout(t); resolve(); } else if (pc.connectionState === 'failed') { clearTimeout(t); reject(new Error(userId + ': failed')); } };
    pc.addEventListener('connectionstatechange', check); check();
  });
  say(userId + ' connected');
}

async function snapshot(pub, sub) {
  const s = { t: performance.now() };
  for (const [name, pc] of [['pub', pub], ['sub', sub]]) {
    const r = await pc.getStats();
    r.forEach((x) => {
      if (x.type === 'outbound-rtp' && x.kind === 'audio') s[name + 'Out'] = { packetsSent: x.packetsSent, bytesSent: x.bytesSent, totalPacketSendDelay: x.totalPacketSendDelay };
      if (x.type === 'inbound-rtp' && x.kind === 'audio') s[name + 'In'] = { packetsReceived: x.packetsReceived, jitterBufferDelay: x.jitterBufferDelay, jitterBufferEmittedCount: x.jitterBufferEmittedCount, jitterBufferTargetDelay: x.jitterBufferTargetDelay, jitterBufferMinimumDelay: x.jitterBufferMinimumDelay, concealedSamples: x.concealedSamples, totalSamplesReceived: x.totalSamplesReceived, jitter: x.jitter, packetsLost: x.packetsLost };
      if (x.type === 'codec' && /opus/i.test(x.mimeType || '')) s[name + 'Codec'] = x.sdpFmtpLine;
      if (x.type === 'candidate-pair' && x.nominated && x.state === 'succeeded') s[name + 'Rtt'] = x.currentRoundTripTime;
    });
  }
  return s;
}

let cfg0 = null;
m2e.start = async (cfg) => {
  cfg0 = cfg;
  const ctx = new AudioContext({ latencyHint: 'interactive', sampleRate: 48000 });
  m2e.ctx = ctx;
  await ctx.resume();
  await ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([cfg.worklet], { type: 'application/javascript' })));
  const probe = new AudioWorkletNode(ctx, 'click-probe', { numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1], processorOptions: {
    periodSamples: Math.round(cfg.periodMs * 48), clickSamples: 240, hz: 2000, amplitude: 0.8, threshold: cfg.threshold, quietLevel: cfg.threshold / 4, quietSamples: 2400 } });
  probe.port.onmessage = (e) => { if (e.data.click !== undefined) m2e.clicks.push(e.data.click); else m2e.onsets.push(e.data.onset); };
  m2e.probe = probe;
  const dest = ctx.createMediaStreamDestination();
  dest.channelCount = 1;
  probe.connect(dest);
  // Keep the worklet rendered whatever Chromium decides about a graph ending in a MediaStreamDestination.
  const mute = ctx.createGain(); mute.gain.value = 0; probe.connect(mute).connect(ctx.destination);

  const pub = new RTCPeerConnection({ iceServers: [] });
  pub.addTrack(dest.stream.getAudioTracks()[0], dest.stream);
  const sub = new RTCPeerConnection({ iceServers: [] });
  sub.addTransceiver('audio', { direction: 'recvonly' });
  sub.ontrack = (e) => {
    const stream = e.streams[0] || new MediaStream([e.track]);
    const ear = document.getElementById('ear');
    ear.srcObject = stream;
    ear.play().then(() => say('audio element playing'), (err) => say('play failed ' + err));
    ctx.createMediaStreamSource(stream).connect(probe);
    if (cfg.jitterBufferTargetMs !== null && 'jitterBufferTarget' in e.receiver) e.receiver.jitterBufferTarget = cfg.jitterBufferTargetMs;
  };
  m2e.pub = pub; m2e.sub = sub;
  await join(sub, cfg, cfg.userPrefix + 'ear', false, true);
  await join(pub, cfg, cfg.userPrefix + 'mouth', true, false);
  m2e.state.baseLatency = ctx.baseLatency; m2e.state.outputLatency = ctx.outputLatency;
  probe.port.postMessage('start');
  return { baseLatency: ctx.baseLatency, outputLatency: ctx.outputLatency };
};

m2e.mark = async () => { m2e.markAt = { clicks: m2e.clicks.length, stats: await snapshot(m2e.pub, m2e.sub) }; };

m2e.finish = async () => {
  m2e.probe.port.postMessage('stop');
  const end = await snapshot(m2e.pub, m2e.sub);
  const out = { clicks: m2e.clicks.slice(), onsets: m2e.onsets.slice(), mark: m2e.markAt, end, state: m2e.state, log: m2e.log, sampleRate: m2e.ctx.sampleRate, outputLatency: m2e.ctx.outputLatency, baseLatency: m2e.ctx.baseLatency };
  for (const pc of [m2e.pub, m2e.sub]) pc.close();
  // Leave as a closing tab does (the next session joins with the same userIds).
  for (const k of Object.keys(m2e.state)) if (k.startsWith('clientId_')) await fetch(cfg0.base + '/session/' + m2e.state[k], { method: 'DELETE' }).catch(() => {});
  await m2e.ctx.close();
  return out;
};
</script></body></html>`;

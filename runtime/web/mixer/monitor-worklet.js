// xcast console monitor: an AudioWorklet that plays the monitor feed (frames of interleaved f32 from the page, in the
// order the server sent them) through a small jitter buffer: playing starts once it holds targetMs, an underrun plays
// silence and waits for targetMs again, and a buffer deeper than maxMs (the server's clock ahead of the sound card's,
// or a burst after a stall) is cut back to targetMs at once by dropping the oldest samples.
'use strict';

class XcastMonitorProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = (options && options.processorOptions) || {};
    const rate = sampleRate; // the AudioWorkletGlobalScope's
    this.target = Math.max(128, Math.round(((o.targetMs || 50) / 1000) * rate));
    this.max = Math.max(this.target + 256, Math.round(((o.maxMs || 100) / 1000) * rate));
    this.cap = Math.max(this.max * 2, rate); // ring, one second at least
    this.l = new Float32Array(this.cap);
    this.r = new Float32Array(this.cap);
    this.rd = 0;
    this.wr = 0;
    this.depth = 0;
    this.playing = false;
    this.lastSeq = -1;
    this.stats = { t: 'stats', depthMs: 0, played: 0, dropped: 0, underruns: 0, received: 0, missing: 0 };
    this.sinceStats = 0;
    this.statsEvery = Math.round(rate / 4);
    this.port.onmessage = (ev) => this.onMessage(ev.data);
  }

  onMessage(m) {
    if (!m) return;
    if (m.t === 'reset') {
      this.rd = this.wr = this.depth = 0;
      this.playing = false;
      this.lastSeq = -1;
      return;
    }
    const ch = m.ch, n = m.n, d = m.data;
    if (!(d instanceof Float32Array) || ch < 1 || d.length < ch * n) return;
    if (this.lastSeq >= 0) {
      const gap = (m.seq - this.lastSeq - 1) >>> 0;
      if (gap > 0 && gap < 0x80000000) this.stats.missing += gap;
      else if (gap >= 0x80000000) return; // older than one already played
    }
    this.lastSeq = m.seq;
    this.stats.received++;
    const cap = this.cap, L = this.l, R = this.r;
    let w = this.wr;
    for (let i = 0; i < n; i++) {
      const a = d[i * ch];
      L[w] = a;
      R[w] = ch > 1 ? d[i * ch + 1] : a;
      if (++w === cap) w = 0;
    }
    this.wr = w;
    this.depth += n;
    if (this.depth > this.max) {
      const drop = this.depth - this.target;
      this.rd = (this.rd + drop) % cap;
      this.depth = this.target;
      this.stats.dropped += drop;
    }
  }

  process(inputs, outputs) {
    const out = outputs[0];
    const oL = out[0], oR = out.length > 1 ? out[1] : null;
    const n = oL.length;
    if (!this.playing && this.depth >= this.target) this.playing = true;
    if (this.playing && this.depth < n) { this.playing = false; this.stats.underruns++; }
    if (this.playing) {
      const cap = this.cap, L = this.l, R = this.r;
      let r = this.rd;
      for (let i = 0; i < n; i++) {
        oL[i] = L[r];
        if (oR) oR[i] = R[r];
        if (++r === cap) r = 0;
      }
      this.rd = r;
      this.depth -= n;
      this.stats.played += n;
    } else {
      oL.fill(0);
      if (oR) oR.fill(0);
    }
    this.sinceStats += n;
    if (this.sinceStats >= this.statsEvery) {
      this.sinceStats = 0;
      this.stats.depthMs = (this.depth / sampleRate) * 1000;
      this.port.postMessage(this.stats);
    }
    return true;
  }
}

registerProcessor('xcast-monitor', XcastMonitorProcessor);

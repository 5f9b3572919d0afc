// xcast operator's console: the websocket of docs/console.md (JSON state + binary meter frames + this page's monitor
// audio), one strip per track grouped by room, a master per room, meters drawn in requestAnimationFrame, faders that
// send at most ~30 updates a second and never jump back from their own echoes, the monitor through an AudioWorklet
// and its spectrum. Plain JS, no framework.
'use strict';
(function () {
  var params = new URLSearchParams(location.search);
  var token = params.get('token') || '';
  var $ = function (id) { return document.getElementById(id); };

  var GAIN_MIN = -80, GAIN_MAX = 12, GAIN_STEP = 0.5, GAIN_PAGE = 6; // the bottom of the range is −∞
  var PAN_STEP = 0.05;
  var SEND_MS = 34;            // a fader sends at most one update per 34 ms (≤ ~30/s), the last one always
  var ECHO_HOLD_MS = 500;      // remote values for a control are held back while it moves and this long after
  var ECHO_WAIT_MS = 2000;     // … and, on a slow link, until the echo of its last send is in (at most this long)
  var PEAK_HOLD_MS = 1500;     // peak hold
  var HOLD_FALL_DB_S = 20;     // after the hold, the hold mark falls this fast
  var ARIA_MS = 100;           // aria-valuenow of a meter at most every 100 ms
  var METER_LO = -120, METER_HI = 24; // the meter frame's range (centi-dBFS clamp), the meters' aria range
  var SCALE_LO = -60, SCALE_HI = 6;   // the bars' scale
  var BACKOFF_MIN_MS = 250, BACKOFF_MAX_MS = 8000;
  var MONITOR_TARGET_MS = 50, MONITOR_MAX_MS = 100; // monitor jitter buffer: start at 50 ms, cut back to it above 100
  var MINUS = '\u2212';

  // ---- where the server is -------------------------------------------------------------------------------------

  var pageDir = (function () {
    var p = location.pathname;
    if (!p.endsWith('/')) p = /\.[A-Za-z0-9]+$/.test(p) ? p.replace(/[^/]*$/, '') : p + '/';
    return location.origin + p;
  })();
  var base = pageDir.replace(/\/+$/, ''); // absolute URL of the console's base (…/xcast/mixer), no trailing slash
  var wsUrl = null;

  function loadConfig() {
    return fetch(pageDir + 'config.json', { cache: 'no-store', headers: authHeaders() })
      .then(function (r) { return r.ok ? r.json() : null; })
      .catch(function () { return null; })
      .then(function (c) {
        if (c && typeof c.base === 'string' && c.base) base = new URL(c.base, pageDir).href.replace(/\/+$/, '');
        var u = new URL(c && typeof c.ws === 'string' && c.ws ? c.ws : base + '/ws', pageDir);
        u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
        if (token) u.searchParams.set('access_token', token);
        if (params.get('userId')) u.searchParams.set('userId', params.get('userId')); // a users list's user, with its token
        wsUrl = u.href;
        if (c && c.tokenRequired && !token) showError('This console asks for a token: open it with ?token=… in its address.');
      });
  }

  function authHeaders() { return token ? { Authorization: 'Bearer ' + token } : {}; }
  // config.json (the console node's): { ws: 'ws' (relative to the page), state, control, tokenRequired, meterLaw }

  // ---- formatting ------------------------------------------------------------------------------------------------

  function num(v) { return typeof v === 'number' && isFinite(v); }
  function signed(v, d) { var s = Math.abs(v).toFixed(d); return (v < 0 && Number(s) !== 0 ? MINUS : v > 0 && Number(s) !== 0 ? '+' : '') + s; }
  function dbText(v, unit) { return (num(v) ? signed(v, 1) : MINUS + '\u221e') + ' ' + unit; }
  function panText(p) {
    if (!num(p) || Math.abs(p) < 0.005) return 'centre';
    return (p < 0 ? 'left ' : 'right ') + Math.round(Math.abs(p) * 100) + ' %';
  }
  /** The slider position of a gain in dB (null / −∞ / below the range: the bottom). */
  function gainPos(db) { return num(db) ? Math.max(GAIN_MIN + GAIN_STEP, Math.min(GAIN_MAX, db)) : GAIN_MIN; }
  /** The gain a slider position stands for (null = −∞). */
  function posGain(v) { v = Number(v); return v <= GAIN_MIN ? null : v; }

  // ---- state -----------------------------------------------------------------------------------------------------

  var s = {
    state: 'connecting', stateText: 'connecting…', clientId: null, meterLaw: null, sampleRate: 48000,
    ws: null, backoffMs: BACKOFF_MIN_MS, retryTimer: null, connectedAt: 0, attempt: 0,
    layout: null, targets: null,             // meter layout; per frame index the meter it feeds (null: none shown)
    frames: 0, framesDropped: 0, lastFrameAt: 0, lastFrameSeq: -1,
    sent: [],                                 // timestamps of control messages sent (the last 200), for tests
    monitor: { on: false, room: 'main', solo: [], ctx: null, node: null, analyser: null, ready: null, frames: 0,
      stats: { depthMs: 0, played: 0, dropped: 0, underruns: 0, received: 0, missing: 0 } },
  };
  var strips = new Map();   // key → strip
  var masters = new Map();  // room → master strip
  var rooms = new Map();    // room → { section, list, heading }
  var userParams = new Map(); // userId → { gainDb, pan, mute } as the mixer last said
  var masterGains = new Map(); // room → master gain in dB (null = −∞) as the mixer last said

  function setState(state, text) {
    s.state = state; s.stateText = text;
    var el = $('state');
    if (el.textContent !== text) el.textContent = text;
    document.body.setAttribute('data-state', state);
  }
  function showError(msg) {
    var el = $('error');
    if (!msg) { el.hidden = true; el.textContent = ''; return; }
    el.textContent = msg; el.hidden = false;
  }

  // ---- sending -----------------------------------------------------------------------------------------------

  function send(obj) {
    var ws = s.ws;
    if (!ws || ws.readyState !== 1) return false;
    ws.send(JSON.stringify(obj));
    s.sent.push(performance.now());
    if (s.sent.length > 200) s.sent.shift();
    return true;
  }

  /**
   * One control's sending and echo rule. `read()` gives the local value, `write(v)` shows a value, `message(v)` the
   * message that sets it. A local change is sent at once or, within SEND_MS of the last send, at the end of it
   * (latest wins: the final value always goes). Remote values are held back while the control is moved (pointer
   * down) and for ECHO_HOLD_MS after its last local change; then the latest is shown.
   */
  function Control(read, write, message) {
    this.read = read; this.write = write; this.message = message;
    this.dragging = false; this.localAt = -1e9; this.lastSentAt = -1e9; this.sendTimer = null; this.dirty = false; this.sentValue = undefined;
    this.mine = undefined; this.mineEchoed = true; // the last value sent, and whether the mixer's echo of it came
    this.recent = []; // values sent in the last ECHO_WAIT_MS: a remote value among them is an echo of ours
    this.remote = undefined; this.hasRemote = false; this.holdTimer = null; this.value = undefined;
  }
  Control.prototype.busy = function () {
    var now = performance.now();
    return this.dragging || this.sendTimer !== null || now - this.localAt < ECHO_HOLD_MS || (!this.mineEchoed && now - this.lastSentAt < ECHO_WAIT_MS);
  };
  Control.prototype.local = function () {
    this.localAt = performance.now();
    this.value = this.read();
    // 'change' after 'input' with the same value: nothing new to send (a late duplicate could undo a change made
    // meanwhile by someone else)
    this.dirty = this.sendTimer !== null || this.value !== this.sentValue;
    this.flush();
    this.armHold();
  };
  Control.prototype.flush = function () {
    var self = this;
    if (!this.dirty || this.sendTimer) return;
    var wait = this.lastSentAt + SEND_MS - performance.now();
    if (wait > 0) {
      this.sendTimer = setTimeout(function () { self.sendTimer = null; self.flush(); }, wait);
      return;
    }
    this.dirty = false;
    this.lastSentAt = performance.now();
    this.sentValue = this.value;
    this.mine = this.value;
    this.mineEchoed = false;
    var now = this.lastSentAt;
    while (this.recent.length && (now - this.recent[0].at > ECHO_WAIT_MS || this.recent.length > 100)) this.recent.shift();
    this.recent.push({ v: this.value, at: now });
    send(this.message(this.value));
  };
  Control.prototype.armHold = function () {
    var self = this;
    clearTimeout(this.holdTimer);
    this.holdTimer = setTimeout(function check() {
      self.holdTimer = null;
      if (self.busy()) { self.holdTimer = setTimeout(check, self.dragging || self.sendTimer !== null || !self.mineEchoed ? 50 : Math.max(10, ECHO_HOLD_MS - (performance.now() - self.localAt))); return; }
      if (self.hasRemote) { self.hasRemote = false; self.value = self.remote; self.write(self.remote); }
    }, ECHO_HOLD_MS);
  };
  Control.prototype.setRemote = function (v) {
    this.remote = v;
    this.sentValue = v; // what the mixer has: a local change to this value is nothing to send
    // our last value echoed, or a value we never sent (someone else's, after ours): nothing more to wait for
    if (v === this.mine || !this.recent.some(function (r) { return r.v === v; })) this.mineEchoed = true;
    if (this.busy()) { this.hasRemote = true; if (!this.holdTimer) this.armHold(); return; }
    this.hasRemote = false;
    this.value = v;
    this.write(v);
  };
  Control.prototype.drag = function (on) {
    this.dragging = on;
    if (!on) { this.localAt = performance.now(); this.armHold(); }
  };

  // ---- building strips -------------------------------------------------------------------------------------------

  var uid = 0;
  function h(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  /** A meter (role=meter, the level in dBFS) with its bars, peak hold and figures. */
  function makeMeter(label) {
    var wrap = h('div', { class: 'meter-wrap' });
    var el = h('div', { class: 'meter', role: 'meter', 'aria-label': label, 'aria-valuemin': String(METER_LO),
      'aria-valuemax': String(METER_HI), 'aria-valuenow': String(METER_LO), 'aria-valuetext': MINUS + '\u221e dBFS', 'data-testid': label });
    var peakBar = h('div', { class: 'bar peak' }), levelBar = h('div', { class: 'bar level' }), hold = h('div', { class: 'hold' });
    el.appendChild(peakBar); el.appendChild(levelBar); el.appendChild(hold);
    var figs = h('div', { class: 'meter-figs', 'aria-hidden': 'true' });
    var lvText = h('span', { class: 'lv' }, MINUS + '\u221e'), pkText = h('span', { class: 'pk' }, 'pk ' + MINUS + '\u221e');
    figs.appendChild(lvText); figs.appendChild(pkText);
    wrap.appendChild(el); wrap.appendChild(figs);
    return { wrap: wrap, el: el, peakBar: peakBar, levelBar: levelBar, holdEl: hold, lvText: lvText, pkText: pkText,
      peak: -Infinity, level: -Infinity, hold: -Infinity, holdAt: 0, ariaAt: -1e9, ariaShown: null, dirty: true,
      drawn: { peak: NaN, level: NaN, hold: NaN, lvTxt: '', pkTxt: '' } };
  }

  function makeGain(label, onLocal) {
    var id = 'c' + (++uid);
    var row = h('div', { class: 'ctl gain' });
    var lab = h('label', { for: id }, 'gain');
    var input = h('input', { id: id, type: 'range', min: String(GAIN_MIN), max: String(GAIN_MAX), step: String(GAIN_STEP),
      value: '0', 'aria-label': label, 'data-testid': label });
    var out = h('output', { for: id, 'aria-hidden': 'true' }, '0.0 dB');
    row.appendChild(lab); row.appendChild(input); row.appendChild(out);
    function show(db) {
      var t = dbText(db, 'dB');
      input.setAttribute('aria-valuetext', t);
      out.textContent = t;
    }
    var ctl = new Control(function () { return posGain(input.value); }, function (db) { input.value = String(gainPos(db)); show(db); }, onLocal);
    wireSlider(input, ctl, function () { show(posGain(input.value)); }, GAIN_PAGE);
    show(0);
    return { row: row, input: input, ctl: ctl };
  }

  function makePan(label, onLocal) {
    var id = 'c' + (++uid);
    var row = h('div', { class: 'ctl pan' });
    var lab = h('label', { for: id }, 'pan');
    var input = h('input', { id: id, type: 'range', min: '-1', max: '1', step: String(PAN_STEP), value: '0',
      'aria-label': label, 'data-testid': label });
    var out = h('output', { for: id, 'aria-hidden': 'true' }, 'centre');
    row.appendChild(lab); row.appendChild(input); row.appendChild(out);
    function show(p) { var t = panText(p); input.setAttribute('aria-valuetext', t); out.textContent = t; }
    var ctl = new Control(function () { return Number(input.value); }, function (p) { input.value = String(num(p) ? p : 0); show(p); }, onLocal);
    wireSlider(input, ctl, function () { show(Number(input.value)); }, 0.25);
    show(0);
    return { row: row, input: input, ctl: ctl };
  }

  function wireSlider(input, ctl, show, page) {
    input.addEventListener('input', function () { show(); ctl.local(); });
    input.addEventListener('change', function () { show(); ctl.local(); });
    input.addEventListener('pointerdown', function () { ctl.drag(true); });
    var up = function () { if (ctl.dragging) ctl.drag(false); };
    input.addEventListener('pointerup', up);
    input.addEventListener('pointercancel', up);
    input.addEventListener('lostpointercapture', up);
    input.addEventListener('blur', up);
    input.addEventListener('keydown', function (ev) {
      // Page Up / Down: a bigger step than the arrows (browsers differ here)
      if (ev.key !== 'PageUp' && ev.key !== 'PageDown') return;
      ev.preventDefault();
      var v = Number(input.value) + (ev.key === 'PageUp' ? page : -page);
      input.value = String(Math.max(Number(input.min), Math.min(Number(input.max), v)));
      show(); ctl.local();
    });
  }

  function makeToggle(text, label, cls, onToggle) {
    var b = h('button', { type: 'button', class: 'toggle ' + cls, 'aria-pressed': 'false', 'aria-label': label, 'data-testid': label }, text);
    b.addEventListener('click', function () { onToggle(b.getAttribute('aria-pressed') !== 'true'); });
    return b;
  }
  function setPressed(b, on) { var v = on ? 'true' : 'false'; if (b.getAttribute('aria-pressed') !== v) b.setAttribute('aria-pressed', v); }

  /** Names for a user's controls: `USERID`, or `USERID track N` for a second track of the same user. */
  function labelFor(strip) {
    for (var it = strips.values(), e = it.next(); !e.done; e = it.next()) {
      var o = e.value;
      if (o !== strip && o.userId === strip.userId && o.labelUser === strip.userId) return strip.userId + ' track ' + strip.trackId;
    }
    return strip.userId;
  }

  function profileText(p) {
    if (p === null || p === undefined) return '';
    if (typeof p === 'string') return p;
    if (typeof p !== 'object') return String(p);
    var parts = [];
    Object.keys(p).forEach(function (k) {
      var v = p[k];
      if (k === 'name' || k === 'room' || v === null || typeof v === 'object') return;
      parts.push(k + ': ' + v);
    });
    var t = parts.join(', ');
    return t.length > 80 ? t.slice(0, 79) + '…' : t;
  }

  function createStrip(d) {
    var st = { key: d.key, userId: String(d.userId), trackId: d.trackId, connectionId: d.connectionId, room: d.room || 'main' };
    var who = labelFor(st);
    st.labelUser = who;
    var el = h('article', { class: 'strip', 'data-key': st.key, 'data-user': st.userId, 'aria-label': 'strip ' + who });
    var head = h('div', { class: 'strip-head' });
    st.nameEl = h('h3', { class: 'name' });
    st.qosEl = h('span', { class: 'qos', 'data-testid': 'qos ' + who });
    st.qosLight = h('span', { class: 'light', 'aria-hidden': 'true' });
    st.qosText = h('span', { class: 'qos-text' });
    st.qosEl.appendChild(st.qosLight); st.qosEl.appendChild(st.qosText);
    head.appendChild(st.nameEl); head.appendChild(st.qosEl);
    st.profileEl = h('p', { class: 'profile' });
    st.meter = makeMeter('level ' + who);
    st.gain = makeGain('gain ' + who, function (db) { return { t: 'control', userId: st.userId, gainDb: db }; });
    st.pan = makePan('pan ' + who, function (p) { return { t: 'control', userId: st.userId, pan: p }; });
    var btns = h('div', { class: 'buttons' });
    st.muteBtn = makeToggle('Mute', 'mute ' + who, 'mute', function (on) { setPressed(st.muteBtn, on); st.muteCtl.local(); });
    st.muteCtl = new Control(function () { return st.muteBtn.getAttribute('aria-pressed') === 'true'; },
      function (m) { setPressed(st.muteBtn, !!m); el.classList.toggle('muted', !!m); },
      function (m) { el.classList.toggle('muted', !!m); return { t: 'control', userId: st.userId, mute: m }; });
    st.soloBtn = makeToggle('Solo', 'solo ' + who, 'solo', function (on) { setSolo(st.key, on); });
    btns.appendChild(st.muteBtn); btns.appendChild(st.soloBtn);
    el.appendChild(head); el.appendChild(st.profileEl); el.appendChild(st.meter.wrap);
    el.appendChild(st.gain.row); el.appendChild(st.pan.row); el.appendChild(btns);
    st.el = el;
    strips.set(st.key, st);
    var up = userParams.get(st.userId);
    if (up) applyUser(st, up);
    return st;
  }

  function updateStrip(st, d) {
    var name = d.name !== undefined && d.name !== null && d.name !== '' ? String(d.name) : st.userId;
    st.nameEl.textContent = name === st.userId ? name : name + ' (' + st.userId + ')';
    if (d.profile !== undefined) st.profileEl.textContent = profileText(d.profile);
    st.profileEl.hidden = !st.profileEl.textContent;
    var q = d.qos === 'good' || d.qos === 'fair' || d.qos === 'poor' ? d.qos : (d.qos === undefined && st.qos ? st.qos : 'unknown');
    st.qos = q;
    st.connected = d.connected !== undefined ? d.connected !== false : st.connected !== false;
    st.qosEl.setAttribute('data-qos', q);
    st.qosText.textContent = 'QoS ' + q + (st.connected ? '' : ', disconnected');
    st.el.classList.toggle('disconnected', !st.connected);
    if (d.gainDb !== undefined || d.pan !== undefined || d.mute !== undefined) {
      var cur = userParams.get(st.userId) || {};
      var p = { gainDb: d.gainDb !== undefined ? d.gainDb : cur.gainDb, pan: d.pan !== undefined ? d.pan : cur.pan, mute: d.mute !== undefined ? d.mute : cur.mute };
      userParams.set(st.userId, p);
      applyUser(st, p);
    }
    var room = d.room || st.room || 'main';
    if (room !== st.room || !st.el.parentNode) {
      st.room = room;
      placeStrip(st);
    }
    if (num(d.level) || d.level === null) { st.meter.level = num(d.level) ? d.level : -Infinity; st.meter.dirty = true; }
    if (num(d.peak) || d.peak === null) { st.meter.peak = num(d.peak) ? d.peak : -Infinity; st.meter.dirty = true; }
  }

  function applyUser(st, p) {
    if (p.gainDb !== undefined) st.gain.ctl.setRemote(p.gainDb);
    if (p.pan !== undefined) st.pan.ctl.setRemote(p.pan);
    if (p.mute !== undefined) st.muteCtl.setRemote(!!p.mute);
  }

  /** Gives a strip's controls the names of `who` (`USERID`, or `USERID track N`). */
  function relabel(st, who) {
    st.labelUser = who;
    st.el.setAttribute('aria-label', 'strip ' + who);
    st.qosEl.setAttribute('data-testid', 'qos ' + who);
    [[st.meter.el, 'level '], [st.gain.input, 'gain '], [st.pan.input, 'pan '], [st.muteBtn, 'mute '], [st.soloBtn, 'solo ']].forEach(function (p) {
      p[0].setAttribute('aria-label', p[1] + who);
      p[0].setAttribute('data-testid', p[1] + who);
    });
  }

  function removeStrip(key) {
    var st = strips.get(key);
    if (!st) return;
    strips.delete(key);
    // the plain names pass to another track of the same user
    if (st.labelUser === st.userId) {
      for (var it = strips.values(), e = it.next(); !e.done; e = it.next()) {
        if (e.value.userId === st.userId) { relabel(e.value, st.userId); break; }
      }
    }
    if (st.el.parentNode) st.el.parentNode.removeChild(st.el);
    if (s.monitor.solo.indexOf(key) >= 0) setSolo(key, false);
    s.targets = null;
    pruneRooms();
    renderSources();
    renderEmpty();
  }

  // ---- rooms and masters -----------------------------------------------------------------------------------------

  function roomOrder(a, b) { return a === b ? 0 : a === 'main' ? -1 : b === 'main' ? 1 : a < b ? -1 : a > b ? 1 : 0; }

  function roomFor(name) {
    var r = rooms.get(name);
    if (r) return r;
    var hid = 'room-h-' + (++uid);
    var section = h('section', { class: 'room', 'data-room': name, 'aria-labelledby': hid });
    var heading = h('h2', { id: hid }, name === 'main' ? 'Room main' : 'Room ' + name);
    var list = h('div', { class: 'strips' });
    section.appendChild(heading); section.appendChild(list);
    r = { name: name, section: section, list: list };
    rooms.set(name, r);
    // in order: main first, then by name
    var container = $('rooms'), names = Array.from(rooms.keys()).sort(roomOrder), next = null;
    for (var i = names.indexOf(name) + 1; i < names.length; i++) { var o = rooms.get(names[i]); if (o.section.parentNode) { next = o.section; break; } }
    container.insertBefore(section, next);
    masterFor(name);
    renderSources();
    return r;
  }

  function masterFor(room) {
    var m = masters.get(room);
    if (m) return m;
    var suffix = room === 'main' ? '' : ' ' + room;
    m = { room: room };
    var el = h('article', { class: 'strip master', 'data-room': room, 'aria-label': 'master' + suffix });
    var head = h('div', { class: 'strip-head' });
    head.appendChild(h('h3', { class: 'name' }, 'Master' + (room === 'main' ? '' : ' — ' + room)));
    m.meter = makeMeter('level master' + suffix);
    m.gain = makeGain('master gain' + suffix, function (db) { return { t: 'master', room: room, gainDb: db }; });
    el.appendChild(head); el.appendChild(m.meter.wrap); el.appendChild(m.gain.row);
    m.el = el;
    masters.set(room, m);
    if (masterGains.has(room)) m.gain.ctl.setRemote(masterGains.get(room));
    var r = rooms.get(room) || roomFor(room);
    r.list.insertBefore(el, r.list.firstChild);
    s.targets = null;
    return m;
  }

  function placeStrip(st) {
    var r = roomFor(st.room);
    // strips in order of userId then trackId after the master
    var next = null;
    for (var c = r.list.firstChild; c; c = c.nextSibling) {
      var o = c.getAttribute('data-key') !== null ? strips.get(c.getAttribute('data-key')) : null;
      if (o && o !== st && (o.userId > st.userId || (o.userId === st.userId && Number(o.trackId) > Number(st.trackId)))) { next = c; break; }
    }
    r.list.insertBefore(st.el, next);
    pruneRooms();
    renderSources();
    renderEmpty();
  }

  /** A room other than main stays while it has strips or the meter layout lists it. */
  function pruneRooms() {
    var keep = { main: true };
    strips.forEach(function (st) { keep[st.room] = true; });
    if (s.layout) s.layout.rooms.forEach(function (r) { keep[r] = true; });
    rooms.forEach(function (r, name) {
      if (keep[name]) return;
      if (r.section.parentNode) r.section.parentNode.removeChild(r.section);
      rooms.delete(name);
      masters.delete(name);
      s.targets = null;
      if (s.monitor.room === name) { s.monitor.room = 'main'; if (s.monitor.on) sendMonitor(); monitorStatus(); } // its room is gone
    });
  }

  function renderEmpty() { $('empty').hidden = strips.size > 0; }

  // ---- server messages -------------------------------------------------------------------------------------------

  function onHello(m) {
    s.clientId = m.clientId === undefined ? null : m.clientId;
    s.meterLaw = m.meterLaw === undefined ? null : m.meterLaw;
    if (num(m.sampleRate)) s.sampleRate = m.sampleRate;
    var lawEl = $('law');
    if (typeof m.meterLaw === 'string' && m.meterLaw) lawEl.setAttribute('data-server-law', m.meterLaw);
    // strips gone while this page was away go first: a user's new track then takes the plain names
    var list = (Array.isArray(m.strips) ? m.strips : []).filter(function (d) { return d && typeof d.key === 'string'; });
    var seen = {};
    list.forEach(function (d) { seen[d.key] = true; });
    Array.from(strips.keys()).forEach(function (k) { if (!seen[k]) removeStrip(k); });
    list.forEach(onStrip);
    masterFor('main');
    (Array.isArray(m.masters) ? m.masters : []).forEach(function (d) {
      if (!d || typeof d.room !== 'string') return;
      if (d.gainDb !== undefined) setMasterGain(d.room, d.gainDb);
      var ms = masters.get(d.room);
      if (!ms) return;
      if (num(d.level) || d.level === null) ms.meter.level = num(d.level) ? d.level : -Infinity;
      if (num(d.peak) || d.peak === null) ms.meter.peak = num(d.peak) ? d.peak : -Infinity;
      ms.meter.dirty = true;
    });
    renderEmpty();
    if (s.monitor.on) sendMonitor();
  }

  function onStrip(d) {
    if (!d || typeof d.key !== 'string' || d.userId === undefined) return;
    var st = strips.get(d.key) || createStrip(d);
    updateStrip(st, d);
    s.targets = null;
  }

  function onParams(m) {
    var users = m.users && typeof m.users === 'object' ? m.users : {};
    Object.keys(users).forEach(function (u) {
      var p = users[u] || {};
      var cur = userParams.get(u) || {};
      var next = { gainDb: p.gainDb !== undefined ? p.gainDb : cur.gainDb, pan: p.pan !== undefined ? p.pan : cur.pan, mute: p.mute !== undefined ? p.mute : cur.mute };
      userParams.set(u, next);
      strips.forEach(function (st) { if (st.userId === u) applyUser(st, p); });
    });
    var ms = m.masters && typeof m.masters === 'object' ? m.masters : {};
    Object.keys(ms).forEach(function (room) { setMasterGain(room, ms[room]); });
  }

  /** A room's master gain as the mixer said; shown now if the room is, else when it comes. */
  function setMasterGain(room, db) {
    masterGains.set(room, db);
    var m = masters.get(room);
    if (m) m.gain.ctl.setRemote(db);
  }

  function onLayout(l) {
    if (!l || typeof l.layoutId !== 'number' || !Array.isArray(l.tracks) || !Array.isArray(l.rooms)) return;
    s.layout = { layoutId: l.layoutId >>> 0, tracks: l.tracks, rooms: l.rooms.map(String) };
    s.targets = null;
    s.layout.rooms.forEach(function (r) { roomFor(r); });
    pruneRooms();
  }

  function targets() {
    if (s.targets) return s.targets;
    var l = s.layout, t = [];
    l.tracks.forEach(function (tr) { var st = tr && strips.get(tr.key); t.push(st ? st.meter : null); });
    l.rooms.forEach(function (r) { var m = masters.get(r); t.push(m ? m.meter : null); });
    s.targets = t;
    return t;
  }

  function centi(v) { return v === -32768 ? -Infinity : v / 100; }

  /** A binary meter frame (docs/console.md; runtime/console/meter-frame.ts): header 16 bytes, then (N + R) × (peak, level). */
  function onMeterFrame(buf) {
    var dv = new DataView(buf);
    if (buf.byteLength < 16 || dv.getUint8(1) !== 1) return;
    var n = dv.getUint16(2, true), r = dv.getUint16(4, true), id = dv.getUint32(8, true);
    if (buf.byteLength < 16 + (n + r) * 4) return;
    if (!s.layout || s.layout.layoutId !== id || s.layout.tracks.length !== n || s.layout.rooms.length !== r) { s.framesDropped++; return; }
    s.frames++;
    s.lastFrameSeq = dv.getUint32(12, true);
    var now = performance.now();
    s.lastFrameAt = now;
    var t = targets();
    for (var i = 0; i < n + r; i++) {
      var m = t[i];
      if (!m) continue;
      m.peak = centi(dv.getInt16(16 + i * 4, true));
      m.level = centi(dv.getInt16(18 + i * 4, true));
      if (m.peak >= m.hold || now - m.holdAt > PEAK_HOLD_MS) { m.hold = m.peak; m.holdAt = now; }
      m.dirty = true;
      if (now - m.ariaAt >= ARIA_MS) ariaMeter(m, now);
    }
    wantFrame();
  }

  /** The meter's accessible value: the level (RMS, dBFS) to 0.1 dB; −∞ is the range's minimum, said in the text. */
  function ariaMeter(m, now) {
    m.ariaAt = now;
    var v = num(m.level) ? Math.max(METER_LO, Math.min(METER_HI, Math.round(m.level * 10) / 10)) : METER_LO;
    var txt = num(m.level) ? signed(m.level, 1) + ' dBFS' : MINUS + '\u221e dBFS';
    if (m.ariaShown === txt) return;
    m.ariaShown = txt;
    m.el.setAttribute('aria-valuenow', String(v));
    m.el.setAttribute('aria-valuetext', txt + ', peak ' + (num(m.peak) ? signed(m.peak, 1) : MINUS + '\u221e') + ' dBFS');
  }

  function onMonitorAudio(buf) {
    var mon = s.monitor;
    if (!mon.on || !mon.node) return;
    var dv = new DataView(buf);
    if (buf.byteLength < 8) return;
    var ch = dv.getUint8(1), fs = dv.getUint16(2, true), seq = dv.getUint32(4, true);
    if (ch < 1 || buf.byteLength < 8 + ch * fs * 2) return;
    var pcm = new Int16Array(buf, 8, ch * fs); // 8 is 2-aligned
    var f = new Float32Array(ch * fs);
    for (var i = 0; i < f.length; i++) f[i] = pcm[i] / 32768;
    mon.frames++;
    mon.node.port.postMessage({ ch: ch, n: fs, seq: seq, data: f }, [f.buffer]);
  }

  function onMessage(ev) {
    if (typeof ev.data !== 'string') {
      var b = ev.data;
      if (!(b instanceof ArrayBuffer) || b.byteLength < 1) return;
      var kind = new Uint8Array(b, 0, 1)[0];
      if (kind === 0x4d) onMeterFrame(b);
      else if (kind === 0x41) onMonitorAudio(b);
      return;
    }
    var m;
    try { m = JSON.parse(ev.data); } catch (e) { return; }
    if (!m || typeof m !== 'object') return;
    switch (m.t) {
      case 'hello': onHello(m); break;
      case 'strip': onStrip(m.strip); break;
      case 'gone': removeStrip(m.key); break;
      case 'params': onParams(m); break;
      case 'layout': if (num(m.sampleRate)) s.sampleRate = m.sampleRate; onLayout(m.layout); break;
      case 'error':
        showError('The server refused a message' + (m.field ? ' (' + m.field + ')' : '') + ': ' + (m.message || 'error'));
        if (m.field === 'on' && s.monitor.on) monitorRefused(); // too many pages listening: this one is not
        break;
      default: break;
    }
  }

  // ---- the websocket, reconnected with backoff -------------------------------------------------------------------

  function connect() {
    var attempt = ++s.attempt;
    var ws;
    try { ws = new WebSocket(wsUrl); } catch (e) { retry('cannot open ' + wsUrl + ': ' + e.message); return; }
    ws.binaryType = 'arraybuffer';
    s.ws = ws;
    setState(s.state === 'reconnecting' ? 'reconnecting' : 'connecting', s.state === 'reconnecting' ? 'reconnecting…' : 'connecting…');
    ws.onopen = function () {
      if (attempt !== s.attempt) return;
      s.connectedAt = Date.now();
      setState('connected', 'connected');
      showError(null);
    };
    ws.onmessage = function (ev) { if (attempt === s.attempt) onMessage(ev); };
    var opened = false;
    ws.addEventListener('open', function () { opened = true; });
    ws.onclose = function (ev) {
      if (attempt !== s.attempt) return;
      s.ws = null;
      if (!opened) explainRefusal();
      var why = ev.code === 1008 || ev.code === 4401 ? 'refused (' + (ev.reason || 'credentials') + ')' : 'closed' + (ev.code ? ' (' + ev.code + ')' : '');
      retry('connection ' + why);
    };
    ws.onerror = function () { /* onclose follows */ };
  }

  /** A websocket that never opened: a browser is not told why; GET state with the same credentials says. */
  function explainRefusal() {
    fetch(base + '/state', { cache: 'no-store', headers: authHeaders() }).then(function (r) {
      if (r.ok) return;
      return r.json().catch(function () { return null; }).then(function (j) {
        var e = j && j.error ? j.error : {};
        showError('The console refused this page (' + r.status + '): ' + (e.message || 'HTTP ' + r.status) +
          (r.status === 401 ? ' — open it with the right ?token=… in its address.' : ''));
      });
    }, function () { /* unreachable: the state line says so */ });
  }

  function retry(why) {
    if (s.retryTimer) return;
    // a connection that lasted 5 s starts the backoff again from its minimum
    if (s.connectedAt && Date.now() - s.connectedAt > 5000) s.backoffMs = BACKOFF_MIN_MS;
    s.connectedAt = 0;
    var wait = s.backoffMs;
    s.backoffMs = Math.min(BACKOFF_MAX_MS, s.backoffMs * 2);
    setState('reconnecting', why + ' — reconnecting in ' + (wait / 1000).toFixed(1) + ' s…');
    s.retryTimer = setTimeout(function () { s.retryTimer = null; connect(); }, wait);
  }

  // ---- drawing: requestAnimationFrame, writes only ---------------------------------------------------------------

  var frameWanted = false;
  function wantFrame() { if (!frameWanted) { frameWanted = true; requestAnimationFrame(draw); } }
  function frac(db) { return num(db) ? Math.max(0, Math.min(1, (db - SCALE_LO) / (SCALE_HI - SCALE_LO))) : 0; }

  function drawMeter(m, now) {
    // the hold mark falls after its hold time
    var hold = m.hold;
    if (num(hold) && now - m.holdAt > PEAK_HOLD_MS) {
      hold = hold - HOLD_FALL_DB_S * (now - m.holdAt - PEAK_HOLD_MS) / 1000;
      if (num(m.peak) && hold < m.peak) { hold = m.peak; m.hold = hold; m.holdAt = now; }
      if (hold < SCALE_LO) hold = -Infinity;
    }
    var d = m.drawn, fl = frac(m.level), fp = frac(m.peak), fh = frac(hold);
    // the bars are the full scale, clipped at the value (paint only: no layout)
    if (fl !== d.level) { m.levelBar.style.clipPath = 'inset(0 ' + ((1 - fl) * 100).toFixed(2) + '% 0 0)'; d.level = fl; }
    if (fp !== d.peak) { m.peakBar.style.clipPath = 'inset(0 ' + ((1 - fp) * 100).toFixed(2) + '% 0 0)'; d.peak = fp; }
    if (fh !== d.hold) { m.holdEl.style.transform = 'translateX(' + (fh * 100).toFixed(2) + '%)'; m.holdEl.style.opacity = fh > 0 ? '1' : '0'; d.hold = fh; }
    var lt = num(m.level) ? signed(m.level, 1) : MINUS + '\u221e';
    var pt = 'pk ' + (num(hold) ? signed(hold, 1) : MINUS + '\u221e');
    if (lt !== d.lvTxt) { m.lvText.textContent = lt; d.lvTxt = lt; }
    if (pt !== d.pkTxt) { m.pkText.textContent = pt; d.pkTxt = pt; }
    m.el.classList.toggle('over', num(m.peak) && m.peak > -0.1);
    return num(hold) && now - m.holdAt > PEAK_HOLD_MS; // still falling: draw again
  }

  function draw() {
    frameWanted = false;
    var now = performance.now(), again = false;
    var each = function (m) {
      if (!m.dirty) return;
      m.dirty = drawMeter(m, now);
      if (now - m.ariaAt >= ARIA_MS) ariaMeter(m, now);
      again = again || m.dirty;
    };
    strips.forEach(function (st) { each(st.meter); });
    masters.forEach(function (ms) { each(ms.meter); });
    if (s.monitor.on && s.monitor.analyser) { drawSpectrum(); again = true; }
    if (again) wantFrame();
  }

  // ---- monitor: AudioWorklet + analyser + spectrum ---------------------------------------------------------------

  function sendMonitor() {
    var mon = s.monitor;
    send({ t: 'monitor', on: mon.on, room: mon.room, solo: mon.solo.slice() });
  }

  function setSolo(key, on) {
    var mon = s.monitor, i = mon.solo.indexOf(key);
    if (on && i < 0) mon.solo.push(key);
    if (!on && i >= 0) mon.solo.splice(i, 1);
    strips.forEach(function (st) { setPressed(st.soloBtn, mon.solo.indexOf(st.key) >= 0); st.el.classList.toggle('soloed', mon.solo.indexOf(st.key) >= 0); });
    syncSourceSelect();
    if (mon.on) sendMonitor();
    monitorStatus();
  }

  function renderSources() {
    var sel = $('spectrum-source');
    var want = [];
    Array.from(rooms.keys()).sort(roomOrder).forEach(function (r) {
      want.push({ value: 'room:' + r, text: 'master' + (r === 'main' ? '' : ' ' + r) });
    });
    Array.from(strips.values()).sort(function (a, b) { return roomOrder(a.room, b.room) || (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0); })
      .forEach(function (st) { want.push({ value: 'track:' + st.key, text: st.labelUser + (st.room === 'main' ? '' : ' (' + st.room + ')') }); });
    if (s.monitor.solo.length > 1) want.push({ value: 'solo', text: 'soloed strips (' + s.monitor.solo.length + ')' });
    var same = sel.options.length === want.length && want.every(function (w, i) { return sel.options[i].value === w.value && sel.options[i].text === w.text; });
    if (!same) {
      sel.textContent = '';
      want.forEach(function (w) { var o = document.createElement('option'); o.value = w.value; o.textContent = w.text; sel.appendChild(o); });
    }
    syncSourceSelect();
  }

  /** The select shows what the monitor plays: one soloed track, several, or the room's master. */
  function syncSourceSelect() {
    var sel = $('spectrum-source'), mon = s.monitor;
    var v = mon.solo.length === 1 ? 'track:' + mon.solo[0] : mon.solo.length > 1 ? 'solo' : 'room:' + mon.room;
    if (mon.solo.length > 1 && !Array.from(sel.options).some(function (o) { return o.value === 'solo'; })) { renderSources(); return; }
    if (mon.solo.length <= 1 && Array.from(sel.options).some(function (o) { return o.value === 'solo'; })) { renderSources(); return; }
    if (sel.value !== v) sel.value = v;
  }

  function onSourceChange() {
    var v = $('spectrum-source').value, mon = s.monitor;
    if (v.indexOf('room:') === 0) {
      mon.room = v.slice(5);
      mon.solo = [];
    } else if (v.indexOf('track:') === 0) {
      mon.solo = [v.slice(6)]; // choosing a track solos it (on this console's monitor only)
    } else return;
    strips.forEach(function (st) { setPressed(st.soloBtn, mon.solo.indexOf(st.key) >= 0); st.el.classList.toggle('soloed', mon.solo.indexOf(st.key) >= 0); });
    renderSources();
    if (mon.on) sendMonitor();
    monitorStatus();
  }

  function monitorStatus() {
    var mon = s.monitor, el = $('monitor-status');
    var what = mon.solo.length ? 'solo: ' + mon.solo.map(function (k) { var st = strips.get(k); return st ? st.labelUser : k; }).join(', ') + ' (pre-fader)' : 'master' + (mon.room === 'main' ? '' : ' ' + mon.room);
    var t = mon.on ? 'on — ' + what : 'off';
    if (el.textContent !== t) el.textContent = t;
    $('spectrum').setAttribute('aria-label', 'spectrum of the monitor (' + (mon.on ? what : 'off') + ')');
  }

  function startAudio() {
    var mon = s.monitor;
    if (mon.ready) return mon.ready;
    var AC = window.AudioContext || window.webkitAudioContext;
    var ctx;
    try { ctx = new AC({ sampleRate: s.sampleRate, latencyHint: 'interactive' }); } catch (e) { ctx = new AC(); }
    mon.ctx = ctx;
    mon.ready = ctx.audioWorklet.addModule(pageDir + 'monitor-worklet.js').then(function () {
      var node = new AudioWorkletNode(ctx, 'xcast-monitor', {
        numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [2],
        processorOptions: { targetMs: MONITOR_TARGET_MS, maxMs: MONITOR_MAX_MS, feedRate: s.sampleRate },
      });
      node.port.onmessage = function (ev) { if (ev.data && ev.data.t === 'stats') mon.stats = ev.data; };
      var an = ctx.createAnalyser();
      an.fftSize = 8192;
      an.smoothingTimeConstant = 0.5;
      an.minDecibels = -110; an.maxDecibels = -10;
      node.connect(an);
      an.connect(ctx.destination);
      mon.node = node; mon.analyser = an;
    });
    return mon.ready;
  }

  function monitorRefused() {
    var mon = s.monitor;
    mon.on = false;
    setPressed($('monitor'), false);
    if (mon.node) mon.node.port.postMessage({ t: 'reset' });
    clearSpectrum();
    monitorStatus();
  }

  function toggleMonitor(on) {
    var mon = s.monitor;
    mon.on = on;
    setPressed($('monitor'), on);
    monitorStatus();
    if (on) {
      var ready = startAudio();
      if (mon.ctx.state === 'suspended') mon.ctx.resume().catch(function () {});
      ready.then(function () {
        if (!mon.on) return;
        mon.node.port.postMessage({ t: 'reset' });
        sendMonitor();
        wantFrame();
      }, function (e) { showError('The monitor cannot start: ' + (e && e.message ? e.message : e)); toggleMonitor(false); });
    } else {
      sendMonitor();
      if (mon.node) mon.node.port.postMessage({ t: 'reset' });
      clearSpectrum();
    }
  }

  var specBuf = null, specW = 0, specH = 0;
  function sizeSpectrum() {
    var c = $('spectrum'), dpr = window.devicePixelRatio || 1;
    var w = Math.max(100, Math.round(c.clientWidth * dpr)), hgt = Math.max(60, Math.round(c.clientHeight * dpr));
    if (w !== specW || hgt !== specH) { c.width = w; c.height = hgt; specW = w; specH = hgt; }
  }
  var specSized = false;
  window.addEventListener('resize', function () { specSized = false; });

  function drawSpectrum() {
    var an = s.monitor.analyser, c = $('spectrum');
    if (!specSized) { sizeSpectrum(); specSized = true; } // reads layout once per resize, before any write of this frame
    var g = c.getContext('2d');
    if (!specBuf || specBuf.length !== an.frequencyBinCount) specBuf = new Float32Array(an.frequencyBinCount);
    an.getFloatFrequencyData(specBuf);
    var W = specW, H = specH, rate = s.monitor.ctx.sampleRate, bins = specBuf.length, hz = rate / 2 / bins;
    var lo = Math.log(20), hi = Math.log(Math.min(20000, rate / 2));
    g.fillStyle = '#10151f'; g.fillRect(0, 0, W, H);
    g.strokeStyle = '#2b3447'; g.lineWidth = 1; g.fillStyle = '#7b879c'; g.font = Math.round(10 * (window.devicePixelRatio || 1)) + 'px system-ui, sans-serif';
    [100, 1000, 10000].forEach(function (f) {
      var x = (Math.log(f) - lo) / (hi - lo) * W;
      g.beginPath(); g.moveTo(x, 0); g.lineTo(x, H); g.stroke();
      g.fillText(f >= 1000 ? f / 1000 + ' kHz' : f + ' Hz', x + 3, H - 4);
    });
    g.strokeStyle = '#4ade80'; g.lineWidth = Math.max(1, window.devicePixelRatio || 1); g.beginPath();
    var dbLo = an.minDecibels, dbHi = an.maxDecibels;
    for (var x = 0; x < W; x++) {
      var f0 = Math.exp(lo + (hi - lo) * x / W), f1 = Math.exp(lo + (hi - lo) * (x + 1) / W);
      var b0 = Math.max(1, Math.floor(f0 / hz)), b1 = Math.min(bins - 1, Math.max(b0, Math.floor(f1 / hz)));
      var v = -Infinity;
      for (var b = b0; b <= b1; b++) if (specBuf[b] > v) v = specBuf[b];
      var y = H - Math.max(0, Math.min(1, (v - dbLo) / (dbHi - dbLo))) * H;
      if (x === 0) g.moveTo(x, y); else g.lineTo(x, y);
    }
    g.stroke();
  }
  function clearSpectrum() {
    var c = $('spectrum'), g = c.getContext('2d');
    g.clearRect(0, 0, c.width, c.height);
  }

  /** What the monitor plays now: level at given frequencies (dB, the analyser's scale) and the RMS (dBFS). */
  function analyse(freqs) {
    var an = s.monitor.analyser, out = { on: s.monitor.on, rmsDb: -Infinity, at: {} };
    if (!an) return out;
    var t = new Float32Array(an.fftSize);
    an.getFloatTimeDomainData(t);
    var sum = 0;
    for (var i = 0; i < t.length; i++) sum += t[i] * t[i];
    out.rmsDb = sum > 0 ? 10 * Math.log10(sum / t.length) : -Infinity;
    var f = new Float32Array(an.frequencyBinCount);
    an.getFloatFrequencyData(f);
    var hz = s.monitor.ctx.sampleRate / an.fftSize;
    (freqs || []).forEach(function (fr) {
      var k = Math.round(fr / hz), m = -Infinity;
      for (var j = Math.max(0, k - 3); j <= Math.min(f.length - 1, k + 3); j++) m = Math.max(m, f[j]);
      out.at[fr] = m;
    });
    return out;
  }

  // ---- start -----------------------------------------------------------------------------------------------------

  $('monitor').addEventListener('click', function () { toggleMonitor(!s.monitor.on); });
  $('spectrum-source').addEventListener('change', onSourceChange);
  masterFor('main');
  renderEmpty();
  monitorStatus();
  document.addEventListener('visibilitychange', function () { if (!document.hidden) { strips.forEach(function (st) { st.meter.dirty = true; }); wantFrame(); } });

  // A read-only hook for tests and tools.
  window.xcastConsole = Object.freeze({
    get state() { return s.state; },
    get stateText() { return s.stateText; },
    get clientId() { return s.clientId; },
    get meterLaw() { return s.meterLaw; },
    get layoutId() { return s.layout ? s.layout.layoutId : null; },
    get frames() { return s.frames; },
    get framesDropped() { return s.framesDropped; },
    get sent() { return s.sent.slice(); },
    get strips() { return Array.from(strips.values()).map(function (st) { return { key: st.key, userId: st.userId, room: st.room, qos: st.qos, level: st.meter.level, peak: st.meter.peak }; }); },
    get monitor() { var m = s.monitor; return { on: m.on, room: m.room, solo: m.solo.slice(), frames: m.frames, stats: m.stats, sampleRate: m.ctx ? m.ctx.sampleRate : null }; },
    analyse: analyse,
  });

  loadConfig().then(connect);
})();

// xcast join page logic: one RTCPeerConnection per join, signaling as docs/webrtc.md says (POST offer, trickle,
// DELETE, GET rooms), the input level, the room's people, getStats figures, mute, and reconnecting after a drop.
'use strict';
(function () {
  var params = new URLSearchParams(location.search);
  var $ = function (id) { return document.getElementById(id); };

  var ROOMS_MS = 2000;           // GET {base}/rooms
  var STATS_MS = 1000;           // getStats
  var GATHER_WAIT_MS = 1000;     // wait this long for complete ICE gathering, then send the offer and trickle the rest
  var DISCONNECTED_MS = 3000;    // 'disconnected' for longer than this: start again
  var BACKOFF_MIN_MS = 500, BACKOFF_MAX_MS = 15000;
  var STABLE_MS = 10000;         // connected this long: the backoff starts from the minimum again
  var ROOM_RE = /^[A-Za-z0-9_-]{1,64}$/;
  var token = params.get('token') || '';
  var trickleAlways = params.get('trickle') === 'always';

  // ---- where the signaling is --------------------------------------------------------------------------------

  // The page's own directory, also when served as /xcast/join (no slash) or /xcast/join/index.html.
  var pageDir = (function () {
    var p = location.pathname;
    if (!p.endsWith('/')) p = /\.[A-Za-z0-9]+$/.test(p) ? p.replace(/[^/]*$/, '') : p + '/';
    return location.origin + p;
  })();
  var base = null; // absolute URL of the signaling base, no trailing slash

  function setBase(b) { base = new URL(b, pageDir).href.replace(/\/+$/, ''); }

  function loadConfig() {
    var meta = document.querySelector('meta[name="xcast-rtc-base"]');
    var fallback = meta && meta.content ? meta.content : '../rtc';
    return fetch(pageDir + 'config.json', { cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (c) { setBase(c && typeof c.base === 'string' && c.base ? c.base : fallback); })
      .catch(function () { setBase(fallback); });
  }

  function headers(json) {
    var h = {};
    if (json) h['Content-Type'] = 'application/json';
    if (token) h.Authorization = 'Bearer ' + token;
    return h;
  }

  /** An error the server answered (`{ error: { code, message } }`) or one of the network. */
  function ServerError(status, code, message) { this.status = status; this.code = code; this.message = message; }

  function call(method, path, body, opts) {
    var init = { method: method, headers: headers(body !== undefined), cache: 'no-store' };
    if (body !== undefined) init.body = JSON.stringify(body);
    if (opts && opts.keepalive) init.keepalive = true;
    return fetch(base + path, init).then(function (r) {
      if (r.status === 204) return null;
      return r.text().then(function (t) {
        var j = null;
        try { j = t ? JSON.parse(t) : null; } catch (e) { /* not JSON */ }
        if (r.ok) return j;
        var e = j && j.error && typeof j.error === 'object' ? j.error : {};
        throw new ServerError(r.status, typeof e.code === 'string' ? e.code : 'http_' + r.status,
          typeof e.message === 'string' ? e.message : method + ' ' + path + ' answered ' + r.status);
      });
    }, function (err) {
      throw new ServerError(0, 'network', 'cannot reach ' + base + path + ': ' + (err && err.message ? err.message : err));
    });
  }

  // ---- page state ---------------------------------------------------------------------------------------------

  var s = {
    state: 'idle',         // idle | starting | connecting | connected | disconnected | reconnecting | failed | replaced | left
    stateText: 'not joined',
    joined: false,         // the user wants to be in the room (between Join and Leave)
    userId: '', name: '', room: '', publish: true, listen: true,
    clientId: null,
    pc: null,
    attempt: 0,            // bumped per offer: events of older connections are ignored
    backoffMs: BACKOFF_MIN_MS,
    retryTimer: null, disconnectedTimer: null, stableTimer: null,
    mic: null,             // MediaStream of the microphone (kept over reconnects)
    muted: false,
    remote: null,          // MediaStream of what the page receives
    ctx: null, micAnalyser: null, remoteAnalyser: null, remoteSource: null,
    lastStats: null,
    prevStats: null,
    peers: [],
    connectedAt: 0, missing: 0,
    serverConnectedAt: null, // connectedAt of this page's connection as GET rooms shows it
    answeredAt: Infinity,
  };

  function setState(state, text) {
    s.state = state;
    s.stateText = text || state;
    var el = $('state');
    if (el.textContent !== s.stateText) el.textContent = s.stateText;
    el.setAttribute('data-state', state);
    document.body.setAttribute('data-state', state);
  }

  function showError(e) {
    var el = $('error');
    if (!e) { el.hidden = true; el.textContent = ''; el.removeAttribute('data-code'); return; }
    el.textContent = e.message || String(e);
    el.setAttribute('data-code', e.code || 'error');
    el.hidden = false;
  }

  function setControls() {
    var busy = s.joined;
    $('join').disabled = busy;
    $('leave').disabled = !busy;
    ['name', 'room', 'mic', 'processing'].forEach(function (id) { $(id).disabled = busy; });
    $('mute').disabled = !(busy && s.publish);
    $('mute').setAttribute('aria-pressed', String(s.muted));
    $('mute').textContent = s.muted ? 'Unmute' : 'Mute';
    // A control that just went disabled had the focus: hand it to the button that does the next thing.
    var a = document.activeElement;
    if (a && a !== document.body && a.disabled) (busy ? $('leave') : $('join')).focus();
  }

  /** A userId from a name: control characters out (the server's set), spaces collapsed, at most 64 characters. */
  function userIdOf(name) {
    // eslint-disable-next-line no-control-regex
    var u = name.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '').replace(/\s+/g, ' ').trim();
    return Array.from(u).slice(0, 64).join('');
  }

  // ---- audio: the meter and the analyser ----------------------------------------------------------------------

  function audioContext() {
    if (!s.ctx) s.ctx = new (window.AudioContext || window.webkitAudioContext)();
    if (s.ctx.state === 'suspended') s.ctx.resume().catch(function () {});
    return s.ctx;
  }

  var levelBuf = null;
  var shownDb = null;
  function updateLevel() {
    var db = -Infinity;
    if (s.micAnalyser) {
      if (!levelBuf) levelBuf = new Float32Array(s.micAnalyser.fftSize);
      s.micAnalyser.getFloatTimeDomainData(levelBuf);
      db = rmsDb(levelBuf);
    }
    var shown = Math.max(-60, Math.min(0, Math.round(db)));
    if (!isFinite(db)) shown = -60;
    if (shown === shownDb) return;
    shownDb = shown;
    var el = $('level');
    el.setAttribute('aria-valuenow', String(shown));
    el.setAttribute('aria-valuetext', shown <= -60 ? 'silent' : shown + ' dBFS');
    $('level-bar').style.width = (100 - (shown + 60) / 60 * 100).toFixed(1) + '%';
  }
  setInterval(updateLevel, 100);

  function rmsDb(buf) {
    var sum = 0;
    for (var i = 0; i < buf.length; i++) sum += buf[i] * buf[i];
    var r = Math.sqrt(sum / buf.length);
    return r > 0 ? 20 * Math.log10(r) : -Infinity;
  }

  function attachMic(stream) {
    var ctx = audioContext();
    var src = ctx.createMediaStreamSource(stream);
    var a = ctx.createAnalyser();
    a.fftSize = 2048;
    src.connect(a);
    s.micAnalyser = a;
    levelBuf = null;
  }

  function attachRemote(stream) {
    s.remote = stream;
    var audio = $('remote');
    audio.srcObject = stream;
    // Chromium plays (and feeds WebAudio from) remote WebRTC audio only through a playing media element.
    var p = audio.play();
    if (p && p.catch) p.catch(function () { /* autoplay refused: the Join click normally allows it */ });
    var ctx = audioContext();
    if (s.remoteSource) { try { s.remoteSource.disconnect(); } catch (e) { /* gone */ } }
    s.remoteSource = ctx.createMediaStreamSource(stream);
    if (!s.remoteAnalyser) {
      s.remoteAnalyser = ctx.createAnalyser();
      s.remoteAnalyser.fftSize = 32768;
      s.remoteAnalyser.smoothingTimeConstant = 0;
    }
    s.remoteSource.connect(s.remoteAnalyser);
  }

  /** What the page hears now: dominant frequency (Hz, null in silence), RMS level (dBFS), level at given frequencies. */
  function analyse(freqs) {
    var a = s.remoteAnalyser;
    var out = { frequency: null, rmsDb: -Infinity, at: {}, sampleRate: s.ctx ? s.ctx.sampleRate : null };
    if (!a || !s.remote) return out;
    var t = new Float32Array(a.fftSize);
    a.getFloatTimeDomainData(t);
    out.rmsDb = rmsDb(t);
    var f = new Float32Array(a.frequencyBinCount);
    a.getFloatFrequencyData(f);
    var hz = s.ctx.sampleRate / a.fftSize;
    var lo = Math.ceil(50 / hz), best = lo;
    for (var i = lo; i < f.length - 1; i++) if (f[i] > f[best]) best = i;
    if (isFinite(out.rmsDb) && out.rmsDb > -80 && f[best] > -100) {
      // parabolic interpolation on the dB values around the peak
      var l = f[best - 1], c = f[best], r = f[best + 1], d = l - 2 * c + r;
      var off = d < 0 ? 0.5 * (l - r) / d : 0;
      out.frequency = (best + off) * hz;
    }
    (freqs || []).forEach(function (fr) {
      var k = Math.round(fr / hz), m = -Infinity;
      for (var j = Math.max(0, k - 3); j <= Math.min(f.length - 1, k + 3); j++) m = Math.max(m, f[j]);
      out.at[fr] = m;
    });
    return out;
  }

  // ---- the connection -------------------------------------------------------------------------------------------

  function clearTimers() {
    ['retryTimer', 'disconnectedTimer', 'stableTimer'].forEach(function (k) { clearTimeout(s[k]); s[k] = null; });
  }

  /** Closes this side of the current connection; tells the server unless told not to. */
  function dropConnection(tellServer, keepalive) {
    var id = s.clientId, pc = s.pc;
    s.pc = null;
    s.clientId = null;
    s.attempt++;
    if (pc) { try { pc.close(); } catch (e) { /* closed */ } }
    if (id && tellServer) {
      return call('DELETE', '/session/' + encodeURIComponent(id), undefined, { keepalive: keepalive })
        .catch(function () { /* gone already or unreachable: the server's timeout ends it */ });
    }
    return Promise.resolve();
  }

  function waitGathering(pc, ms) {
    return new Promise(function (resolve) {
      if (pc.iceGatheringState === 'complete') { resolve(true); return; }
      var t = setTimeout(function () { pc.removeEventListener('icegatheringstatechange', on); resolve(false); }, ms);
      function on() {
        if (pc.iceGatheringState === 'complete') { clearTimeout(t); pc.removeEventListener('icegatheringstatechange', on); resolve(true); }
      }
      pc.addEventListener('icegatheringstatechange', on);
    });
  }

  function connect() {
    var attempt = ++s.attempt;
    s.serverConnectedAt = null;
    s.answeredAt = Infinity; // until the server has answered (and replaced whoever had our userId), lists are older
    var pc = new RTCPeerConnection({ iceServers: [] });
    s.pc = pc;
    var current = function () { return s.attempt === attempt && s.joined; };
    var offerSent = false, trickle = [], clientId = null;

    pc.onicecandidate = function (ev) {
      if (!offerSent) return; // still going into the offer's SDP
      var c = ev.candidate ? ev.candidate.toJSON() : null;
      if (clientId) sendCandidate(clientId, c); else trickle.push(c);
    };
    function sendCandidate(id, c) {
      if (!current()) return;
      call('POST', '/ice-candidate', { clientId: id, candidate: c }).catch(function () { /* the browser's checks go on */ });
    }

    if (s.publish) {
      var track = s.mic.getAudioTracks()[0];
      track.enabled = !s.muted;
      if (s.listen) pc.addTrack(track, s.mic);
      else pc.addTransceiver(track, { direction: 'sendonly', streams: [s.mic] });
    } else {
      pc.addTransceiver('audio', { direction: 'recvonly' });
    }
    pc.ontrack = function (ev) {
      if (!current()) return;
      attachRemote(ev.streams && ev.streams[0] ? ev.streams[0] : new MediaStream([ev.track]));
    };
    pc.onconnectionstatechange = function () { if (current()) onConnectionState(pc.connectionState); };

    setState(s.state === 'reconnecting' ? 'reconnecting' : 'connecting', s.state === 'reconnecting' ? 'reconnecting…' : 'connecting…');
    return pc.createOffer()
      .then(function (offer) { return pc.setLocalDescription(offer); })
      .then(function () { return trickleAlways ? false : waitGathering(pc, GATHER_WAIT_MS); })
      .then(function () {
        if (!current()) return null;
        offerSent = true; // candidates from now on are trickled
        var body = { type: 'offer', sdp: pc.localDescription.sdp, room: s.room, userId: s.userId, name: s.name,
          publish: s.publish, listen: s.listen };
        if (token) body.token = token;
        return call('POST', '/offer', body);
      })
      .then(function (answer) {
        if (!answer || !current()) return null;
        clientId = answer.clientId;
        s.clientId = clientId;
        s.answeredAt = Date.now();
        trickle.splice(0).forEach(function (c) { sendCandidate(clientId, c); });
        return pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp }).then(function () {
          var tr = pc.getTransceivers()[0];
          // The receiver's track exists whatever the answer's direction says; ontrack may not fire for it.
          if (tr && current() && (!s.remote || s.remote.getAudioTracks()[0] !== tr.receiver.track)) attachRemote(new MediaStream([tr.receiver.track]));
          // A DTLS close or failure (the server ending the peer, when the browser sees it): start again.
          var dt = tr && (tr.sender.transport || tr.receiver.transport);
          if (dt) dt.addEventListener('statechange', function () {
            if (current() && (dt.state === 'closed' || dt.state === 'failed')) retry();
          });
        });
      })
      .catch(function (e) {
        if (!current()) return;
        var fatal = e instanceof ServerError && e.status >= 400 && e.status < 500;
        showError(e instanceof ServerError ? e : { code: 'webrtc', message: String(e && e.message ? e.message : e) });
        if (fatal) { stop('failed', 'refused: ' + (e.code || 'error')); return; }
        retry();
      });
  }

  function onConnectionState(cs) {
    clearTimeout(s.disconnectedTimer);
    s.disconnectedTimer = null;
    if (cs === 'connected') {
      s.connectedAt = Date.now();
      s.missing = 0;
      showError(null);
      setState('connected', 'connected');
      clearTimeout(s.stableTimer);
      s.stableTimer = setTimeout(function () { s.backoffMs = BACKOFF_MIN_MS; }, STABLE_MS);
      pollStats();
    } else if (cs === 'disconnected') {
      setState('disconnected', 'connection interrupted…');
      s.disconnectedTimer = setTimeout(function () { retry(); }, DISCONNECTED_MS);
    } else if (cs === 'failed' || cs === 'closed') {
      // failed: the network; closed while we wanted it: the server ended it
      retry();
    } else if (cs === 'new' && s.state === 'connected') {
      retry(); // every transport closed under us
    } else if (cs === 'connecting' || cs === 'new') {
      if (s.state !== 'reconnecting') setState('connecting', 'connecting…');
    }
  }

  function retry() {
    if (!s.joined || s.retryTimer) return;
    clearTimeout(s.stableTimer);
    dropConnection(true);
    var wait = s.backoffMs;
    s.backoffMs = Math.min(BACKOFF_MAX_MS, s.backoffMs * 2);
    setState('reconnecting', 'reconnecting in ' + (wait / 1000).toFixed(1) + ' s…');
    var attempt = s.attempt;
    s.retryTimer = setTimeout(function () {
      if (!s.joined || s.attempt !== attempt) { s.retryTimer = null; return; }
      replacedElsewhere().then(function (replaced) {
        s.retryTimer = null;
        if (!s.joined || s.attempt !== attempt) return;
        if (replaced) { showReplaced(); return; }
        connect();
      });
    }, wait);
  }

  /**
   * Before offering again: is our userId in our room under a connection that is not the one we had (another page
   * joined as us and the server replaced ours)? Ours was DELETEd when we gave it up, so anything listed is the other.
   */
  function replacedElsewhere() {
    var mine = s.serverConnectedAt;
    if (mine === null) return Promise.resolve(false); // never saw ourselves listed: cannot tell
    return call('GET', '/rooms').then(function (j) {
      var room = (j && Array.isArray(j.rooms) ? j.rooms : []).filter(function (r) { return r && r.room === s.room; })[0];
      var me = room && Array.isArray(room.peers) ? room.peers.filter(function (p) { return p && p.userId === s.userId; })[0] : null;
      return !!me && me.connectedAt !== mine;
    }, function () { return false; });
  }

  function showReplaced() {
    showError({ code: 'replaced', message: 'Another page joined room “' + s.room + '” as “' + s.userId + '”: this one has left.' });
    stop('replaced', 'replaced by another page');
  }

  function join() {
    showError(null);
    var name = $('name').value.trim();
    var room = $('room').value.trim();
    if (!name) { $('name').focus(); showError({ code: 'form', message: 'Enter a name.' }); return; }
    if (!ROOM_RE.test(room)) { $('room').focus(); showError({ code: 'form', message: 'A room is 1–64 letters, digits, - or _.' }); return; }
    var userId = params.get('userId') || userIdOf(name);
    if (!userId) { $('name').focus(); showError({ code: 'form', message: 'Enter a name with a visible character.' }); return; }
    s.name = userIdOf(name); // the same rules hold for the name (docs/webrtc.md: no control characters, ≤ 64)
    s.userId = userId;
    s.room = room;
    s.publish = $('mic').checked;
    s.listen = true;
    s.joined = true;
    s.backoffMs = BACKOFF_MIN_MS;
    audioContext(); // inside the click: allowed to start
    $('people-room').textContent = '“' + room + '”';
    setControls();
    setState('starting', s.publish ? 'asking for the microphone…' : 'connecting…');
    var micReady = Promise.resolve();
    if (s.publish && !s.mic) {
      var proc = $('processing').checked;
      micReady = navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: proc, noiseSuppression: proc, autoGainControl: proc, channelCount: 1 },
      }).then(function (m) { s.mic = m; attachMic(m); });
    }
    Promise.all([micReady, ready]).then(function () {
      if (s.joined) { connect(); pollRooms(); }
    }, function (e) {
      showError({ code: 'microphone', message: 'No microphone: ' + (e && e.message ? e.message : e) + ' — join with the microphone off to listen only.' });
      stop('failed', 'no microphone');
    });
  }

  /** Ends the session: Leave, a refusal, or the page going away. */
  function stop(state, text, keepalive) {
    var wasJoined = s.joined;
    s.joined = false;
    clearTimers();
    var done = dropConnection(wasJoined, keepalive);
    if (s.mic) { s.mic.getTracks().forEach(function (t) { t.stop(); }); s.mic = null; }
    s.micAnalyser = null;
    s.muted = false;
    s.remote = null;
    $('remote').srcObject = null;
    s.lastStats = null;
    renderStats(null);
    setState(state, text);
    setControls();
    return done;
  }

  function leave() {
    showError(null);
    stop('left', 'left the room').then(pollRooms);
  }

  function toggleMute() {
    s.muted = !s.muted;
    if (s.mic) s.mic.getAudioTracks().forEach(function (t) { t.enabled = !s.muted; });
    setControls();
  }

  // ---- figures: getStats ---------------------------------------------------------------------------------------

  function readStats() {
    if (!s.pc) return Promise.resolve(null);
    return s.pc.getStats().then(function (report) {
      var o = { packetsReceived: null, packetsLost: null, jitterMs: null, rttMs: null,
        sentPacketsLost: null, sentJitterMs: null, packetsSent: null, bytesReceived: null };
      var pairRtt = null;
      report.forEach(function (r) {
        if (r.type === 'inbound-rtp' && r.kind === 'audio') {
          o.packetsReceived = r.packetsReceived; o.packetsLost = r.packetsLost;
          o.jitterMs = typeof r.jitter === 'number' ? r.jitter * 1000 : null;
          o.bytesReceived = r.bytesReceived;
        } else if (r.type === 'remote-inbound-rtp' && r.kind === 'audio') {
          if (typeof r.roundTripTime === 'number') o.rttMs = r.roundTripTime * 1000;
          o.sentPacketsLost = r.packetsLost;
          o.sentJitterMs = typeof r.jitter === 'number' ? r.jitter * 1000 : null;
        } else if (r.type === 'outbound-rtp' && r.kind === 'audio') {
          o.packetsSent = r.packetsSent;
        } else if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded' && typeof r.currentRoundTripTime === 'number') {
          pairRtt = r.currentRoundTripTime * 1000;
        }
      });
      o.rttSource = o.rttMs !== null ? 'rtcp' : (pairRtt !== null ? 'ice' : null);
      if (o.rttMs === null) o.rttMs = pairRtt;
      return o;
    });
  }

  function fmt(v, digits, unit) { return typeof v === 'number' && isFinite(v) ? v.toFixed(digits) + (unit || '') : '–'; }

  function renderStats(o) {
    var dd = function (f) { return document.querySelector('#stats [data-field="' + f + '"]'); };
    if (!o) { ['loss', 'jitter', 'rtt'].forEach(function (f) { dd(f).textContent = '–'; }); return; }
    // what this page receives; a page that only publishes shows the server's report on what it sent
    var lost = o.packetsLost !== null ? o.packetsLost : o.sentPacketsLost;
    var got = o.packetsLost !== null ? o.packetsReceived : o.packetsSent;
    var pct = typeof lost === 'number' && typeof got === 'number' && lost + got > 0 ? (Math.max(0, lost) / (lost + got)) * 100 : null;
    dd('loss').textContent = typeof lost === 'number' ? lost + ' packets (' + fmt(pct, 1, ' %') + ')' : '–';
    dd('jitter').textContent = fmt(o.jitterMs !== null ? o.jitterMs : o.sentJitterMs, 1, ' ms');
    dd('rtt').textContent = fmt(o.rttMs, 0, ' ms');
    ['loss', 'jitter', 'rtt'].forEach(function (f) { dd(f).setAttribute('data-value', JSON.stringify(f === 'loss' ? lost : f === 'jitter' ? o.jitterMs : o.rttMs)); });
  }

  var statsTimer = null;
  function pollStats() {
    if (statsTimer) return;
    statsTimer = setInterval(function () {
      if (!s.pc) { clearInterval(statsTimer); statsTimer = null; return; }
      readStats().then(function (o) { if (o) { s.lastStats = o; renderStats(o); } }).catch(function () {});
    }, STATS_MS);
  }

  // ---- who is in the room: GET {base}/rooms ------------------------------------------------------------------

  var roomsTimer = null, roomsBusy = false, roomsAgain = false;
  /** One GET {base}/rooms now (or right after the one in flight), then one every ROOMS_MS. */
  function pollRooms() {
    if (!base) return;
    if (roomsBusy) { roomsAgain = true; return; }
    clearTimeout(roomsTimer);
    roomsBusy = true;
    var sentAt = Date.now();
    call('GET', '/rooms').then(function (j) {
      var rooms = j && Array.isArray(j.rooms) ? j.rooms : [];
      renderRoomList(rooms);
      var room = s.joined ? s.room : $('room').value.trim();
      var mine = rooms.filter(function (r) { return r && r.room === room; })[0];
      var peers = mine && Array.isArray(mine.peers) ? mine.peers : [];
      renderPeers(peers, room);
      // Connected here but gone from the server's list twice running: the server ended us (DELETE, timeout) and
      // the browser may take many seconds to see it from ICE alone.
      if (s.joined && s.state === 'connected' && sentAt > s.connectedAt) {
        var me = peers.filter(function (p) { return p && p.userId === s.userId; })[0];
        s.missing = me ? 0 : s.missing + 1;
        if (s.missing >= 2) { s.missing = 0; retry(); return; }
        // Our userId listed with another connection's connectedAt: another page joined as us and replaced this
        // one (docs/webrtc.md). Leave it be: starting again would throw it out in turn, and so on. (retry() asks too.)
        if (me && s.serverConnectedAt !== null && me.connectedAt !== s.serverConnectedAt) { showReplaced(); return; }
      }
      // This connection's connectedAt as the server lists it (from a poll sent after the answer: older ones may show
      // the connection ours replaced).
      if (s.joined && s.serverConnectedAt === null && sentAt > s.answeredAt) {
        var self = peers.filter(function (p) { return p && p.userId === s.userId && p.state === 'connected'; })[0];
        if (self && typeof self.connectedAt === 'number') s.serverConnectedAt = self.connectedAt;
      }
    }, function () { /* no list (a token, an older server): the page works without it */ })
      .then(function () {
        roomsBusy = false;
        roomsTimer = setTimeout(pollRooms, roomsAgain ? 0 : ROOMS_MS);
        roomsAgain = false;
      });
  }

  function renderRoomList(rooms) {
    var dl = $('rooms-list');
    var names = rooms.map(function (r) { return r && r.room; }).filter(function (n) { return typeof n === 'string'; }).sort();
    if (dl.getAttribute('data-rooms') === names.join(',')) return;
    dl.setAttribute('data-rooms', names.join(','));
    dl.textContent = '';
    names.forEach(function (n) { var o = document.createElement('option'); o.value = n; dl.appendChild(o); });
  }

  function renderPeers(peers, room) {
    s.peers = peers;
    var ul = $('peers');
    var key = JSON.stringify(peers.map(function (p) { return [p.userId, p.name, p.publish, p.listen, p.state]; })) + room;
    if (ul.getAttribute('data-key') === key) return;
    ul.setAttribute('data-key', key);
    ul.textContent = '';
    $('people-room').textContent = room ? '“' + room + '”' : '';
    peers.forEach(function (p) {
      var li = document.createElement('li');
      li.setAttribute('data-user', String(p.userId));
      li.setAttribute('data-state', String(p.state));
      var n = document.createElement('span');
      n.className = 'peer-name';
      n.textContent = String(p.name || p.userId);
      li.appendChild(n);
      var what = (p.publish && p.listen) ? 'speaks and listens' : p.publish ? 'speaks' : 'listens';
      var m = document.createElement('span');
      m.className = 'peer-meta';
      m.textContent = what + (p.state === 'connected' ? '' : ', ' + p.state) + (s.joined && p.userId === s.userId ? ' (you)' : '');
      li.appendChild(m);
      ul.appendChild(li);
    });
    $('no-peers').hidden = peers.length > 0;
  }

  // ---- wiring ----------------------------------------------------------------------------------------------------

  $('join-form').addEventListener('submit', function (ev) { ev.preventDefault(); if (!s.joined) join(); });
  $('leave').addEventListener('click', leave);
  $('mute').addEventListener('click', toggleMute);
  $('room').addEventListener('change', function () { if (!s.joined) pollRooms(); });
  // Closing the tab: tell the server at once (sendBeacon cannot DELETE; a keepalive fetch outlives the page).
  var gone = function () { if (s.joined) stop('left', 'left the room', true); };
  window.addEventListener('pagehide', gone);
  window.addEventListener('beforeunload', gone);

  if (params.get('name')) $('name').value = params.get('name');
  if (params.get('room')) $('room').value = params.get('room');
  if (params.get('mic') === '0' || params.get('mic') === 'off') $('mic').checked = false;
  if (params.get('processing') === '0' || params.get('processing') === 'off') $('processing').checked = false;
  setControls();

  var ready = loadConfig().then(function () { pollRooms(); });

  // A read-only hook for tests and the curious.
  window.xcastJoin = Object.freeze({
    get state() { return s.state; },
    get stateText() { return s.stateText; },
    get base() { return base; },
    get userId() { return s.userId; },
    get room() { return s.room; },
    get clientId() { return s.clientId; },
    get publish() { return s.publish; },
    get listen() { return s.listen; },
    get muted() { return s.muted; },
    get serverConnectedAt() { return s.serverConnectedAt; },
    get peers() { return s.peers.slice(); },
    ready: function () { return ready; },
    stats: readStats,
    analyse: analyse,
  });
})();

// xcast QoS dashboard logic: polls getMetrics, renders the speaker, one row per connection and 5-minute charts.
'use strict';
(function () {
  var params = new URLSearchParams(location.search);

  function numParam(name, dflt, min) {
    var v = Number(params.get(name));
    return params.has(name) && Number.isFinite(v) && v >= min ? v : dflt;
  }

  // Relative on purpose: from /qos/ (or /qos) it resolves to /service/mixeradminclient?getMetrics, and it follows
  // Node-RED's httpNodeRoot when the dashboard is mounted under a prefix.
  var DEFAULT_SRC = '../service/mixeradminclient?getMetrics';
  var INTERVAL_MS = numParam('interval', 1000, 100);
  var FETCH_TIMEOUT_MS = Math.max(2000, INTERVAL_MS * 2);
  var HISTORY_MS = 5 * 60 * 1000;
  var T = {
    lossPct: numParam('lossPct', 1, 0),
    jitterMs: numParam('jitterMs', 20, 0),
    latencyMs: numParam('latencyMs', 150, 0),
  };

  var $ = function (id) { return document.getElementById(id); };
  var srcUrl = null;
  var srcError = null;
  try {
    srcUrl = new URL(params.get('src') || DEFAULT_SRC, location.href);
    // the page only ever reads its own server: ?src= is for tests and mounts, not for pointing at others
    if (srcUrl.origin !== location.origin) {
      srcError = 'src ' + srcUrl.href + ' is not on this page\'s origin (' + location.origin + ')';
      srcUrl = null;
    }
  } catch (e) {
    srcError = 'src is not a valid URL: ' + e.message;
  }

  $('source').textContent = srcUrl ? 'source: ' + srcUrl.pathname + srcUrl.search : '';
  $('thresholds').textContent =
    'Status: green = connected; yellow = degraded (loss > ' + T.lossPct + ' % or jitter > ' + T.jitterMs +
    ' ms or latency > ' + T.latencyMs + ' ms); red = disconnected or no incoming audio.';

  // ---- formatting ---------------------------------------------------------------------------------------

  function isNum(v) { return typeof v === 'number' && Number.isFinite(v); }
  function fmt(v, digits) { return isNum(v) ? v.toFixed(digits) : '–'; }
  function pad2(n) { return n < 10 ? '0' + n : String(n); }
  function hhmmss(d) { return pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds()); }
  function lossPct(lost, received) {
    return isNum(lost) && isNum(received) && lost + received > 0 ? (lost / (lost + received)) * 100 : null;
  }

  /** Writes a value into a cell: the raw JSON value in data-value (for tests and copy), formatted text for people. */
  function setField(el, raw, text) {
    var v = raw === undefined ? 'null' : (typeof raw === 'string' ? raw : JSON.stringify(raw));
    if (el.getAttribute('data-value') !== v) el.setAttribute('data-value', v);
    if (el.textContent !== text) el.textContent = text;
  }

  // ---- status ---------------------------------------------------------------------------------------------

  function statusOf(c) {
    var connected = typeof c.connected === 'boolean' ? c.connected : c.isIncomingAudioTrackConnected === true;
    if (!connected) return { level: 'down', text: 'disconnected' };
    // a sender whose sequence stopped moving is as good as gone; a receive-only monitor never has incoming audio
    var sends = c.role === 'peer' || c.role === 'xcast' || (isNum(c.packetsReceived) && c.packetsReceived > 0);
    if (sends && c.isIncomingAudioTrackConnected !== true) return { level: 'down', text: 'no incoming audio' };
    var d = c.downstream && typeof c.downstream === 'object' ? c.downstream : null;
    var why = [];
    var up = lossPct(c.packetsLost, c.packetsReceived);
    var down = d ? lossPct(d.packetsLost, d.reportsReceived) : null;
    if (up !== null && up > T.lossPct) why.push('loss ' + up.toFixed(2) + ' %');
    if (down !== null && down > T.lossPct) why.push('rx loss ' + down.toFixed(2) + ' %');
    if (isNum(c.jitterMs) && c.jitterMs > T.jitterMs) why.push('jitter ' + c.jitterMs.toFixed(1) + ' ms');
    if (d && isNum(d.jitterMs) && d.jitterMs > T.jitterMs) why.push('rx jitter ' + d.jitterMs.toFixed(1) + ' ms');
    if (isNum(c.latencyMs) && c.latencyMs > T.latencyMs) why.push('latency ' + c.latencyMs.toFixed(1) + ' ms');
    return why.length ? { level: 'degraded', text: 'degraded: ' + why.join(', ') } : { level: 'ok', text: 'connected' };
  }

  // ---- table ----------------------------------------------------------------------------------------------

  var COLUMNS = [
    'user', 'status', 'role', 'room', 'remote', 'latencyMs', 'rttMs', 'jitterMs', 'packetsLost', 'lossPercent',
    'packetsLate', 'bufferDepthSamples', 'bitrateKbps', 'downstream.jitterMs', 'downstream.lossPercent',
    'downstream.bufferDepthSamples',
  ];
  var rows = new Map();

  function rowFor(user) {
    var r = rows.get(user);
    if (r) return r;
    var tr = document.createElement('tr');
    tr.setAttribute('data-user', user);
    var cells = {};
    COLUMNS.forEach(function (name) {
      var td = document.createElement('td');
      td.setAttribute('data-field', name);
      tr.appendChild(td);
      cells[name] = td;
    });
    var light = document.createElement('span');
    light.className = 'light';
    var label = document.createElement('span');
    cells.status.appendChild(light);
    cells.status.appendChild(label);
    r = { tr: tr, cells: cells, light: light, label: label };
    rows.set(user, r);
    return r;
  }

  function renderRow(user, c) {
    var r = rowFor(user);
    var k = r.cells;
    var d = c.downstream && typeof c.downstream === 'object' ? c.downstream : null;
    var st = statusOf(c);
    r.tr.setAttribute('data-status', st.level);
    k.status.setAttribute('data-status', st.level);
    r.light.className = 'light ' + st.level;
    r.light.setAttribute('data-status', st.level);
    r.label.textContent = st.text;
    k.status.title = st.text;
    setField(k.user, user, user);
    setField(k.role, c.role, c.role == null ? '–' : String(c.role));
    setField(k.room, c.room, c.room == null ? '–' : String(c.room));
    setField(k.remote, c.remote, c.remote == null ? '–' : String(c.remote));
    setField(k.latencyMs, c.latencyMs, fmt(c.latencyMs, 1));
    setField(k.rttMs, c.rttMs, fmt(c.rttMs, 1));
    setField(k.jitterMs, c.jitterMs, fmt(c.jitterMs, 1));
    setField(k.packetsLost, c.packetsLost, fmt(c.packetsLost, 0));
    var up = lossPct(c.packetsLost, c.packetsReceived);
    setField(k.lossPercent, up, fmt(up, 2));
    setField(k.packetsLate, c.packetsLate, fmt(c.packetsLate, 0));
    setField(k.bufferDepthSamples, c.bufferDepthSamples, fmt(c.bufferDepthSamples, 0));
    setField(k.bitrateKbps, c.bitrateKbps, fmt(c.bitrateKbps, 1));
    var dj = d ? d.jitterMs : null;
    var dl = d ? lossPct(d.packetsLost, d.reportsReceived) : null;
    var dd = d ? d.bufferDepthSamples : null;
    setField(k['downstream.jitterMs'], dj, fmt(dj, 1));
    setField(k['downstream.lossPercent'], dl, fmt(dl, 2));
    setField(k['downstream.bufferDepthSamples'], dd, fmt(dd, 0));
    k.latencyMs.classList.toggle('bad', isNum(c.latencyMs) && c.latencyMs > T.latencyMs);
    k.jitterMs.classList.toggle('bad', isNum(c.jitterMs) && c.jitterMs > T.jitterMs);
    k.lossPercent.classList.toggle('bad', up !== null && up > T.lossPct);
    k['downstream.jitterMs'].classList.toggle('bad', isNum(dj) && dj > T.jitterMs);
    k['downstream.lossPercent'].classList.toggle('bad', dl !== null && dl > T.lossPct);
    return r.tr;
  }

  // ---- charts ---------------------------------------------------------------------------------------------

  var history = new Map(); // user -> [{ t, latency, jitter, rxJitter, depth, rxDepth }]
  var charts = new Map();
  var SVG = 'http://www.w3.org/2000/svg';
  var W = 300, H = 80, PAD_TOP = 10, PAD_BOTTOM = 4;
  var CHARTS = [
    { key: 'latency', title: 'latency ms', a: 'latency', b: null, threshold: function () { return T.latencyMs; }, digits: 1 },
    { key: 'jitter', title: 'jitter ms', a: 'jitter', b: 'rxJitter', threshold: function () { return T.jitterMs; }, digits: 1 },
    { key: 'depth', title: 'buffer samples', a: 'depth', b: 'rxDepth', threshold: null, digits: 0 },
  ];

  function el(name, attrs) {
    var e = document.createElementNS(SVG, name);
    for (var a in attrs) e.setAttribute(a, attrs[a]);
    return e;
  }

  function chartsFor(user) {
    var c = charts.get(user);
    if (c) return c;
    var box = document.createElement('div');
    box.className = 'chart-user';
    box.setAttribute('data-user', user);
    var h = document.createElement('h3');
    h.textContent = user;
    box.appendChild(h);
    var parts = {};
    CHARTS.forEach(function (spec) {
      var fig = document.createElement('figure');
      fig.setAttribute('data-chart', spec.key);
      var cap = document.createElement('figcaption');
      var name = document.createElement('span');
      name.textContent = spec.title;
      if (spec.b) {
        var lg = document.createElement('span');
        lg.innerHTML = '<span class="legend-a">in</span> / <span class="legend-b">rx</span>';
        name.appendChild(document.createTextNode(' '));
        name.appendChild(lg);
      }
      var now = document.createElement('span');
      now.className = 'now';
      cap.appendChild(name);
      cap.appendChild(now);
      var svg = el('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart', preserveAspectRatio: 'none', role: 'img' });
      svg.setAttribute('aria-label', user + ' ' + spec.title);
      var thr = el('line', { class: 'threshold', x1: 0, x2: W, y1: -10, y2: -10 });
      var lineB = el('polyline', { class: 'b', points: '' });
      var lineA = el('polyline', { class: 'a', points: '' });
      var max = el('text', { x: 3, y: 9 });
      var thrLabel = el('text', { x: W - 3, y: -10, 'text-anchor': 'end', class: 'threshold-label' });
      svg.appendChild(thr);
      svg.appendChild(thrLabel);
      svg.appendChild(lineB);
      svg.appendChild(lineA);
      svg.appendChild(max);
      fig.appendChild(cap);
      fig.appendChild(svg);
      box.appendChild(fig);
      parts[spec.key] = { svg: svg, a: lineA, b: lineB, thr: thr, thrLabel: thrLabel, max: max, now: now };
    });
    c = { box: box, parts: parts };
    charts.set(user, c);
    return c;
  }

  function points(samples, field, t0, span, ymax) {
    var out = [];
    for (var i = 0; i < samples.length; i++) {
      var v = samples[i][field];
      if (!isNum(v)) continue;
      var x = span > 0 ? ((samples[i].t - t0) / span) * W : W;
      var y = H - PAD_BOTTOM - (v / ymax) * (H - PAD_TOP - PAD_BOTTOM);
      out.push(x.toFixed(1) + ',' + y.toFixed(1));
    }
    return out.join(' ');
  }

  function drawCharts(user, samples) {
    var c = chartsFor(user);
    var tEnd = samples[samples.length - 1].t;
    // the x axis spans the data until it covers the full 5 minutes, so a fresh page shows a line, not a dot
    var t0 = Math.max(samples[0].t, tEnd - HISTORY_MS);
    var span = tEnd - t0;
    CHARTS.forEach(function (spec) {
      var p = c.parts[spec.key];
      var ymax = 0;
      samples.forEach(function (s) {
        if (isNum(s[spec.a]) && s[spec.a] > ymax) ymax = s[spec.a];
        if (spec.b && isNum(s[spec.b]) && s[spec.b] > ymax) ymax = s[spec.b];
      });
      var thr = spec.threshold ? spec.threshold() : null;
      ymax = ymax > 0 ? ymax * 1.15 : 1;
      p.a.setAttribute('points', points(samples, spec.a, t0, span, ymax));
      p.b.setAttribute('points', spec.b ? points(samples, spec.b, t0, span, ymax) : '');
      var ty = thr !== null && thr <= ymax ? H - PAD_BOTTOM - (thr / ymax) * (H - PAD_TOP - PAD_BOTTOM) : -10;
      p.thr.setAttribute('y1', ty);
      p.thr.setAttribute('y2', ty);
      p.thrLabel.setAttribute('y', ty - 2);
      p.thrLabel.textContent = ty >= 0 ? 'limit ' + thr : '';
      p.max.textContent = 'max ' + fmt(ymax / 1.15, spec.digits) + ' · ' + Math.round(span / 1000) + ' s';
      var last = samples[samples.length - 1];
      p.now.textContent = fmt(last[spec.a], spec.digits) + (spec.b ? ' / ' + fmt(last[spec.b], spec.digits) : '');
    });
    return c.box;
  }

  function record(user, t, c) {
    var d = c.downstream && typeof c.downstream === 'object' ? c.downstream : null;
    var h = history.get(user);
    if (!h) { h = []; history.set(user, h); }
    if (h.length && h[h.length - 1].t === t) return h; // same snapshot polled twice
    h.push({
      t: t, latency: c.latencyMs, jitter: c.jitterMs, depth: c.bufferDepthSamples,
      rxJitter: d ? d.jitterMs : null, rxDepth: d ? d.bufferDepthSamples : null,
    });
    while (h.length && h[0].t < t - HISTORY_MS) h.shift();
    return h;
  }

  // ---- render ---------------------------------------------------------------------------------------------

  function renderSpeaker(s) {
    var q = function (f) { return document.querySelector('#speaker [data-field="' + f + '"]'); };
    setField(q('currentSpeakerBufferDepthInFloat32Samples'), s.currentSpeakerBufferDepthInFloat32Samples, fmt(s.currentSpeakerBufferDepthInFloat32Samples, 0) + ' samples');
    setField(q('currentSpeakerSampleRate'), s.currentSpeakerSampleRate, fmt(s.currentSpeakerSampleRate, 0) + ' Hz');
    setField(q('speakerScriptProcessorLatencyMS'), s.speakerScriptProcessorLatencyMS, fmt(s.speakerScriptProcessorLatencyMS, 1) + ' ms');
    setField(q('speakerScriptProcessorIncomingBufferMisses'), s.speakerScriptProcessorIncomingBufferMisses, fmt(s.speakerScriptProcessorIncomingBufferMisses, 0));
    setField(q('speakerSilenceDetected'), s.speakerSilenceDetected, s.speakerSilenceDetected === true ? 'yes' : s.speakerSilenceDetected === false ? 'no' : '–');
  }

  function renderList(ul, items, text) {
    ul.textContent = '';
    items.forEach(function (it) {
      if (!it || typeof it !== 'object') return;
      var li = document.createElement('li');
      li.setAttribute('data-user', String(it.userId));
      li.setAttribute('data-track', String(it.trackId));
      li.textContent = text(it);
      ul.appendChild(li);
    });
  }

  function render(s) {
    renderSpeaker(s);
    var conns = s.connections && typeof s.connections === 'object' ? s.connections : {};
    var users = Object.keys(conns).sort();
    var tbody = $('rows');
    var chartBox = $('charts');
    var t = isNum(s.at) ? s.at : Date.now();
    users.forEach(function (user, i) {
      var c = conns[user];
      if (!c || typeof c !== 'object') return;
      var tr = renderRow(user, c);
      if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
      var box = drawCharts(user, record(user, t, c));
      if (chartBox.children[i] !== box) chartBox.insertBefore(box, chartBox.children[i] || null);
    });
    rows.forEach(function (r, user) {
      if (Object.prototype.hasOwnProperty.call(conns, user)) return;
      r.tr.remove();
      rows.delete(user);
      var ch = charts.get(user);
      if (ch) ch.box.remove();
      charts.delete(user);
      history.delete(user);
    });
    $('no-connections').hidden = users.length > 0;
    renderList($('incoming'), Array.isArray(s.incomingAudioTracks) ? s.incomingAudioTracks : [], function (it) {
      return it.userId + ' #' + it.trackId + (it.connected === false ? ' (stalled)' : '');
    });
    renderList($('outgoing'), Array.isArray(s.outgoingAudioTracks) ? s.outgoingAudioTracks : [], function (it) {
      return it.userId + ' #' + it.trackId;
    });
    var rf = s.refused && typeof s.refused === 'object' ? s.refused : null;
    var codes = rf && rf.byCode ? Object.keys(rf.byCode).map(function (k) { return k + ' ' + rf.byCode[k]; }).join(', ') : '';
    setField($('refused'), rf ? rf.frames : null, rf ? String(rf.frames) + ' frames' + (codes ? ' (' + codes + ')' : '') : '–');
  }

  // ---- polling --------------------------------------------------------------------------------------------

  function showError(msg) {
    var e = $('error');
    e.textContent = msg;
    e.hidden = false;
    $('updated').classList.add('stale');
    document.querySelectorAll('#rows tr').forEach(function (tr) { tr.classList.add('stale'); });
  }

  function clearError() {
    $('error').hidden = true;
    $('error').textContent = '';
    $('updated').classList.remove('stale');
    document.querySelectorAll('#rows tr').forEach(function (tr) { tr.classList.remove('stale'); });
  }

  function poll() {
    var ctrl = new AbortController();
    var timer = setTimeout(function () { ctrl.abort(); }, FETCH_TIMEOUT_MS);
    return fetch(srcUrl.href, { cache: 'no-store', signal: ctrl.signal, headers: { Accept: 'application/json' } })
      .then(function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status + (res.statusText ? ' ' + res.statusText : ''));
        return res.text();
      })
      .then(function (text) {
        var body;
        try { body = JSON.parse(text); } catch (e) { throw new Error('answer is not JSON (' + e.message + ')'); }
        var s = body && body.aggregatedStatesSnapshot;
        if (!s || typeof s !== 'object') throw new Error('answer has no aggregatedStatesSnapshot');
        render(s);
        clearError();
        $('updated').textContent = 'updated ' + hhmmss(new Date());
      })
      .catch(function (err) {
        var reason = err && err.name === 'AbortError' ? 'no answer within ' + FETCH_TIMEOUT_MS + ' ms' : (err && err.message) || String(err);
        showError('getMetrics unreachable: ' + reason);
      })
      .then(function () { clearTimeout(timer); });
  }

  function loop() {
    poll().then(function () { setTimeout(loop, INTERVAL_MS); });
  }

  if (srcUrl) loop();
  else showError('getMetrics unreachable: ' + srcError);
})();

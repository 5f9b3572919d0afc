// Shared code of the xcast nodes' edit dialogs (window.xcastEditor): field validators, the sound-device picker, row show/hide.
// Node-RED serves this folder at resources/@xcast/node-red-xcast/ and loads every <script src> of a module's
// node files before their inline scripts run, so each node's registerType can use it.
(function () {
    "use strict";

    // Reads a field from the open edit dialog when there is one, else from the node: validators run in both places.
    function field(node, name) {
        var el = $("#node-input-" + name);
        return el.length ? el.val() : node[name];
    }
    // Not set, as the runtime's num() sees it: white space alone is a value there, and not a number.
    function empty(v) { return v === undefined || v === null || v === ""; }
    // Not set, white space included: for fields the runtime trims.
    function blank(v) { return empty(v) || String(v).trim() === ""; }

    // A function of the node: the field's value, or def when it is not set.
    function fieldOr(name, def) {
        return function (node) { return field(node, name) || def; };
    }
    // A function of the node: whether the field (def when not set) is one of values.
    function fieldIn(name, def, values) {
        return function (node) { return values.indexOf(field(node, name) || def) !== -1; };
    }
    // The node's sample rate field as a number; 48000 (the runtime's default) when it is not set or not a number.
    function sampleRateOf(node, trim) {
        var r = field(node, "sampleRate");
        return (trim ? blank(r) : empty(r)) || !isFinite(Number(r)) ? 48000 : Number(r);
    }

    // All validators below take (v, opt): Node-RED treats a two-argument validator as one that may return a message.
    // The runtime refuses the same values, with the same words where it can.

    // A number in [min, max]; min and max may be functions of the node.
    // opts: int (whole numbers only), when (a function of the node: check only when it says so), required,
    // trim (white space alone counts as not set), label (messages name the field: "port must be at least 1"
    // rather than the runtime's "0 is below the minimum 1").
    function numberIn(min, max, opts) {
        opts = opts || {};
        var label = opts.label;
        return function (v, opt) {
            if (opts.when && !opts.when(this)) { return true; }
            if (opts.trim ? blank(v) : empty(v)) { return opts.required ? "required" : true; }
            var n = Number(v);
            if (!isFinite(n)) { return (label ? label + " " : "") + '"' + v + '" is not a number'; }
            if (opts.int && Math.floor(n) !== n) { return label ? label + " must be a whole number" : n + " is not a whole number"; }
            var lo = typeof min === "function" ? min(this) : min;
            var hi = typeof max === "function" ? max(this) : max;
            if (lo !== undefined && n < lo) { return label ? label + " must be at least " + lo : n + " is below the minimum " + lo; }
            if (hi !== undefined && n > hi) { return label ? label + " must be at most " + hi : n + " is above the maximum " + hi; }
            return true;
        };
    }
    // A whole number in [min, max], with one message for any value out of range.
    // opts: label (put before the "is not a whole number" message), trim (white space alone counts as not set).
    function wholeIn(min, max, rangeMessage, opts) {
        opts = opts || {};
        return function (v, opt) {
            if (opts.trim ? blank(v) : empty(v)) { return true; }
            var n = Number(v);
            if (!isFinite(n) || Math.floor(n) !== n) { return (opts.label ? opts.label + " " : "") + '"' + v + '" is not a whole number'; }
            return (n >= min && n <= max) || rangeMessage;
        };
    }
    // A number in [min, max] (max may be undefined), with one message for anything else; white space alone is not set.
    function inRange(min, max, message) {
        return function (v, opt) {
            if (blank(v)) { return true; }
            var n = Number(v);
            return (isFinite(n) && n >= min && (max === undefined || n <= max)) || message;
        };
    }
    // A frame length in ms that is a whole number of samples at the node's sample rate, as frameSamplesOf() demands.
    // opts.trim: white space alone counts as not set, in this field and in the sample rate.
    function frameMs(opts) {
        var trim = !!(opts && opts.trim);
        return function (v, opt) {
            if (trim ? blank(v) : empty(v)) { return true; }
            var ms = Number(v);
            if (!isFinite(ms)) { return '"' + v + '" is not a number'; }
            if (ms < 2.5 || ms > 120) { return "frame length must be 2.5 to 120 ms"; }
            var rate = sampleRateOf(this, trim);
            var samples = rate * ms / 1000;
            if (Math.floor(samples) !== samples) { return ms + " ms is not a whole number of samples at " + rate + " Hz"; }
            return true;
        };
    }
    // One of values (def when not set). The message lists the non-empty values, "a, b or c", unless what says otherwise.
    function oneOf(values, def, what) {
        if (what === undefined) {
            var named = values.filter(function (x) { return x !== ""; });
            what = named.length > 1 ? named.slice(0, -1).join(", ") + " or " + named[named.length - 1] : named.join("");
        }
        return function (v, opt) {
            return values.indexOf(v || def) !== -1 || '"' + v + '" is not ' + what;
        };
    }
    // Required when when(node) says so; message is a string or a function of the node.
    function requiredWhen(when, message) {
        return function (v, opt) {
            if (!when(this) || !blank(v)) { return true; }
            return typeof message === "function" ? message(this) : message;
        };
    }
    // A JSON object or nothing; what names the field in the message ("the profile").
    function jsonObject(what) {
        return function (v, opt) {
            if (blank(v)) { return true; }
            try {
                var o = JSON.parse(v);
                return (o !== null && typeof o === "object" && !Array.isArray(o)) || what + " must be a JSON object";
            } catch (e) { return what + " is not JSON: " + e.message; }
        };
    }
    // A socket node's TCP port: required; a server may take 0 (any free port), a client needs a real one.
    function port(modeOf) {
        return function (v, opt) {
            var n = Number(v);
            var min = modeOf(this) === "server" ? 0 : 1;
            if (blank(v) || !isFinite(n) || Math.floor(n) !== n) { return "port must be a whole number"; }
            return (n >= min && n <= 65535) || "port must be " + min + " … 65535";
        };
    }

    // A pinned certificate's SHA-256 fingerprint: 64 hex digits, colons and spaces aside (AB:CD:… as openssl prints it, or plain).
    function fingerprint(v, opt) {
        if (blank(v)) { return true; }
        return /^[0-9a-fA-F]{64}$/.test(String(v).replace(/[:\s]/g, "")) || "the fingerprint must be a SHA-256 fingerprint: 64 hex digits (AB:CD:… or plain)";
    }
    // The socket nodes' server limits (runtime/protocol/limits.ts): default (the field's placeholder) and range.
    var LIMITS = {
        maxConnections: { def: 1024, min: 1, max: 1000000, int: true },
        maxConnectionsPerAddress: { def: 64, min: 1, max: 1000000, int: true },
        maxPendingHandshakes: { def: 128, min: 1, max: 1000000, int: true },
        helloTimeoutMs: { def: 5000, min: 0, max: 600000, int: true },
        maxMetadataBytes: { def: 65536, min: 2, max: 1073741824, int: true },
        metadataPerSecond: { def: 20, min: 0.01, max: 1000000, int: false },
        maxTracksPerConnection: { def: 16, min: 1, max: 65536, int: true },
        authFailuresBeforeSlowdown: { def: 5, min: 1, max: 1000000, int: true }
    };
    // A server limit: blank (the default) or a number in its range.
    function limit(name) {
        var l = LIMITS[name];
        return numberIn(l.min, l.max, { int: l.int, trim: true, label: name });
    }

    // A socket node's defaults with those of the rows it shares (nodes/lib/editor/server-trust.html): TLS, the pinned
    // certificate, the client certificate, the users file and every server limit (blank: the default).
    function withServerTrust(own) {
        var d = {};
        Object.keys(own).forEach(function (k) { d[k] = own[k]; });
        d.tls = { type: "tls-config", required: false, label: "TLS" };
        d.fingerprint = { value: "", label: "fingerprint", validate: fingerprint };
        d.requireClientCert = { value: false };
        d.usersFile = { value: "", label: "users file" };
        Object.keys(LIMITS).forEach(function (name) { d[name] = { value: "", validate: limit(name) }; });
        return d;
    }

    // Every xcast node shows a name it was given in italics.
    function labelStyle() { return this.name ? "node_label_italic" : ""; }

    // Shows the rows of class xcast-row-<key> whose value is true and hides the others.
    function showRows(rows) {
        Object.keys(rows).forEach(function (key) { $(".xcast-row-" + key).toggle(!!rows[key]); });
    }
    // Calls update now and whenever the selected inputs change (events: "change" unless given).
    // update's answer is dropped: a handler that returns false would stop the event for Node-RED's own handlers.
    function watch(selector, update, events) {
        function run() { update(); }
        $(selector).on(events || "change", run);
        run();
    }
    // The socket nodes' mode: relabels host and user id (from the node's catalog: <prefix>.label.hostServer,
    // hostClient, userIdServer, userIdClient) and shows the client-only or the server-only rows; true in server mode.
    function socketMode(node, prefix) {
        var server = $("#node-input-mode").val() === "server";
        $("#node-input-host-label").text(" " + node._(prefix + ".label." + (server ? "hostServer" : "hostClient")));
        $("#node-input-userId-label").text(" " + node._(prefix + ".label." + (server ? "userIdServer" : "userIdClient")));
        $(".xcast-row-client").toggle(!server);
        $(".xcast-row-server").toggle(server);
        return server;
    }

    // The device field's picker: the refresh button lists the sound devices of the machine Node-RED runs on
    // (GET xcast/devices) into the field's datalist. kind: "input" or "output". Call from oneditprepare;
    // loadOnce() lists them the first time the device rows are shown, so a dialog without them asks nothing.
    function devicePicker(kind) {
        var key = kind + "s";
        var channels = kind === "input" ? "maxInputChannels" : "maxOutputChannels";
        var loaded = false;
        function fill(list) {
            var dl = $("#node-input-device-list").empty();
            list.forEach(function (dev) {
                var extra = [];
                if (dev[channels]) { extra.push(dev[channels] + " ch"); }
                if (dev.defaultSampleRate) { extra.push(dev.defaultSampleRate + " Hz"); }
                if (dev.hostAPIName) { extra.push(dev.hostAPIName); }
                $("<option>").attr("value", dev.name).text(extra.join(", ")).appendTo(dl);
            });
            $("#node-input-device-info").text(list.length ? list.length + " " + kind + " device" + (list.length === 1 ? "" : "s") + " found: pick one in the name field" : "no " + kind + " devices found");
        }
        function load() {
            var info = $("#node-input-device-info");
            var btn = $("#node-input-device-refresh").addClass("disabled");
            info.text("listing devices…");
            $.getJSON("xcast/devices").done(function (d) {
                fill((d && d[key]) || []);
            }).fail(function (xhr) {
                // The server still sends what it could list with the error.
                var body = xhr.responseJSON || {};
                fill(body[key] || []);
                info.text("cannot list devices: " + (body.error || xhr.statusText || "no answer"));
            }).always(function () { btn.removeClass("disabled"); });
        }
        $("#node-input-device-refresh").on("click", function (e) { e.preventDefault(); load(); });
        return {
            load: load,
            loadOnce: function () { if (!loaded) { loaded = true; load(); } }
        };
    }

    // Assigned afresh on each load: every node file includes this script, and the newest copy should win.
    window.xcastEditor = {
        field: field,
        empty: empty,
        blank: blank,
        fieldOr: fieldOr,
        fieldIn: fieldIn,
        sampleRateOf: sampleRateOf,
        numberIn: numberIn,
        wholeIn: wholeIn,
        inRange: inRange,
        frameMs: frameMs,
        oneOf: oneOf,
        requiredWhen: requiredWhen,
        jsonObject: jsonObject,
        port: port,
        fingerprint: fingerprint,
        limit: limit,
        LIMITS: LIMITS,
        withServerTrust: withServerTrust,
        labelStyle: labelStyle,
        showRows: showRows,
        watch: watch,
        socketMode: socketMode,
        devicePicker: devicePicker
    };
})();

#!/usr/bin/env -S node --max-semi-space-size=64
// The xcast command line: start / deploy preset flows, list devices, read metrics, capture and rebuild sessions.
'use strict';
require('../dist/runtime/cli').main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (err) => { console.error(`xcast: ${err && err.message ? err.message : err}`); process.exitCode = 1; },
);

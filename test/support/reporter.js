// Mocha reporter: the usual spec output, then one plain summary line "N passed, N failed" that CI reads.
'use strict';
const Mocha = require('mocha');
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END } = Mocha.Runner.constants;

class SummaryReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats || {};
      // Spec's epilogue listener was added first (in super()), so this line comes after it; synchronous, because
      // mocha's --exit ends the process right after this event.
      process.stdout.write(`${s.passes || 0} passed, ${s.failures || 0} failed\n`);
    });
  }
}
module.exports = SummaryReporter;

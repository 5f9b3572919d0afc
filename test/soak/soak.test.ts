// A short soak inside `npm test` (~15 s): 10 tone peers, two replaced every second, against the real xcast preset.
// Checks what a short run can: no stuck track, fds back to the warm baseline, the mix without a gap or a skipped
// tick, the xcast alive. RSS growth needs the long run (`npm run soak`, 50 peers for 10 minutes).
import assert from 'node:assert/strict';
import { formatSoakReport, runSoak, soakProblems } from './run-soak';

describe('soak (short)', function () {
  this.timeout(90000);

  it('10 peers for 8 s with two leaving and two joining every second: no stuck track, every current peer has its track, fds back to the baseline, the mix continuous (no seq gap, no skipped tick)', async () => {
    const r = await runSoak({ minutes: 0.14, peers: 10, churnPerSecond: 2, log: () => undefined });
    console.log(formatSoakReport(r).replace(/^/gm, '      '));
    // RSS growth is not judged on an 8 s run (its warm-up is under 2 s).
    const problems = soakProblems(r).filter((p) => !p.startsWith('RSS grew'));
    assert.deepEqual(problems, [], formatSoakReport(r));
    assert.ok(r.joinsAndLeaves >= 12, `${r.joinsAndLeaves} leaves + joins`);
  });
});

// Bounded HTTP fuzzing inside `npm test` (~10 s): random requests against a launched Node-RED with the xcast and
// monitor presets (the project's routes and Node-RED's admin API). `npm run fuzz` sends 5,000.
import assert from 'node:assert/strict';
import { formatHttpReport, fuzzHttp } from './http';

const SEED = process.env.XCAST_FUZZ_SEED !== undefined ? Number(process.env.XCAST_FUZZ_SEED) >>> 0 : 20261202;

describe('fuzzing (bounded, HTTP against a launched Node-RED)', function () {
  this.timeout(90000);

  it(`1,000 requests of random methods, paths, query strings, headers and bodies (seed ${SEED}) and 50 raw byte salvos: no 5xx but the documented 503s, no file out of a traversal (/xcast/rtp/..%2f..%2fpackage.json …), SDP routes answer SDPs, every request answered, the process alive`, async () => {
    const r = await fuzzHttp({ seed: SEED, requests: 1000 });
    console.log(formatHttpReport(r).replace(/^/gm, '      '));
    assert.deepEqual(r.failures, [], formatHttpReport(r));
    assert.ok(r.alive);
    // The requests reached real routes, not only 404s.
    assert.ok((r.byStatus['200'] ?? 0) > 50, formatHttpReport(r));
    // The RTP routes were reached (the mix's SDP and the SAP directory answer 200; the rest, traversals included, 404).
    assert.ok((r.rtpAnswers['200'] ?? 0) > 5 && (r.rtpAnswers['404'] ?? 0) > 5, formatHttpReport(r));
  });
});

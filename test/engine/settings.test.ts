// xcast's settings (runtime/settings.ts): settings.xcast, the environment over it, every value checked and named.
import assert from 'node:assert/strict';
import os from 'node:os';
import { readSettings, SettingsError, SETTINGS, workerCount } from '../../runtime/settings';

describe('settings: settings.xcast with XCAST_* over it', () => {
  it('gives every default without settings.xcast or the environment', () => {
    assert.deepEqual(readSettings(undefined, {}), { mixCpus: null, mixYoungGenerationMb: 96, encodeWorkers: 0 });
    assert.deepEqual(readSettings({ userDir: '/x' }, {}), readSettings(undefined, {}));
  });

  it('takes settings.xcast, and the environment over it (an empty variable is unset)', () => {
    const s = { xcast: { mixCpus: '1', mixYoungGenerationMb: 64, encodeWorkers: 'auto' } };
    assert.deepEqual(readSettings(s, {}), { mixCpus: '1', mixYoungGenerationMb: 64, encodeWorkers: 'auto' });
    assert.deepEqual(readSettings(s, { XCAST_MIX_CPUS: '2-3', XCAST_MIX_YOUNG_MB: '32', XCAST_ENCODE_WORKERS: '' }), { mixCpus: '2-3', mixYoungGenerationMb: 32, encodeWorkers: 'auto' });
    assert.equal(readSettings(undefined, { XCAST_ENCODE_WORKERS: '3' }).encodeWorkers, 3);
  });

  it('refuses a bad value naming the setting and where it came from', () => {
    const refused = (s: object | undefined, env: NodeJS.ProcessEnv, setting: string, re: RegExp) =>
      assert.throws(() => readSettings(s, env), (e: unknown) => e instanceof SettingsError && e.setting === setting && re.test(e.message), `${setting}`);
    refused({ xcast: { mixCpus: 'all' } }, {}, 'mixCpus', /^settings\.xcast\.mixCpus: "all" is not a CPU list/);
    refused(undefined, { XCAST_MIX_CPUS: '0;1' }, 'mixCpus', /^XCAST_MIX_CPUS: "0;1" is not a CPU list/);
    refused(undefined, { XCAST_MIX_YOUNG_MB: '1.5' }, 'mixYoungGenerationMb', /^XCAST_MIX_YOUNG_MB: "1.5" is not a whole number from 1 to 4096/);
    refused({ xcast: { encodeWorkers: 17 } }, {}, 'encodeWorkers', /^settings\.xcast\.encodeWorkers: 17 is not a whole number from 0 to 16/);
    refused({ xcast: { encodeWorker: 2 } }, {}, 'encodeWorker', /^settings\.xcast\.encodeWorker: is not an xcast setting/);
    refused({ xcast: 'fast' }, {}, 'xcast', /^settings\.xcast: must be an object/);
  });

  it('has one environment variable per setting, each XCAST_*', () => {
    const envs = Object.values(SETTINGS).map((d) => d.env);
    assert.equal(new Set(envs).size, envs.length);
    for (const e of envs) assert.match(e, /^XCAST_[A-Z_]+$/);
  });

  it("counts 'auto' threads as the cores this process may use, less the event loop's, at most 8", () => {
    assert.equal(workerCount(3), 3);
    assert.equal(workerCount('auto'), Math.max(0, Math.min(8, os.availableParallelism() - 1)));
  });
});

// Test helper: the real ALSA/JACK environment for device tests (JACK server, a private loop client, ALSA PCMs) and a runner for device scenarios in child processes.
//
// Device tests never open PortAudio in the mocha process: PortAudio reads the ALSA configuration
// (ALSA_CONFIG_PATH) when it initialises, prints to stdout, and can abort() on a bad configuration,
// which would take every other suite down with it. Scenarios (device-scenario.ts) run in a child
// with the environment below and hand their results back as JSON and raw f32 files.
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const ASOUND_CONF = path.join(REPO_ROOT, 'test', 'fixtures', 'alsa', 'asound.conf');
export const START_JACK = path.join(REPO_ROOT, '.ci', 'start-jack.sh');
const SCENARIO_JS = path.join(__dirname, 'device-scenario.js');
export const RESULT_MARK = '@@xcast-scenario-result@@';

/** The PCMs of test/fixtures/alsa/asound.conf. */
export const LOOP_OUT = 'xcast_loop_out';
export const LOOP_IN = 'xcast_loop_in';
export const FILE_OUT = 'xcast_file_out';

export interface AudioTestEnv {
  /** Environment for anything that opens the fixture's devices. */
  env: NodeJS.ProcessEnv;
  /** The JACK client looping xcast_loop_out into xcast_loop_in, private to this process. */
  loopName: string;
  /** The JACK server's name, and its pid when this environment started it. */
  server: string;
  jackdPid: number | undefined;
  /** A scratch directory under os.tmpdir(), removed by close(). */
  dir: string;
  /** Where xcast_file_out writes. */
  fileOut: string;
  /** Ends the loop client (and the server when `privateServer`), removes the scratch directory. */
  close(): void;
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts (or finds) the JACK server through .ci/start-jack.sh, with a loop client of our own so that
 * two test runs on one machine do not play into each other's loop. With `privateServer` it starts a
 * server of its own (for tests that kill it). Throws with the script's output when JACK is not
 * installed (run scripts/setup-system.sh).
 */
export function startAudioTestEnv(opts: { privateServer?: boolean } = {}): AudioTestEnv {
  const server = opts.privateServer ? `xcast_t${process.pid}` : process.env.XCAST_JACK_SERVER || 'xcast';
  const loopName = `xcast_loop_t${process.pid}`;
  const scriptEnv = { ...process.env, XCAST_JACK_SERVER: server, XCAST_JACK_LOOP: loopName };
  let out: string;
  try {
    out = execFileSync(START_JACK, { env: scriptEnv, encoding: 'utf8', timeout: 60000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${START_JACK} failed (is JACK installed? run scripts/setup-system.sh): ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
  const logDir = /logs: (.+)$/m.exec(out)?.[1]?.trim() ?? '';
  const loopPid = logDir ? readPid(path.join(logDir, `${loopName}.pid`)) : undefined;
  const jackdPid = opts.privateServer && logDir ? readPid(path.join(logDir, 'jackd.pid')) : undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-devices-'));
  const fileOut = path.join(dir, 'file-out.f32');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ALSA_CONFIG_PATH: ASOUND_CONF,
    JACK_DEFAULT_SERVER: server,
    JACK_NO_START_SERVER: '1',
    XCAST_JACK_LOOP: loopName,
    XCAST_ALSA_FILE_OUT: fileOut,
  };
  return {
    env, loopName, server, jackdPid, dir, fileOut,
    close() {
      for (const pid of [loopPid, jackdPid]) {
        if (pid && alive(pid)) process.kill(pid, 'SIGTERM');
      }
      if (logDir) {
        for (const f of [`${loopName}.pid`, `${loopName}.log`]) fs.rmSync(path.join(logDir, f), { force: true });
        // A private server's directory (its log, pid and lock) goes with it.
        if (opts.privateServer) fs.rmSync(logDir, { recursive: true, force: true });
      }
      // Clients alive when a server dies leave their semaphores in /dev/shm; a private server's are ours to remove.
      if (opts.privateServer && fs.existsSync('/dev/shm')) {
        const prefix = `jack_sem.${process.getuid?.() ?? 0}_${server}_`;
        for (const f of fs.readdirSync('/dev/shm')) if (f.startsWith(prefix)) fs.rmSync(path.join('/dev/shm', f), { force: true });
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs one scenario of device-scenario.ts in a child with `env`; resolves with its JSON result. */
export function runScenario<T>(env: NodeJS.ProcessEnv, name: string, args: Record<string, unknown> = {}, timeoutMs = 30000): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [SCENARIO_JS, name, JSON.stringify(args)], { env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        // A scenario that printed its result has finished, even if it then had to be killed.
        const at = stdout.lastIndexOf(RESULT_MARK);
        if (at >= 0) {
          resolve(JSON.parse(stdout.slice(at + RESULT_MARK.length).split('\n', 1)[0]) as T);
          return;
        }
        const noise = (l: string): boolean => l.startsWith('ALSA lib ') || l.trim() === '';
        const tail = (s: string): string => s.split('\n').filter((l) => !noise(l)).slice(-15).join('\n');
        reject(new Error(`scenario ${name} failed: ${err ? err.message.split('\n')[0] : 'no result'}\n--- stdout\n${tail(stdout)}\n--- stderr\n${tail(stderr)}`));
      });
  });
}

/** A raw f32le file as samples. */
export function readF32(file: string): Float32Array {
  const b = fs.readFileSync(file);
  const a = new Float32Array(b.length >> 2);
  new Uint8Array(a.buffer).set(b.subarray(0, a.length * 4));
  return a;
}

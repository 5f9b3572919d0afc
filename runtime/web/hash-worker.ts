// The thread that compares passwords with bcrypt hashes for runtime/web/auth.ts: { id, password, hash } in, { id, ok } out.
import { parentPort } from 'node:worker_threads';
import { loadBcrypt } from './bcrypt';

parentPort!.on('message', (m: { id: number; password: string; hash: string }) => {
  let ok = false;
  try {
    ok = loadBcrypt().compareSync(m.password, m.hash);
  } catch {
    ok = false; // a malformed hash matches nothing
  }
  parentPort!.postMessage({ id: m.id, ok });
});

// bcryptjs, Node-RED's own dependency (found beside node-red when this package has none of its own): the hash
// Node-RED's adminAuth and httpNodeAuth hold. Loaded by the main thread (hashing a password at start) and by the
// hash worker (every compare), so none of the ~100 ms compares holds the event loop that reads the audio sockets.
import path from 'node:path';

export interface Bcrypt { compareSync(p: string, h: string): boolean; hashSync(p: string, rounds?: number): string }
let bcrypt: Bcrypt | undefined;

export function loadBcrypt(): Bcrypt {
  if (bcrypt) return bcrypt;
  const bases = [__dirname];
  try { bases.push(path.dirname(require.resolve('node-red/package.json', { paths: [__dirname, process.cwd()] }))); } catch { /* none */ }
  for (const base of bases) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const m = require(require.resolve('bcryptjs', { paths: [base] }));
      bcrypt = (m.default ?? m) as Bcrypt;
      return bcrypt;
    } catch { /* next */ }
  }
  throw new Error('cannot find bcryptjs (it comes with Node-RED): install node-red or bcryptjs');
}

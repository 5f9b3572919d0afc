// Certificates for the TLS tests, made at test time by the openssl command line: a CA, a server certificate for
// 127.0.0.1/localhost signed by it, a client certificate signed by it, and a self-signed stranger.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export interface TestCerts {
  dir: string;
  caCert: string; caKey: string;
  serverCert: string; serverKey: string;
  clientCert: string; clientKey: string;
  strangerCert: string; strangerKey: string;
  /** File paths, for openssl s_client. */
  files: { ca: string; server: string; stranger: string };
  /** "AB:CD:…" as `openssl x509 -fingerprint -sha256` prints it. */
  serverFingerprint: string;
  strangerFingerprint: string;
  remove(): void;
}

function openssl(args: string[], cwd: string): string {
  return execFileSync('openssl', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(path.join(tmpdir(), 'xcast-tls-'));
  openssl(['req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=xcast test CA', '-days', '2'], dir);
  const signed = (name: string, cn: string, ext: string): void => {
    openssl(['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
    writeFileSync(path.join(dir, `${name}.ext`), ext);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`], dir);
  };
  signed('server', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  signed('client', 'xcast test client', 'extendedKeyUsage=clientAuth\n');
  openssl(['req', '-x509', ...EC, '-keyout', 'stranger.key', '-out', 'stranger.crt', '-subj', '/CN=localhost', '-days', '2',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], dir);
  const read = (f: string): string => readFileSync(path.join(dir, f), 'utf8');
  const fingerprint = (f: string): string => openssl(['x509', '-noout', '-fingerprint', '-sha256', '-in', f], dir).trim().replace(/^.*=/, '');
  return {
    dir,
    caCert: read('ca.crt'), caKey: read('ca.key'),
    serverCert: read('server.crt'), serverKey: read('server.key'),
    clientCert: read('client.crt'), clientKey: read('client.key'),
    strangerCert: read('stranger.crt'), strangerKey: read('stranger.key'),
    files: { ca: path.join(dir, 'ca.crt'), server: path.join(dir, 'server.crt'), stranger: path.join(dir, 'stranger.crt') },
    serverFingerprint: fingerprint('server.crt'),
    strangerFingerprint: fingerprint('stranger.crt'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

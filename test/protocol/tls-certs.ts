// The TLS test certificates (test/support/tls-certs.ts, made by openssl) as PEM text, as runtime/protocol takes them.
import { readFileSync } from 'node:fs';
import { makeTestCerts as makeCertFiles } from '../support/tls-certs';

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

export function makeTestCerts(): TestCerts {
  const c = makeCertFiles();
  const read = (f: string): string => readFileSync(f, 'utf8');
  return {
    dir: c.dir,
    caCert: read(c.caCert), caKey: read(c.caKey),
    serverCert: read(c.serverCert), serverKey: read(c.serverKey),
    clientCert: read(c.clientCert), clientKey: read(c.clientKey),
    strangerCert: read(c.strangerCert), strangerKey: read(c.strangerKey),
    files: { ca: c.caCert, server: c.serverCert, stranger: c.strangerCert },
    serverFingerprint: c.serverFingerprint,
    strangerFingerprint: c.strangerFingerprint,
    remove: c.remove,
  };
}

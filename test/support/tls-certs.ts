// Test support: a throw-away CA, a server certificate and a client certificate made by openssl (the referee, not our code).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestCerts {
  dir: string;
  caCert: string; caKey: string;
  serverCert: string; serverKey: string;
  clientCert: string; clientKey: string;
  /** A second CA that signed nothing here: trusting it alone trusts no certificate of ours. */
  otherCaCert: string;
  /** The server certificate's SHA-256 fingerprint, AB:CD:… */
  serverFingerprint: string;
  /** A self-signed certificate for 127.0.0.1 / localhost that no CA of ours signed (a stranger's server). */
  strangerCert: string; strangerKey: string;
  strangerFingerprint: string;
  /** Deletes the folder. */
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function newKeyAndCsr(cwd: string, name: string, cn: string): void {
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], cwd);
}

function selfSignedCa(cwd: string, name: string, cn: string): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${cn}`], cwd);
}

function sign(cwd: string, name: string, ext: string): void {
  fs.writeFileSync(path.join(cwd, `${name}.ext`), ext);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`], cwd);
}

/** Makes the certificates in a new temporary folder; `ips` go in the server certificate's subjectAltName beside 127.0.0.1 and localhost. */
export function makeTestCerts(ips: string[] = []): TestCerts {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xcast-certs-'));
  selfSignedCa(dir, 'ca', 'xcast test CA');
  selfSignedCa(dir, 'other-ca', 'some other CA');
  newKeyAndCsr(dir, 'server', 'xcast test server');
  const san = ['IP:127.0.0.1', 'DNS:localhost', ...ips.map((ip) => `IP:${ip}`)].join(',');
  sign(dir, 'server', `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  newKeyAndCsr(dir, 'client', 'xcast test client');
  sign(dir, 'client', 'extendedKeyUsage=clientAuth\n');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'stranger.key', '-out', 'stranger.crt',
    '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], dir);
  const f = (n: string) => path.join(dir, n);
  return {
    dir,
    caCert: f('ca.crt'), caKey: f('ca.key'),
    serverCert: f('server.crt'), serverKey: f('server.key'),
    clientCert: f('client.crt'), clientKey: f('client.key'),
    otherCaCert: f('other-ca.crt'),
    serverFingerprint: fingerprintOf(f('server.crt')),
    strangerCert: f('stranger.crt'), strangerKey: f('stranger.key'),
    strangerFingerprint: fingerprintOf(f('stranger.crt')),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** A certificate's SHA-256 fingerprint as openssl prints it ("sha256 Fingerprint=AB:CD:…"). */
export function fingerprintOf(cert: string): string {
  const out = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', cert], { encoding: 'utf8' });
  return out.trim().split('=').pop()!.toUpperCase();
}

// TLS settings from files, for the socket nodes and `xcast start --tls-cert/--tls-key`: read and checked up front,
// errors naming the setting; and the certificate fingerprint a client pins (StreamClientOptions.tls.fingerprint256).

import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';

export interface ServerTlsFiles {
  /** PEM certificate (chain) file. */
  certFile: string;
  /** PEM private key file. */
  keyFile: string;
  /** PEM CA file: with it, clients must present a certificate it signed (requestCert + rejectUnauthorized). */
  caFile?: string;
}

export interface ClientTlsFiles {
  /** PEM CA file to verify the server by (else the system's CAs, or a pin). */
  caFile?: string;
  /** Client certificate and key, for a server that requires one. */
  certFile?: string;
  keyFile?: string;
}

function read(file: string, field: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${field}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function certificate(pem: string, field: string, file: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new Error(`${field}: ${file} holds no PEM certificate`);
  }
}

/** The SHA-256 fingerprint of a PEM (or DER) certificate, "AB:CD:…" as `openssl x509 -fingerprint -sha256` prints it. */
export function certificateFingerprint256(cert: string | Buffer): string {
  return new X509Certificate(cert).fingerprint256;
}

/**
 * Reads a server's certificate, key and optional client CA; throws an Error naming the field (`certFile`, `keyFile`,
 * `caFile`, prefixed with `prefix`) when a file cannot be read, holds no certificate, or the key does not match.
 * With caFile, clients must present a certificate signed by it.
 */
export function loadServerTls(files: ServerTlsFiles, prefix = 'tls.'): tls.TlsOptions {
  const cert = read(files.certFile, `${prefix}certFile`);
  const key = read(files.keyFile, `${prefix}keyFile`);
  const x509 = certificate(cert, `${prefix}certFile`, files.certFile);
  const options: tls.TlsOptions = { cert, key };
  if (files.caFile !== undefined) {
    const ca = read(files.caFile, `${prefix}caFile`);
    certificate(ca, `${prefix}caFile`, files.caFile);
    Object.assign(options, { ca, requestCert: true, rejectUnauthorized: true });
  }
  try {
    tls.createSecureContext({ cert, key });
  } catch (err) {
    const reason = (err as { reason?: string }).reason ?? (err as Error).message;
    throw new Error(`${prefix}keyFile: ${files.keyFile} cannot be used with ${files.certFile}: ${reason}`);
  }
  if (Date.parse(x509.validTo) < Date.now()) throw new Error(`${prefix}certFile: ${files.certFile} expired on ${x509.validTo}`);
  return options;
}

/** Reads a client's CA and optional certificate + key (both or neither); errors name the field like loadServerTls. */
export function loadClientTls(files: ClientTlsFiles, prefix = 'tls.'): { ca?: string; cert?: string; key?: string } {
  const out: { ca?: string; cert?: string; key?: string } = {};
  if (files.caFile !== undefined) {
    out.ca = read(files.caFile, `${prefix}caFile`);
    certificate(out.ca, `${prefix}caFile`, files.caFile);
  }
  if ((files.certFile === undefined) !== (files.keyFile === undefined)) {
    throw new Error(`${prefix}${files.certFile === undefined ? 'certFile' : 'keyFile'}: required with ${prefix}${files.certFile === undefined ? 'keyFile' : 'certFile'}`);
  }
  if (files.certFile !== undefined && files.keyFile !== undefined) {
    out.cert = read(files.certFile, `${prefix}certFile`);
    out.key = read(files.keyFile, `${prefix}keyFile`);
    certificate(out.cert, `${prefix}certFile`, files.certFile);
    try {
      tls.createSecureContext({ cert: out.cert, key: out.key });
    } catch (err) {
      const reason = (err as { reason?: string }).reason ?? (err as Error).message;
      throw new Error(`${prefix}keyFile: ${files.keyFile} cannot be used with ${files.certFile}: ${reason}`);
    }
  }
  return out;
}

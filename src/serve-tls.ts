// strata serve's TLS files: the certificate (chain) and key read and checked
// as a pair at startup, so a file that cannot be read, is not PEM, or a key
// that is not the certificate's fails with the file's name instead of at the
// first handshake. SIGHUP reads them again (a renewed certificate needs no
// restart); a pair that fails then leaves the one in use.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { StrataError } from '../base/errors.js';

/**
 * How long a connection may take to finish its TLS handshake (Node's default
 * is 120 s): a client that connects and sends nothing holds a socket until
 * then, and the HTTP timeouts start only after the handshake.
 */
export const TLS_HANDSHAKE_MS = 10_000;

export interface TlsFiles {
  cert: string;
  key: string;
}

export interface TlsPair {
  cert: Buffer;
  key: Buffer;
  /** The first certificate of the chain: the server's own. */
  leaf: X509Certificate;
}

/** --tls-cert and --tls-key: both or neither. */
export function tlsFiles(cert: string | undefined, key: string | undefined): TlsFiles | undefined {
  if (cert === undefined && key === undefined) return undefined;
  if (key === undefined) throw new StrataError('usage', '--tls-cert needs --tls-key (the certificate’s private key)');
  if (cert === undefined) throw new StrataError('usage', '--tls-key needs --tls-cert (the certificate, or its chain, in PEM)');
  return { cert, key };
}

async function readPem(flag: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new StrataError('usage', `${flag} ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
}

/** Reads and checks the pair; every failure is a usage error naming the file. */
export async function readTlsPair(files: TlsFiles): Promise<TlsPair> {
  const cert = await readPem('--tls-cert', files.cert);
  const key = await readPem('--tls-key', files.key);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (e) {
    throw new StrataError('usage', `--tls-cert ${files.cert} is not a PEM certificate`, { cause: e });
  }
  try {
    createPrivateKey(key);
  } catch (e) {
    throw new StrataError('usage', `--tls-key ${files.key} is not a PEM private key (an encrypted one cannot be used: the server has no passphrase)`, {
      cause: e,
    });
  }
  try {
    createSecureContext({ cert, key });
  } catch (e) {
    throw new StrataError('usage', `--tls-key ${files.key} is not the key of the certificate in --tls-cert ${files.cert} (${(e as Error).message})`, {
      cause: e,
    });
  }
  return { cert, key, leaf };
}

/** One line on the certificate in use, for the log. */
export function describeCertificate(leaf: X509Certificate): string {
  return `${leaf.subject.replace(/\n/g, ', ')}, valid until ${leaf.validTo}`;
}

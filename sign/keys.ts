// Signing keys: ECDSA P-256, the scheme every cosign version verifies
// (SIGNATURE_SPEC.md "Signature Schemes"). The private key is an unencrypted
// PKCS#8 PEM file readable by its owner only; the public key an SPKI PEM file,
// which `cosign verify --key` and `openssl dgst -verify` take as it is.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { StrataError } from '../base/errors.js';
import { decryptCosignKey, isCosignEncrypted } from './cosign-key.js';

export interface KeyFiles {
  privateKey: string;
  publicKey: string;
}

/** Writes PREFIX.key (mode 0600) and PREFIX.pub; refuses to overwrite either. */
export function generateKeyFiles(prefix: string): KeyFiles {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const files = { privateKey: `${prefix}.key`, publicKey: `${prefix}.pub` };
  const write = (path: string, text: string, mode: number) => {
    try {
      writeFileSync(path, text, { mode, flag: 'wx' });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new StrataError('output', code === 'EEXIST' ? `${path} exists; keygen does not overwrite keys` : `cannot write ${path}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  };
  write(files.privateKey, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600);
  write(files.publicKey, publicKey.export({ type: 'spki', format: 'pem' }).toString(), 0o644);
  return files;
}

function readKeyFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new StrataError('usage', `cannot read key ${path}: ${(e as Error).message}`, { cause: e });
  }
}

function requireP256(key: KeyObject, path: string): KeyObject {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new StrataError('usage', `${path} is not an ECDSA P-256 key (Strata signs with ECDSA P-256 and SHA-256, as cosign does)`);
  }
  return key;
}

/**
 * A PKCS#8 (or SEC1) PEM private key, or cosign's encrypted key file with its
 * password (COSIGN_PASSWORD, or what the caller prompted for). Other encrypted
 * PEM keys are refused.
 */
export function loadPrivateKey(path: string, password: string | undefined = process.env.COSIGN_PASSWORD): KeyObject {
  const text = readKeyFile(path);
  if (isCosignEncrypted(text)) {
    if (password === undefined)
      throw new StrataError('usage', `${path} is a cosign encrypted key: set COSIGN_PASSWORD (empty for none), or run on a terminal to be asked`);
    return requireP256(decryptCosignKey(text, password, path), path);
  }
  if (text.includes('ENCRYPTED'))
    throw new StrataError('usage', `${path} is encrypted; Strata reads unencrypted PKCS#8 PEM keys (strata keygen writes one) and cosign's encrypted keys`);
  try {
    return requireP256(createPrivateKey(text), path);
  } catch (e) {
    if (e instanceof StrataError) throw e;
    throw new StrataError('usage', `${path} is not a PEM private key`, { cause: e });
  }
}

/** An SPKI PEM public key. A private key file is refused: it means the two files were mixed up. */
export function loadPublicKey(path: string): KeyObject {
  const text = readKeyFile(path);
  if (text.includes('PRIVATE KEY')) throw new StrataError('usage', `${path} holds a private key; verify takes the public key (PREFIX.pub)`);
  try {
    return requireP256(createPublicKey(text), path);
  } catch (e) {
    if (e instanceof StrataError) throw e;
    throw new StrataError('usage', `${path} is not a PEM public key`, { cause: e });
  }
}

/** The bundle's key hint: base64 of the SHA-256 of the SPKI DER, as sigstore-go names keys. */
export function keyHint(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');
}

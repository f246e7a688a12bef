// A Nix binary-cache signing key, as `nix key generate-secret` and
// `nix-store --generate-binary-cache-key` write it: `NAME:BASE64` of libsodium's
// 64-byte ed25519 secret key, which is the 32-byte seed then the public key.
// The public key (`NAME:BASE64` of those last 32 bytes) is what substituters trust.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { StrataError } from '../base/errors.js';

export interface CacheKey {
  /** The key's name: what a narinfo's `Sig:` line starts with. */
  name: string;
  /** `NAME:BASE64(public key)`, for trusted-public-keys. */
  publicKey: string;
}

/** PKCS#8 DER of an ed25519 key, up to its 32-byte seed (RFC 8410). */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * The name and public key of a secret key's text. The public half is checked
 * against the seed, so a truncated or hand-edited key is refused here rather
 * than signing narinfos nothing can verify.
 */
export function parseSecretKey(text: string): CacheKey {
  const m = /^([^:\s]+):([A-Za-z0-9+/]+={0,2})$/.exec(text.trim());
  if (!m) throw new Error('not a Nix secret key (NAME:BASE64, as nix key generate-secret writes)');
  const name = m[1]!;
  const bytes = Buffer.from(m[2]!, 'base64');
  if (bytes.length !== 64) throw new Error(`not a Nix secret key: ${bytes.length} bytes, not an ed25519 secret key's 64`);
  const seed = bytes.subarray(0, 32);
  const pub = bytes.subarray(32);
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const derived = Buffer.from(createPublicKey(key).export({ format: 'jwk' }).x!, 'base64url');
  if (!derived.equals(pub)) throw new Error('not a Nix secret key: its public half does not belong to its seed');
  return { name, publicKey: `${name}:${pub.toString('base64')}` };
}

/** The key in `file`; an unreadable or malformed one is a usage error naming `flag`. */
export function readSecretKey(flag: string, file: string): CacheKey {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new StrataError('usage', `${flag} ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
  try {
    return parseSecretKey(text);
  } catch (e) {
    throw new StrataError('usage', `${flag} ${file}: ${(e as Error).message}`, { cause: e });
  }
}

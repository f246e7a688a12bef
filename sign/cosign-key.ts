// cosign's encrypted private keys, so a team moves from cosign without new
// keys: `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----` (cosign 2.x) and the
// older `ENCRYPTED COSIGN PRIVATE KEY` hold the same JSON — scrypt parameters
// and salt, a NaCl secretbox (XSalsa20-Poly1305) nonce and the ciphertext of
// the PKCS#8 DER key — as sigstore/pkg/cryptoutils writes it. The password is
// never printed; a wrong one fails secretbox's authentication, said in one line.
import { createPrivateKey, scryptSync, type KeyObject } from 'node:crypto';
import { xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import { z } from 'zod';
import { StrataError } from '../base/errors.js';

const HEADERS = ['ENCRYPTED SIGSTORE PRIVATE KEY', 'ENCRYPTED COSIGN PRIVATE KEY'];
/** scrypt's N as cosign writes it (32768 or 65536); more would let a key file ask for gigabytes. */
const MAX_N = 2 ** 20;

const envelope = z.object({
  kdf: z.object({
    name: z.literal('scrypt'),
    params: z.object({ N: z.number().int().min(2).max(MAX_N), r: z.number().int().min(1).max(32), p: z.number().int().min(1).max(16) }),
    salt: z.string(),
  }),
  cipher: z.object({ name: z.literal('nacl/secretbox'), nonce: z.string() }),
  ciphertext: z.string(),
});

/** Whether `pem` is one of cosign's encrypted key files. */
export function isCosignEncrypted(pem: string): boolean {
  return HEADERS.some((h) => pem.includes(`-----BEGIN ${h}-----`));
}

export function decryptCosignKey(pem: string, password: string, path: string): KeyObject {
  const body = pem
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('-----'))
    .join('');
  let parsed: z.infer<typeof envelope>;
  try {
    parsed = envelope.parse(JSON.parse(Buffer.from(body, 'base64').toString('utf8')));
  } catch {
    throw new StrataError('usage', `${path} is not a cosign encrypted key (scrypt and nacl/secretbox, as cosign generate-key-pair writes)`);
  }
  const { N, r, p } = parsed.kdf.params;
  const key = scryptSync(Buffer.from(password, 'utf8'), Buffer.from(parsed.kdf.salt, 'base64'), 32, { N, r, p, maxmem: 128 * N * r * p + 2 ** 24 });
  let der: Uint8Array;
  try {
    der = xsalsa20poly1305(key, Buffer.from(parsed.cipher.nonce, 'base64')).decrypt(Buffer.from(parsed.ciphertext, 'base64'));
  } catch {
    throw new StrataError('usage', `cannot decrypt ${path}: wrong password (from COSIGN_PASSWORD or the prompt)`);
  }
  return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
}

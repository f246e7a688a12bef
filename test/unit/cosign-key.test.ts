// cosign's encrypted key files, as cosign generate-key-pair wrote them (copied
// from public test fixtures: test/fixtures/cosign/README.md says where from):
// each decrypts to an ECDSA P-256 key, the legacy one to the key whose public
// half cosign wrote beside it; a wrong password is one line, exit 2's code.
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { StrataError } from '../../base/errors.js';
import { loadPrivateKey, loadPublicKey } from '../../sign/keys.js';
import { repoRoot } from '../helpers/strata.js';

const fixture = (name: string) => join(repoRoot, 'test', 'fixtures', 'cosign', name);
const spki = (k: ReturnType<typeof createPublicKey>) => k.export({ type: 'spki', format: 'der' }).toString('base64');

describe("cosign's encrypted private keys", () => {
  it('ENCRYPTED COSIGN PRIVATE KEY (empty password): the key whose public half cosign wrote beside it', () => {
    const key = loadPrivateKey(fixture('cosign-legacy.key'), '');
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(spki(createPublicKey(key)), spki(loadPublicKey(fixture('cosign-legacy.pub'))));
  });
  it('ENCRYPTED SIGSTORE PRIVATE KEY (cosign 2.x, scrypt N=65536)', () => {
    assert.equal(loadPrivateKey(fixture('cosign-sigstore.key'), '').asymmetricKeyDetails?.namedCurve, 'prime256v1');
  });
  it('a key with a password opens with that password only', () => {
    const password = readFileSync(fixture('cosign-password.password'), 'utf8');
    assert.equal(loadPrivateKey(fixture('cosign-password.key'), password).asymmetricKeyType, 'ec');
    assert.throws(
      () => loadPrivateKey(fixture('cosign-password.key'), 'not it'),
      (e: unknown) => e instanceof StrataError && e.code === 'usage' && /wrong password/.test(e.message) && !e.message.includes('not it'),
    );
  });
  it('without a password and no terminal: says to set COSIGN_PASSWORD', () => {
    assert.throws(() => loadPrivateKey(fixture('cosign-legacy.key'), undefined), /set COSIGN_PASSWORD/);
  });
});

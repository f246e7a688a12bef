// Nix binary-cache keys: the public key Strata derives from a secret key file is
// the one Nix itself wrote beside it (fixtures captured with Nix 2.8.0, see
// test/fixtures/nix/SOURCES.md); malformed or unreadable files are usage errors.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { StrataError } from '../../base/errors.js';
import { parseSecretKey, readSecretKey } from '../../nix/cache-key.js';
import { removeDir, repoRoot, tempDir } from '../helpers/strata.js';

const fixture = (name: string) => join(repoRoot, 'test', 'fixtures', 'nix', 'cache-keys', name);

describe('Nix binary-cache secret keys', () => {
  for (const name of ['strata-test-1', 'cache.example.org-2']) {
    it(`${name}: the name, and the public key Nix wrote`, () => {
      const key = readSecretKey('--nix-cache-key', fixture(`${name}.sec`));
      assert.equal(key.name, name);
      assert.equal(key.publicKey, readFileSync(fixture(`${name}.pub`), 'utf8').trim());
    });
  }

  it('refuses text that is not NAME:BASE64 of 64 bytes', () => {
    const good = readFileSync(fixture('strata-test-1.sec'), 'utf8');
    const [name, b64] = good.split(':') as [string, string];
    const bytes = Buffer.from(b64, 'base64');
    assert.throws(() => parseSecretKey(''), /not a Nix secret key/);
    assert.throws(() => parseSecretKey(b64), /not a Nix secret key/);
    // The public key file is 32 bytes: a common mix-up.
    assert.throws(() => parseSecretKey(readFileSync(fixture('strata-test-1.pub'), 'utf8')), /32 bytes/);
    assert.throws(() => parseSecretKey(`${name}:${bytes.subarray(0, 63).toString('base64')}`), /63 bytes/);
  });

  it('refuses a key whose public half is not its seed’s', () => {
    const [name, b64] = readFileSync(fixture('strata-test-1.sec'), 'utf8').split(':') as [string, string];
    const other = Buffer.from(readFileSync(fixture('cache.example.org-2.sec'), 'utf8').split(':')[1]!, 'base64');
    const mixed = Buffer.concat([Buffer.from(b64, 'base64').subarray(0, 32), other.subarray(32)]);
    assert.throws(() => parseSecretKey(`${name}:${mixed.toString('base64')}`), /does not belong to its seed/);
  });

  it('an unreadable or malformed file is a usage error naming the flag and file', () => {
    const dir = tempDir();
    try {
      const bad = join(dir, 'bad.sec');
      writeFileSync(bad, 'not a key\n');
      for (const file of [join(dir, 'missing.sec'), bad]) {
        assert.throws(
          () => readSecretKey('--nix-cache-key', file),
          (e: unknown) => e instanceof StrataError && e.code === 'usage' && e.message.startsWith(`--nix-cache-key ${file}: `) && !e.message.includes('\n'),
        );
      }
    } finally {
      removeDir(dir);
    }
  });
});

// Moving from cosign without new keys: strata sign --key takes cosign's
// encrypted key file (COSIGN_PASSWORD), and strata verify --key takes the
// public key cosign wrote beside it. Against a real registry (distribution 2.8).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, test } from 'vitest';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { expectFailure, expectOk, nixEnv, repoRoot, runStrata } from '../helpers/strata.js';

const fixture = (name: string) => join(repoRoot, 'test', 'fixtures', 'cosign', name);
let reg: Registry;
let image: string;
beforeAll(async () => {
  reg = await startRegistry();
  image = `${reg.host}/cosign/app:v1`;
  expectOk(await runStrata(['push', './examples/golden#default', image, '-q']));
});
afterAll(async () => reg?.stop());

test("a key cosign generated signs (COSIGN_PASSWORD), and cosign's public key verifies it", async () => {
  const env = { ...nixEnv(), COSIGN_PASSWORD: '' };
  expectOk(await runStrata(['sign', image, '--key', fixture('cosign-legacy.key')], { env }));
  const v = await runStrata(['verify', image, '--key', fixture('cosign-legacy.pub')]);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^strata: verified .*: key /m);
});

test('a password-protected cosign key: the right password signs; a wrong one is exit 2, and the password is never printed', async () => {
  const password = readFileSync(fixture('cosign-password.password'), 'utf8');
  expectOk(await runStrata(['sign', image, '--key', fixture('cosign-password.key')], { env: { ...nixEnv(), COSIGN_PASSWORD: password } }));
  const wrong = await runStrata(['push', './examples/golden#default', `${reg.host}/cosign/other:v1`, '--sign', '--key', fixture('cosign-password.key'), '-q'], {
    env: { ...nixEnv(), COSIGN_PASSWORD: 'hunter2-not-it' },
  });
  expectFailure(wrong, 2, /cannot decrypt .*cosign-password\.key: wrong password/);
  assert.ok(!wrong.stderr.includes('hunter2') && !wrong.stdout.includes('hunter2'));
  // Checked before the push: nothing was uploaded under that name.
  assert.equal((await fetch(`${reg.url}/v2/cosign/other/tags/list`)).status, 404);
});

// Signed SBOM and provenance attestations: `strata sign --attest` attaches
// SPDX, CycloneDX and SLSA statements of the installable as bundle referrers,
// only when the installable makes the signed image; verify still counts only
// the signature.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { listReferrers } from '../../registry/referrers.js';
import { RegistrySession } from '../../registry/session.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { expectFailure, expectOk, prepareHello, removeDir, runStrata, tempDir } from '../helpers/strata.js';

const GOLDEN = './examples/golden#default';
const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

describe('strata sign --attest', () => {
  let reg: Registry;
  const dir = tempDir();
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => {
    await reg?.stop();
    removeDir(dir);
  });

  test('SPDX, CycloneDX and SLSA provenance are signed and attached; verify counts the one signature', async () => {
    const image = `${reg.host}/attest/golden`;
    const digest = expectOk(await runStrata(['push', GOLDEN, `${image}:v1`, '-q']));
    expectOk(await runStrata(['keygen', '-o', join(dir, 'k')]));
    const r = await runStrata(['sign', `${image}:v1`, '--key', join(dir, 'k.key'), '--attest', GOLDEN]);
    expectOk(r);
    assert.equal((r.stderr.match(/^strata: attested /gm) ?? []).length, 3, r.stderr);
    const repo = { session: RegistrySession.for(reg.host, {}), name: 'attest/golden' };
    const referrers = await listReferrers(repo, digest as `sha256:${string}`, BUNDLE);
    const types = referrers.manifests.map((m) => m.annotations?.['dev.sigstore.bundle.predicateType']).sort();
    assert.deepEqual(types, [
      'https://cyclonedx.org/bom',
      'https://sigstore.dev/cosign/sign/v1',
      'https://slsa.dev/provenance/v1',
      'https://spdx.dev/Document/v2.3',
    ]);
    const v = await runStrata(['verify', `${image}:v1`, '--key', join(dir, 'k.pub')]);
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.stdout.trim().split('\n').length, 1, v.stdout);
  });

  test('an installable that makes another image is refused, and nothing is attached', async () => {
    const image = `${reg.host}/attest/other`;
    const digest = expectOk(await runStrata(['push', GOLDEN, `${image}:v1`, '-q']));
    expectOk(await runStrata(['keygen', '-o', join(dir, 'k2')]));
    const hello = prepareHello(join(dir, 'hello'));
    expectFailure(
      await runStrata(['sign', `${image}:v1`, '--key', join(dir, 'k2.key'), '--attest', `${hello}#image`]),
      2,
      /makes the image sha256:[0-9a-f]{64}, not sha256:/,
    );
    const repo = { session: RegistrySession.for(reg.host, {}), name: 'attest/other' };
    assert.deepEqual((await listReferrers(repo, digest as `sha256:${string}`)).manifests, []);
  });
});

// Referrers against registries without the referrers API (distribution 2.8 and
// a GHCR-like front, which answers 404): an artifact whose subject is an image
// lands in the sha256-<hex> fallback index and is listed back; skopeo sees the tag.
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { putBlob } from '../../sign/store.js';
import { attachReferrer, listReferrers } from '../../registry/referrers.js';
import { RegistrySession } from '../../registry/session.js';
import { canonicalJson } from '../../base/canonical.js';
import { startGhcrFront, type GhcrFront } from '../helpers/ghcr-front.js';
import { skopeo } from '../helpers/podman.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { lastLine, runStrata } from '../helpers/strata.js';

const ARTIFACT = 'application/vnd.example.sbom+json';

async function attachAndList(registry: string, name: string, env: NodeJS.ProcessEnv = {}): Promise<void> {
  const pushed = await runStrata(['push', './examples/golden#default', `${registry}/${name}:v1`, '-q'], {
    env: { ...process.env, ...env, NIX_CONFIG: 'substituters =\nexperimental-features = nix-command flakes' },
  });
  assert.equal(pushed.code, 0, pushed.stderr);
  const subject = lastLine(pushed.stdout) as `sha256:${string}`;
  const session = RegistrySession.for(registry, { credentials: { env: { ...process.env, ...env } } });
  const repo = { session, name };
  const empty = await putBlob(repo, Buffer.from('{}'));
  const layer = await putBlob(repo, Buffer.from('{"spdxVersion":"SPDX-2.3"}'));
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: ARTIFACT,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', ...empty },
    layers: [{ mediaType: 'application/spdx+json', ...layer }],
    subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subject, size: 0 },
  };
  const bytes = Buffer.from(canonicalJson(manifest));
  const attached = await attachReferrer(repo, { bytes, mediaType: manifest.mediaType, artifactType: ARTIFACT }, subject);
  assert.equal(attached.via, 'tag');
  // Twice: the index does not grow.
  await attachReferrer(repo, { bytes, mediaType: manifest.mediaType, artifactType: ARTIFACT }, subject);
  const listed = await listReferrers(repo, subject, ARTIFACT);
  assert.equal(listed.api, false);
  assert.deepEqual(
    listed.manifests.map((m) => m.digest),
    [attached.digest],
  );
  assert.equal(listed.manifests[0]!.artifactType, ARTIFACT);
  assert.deepEqual((await listReferrers(repo, subject, 'application/other')).manifests, []);
}

describe('referrers without a referrers API', () => {
  let reg: Registry;
  let front: GhcrFront;
  beforeAll(async () => {
    reg = await startRegistry();
    front = await startGhcrFront(reg.url, { users: { octocat: 'ghp_refs' } });
  });
  afterAll(async () => {
    await front?.stop();
    await reg?.stop();
  });

  test('distribution 2.8: the fallback tag index, readable by skopeo', async () => {
    await attachAndList(reg.host, 'refs/app');
    const tags = JSON.parse(await skopeo(['list-tags', '--tls-verify=false', `docker://${reg.host}/refs/app`])) as { Tags: string[] };
    assert.ok(
      tags.Tags.some((t) => /^sha256-[a-f0-9]{64}$/.test(t)),
      tags.Tags.join(' '),
    );
  });

  test('a GHCR-like registry (referrers answer 404): the same fallback', async () => {
    await attachAndList(front.host, 'octocat/refs', { GITHUB_TOKEN: 'ghp_refs', GITHUB_ACTOR: 'octocat', STRATA_GITHUB_TOKEN_HOSTS: front.host });
    assert.ok(front.counters.referrers >= 1);
  });
});

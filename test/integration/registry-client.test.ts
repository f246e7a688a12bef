// More of the registry client against real registries: multi-platform indexes,
// copies between two registries, OAuth2 identity tokens, credential helpers,
// token renewal after a 401, and a registry refusing a damaged blob.
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { canonicalJson } from '../../base/canonical.js';
import { sha256 } from '../../base/hash-tap.js';
import { blobSize } from '../../registry/blobs.js';
import { RegistrySession } from '../../registry/session.js';
import { startGhcrFront } from '../helpers/ghcr-front.js';
import { skopeo } from '../helpers/podman.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { expectOk, nixEnv, removeDir, runStrata, tempDir } from '../helpers/strata.js';

const GOLDEN = './examples/golden#default';

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...nixEnv(), HOME: tempDir('strata-home-'), ...extra };
}

interface Index {
  manifests: { digest: string; mediaType: string; size: number; platform?: { architecture: string; os: string }; annotations?: Record<string, string> }[];
}

/** An OCI layout holding the golden image for amd64 and arm64 and an index of both, tagged 'multi'. */
async function multiPlatformLayout(dir: string): Promise<{ index: string; amd64: string; arm64: string }> {
  const amd64 = expectOk(await runStrata(['build', GOLDEN, '-o', `oci:${dir}:amd64`, '--system', 'x86_64-linux']));
  const arm64 = expectOk(await runStrata(['build', GOLDEN, '-o', `oci:${dir}:arm64`, '--system', 'aarch64-linux']));
  const indexJson = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Index;
  const entry = (digest: string, architecture: string) => {
    const d = indexJson.manifests.find((m) => m.digest === digest)!;
    return { mediaType: d.mediaType, digest, size: d.size, platform: { architecture, os: 'linux' } };
  };
  const bytes = Buffer.from(
    canonicalJson({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [entry(amd64, 'amd64'), entry(arm64, 'arm64')] }),
  );
  const digest = sha256(bytes);
  writeFileSync(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
  indexJson.manifests.push({
    mediaType: 'application/vnd.oci.image.index.v1+json',
    digest,
    size: bytes.length,
    annotations: { 'org.opencontainers.image.ref.name': 'multi' },
  });
  writeFileSync(join(dir, 'index.json'), JSON.stringify(indexJson));
  return { index: digest, amd64, arm64 };
}

describe('copies between registries and layouts', () => {
  let a: Registry;
  let b: Registry;
  beforeAll(async () => {
    [a, b] = await Promise.all([startRegistry(), startRegistry()]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  test('a multi-platform index is copied whole, and pull --platform takes one image of it', async () => {
    const dir = tempDir();
    const m = await multiPlatformLayout(join(dir, 'layout'));
    assert.equal(expectOk(await runStrata(['copy', `oci:${dir}/layout:multi`, `docker://${a.host}/multi:1`, '-q'])), m.index);
    const raw = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${a.host}/multi:1`])) as Index;
    assert.deepEqual(
      raw.manifests.map((x) => x.digest),
      [m.amd64, m.arm64],
    );
    // skopeo picks the arm64 image out of the index Strata pushed.
    const arm = JSON.parse(await skopeo(['inspect', '--override-arch', 'arm64', '--tls-verify=false', `docker://${a.host}/multi:1`])) as {
      Digest: string;
      Architecture: string;
    };
    assert.equal(arm.Architecture, 'arm64');
    assert.equal(expectOk(await runStrata(['pull', `${a.host}/multi:1`, '--platform', 'linux/arm64', '-o', `oci:${dir}/arm`, '-q'])), m.arm64);
    assert.equal(expectOk(await runStrata(['pull', `${a.host}/multi:1`, '-o', `oci:${dir}/all`, '-q'])), m.index);
    const r = await runStrata(['pull', `${a.host}/multi:1`, '--platform', 'linux/riscv64', '-o', `oci:${dir}/none`, '-q']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no linux\/riscv64 image/);
    removeDir(dir);
  });

  test('registry to registry: the same digest, every blob streamed across', async () => {
    const digest = expectOk(await runStrata(['push', GOLDEN, `${a.host}/src:1`, '-q']));
    const r = await runStrata(['copy', `docker://${a.host}/src:1`, `docker://${b.host}/dst:1`, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { digest: string; blobs: { action: string }[] };
    assert.equal(j.digest, digest);
    assert.ok(j.blobs.every((x) => x.action === 'uploaded'));
    assert.equal((JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${b.host}/dst:1`])) as { Digest: string }).Digest, digest);
    // Within one registry the blobs are mounted, not streamed.
    const same = await runStrata(['copy', `docker://${a.host}/src:1`, `docker://${a.host}/elsewhere:1`, '--json']);
    assert.ok(
      (JSON.parse(same.stdout) as { blobs: { action: string }[] }).blobs.every((x) => x.action === 'mounted'),
      same.stdout,
    );
  });

  test("push and copy to REPO:TAG --tag T write both tags, as the README's push example says", async () => {
    const tags = async (repo: string) =>
      (JSON.parse(await skopeo(['list-tags', '--tls-verify=false', `docker://${a.host}/${repo}`])) as { Tags: string[] }).Tags.sort();
    const digest = expectOk(await runStrata(['push', GOLDEN, `${a.host}/both:1.2`, '--tag', 'latest', '-q']));
    assert.deepEqual(await tags('both'), ['1.2', 'latest']);
    assert.equal(expectOk(await runStrata(['copy', `docker://${a.host}/both:1.2`, `docker://${a.host}/copied:2.0`, '--tag', 'stable', '-q'])), digest);
    assert.deepEqual(await tags('copied'), ['2.0', 'stable']);
    // Without a tag in the reference, --tag alone names the image, as before.
    expectOk(await runStrata(['push', GOLDEN, `${a.host}/only`, '--tag', 'v1', '-q']));
    assert.deepEqual(await tags('only'), ['v1']);
  });

  test('a registry refusing a damaged blob (DIGEST_INVALID): exit 7, and no tag', async () => {
    const dir = tempDir();
    expectOk(await runStrata(['build', GOLDEN, '-o', `oci:${dir}/l:t`]));
    const blobs = join(dir, 'l', 'blobs', 'sha256');
    const top = (JSON.parse(readFileSync(join(dir, 'l', 'index.json'), 'utf8')) as Index).manifests[0]!.digest;
    const manifest = JSON.parse(readFileSync(join(blobs, top.slice(7)), 'utf8')) as { layers: { digest: string }[] };
    const layer = join(blobs, manifest.layers[0]!.digest.slice(7));
    const bytes = readFileSync(layer);
    bytes[0] = bytes[0]! ^ 1;
    writeFileSync(layer, bytes);
    // A cache of its own: with the blob locations of the other tests' pushes, Strata would mount the
    // registry's good copy of this digest instead of uploading the damaged bytes (and rightly succeed).
    const r = await runStrata(['copy', `oci:${dir}/l:t`, `docker://${a.host}/damaged:t`, '-q'], { env: { ...nixEnv(), STRATA_CACHE_DIR: join(dir, 'cache') } });
    assert.equal(r.code, 7, r.stderr);
    assert.match(r.stderr, /DIGEST_INVALID|digest/i);
    await assert.rejects(skopeo(['inspect', '--tls-verify=false', `docker://${a.host}/damaged:t`]));
    removeDir(dir);
  });
});

describe('credentials in practice', () => {
  test('an identity token in the docker config is exchanged by the OAuth2 refresh grant', async () => {
    const reg = await startRegistry({ auth: 'token', users: { ci: 'pw' } });
    try {
      const t = reg.token!;
      const res = await fetch(`${t.realm}?service=${encodeURIComponent(t.service)}&offline_token=true&account=ci`, {
        headers: { authorization: `Basic ${Buffer.from('ci:pw').toString('base64')}` },
      });
      const refresh = ((await res.json()) as { refresh_token: string }).refresh_token;
      assert.ok(refresh);
      const cfg = tempDir();
      writeFileSync(join(cfg, 'config.json'), JSON.stringify({ auths: { [reg.host]: { identitytoken: refresh } } }));
      expectOk(await runStrata(['push', GOLDEN, `${reg.host}/idtoken:1`, '-q'], { env: env({ DOCKER_CONFIG: cfg }) }));
      assert.ok(t.counters.oauth >= 1);
    } finally {
      await reg.stop();
    }
  });

  test('a docker-credential helper named in credHelpers supplies the password', async () => {
    const reg = await startRegistry({ auth: 'htpasswd', users: { helped: 'from-helper-pw' } });
    try {
      const bin = tempDir();
      const helper = join(bin, 'docker-credential-strata-test');
      writeFileSync(
        helper,
        `#!/bin/sh\nread host\n[ "$host" = "${reg.host}" ] || { echo "credentials not found in native keychain"; exit 1; }\necho '{"ServerURL":"'$host'","Username":"helped","Secret":"from-helper-pw"}'\n`,
      );
      chmodSync(helper, 0o755);
      const cfg = tempDir();
      writeFileSync(join(cfg, 'config.json'), JSON.stringify({ credHelpers: { [reg.host]: 'strata-test' } }));
      const r = await runStrata(['push', GOLDEN, `${reg.host}/helped:1`, '-q'], { env: env({ DOCKER_CONFIG: cfg, PATH: `${bin}:${process.env.PATH}` }) });
      expectOk(r);
      assert.doesNotMatch(r.stderr, /from-helper-pw/);
    } finally {
      await reg.stop();
    }
  });

  test('a revoked token is replaced after the 401, and the request goes through', async () => {
    const reg = await startRegistry();
    const front = await startGhcrFront(reg.url, { users: { octocat: 'ghp_renew' } });
    try {
      expectOk(
        await runStrata(['push', GOLDEN, `${front.host}/octocat/renew:1`, '-q'], {
          env: env({ GITHUB_TOKEN: 'ghp_renew', GITHUB_ACTOR: 'octocat', STRATA_GITHUB_TOKEN_HOSTS: front.host }),
        }),
      );
      const manifest = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/octocat/renew:1`])) as {
        config: { digest: `sha256:${string}` };
      };
      const session = RegistrySession.for(front.host, {
        credentials: { env: { ...process.env, GITHUB_TOKEN: 'ghp_renew', GITHUB_ACTOR: 'octocat', STRATA_GITHUB_TOKEN_HOSTS: front.host } },
      });
      const repo = { session, name: 'octocat/renew' };
      assert.ok((await blobSize(repo, manifest.config.digest)) !== undefined);
      const before = front.counters.userTokens;
      front.revokeTokens();
      assert.ok((await blobSize(repo, manifest.config.digest)) !== undefined);
      assert.equal(front.counters.userTokens, before + 1, 'one new token after the 401');
    } finally {
      await front.stop();
      await reg.stop();
    }
  });
});

// Pushing to a real registry (CNCF distribution 2.8) and reading back with
// independent clients (skopeo, podman): plain, with htpasswd, with Bearer
// tokens, through a GHCR-like front, and through a proxy that injects faults.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { readGolden } from '../../conformance/reproducibility/golden.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startGhcrFront, type GhcrFront } from '../helpers/ghcr-front.js';
import { podmanPull, skopeo } from '../helpers/podman.js';
import { randomLayout } from '../helpers/random-layout.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { expectFailure, expectOk, nixEnv, prepareHello, removeDir, runStrata, tempDir } from '../helpers/strata.js';

const GOLDEN = './examples/golden#default';
const GOLDEN_DIGEST = readGolden().cases['golden#default']!.manifest!;

/** A fresh layer cache: what a new CI runner has. */
function freshEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...nixEnv(), STRATA_CACHE_DIR: tempDir('strata-cache-'), HOME: tempDir('strata-home-'), ...extra };
}

describe('push to a registry without auth', () => {
  let reg: Registry;
  let proxy: FaultProxy;
  beforeAll(async () => {
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.url);
  });
  afterAll(async () => {
    await proxy?.stop();
    await reg?.stop();
  });

  test('an installable pushed from the store has the golden digest, and skopeo and podman read it back', async () => {
    const digest = expectOk(await runStrata(['push', GOLDEN, `${reg.host}/golden:v1`, '--tag', 'v1', '--tag', 'also', '-q']));
    assert.equal(digest, GOLDEN_DIGEST);
    const inspect = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/golden:also`])) as { Digest: string };
    assert.equal(inspect.Digest, GOLDEN_DIGEST);
    const back = tempDir();
    await skopeo(['copy', '--src-tls-verify=false', `docker://${reg.host}/golden:v1`, `oci:${back}:v1`]);
    const index = JSON.parse(readFileSync(join(back, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(index.manifests[0]!.digest, GOLDEN_DIGEST);
    const pulled = await podmanPull(`${reg.host}/golden:v1`);
    assert.equal(pulled.digest, GOLDEN_DIGEST);
    removeDir(back);
  });

  test('a re-push of an unchanged image sends no blob bytes, also from a fresh runner with an empty cache', async () => {
    expectOk(await runStrata(['push', GOLDEN, `${proxy.host}/repush:v1`, '-q']));
    for (const env of [nixEnv(), freshEnv()]) {
      proxy.reset();
      const digest = expectOk(await runStrata(['push', GOLDEN, `${proxy.host}/repush:v1`, '-q'], { env }));
      assert.equal(digest, GOLDEN_DIGEST);
      assert.equal(proxy.counters.blobUploadBytes, 0);
      assert.equal(proxy.counters.requests.uploadPost, 0, 'no upload was even started');
      assert.equal(proxy.counters.requests.manifestPut, 0, 'the tag already pointed at the image');
      assert.equal(proxy.counters.requests.blobHead, 0, 'one manifest HEAD stood for every blob');
    }
  });

  test('--reuse-from mounts layers from another repository instead of making them', async () => {
    expectOk(await runStrata(['push', GOLDEN, `${proxy.host}/base:v1`, '-q']));
    proxy.reset();
    const r = await runStrata(['push', GOLDEN, `${proxy.host}/derived:v1`, '--reuse-from', `${proxy.host}/base:v1`, '--json'], { env: freshEnv() });
    expectOk(r);
    const result = JSON.parse(r.stdout) as { pushed: { blobs: { action: string }[] } };
    assert.ok(result.pushed.blobs.filter((b) => b.action === 'mounted').length >= 4, r.stdout);
    assert.ok(proxy.counters.log.some((l) => l.kind === 'uploadPost' && /mount=/.test(l.path)));
  });

  test('pull and copy keep the digest: registry → oci → oci-archive → registry', async () => {
    expectOk(await runStrata(['push', GOLDEN, `${reg.host}/roundtrip:v1`, '-q']));
    const dir = tempDir();
    assert.equal(expectOk(await runStrata(['pull', `${reg.host}/roundtrip:v1`, '-o', `oci:${dir}/layout:t`, '-q'])), GOLDEN_DIGEST);
    assert.equal(expectOk(await runStrata(['copy', `oci:${dir}/layout:t`, `oci-archive:${dir}/image.tar:t`, '-q'])), GOLDEN_DIGEST);
    assert.equal(expectOk(await runStrata(['copy', `oci-archive:${dir}/image.tar:t`, `docker://${reg.host}/copied:c`, '-q'])), GOLDEN_DIGEST);
    const inspect = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/copied:c`])) as { Digest: string };
    assert.equal(inspect.Digest, GOLDEN_DIGEST);
    // skopeo reads what strata pulled.
    const again = tempDir();
    await skopeo(['copy', `oci:${dir}/layout:t`, `oci:${again}:x`]);
    removeDir(dir);
    removeDir(again);
  });

  test('--digest-file gets the digest; --json gives a summary', async () => {
    const dir = tempDir();
    const r = await runStrata(['push', GOLDEN, `${reg.host}/df:v1`, '--digest-file', join(dir, 'digest'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(dir, 'digest'), 'utf8'), GOLDEN_DIGEST);
    const j = JSON.parse(r.stdout) as { manifestDigest: string; tags: string[] };
    assert.equal(j.manifestDigest, GOLDEN_DIGEST);
    assert.deepEqual(j.tags, ['v1']);
    // Progress events on stderr are NDJSON.
    const events = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { type: string });
    assert.ok(events.some((e) => e.type === 'manifest'));
    removeDir(dir);
  });

  test('--format docker pushes Docker v2 schema 2 with the digest `strata digest --format docker` gives', async () => {
    const expected = expectOk(await runStrata(['digest', GOLDEN, '--format', 'docker']));
    assert.notEqual(expected, GOLDEN_DIGEST);
    assert.equal(expectOk(await runStrata(['push', GOLDEN, `${reg.host}/docker-format:v1`, '--format', 'docker', '-q'])), expected);
    const raw = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/docker-format:v1`])) as { mediaType: string };
    assert.equal(raw.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal((await podmanPull(`${reg.host}/docker-format:v1`)).digest, expected);
  });

  describe('faults between client and registry', () => {
    test('503, 429 with Retry-After and a slow registry: the push completes with the right digest', async () => {
      proxy.clear();
      proxy.inject({ kind: 'status', status: 503, method: 'PUT', path: /\/manifests\//, first: 2 });
      proxy.inject({ kind: 'status', status: 429, retryAfter: 1, method: 'HEAD', path: /\/blobs\//, first: 1 });
      proxy.inject({ kind: 'status', status: 500, method: 'POST', path: /\/blobs\/uploads/, first: 1 });
      proxy.inject({ kind: 'delay', ms: 300, method: 'PATCH' });
      const r = await runStrata(['push', GOLDEN, `${proxy.host}/faults:v1`], { env: freshEnv() });
      assert.equal(expectOk(r), GOLDEN_DIGEST);
      assert.match(r.stderr, /retry .* \(attempt 1\): HTTP 503/);
      assert.match(r.stderr, /HTTP 429/);
      proxy.clear();
      const inspect = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/faults:v1`])) as { Digest: string };
      assert.equal(inspect.Digest, GOLDEN_DIGEST);
    });

    test('a connection reset mid-blob resumes from the registry offset: only the cut chunk is sent again', async () => {
      const dir = tempDir();
      const size = 24 * 2 ** 20;
      const chunk = 8 * 2 ** 20; // the default
      const cutAfter = 4 * 2 ** 20;
      const { digest } = randomLayout(join(dir, 'layout'), size);
      proxy.clear();
      proxy.reset();
      const rule = proxy.inject({ kind: 'reset-mid-body', afterBytes: cutAfter, method: 'PATCH', nth: 2 });
      const r = await runStrata(['push', `oci:${dir}/layout:big`, `${proxy.host}/resume:big`]);
      assert.equal(expectOk(r), digest);
      assert.equal(rule.fired, 1);
      // Sent twice: the 4 MiB that reached the registry before the cut, and that chunk again.
      // Starting over would have re-sent the first chunk as well (4 + 8 + 8 MiB).
      const resent = proxy.counters.blobUploadBytes - size;
      assert.ok(resent >= cutAfter && resent < cutAfter + chunk + 4096, `re-sent ${resent} bytes of a ${size}-byte blob`);
      assert.ok(proxy.counters.requests.uploadGet >= 1, 'the client asked the registry where the upload stands');
      proxy.clear();
      const out = tempDir();
      await skopeo(['copy', '--src-tls-verify=false', `docker://${reg.host}/resume:big`, `oci:${out}:x`]);
      const inspect = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/resume:big`])) as { Digest: string };
      assert.equal(inspect.Digest, digest);
      removeDir(dir);
      removeDir(out);
    });

    test('--chunk-size 0 streams a blob in one request; a cut there starts the upload over and still lands the right digest', async () => {
      const dir = tempDir();
      const size = 20 * 2 ** 20;
      const { digest } = randomLayout(join(dir, 'layout'), size);
      proxy.clear();
      proxy.reset();
      const rule = proxy.inject({ kind: 'reset-mid-body', afterBytes: 2 ** 20, method: 'PATCH', nth: 1 });
      const r = await runStrata(['push', `oci:${dir}/layout:big`, `${proxy.host}/streamed:big`, '--chunk-size', '0']);
      assert.equal(expectOk(r), digest);
      assert.equal(rule.fired, 1);
      assert.equal(
        proxy.counters.requests.uploadPatch,
        2,
        `one PATCH cut, one whole: ${JSON.stringify(proxy.counters.log.map((l) => [l.method, l.kind, l.status, l.fault]))}`,
      );
      proxy.clear();
      await skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/streamed:big`]);
      removeDir(dir);
    });

    test('chunked uploads (--chunk-size): a chunk cut short is sent again from the registry offset', async () => {
      const dir = tempDir();
      const size = 6 * 2 ** 20;
      const { digest } = randomLayout(join(dir, 'layout'), size);
      proxy.clear();
      proxy.reset();
      const rule = proxy.inject({ kind: 'reset-mid-body', afterBytes: 2 ** 19, method: 'PATCH', nth: 3 });
      const r = await runStrata(['push', `oci:${dir}/layout:big`, `${proxy.host}/chunked:big`, '--chunk-size', String(2 ** 20)]);
      assert.equal(expectOk(r), digest);
      assert.equal(rule.fired, 1);
      assert.ok(proxy.counters.requests.uploadPatch >= 7, `${proxy.counters.requests.uploadPatch} PATCH requests for 6 chunks and one retry`);
      const resent = proxy.counters.blobUploadBytes - size;
      // The cut-off half chunk, then that chunk again (plus the small config): not the whole 6 MiB.
      assert.ok(resent > 2 ** 19 && resent < 2 ** 19 + 2 ** 20 + 4096, `re-sent ${resent} bytes`);
      proxy.clear();
      await skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/chunked:big`]);
      removeDir(dir);
    });

    test('a reset while a layer is made from the store resumes too (the layer is made again, the rest sent)', async () => {
      const hello = prepareHello(tempDir());
      proxy.clear();
      proxy.reset();
      const rule = proxy.inject({ kind: 'reset-mid-body', afterBytes: 200_000, method: 'PATCH', nth: 1 });
      const r = await runStrata(['push', `${hello}#image`, `${proxy.host}/hello:v1`, '--concurrency', '1'], { env: freshEnv() });
      const digest = expectOk(r);
      assert.equal(rule.fired, 1);
      proxy.clear();
      const expected = expectOk(await runStrata(['digest', `${hello}#image`], { env: freshEnv() }));
      assert.equal(digest, expected);
      const pulled = await podmanPull(`${reg.host}/hello:v1`);
      assert.equal(pulled.digest, expected);
    });

    test('a lost answer to the PUT that completes an upload: the blob is found there, the push goes on', async () => {
      proxy.clear();
      const rule = proxy.inject({ kind: 'reset-before-response', method: 'PUT', path: /\/blobs\/uploads\//, nth: 1 });
      const r = await runStrata(['push', GOLDEN, `${proxy.host}/lost-answer:v1`, '-q', '--concurrency', '1'], { env: freshEnv() });
      proxy.clear();
      assert.equal(expectOk(r), GOLDEN_DIGEST);
      assert.equal(rule.fired, 1);
      assert.equal(
        (JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/lost-answer:v1`])) as { Digest: string }).Digest,
        GOLDEN_DIGEST,
      );
    });

    test('a registry that keeps cutting the connection: exit 7 naming the step, and no tag written', async () => {
      proxy.clear();
      proxy.inject({ kind: 'reset-mid-body', afterBytes: 100, method: 'PATCH' });
      proxy.inject({ kind: 'reset-mid-body', afterBytes: 100, method: 'PUT', path: /\/blobs\/uploads/ });
      const r = await runStrata(['push', GOLDEN, `${proxy.host}/broken:v1`, '-q', '--retries', '2'], { env: freshEnv() });
      proxy.clear();
      expectFailure(r, 7, /upload of blob .* to broken failed/);
      await assert.rejects(skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/broken:v1`]));
    });
  });

  describe('bad input', () => {
    test('an unknown registry host', async () => {
      expectFailure(await runStrata(['push', GOLDEN, 'registry.invalid/app:v1', '-q', '--retries', '1']), 7, /registry\.invalid/);
    });
    test('a missing image on pull', async () => {
      const dir = tempDir();
      expectFailure(await runStrata(['pull', `${reg.host}/nothing:here`, '-o', `oci:${dir}/x`, '-q']), 2, /no such image/);
      assert.deepEqual(readdirSync(dir), [], 'nothing was written');
      removeDir(dir);
    });
    test('a blob whose bytes do not match its digest is refused on pull, and no layout is left', async () => {
      expectOk(await runStrata(['push', GOLDEN, `${reg.host}/tamper:v1`, '-q']));
      const m = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/tamper:v1`])) as { layers: { digest: string }[] };
      const hex = m.layers[0]!.digest.slice(7);
      const data = join(reg.root, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
      const bytes = readFileSync(data);
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
      writeFileSync(data, bytes);
      const dir = tempDir();
      expectFailure(await runStrata(['pull', `${reg.host}/tamper:v1`, '-o', `oci:${dir}/x`, '-q']), 7, /damaged/);
      assert.deepEqual(readdirSync(dir), []);
      removeDir(dir);
    });
    test('pushing to a digest, and a password without --password-stdin, are usage errors', async () => {
      expectFailure(await runStrata(['push', GOLDEN, `${reg.host}/x@sha256:${'a'.repeat(64)}`]), 2, /digest/);
      expectFailure(await runStrata(['push', GOLDEN, `${reg.host}/x:v1`, '--username', 'u']), 2, /--password-stdin/);
    });
  });
});

describe('push with credentials', () => {
  test('htpasswd: --password-stdin and a docker config work; a wrong password exits 8 without printing it', async () => {
    const reg = await startRegistry({ auth: 'htpasswd', users: { ci: 's3cret-pw' } });
    try {
      const withStdin = (args: string[], password: string, env = freshEnv()) => runStrata(args, { input: password, env });
      assert.equal(
        expectOk(await withStdin(['push', GOLDEN, `${reg.host}/app:v1`, '--username', 'ci', '--password-stdin', '-q'], 's3cret-pw\n')),
        GOLDEN_DIGEST,
      );
      const bad = await withStdin(['push', GOLDEN, `${reg.host}/app:v2`, '--username', 'ci', '--password-stdin', '-q'], 'wrong-pw-xyz');
      expectFailure(bad, 8, /refused/);
      assert.doesNotMatch(bad.stderr, /wrong-pw-xyz/);
      const none = await runStrata(['push', GOLDEN, `${reg.host}/app:v3`, '-q'], { env: freshEnv() });
      expectFailure(none, 8, /no credentials/);
      // docker login's file, found through $DOCKER_CONFIG.
      const cfg = tempDir();
      writeFileSync(join(cfg, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from('ci:s3cret-pw').toString('base64') } } }));
      assert.equal(expectOk(await runStrata(['push', GOLDEN, `${reg.host}/app:v4`, '-q'], { env: freshEnv({ DOCKER_CONFIG: cfg }) })), GOLDEN_DIGEST);
    } finally {
      await reg.stop();
    }
  });

  test('token auth: Bearer tokens from a token server, anonymous pull where allowed', async () => {
    const reg = await startRegistry({ auth: 'token', users: { ci: 'tok-pw' }, anonymousPull: true });
    try {
      const r = await runStrata(['push', GOLDEN, `${reg.host}/team/app:v1`, '--username', 'ci', '--password-stdin', '-q'], {
        input: 'tok-pw',
        env: freshEnv(),
      });
      assert.equal(expectOk(r), GOLDEN_DIGEST);
      assert.ok(reg.token!.counters.authenticated >= 1);
      const dir = tempDir();
      assert.equal(expectOk(await runStrata(['pull', `${reg.host}/team/app:v1`, '-o', `oci:${dir}/l`, '-q'], { env: freshEnv() })), GOLDEN_DIGEST);
      assert.ok(reg.token!.counters.anonymous >= 1);
      expectFailure(await runStrata(['push', GOLDEN, `${reg.host}/team/app:v2`, '-q'], { env: freshEnv() }), 8, /refused|denied/);
      removeDir(dir);
    } finally {
      await reg.stop();
    }
  });

  test('a GHCR-like registry: GITHUB_TOKEN pushes, an anonymous token pulls a public image', async () => {
    const reg = await startRegistry();
    let front: GhcrFront | undefined;
    try {
      front = await startGhcrFront(reg.url, { users: { octocat: 'ghp_testtoken123' }, publicRepos: ['octocat/app'] });
      const env = freshEnv({ GITHUB_TOKEN: 'ghp_testtoken123', GITHUB_ACTOR: 'octocat', STRATA_GITHUB_TOKEN_HOSTS: front.host });
      assert.equal(expectOk(await runStrata(['push', GOLDEN, `${front.host}/octocat/app:v1`, '-q'], { env })), GOLDEN_DIGEST);
      assert.ok(front.counters.userTokens >= 1);
      const dir = tempDir();
      assert.equal(expectOk(await runStrata(['pull', `${front.host}/octocat/app:v1`, '-o', `oci:${dir}/l`, '-q'], { env: freshEnv() })), GOLDEN_DIGEST);
      assert.ok(front.counters.anonymousTokens >= 1);
      const wrong = await runStrata(['push', GOLDEN, `${front.host}/octocat/app:v2`, '-q'], {
        env: freshEnv({ GITHUB_TOKEN: 'ghp_wrong999', STRATA_GITHUB_TOKEN_HOSTS: front.host }),
      });
      expectFailure(wrong, 8, /refused/);
      assert.doesNotMatch(wrong.stderr, /ghp_wrong999/);
      removeDir(dir);
    } finally {
      await front?.stop();
      await reg.stop();
    }
  });
});

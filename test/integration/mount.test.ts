// Cross-repository mounts with a warm cache: once a push has put a blob in one
// repository of a registry, a push of the same image to another repository of
// that registry mounts every blob (layers and config) instead of uploading it,
// for an installable built from the cache and for an image copied as it is.
// Uploaded bytes are counted by a relay in front of the real registry, not
// taken from Strata's own summary. A stale record costs only a refused mount.
import assert from 'node:assert/strict';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { readGolden } from '../../conformance/reproducibility/golden.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startGhcrFront } from '../helpers/ghcr-front.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { expectOk, nixEnv, removeDir, runStrata, tempDir } from '../helpers/strata.js';

const GOLDEN = './examples/golden#default';
const GOLDEN_DIGEST = readGolden().cases['golden#default']!.manifest!;

let reg: Registry;
let proxy: FaultProxy;
const dirs: string[] = [];
const dir = (prefix: string) => {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
};
/** One runner's layer cache (and the blob locations beside it), kept across its pushes. */
const runner = () => ({ ...nixEnv(), STRATA_CACHE_DIR: dir('strata-mount-cache-'), HOME: dir('strata-mount-home-') });

beforeAll(async () => {
  reg = await startRegistry();
  proxy = await startFaultProxy(reg.url);
});
afterAll(async () => {
  await proxy?.stop();
  await reg?.stop();
  for (const d of dirs) removeDir(d);
});

interface Summary {
  pushed: { blobs: { digest: string; action: string; size: number }[] };
}

const mountPosts = () => proxy.counters.log.filter((l) => l.kind === 'uploadPost' && /[?&]mount=/.test(l.path));

describe('a push to a second repository of the same registry, warm cache', () => {
  test('an installable: every blob mounted, the config included; 0 bytes uploaded', async () => {
    const env = runner();
    expectOk(await runStrata(['push', GOLDEN, `${proxy.host}/team/first:v1`, '-q'], { env }));
    proxy.reset();
    const r = await runStrata(['push', GOLDEN, `${proxy.host}/team/second:v1`, '--json', '-q'], { env });
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as Summary & { manifestDigest?: string; digest: string };
    assert.equal(proxy.counters.blobUploadBytes, 0, 'blob bytes were uploaded');
    const actions = summary.pushed.blobs.map((b) => b.action);
    assert.ok(actions.length >= 5, JSON.stringify(actions));
    assert.deepEqual([...new Set(actions)], ['mounted']);
    assert.equal(mountPosts().length, actions.length);
    assert.ok(
      mountPosts().every((l) => /from=team%2Ffirst/.test(l.path)),
      JSON.stringify(mountPosts()),
    );
    const got = await fetch(`${reg.url}/v2/team/second/manifests/v1`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(got.headers.get('docker-content-digest'), GOLDEN_DIGEST);
  });

  test('an image copied as it is (oci: layout): every blob mounted; 0 bytes uploaded', async () => {
    const env = runner();
    const layout = join(dir('strata-mount-layout-'), 'img');
    expectOk(await runStrata(['build', GOLDEN, '-o', `oci:${layout}:1.0`], { env }));
    proxy.reset();
    expectOk(await runStrata(['copy', `oci:${layout}:1.0`, `docker://${proxy.host}/copies/first:v1`, '-q'], { env }));
    const firstUpload = proxy.counters.blobUploadBytes;
    proxy.reset();
    const r = await runStrata(['copy', `oci:${layout}:1.0`, `docker://${proxy.host}/copies/second:v1`], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(proxy.counters.blobUploadBytes, 0, 'blob bytes were uploaded');
    assert.ok(mountPosts().length >= 5, JSON.stringify(proxy.counters.log));
    // The summary counts the mounted blobs and their bytes, and transferred none.
    const line = /\((\d+) blobs: (\d+) mounted \((\d+) bytes\); 0 bytes transferred\)/.exec(r.stderr);
    assert.ok(line, r.stderr);
    assert.equal(Number(line[1]), mountPosts().length);
    assert.equal(Number(line[2]), mountPosts().length);
    assert.equal(Number(line[3]), firstUpload, 'mounted bytes are what the first copy uploaded');
  });

  test('a record naming a repository that no longer has the blob: the mount is refused and the blob uploaded; the digest is right', async () => {
    const env = runner();
    expectOk(await runStrata(['push', GOLDEN, `${proxy.host}/stale/first:v1`, '-q'], { env }));
    // Point every record at a repository that does not exist in the registry.
    const locations = join(env.STRATA_CACHE_DIR, 'locations');
    for (const host of readdirSync(locations).filter((n) => n !== '.tmp')) {
      for (const f of readdirSync(join(locations, host))) writeFileSync(join(locations, host, f), 'stale/gone\n');
    }
    proxy.reset();
    const digest = expectOk(await runStrata(['push', GOLDEN, `${proxy.host}/stale/second:v1`, '-q'], { env }));
    assert.equal(digest, GOLDEN_DIGEST);
    assert.ok(mountPosts().length >= 5 && mountPosts().every((l) => /from=stale%2Fgone/.test(l.path)));
    assert.ok(proxy.counters.blobUploadBytes > 0, 'refused mounts fell back to uploads');
    // A damaged record is ignored, not followed.
    for (const host of readdirSync(locations).filter((n) => n !== '.tmp')) {
      for (const f of readdirSync(join(locations, host))) writeFileSync(join(locations, host, f), '../../etc\nUPPER/case\n');
    }
    proxy.reset();
    expectOk(await runStrata(['push', GOLDEN, `${proxy.host}/stale/third:v1`, '-q'], { env }));
    assert.ok(
      mountPosts().every((l) => !/from=(\.\.|UPPER)/i.test(decodeURIComponent(l.path))),
      JSON.stringify(mountPosts()),
    );
  });

  test('--reuse-from a repository of the same registry mounts with an empty cache', async () => {
    expectOk(await runStrata(['push', GOLDEN, `${proxy.host}/reuse/first:v1`, '-q'], { env: runner() }));
    const env = runner();
    rmSync(join(env.STRATA_CACHE_DIR), { recursive: true, force: true });
    proxy.reset();
    const r = await runStrata(['push', GOLDEN, `${proxy.host}/reuse/second:v1`, '--reuse-from', `${proxy.host}/reuse/first:v1`, '--json', '-q'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(proxy.counters.blobUploadBytes, 0, 'blob bytes were uploaded');
    const actions = (JSON.parse(r.stdout) as Summary).pushed.blobs.map((b) => b.action);
    assert.deepEqual([...new Set(actions)], ['mounted'], JSON.stringify(actions));
  });
});

describe('behind a GHCR-like token front', () => {
  // The front grants a mount only with a token that may pull the source
  // repository (else it strips mount= and the registry opens a plain upload):
  // so 0 bytes here also means Strata asked for repository:<from>:pull.
  test('a warm-cache push to a second repository mounts every blob; 0 bytes uploaded', async () => {
    const front = await startGhcrFront(proxy.url, { users: { octocat: 'ghp_mounttoken456' } });
    try {
      const env = { ...runner(), GITHUB_TOKEN: 'ghp_mounttoken456', GITHUB_ACTOR: 'octocat', STRATA_GITHUB_TOKEN_HOSTS: front.host };
      expectOk(await runStrata(['push', GOLDEN, `${front.host}/octocat/first:v1`, '-q'], { env }));
      proxy.reset();
      const r = await runStrata(['push', GOLDEN, `${front.host}/octocat/second:v1`, '--json', '-q'], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(proxy.counters.blobUploadBytes, 0, 'blob bytes were uploaded');
      const actions = (JSON.parse(r.stdout) as Summary).pushed.blobs.map((b) => b.action);
      assert.deepEqual([...new Set(actions)], ['mounted'], JSON.stringify(actions));
      assert.ok(mountPosts().length >= 5 && mountPosts().every((l) => /from=octocat%2Ffirst/.test(l.path)), JSON.stringify(mountPosts()));
      assert.equal(front.counters.denied, 0);
    } finally {
      await front.stop();
    }
  });
});

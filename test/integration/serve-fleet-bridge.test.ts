// Bridge images shared by replicas that share nothing but a registry (CNCF
// distribution 2.8) and a file:// Nix binary cache. Replica A builds the image
// on a pull, copies the closure to the cache (signed) and pushes the image to
// the upstream. Replica B runs on a second machine (an empty /nix, max-jobs = 0,
// an empty layer cache): it substitutes the closure, finds every layer by key
// in the upstream, and serves the same image with no layer made, to skopeo and
// podman, with the same digest as `strata build`.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { podmanPull, skopeo } from '../helpers/podman.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { startServeOnSecondMachine } from '../helpers/second-machine.js';
import { events, eventually } from '../helpers/serve-log.js';
import { startServe, type Served } from '../helpers/serve.js';
import { lastLine, nixEnv, prepareHello, removeDir, runStrata, sh, tempDir } from '../helpers/strata.js';

const sha256 = (b: string | Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('bridge images shared through registry storage and a binary cache', () => {
  const work = tempDir('strata-fleet-bridge-');
  const cache = join(work, 'nix-cache');
  const keyFile = join(work, 'cache-key.sec');
  const secret = join(work, 'fleet-secret');
  let upstream: Registry;
  let hello: string;
  let expected: string;
  let a: Served;
  const servers: Served[] = [];

  const replicaArgs = () => [
    '--storage',
    `docker://${upstream.host}/fleet`,
    '--fleet-secret-file',
    secret,
    '--image',
    `hello=${hello}#image`,
    '--nix-cache',
    `file://${cache}`,
    '--nix-cache-key',
    keyFile,
  ];
  /** An empty layer cache of its own: a new replica. */
  const freshEnv = (label: string) => {
    const dir = join(work, `layers-${label}`);
    mkdirSync(dir);
    return { ...nixEnv(), STRATA_CACHE_DIR: dir };
  };

  beforeAll(async () => {
    upstream = await startRegistry();
    writeFileSync(secret, randomBytes(32));
    hello = prepareHello(join(work, 'hello'));
    sh('nix-store', ['--generate-binary-cache-key', 'strata-fleet-test-1', keyFile, join(work, 'cache-key.pub')]);
    const built = await runStrata(['build', `${hello}#image`, '-o', `oci:${work}/built:t`]);
    assert.equal(built.code, 0, built.stderr);
    expected = lastLine(built.stdout);
    a = await startServe('', replicaArgs(), freshEnv('a'));
    servers.push(a);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await upstream?.stop();
    removeDir(work);
  });

  test('replica A builds on the first pull, then puts the closure in the cache and the image in the upstream', async () => {
    const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${a.host}/hello:latest`]);
    assert.equal(sha256(raw), expected);
    const build = await eventually('the build event', () => events(a, 'build')[0]);
    assert.equal(build.outcome, 'built');
    assert.ok((build.layersMade as number) > 0, JSON.stringify(build));
    const pushed = await eventually('the upstream push', () => events(a, 'upstream-push')[0]);
    assert.equal(pushed.outcome, 'pushed', JSON.stringify(pushed));
    assert.equal(pushed.repository, 'fleet/hello');
    const copied = await eventually('the nix-cache copy', () => events(a, 'nix-cache')[0]);
    assert.equal(copied.outcome, 'copied', JSON.stringify(copied));
    const direct = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${upstream.host}/fleet/hello:latest`]);
    assert.equal(sha256(direct), expected);
  });

  test('replica B on a second machine (empty store and layer cache, no builds) serves the same image without making a layer', async () => {
    assert.ok(events(a, 'upstream-push').length === 1, 'replica A pushed first');
    const b = await startServeOnSecondMachine('', replicaArgs(), { env: freshEnv('b'), nixConfig: ['max-jobs = 0'] });
    servers.push(b);
    const out = join(work, 'via-b');
    await skopeo(['copy', '--src-tls-verify=false', `docker://${b.host}/hello:latest`, `oci:${out}:t`]);
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(index.manifests[0]!.digest, expected);
    const pulled = await podmanPull(`${b.host}/hello:latest`);
    assert.equal(pulled.digest, expected);
    const builds = events(b, 'build');
    assert.equal(builds.length, 1, JSON.stringify(builds));
    assert.equal(builds[0]!.outcome, 'found-upstream');
    assert.equal(builds[0]!.layersMade, 0);
    assert.deepEqual(events(b, 'layer'), [], 'no layer was made to serve a blob either');
    // The upstream had the manifest too: B left it and its tags as A wrote them.
    const pushed = await eventually("B's upstream-push event", () => events(b, 'upstream-push')[0]);
    assert.equal(pushed.outcome, 'present', JSON.stringify(pushed));
    // Its store paths came from the cache: nothing was built on the second machine.
    assert.match(b.stderr(), /copying path '\/nix\/store\/[a-z0-9]{32}-hello-2\.12' from 'file:\/\//);
    assert.doesNotMatch(b.stderr(), /building '\/nix\/store\//);
  });
});

// The serve bridge with real clients: repositories that are flake outputs,
// built on the first pull, digest for digest what `strata build` writes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { podmanPull, skopeo } from '../helpers/podman.js';
import { startServe, type Served } from '../helpers/serve.js';
import { lastLine, nixEnv, prepareHello, removeDir, runStrata, sh, tempDir } from '../helpers/strata.js';

const GOLDEN = './examples/golden#default';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

async function digestOf(args: string[]): Promise<string> {
  const r = await runStrata(['digest', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return lastLine(r.stdout);
}

function builds(s: Served, name: string): number {
  return s
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith(`strata: building ${name} `)).length;
}

describe('strata serve --image: images built on demand', () => {
  let served: Served;
  let hello: string;
  const work = tempDir();
  beforeAll(async () => {
    hello = prepareHello(join(work, 'hello'));
    served = await startServe(join(work, 'root'), [
      '--image',
      `golden=${GOLDEN}`,
      '--image',
      `apps/hello=${hello}#image`,
      '--image',
      'broken=./examples/golden#no-such-package',
    ]);
  });
  afterAll(async () => {
    await served?.stop();
    removeDir(work);
  });

  test('concurrent first pulls trigger one build, and the digest is what strata build writes', async () => {
    const expected = await digestOf([GOLDEN]);
    const inspects = await Promise.all(Array.from({ length: 4 }, () => skopeo(['inspect', '--tls-verify=false', `docker://${served.host}/golden:latest`])));
    for (const out of inspects) assert.equal((JSON.parse(out) as { Digest: string }).Digest, expected);
    assert.equal(builds(served, 'golden'), 1, served.stderr());
    const dir = tempDir();
    const built = lastLine((await runStrata(['build', GOLDEN, '-o', `oci:${dir}/built:t`])).stdout);
    assert.equal(built, expected);
    // Every blob byte for byte: skopeo copies the served image into a layout.
    await skopeo(['copy', '--src-tls-verify=false', `docker://${served.host}/golden:latest`, `oci:${dir}/served:t`]);
    const index = JSON.parse(readFileSync(join(dir, 'served', 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(index.manifests[0]!.digest, expected);
    removeDir(dir);
  });

  test('a client that accepts only Docker manifests gets the Docker form, with the digest of --format docker', async () => {
    const expected = await digestOf([GOLDEN, '--format', 'docker']);
    const res = await fetch(`${served.url}/v2/golden/manifests/latest`, { headers: { accept: DOCKER_MANIFEST } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), DOCKER_MANIFEST);
    assert.equal(res.headers.get('docker-content-digest'), expected);
  });

  test('podman pulls a runnable image built from a flake, and the tags name it', async () => {
    const expected = await digestOf([`${hello}#image`]);
    const pulled = await podmanPull(`${served.host}/apps/hello:latest`);
    assert.equal(pulled.digest, expected);
    const tags = (await (await fetch(`${served.url}/v2/apps/hello/tags/list`)).json()) as { tags: string[] };
    assert.ok(tags.tags.includes('latest'));
  });

  test('a Range request gets exactly those bytes of a layer made again from the store', async () => {
    const manifest = (await (await fetch(`${served.url}/v2/apps/hello/manifests/latest`)).json()) as { layers: { digest: string; size: number }[] };
    const big = manifest.layers.reduce((a, b) => (b.size > a.size ? b : a));
    const whole = Buffer.from(await (await fetch(`${served.url}/v2/apps/hello/blobs/${big.digest}`)).arrayBuffer());
    assert.equal(whole.length, big.size);
    const part = await fetch(`${served.url}/v2/apps/hello/blobs/${big.digest}`, { headers: { range: 'bytes=1000-2999' } });
    assert.equal(part.status, 206);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), whole.subarray(1000, 3000));
  });

  test('a store path collected while served is realised again, not answered with a 404', async () => {
    const manifest = (await (await fetch(`${served.url}/v2/golden/manifests/latest`)).json()) as { layers: { digest: string }[] };
    const json = JSON.parse((await runStrata(['digest', GOLDEN, '--json'])).stdout) as { layers: { digest: string; storePaths: string[] }[] };
    const layer = json.layers.find((l) => l.storePaths.length > 0)!;
    // The path and everything that refers to it (Nix deletes no path another one needs), roots or not.
    const referrers = sh('nix-store', ['--query', '--referrers-closure', ...layer.storePaths], { env: nixEnv() })
      .trim()
      .split('\n');
    sh('nix-store', ['--delete', '--ignore-liveness', ...referrers], { env: nixEnv() });
    for (const p of layer.storePaths) assert.ok(!existsSync(p), `${p} is gone`);
    const res = await fetch(`${served.url}/v2/golden/blobs/${layer.digest}`);
    assert.equal(res.status, 200);
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.equal(`sha256:${(await import('node:crypto')).createHash('sha256').update(bytes).digest('hex')}`, layer.digest);
    assert.ok(manifest.layers.some((l) => l.digest === layer.digest));
  });

  test('a failed build is one clear error, and the server goes on serving', async () => {
    const res = await fetch(`${served.url}/v2/broken/manifests/latest`);
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '30');
    const body = (await res.json()) as { errors: { code: string; message: string }[] };
    // Said of the repository, not of the installable (the server's own paths): that is for the server's log.
    assert.equal(body.errors[0]!.message, 'the image for broken failed to build; retry after 30 s');
    assert.equal((await fetch(`${served.url}/v2/golden/manifests/latest`, { method: 'HEAD' })).status, 200);
  });

  test('bridged repositories are read-only: 405 UNSUPPORTED, and a push there fails as a registry refusal (exit 7), not as bad credentials (8)', async () => {
    const res = await fetch(`${served.url}/v2/golden/blobs/uploads/`, { method: 'POST' });
    assert.equal(res.status, 405);
    assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code, 'UNSUPPORTED');
    // On a server that takes pushes elsewhere: the refusal is the bridge's, not read-only mode's.
    const dir = tempDir();
    const writable = await startServe(join(dir, 'root'), ['--allow-anonymous-push', '--image', `golden=${GOLDEN}`]);
    try {
      const r = await runStrata(['push', GOLDEN, `${writable.host}/golden:mine`, '-q', '--tag', 'x']);
      assert.equal(r.code, 7, r.stderr);
      assert.match(r.stderr, /golden is served from Nix builds and takes no pushes or deletes/);
    } finally {
      await writable.stop();
      removeDir(dir);
    }
  });
});

test('a pull that outwaits --build-wait gets 503 with Retry-After; the build goes on and the next pull gets the image', async () => {
  const work = tempDir();
  const hello = prepareHello(join(work, 'hello'));
  // A flake whose only package takes seconds to build, new on every run (a nonce in the derivation).
  const slow = join(work, 'slow');
  mkdirSync(join(slow, 'bb', 'bin'), { recursive: true });
  cpSync(join(hello, 'bb', 'bin', 'busybox'), join(slow, 'bb', 'bin', 'busybox'));
  writeFileSync(
    join(slow, 'flake.nix'),
    `{ outputs = { self }: { packages.x86_64-linux.default = derivation {
        name = "slow-1.0"; system = "x86_64-linux"; nonce = "${randomBytes(8).toString('hex')}";
        builder = "\${./bb}/bin/busybox";
        args = [ "sh" "-c" "\${./bb}/bin/busybox sleep 4; \${./bb}/bin/busybox mkdir -p $out/bin; \${./bb}/bin/busybox cp \${./bb}/bin/busybox $out/bin/slow" ];
      }; }; }\n`,
  );
  sh('git', ['init', '-q', '.'], { cwd: slow });
  sh('git', ['add', '-A'], { cwd: slow });
  const served = await startServe(join(work, 'root'), ['--image', `slow=${slow}#default`, '--build-wait', '1']);
  try {
    const started = Date.now();
    const first = await fetch(`${served.url}/v2/slow/manifests/latest`);
    assert.equal(first.status, 503);
    assert.equal(first.headers.get('retry-after'), '10');
    assert.ok(Date.now() - started < 3500, 'answered before the build ended');
    let res = first;
    for (let i = 0; i < 60 && res.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 500));
      res = await fetch(`${served.url}/v2/slow/manifests/latest`);
    }
    assert.equal(res.status, 200);
    assert.equal(builds(served, 'slow'), 1, 'the waiting pulls shared the one build');
  } finally {
    await served.stop();
    removeDir(work);
  }
});

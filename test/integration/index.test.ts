// strata index and push --by-digest against real registries (CNCF distribution
// 2.8 and strata serve) and layouts, read back with skopeo and strata pull:
// per-platform images pushed by digest as if from two machines, an index over
// them whose digest does not depend on argument order or destination, and bad
// input refused with exit 2 before anything is written.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { readGolden } from '../../conformance/reproducibility/golden.js';
import { canonicalJson } from '../../base/canonical.js';
import { sha256 } from '../../base/hash-tap.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { skopeo } from '../helpers/podman.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { startServe, type Served } from '../helpers/serve.js';
import { expectFailure, expectOk, removeDir, runStrata, tempDir } from '../helpers/strata.js';

const GOLDEN = './examples/golden#default';
const GOLDEN_AMD64 = readGolden().cases['golden#default']!.manifest!;
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

interface RawIndex {
  mediaType: string;
  manifests: { digest: string; mediaType: string; platform: { os: string; architecture: string } }[];
  annotations?: Record<string, string>;
}

interface LayoutIndex {
  manifests: { digest: string; mediaType: string; annotations?: Record<string, string> }[];
}

const layoutIndex = (dir: string) => JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as LayoutIndex;

/** The manifest skopeo picks for one architecture, copied into a layout of its own. */
async function skopeoPicks(src: string, arch: string): Promise<string> {
  const dir = tempDir();
  try {
    await skopeo(['copy', '--src-tls-verify=false', '--override-arch', arch, '--override-os', 'linux', src, `oci:${dir}:x`]);
    return layoutIndex(dir).manifests[0]!.digest;
  } finally {
    removeDir(dir);
  }
}

async function tagsOf(host: string, repo: string): Promise<string[]> {
  const r = await fetch(`http://${host}/v2/${repo}/tags/list`);
  if (r.status === 404) return [];
  return ((await r.json()) as { tags: string[] | null }).tags ?? [];
}

/** An OCI layout of one image with this config (media type and JSON), tagged 'x'. */
function layoutWithConfig(dir: string, config: object, configType = 'application/vnd.oci.image.config.v1+json'): void {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer) => {
    const digest = sha256(b);
    writeFileSync(join(blobs, digest.slice(7)), b);
    return { digest, size: b.length };
  };
  const c = put(Buffer.from(JSON.stringify(config)));
  const m = put(
    Buffer.from(
      canonicalJson({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: configType, ...c }, layers: [] }),
    ),
  );
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': 'x' } }],
    }),
  );
}

describe('strata index', () => {
  let reg: Registry;
  let served: Served;
  let proxy: FaultProxy;
  let amd64: string;
  let arm64: string;
  /** The index of the two golden images, as every path below must make it. */
  let expected: string;
  beforeAll(async () => {
    reg = await startRegistry();
    served = await startServe(tempDir('strata-serve-'));
    proxy = await startFaultProxy(reg.url);
  });
  afterAll(async () => {
    await proxy?.stop();
    await served?.stop();
    await reg?.stop();
  });

  for (const target of [
    { name: 'docker-registry', host: () => reg.host },
    { name: 'strata serve', host: () => served.host },
  ]) {
    test(`${target.name}: two platforms pushed by digest, an index over them, and each platform resolves to its own image`, async () => {
      const h = target.host();
      const dir = tempDir();
      // As two machines would: each pushes its platform by digest, writing no tag.
      amd64 = expectOk(await runStrata(['push', GOLDEN, `${h}/golden`, '--by-digest', '--system', 'x86_64-linux', '-q', '--digest-file', join(dir, 'amd64')]));
      arm64 = expectOk(await runStrata(['push', GOLDEN, `${h}/golden`, '--by-digest', '--platform', 'linux/arm64', '-q']));
      assert.equal(amd64, GOLDEN_AMD64);
      assert.equal(readFileSync(join(dir, 'amd64'), 'utf8'), amd64);
      assert.notEqual(arm64, amd64);
      assert.deepEqual(await tagsOf(h, 'golden'), [], 'pushing by digest wrote no tag');

      const r = await runStrata([
        'index',
        `${h}/golden@${arm64}`,
        `docker://${h}/golden@${amd64}`,
        '-o',
        `${h}/golden:multi`,
        '--tag',
        'multi',
        '--tag',
        'v1',
        '--json',
        '--digest-file',
        join(dir, 'index'),
      ]);
      assert.equal(r.code, 0, r.stderr);
      const summary = JSON.parse(r.stdout) as { digest: string; tags: string[]; manifests: { digest: string; platform: { architecture: string } }[] };
      expected = summary.digest;
      assert.equal(readFileSync(join(dir, 'index'), 'utf8'), expected);
      assert.deepEqual(summary.tags, ['multi', 'v1']);
      assert.deepEqual(
        summary.manifests.map((m) => [m.platform.architecture, m.digest]),
        [
          ['amd64', amd64],
          ['arm64', arm64],
        ],
      );
      // The other order gives the same index.
      assert.equal(expectOk(await runStrata(['index', `${h}/golden@${amd64}`, `${h}/golden@${arm64}`, '-o', `${h}/golden:again`, '-q'])), expected);

      const raw = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${h}/golden:v1`])) as RawIndex;
      assert.equal(raw.mediaType, OCI_INDEX);
      assert.deepEqual(
        raw.manifests.map((m) => [m.platform, m.digest]),
        [
          [{ architecture: 'amd64', os: 'linux' }, amd64],
          [{ architecture: 'arm64', os: 'linux' }, arm64],
        ],
      );
      const arm = JSON.parse(await skopeo(['inspect', '--override-arch', 'arm64', '--tls-verify=false', `docker://${h}/golden:multi`])) as {
        Architecture: string;
      };
      assert.equal(arm.Architecture, 'arm64');
      assert.equal(await skopeoPicks(`docker://${h}/golden:multi`, 'arm64'), arm64);
      assert.equal(await skopeoPicks(`docker://${h}/golden:multi`, 'amd64'), amd64);
      await skopeo(['copy', '--all', '--src-tls-verify=false', `docker://${h}/golden:multi`, `oci:${dir}/all:all`]);
      assert.equal(layoutIndex(join(dir, 'all')).manifests[0]!.digest, expected);

      assert.equal(expectOk(await runStrata(['pull', `${h}/golden:multi`, '--platform', 'linux/arm64', '-o', `oci:${dir}/arm`, '-q'])), arm64);
      assert.equal(expectOk(await runStrata(['pull', `${h}/golden:multi`, '--platform', 'x86_64-linux', '-o', `oci:${dir}/amd`, '-q'])), amd64);
      removeDir(dir);
    });
  }

  test('children in another repository of the registry are mounted; from another registry they are copied', async () => {
    const r = await runStrata(['index', `${reg.host}/golden@${amd64}`, `${reg.host}/golden@${arm64}`, '-o', `${reg.host}/elsewhere:multi`, '--json', '-q']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { digest: string; blobs: { action: string }[] };
    assert.equal(j.digest, expected);
    assert.ok(j.blobs.length >= 5 && j.blobs.every((b) => b.action === 'mounted'), r.stdout);
    const across = JSON.parse(
      expectOkJson(
        await runStrata(['index', `${reg.host}/golden@${amd64}`, `${reg.host}/golden@${arm64}`, '-o', `${served.host}/copied:multi`, '--json', '-q']),
      ),
    ) as { digest: string; blobs: { action: string }[] };
    assert.equal(across.digest, expected);
    // Never mounted across registries: sent, already there, or mounted within the destination registry
    // from a repository an earlier push put them in (the blob locations Strata remembers).
    assert.ok(
      across.blobs.every((b) => ['uploaded', 'exists', 'mounted'].includes(b.action)),
      JSON.stringify(across.blobs),
    );
    assert.equal(await skopeoPicks(`docker://${served.host}/copied:multi`, 'arm64'), arm64);
  });

  test('children already in the repository cost one manifest HEAD each: no blob is checked or sent', async () => {
    proxy.reset();
    // An annotation makes it an index the repository does not have yet.
    expectOk(
      await runStrata([
        'index',
        `${proxy.host}/golden@${amd64}`,
        `${proxy.host}/golden@${arm64}`,
        '--annotation',
        'run=counted',
        '-o',
        `${proxy.host}/golden:counted`,
        '-q',
      ]),
    );
    assert.equal(proxy.counters.requests.blobHead, 0);
    assert.equal(proxy.counters.requests.uploadPost, 0);
    assert.equal(proxy.counters.requests.manifestPut, 2, 'the index by digest, then its tag');
  });

  test('a child that cannot be written leaves no tag: children, then the index, then the tags', async () => {
    proxy.clear();
    proxy.inject({ kind: 'status', status: 500, method: 'PUT', path: new RegExp(`/manifests/${arm64}`) });
    const r = await runStrata([
      'index',
      `${reg.host}/golden@${amd64}`,
      `${reg.host}/golden@${arm64}`,
      '-o',
      `${proxy.host}/partial:multi`,
      '-q',
      '--retries',
      '1',
    ]);
    proxy.clear();
    expectFailure(r, 7, /manifest/);
    assert.deepEqual(await tagsOf(reg.host, 'partial'), []);
  });

  test('the same index from OCI layouts and archives, in a layout where only the index is tagged', async () => {
    const dir = tempDir();
    // Built on "two machines": one layout, one archive.
    assert.equal(expectOk(await runStrata(['build', GOLDEN, '-o', `oci:${dir}/amd:a`, '--system', 'x86_64-linux'])), amd64);
    assert.equal(expectOk(await runStrata(['build', GOLDEN, '-o', `oci-archive:${dir}/arm.tar:b`, '--system', 'aarch64-linux'])), arm64);
    assert.equal(expectOk(await runStrata(['index', `oci:${dir}/amd:a`, `oci-archive:${dir}/arm.tar:b`, '-o', `oci:${dir}/out:multi`, '-q'])), expected);
    // Another order, and the same image named twice: the same index.
    assert.equal(
      expectOk(
        await runStrata(['index', `oci-archive:${dir}/arm.tar:b`, `oci:${dir}/amd:a`, `${reg.host}/golden@${amd64}`, '-o', `oci-archive:${dir}/out.tar`, '-q']),
      ),
      expected,
    );
    const index = layoutIndex(join(dir, 'out'));
    assert.deepEqual(
      index.manifests.map((m) => [m.digest, m.mediaType, m.annotations]),
      [[expected, OCI_INDEX, { 'org.opencontainers.image.ref.name': 'multi' }]],
    );
    assert.equal(await skopeoPicks(`oci:${dir}/out:multi`, 'arm64'), arm64);
    assert.equal(await skopeoPicks(`oci-archive:${dir}/out.tar:latest`, 'amd64'), amd64);
    // An index source gives its children: the same index again, or a pick of it.
    assert.equal(expectOk(await runStrata(['index', `oci:${dir}/out:multi`, '-o', `oci:${dir}/copy`, '-q'])), expected);
    const r = await runStrata(['index', `oci:${dir}/out:multi`, '--platform', 'linux/arm64', '-o', `oci:${dir}/arm-only`, '--json', '-q']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      (JSON.parse(r.stdout) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest),
      [arm64],
    );
    removeDir(dir);
  });

  test('an installable built for --platform x86_64-linux and aarch64-linux gives the same index, to a registry and to a layout', async () => {
    const dir = tempDir();
    const args = [GOLDEN, '--platform', 'x86_64-linux', '--platform', 'aarch64-linux', '-q'];
    assert.equal(expectOk(await runStrata(['index', ...args, '-o', `${reg.host}/from-nix:1.0`])), expected);
    assert.deepEqual(await tagsOf(reg.host, 'from-nix'), ['1.0'], 'only the index is tagged');
    assert.equal(await skopeoPicks(`docker://${reg.host}/from-nix:1.0`, 'arm64'), arm64);
    assert.equal(expectOk(await runStrata(['index', ...args, '-o', `oci:${dir}/nix`])), expected);
    assert.equal(layoutIndex(join(dir, 'nix')).manifests.length, 1);
    assert.deepEqual(readdirSync(dir), ['nix'], 'no staging left beside the layout');
    removeDir(dir);
  });

  test('installables built with --format docker make a Docker manifest list', async () => {
    const armDocker = expectOk(await runStrata(['digest', GOLDEN, '--format', 'docker', '--system', 'aarch64-linux']));
    expectOk(
      await runStrata([
        'index',
        GOLDEN,
        '--platform',
        'x86_64-linux',
        '--platform',
        'aarch64-linux',
        '--format',
        'docker',
        '-o',
        `${reg.host}/docker-list:1`,
        '-q',
      ]),
    );
    const raw = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/docker-list:1`])) as RawIndex;
    assert.equal(raw.mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
    assert.ok(raw.manifests.every((m) => m.mediaType === 'application/vnd.docker.distribution.manifest.v2+json'));
    assert.equal(raw.manifests.find((m) => m.platform.architecture === 'arm64')?.digest, armDocker);
    const arm = JSON.parse(await skopeo(['inspect', '--override-arch', 'arm64', '--tls-verify=false', `docker://${reg.host}/docker-list:1`])) as {
      Architecture: string;
    };
    assert.equal(arm.Architecture, 'arm64');
  });

  test('--annotation sets index annotations', async () => {
    const digest = expectOk(
      await runStrata([
        'index',
        `${reg.host}/golden@${amd64}`,
        '--annotation',
        'org.opencontainers.image.source=https://example.com/app',
        '-o',
        `${reg.host}/annotated:1`,
        '-q',
      ]),
    );
    const raw = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/annotated:1`])) as RawIndex;
    assert.deepEqual(raw.annotations, { 'org.opencontainers.image.source': 'https://example.com/app' });
    assert.notEqual(digest, expected);
  });

  describe('bad input: exit 2, one line, nothing written', () => {
    const refusedCases: { name: string; args: (dir: string) => string[]; error: RegExp }[] = [
      { name: 'an unreadable image', args: (dir) => [`oci:${dir}/missing:x`], error: /not a readable OCI layout/ },
      { name: 'an image missing from the registry', args: () => [`${reg.host}/golden@sha256:${'0'.repeat(64)}`], error: /no such image/ },
      {
        name: 'a platform asked for that no source has',
        args: () => [`${reg.host}/golden@${amd64}`, '--platform', 'linux/amd64', '--platform', 'linux/riscv64'],
        error: /no linux\/riscv64 image among the sources/,
      },
      {
        name: 'an index without the platform asked for',
        args: () => [`${reg.host}/golden:multi`, '--platform', 'linux/s390x'],
        error: /has no image for linux\/s390x \(it has linux\/amd64, linux\/arm64\)/,
      },
      {
        name: 'an OCI platform that Nix has no system for, asked of images',
        args: () => [`${reg.host}/golden:multi`, '--platform', 'windows/amd64'],
        error: /has no image for windows\/amd64/,
      },
      {
        name: 'an image of another platform than asked for',
        args: () => [`${reg.host}/golden@${amd64}`, '--platform', 'aarch64-linux'],
        error: /is a linux\/amd64 image, not linux\/arm64/,
      },
      { name: 'two images of the same platform', args: (dir) => [`${reg.host}/golden@${amd64}`, `oci:${dir}/based:x`], error: /two linux\/amd64 images/ },
      {
        name: 'an image and an installable of the same platform',
        args: () => [`${reg.host}/golden@${amd64}`, GOLDEN, '--platform', 'x86_64-linux'],
        error: /two linux\/amd64 images: .*x86_64-linux/,
      },
      {
        name: 'an artifact, not a container image',
        args: (dir) => [`oci:${dir}/artifact:x`],
        error: /not a container image \(its config is application\/vnd\.example\.thing\.v1\+json\)/,
      },
      { name: 'a config without os and architecture', args: (dir) => [`oci:${dir}/noplatform:x`], error: /names no os or architecture/ },
      {
        name: 'a platform Nix cannot build an installable for',
        args: () => [GOLDEN, '--platform', 'windows/amd64'],
        error: /platform 'windows\/amd64' has no Nix system/,
      },
      { name: 'a destination with a digest', args: () => [`${reg.host}/golden@${amd64}`, '-o', `${reg.host}/x@${amd64}`], error: /known only once it is made/ },
      { name: 'two tags for a layout', args: (dir) => [`${reg.host}/golden@${amd64}`, '-o', `oci:${dir}/out`, '--tag', 'a', '--tag', 'b'], error: /one tag/ },
    ];
    let dir: string;
    beforeAll(async () => {
      dir = tempDir();
      layoutWithConfig(join(dir, 'artifact'), { anything: true }, 'application/vnd.example.thing.v1+json');
      layoutWithConfig(join(dir, 'noplatform'), { rootfs: { type: 'layers', diff_ids: [] } });
      expectOk(await runStrata(['build', './examples/golden#based-one', '-o', `oci:${dir}/based:x`]));
    });
    afterAll(() => removeDir(dir));
    for (const c of refusedCases) {
      test(c.name, async () => {
        const args = c.args(dir);
        const out = args.includes('-o') ? [] : ['-o', `oci:${dir}/out:t`];
        const registryOut = `${reg.host}/refused:t`;
        expectFailure(await runStrata(['index', ...args, ...out, '-q']), 2, c.error);
        assert.ok(!existsSync(join(dir, 'out')), 'no layout was written');
        assert.deepEqual(
          readdirSync(dir).filter((n) => n.includes('strata-')),
          [],
          'no staging left',
        );
        if (!args.includes('-o')) {
          expectFailure(await runStrata(['index', ...args, '-o', registryOut, '-q']), 2, c.error);
          assert.deepEqual(await tagsOf(reg.host, 'refused'), []);
        }
      });
    }
  });

  describe('push --by-digest', () => {
    test('an image from a layout goes by digest too, with no tag', async () => {
      const dir = tempDir();
      expectOk(await runStrata(['build', GOLDEN, '-o', `oci:${dir}/l:a`]));
      assert.equal(expectOk(await runStrata(['push', `oci:${dir}/l:a`, `${reg.host}/layout-by-digest`, '--by-digest', '-q'])), amd64);
      assert.deepEqual(await tagsOf(reg.host, 'layout-by-digest'), []);
      const inspect = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/layout-by-digest@${amd64}`])) as {
        mediaType: string;
      };
      assert.equal(inspect.mediaType, 'application/vnd.oci.image.manifest.v1+json');
      removeDir(dir);
    });
    test('a tag with --by-digest is a usage error', async () => {
      expectFailure(await runStrata(['push', GOLDEN, `${reg.host}/tagged:v1`, '--by-digest', '-q']), 2, /--by-digest.*no tag/);
      expectFailure(await runStrata(['push', GOLDEN, `${reg.host}/tagged`, '--by-digest', '--tag', 'v1', '-q']), 2, /--by-digest.*no tag/);
      assert.deepEqual(await tagsOf(reg.host, 'tagged'), []);
    });
  });
});

function expectOkJson(r: { code: number; stdout: string; stderr: string }): string {
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

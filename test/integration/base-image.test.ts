// Base images (fromImage, --from): a hand-made non-Nix image, in an OCI layout
// and in a real registry (CNCF distribution), under the golden example. Its
// layers must stay byte for byte, its config merge under the description's, and
// the result be readable by skopeo and umoci.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, test } from 'vitest';
import tarStream from 'tar-stream';
import { skopeo } from '../helpers/podman.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { expectFailure, expectOk, removeDir, repoRoot, runStrata, sh, tempDir } from '../helpers/strata.js';

const GOLDEN = './examples/golden#default';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}
interface Manifest {
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}
interface Config {
  architecture: string;
  os: string;
  config: Record<string, unknown> & { Env?: string[]; Labels?: Record<string, string> };
  rootfs: { diff_ids: string[] };
  history: { created_by?: string; comment?: string }[];
}

async function tarOf(entries: { name: string; content?: string }[]): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const e of entries) {
    if (e.content === undefined) pack.entry({ name: e.name, type: 'directory', mode: 0o755, mtime: new Date(0) });
    else pack.entry({ name: e.name, mode: 0o644, mtime: new Date(0) }, e.content);
  }
  pack.finalize();
  const parts: Buffer[] = [];
  for await (const c of pack) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A layout with no Nix in it: a tar+gzip layer with /etc/os-release and a plain tar layer; linux/amd64 and arm64 configs, and an index of both. */
async function makeBase(dir: string): Promise<{ manifest: Manifest; digest: string; config: Config }> {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer) => {
    writeFileSync(join(blobs, sha(b).slice(7)), b);
    return { digest: sha(b), size: b.length };
  };
  const osRelease = await tarOf([{ name: 'etc' }, { name: 'etc/os-release', content: 'ID=handmade\nNAME="Hand-made base"\n' }]);
  const marker = await tarOf([{ name: 'etc/base-marker', content: 'from the base\n' }]);
  const layers: Descriptor[] = [
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...put(gzipSync(osRelease)), annotations: { 'org.example.layer': 'os-release' } },
    { mediaType: 'application/vnd.oci.image.layer.v1.tar', ...put(marker) },
  ];
  const configFor = (architecture: string): Config => ({
    architecture,
    os: 'linux',
    config: {
      Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'LANG=C'],
      Cmd: ['/bin/sh'],
      Labels: { 'org.example.base': 'yes', 'org.opencontainers.image.title': 'base' },
      ExposedPorts: { '53/udp': {} },
      Healthcheck: { Test: ['NONE'] },
    },
    rootfs: { diff_ids: [sha(osRelease), sha(marker)] },
    history: [
      { created_by: 'hand-made', comment: 'os-release' },
      { created_by: 'hand-made', comment: 'marker' },
    ],
  });
  const image = (architecture: string) => {
    const config = configFor(architecture);
    const m: Manifest = {
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...put(Buffer.from(JSON.stringify(config))) },
      layers,
    };
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, ...m }));
    return { manifest: m, config, descriptor: { mediaType: OCI_MANIFEST, ...put(bytes) } };
  };
  const amd64 = image('amd64');
  const arm64 = image('arm64');
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { ...arm64.descriptor, platform: { os: 'linux', architecture: 'arm64' } },
        { ...amd64.descriptor, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    }),
  );
  // A layer type Docker manifests cannot name; never read (strata digest reads no layer).
  const zstd = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: amd64.manifest.config,
      layers: [{ ...layers[0]!, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' }, layers[1]],
    }),
  );
  const tagged = (d: { digest: string; size: number }, mediaType: string, tag: string) => ({
    mediaType,
    ...d,
    annotations: { 'org.opencontainers.image.ref.name': tag },
  });
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        tagged(amd64.descriptor, OCI_MANIFEST, '1'),
        tagged(arm64.descriptor, OCI_MANIFEST, 'arm'),
        tagged(put(index), 'application/vnd.oci.image.index.v1+json', 'multi'),
        tagged(put(zstd), OCI_MANIFEST, 'zstd'),
      ],
    }),
  );
  return { manifest: amd64.manifest, digest: amd64.descriptor.digest, config: amd64.config };
}

/** The manifest and config of the image tagged `tag` in a layout. */
function readImage(layout: string, tag: string): { manifest: Manifest; config: Config } {
  const blob = (d: string) => readFileSync(join(layout, 'blobs', 'sha256', d.slice(7)), 'utf8');
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: (Descriptor & { annotations: Record<string, string> })[] };
  const top = index.manifests.find((m) => m.annotations['org.opencontainers.image.ref.name'] === tag)!;
  const manifest = JSON.parse(blob(top.digest)) as Manifest;
  return { manifest, config: JSON.parse(blob(manifest.config.digest)) as Config };
}

describe('base images', () => {
  let work: string;
  let reg: Registry;
  let base: Awaited<ReturnType<typeof makeBase>>;
  let baseDir: string;
  /** The build on the layout base, which the other tests compare with. */
  let built: { digest: string; manifest: Manifest; config: Config };

  beforeAll(async () => {
    work = tempDir('strata-base-');
    baseDir = join(work, 'base');
    base = await makeBase(baseDir);
    reg = await startRegistry();
    expectOk(await runStrata(['copy', `oci:${baseDir}:1`, `docker://${reg.host}/base:1`, '-q']));
  });
  afterAll(async () => {
    await reg?.stop();
    removeDir(work);
  });

  test('--from oci: keeps the base layers byte for byte under the golden image and merges the config', async () => {
    const out = join(work, 'out');
    const digest = expectOk(await runStrata(['build', GOLDEN, '--from', `oci:${baseDir}:1`, '-o', `oci:${out}:x`]));
    const { manifest, config } = readImage(out, 'x');
    built = { digest, manifest, config };
    assert.deepEqual(manifest.layers.slice(0, 2), base.manifest.layers, 'the base descriptors, annotations included');
    assert.deepEqual(config.rootfs.diff_ids.slice(0, 2), base.config.rootfs.diff_ids);
    assert.deepEqual(config.history.slice(0, 2), base.config.history);
    assert.equal(config.history.length, manifest.layers.length);
    // Strata's own layers are those of the golden image without a base.
    const golden = JSON.parse((await runStrata(['digest', GOLDEN, '--json'])).stdout) as { layers: { digest: string }[] };
    assert.deepEqual(
      manifest.layers.slice(2).map((l) => l.digest),
      golden.layers.map((l) => l.digest),
    );
    assert.equal(manifest.annotations!['org.opencontainers.image.base.digest'], base.digest);
    assert.equal(manifest.annotations!['org.opencontainers.image.base.name'], undefined, 'a layout has no name');
    const c = config.config;
    assert.deepEqual(c.Env, ['PATH=/usr/local/bin:/usr/bin:/bin', 'LANG=C.UTF-8'], 'base order, the description wins');
    assert.deepEqual(c.Labels, { 'org.example.base': 'yes', 'org.opencontainers.image.title': 'golden' });
    assert.deepEqual(c.ExposedPorts, { '53/udp': {}, '8080/tcp': {} });
    assert.equal(c.Cmd, undefined, "the golden Entrypoint drops the base's Cmd");
    assert.equal(c.WorkingDir, '/tmp');
    assert.deepEqual(c.Healthcheck, { Test: ['NONE'] }, 'fields Strata does not model are kept');
    assert.equal(config.architecture, 'amd64');
    assert.equal(config.os, 'linux');
    // Independent readers: skopeo copies it, umoci unpacks base and Nix files into one tree.
    const copied = tempDir();
    await skopeo(['copy', `oci:${out}:x`, `oci:${copied}:y`]);
    const bundle = join(work, 'bundle');
    sh('umoci', ['unpack', '--image', `${out}:x`, bundle]);
    assert.match(readFileSync(join(bundle, 'rootfs', 'etc', 'os-release'), 'utf8'), /ID=handmade/);
    assert.equal(readFileSync(join(bundle, 'rootfs', 'etc', 'base-marker'), 'utf8'), 'from the base\n');
    assert.match(readFileSync(join(bundle, 'rootfs', 'etc', 'passwd'), 'utf8'), /^app:x:1000:/m);
    removeDir(copied);
  });

  test('strata digest --from needs no layer bytes and prints what build wrote; an index gives its platform image', async () => {
    assert.equal(expectOk(await runStrata(['digest', GOLDEN, '--from', `oci:${baseDir}:1`])), built.digest);
    assert.equal(expectOk(await runStrata(['digest', GOLDEN, '--from', `oci:${baseDir}:multi`])), built.digest);
  });

  test('--from docker:// is the same image, with the base name annotated; bare REGISTRY/REPO means docker://', async () => {
    const out = join(work, 'from-registry');
    const digest = expectOk(await runStrata(['build', GOLDEN, '--from', `docker://${reg.host}/base:1`, '-o', `oci:${out}:x`]));
    const { manifest } = readImage(out, 'x');
    // The layout build's manifest but for the base.name annotation: the same layers and config.
    assert.deepEqual(manifest, {
      ...built.manifest,
      annotations: { ...built.manifest.annotations, 'org.opencontainers.image.base.name': `${reg.host}/base:1` },
    });
    assert.notEqual(digest, built.digest);
    assert.equal(expectOk(await runStrata(['digest', GOLDEN, '--from', `docker://${reg.host}/base:1`])), digest);
    assert.equal(expectOk(await runStrata(['digest', GOLDEN, '--from', `${reg.host}/base:1`])), digest);
  });

  test('a push to the same registry mounts the base layers; --format docker renames their media types only', async () => {
    const r = await runStrata(['push', GOLDEN, `${reg.host}/app:1`, '--from', `docker://${reg.host}/base:1`, '--json']);
    expectOk(r);
    const result = JSON.parse(r.stdout) as { manifestDigest: string; pushed: { blobs: { digest: string; action: string }[] }; base: unknown };
    const digest = result.manifestDigest;
    assert.deepEqual(result.base, { reference: `docker://${reg.host}/base:1`, digest: base.digest, layers: 2 });
    for (const l of base.manifest.layers) {
      const pushed = result.pushed.blobs.find((b) => b.digest === l.digest);
      assert.ok(pushed && ['mounted', 'exists'].includes(pushed.action), JSON.stringify(result.pushed.blobs));
    }
    assert.ok(
      result.pushed.blobs.some((b) => b.action === 'mounted'),
      'at least one base layer was mounted, not uploaded',
    );
    assert.equal(expectOk(await runStrata(['digest', GOLDEN, '--from', `docker://${reg.host}/base:1`])), digest);
    const inspect = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/app:1`])) as { Digest: string; Layers: string[] };
    assert.equal(inspect.Digest, digest);

    expectOk(await runStrata(['push', GOLDEN, `${reg.host}/app-docker:1`, '--from', `${reg.host}/base:1`, '--format', 'docker', '-q']));
    const raw = JSON.parse(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/app-docker:1`])) as Manifest;
    assert.deepEqual(
      raw.layers.slice(0, 2).map((l) => [l.mediaType, l.digest, l.size]),
      [
        ['application/vnd.docker.image.rootfs.diff.tar.gzip', base.manifest.layers[0]!.digest, base.manifest.layers[0]!.size],
        ['application/vnd.docker.image.rootfs.diff.tar', base.manifest.layers[1]!.digest, base.manifest.layers[1]!.size],
      ],
    );
    assert.equal(raw.config.digest, built.manifest.config.digest, 'the config bytes do not depend on the manifest format');
  });

  test('docker-archive unpacks the compressed base layer; its image ID is the config digest', async () => {
    const file = join(work, 'image.tar');
    const id = expectOk(await runStrata(['build', GOLDEN, '--from', `oci:${baseDir}:1`, '-o', `docker-archive:${file}`]));
    assert.equal(id, built.manifest.config.digest);
    const config = JSON.parse(sh('skopeo', ['inspect', '--config', `docker-archive:${file}`])) as Config;
    assert.deepEqual(config.rootfs.diff_ids, built.config.rootfs.diff_ids);
    const back = tempDir();
    sh('skopeo', ['copy', `docker-archive:${file}`, `oci:${back}:t`]);
    removeDir(back);
  });

  test('fromImage in the description, and --from over it', async () => {
    mkdirSync(join(work, 'flake', 'nix'), { recursive: true });
    copyFileSync(join(repoRoot, 'nix', 'lib.nix'), join(work, 'flake', 'nix', 'lib.nix'));
    mkdirSync(join(work, 'flake', 'img'));
    writeFileSync(
      join(work, 'flake', 'img', 'flake.nix'),
      `{ outputs = { self }: let strata = import ../nix/lib.nix; in {
          packages.x86_64-linux.default = strata.image {
            name = "based";
            contents = [ (builtins.toFile "strata-based" "on a base\\n") ];
            config.Env = [ "LANG=C.UTF-8" ];
            fromImage = "oci:${baseDir}:arm";
          };
        }; }\n`,
    );
    sh('git', ['init', '-q', '.'], { cwd: join(work, 'flake') });
    sh('git', ['add', '-A'], { cwd: join(work, 'flake') });
    const installable = `${join(work, 'flake', 'img')}#default`;
    expectFailure(await runStrata(['digest', installable]), 2, /base image oci:.*:arm: it is a linux\/arm64 image and this one is for linux\/amd64/);
    const r = await runStrata(['digest', installable, '--from', `oci:${baseDir}:1`, '--json']);
    expectOk(r);
    const result = JSON.parse(r.stdout) as { base: { digest: string }; layers: { digest: string }[] };
    assert.equal(result.base.digest, base.digest);
    assert.deepEqual(
      result.layers.slice(0, 2).map((l) => l.digest),
      base.manifest.layers.map((l) => l.digest),
    );
  });

  test('a wrong-platform, missing, zstd-for-docker or too-big base is refused in one line', async () => {
    expectFailure(
      await runStrata(['build', GOLDEN, '--from', `oci:${baseDir}:arm`, '-o', `oci:${join(work, 'never')}`]),
      2,
      /it is a linux\/arm64 image and this one is for linux\/amd64/,
    );
    expectFailure(
      await runStrata(['digest', GOLDEN, '--from', `oci:${join(work, 'nowhere')}:1`]),
      2,
      /^strata: base image oci:.*nowhere:1: .*not a readable OCI layout/,
    );
    expectFailure(await runStrata(['digest', GOLDEN, '--from', `oci:${baseDir}:nope`]), 2, /base image .*has no image tagged 'nope'/);
    expectFailure(await runStrata(['digest', GOLDEN, '--from', `docker://${reg.host}/missing:1`]), 2, /base image docker:\/\/.*missing:1: .*no such image/);
    expectFailure(await runStrata(['digest', GOLDEN, '--from', `oci:${baseDir}:zstd`, '--format', 'docker']), 2, /zstd layers/);
    expectFailure(await runStrata(['digest', GOLDEN, '--from', `oci:${baseDir}:1`, '--max-layers', '2']), 2, /base image's 2 layers leave none/);
    expectFailure(
      await runStrata(['copy', `oci:${baseDir}:1`, `oci:${join(work, 'copy')}`, '--from', `oci:${baseDir}:1`]),
      2,
      /--from is for building a Nix installable/,
    );
  });
});

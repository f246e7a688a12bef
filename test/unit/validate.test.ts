// The tests' image validator (test/helpers/validate.ts) passes a good layout
// and fails each way a layout can be broken: a validator that cannot fail
// would make every test that calls it pass for nothing.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { assertValidOutput, validateDockerArchive, validateLayout, validateOciArchive } from '../helpers/validate.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'strata-validate-test-'));
  dirs.push(d);
  return d;
};

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';

interface Parts {
  layer: Buffer;
  config: object;
  manifest: (config: object, layer: object) => object;
  index: (manifest: object) => object;
  ociLayout: string;
}

const good: Parts = {
  layer: Buffer.from('a layer, as bytes'),
  config: {},
  manifest: (config, layer) => ({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }),
  index: (manifest) => ({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [manifest] }),
  ociLayout: '{"imageLayoutVersion":"1.0.0"}',
};

/** A one-image layout from `parts` (good ones unless overridden); `edit` may then break files. */
function layout(over: Partial<Parts> = {}, edit?: (dir: string, digests: { layer: string; config: string; manifest: string }) => void): string {
  const p = { ...good, ...over };
  const dir = temp();
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (b: Buffer, mediaType: string) => {
    writeFileSync(join(dir, 'blobs', 'sha256', sha(b).slice(7)), b);
    return { mediaType, digest: sha(b), size: b.length };
  };
  const layer = put(p.layer, OCI_LAYER);
  const config = put(
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(good.layer)] }, ...p.config })),
    OCI_CONFIG,
  );
  const manifest = put(Buffer.from(JSON.stringify(p.manifest(config, layer))), OCI_MANIFEST);
  writeFileSync(join(dir, 'index.json'), JSON.stringify(p.index(manifest)));
  writeFileSync(join(dir, 'oci-layout'), p.ociLayout);
  edit?.(dir, { layer: layer.digest, config: config.digest, manifest: manifest.digest });
  return dir;
}

const problems = async (dir: string) => (await validateLayout(dir)).problems;

describe('validateLayout', () => {
  test('a good layout has no problems, and every part was looked at', async () => {
    expect(await validateLayout(layout())).toEqual({ problems: [], indexes: 1, manifests: 1, configs: 1, blobs: 3 });
  });

  test.each<[string, () => string, RegExp]>([
    [
      'a manifest with a wrong-typed field',
      () => layout({ manifest: (c, l) => ({ schemaVersion: 2, config: c, layers: [{ ...l, size: String((l as { size: number }).size) }] }) }),
      /^manifest sha256:\w+ \(index\.json manifests\[0\]\): layers\[0\]\.size "17" is not a number$/,
    ],
    [
      'an index.json with a bad digest',
      () => layout({ index: (m) => ({ schemaVersion: 2, manifests: [{ ...m, digest: 'sha256:../../etc' }] }) }),
      /^index\.json: manifests\[0\]\.digest "sha256:\.\.\/\.\.\/etc" is not a sha256 digest$/,
    ],
    ['a config without rootfs', () => layout({ config: { rootfs: undefined } }), /^config sha256:\w+ .*: rootfs is missing$/],
    [
      'a config with more diff_ids than layers',
      () => layout({ config: { rootfs: { type: 'layers', diff_ids: [sha(good.layer), sha(good.layer)] } } }),
      /2 diff_ids for 1 layers$/,
    ],
    [
      'an oci-layout of another version',
      () => layout({ ociLayout: '{"imageLayoutVersion":"2.0.0"}' }),
      /^oci-layout: imageLayoutVersion 2\.0\.0 is not 1\.0\.0$/,
    ],
    [
      "a manifest whose mediaType is not its descriptor's",
      () => layout({ manifest: (c, l) => ({ schemaVersion: 2, mediaType: OCI_INDEX, config: c, layers: [l] }) }),
      /mediaType application\/vnd\.oci\.image\.index\.v1\+json is not its descriptor's/,
    ],
    [
      'a layer blob whose bytes changed',
      () => layout({}, (dir, d) => writeFileSync(join(dir, 'blobs', 'sha256', d.layer.slice(7)), 'a layer, as bytez')),
      /layers\[0\]: blob sha256:\w+ hashes to sha256:\w+$/,
    ],
    [
      'a layer blob cut short',
      () => layout({}, (dir, d) => writeFileSync(join(dir, 'blobs', 'sha256', d.layer.slice(7)), 'a layer')),
      /layers\[0\]: blob sha256:\w+ is 7 bytes, its descriptor says 17$/,
    ],
    [
      'a missing config blob',
      () => layout({}, (dir, d) => unlinkSync(join(dir, 'blobs', 'sha256', d.config.slice(7)))),
      /config: blob sha256:\w+ is not in the layout$/,
    ],
    ['no index.json', () => layout({}, (dir) => unlinkSync(join(dir, 'index.json'))), /^index\.json is missing$/],
  ])('finds %s', async (_, make, expected) => {
    const found = await problems(make());
    assert.ok(
      found.some((p) => expected.test(p)),
      `expected ${expected}, got ${JSON.stringify(found)}`,
    );
  });
});

describe('archives', () => {
  test('an oci-archive is its layout in a tar, broken or not', async () => {
    const tarOf = (dir: string) => {
      const file = join(temp(), 'image.tar');
      execFileSync('tar', ['-cf', file, '-C', dir, '.']);
      return file;
    };
    expect((await validateOciArchive(tarOf(layout()))).problems).toEqual([]);
    const broken = tarOf(layout({}, (dir, d) => writeFileSync(join(dir, 'blobs', 'sha256', d.layer.slice(7)), 'a layer, as bytez')));
    expect((await validateOciArchive(broken)).problems).toHaveLength(1);
    await expect(assertValidOutput(`oci-archive:${broken}:latest`)).rejects.toThrow(/is not a valid image:\n {2}.*hashes to/);
  });

  test("a docker-archive's layers must hash to the config's diff_ids", async () => {
    const archive = (layer: Buffer) => {
      const dir = temp();
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(good.layer)] } }));
      const hex = sha(config).slice(7);
      writeFileSync(join(dir, `${hex}.json`), config);
      mkdirSync(join(dir, 'l'));
      writeFileSync(join(dir, 'l', 'layer.tar'), layer);
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify([{ Config: `${hex}.json`, RepoTags: ['app:latest'], Layers: ['l/layer.tar'] }]));
      const file = join(temp(), 'docker.tar');
      execFileSync('tar', ['-cf', file, '-C', dir, '.']);
      return file;
    };
    expect(await validateDockerArchive(archive(good.layer))).toEqual({ problems: [], indexes: 0, manifests: 1, configs: 1, blobs: 1 });
    expect((await validateDockerArchive(archive(Buffer.from('other bytes')))).problems).toEqual([
      expect.stringMatching(/^manifest\.json\[0\]: layer l\/layer\.tar hashes to sha256:\w+, not diff_ids\[0\]/),
    ]);
  });

  test('a reference that names no local image is not validated; one that names nothing written is a problem', async () => {
    expect(await assertValidOutput('docker://localhost:5000/app:latest')).toBeUndefined();
    await expect(assertValidOutput(`oci:${join(temp(), 'nothing')}:latest`)).rejects.toThrow(/nothing was written there/);
    expect((await assertValidOutput(`oci:${layout()}:latest`))?.problems).toEqual([]);
  });
});

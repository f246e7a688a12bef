// The index model: platforms from configs, their order and matching, the media
// type, and index bytes that do not depend on the order images are given in.
import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { comparePlatforms, indexMediaType, makeImageIndex, platformOfConfig, type IndexChild } from '../../image/image-index.js';
import { normalizePlatform, platformMatches } from '../../oci/platform.js';
import { sha256 } from '../../base/hash-tap.js';
import { exitCodeFor, StrataError } from '../../base/errors.js';
import type { Platform } from '../../oci/types.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

function child(platform: Platform, mediaType = OCI_MANIFEST, name = JSON.stringify(platform)): IndexChild {
  return { descriptor: { mediaType, digest: sha256(name), size: 100 + name.length }, platform, source: name };
}

function refused(fn: () => unknown, code: StrataError['code'], re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof StrataError, String(e));
    assert.equal(e.code, code);
    assert.equal(exitCodeFor(e), 2);
    assert.match(e.message, re);
    return true;
  });
}

/** Every order of `xs`. */
function permutations<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]));
}

describe('platformOfConfig', () => {
  it('takes os, architecture, variant, os.version and os.features from the config', () => {
    const config = {
      os: 'windows',
      architecture: 'amd64',
      variant: 'v3',
      'os.version': '10.0.20348.2227',
      'os.features': ['win32k'],
      rootfs: { type: 'layers' as const, diff_ids: [] },
    };
    assert.deepEqual(platformOfConfig(config), {
      os: 'windows',
      architecture: 'amd64',
      variant: 'v3',
      'os.version': '10.0.20348.2227',
      'os.features': ['win32k'],
    });
  });
  it('leaves out what the config does not say, and empty values', () => {
    assert.deepEqual(platformOfConfig({ os: 'linux', architecture: 'arm64', variant: '', 'os.features': [] }), { os: 'linux', architecture: 'arm64' });
  });
  it('refuses a config without os or architecture', () => {
    refused(() => platformOfConfig({ architecture: 'amd64' }), 'reference', /no os\b/);
    refused(() => platformOfConfig({ os: 'linux' }), 'reference', /no architecture/);
    refused(() => platformOfConfig({}), 'reference', /no os or architecture/);
  });
});

describe('platforms: spellings, order and matching', () => {
  it('arm64/v8 is arm64, and arm without a variant is arm/v7', () => {
    assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'arm64', variant: 'v8' }), { os: 'linux', architecture: 'arm64' });
    assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'arm' }), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.equal(comparePlatforms({ os: 'linux', architecture: 'arm64', variant: 'v8' }, { os: 'linux', architecture: 'arm64' }), 0);
  });
  it('orders by os, architecture, variant, os.version, os.features', () => {
    const ordered: Platform[] = [
      { os: 'linux', architecture: '386' },
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'amd64', variant: 'v3' },
      { os: 'linux', architecture: 'arm', variant: 'v6' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
      { os: 'linux', architecture: 'arm64' },
      { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.5329' },
      { os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.2227' },
      { os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.2227', 'os.features': ['win32k'] },
    ];
    assert.deepEqual([...ordered].reverse().sort(comparePlatforms), ordered);
  });
  it('a platform asked for without a variant matches any; os.version and os.features are not asked', () => {
    assert.ok(platformMatches({ os: 'linux', architecture: 'arm64', variant: 'v8' }, { os: 'linux', architecture: 'arm64' }));
    assert.ok(platformMatches({ os: 'linux', architecture: 'arm' }, { os: 'linux', architecture: 'arm', variant: 'v7' }));
    assert.ok(platformMatches({ os: 'linux', architecture: 'amd64', variant: 'v3' }, { os: 'linux', architecture: 'amd64' }));
    assert.ok(platformMatches({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.2227' }, { os: 'windows', architecture: 'amd64' }));
    assert.ok(!platformMatches({ os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'arm', variant: 'v6' }));
    assert.ok(!platformMatches({ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }));
  });
});

describe('indexMediaType', () => {
  it('a Docker manifest list only when every child is a Docker v2 schema 2 manifest', () => {
    assert.equal(indexMediaType([{ mediaType: DOCKER_MANIFEST }, { mediaType: DOCKER_MANIFEST }]), 'application/vnd.docker.distribution.manifest.list.v2+json');
    assert.equal(indexMediaType([{ mediaType: DOCKER_MANIFEST }, { mediaType: OCI_MANIFEST }]), 'application/vnd.oci.image.index.v1+json');
    assert.equal(indexMediaType([{ mediaType: OCI_MANIFEST }]), 'application/vnd.oci.image.index.v1+json');
  });
});

describe('makeImageIndex', () => {
  const amd64 = child({ os: 'linux', architecture: 'amd64' });
  const arm64 = child({ os: 'linux', architecture: 'arm64' });
  const armv7 = child({ os: 'linux', architecture: 'arm', variant: 'v7' });

  it('has the same bytes and digest in whatever order the images come', () => {
    const made = permutations([arm64, armv7, amd64]).map((order) => makeImageIndex(order, { 'org.opencontainers.image.source': 'https://example.com/app' }));
    for (const m of made) assert.deepEqual(m.bytes, made[0]!.bytes);
    assert.equal(made[0]!.digest, sha256(made[0]!.bytes));
    assert.deepEqual(
      made[0]!.index.manifests.map((d) => d.digest),
      [amd64, armv7, arm64].map((c) => c.descriptor.digest),
    );
  });

  it('is canonical JSON with platform fields and no timestamp', () => {
    const m = makeImageIndex([arm64, amd64]);
    const text = m.bytes.toString('utf8');
    assert.equal(
      text,
      `{"manifests":[{"digest":"${amd64.descriptor.digest}","mediaType":"${OCI_MANIFEST}","platform":{"architecture":"amd64","os":"linux"},"size":${amd64.descriptor.size}},` +
        `{"digest":"${arm64.descriptor.digest}","mediaType":"${OCI_MANIFEST}","platform":{"architecture":"arm64","os":"linux"},"size":${arm64.descriptor.size}}],` +
        `"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}`,
    );
    assert.equal(m.mediaType, 'application/vnd.oci.image.index.v1+json');
  });

  it('writes annotations on an OCI index', () => {
    const m = makeImageIndex([amd64], { b: '2', a: '1' });
    assert.match(m.bytes.toString('utf8'), /"annotations":\{"a":"1","b":"2"\}/);
  });

  it('is a Docker manifest list over Docker manifests, which refuses annotations', () => {
    const d1 = child({ os: 'linux', architecture: 'amd64' }, DOCKER_MANIFEST);
    const d2 = child({ os: 'linux', architecture: 'arm64' }, DOCKER_MANIFEST);
    assert.equal(makeImageIndex([d2, d1]).mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
    refused(() => makeImageIndex([d1, d2], { a: '1' }), 'usage', /Docker manifest list.*no annotations/);
  });

  it('refuses two images of one platform, spelled the same or not, naming both', () => {
    const other = child({ os: 'linux', architecture: 'amd64' }, OCI_MANIFEST, 'another amd64');
    refused(() => makeImageIndex([amd64, arm64, other]), 'platform', /two linux\/amd64 images: .*another amd64/);
    const v8 = child({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    refused(() => makeImageIndex([arm64, v8]), 'platform', /two linux\/arm64.* images/);
  });

  it('counts the same image named twice once', () => {
    const m = makeImageIndex([amd64, arm64, { ...amd64, source: 'the same, from elsewhere' }]);
    assert.equal(m.index.manifests.length, 2);
  });

  it('refuses an empty index', () => {
    refused(() => makeImageIndex([]), 'usage', /no image/);
  });
});

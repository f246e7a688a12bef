// The OCI JSON schemas (oci/schema.ts) and their one-line refusals
// (oci/parse.ts): the spec's grammar for digests, media types, sizes and
// annotations, real documents accepted whole, and each refusal naming its field.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'vitest';
import fc from 'fast-check';
import { checkOci, fieldPath, OciJsonError, parseOci } from '../../oci/parse.js';
import {
  descriptor,
  digest,
  dockerManifestList,
  imageConfig,
  imageIndex,
  imageManifest,
  mediaType,
  MAX_MANIFEST_BYTES,
  type OciDescriptor,
  type OciManifest,
} from '../../oci/schema.js';
import { exitCodeFor, StrataError } from '../../base/errors.js';
import type { Descriptor, ImageManifest } from '../../oci/types.js';

const hex = (s: string) => createHash('sha256').update(s).digest('hex');
const good = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${hex('a')}`, size: 3 };

/** The one line a document is refused with (undefined: accepted). */
function refusal(schema: Parameters<typeof checkOci>[0], value: unknown): string | undefined {
  try {
    checkOci(schema, JSON.stringify(value));
    return undefined;
  } catch (e) {
    assert.ok(e instanceof OciJsonError, String(e));
    assert.ok(!e.problem.includes('\n'), 'one line');
    return e.problem;
  }
}

// The schemas' output fits the types the rest of Strata writes with (checked by tsc).
const asDescriptor = (d: OciDescriptor): Descriptor => d;
const asManifest = (m: OciManifest, mediaType: string): ImageManifest => ({ ...m, mediaType: m.mediaType ?? mediaType });
void asDescriptor;
void asManifest;

describe('digest', () => {
  it('takes sha256 with 64 lowercase hex, and only that', () => {
    assert.equal(digest.parse(`sha256:${hex('x')}`), `sha256:${hex('x')}`);
    for (const bad of [
      `sha256:${hex('x').slice(1)}`,
      `sha256:${hex('x')}0`,
      `sha256:${hex('x').toUpperCase()}`,
      'sha256:../../etc/passwd',
      `sha256:${'../'.repeat(20)}dev/zero`,
      `SHA256:${hex('x')}`,
      hex('x'),
      '',
      `sha256:${hex('x')}\n`,
      ` sha256:${hex('x')}`,
      `sha256:${hex('x').slice(0, 60)}/../`,
    ]) {
      assert.equal(digest.safeParse(bad).success, false, JSON.stringify(bad));
    }
  });

  it('names the algorithm it does not handle, and says a malformed registered one is malformed', () => {
    assert.equal(
      refusal(descriptor, { ...good, digest: `sha512:${'ab'.repeat(64)}` }),
      `digest "sha512:${'ab'.repeat(34)}a... is a sha512 digest; Strata reads sha256 digests only`,
    );
    assert.equal(refusal(descriptor, { ...good, digest: `sha512:${'ab'.repeat(10)}` }), `digest "sha512:${'ab'.repeat(10)}" is not a sha512 digest`);
    assert.equal(refusal(descriptor, { ...good, digest: 'blake3:abc' }), 'digest "blake3:abc" is a blake3 digest; Strata reads sha256 digests only');
    assert.equal(refusal(descriptor, { ...good, digest: 'sha256:ABC' }), 'digest "sha256:ABC" is not a sha256 digest');
  });

  it('accepts a string exactly when it is sha256: and 64 lowercase hex (property)', () => {
    const shaped = /^sha256:[a-f0-9]{64}$/;
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.stringMatching(/^sha256:[a-fA-F0-9./]{60,68}$/), fc.stringMatching(/^[a-z0-9]{1,8}:[a-f0-9]{64}$/)),
        (s) => digest.safeParse(s).success === shaped.test(s),
      ),
      { numRuns: 2000 },
    );
  });
});

describe('the descriptor grammar', () => {
  it('media types are RFC 6838 type/subtype as the spec writes them', () => {
    for (const ok of ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.image.rootfs.diff.tar.gzip', 'text/plain', 'a/b'])
      assert.ok(mediaType.safeParse(ok).success, ok);
    for (const bad of [
      '',
      'tar',
      'application/',
      '/json',
      'application/json; charset=utf-8',
      'a/b/c',
      'app lication/json',
      `a/${'b'.repeat(128)}`,
      'application/json\n',
    ])
      assert.equal(mediaType.safeParse(bad).success, false, bad);
  });

  it('each field of a descriptor refused with its path, value and reason', () => {
    const cases: [unknown, string][] = [
      [{ ...good, size: -1 }, 'size -1 is negative'],
      [{ ...good, size: 0.5 }, 'size 0.5 is not a whole number'],
      [{ ...good, size: 2 ** 53 }, `size 9007199254740992 is larger than ${Number.MAX_SAFE_INTEGER}, the largest size Strata can count`],
      [{ ...good, size: '3' }, 'size "3" is not a number'],
      [{ ...good, size: null }, 'size null is not a number'],
      [{ mediaType: good.mediaType, digest: good.digest }, 'size is missing'],
      [{ ...good, mediaType: 'tar' }, 'mediaType "tar" is not a media type (type/subtype)'],
      [{ ...good, annotations: { 'org.example.x': 1 } }, 'annotations["org.example.x"] 1 is not a string'],
      [{ ...good, annotations: [] }, 'annotations [] is not an object'],
      [{ ...good, urls: ['not a url'] }, 'urls[0] "not a url" is not a URL'],
      [{ ...good, data: 'not base64!' }, 'data "not base64!" is not base64'],
      [{ ...good, platform: { os: 'linux' } }, 'platform.architecture is missing'],
      [{ ...good, artifactType: 'x' }, 'artifactType "x" is not a media type (type/subtype)'],
    ];
    for (const [value, line] of cases) assert.equal(refusal(descriptor, value), line);
    assert.equal(
      refusal(descriptor, { ...good, urls: ['https://example.com/blob'], data: 'YWJj', annotations: { a: 'b' }, future: { any: 1 } }),
      undefined,
      'unknown fields are ignored, as the spec says',
    );
  });

  it('a value is shown on one line, however it is made', () => {
    const line = refusal(descriptor, { ...good, digest: `sha256:\n\u001b[31m${'x'.repeat(200)}` })!;
    assert.match(line, /^digest "sha256:\\n\\u001b\[31mx+\.\.\. is not a sha256 digest$/);
    assert.ok(line.length < 140, line);
    assert.equal(refusal(descriptor, { ...good, mediaType: '\u009b31mred/x' }), 'mediaType "\\u009b31mred/x" is not a media type (type/subtype)');
    assert.throws(
      () => checkOci(descriptor, '{"a": \u001b[2J\u009b2J}'),
      (e: unknown) => e instanceof OciJsonError && !/[\u0000-\u001f\u007f-\u009f]/.test(e.problem),
    );
  });
});

describe('manifests, indexes and configs', () => {
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { ...good, mediaType: 'application/vnd.oci.image.config.v1+json' },
    layers: [good, good],
    annotations: { 'org.opencontainers.image.created': '1970-01-01T00:00:00Z' },
  };

  it('accepts an OCI manifest and keeps its unknown fields', () => {
    const m = checkOci(imageManifest, JSON.stringify({ ...manifest, extra: 1 }));
    assert.equal(m.layers.length, 2);
    assert.equal((m as Record<string, unknown>).extra, 1);
  });

  it('names the layer that lies', () => {
    assert.equal(
      refusal(imageManifest, { ...manifest, layers: [good, { ...good, digest: 'sha256:../../x' }] }),
      'layers[1].digest "sha256:../../x" is not a sha256 digest',
    );
    assert.equal(refusal(imageManifest, { ...manifest, schemaVersion: 1 }), 'schemaVersion 1 is not 2');
    assert.equal(refusal(imageManifest, { ...manifest, config: undefined }), 'config is missing');
    assert.equal(refusal(imageManifest, { ...manifest, layers: {} }), 'layers {} is not an array');
    assert.equal(refusal(imageManifest, [manifest]), 'is not a JSON object');
    assert.equal(refusal(imageManifest, 'text'), 'is not a JSON object');
  });

  it('an index bounds its manifests to 4 MiB before any is read', () => {
    const index = { schemaVersion: 2, manifests: [{ ...good, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: MAX_MANIFEST_BYTES }] };
    assert.equal(refusal(imageIndex, index), undefined);
    index.manifests[0]!.size = MAX_MANIFEST_BYTES + 1;
    assert.equal(refusal(imageIndex, index), `manifests[0].size ${MAX_MANIFEST_BYTES + 1} is larger than the 4 MiB a manifest may be`);
  });

  it('a Docker manifest list needs a platform for each manifest', () => {
    const list = {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
      manifests: [
        { ...good, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', platform: { architecture: 'amd64', os: 'linux', features: ['sse4'] } },
      ],
    };
    assert.equal(refusal(dockerManifestList, list), undefined);
    assert.equal(refusal(dockerManifestList, { ...list, manifests: [{ ...list.manifests[0], platform: undefined }] }), 'manifests[0].platform is missing');
  });

  it('a config: diff_ids are digests; Docker nulls elsewhere are let be', () => {
    const config = {
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: null, Entrypoint: null },
      rootfs: { type: 'layers', diff_ids: [`sha256:${hex('l')}`] },
    };
    assert.equal(refusal(imageConfig, config), undefined);
    assert.equal(
      refusal(imageConfig, { ...config, rootfs: { type: 'layers', diff_ids: ['sha256:../x'] } }),
      'rootfs.diff_ids[0] "sha256:../x" is not a sha256 digest',
    );
    assert.equal(refusal(imageConfig, { ...config, rootfs: { type: 'tar', diff_ids: [] } }), 'rootfs.type "tar" is not "layers"');
    assert.equal(refusal(imageConfig, { ...config, rootfs: { diff_ids: [] } }), undefined, 'a hand-made config without rootfs.type');
    assert.equal(refusal(imageConfig, { rootfs: config.rootfs }), undefined, 'no platform: refused where one is needed, not here');
    assert.equal(refusal(imageConfig, { ...config, os: 5 }), 'os 5 is not a string');
    assert.equal(refusal(imageConfig, { ...config, rootfs: { type: 'layers' } }), 'rootfs.diff_ids is missing');
    assert.equal(refusal(imageManifest, { ...manifest, schemaVersion: undefined }), 'schemaVersion is missing');
  });

  it('text that is not JSON is refused on one line', () => {
    assert.throws(
      () => checkOci(imageManifest, '{"schemaVersion": 2,'),
      (e: unknown) => e instanceof OciJsonError && /^is not JSON \(/.test(e.problem) && !e.problem.includes('\n'),
    );
  });
});

describe('parseOci', () => {
  it('is exit 7 for what a registry sent and 2 for local input, one line naming where and the field', () => {
    const bad = JSON.stringify({ schemaVersion: 2, config: good, layers: [{ ...good, digest: 'sha256:../../x' }] });
    for (const [code, exit] of [
      ['registry', 7],
      ['usage', 2],
    ] as const) {
      assert.throws(
        () => parseOci(imageManifest, bad, 'manifest from 127.0.0.1:5000/app:latest', code),
        (e: unknown) =>
          e instanceof StrataError &&
          exitCodeFor(e) === exit &&
          e.message === 'manifest from 127.0.0.1:5000/app:latest: layers[0].digest "sha256:../../x" is not a sha256 digest',
      );
    }
    assert.throws(
      () => parseOci(imageManifest, 'nope', 'index.json of oci:x', 'usage'),
      (e: unknown) => e instanceof StrataError && /^index\.json of oci:x is not JSON \(/.test(e.message),
    );
  });

  it('field paths read as they are written in JSON', () => {
    assert.equal(fieldPath(['layers', 0, 'annotations', 'org.opencontainers.image.title']), 'layers[0].annotations["org.opencontainers.image.title"]');
    assert.equal(fieldPath(['os.features', 1]), '["os.features"][1]');
    assert.equal(fieldPath([]), '');
  });
});

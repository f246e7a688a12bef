// Config and manifest blobs: bytes written out by hand, digests computed here.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'vitest';
import { layerMediaType, makeConfig, makeManifest, rfc3339, type BuiltLayer } from '../../image/assemble.js';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const D1 = `sha256:${'1'.repeat(64)}` as const;
const D2 = `sha256:${'2'.repeat(64)}` as const;
const L1 = `sha256:${'a'.repeat(64)}` as const;
const L2 = `sha256:${'b'.repeat(64)}` as const;

const layers: BuiltLayer[] = [
  {
    digest: L1,
    size: 100,
    diffID: D1,
    uncompressedSize: 1000,
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    comment: 'store paths: hello',
    annotations: { 'dev.strata.layer.key': 'k1' },
  },
  {
    digest: L2,
    size: 200,
    diffID: D2,
    uncompressedSize: 2000,
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    comment: 'image root',
    annotations: {},
  },
];

describe('rfc3339', () => {
  it('writes UTC without fractional seconds', () => {
    assert.equal(rfc3339(0), '1970-01-01T00:00:00Z');
    assert.equal(rfc3339(1700000000), '2023-11-14T22:13:20Z');
    assert.equal(rfc3339(315532800), '1980-01-01T00:00:00Z');
  });
});

describe('makeConfig', () => {
  it('writes exactly these bytes, and digests them', () => {
    const c = makeConfig({ platform: { os: 'linux', architecture: 'amd64' }, config: {}, layers: [layers[0]!], created: 0, format: 'oci' });
    const want =
      '{"architecture":"amd64","config":{},"created":"1970-01-01T00:00:00Z",' +
      '"history":[{"comment":"store paths: hello","created":"1970-01-01T00:00:00Z","created_by":"strata"}],' +
      `"os":"linux","rootfs":{"diff_ids":["${D1}"],"type":"layers"}}`;
    assert.equal(c.bytes.toString('utf8'), want);
    assert.deepEqual(c.descriptor, { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(want), size: Buffer.byteLength(want) });
  });

  it('carries the variant, the container config sorted, one history entry per layer', () => {
    const c = makeConfig({
      platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
      config: { Env: ['B=1', 'A=2'], Entrypoint: ['/bin/x'], Labels: { z: '1', a: '2' } },
      layers,
      created: 1700000000,
      format: 'oci',
    });
    const s = c.bytes.toString('utf8');
    assert.ok(s.includes('"config":{"Entrypoint":["/bin/x"],"Env":["B=1","A=2"],"Labels":{"a":"2","z":"1"}}'), s);
    assert.ok(s.includes('"variant":"v7"'));
    const parsed = JSON.parse(s) as { history: unknown[]; rootfs: { diff_ids: string[] }; created: string };
    assert.equal(parsed.history.length, 2);
    assert.deepEqual(parsed.rootfs.diff_ids, [D1, D2]);
    assert.equal(parsed.created, '2023-11-14T22:13:20Z');
    assert.equal(c.descriptor.digest, sha(c.bytes));
    assert.equal(c.descriptor.size, c.bytes.length);
  });

  it('the docker form has the same bytes and the docker media type', () => {
    const args = { platform: { os: 'linux', architecture: 'arm64' }, config: { Cmd: ['x'] }, layers, created: 0 };
    const oci = makeConfig({ ...args, format: 'oci' });
    const docker = makeConfig({ ...args, format: 'docker' });
    assert.ok(oci.bytes.equals(docker.bytes));
    assert.equal(docker.descriptor.mediaType, 'application/vnd.docker.container.image.v1+json');
    assert.equal(docker.descriptor.digest, sha(docker.bytes));
  });

  it("puts a base image's diffIDs and history, as they are, before Strata's", () => {
    const B = `sha256:${'9'.repeat(64)}` as const;
    const history = [
      { created: '2020-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop) ADD file', empty_layer: false },
      { created_by: 'ENV X=1', empty_layer: true },
    ];
    const c = makeConfig({ platform: { os: 'linux', architecture: 'amd64' }, config: {}, layers, created: 0, format: 'oci', base: { diffIDs: [B], history } });
    const parsed = JSON.parse(c.bytes.toString('utf8')) as { history: unknown[]; rootfs: { diff_ids: string[] } };
    assert.deepEqual(parsed.rootfs.diff_ids, [B, D1, D2]);
    assert.deepEqual(parsed.history.slice(0, 2), history);
    assert.equal(parsed.history.length, 4);
  });

  it('does not depend on the clock', async () => {
    const args = { platform: { os: 'linux', architecture: 'amd64' }, config: {}, layers, created: 0, format: 'oci' as const };
    const a = makeConfig(args);
    await new Promise((r) => setTimeout(r, 1100));
    assert.ok(a.bytes.equals(makeConfig(args).bytes));
  });
});

describe('makeManifest', () => {
  const config = makeConfig({ platform: { os: 'linux', architecture: 'amd64' }, config: {}, layers, created: 0, format: 'oci' });

  it('writes exactly these bytes for the OCI form, and digests them', () => {
    const m = makeManifest({ config, layers, annotations: { 'dev.strata.compressor': 'gzip' }, format: 'oci' });
    const cd = config.descriptor;
    const want =
      '{"annotations":{"dev.strata.compressor":"gzip"},' +
      `"config":{"digest":"${cd.digest}","mediaType":"application/vnd.oci.image.config.v1+json","size":${cd.size}},` +
      '"layers":[' +
      `{"annotations":{"dev.strata.layer.key":"k1"},"digest":"${L1}","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":100},` +
      `{"digest":"${L2}","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":200}],` +
      '"mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2}';
    assert.equal(m.bytes.toString('utf8'), want);
    assert.deepEqual(m.descriptor, { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(want), size: Buffer.byteLength(want) });
  });

  it('leaves out empty annotations', () => {
    const m = makeManifest({ config, layers: [layers[1]!], annotations: {}, format: 'oci' });
    assert.ok(!m.bytes.toString().includes('annotations'));
  });

  it('the docker form has no annotations anywhere and the docker media type', () => {
    const dconfig = makeConfig({ platform: { os: 'linux', architecture: 'amd64' }, config: {}, layers, created: 0, format: 'docker' });
    const dlayers = layers.map((l) => ({ ...l, mediaType: layerMediaType('docker', 'gzip') }));
    const m = makeManifest({ config: dconfig, layers: dlayers, annotations: { 'dev.strata.compressor': 'gzip' }, format: 'docker' });
    const s = m.bytes.toString('utf8');
    assert.ok(!s.includes('annotations'), s);
    const parsed = JSON.parse(s) as { mediaType: string; schemaVersion: number; config: { mediaType: string }; layers: { mediaType: string }[] };
    assert.equal(parsed.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(parsed.schemaVersion, 2);
    assert.equal(parsed.config.mediaType, 'application/vnd.docker.container.image.v1+json');
    assert.deepEqual(
      parsed.layers.map((l) => l.mediaType),
      ['application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/vnd.docker.image.rootfs.diff.tar.gzip'],
    );
    assert.equal(m.descriptor.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(m.descriptor.digest, sha(m.bytes));
    assert.equal(m.descriptor.size, m.bytes.length);
  });
});

describe('layerMediaType', () => {
  it('OCI: gzip, zstd and uncompressed', () => {
    assert.equal(layerMediaType('oci', 'gzip'), 'application/vnd.oci.image.layer.v1.tar+gzip');
    assert.equal(layerMediaType('oci', 'zstd'), 'application/vnd.oci.image.layer.v1.tar+zstd');
    assert.equal(layerMediaType('oci', 'none'), 'application/vnd.oci.image.layer.v1.tar');
  });
  it('Docker: gzip and uncompressed', () => {
    assert.equal(layerMediaType('docker', 'gzip'), 'application/vnd.docker.image.rootfs.diff.tar.gzip');
    assert.equal(layerMediaType('docker', 'none'), 'application/vnd.docker.image.rootfs.diff.tar');
  });
});

// The one table between layer compressions and layer media types: each way
// agrees with the other, and the media types are the specs' strings.
import assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import { COMPRESSIONS, MANIFEST_FORMATS, layerCompression, layerMediaType } from '../../oci/layer-types.js';

describe('layerMediaType / layerCompression', () => {
  it('names the specs’ layer types', () => {
    assert.equal(layerMediaType('oci', 'gzip'), 'application/vnd.oci.image.layer.v1.tar+gzip');
    assert.equal(layerMediaType('oci', 'zstd'), 'application/vnd.oci.image.layer.v1.tar+zstd');
    assert.equal(layerMediaType('oci', 'none'), 'application/vnd.oci.image.layer.v1.tar');
    assert.equal(layerMediaType('docker', 'gzip'), 'application/vnd.docker.image.rootfs.diff.tar.gzip');
    assert.equal(layerMediaType('docker', 'none'), 'application/vnd.docker.image.rootfs.diff.tar');
  });

  it('reads back the compression of every media type it writes', () => {
    let pairs = 0;
    for (const format of MANIFEST_FORMATS) {
      for (const compression of COMPRESSIONS) {
        if (format === 'docker' && compression === 'zstd') continue;
        assert.equal(layerCompression(layerMediaType(format, compression)), compression, `${format} ${compression}`);
        pairs++;
      }
    }
    assert.equal(pairs, 5);
  });

  it('has no Docker zstd layer type', () => {
    assert.throws(() => layerMediaType('docker', 'zstd'), /docker manifests have no zstd layer type/);
  });

  it('knows no other layer type', () => {
    for (const t of [
      'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
      'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
      'application/vnd.oci.image.config.v1+json',
      'application/vnd.oci.image.layer.v1.tar+bzip2',
    ]) {
      assert.equal(layerCompression(t), undefined, t);
    }
  });
});

// The one image model's blobs open byte ranges (image/model.ts): a layout's, an
// oci-archive's and one held in memory give exactly bytes [start, end), and a
// read to the end still notices a file longer than its descriptor declares.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, describe, test } from 'vitest';
import { bufferBlob, rangeOf, uniqueBlobs, type Blob } from '../../image/model.js';
import { layoutBlob, readOciLayout } from '../../image/source.js';
import type { Descriptor } from '../../oci/types.js';
import { removeDir, tempDir } from '../helpers/strata.js';

const work = tempDir('strata-model-');
afterAll(() => removeDir(work));

async function read(s: Readable): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts).toString('latin1');
}

function put(dir: string, bytes: Buffer, mediaType: string, onDisk = bytes): Descriptor {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}` as const;
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'blobs', 'sha256', digest.slice(7)), onDisk);
  return { mediaType, digest, size: bytes.length };
}

describe('byte ranges', () => {
  const text = Buffer.from('0123456789');

  test('rangeOf clamps to the blob and says whether the range reaches its end', () => {
    assert.deepEqual(rangeOf(undefined, 10), { start: 0, length: 10, toEnd: true });
    assert.deepEqual(rangeOf({ start: 2, end: 5 }, 10), { start: 2, length: 3, toEnd: false });
    assert.deepEqual(rangeOf({ start: 7, end: 99 }, 10), { start: 7, length: 3, toEnd: true });
  });

  const cases: [string, () => Blob][] = [
    ['memory', () => bufferBlob({ mediaType: 'x/y', digest: `sha256:${'0'.repeat(64)}`, size: 10 }, text)],
    ['layout', () => layoutBlob(join(work, 'ranges'), put(join(work, 'ranges'), text, 'x/y'))],
  ];
  for (const [name, make] of cases) {
    test(`${name}: whole, a middle range, a tail, an empty range`, async () => {
      const b = make();
      assert.equal(await read(b.open()), '0123456789');
      assert.equal(await read(b.open({ start: 2, end: 5 })), '234');
      assert.equal(await read(b.open({ start: 7 })), '789');
      assert.equal(await read(b.open({ start: 4, end: 4 })), '');
    });
  }

  test('a layout file longer than its descriptor fails a read to the end, not a read of a range inside it', async () => {
    const dir = join(work, 'long');
    const d = put(dir, text, 'x/y', Buffer.concat([text, Buffer.from('EXTRA')]));
    const b = layoutBlob(dir, d);
    assert.equal(await read(b.open({ start: 0, end: 4 })), '0123');
    await assert.rejects(read(b.open()), /longer than the 10 bytes its descriptor declares/);
    await assert.rejects(read(b.open({ start: 8 })), /longer than the 10 bytes/);
  });
});

test('a layout read as an Image: config, layers and the blobs of the tree once', async () => {
  const dir = join(work, 'layout');
  const layer = put(dir, Buffer.from('layer'), 'application/vnd.oci.image.layer.v1.tar');
  const config = put(
    dir,
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } })),
    'application/vnd.oci.image.config.v1+json',
  );
  const manifest = put(
    dir,
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [layer, layer] })),
    'application/vnd.oci.image.manifest.v1+json',
  );
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [manifest] }));
  const img = await readOciLayout(dir, undefined);
  assert.equal(img.kind, 'image');
  if (img.kind !== 'image') return;
  assert.equal(img.manifest.digest, manifest.digest);
  assert.equal(img.config.descriptor.digest, config.digest);
  assert.deepEqual(
    img.layers.map((l) => l.descriptor.digest),
    [layer.digest, layer.digest],
  );
  assert.deepEqual(
    uniqueBlobs(img).map((b) => b.descriptor.digest),
    [config.digest, layer.digest],
  );
  assert.equal(await read(img.layers[1]!.open({ start: 1, end: 3 })), 'ay');
});

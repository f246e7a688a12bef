// docker-archive from an image staged in an OCI layout, for both a build and a
// copy: each layer as the archive holds it (the uncompressed tar, a compressed
// one unpacked and checked against its diffID), then the archive itself.
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { StrataError } from '../base/errors.js';
import { HashTap } from '../base/hash-tap.js';
import type { OciLayoutWriter } from './layout.js';
import type { Digest } from '../base/digest.js';
import { writeDockerArchive } from './archive.js';

/**
 * A layer as docker-archive holds it: the uncompressed tar. A compressed base
 * layer is unpacked beside its blob in the staging layout, named by its diffID
 * and checked against it.
 */
export async function uncompressedLayer(layout: OciLayoutWriter, l: { digest: Digest; diffID: Digest }): Promise<{ path: string; size: number }> {
  if (l.digest !== l.diffID) {
    const ok = await layout.importBlob(l.diffID, async (tmp) => {
      const tap = new HashTap();
      await pipeline(createReadStream(layout.blobPath(l.digest)), createGunzip(), tap, createWriteStream(tmp, { flags: 'wx' }));
      return tap.value.digest === l.diffID;
    });
    if (!ok) throw new StrataError('reference', `base layer ${l.digest} does not unpack to its diffID ${l.diffID}`);
  }
  const path = layout.blobPath(l.diffID);
  return { path, size: (await stat(path)).size };
}

/** Writes `file` as docker save would, from an image whose blobs are in `layout`: the one docker-archive writer. */
export async function writeDockerArchiveFrom(
  layout: OciLayoutWriter,
  img: { config: { digest: Digest; bytes: Buffer }; layers: { digest: Digest; diffID: Digest }[]; repoTags: string[] },
  file: string,
  mtime: number,
): Promise<void> {
  const layers = await Promise.all(img.layers.map(async (l) => ({ diffID: l.diffID, ...(await uncompressedLayer(layout, l)) })));
  await writeDockerArchive({ config: img.config, layers, repoTags: img.repoTags }, file, mtime);
}

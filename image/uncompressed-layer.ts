// A layer as docker-archive holds it: the uncompressed tar, for an image whose
// blobs are in a staging layout (a build's with a base image, or a copy's).
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { StrataError } from '../base/errors.js';
import { HashTap } from '../base/hash-tap.js';
import type { OciLayoutWriter } from './layout.js';
import type { Digest } from '../base/digest.js';

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

// Checks a layer blob against everything an image says of it: the digest and
// size of the compressed bytes, and the diffID and size of the tar inside.
// Reused bytes (from the cache or an existing layout) pass this first, so a
// damaged or forged cache entry can cost a rebuild but never a wrong image.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import type { Compression } from '../oci/layer-types.js';
import type { LayerDigests } from './layer.js';

function hasher(): { tap: Transform; result: () => { digest: string; size: number } } {
  const h = createHash('sha256');
  let n = 0;
  return {
    tap: new Transform({
      transform(chunk: Buffer, _e, cb) {
        h.update(chunk);
        n += chunk.length;
        cb(null, chunk);
      },
    }),
    result: () => ({ digest: `sha256:${h.digest('hex')}`, size: n }),
  };
}

/** Decompression for checking only (never for bytes that reach a digest), so Node's zlib is fine here. */
function decompressor(c: Compression): Transform | undefined {
  if (c === 'gzip') return createGunzip();
  if (c === 'zstd') return createZstdDecompress();
  return undefined;
}

export async function verifyLayerFile(path: string, layer: LayerDigests, compression: Compression): Promise<boolean> {
  const blob = hasher();
  const diff = hasher();
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const d = decompressor(compression);
  try {
    await pipeline(createReadStream(path), blob.tap, ...(d ? [d] : []), diff.tap, sink);
  } catch {
    return false; // unreadable or not valid compressed data
  }
  const b = blob.result();
  const u = diff.result();
  return b.digest === layer.digest && b.size === layer.size && u.digest === layer.diffID && u.size === layer.uncompressedSize;
}

// Checks a layer blob against everything an image says of it: the digest and
// size of the compressed bytes, and the diffID and size of the tar inside.
// Reused bytes (from the cache or an existing layout) pass this first, so a
// damaged or forged cache entry can cost a rebuild but never a wrong image.
import { createReadStream } from 'node:fs';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { HashTap } from '../base/hash-tap.js';
import type { Compression } from '../oci/layer-types.js';
import type { LayerDigests } from './layer.js';

/** Decompression for checking only (never for bytes that reach a digest), so Node's zlib is fine here. */
function decompressor(c: Compression): Transform | undefined {
  if (c === 'gzip') return createGunzip();
  if (c === 'zstd') return createZstdDecompress();
  return undefined;
}

export async function verifyLayerFile(path: string, layer: LayerDigests, compression: Compression): Promise<boolean> {
  const blob = new HashTap();
  const diff = new HashTap();
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const d = decompressor(compression);
  try {
    await pipeline(createReadStream(path), blob, ...(d ? [d] : []), diff, sink);
  } catch {
    return false; // unreadable or not valid compressed data
  }
  const b = blob.value;
  const u = diff.value;
  return b.digest === layer.digest && b.size === layer.size && u.digest === layer.diffID && u.size === layer.uncompressedSize;
}

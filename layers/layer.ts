// One layer: tree entries → deterministic tar → compressor → a sink, with the
// diffID (of the tar) and the digest and size (of the compressed blob) computed
// as the bytes pass.
import { Readable, type Writable } from 'node:stream';
import { StrataError } from '../base/errors.js';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../base/digest.js';
import { openCompressor } from './compress.js';
import type { Compression } from '../oci/layer-types.js';
import { HashTap } from '../base/hash-tap.js';
import { walkStorePath, type StoreObject } from './store-walk.js';
import { TAR_CHUNK, tarChunks, tarStream } from './tar.js';
import { compareBytes, compareTreePaths, type TreeEntry } from './tree.js';

export { LAYER_FORMAT_VERSION } from './format.js';

/** Mode of the /nix and /nix/store directory entries every store layer carries. */
const NIX_DIR_MODE = 0o755;

export interface LayerInput {
  /** Store objects whose trees make the layer. */
  storeObjects: StoreObject[];
  /** Entries made by Strata (root symlink farm, /etc files), already in tree order. */
  extra?: TreeEntry[];
}

export interface LayerOptions {
  compression: Compression;
  /** mtime of every entry, seconds since the epoch. */
  mtime: number;
}

export interface LayerDigests {
  digest: Digest;
  size: number;
  diffID: Digest;
  uncompressedSize: number;
}

/** The entries of a layer in tree order: /nix, /nix/store, then each store path. */
export function* layerEntries(input: LayerInput): Generator<TreeEntry> {
  const extra = [...(input.extra ?? [])];
  for (let i = 1; i < extra.length; i++) {
    if (compareTreePaths(extra[i - 1]!.path, extra[i]!.path) >= 0) {
      throw new Error(`internal: layer entries out of order or duplicated at ${extra[i]!.path}`);
    }
  }
  const objects = [...input.storeObjects].sort((a, b) => compareBytes(a.path, b.path));
  // Extra entries never live under nix/, so those before it and after it are split once.
  const beforeNix = extra.filter((e) => compareTreePaths(e.path, 'nix') < 0);
  const afterNix = extra.filter((e) => compareTreePaths(e.path, 'nix') > 0);
  if (beforeNix.length + afterNix.length !== extra.length) throw new Error('internal: extra entry at /nix');
  yield* beforeNix;
  if (objects.length > 0) {
    yield { type: 'directory', path: 'nix', mode: NIX_DIR_MODE };
    yield { type: 'directory', path: 'nix/store', mode: NIX_DIR_MODE };
    for (const o of objects) yield* walkStorePath(o);
  }
  yield* afterNix;
}

/** The layer's uncompressed tar: the bytes its diffID is the digest of. */
export function layerTar(input: LayerInput, mtime: number): Readable {
  return tarStream(layerEntries(input), { mtime });
}

/**
 * Writes one layer's compressed bytes into `sink` and returns its digests. Each
 * byte is hashed once per digest it is part of: the tar for the diffID, the
 * compressed bytes for the digest (for `none` they are the same bytes, hashed once).
 */
export async function writeLayer(input: LayerInput, opts: LayerOptions, sink: Writable): Promise<LayerDigests> {
  // The tar's own error (a damaged store path) is the one to report: when it
  // ends the pipeline, another stage may fail too and be the first to reject.
  let tarError: unknown;
  const tar = Readable.from(
    (function* () {
      try {
        yield* tarChunks(layerEntries(input), { mtime: opts.mtime });
      } catch (e) {
        tarError = e;
        throw e;
      }
    })(),
    { objectMode: false, highWaterMark: TAR_CHUNK },
  );
  const diff = new HashTap();
  const compressed = opts.compression === 'none' ? undefined : { compressor: await openCompressor(opts.compression), blob: new HashTap() };
  try {
    if (compressed) await pipeline(tar, diff, compressed.compressor, compressed.blob, sink);
    else await pipeline(tar, diff, sink);
  } catch (e) {
    throw tarError instanceof StrataError ? tarError : e;
  }
  const blob = (compressed?.blob ?? diff).value;
  return { digest: blob.digest, size: blob.size, diffID: diff.value.digest, uncompressedSize: diff.value.size };
}

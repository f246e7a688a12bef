// One layer: tree entries → deterministic tar → compressor → a sink, with the
// diffID (of the tar) and the digest and size (of the compressed blob) computed
// as the bytes pass.
import type { Readable, Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import type { Digest } from '../base/digest.js';
import { openCompressor } from './compress.js';
import type { Compression } from '../oci/layer-types.js';
import { HashTap } from '../base/hash-tap.js';
import { walkStorePath, type StoreObject } from './store-walk.js';
import { tarChunks, tarStream } from './tar.js';
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

export interface LayerWriteOptions {
  /**
   * The sink is done with a chunk once its write callback runs (a file, a
   * message port, a hash): the tar then reuses one buffer (tar.ts) and the
   * layer is made with no garbage per chunk, which is what bounds a worker's
   * memory. A sink that may keep chunks (a PassThrough) must leave it off.
   */
  sinkReleases?: boolean;
  /** Called after each chunk is taken (a worker frees dead buffers here: dead-buffers.ts). */
  afterChunk?: () => void;
}

/**
 * Writes one layer's compressed bytes into `sink` and returns its digests. Each
 * byte is hashed once per digest it is part of: the tar for the diffID, the
 * compressed bytes for the digest (for `none` they are the same bytes, hashed once).
 * One chunk at a time: the next is made only once the last is taken, which
 * is the back-pressure, and what lets the tar reuse its buffer.
 */
export async function writeLayer(input: LayerInput, opts: LayerOptions, sink: Writable, w: LayerWriteOptions = {}): Promise<LayerDigests> {
  const diff = createHash('sha256');
  let tarSize = 0;
  const compressor = opts.compression === 'none' ? undefined : await openCompressor(opts.compression);
  const blob = compressor ? new HashTap() : undefined;
  // Compressors copy what they keep before calling back (compress.ts,
  // native-compress.ts), so the tar's buffer may be reused behind them too.
  const reuse = compressor !== undefined || w.sinkReleases === true;
  const head: Writable = compressor ?? sink;
  const rest = compressor && blob ? pipeline(compressor, blob, sink) : finished(sink);
  rest.catch(() => undefined); // awaited below; an early failure also ends the loop through `failed`
  // Never settles unless the stages after the tar fail: then it rejects as they did.
  const failed = rest.then(() => new Promise<never>(() => undefined));
  failed.catch(() => undefined);
  try {
    for (const chunk of tarChunks(layerEntries(input), { mtime: opts.mtime, reuse })) {
      diff.update(chunk);
      tarSize += chunk.length;
      await Promise.race([write(head, chunk), failed]);
      w.afterChunk?.();
    }
    head.end();
    await rest;
  } catch (e) {
    // Whichever failed first is reported — the tar (a damaged store path) or
    // a stage after it — and the others are stopped without reporting theirs.
    head.destroy();
    sink.destroy();
    throw e;
  }
  const tarDigest: Digest = `sha256:${diff.digest('hex')}`;
  const b = blob?.value ?? { digest: tarDigest, size: tarSize };
  return { digest: b.digest, size: b.size, diffID: tarDigest, uncompressedSize: tarSize };
}

/** Resolves once `w` has taken the chunk (its write callback ran). */
function write(w: Writable, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => w.write(chunk, (e) => (e ? reject(e) : resolve())));
}

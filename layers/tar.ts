// Deterministic tar, made synchronously in large chunks: every header field set
// by tar-header.ts, never by a clock or a library's defaults. Headers and file
// contents are read straight into ~1 MiB buffers, so whoever consumes the tar
// (a hash, a compressor, a file) sees a few large writes instead of one per
// header. Reading the tree is synchronous too (store-walk.ts): in a worker
// thread that is what keeps it from waiting on the thread pool for every small
// file; on the main thread each chunk is a short, bounded step between which
// the event loop runs.
import { Readable } from 'node:stream';
import { encodeHeader, END_OF_ARCHIVE, padding } from './tar-header.js';
import type { TreeEntry } from './tree.js';

export interface TarOptions {
  /** Seconds since the epoch written as every entry's mtime. */
  mtime: number;
  /**
   * Reuse one buffer: each chunk is valid only until the next is asked for, so
   * the consumer must be done with it (hashed, copied, written) by then. This
   * is what keeps a worker's memory flat: no chunk is left for the garbage
   * collector. Without it every chunk is a fresh buffer the consumer may keep.
   */
  reuse?: boolean;
}

/** Size of the buffers the tar is gathered into. */
export const TAR_CHUNK = 1 << 20;
/** Asked of a reader once its size is read: a file that grew gives a byte here. */
const PAST_END = Buffer.alloc(1);

/** The tar of `entries` as a sequence of chunks; an entry's error (a damaged store path) is thrown from here. */
export function* tarChunks(entries: Iterable<TreeEntry>, opts: TarOptions): Generator<Buffer> {
  let buf = Buffer.allocUnsafe(TAR_CHUNK);
  let fill = 0;
  function* flush(): Generator<Buffer> {
    const out = buf.subarray(0, fill);
    if (!opts.reuse) buf = Buffer.allocUnsafe(TAR_CHUNK);
    fill = 0;
    yield out;
  }
  function* put(b: Buffer): Generator<Buffer> {
    let off = 0;
    while (off < b.length) {
      if (fill === TAR_CHUNK) yield* flush();
      const n = b.copy(buf, fill, off);
      fill += n;
      off += n;
    }
  }

  for (const e of entries) {
    if (e.type === 'file') {
      yield* put(encodeHeader({ name: e.path, type: 'file', mode: e.mode, size: e.size, linkname: '', mtime: opts.mtime }));
      const r = e.open();
      try {
        let left = e.size;
        while (left > 0) {
          if (fill === TAR_CHUNK) yield* flush();
          const n = r.read(buf.subarray(fill, fill + Math.min(left, TAR_CHUNK - fill)));
          if (n === 0) throw new Error(`${e.path}: fewer bytes than its size (${e.size})`);
          fill += n;
          left -= n;
        }
        if (r.read(PAST_END) !== 0) throw new Error(`${e.path}: more bytes than its size (${e.size})`);
      } finally {
        r.close();
      }
      yield* put(padding(e.size));
    } else if (e.type === 'directory') {
      yield* put(encodeHeader({ name: e.path, type: 'directory', mode: e.mode, size: 0, linkname: '', mtime: opts.mtime }));
    } else {
      yield* put(encodeHeader({ name: e.path, type: 'symlink', mode: 0o777, size: 0, linkname: e.target, mtime: opts.mtime }));
    }
  }
  yield* put(END_OF_ARCHIVE);
  if (fill > 0) yield* flush();
}

/** The tar as a stream (fresh chunks): one chunk per read, so back-pressure holds it to a few chunks. */
export function tarStream(entries: Iterable<TreeEntry>, opts: TarOptions): Readable {
  return Readable.from(tarChunks(entries, { mtime: opts.mtime }), { objectMode: false, highWaterMark: TAR_CHUNK });
}

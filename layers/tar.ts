// Deterministic tar, made synchronously in large chunks: every header field set
// by tar-header.ts, never by a clock or a library's defaults. Headers and small
// files are gathered into ~1 MiB buffers, and large reads pass through without
// a copy, so whoever consumes the tar (a hash, a compressor, a file) sees a few
// large writes instead of one per header. Reading the tree is synchronous too
// (store-walk.ts): in a worker thread that is what keeps it from waiting on
// the thread pool for every small file; on the main thread each chunk is a
// short, bounded step between which the event loop runs.
import { Readable } from 'node:stream';
import { encodeHeader, END_OF_ARCHIVE, padding } from './tar-header.js';
import type { TreeEntry } from './tree.js';

export interface TarOptions {
  /** Seconds since the epoch written as every entry's mtime. */
  mtime: number;
}

/** Size of the buffers the tar is gathered into. */
export const TAR_CHUNK = 1 << 20;
/** Content chunks this large are passed on as they are, not copied. */
const PASS_THROUGH = 64 << 10;

/** The tar of `entries` as a sequence of chunks; an entry's error (a damaged store path) is thrown from here. */
export function* tarChunks(entries: Iterable<TreeEntry>, opts: TarOptions): Generator<Buffer> {
  let buf = Buffer.allocUnsafe(TAR_CHUNK);
  let fill = 0;
  // Copies small pieces in, yielding the buffer whenever it fills; passes large ones on.
  function* put(b: Buffer): Generator<Buffer> {
    if (b.length >= PASS_THROUGH) {
      if (fill > 0) yield* flush();
      yield b;
      return;
    }
    let off = 0;
    while (off < b.length) {
      const n = b.copy(buf, fill, off);
      fill += n;
      off += n;
      if (fill === TAR_CHUNK) yield* flush();
    }
  }
  function* flush(): Generator<Buffer> {
    const out = buf.subarray(0, fill);
    buf = Buffer.allocUnsafe(TAR_CHUNK);
    fill = 0;
    yield out;
  }

  for (const e of entries) {
    if (e.type === 'file') {
      yield* put(encodeHeader({ name: e.path, type: 'file', mode: e.mode, size: e.size, linkname: '', mtime: opts.mtime }));
      let seen = 0;
      for (const c of e.chunks()) {
        seen += c.length;
        if (seen > e.size) break;
        yield* put(c);
      }
      if (seen !== e.size) throw new Error(`${e.path}: ${seen > e.size ? 'more' : 'fewer'} bytes than its size (${e.size})`);
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

/** The tar as a stream: one chunk per read, so back-pressure holds it to a few chunks. */
export function tarStream(entries: Iterable<TreeEntry>, opts: TarOptions): Readable {
  return Readable.from(tarChunks(entries, opts), { objectMode: false, highWaterMark: TAR_CHUNK });
}

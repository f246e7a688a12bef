// Deterministic tar: every header field set here, never left to tar-stream's
// defaults (it would use the clock for a missing mtime). Names longer than ustar
// allows go into a pax header; tar-stream splits into ustar's prefix field first
// when the name fits there, so each name has exactly one encoding.
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import type { TreeEntry } from './tree.js';

export interface TarOptions {
  /** Seconds since the epoch written as every entry's mtime. */
  mtime: number;
}

function header(e: TreeEntry, mtime: Date): tar.Header {
  const common = { name: e.path, uid: 0, gid: 0, uname: '', gname: '', mtime, devmajor: 0, devminor: 0 };
  switch (e.type) {
    case 'directory':
      return { ...common, type: 'directory', mode: e.mode, size: 0, linkname: '' };
    case 'file':
      return { ...common, type: 'file', mode: e.mode, size: e.size, linkname: '' };
    case 'symlink':
      return { ...common, type: 'symlink', mode: 0o777, size: 0, linkname: e.target };
  }
}

/** A tar stream of the entries, produced lazily with back-pressure. */
export function tarStream(entries: AsyncIterable<TreeEntry>, opts: TarOptions): Readable {
  const pack = tar.pack();
  // Whoever reads the tar (a pipeline) gets its error; streamx may emit it once
  // more after that reader has let go, which in a worker thread would be an
  // uncaught exception that kills the worker and loses the error's class.
  pack.on('error', () => undefined);
  const mtime = new Date(opts.mtime * 1000);
  (async () => {
    for await (const e of entries) {
      if (e.type === 'file') {
        const sink = pack.entry(header(e, mtime));
        await pipeline(e.open(), sink);
      } else {
        await new Promise<void>((resolve, reject) => pack.entry(header(e, mtime), (err) => (err ? reject(err) : resolve())));
      }
    }
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err as Error));
  return pack as unknown as Readable;
}

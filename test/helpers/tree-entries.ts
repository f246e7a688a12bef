// Reading and making tree entries in tests.
import { bytesReader } from '../../base/fs.js';
import type { FileEntry } from '../../layers/tree.js';

/** All of a file entry's bytes, read through its reader as the tar does. */
export function readEntry(e: FileEntry): Buffer {
  const r = e.open();
  const out: Buffer[] = [];
  const scratch = Buffer.alloc(64 << 10);
  try {
    for (let n = r.read(scratch); n > 0; n = r.read(scratch)) out.push(Buffer.from(scratch.subarray(0, n)));
  } finally {
    r.close();
  }
  return Buffer.concat(out);
}

/** A file entry holding `content`, whatever `size` it claims. */
export function bytesEntry(path: string, content: Buffer | string, mode = 0o644, size?: number): FileEntry {
  const b = Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
  return { type: 'file', path, mode, size: size ?? b.length, open: () => bytesReader(b) };
}

// The files of a layer tar, as facts that can be compared: type, mode,
// owner, size, mtime, the sha256 of the content and a link's target. Content
// is hashed as it streams past; nothing but the facts is kept.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';

export interface FileFacts {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** sha256 of a regular file's content. */
  sha256?: string;
  /** A symlink's target, or the file a hard link names. */
  target?: string;
}

/** The facts that differ between two versions of a file, in a fixed order. */
export function changedFacts(a: FileFacts, b: FileFacts): (keyof FileFacts)[] {
  return (['type', 'mode', 'uid', 'gid', 'size', 'sha256', 'target', 'mtime'] as const).filter((k) => a[k] !== b[k]);
}

/** 'etc/passwd' for './etc/passwd', '/etc/passwd' and 'etc/passwd/' alike. */
export function normalisePath(name: string): string {
  return name.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '');
}

/** Every entry of the tar, by path; a path given twice keeps its last entry, as extraction would. */
export async function readLayerFiles(tarStream: Readable): Promise<Map<string, FileFacts>> {
  const files = new Map<string, FileFacts>();
  const extract = tar.extract();
  tarStream.on('error', (e) => extract.destroy(e));
  tarStream.pipe(extract);
  for await (const entry of extract) {
    const h = entry.header;
    const hash = h.type === 'file' || h.type === 'contiguous-file' ? createHash('sha256') : undefined;
    for await (const chunk of entry) hash?.update(chunk as Buffer);
    const path = normalisePath(h.name);
    if (path === '' || path === '.') continue;
    files.set(path, {
      type: h.type === 'contiguous-file' ? 'file' : (h.type ?? 'file'),
      mode: (h.mode ?? 0) & 0o7777,
      uid: h.uid ?? 0,
      gid: h.gid ?? 0,
      size: h.size ?? 0,
      mtime: h.mtime ? Math.floor(h.mtime.getTime() / 1000) : 0,
      ...(hash ? { sha256: `sha256:${hash.digest('hex')}` } : {}),
      ...(h.linkname ? { target: h.linkname } : {}),
    });
  }
  return files;
}

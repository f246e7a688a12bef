// How the store makes a file visible: written under tmp/ (same filesystem as
// the store), fsynced, then renamed into place, and the directory fsynced, so a
// reader or a crash sees the old file or the new one, never a part. Temporary
// files live in tmp/ rather than beside their target because a name like
// "latest.tmp-1a2b" is itself a valid tag: a listing must never show one.
import { open, rename, unlink, utimes } from 'node:fs/promises';
import { dirname } from 'node:path';
import { mkdirs, writeFileAtomic } from '../../base/fs.js';

/** fsync of a directory, so a rename into it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Renames a complete, fsynced file to `path`; an existing file there is replaced in one step. */
export async function publish(tmp: string, path: string): Promise<void> {
  await mkdirs(dirname(path));
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await syncDir(dirname(path));
}

export async function writeAtomic(tmpDir: string, path: string, data: Buffer | string): Promise<void> {
  await mkdirs(dirname(path));
  await writeFileAtomic(path, data, { tmpDir });
  await syncDir(dirname(path));
}

/** Sets a file's times to now; false when it does not exist. gc reads the time as "in use lately". */
export async function touch(path: string): Promise<boolean> {
  const now = new Date();
  return (await ifExists(utimes(path, now, now).then(() => true))) ?? false;
}

/** The error codes that mean "not there" for a path whose parent may be missing too. */
function isMissing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** The result of a filesystem call, or undefined when its path does not exist; other failures pass. */
export function ifExists<T>(p: Promise<T>): Promise<T | undefined> {
  return p.catch((e: unknown) => {
    if (isMissing(e)) return undefined;
    throw e;
  });
}

/** Removes a file; false when there was none. */
export async function removeFile(path: string): Promise<boolean> {
  return (await ifExists(unlink(path).then(() => true))) ?? false;
}

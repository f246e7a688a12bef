// Filesystem helpers for writing images safely.
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { mkdir, mkdtemp, open, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { StrataError } from './errors.js';

/**
 * mkdir -p, one component at a time. Node's own recursive mkdir spins forever on
 * some filesystems that answer ENOENT to every mkdir (seen on /proc).
 */
export async function mkdirs(path: string): Promise<void> {
  const missing: string[] = [];
  let p = path;
  for (;;) {
    const st = await stat(p).catch(() => undefined);
    if (st) {
      if (!st.isDirectory()) throw Object.assign(new Error(`${p} is not a directory`), { code: 'ENOTDIR' });
      break;
    }
    missing.unshift(p);
    const parent = dirname(p);
    if (parent === p) break;
    p = parent;
  }
  for (const m of missing) {
    await mkdir(m).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  }
}

/**
 * Writes bytes to a temporary file, fsyncs it and renames it over `path`. The
 * temporary file is beside `path`, or in `tmpDir` (same filesystem) for a
 * directory where a stray name would be read as content.
 */
export async function writeFileAtomic(path: string, data: Buffer | string, opts: { tmpDir?: string } = {}): Promise<void> {
  // A device or a pipe (--digest-file /dev/stdout, /dev/null) is written to, never renamed over.
  const existing = await stat(path).catch(() => undefined);
  if (existing && !existing.isFile() && !existing.isDirectory()) return writeFile(path, data);
  if (opts.tmpDir) await mkdirs(opts.tmpDir);
  const tmp = opts.tmpDir ? join(opts.tmpDir, randomBytes(12).toString('hex')) : `${path}.tmp-${randomBytes(6).toString('hex')}`;
  const fh = await open(tmp, 'wx');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path).catch(async (e: unknown) => {
    await unlink(tmp).catch(() => undefined);
    throw e;
  });
}

/** A staging directory beside `file`, so the final rename stays on one filesystem. */
export async function stageBeside(file: string): Promise<string> {
  try {
    await mkdirs(dirname(file));
    return await mkdtemp(join(dirname(file), `.${basename(file)}.strata-stage-`));
  } catch (e) {
    throw new StrataError('output', `cannot write ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/** Reads a file's bytes into buffers its caller owns, so a reader allocates nothing per read. */
export interface FileReader {
  /** Fills `into` from its start as far as the file goes; the bytes read, 0 at the end. */
  read(into: Buffer): number;
  /** Releases the file; safe to call twice. */
  close(): void;
}

/** A synchronous reader of the file at `path`, opened now. */
export function openFileReader(path: string): FileReader {
  let fd: number | undefined = openSync(path, 'r');
  return {
    read: (into) => (fd === undefined ? 0 : readSync(fd, into, 0, into.length, null)),
    close: () => {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

/** A reader of bytes already in memory. */
export function bytesReader(bytes: Buffer): FileReader {
  let off = 0;
  return {
    read: (into) => {
      const n = bytes.copy(into, 0, off);
      off += n;
      return n;
    },
    close: () => undefined,
  };
}

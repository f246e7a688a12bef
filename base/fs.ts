// Filesystem helpers for writing images safely.
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
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

/** Files up to this size are read in one call; larger ones in chunks of it. */
const READ_CHUNK = 1 << 20;

/**
 * A file's `size` bytes, read synchronously in chunks of at most 1 MiB, each in
 * a fresh buffer (a reader may keep it). Throws `changed(bytesSeen)` when the
 * file turns out shorter or longer than `size`.
 */
export function* readFileChunks(path: string, size: number, changed: (seen: number) => Error): Generator<Buffer> {
  if (size <= READ_CHUNK) {
    const b = readFileSync(path);
    if (b.length !== size) throw changed(b.length);
    yield b;
    return;
  }
  const fd = openSync(path, 'r');
  try {
    let seen = 0;
    for (;;) {
      // One byte more than is left, so a file that grew is noticed.
      const b = Buffer.allocUnsafe(Math.min(READ_CHUNK, size - seen + 1));
      const n = readSync(fd, b, 0, b.length, null);
      if (n === 0) break;
      seen += n;
      if (seen > size) throw changed(seen);
      yield b.subarray(0, n);
    }
    if (seen !== size) throw changed(seen);
  } finally {
    closeSync(fd);
  }
}

// An OCI image layout on disk (image-layout.md), written so that a failure never
// leaves a half-written image: blobs are content-addressed and land by rename
// after their digest is known; index.json is replaced by rename last. A new
// layout is written under a temporary name and renamed into place at the end.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdirs, writeFileAtomic } from '../base/fs.js';
import type { BlobSink } from './sink.js';
import { access, mkdir, open, readdir, readFile, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { StrataError } from '../base/errors.js';
import { Annotation, MediaType, type Descriptor } from '../oci/types.js';
import { type Digest } from '../base/digest.js';
import { imageIndex, ociLayout, type OciIndex } from '../oci/schema.js';
import { parseOci } from '../oci/parse.js';

export const OCI_LAYOUT = '{"imageLayoutVersion":"1.0.0"}';

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

const LOCK_WAIT_MS = 60_000;

/**
 * Runs `fn` holding an exclusive lock file, so two writers adding images to one
 * layout at once cannot lose each other's index entries.
 */
async function withLock<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const fh = await open(lockPath, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // A lock whose writer is gone (killed) is broken rather than waited out.
      if (!holderAlive(await readFile(lockPath, 'utf8').catch(() => ''))) {
        await unlink(lockPath).catch(() => undefined);
        continue;
      }
      if (Date.now() > deadline) throw new StrataError('output', `${lockPath} is held by another writer; remove it if no strata is running`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(lockPath).catch(() => undefined);
  }
}

/** True unless the lock names a process of this machine that no longer exists. */
function holderAlive(pidText: string): boolean {
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return true; // being written this instant, or not ours: wait
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

export class OciLayoutWriter implements BlobSink {
  private constructor(
    /** Where blobs are written now: the final dir, or a staging dir for a new layout until commit. */
    private dir: string,
    private readonly finalDir: string,
  ) {}

  /** Opens DIR for adding an image: an existing layout in place, or a new one staged beside it. */
  static async open(dir: string): Promise<OciLayoutWriter> {
    try {
      if (await exists(dir)) {
        const st = await stat(dir);
        if (!st.isDirectory()) throw new StrataError('output', `${dir} exists and is not a directory`);
        if (await exists(join(dir, 'oci-layout'))) {
          const layout = parseOci(ociLayout, await readFile(join(dir, 'oci-layout'), 'utf8'), `oci-layout of oci:${dir}`, 'usage');
          if (layout.imageLayoutVersion !== '1.0.0')
            throw new StrataError('output', `${dir} is an OCI layout of version ${layout.imageLayoutVersion}, not 1.0.0`);
          await mkdirs(join(dir, 'blobs', 'sha256'));
          return new OciLayoutWriter(dir, dir);
        }
        if ((await readdir(dir)).length > 0) throw new StrataError('output', `${dir} is neither empty nor an OCI image layout; refusing to write into it`);
      }
      await mkdirs(dirname(dir));
      const staging = `${dir}.strata-tmp-${randomBytes(6).toString('hex')}`;
      await mkdir(staging);
      await mkdirs(join(staging, 'blobs', 'sha256'));
      await writeFileAtomic(join(staging, 'oci-layout'), OCI_LAYOUT);
      return new OciLayoutWriter(staging, dir);
    } catch (e) {
      if (e instanceof StrataError) throw e;
      throw new StrataError('output', `cannot write OCI layout at ${dir}: ${(e as Error).message}`, { cause: e });
    }
  }

  get root(): string {
    return this.dir;
  }

  blobPath(digest: Digest): string {
    return join(this.dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  }

  blobFile(digest: Digest): string {
    return this.blobPath(digest);
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    return exists(this.blobPath(digest));
  }

  /** Streams a blob whose digest is known only once written; lands it by rename. */
  writeBlobStream<T extends { digest: Digest }>(produce: (sink: Writable) => Promise<T>): Promise<T> {
    return this.writeBlobFile((tmp) => produce(createWriteStream(tmp, { flags: 'wx' })));
  }

  /** True when the layout's blob `digest` is whole: its bytes hash to its name and it has `size` bytes. */
  async verifyBlob(digest: Digest, size: number): Promise<boolean> {
    const path = this.blobPath(digest);
    const st = await stat(path).catch(() => undefined);
    if (!st || st.size !== size) return false;
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
    return `sha256:${hash.digest('hex')}` === digest;
  }

  /** Lands a blob that `fill` writes to a temporary path, when it reports success. */
  async importBlob(digest: Digest, fill: (tmpPath: string) => Promise<boolean>): Promise<boolean> {
    const tmp = this.tmpPath();
    if (!(await fill(tmp))) {
      await unlink(tmp).catch(() => undefined);
      return false;
    }
    await this.land(tmp, digest);
    return true;
  }

  /** Lands a blob that `produce` writes to a temporary file (itself, or in a worker thread), fsynced, by its digest. */
  async writeBlobFile<T extends { digest: Digest }>(produce: (tmpPath: string) => Promise<T>): Promise<T> {
    const tmp = this.tmpPath();
    try {
      const result = await produce(tmp);
      const fh = await open(tmp, 'r+');
      await fh.sync();
      await fh.close();
      await this.land(tmp, result.digest);
      return result;
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
  }

  async writeBlob(data: Buffer, digest: Digest): Promise<void> {
    // No shortcut for a blob already there: land() keeps it only if it is whole.
    const tmp = this.tmpPath();
    await writeFileAtomic(tmp, data);
    await this.land(tmp, digest);
  }

  /** Temporary blob files this writer has made and not yet landed or removed. */
  private readonly inFlight = new Set<string>();

  private tmpPath(): string {
    const p = join(this.dir, 'blobs', 'sha256', `.tmp-${randomBytes(8).toString('hex')}`);
    this.inFlight.add(p);
    return p;
  }

  private async land(tmp: string, digest: Digest): Promise<void> {
    this.inFlight.delete(tmp);
    const final = this.blobPath(digest);
    // A blob already under that name is kept only if it is whole; another tool
    // may have left it truncated.
    if ((await exists(final)) && (await this.verifyBlob(digest, (await stat(tmp)).size))) {
      await unlink(tmp);
      return;
    }
    await rename(tmp, final);
  }

  /**
   * Points the index at `manifest` under `refName`, replacing an image of the same
   * name, and makes the layout visible. The index is the commit point.
   */
  async commit(manifest: Descriptor, refName: string | undefined): Promise<void> {
    await withLock(join(this.dir, 'index.json.lock'), () => this.updateIndex(manifest, refName));
    if (this.dir !== this.finalDir) {
      await rmdir(this.finalDir).catch(() => undefined); // only ever an empty directory
      await rename(this.dir, this.finalDir).catch((e: unknown) => {
        throw new StrataError('output', `cannot move the new layout into ${this.finalDir}: ${(e as Error).message}`, { cause: e });
      });
      this.dir = this.finalDir;
    }
  }

  /** Read-modify-write of index.json; the caller holds the layout's lock. */
  private async updateIndex(manifest: Descriptor, refName: string | undefined): Promise<void> {
    const indexPath = join(this.dir, 'index.json');
    // An index another tool wrote is checked against the spec's grammar before it is added to (its other fields are kept).
    const index: OciIndex = (await exists(indexPath))
      ? parseOci(imageIndex, await readFile(indexPath, 'utf8'), `index.json of oci:${this.finalDir}`, 'usage')
      : { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
    const entry: Descriptor = refName ? { ...manifest, annotations: { ...manifest.annotations, [Annotation.refName]: refName } } : manifest;
    const kept: Descriptor[] = index.manifests.filter((d) => (refName ? d.annotations?.[Annotation.refName] !== refName : d.digest !== manifest.digest));
    await writeFileAtomic(indexPath, JSON.stringify({ ...index, manifests: [...kept, entry] }));
  }

  /**
   * Undoes a failed write: a staged layout goes whole. In an existing layout the
   * new blobs stay: another writer may already point at one of them, and an
   * unreferenced complete blob harms no image.
   */
  async abort(): Promise<void> {
    if (this.dir !== this.finalDir) await rm(this.dir, { recursive: true, force: true });
    else for (const p of this.inFlight) await unlink(p).catch(() => undefined);
    this.inFlight.clear();
  }
}

// Blob upload sessions: uploads/<uuid>/data takes the bytes in order (one
// request at a time per session), uploads/<uuid>/state.json says which
// repository the session belongs to. The size is the data file's own, so it
// cannot disagree with the bytes. The sha256 is kept up to date in memory as
// bytes arrive; when it cannot be (the server restarted, a chunk was cut and
// rolled back) it is computed again from the data file at the end. Completion
// checks the digest before the blob becomes visible: a mismatch stores nothing.
// The rules a session keeps (chunk order and length, the digest check) are
// storage.ts's, shared with the in-memory store, so both answer alike.
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mkdirs } from '../../base/fs.js';
import { uploadUnknown } from './errors.js';
import { ifExists, publish, touch } from './files.js';
import type { Layout } from './layout.js';
import { isUploadId, type BlobDigest, type RepoName, type UploadId } from './names.js';
import {
  checkChunkLength,
  checkChunkStart,
  requireDigests,
  SessionQueue,
  wrongDigest,
  type Body,
  type ChunkRange,
  type UploadProgress,
  type UploadSessions,
} from './storage.js';

/** Uploads idle this long are removed when another one starts (gc uses its own grace period). */
const STALE_UPLOAD_MS = 24 * 3600_000;
/** How often starting an upload may trigger that sweep. */
const SWEEP_INTERVAL_MS = 10 * 60_000;

interface UploadState {
  repository: string;
  started: string;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export class Uploads implements UploadSessions {
  private readonly hashes = new Map<UploadId, { hash: Hash; size: number }>();
  private readonly queue = new SessionQueue();
  private lastSweep = 0;

  constructor(
    private readonly layout: Layout,
    private readonly link: (name: RepoName, digest: BlobDigest) => Promise<void>,
  ) {}

  private data(id: UploadId): string {
    return join(this.layout.upload(id), 'data');
  }

  async start(name: RepoName): Promise<UploadId> {
    if (Date.now() - this.lastSweep > SWEEP_INTERVAL_MS) {
      this.lastSweep = Date.now();
      // In the background and best effort: a failed sweep is tried again later, and gc sweeps too.
      void this.sweep(STALE_UPLOAD_MS).catch(() => undefined);
    }
    const id = randomUUID() as UploadId;
    await mkdirs(this.layout.upload(id));
    await writeFile(this.data(id), '', { flag: 'wx' });
    const state: UploadState = { repository: name, started: new Date().toISOString() };
    await writeFile(join(this.layout.upload(id), 'state.json'), JSON.stringify(state));
    this.hashes.set(id, { hash: createHash('sha256'), size: 0 });
    return id;
  }

  /** The bytes received so far; BLOB_UPLOAD_UNKNOWN for a session that is not `name`'s. */
  async size(name: RepoName, id: string): Promise<number> {
    const upload = await this.check(name, id);
    // No data beside the state: the blob was published and the process died before the session was removed.
    const data = await ifExists(stat(this.data(upload)));
    if (!data) throw uploadUnknown(id);
    return data.size;
  }

  private async check(name: RepoName, id: string): Promise<UploadId> {
    if (!isUploadId(id)) throw uploadUnknown(id);
    const text = await ifExists(readFile(join(this.layout.upload(id), 'state.json'), 'utf8'));
    let state: UploadState | undefined;
    try {
      state = text ? (JSON.parse(text) as UploadState) : undefined;
    } catch {
      state = undefined; // a state cut short by a crash: the session is lost
    }
    if (state?.repository !== name) throw uploadUnknown(id);
    return id;
  }

  /** Appends a request body; a chunk (with a range) goes in whole or not at all. */
  async append(name: RepoName, id: string, body: Body, range?: ChunkRange): Promise<UploadProgress> {
    const upload = await this.check(name, id);
    return { size: await this.queue.run(upload, () => this.write(upload, body, range)), id };
  }

  private async write(id: UploadId, body: Body, range?: ChunkRange): Promise<number> {
    const fh = await ifExists(open(this.data(id), 'r+'));
    if (!fh) throw uploadUnknown(id); // cancelled meanwhile
    try {
      const start = (await fh.stat()).size;
      checkChunkStart(range, start);
      const known = this.hashes.get(id);
      const hashing = known && known.size === start ? known : undefined;
      if (!hashing) this.hashes.delete(id);
      let size = start;
      try {
        for await (const chunk of body) {
          await fh.write(chunk, 0, chunk.length, size);
          size += chunk.length;
          if (hashing) {
            hashing.hash.update(chunk);
            hashing.size = size;
          }
        }
        checkChunkLength(range, size - start);
      } catch (e) {
        // A chunk is all or nothing, so a client resumes from a clean offset; a
        // streamed body keeps what arrived (in order, hence a valid prefix).
        if (range) {
          await fh.truncate(start);
          this.hashes.delete(id);
        }
        throw e;
      }
      return size;
    } finally {
      await fh.close();
    }
  }

  /**
   * Appends the last bytes (if any), checks the content against every `digest`
   * given, and publishes the blob. On a mismatch the session is removed.
   */
  async complete(name: RepoName, id: string, digests: string[], body?: Body, range?: ChunkRange): Promise<BlobDigest> {
    const upload = await this.check(name, id);
    return this.queue.run(upload, async () => {
      if (body) await this.write(upload, body, range);
      requireDigests(digests);
      const data = this.data(upload);
      const size = (await ifExists(stat(data)))?.size;
      if (size === undefined) throw uploadUnknown(id);
      const known = this.hashes.get(upload);
      const hex = known && known.size === size ? known.hash.copy().digest('hex') : await sha256File(data);
      const actual = `sha256:${hex}` as BlobDigest;
      const wrong = wrongDigest(digests, actual);
      if (wrong) {
        await this.remove(upload);
        throw wrong;
      }
      const fh = await open(data, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      // Its mtime now, not when the upload began: gc's grace period counts from here.
      await touch(data);
      await mkdirs(this.layout.blobDir);
      // Two sessions of the same blob both rename onto one path: each rename
      // swaps in a complete file with the same bytes, so readers never see a part.
      await publish(data, this.layout.blob(actual));
      await this.link(name, actual);
      await this.remove(upload);
      return actual;
    });
  }

  async cancel(name: RepoName, id: string): Promise<void> {
    const upload = await this.check(name, id);
    await this.queue.run(upload, () => this.remove(upload));
  }

  private async remove(id: UploadId): Promise<void> {
    this.hashes.delete(id);
    await rm(this.layout.upload(id), { recursive: true, force: true });
  }

  /** Removes this store's sessions idle for longer than `idleMs`, except those with a request under way. */
  async sweep(idleMs: number): Promise<UploadId[]> {
    const removed = await sweepUploads(this.layout, idleMs, Date.now(), (id) => this.queue.has(id));
    for (const id of removed) this.hashes.delete(id);
    return removed;
  }
}

/** Removes upload sessions idle (no byte written) for longer than `idleMs`; returns their ids. */
export async function sweepUploads(layout: Layout, idleMs: number, now: number, inUse: (id: UploadId) => boolean = () => false): Promise<UploadId[]> {
  const removed: UploadId[] = [];
  for (const entry of (await ifExists(readdir(layout.uploadsDir))) ?? []) {
    if (!isUploadId(entry) || inUse(entry)) continue;
    const dir = layout.upload(entry);
    const times = await Promise.all([dir, join(dir, 'data')].map(async (p) => (await ifExists(stat(p)))?.mtimeMs ?? 0));
    if (now - Math.max(...times) <= idleMs) continue;
    await rm(dir, { recursive: true, force: true });
    removed.push(entry);
  }
  return removed;
}

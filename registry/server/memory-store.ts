// A RegistryStore in memory, for running the app in process (app.request(),
// no socket, no disk) as Hono's own tests do. It keeps the directory store's
// rules, not a shortcut of them: blobs are shared and a repository sees only
// those it links; a manifest's bytes are a blob no repository links; a tag
// counts only while its manifest is there; a referrer is listed only while
// its manifest is; upload sessions belong to one repository, take chunks in
// order and whole, and publish nothing unless the digest is right (the checks
// themselves are storage.ts's, shared with uploads.ts). What it has no use for
// is what time and crashes ask of files: no gc, no touch, no fsync.
import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Descriptor } from '../../oci/types.js';
import { uploadUnknown } from './errors.js';
import type { ParsedManifest } from './manifest.js';
import { isUploadId, type BlobDigest, type ManifestReference, type RepoName, type Tag, type UploadId } from './names.js';
import {
  checkChunkLength,
  checkChunkStart,
  requireDigests,
  SessionQueue,
  wrongDigest,
  type BlobReader,
  type Body,
  type ChunkRange,
  type RegistryStore,
  type StoredManifest,
  type UploadProgress,
  type UploadSessions,
} from './storage.js';

interface Repository {
  blobs: Set<BlobDigest>;
  /** digest → media type */
  manifests: Map<BlobDigest, string>;
  tags: Map<Tag, BlobDigest>;
  /** subject → referrer digest → what the referrers API lists */
  referrers: Map<BlobDigest, Map<BlobDigest, Descriptor>>;
}

interface Session {
  repository: RepoName;
  /** The bytes so far, in order; a chunk rolled back is cut off the end. */
  parts: Buffer[];
  size: number;
}

class MemoryUploads implements UploadSessions {
  private readonly sessions = new Map<UploadId, Session>();
  private readonly queue = new SessionQueue();

  constructor(private readonly publish: (name: RepoName, bytes: Buffer) => BlobDigest) {}

  async start(name: RepoName): Promise<UploadId> {
    const id = randomUUID() as UploadId;
    this.sessions.set(id, { repository: name, parts: [], size: 0 });
    return id;
  }

  async size(name: RepoName, id: string): Promise<number> {
    return this.session(this.check(name, id)).size;
  }

  private check(name: RepoName, id: string): UploadId {
    if (!isUploadId(id) || this.sessions.get(id)?.repository !== name) throw uploadUnknown(id);
    return id;
  }

  /** The session, unless it was cancelled or completed while this request waited its turn. */
  private session(id: UploadId): Session {
    const s = this.sessions.get(id);
    if (!s) throw uploadUnknown(id);
    return s;
  }

  async append(name: RepoName, id: string, body: Body, range?: ChunkRange): Promise<UploadProgress> {
    const upload = this.check(name, id);
    return { size: await this.queue.run(upload, () => this.write(upload, body, range)), id };
  }

  private async write(id: UploadId, body: Body, range?: ChunkRange): Promise<number> {
    const s = this.session(id);
    const start = s.size;
    checkChunkStart(range, start);
    const kept = s.parts.length;
    try {
      for await (const chunk of body) {
        s.parts.push(Buffer.from(chunk));
        s.size += chunk.length;
      }
      checkChunkLength(range, s.size - start);
    } catch (e) {
      // As on disk: a chunk is all or nothing; a streamed body keeps what arrived.
      if (range) {
        s.parts.length = kept;
        s.size = start;
      }
      throw e;
    }
    return s.size;
  }

  async complete(name: RepoName, id: string, digests: string[], body?: Body, range?: ChunkRange): Promise<BlobDigest> {
    const upload = this.check(name, id);
    return this.queue.run(upload, async () => {
      if (body) await this.write(upload, body, range);
      requireDigests(digests);
      const bytes = Buffer.concat(this.session(upload).parts);
      const wrong = wrongDigest(digests, digestOf(bytes));
      this.sessions.delete(upload);
      if (wrong) throw wrong;
      return this.publish(name, bytes);
    });
  }

  async cancel(name: RepoName, id: string): Promise<void> {
    const upload = this.check(name, id);
    await this.queue.run(upload, async () => void this.sessions.delete(upload));
  }
}

const digestOf = (bytes: Buffer): BlobDigest => `sha256:${createHash('sha256').update(bytes).digest('hex')}` as BlobDigest;

export class MemoryStore implements RegistryStore {
  private readonly blobs = new Map<BlobDigest, Buffer>();
  /** Only repositories something was pushed to: a parent of one is not one, as on disk. */
  private readonly repos = new Map<RepoName, Repository>();
  readonly uploads: UploadSessions = new MemoryUploads((name, bytes) => {
    const digest = digestOf(bytes);
    this.blobs.set(digest, bytes);
    this.repo(name).blobs.add(digest);
    return digest;
  });

  private repo(name: RepoName): Repository {
    let r = this.repos.get(name);
    if (!r) this.repos.set(name, (r = { blobs: new Set(), manifests: new Map(), tags: new Map(), referrers: new Map() }));
    return r;
  }

  // ---- blobs ----

  async blobSize(name: RepoName, digest: BlobDigest): Promise<number | undefined> {
    return this.repos.get(name)?.blobs.has(digest) ? this.blobs.get(digest)?.length : undefined;
  }

  async openBlob(name: RepoName, digest: BlobDigest): Promise<BlobReader | undefined> {
    const bytes = this.repos.get(name)?.blobs.has(digest) ? this.blobs.get(digest) : undefined;
    if (!bytes) return undefined;
    return {
      size: bytes.length,
      open: (start, end) => Readable.from([bytes.subarray(start, end + 1)], { objectMode: false }),
      close: async () => undefined,
    };
  }

  async unlinkBlob(name: RepoName, digest: BlobDigest): Promise<boolean> {
    return this.repos.get(name)?.blobs.delete(digest) ?? false;
  }

  async mount(name: RepoName, from: RepoName, digest: BlobDigest): Promise<boolean> {
    if ((await this.blobSize(from, digest)) === undefined) return false;
    this.repo(name).blobs.add(digest);
    return true;
  }

  // ---- manifests and tags ----

  private resolve(name: RepoName, ref: ManifestReference): BlobDigest | undefined {
    const r = this.repos.get(name);
    const digest = 'digest' in ref ? ref.digest : r?.tags.get(ref.tag);
    return digest && r?.manifests.has(digest) ? digest : undefined;
  }

  async getManifest(name: RepoName, ref: ManifestReference): Promise<StoredManifest | undefined> {
    const digest = this.resolve(name, ref);
    const mediaType = digest && this.repos.get(name)?.manifests.get(digest);
    const bytes = digest && this.blobs.get(digest);
    return digest && mediaType && bytes ? { bytes, mediaType, digest } : undefined;
  }

  async missingReferences(name: RepoName, m: ParsedManifest): Promise<Descriptor[]> {
    const r = this.repos.get(name);
    const linked = (d: Descriptor) => !!r?.blobs.has(d.digest as BlobDigest) && this.blobs.has(d.digest as BlobDigest);
    return [...m.blobs.filter((d) => !linked(d)), ...m.children.filter((d) => !r?.manifests.has(d.digest as BlobDigest))];
  }

  async putManifest(name: RepoName, m: ParsedManifest, tag?: Tag): Promise<void> {
    const r = this.repo(name);
    this.blobs.set(m.digest, m.bytes);
    r.manifests.set(m.digest, m.mediaType);
    if (m.subject && m.referrer) {
      const of = r.referrers.get(m.subject) ?? new Map<BlobDigest, Descriptor>();
      r.referrers.set(m.subject, of.set(m.digest, m.referrer));
    }
    if (tag) r.tags.set(tag, m.digest);
  }

  async deleteManifest(name: RepoName, digest: BlobDigest): Promise<boolean> {
    const r = this.repos.get(name);
    if (!r?.manifests.delete(digest)) return false;
    for (const [t, d] of r.tags) if (d === digest) r.tags.delete(t);
    return true;
  }

  async deleteTag(name: RepoName, tag: Tag): Promise<boolean> {
    return this.repos.get(name)?.tags.delete(tag) ?? false;
  }

  async hasRepository(name: RepoName): Promise<boolean> {
    return this.repos.has(name);
  }

  async tagNames(name: RepoName): Promise<Tag[]> {
    return [...(this.repos.get(name)?.tags.keys() ?? [])].sort();
  }

  /** As on disk, an entry outlives its manifest but is listed only while the manifest is there. */
  async referrers(name: RepoName, subject: BlobDigest): Promise<Descriptor[]> {
    const r = this.repos.get(name);
    const entries = [...(r?.referrers.get(subject) ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return entries.filter(([d]) => r!.manifests.has(d)).map(([, desc]) => desc);
  }
}

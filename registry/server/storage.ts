// What the registry app serves from: the storage interface its handlers call,
// and the rules of an upload session that every implementation shares, so a
// chunk out of order, a short chunk or a wrong digest is the same answer
// whatever holds the bytes. The directory store (store.ts, uploads.ts) is the
// server's; the in-memory one (memory-store.ts) lets tests run the app
// through app.request() with no socket and no disk.
import type { Readable, Writable } from 'node:stream';
import type { Descriptor } from '../../oci/types.js';
import { digestInvalid, RegistryError } from './errors.js';
import type { ParsedManifest } from './manifest.js';
import type { BlobDigest, ManifestReference, RepoName, Tag, UploadId } from './names.js';

/** A blob ready to be read: its size now, its bytes when a range is opened. */
export interface BlobReader {
  size: number;
  /** Where a GET may fetch the bytes itself instead (serve answers 307): registry storage with --redirect-blobs. */
  redirect?: string;
  /** Bytes start..end, both inclusive; the file is already open, so a gc meanwhile does not cut it short. */
  open(start: number, end: number): Readable;
  close(): Promise<void>;
  /** Writes bytes start..end to `out` through two reused buffers (no allocation per chunk), then ends it; closes the file. */
  sendTo?(out: Writable, start: number, end: number): Promise<void>;
}

export interface StoredManifest {
  bytes: Buffer;
  mediaType: string;
  digest: BlobDigest;
}

/** A chunk's place in the blob, from Content-Range (both ends inclusive). */
export interface ChunkRange {
  start: number;
  end: number;
}

export type Body = AsyncIterable<Uint8Array>;

/**
 * Where an upload stands after a chunk: its size, and the id to continue it
 * with. A store whose sessions live elsewhere (an upstream registry that hands
 * out a new state with every chunk) gives a new id each time; clients follow
 * the Location, as the spec asks.
 */
export interface UploadProgress {
  size: number;
  id: string;
}

/**
 * Blob upload sessions. A session belongs to the repository that started it;
 * any other name, or an id that is not one, is BLOB_UPLOAD_UNKNOWN.
 */
export interface UploadSessions {
  start(name: RepoName): Promise<UploadId>;
  /** The bytes received so far. */
  size(name: RepoName, id: string): Promise<number>;
  /** Appends a request body; a chunk (with a range) goes in whole or not at all. */
  append(name: RepoName, id: string, body: Body, range?: ChunkRange): Promise<UploadProgress>;
  /** Appends the last bytes (if any), checks the content against every digest given, publishes the blob and links it to `name`; a mismatch ends the session. */
  complete(name: RepoName, id: string, digests: string[], body?: Body, range?: ChunkRange): Promise<BlobDigest>;
  cancel(name: RepoName, id: string): Promise<void>;
}

/**
 * Content-addressed storage with per-repository links, as in distribution: a
 * blob another repository pushed is unknown here until it is pushed or mounted.
 */
export interface RegistryStore {
  readonly uploads: UploadSessions;
  /** The blob's size when `name` links it and it is stored. */
  blobSize(name: RepoName, digest: BlobDigest): Promise<number | undefined>;
  /** Opens a blob of `name` for reading, or undefined when the repository does not link it. */
  openBlob(name: RepoName, digest: BlobDigest): Promise<BlobReader | undefined>;
  /** Removes `name`'s link to a blob; false when there was none. */
  unlinkBlob(name: RepoName, digest: BlobDigest): Promise<boolean>;
  /** Cross-repository mount: true when `from` links the blob (and now `name` does too). */
  mount(name: RepoName, from: RepoName, digest: BlobDigest): Promise<boolean>;
  getManifest(name: RepoName, ref: ManifestReference): Promise<StoredManifest | undefined>;
  /** The references of `m` that `name` lacks: blobs it does not link, child manifests it does not have. */
  missingReferences(name: RepoName, m: ParsedManifest): Promise<Descriptor[]>;
  /** Stores a checked manifest, its referrer entry, and the tag last. */
  putManifest(name: RepoName, m: ParsedManifest, tag?: Tag): Promise<void>;
  /** Forgets a manifest in `name` and every tag on it; false when `name` did not have it. */
  deleteManifest(name: RepoName, digest: BlobDigest): Promise<boolean>;
  deleteTag(name: RepoName, tag: Tag): Promise<boolean>;
  /** Whether anything was ever pushed to `name` (a parent of another repository is not one). */
  hasRepository(name: RepoName): Promise<boolean>;
  /** Tags of `name` in lexical (byte) order. */
  tagNames(name: RepoName): Promise<Tag[]>;
  /** Descriptors of the manifests `name` has whose subject is `subject`, by digest. */
  referrers(name: RepoName, subject: BlobDigest): Promise<Descriptor[]>;
}

// ---- the rules every upload session keeps ----

/** The Range header a registry reports an upload's progress in; nothing while it is empty ("0-0" would claim one byte). */
export function progressHeader(size: number): Record<string, string> {
  return size > 0 ? { Range: `0-${size - 1}` } : {};
}

/** A chunk must start where the upload stands: 416 says where that is. */
export function checkChunkStart(range: ChunkRange | undefined, size: number): void {
  if (range && range.start !== size) {
    throw new RegistryError(416, 'BLOB_UPLOAD_INVALID', `the chunk starts at ${range.start}; the upload has ${size} bytes`, undefined, progressHeader(size));
  }
}

/** A chunk must be as long as its Content-Range said. */
export function checkChunkLength(range: ChunkRange | undefined, received: number): void {
  if (range && received !== range.end - range.start + 1) {
    throw new RegistryError(400, 'SIZE_INVALID', `Content-Range ${range.start}-${range.end} announced ${range.end - range.start + 1} bytes; ${received} came`);
  }
}

export function requireDigests(digests: string[]): void {
  if (digests.length === 0) throw digestInvalid('the digest parameter is required to complete an upload');
}

/** The digest given that the content does not have, if any. */
export function wrongDigest(digests: string[], actual: BlobDigest): RegistryError | undefined {
  const wrong = digests.find((d) => d !== actual);
  return wrong === undefined ? undefined : digestInvalid(`the content's digest is ${actual}, not ${wrong}`, wrong);
}

/** Runs work one at a time per session, in the order asked: bytes go in in order. */
export class SessionQueue {
  private readonly busy = new Map<UploadId, Promise<unknown>>();

  async run<T>(id: UploadId, work: () => Promise<T>): Promise<T> {
    const run = (this.busy.get(id) ?? Promise.resolve()).catch(() => undefined).then(work);
    const tail = run.catch(() => undefined);
    this.busy.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.busy.get(id) === tail) this.busy.delete(id);
    }
  }

  has(id: UploadId): boolean {
    return this.busy.has(id);
  }
}

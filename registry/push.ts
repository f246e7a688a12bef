// Pushing to a registry: blobs first (skipping what the registry has, mounting
// what another repository of it has), then each manifest by digest, then the
// tags. A tag is written only once everything it points at is in place, so a
// failure never leaves a tag on a partial image.
import { settleAll } from '../base/settle.js';
import pLimit from 'p-limit';
import type { Progress } from '../base/events.js';
import { blobLabel, blobsOf, uniqueBlobs, type Blob, type ImageOrIndex } from '../image/model.js';
import { fullyExpected, type MadeLayer, type PendingImage } from '../image/pending.js';
import { shortDigest, type Digest } from '../base/digest.js';
import { blobSize, uploadBlob, type Repository, type UploadSource, type Uploaded } from './blobs.js';
import { headManifest, putManifest } from './manifests.js';
import type { BlobLocations } from './blob-locations.js';

export interface PushOptions {
  /** Blobs in flight at once. */
  concurrency: number;
  progress: Progress;
  /** Bytes per upload PATCH (see uploadBlob); 0: one streamed PATCH per blob. */
  chunkSize?: number;
  /** Where blobs were pushed before: mount sources for the next push, and what this one records. */
  locations?: BlobLocations;
  /** Repositories of the destination's registry to try as mount sources for every blob (--reuse-from). */
  mountFrom?: string[];
}

/** Mount sources tried per blob: each refused one costs a request (and a cancelled upload session). */
const MAX_MOUNT_CANDIDATES = 4;

export interface BlobToPush {
  /** For progress: the digest, or the layer key while the digest is unknown. */
  id: string;
  label: string;
  source: UploadSource;
  /** Repositories of the destination's registry that may have it. */
  mountFrom?: string[];
}

export interface PushedBlob {
  digest: Digest;
  size: number;
  action: 'uploaded' | 'mounted' | 'exists';
  sent: number;
}

/** One blob: nothing when the registry has it, else a mount or an upload. */
export async function pushBlob(repo: Repository, b: BlobToPush, opts: PushOptions): Promise<PushedBlob> {
  const { progress } = opts;
  progress.emit({ type: 'blob-start', id: b.id, label: b.label, ...(b.source.size !== undefined ? { size: b.source.size } : {}) });
  if (b.source.digest) {
    const have = await blobSize(repo, b.source.digest);
    if (have !== undefined && (have === -1 || b.source.size === undefined || have === b.source.size)) {
      const size = b.source.size ?? have;
      progress.emit({ type: 'blob-done', id: b.id, digest: b.source.digest, size, action: 'exists' });
      await opts.locations?.remember(repo.session.registry, b.source.digest, repo.name);
      return { digest: b.source.digest, size, action: 'exists', sent: 0 };
    }
  }
  const digest = b.source.digest;
  const recorded = digest && opts.locations ? await opts.locations.repositories(repo.session.registry, digest) : [];
  const mountFrom = [...new Set([...(b.mountFrom ?? []), ...recorded, ...(digest ? (opts.mountFrom ?? []) : [])])]
    .filter((r) => r !== repo.name)
    .slice(0, MAX_MOUNT_CANDIDATES);
  const done: Uploaded = await uploadBlob(repo, b.source, {
    ...(mountFrom.length ? { mountFrom } : {}),
    ...(opts.chunkSize !== undefined ? { chunkSize: opts.chunkSize } : {}),
    onProgress: (bytes) => progress.emit({ type: 'blob-progress', id: b.id, bytes }),
  });
  progress.emit({ type: 'blob-done', id: b.id, digest: done.digest, size: done.size, action: done.action });
  await opts.locations?.remember(repo.session.registry, done.digest, repo.name);
  return done;
}

export function limiter(concurrency: number): <T>(fn: () => Promise<T>) => Promise<T> {
  const limit = pLimit(Math.max(1, concurrency));
  return (fn) => limit(fn);
}

/** Writes `bytes` under its digest, then under each tag (skipping tags that already point at it). */
export async function putManifestAndTags(
  repo: Repository,
  bytes: Buffer,
  mediaType: string,
  digest: Digest,
  tags: string[],
  progress: Progress,
): Promise<void> {
  if ((await headManifest(repo, digest, true)) !== digest) {
    await putManifest(repo, digest, bytes, mediaType);
    progress.emit({ type: 'manifest', ref: `${repo.session.registry}/${repo.name}@${digest}`, digest });
  }
  for (const tag of tags) {
    if ((await headManifest(repo, tag, true)) === digest) continue;
    await putManifest(repo, tag, bytes, mediaType);
    progress.emit({ type: 'manifest', ref: `${repo.session.registry}/${repo.name}:${tag}`, digest });
  }
}

export interface PushSummary {
  digest: Digest;
  blobs: PushedBlob[];
  /** Blob bytes sent, resumed attempts included. */
  sent: number;
}

/** A blob of an existing image, to push as it is: mounted when another repository of the destination's registry has it. */
export function blobToPush(b: Blob, repo: Repository, label: string): BlobToPush {
  const { digest, size } = b.descriptor;
  const sameRegistry = b.mountFrom && b.mountFrom.registry === repo.session.registry && b.mountFrom.repository !== repo.name;
  return {
    id: digest,
    label,
    source: { digest, size, open: (offset) => ({ stream: b.open({ start: offset }), done: Promise.resolve({ digest, size }) }) },
    ...(sameRegistry ? { mountFrom: [b.mountFrom!.repository] } : {}),
  };
}

/**
 * The images of a tree the registry lacks, children before their index. A
 * registry that has a manifest has everything it names (it checks on PUT), so
 * one HEAD stands for a whole image or index, as in go-containerregistry.
 */
async function missingImages(img: ImageOrIndex, repo: Repository): Promise<ImageOrIndex[]> {
  if ((await headManifest(repo, img.manifest.digest, true)) === img.manifest.digest) return [];
  const below = img.kind === 'index' ? await Promise.all(img.children.map((c) => missingImages(c, repo))) : [];
  return [...below.flat(), img];
}

/**
 * Pushes an image: an existing one (layout, archive or another registry's) as
 * it is, same bytes, same digest; or a pending one (a Nix installable's), its
 * layers made on the way and its manifest written once they are all there.
 */
export async function pushImage(img: ImageOrIndex | PendingImage, repo: Repository, tags: string[], opts: PushOptions): Promise<PushSummary> {
  if (img.kind === 'pending') return pushPending(img, repo, tags, opts);
  const run = limiter(opts.concurrency);
  const missing = await missingImages(img, repo);
  const needed = new Set(missing.flatMap((i) => blobsOf(i).map((b) => b.descriptor.digest)));
  const pushed = await settleAll(
    uniqueBlobs(img).map((b) => {
      if (needed.has(b.descriptor.digest)) return run(() => pushBlob(repo, blobToPush(b, repo, blobLabel(b.descriptor)), opts));
      return Promise.resolve(alreadyThere(b.descriptor, opts));
    }),
  );
  // Children by digest, then the top manifest with its tags (written even when the manifest was there).
  for (const i of missing) if (i !== img) await putManifestAndTags(repo, i.manifest.bytes, i.manifest.mediaType, i.manifest.digest, [], opts.progress);
  await putManifestAndTags(repo, img.manifest.bytes, img.manifest.mediaType, img.manifest.digest, tags, opts.progress);
  return { digest: img.manifest.digest, blobs: pushed, sent: pushed.reduce((n, b) => n + b.sent, 0) };
}

/** A blob the registry has (its manifest is there): reported, not checked. */
function alreadyThere(d: { digest: Digest; size: number }, opts: PushOptions): PushedBlob {
  opts.progress.emit({ type: 'blob-done', id: d.digest, digest: d.digest, size: d.size, action: 'exists' });
  return { digest: d.digest, size: d.size, action: 'exists', sent: 0 };
}

/** A layer made as it is uploaded: by its expected digest when it has one (skipped or mounted when the registry has it), else hashed on the way. */
function madeToPush(l: MadeLayer): BlobToPush {
  const e = l.expected;
  return {
    id: l.id,
    label: l.label,
    source: { ...(e ? { digest: e.digest, size: e.size } : {}), open: (offset) => l.open(offset) },
    ...(e?.mountFrom ? { mountFrom: [e.mountFrom] } : {}),
  };
}

async function pushPending(img: PendingImage, repo: Repository, tags: string[], opts: PushOptions): Promise<PushSummary> {
  // Every digest known: so is the manifest's, and a registry that has it has
  // all it names (it checks on PUT). One HEAD then replaces one per blob.
  if (fullyExpected(img)) {
    const known = img.finish();
    if ((await headManifest(repo, known.manifest.digest, true)) === known.manifest.digest) return pushImage(known, repo, tags, opts);
  }
  const run = limiter(opts.concurrency);
  const base = img.layers.filter((l) => !('kind' in l)).length;
  const pushed = await settleAll(
    img.layers.map((l, i) =>
      run(() => pushBlob(repo, 'kind' in l ? madeToPush(l) : blobToPush(l, repo, `base layer ${i + 1}/${base} ${shortDigest(l.descriptor.digest)}`), opts)),
    ),
  );
  const image = img.finish();
  const config = await pushBlob(repo, blobToPush(image.config, repo, `config ${shortDigest(image.config.descriptor.digest)}`), opts);
  await putManifestAndTags(repo, image.manifest.bytes, image.manifest.mediaType, image.manifest.digest, tags, opts.progress);
  const blobs = [...pushed, config];
  return { digest: image.manifest.digest, blobs, sent: blobs.reduce((n, b) => n + b.sent, 0) };
}

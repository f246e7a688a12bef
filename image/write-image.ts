// The one writer into a blob sink — an OCI layout, or nothing for a digest —
// for every kind of image: an existing one (a layout's, an archive's, a
// registry's) copied byte for byte with each digest checked, or a pending one
// whose layers are made on the way (a Nix installable's). Blobs land first,
// then manifests, children before their index; the caller commits the layout
// (its index and tag), so nothing names an image that is not whole.
import pLimit from 'p-limit';
import { settleAll } from '../base/settle.js';
import type { BlobAction, Progress } from '../base/events.js';
import type { Digest } from '../base/digest.js';
import { blobLabel, uniqueBlobs, type Blob, type Image, type ImageOrIndex } from './model.js';
import type { MadeLayer, PendingImage } from './pending.js';
import { copyBlobInto, type BlobSink } from './sink.js';

export interface WriteOptions {
  /** Existing blobs copied at once (downloads, for a registry's); made layers bound themselves (a worker pool). */
  concurrency: number;
  /** Blob events for existing blobs, when the command shows them. */
  progress?: Progress;
}

export interface WriteSummary {
  /** The image written (for a pending image, as its layers turned out). */
  image: ImageOrIndex;
  /** Bytes copied into the sink from existing blobs. */
  bytes: number;
  blobs: { digest: Digest; size: number; action: BlobAction }[];
}

export async function writeImageInto(sink: BlobSink, img: ImageOrIndex | PendingImage, opts: WriteOptions): Promise<WriteSummary> {
  const limit = pLimit(Math.max(1, opts.concurrency));
  const copy = (b: Blob) => limit(() => copyWithProgress(sink, b, opts.progress));
  if (img.kind !== 'pending') {
    const copied = await settleAll(uniqueBlobs(img).map(copy));
    await writeManifests(sink, img);
    return { image: img, bytes: copied.reduce((s, b) => s + b.bytes, 0), blobs: copied.map(({ digest, size, action }) => ({ digest, size, action })) };
  }
  const existing = img.layers.filter((l): l is Blob => !('kind' in l));
  const made = img.layers.filter((l): l is MadeLayer => 'kind' in l);
  const copying = settleAll(existing.map(copy));
  const making = settleAll(made.map((l) => l.writeInto(sink)));
  // Both finish before either's failure is reported: an abort must not race a write.
  await Promise.allSettled([copying, making]);
  const [copied, landed] = await Promise.all([copying, making]);
  const image = img.finish();
  const config = await copyBlobInto(sink, image.config);
  await writeManifests(sink, image);
  const blobs = [
    ...copied.map(({ digest, size, action }) => ({ digest, size, action })),
    ...landed.map((l) => ({ ...l, action: 'copied' as const })),
    { digest: image.config.descriptor.digest, size: image.config.descriptor.size, action: config.action },
  ];
  return { image, bytes: copied.reduce((s, b) => s + b.bytes, 0), blobs };
}

async function copyWithProgress(sink: BlobSink, b: Blob, progress: Progress | undefined) {
  const d = b.descriptor;
  progress?.emit({ type: 'blob-start', id: d.digest, label: blobLabel(d), size: d.size });
  const { action, bytes } = await copyBlobInto(sink, b, progress && ((n) => progress.emit({ type: 'blob-progress', id: d.digest, bytes: n })));
  progress?.emit({ type: 'blob-done', id: d.digest, digest: d.digest, size: d.size, action });
  return { digest: d.digest, size: d.size, action, bytes };
}

async function writeManifests(sink: BlobSink, i: ImageOrIndex | Image): Promise<void> {
  if (i.kind === 'index') for (const c of i.children) await writeManifests(sink, c);
  await sink.writeBlob(i.manifest.bytes, i.manifest.digest);
}

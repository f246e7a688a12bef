// `strata copy`, `pull` and the non-Nix half of `push`: an existing image from
// any source (OCI layout, oci-archive, registry) to any sink, byte for byte, so
// its digest stays the same. Nix installables go through build() instead.
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeOciArchive } from '../image/archive.js';
import { writeDockerArchiveFrom } from '../image/docker-archive-writer.js';
import { parseOci } from '../oci/parse.js';
import { imageConfig } from '../oci/schema.js';
import { stageBeside } from '../base/fs.js';
import { OciLayoutWriter } from '../image/layout.js';
import { writeImageInto } from '../image/write-image.js';
import { readOciArchive, readOciLayout } from '../image/source.js';
import type { ImageOrIndex } from '../image/model.js';
import type { Platform } from '../oci/types.js';
import type { Digest } from '../base/digest.js';
import type { Repository } from '../registry/blobs.js';
import { pushImage, type PushOptions } from '../registry/push.js';
import { RegistrySession, type SessionOptions } from '../registry/session.js';
import { readRegistryImage } from '../registry/source.js';
import { StrataError } from '../base/errors.js';
import { guarded } from './interrupt.js';
import { formatReference, referenceTag, resolveTag, type Reference } from '../oci/reference.js';
import { readDockerArchiveImage, shortName } from '../image/docker-archive.js';

export interface RegistryOptions {
  session: SessionOptions;
  push: PushOptions;
}

export interface CopyRequest {
  source: Reference;
  destination: Reference;
  /** Tags for the destination; the first names it in a layout. Empty: the destination's own, else the source's, else latest. */
  tags: string[];
  /** Only this platform's image of an index. */
  platform?: Platform;
  /** To a registry: the manifest by digest only, no tag (push --by-digest). */
  byDigest?: boolean;
  /** To a registry: the manifest by digest only, its tags returned unwritten, for the caller to write once it has signed (push --sign). */
  holdTags?: boolean;
  registry: RegistryOptions;
}

export interface CopyResult {
  digest: Digest;
  output: string;
  tags: string[];
  /** Blob bytes sent to a registry (resumed attempts included) or downloaded. */
  bytes: number;
  blobs: { digest: Digest; size: number; action: string }[];
}

export function repositoryOf(ref: { registry: string; repository: string }, opts: SessionOptions): Repository {
  return { session: RegistrySession.for(ref.registry, opts), name: ref.repository };
}

export async function readSource(source: Reference, reg: RegistryOptions, platform?: Platform): Promise<ImageOrIndex> {
  switch (source.transport) {
    case 'oci':
      return readOciLayout(source.path, source.tag, platform);
    case 'oci-archive':
      return readOciArchive(source.path, source.tag, platform);
    case 'docker':
      return readRegistryImage(repositoryOf(source.ref, reg.session), source.ref, platform);
    case 'docker-archive':
      return readDockerArchiveImage(source.path, source.name);
    case 'nix':
      throw new Error('internal: a Nix installable is built, not copied');
  }
}

/** Streams every blob of `img` into a layout, checking each digest on the way. */
function writeToLayout(img: ImageOrIndex, layout: OciLayoutWriter, reg: RegistryOptions) {
  return writeImageInto(layout, img, { concurrency: reg.push.concurrency, progress: reg.push.progress });
}

export async function copyImage(req: CopyRequest): Promise<CopyResult> {
  const dst = req.destination;
  if (req.byDigest && (dst.transport !== 'docker' || dst.ref.tag || req.tags.length))
    throw new StrataError('usage', '--by-digest pushes to a registry repository with no tag: drop the tag');
  const img = await readSource(req.source, req.registry, req.platform);
  const untagged = req.byDigest || (dst.transport === 'docker' && dst.ref.digest && !req.tags.length && !dst.ref.tag);
  const tags = untagged ? [] : req.tags.length ? req.tags : [resolveTag(undefined, referenceTag(dst), referenceTag(req.source))];
  if (!req.holdTags || dst.transport !== 'docker') return writeImage(img, dst, tags, req.registry);
  return { ...(await writeImage(img, dst, [], req.registry)), tags };
}

/** Writes an image tree as it is to a registry (by digest, then `tags`) or into a layout (named by the first tag). */
export async function writeImage(img: ImageOrIndex, dst: Reference, tags: string[], registry: RegistryOptions): Promise<CopyResult> {
  const digest = img.manifest.digest;
  const descriptor = { mediaType: img.manifest.mediaType, digest, size: img.manifest.bytes.length };
  switch (dst.transport) {
    case 'docker': {
      if (dst.ref.digest && dst.ref.digest !== digest)
        throw new StrataError('reference', `${formatReference(dst)} names digest ${dst.ref.digest}, but the image is ${digest}`);
      const s = await pushImage(img, repositoryOf(dst.ref, registry.session), tags, registry.push);
      return { digest, output: `docker://${dst.ref.registry}/${dst.ref.repository}`, tags, bytes: s.sent, blobs: s.blobs };
    }
    case 'oci':
    case 'oci-archive': {
      const stage = dst.transport === 'oci-archive' ? await stageBeside(dst.path) : undefined;
      const layout = await OciLayoutWriter.open(stage ? join(stage, 'layout') : dst.path);
      const undo = async () => {
        await layout.abort();
        if (stage) await rm(stage, { recursive: true, force: true });
      };
      return guarded(undo, async () => {
        try {
          const w = await writeToLayout(img, layout, registry);
          await layout.commit(descriptor, tags[0]);
          if (stage) await writeOciArchive(layout.root, dst.path, 0);
          return { digest, output: formatReference(dst), tags: tags.slice(0, 1), bytes: w.bytes, blobs: w.blobs };
        } catch (e) {
          await layout.abort();
          throw e;
        } finally {
          if (stage) await rm(stage, { recursive: true, force: true });
        }
      });
    }
    case 'docker-archive':
      return writeDockerArchiveOf(img, dst, tags, registry);
    case 'nix':
      throw new StrataError('reference', `'${dst.installable}' is not a destination: use docker://REF, oci:DIR or oci-archive:FILE`);
  }
}

/**
 * docker save's layout for one image: its blobs land in a staging layout
 * (each checked against its digest), gzip layers are unpacked and checked
 * against their diffIDs, and the archive is written atomically. The result is
 * named by the config digest (the image ID), as `build -o docker-archive:` is.
 */
async function writeDockerArchiveOf(
  img: ImageOrIndex,
  dst: Extract<Reference, { transport: 'docker-archive' }>,
  tags: string[],
  registry: RegistryOptions,
): Promise<CopyResult> {
  const m = img.kind === 'image' ? img.json : undefined;
  if (!m) throw new StrataError('usage', `${formatReference(dst)} holds one image, and the source is a multi-platform index: pick one with --platform`);
  const zstd = m.layers.find((l) => /zstd/.test(l.mediaType));
  if (zstd)
    throw new StrataError(
      'unsupported',
      `${formatReference(dst)}: layer ${zstd.digest} is zstd-compressed, which docker-archive cannot hold; copy to oci: or oci-archive:`,
    );
  const stage = await stageBeside(dst.path);
  try {
    const layout = await OciLayoutWriter.open(join(stage, 'layout'));
    const w = await writeToLayout(img, layout, registry);
    const configBytes = await readFile(layout.blobPath(m.config.digest));
    const diffIDs = (parseOci(imageConfig, configBytes, `config ${m.config.digest}`, 'registry') as { rootfs: { diff_ids: Digest[] } }).rootfs.diff_ids;
    if (diffIDs.length !== m.layers.length)
      throw new StrataError('registry', `config ${m.config.digest} lists ${diffIDs.length} diffIDs for ${m.layers.length} layers`);
    const layers = m.layers.map((l, i) => ({ digest: l.digest as Digest, diffID: diffIDs[i]! }));
    const tag = tags[0] ?? 'latest';
    const name = dst.name ? shortName({ registry: dst.name.registry, repository: dst.name.repository, tag: dst.name.tag ?? tag }) : undefined;
    await writeDockerArchiveFrom(
      layout,
      { config: { digest: m.config.digest as Digest, bytes: configBytes }, layers, repoTags: name ? [name] : [] },
      dst.path,
      0,
    );
    return { digest: m.config.digest as Digest, output: formatReference(dst), tags: name ? [name] : [], bytes: w.bytes, blobs: w.blobs };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

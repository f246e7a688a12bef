// An image index (image-index.md) over per-platform images. Each child's
// platform is its config's; children are sorted by platform and written as
// canonical JSON with no timestamp, so the index's digest depends neither on
// the order the images were named in nor on the machine that made it.
import { sha256 } from '../base/hash-tap.js';
import { StrataError } from '../base/errors.js';
import { formatPlatform, normalizePlatform } from '../oci/platform.js';
import { canonicalJson } from '../base/canonical.js';
import { MediaType, type Descriptor, type ImageConfig, type ImageIndex, type Platform } from '../oci/types.js';
import { type Digest } from '../base/digest.js';

export interface IndexChild {
  descriptor: Pick<Descriptor, 'mediaType' | 'digest' | 'size'>;
  platform: Platform;
  /** Where the image came from, for messages. */
  source: string;
}

export interface MadeIndex {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
  index: ImageIndex;
}

const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v !== '';

/** The platform an image's config names (config.md: os, architecture, variant, os.version, os.features). */
export function platformOfConfig(config: Partial<ImageConfig>): Platform {
  const missing = ['os', 'architecture'].filter((k) => !nonEmpty(config[k as 'os' | 'architecture']));
  if (missing.length) throw new StrataError('reference', `its config names no ${missing.join(' or ')}, so it is for no platform`);
  const features = config['os.features'];
  return {
    os: config.os!,
    architecture: config.architecture!,
    ...(nonEmpty(config.variant) ? { variant: config.variant } : {}),
    ...(nonEmpty(config['os.version']) ? { 'os.version': config['os.version'] } : {}),
    ...(Array.isArray(features) && features.length ? { 'os.features': features } : {}),
  };
}

function sortKey(p: Platform): string[] {
  const n = normalizePlatform(p);
  return [n.os, n.architecture, n.variant ?? '', n['os.version'] ?? '', [...(n['os.features'] ?? [])].sort().join(',')];
}

/** Orders platforms by os, architecture, variant, os.version, os.features; 0 for the same platform. */
export function comparePlatforms(a: Platform, b: Platform): number {
  const [ka, kb] = [sortKey(a), sortKey(b)];
  for (let i = 0; i < ka.length; i++) {
    if (ka[i] !== kb[i]) return ka[i]! < kb[i]! ? -1 : 1;
  }
  return 0;
}

/**
 * An OCI index, unless every child is a Docker v2 schema 2 manifest: images
 * pushed with --format docker are for clients and registries that read only
 * Docker's media types, and an OCI index above them would hide them from those
 * again. One OCI child makes it an OCI index (which may name Docker manifests).
 */
export function indexMediaType(children: { mediaType: string }[]): string {
  return children.length > 0 && children.every((c) => c.mediaType === MediaType.dockerManifest) ? MediaType.dockerManifestList : MediaType.ociIndex;
}

export interface PlatformEntry {
  platform: Platform;
  source: string;
  /** Unknown for an image not made yet. */
  digest?: Digest;
}

const byDigest = (a: PlatformEntry, b: PlatformEntry) => ((a.digest ?? '') < (b.digest ?? '') ? -1 : (a.digest ?? '') > (b.digest ?? '') ? 1 : 0);

/** Sorted by platform; the same image named twice counts once, and two images of one platform are an error. */
export function onePerPlatform<T extends PlatformEntry>(entries: T[]): T[] {
  const sorted = [...entries].sort((a, b) => comparePlatforms(a.platform, b.platform) || byDigest(a, b));
  const unique = sorted.filter((e, i) => i === 0 || !e.digest || e.digest !== sorted[i - 1]!.digest);
  for (let i = 1; i < unique.length; i++) {
    const [a, b] = [unique[i - 1]!, unique[i]!];
    if (comparePlatforms(a.platform, b.platform) === 0) {
      const named = (e: PlatformEntry) => (e.digest ? `${e.source} (${e.digest})` : e.source);
      throw new StrataError('platform', `two ${formatPlatform(b.platform)} images: ${named(a)} and ${named(b)}; an index holds one image per platform`);
    }
  }
  return unique;
}

/** The index of `children`, one image per platform, sorted by platform. */
export function makeImageIndex(children: IndexChild[], annotations: Record<string, string> = {}): MadeIndex {
  if (children.length === 0) throw new StrataError('usage', 'no image to put in the index');
  const unique = onePerPlatform(children.map((c) => ({ ...c, digest: c.descriptor.digest })));
  const mediaType = indexMediaType(unique.map((c) => c.descriptor));
  if (mediaType === MediaType.dockerManifestList && Object.keys(annotations).length) {
    throw new StrataError(
      'usage',
      'every image is a Docker v2 schema 2 manifest, so the index is a Docker manifest list, which has no annotations; drop --annotation or push the images with --format oci',
    );
  }
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType,
    manifests: unique.map((c) => ({ mediaType: c.descriptor.mediaType, digest: c.descriptor.digest, size: c.descriptor.size, platform: c.platform })),
    ...(Object.keys(annotations).length ? { annotations } : {}),
  };
  const bytes = Buffer.from(canonicalJson(index));
  return { bytes, mediaType, digest: sha256(bytes), index };
}

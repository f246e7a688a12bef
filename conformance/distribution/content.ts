// Test content: random blobs and the OCI documents that name them. Every blob
// carries random bytes, so no two checks (or runs) share a digest and none
// can pass on content an earlier one left behind.
import { createHash, randomBytes } from 'node:crypto';
import type { OciDescriptor as Descriptor, Sha256Digest } from '../../oci/schema.js';

export const MediaType = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
  empty: 'application/vnd.oci.empty.v1+json',
} as const;

/** Bytes with their digest: a blob, or a serialized manifest or index. */
export interface Content {
  bytes: Buffer;
  digest: Sha256Digest;
  size: number;
  mediaType: string;
}

function sha256(bytes: Buffer): Sha256Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function content(bytes: Buffer, mediaType: string): Content {
  return { bytes, digest: sha256(bytes), size: bytes.length, mediaType };
}

/** A digest nothing has: for the 404s. */
export function unknownDigest(): Sha256Digest {
  return sha256(randomBytes(32));
}

/** Random bytes, typed as an uncompressed layer (registries do not look inside). */
export function randomLayer(size = 1024): Content {
  return content(randomBytes(size), MediaType.layer);
}

export function descriptor(c: Content, extra: Partial<Descriptor> = {}): Descriptor {
  return { mediaType: c.mediaType, digest: c.digest, size: c.size, ...extra };
}

/** A minimal image config for the layers, with a random label so each config is new content. */
export function imageConfig(layers: Content[]): Content {
  const config = {
    architecture: 'amd64',
    os: 'linux',
    config: { Labels: { 'org.opencontainers.conformance.nonce': randomBytes(8).toString('hex') } },
    // The layers are uncompressed, so their diff_ids are their digests.
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
  };
  return content(Buffer.from(JSON.stringify(config)), MediaType.config);
}

/** The empty JSON blob the image spec gives artifacts without a config. */
export function emptyConfig(): Content {
  return content(Buffer.from('{}'), MediaType.empty);
}

export interface ManifestParts {
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export function imageManifest(parts: ManifestParts): Content {
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.manifest,
    ...(parts.artifactType ? { artifactType: parts.artifactType } : {}),
    config: parts.config,
    layers: parts.layers,
    ...(parts.subject ? { subject: parts.subject } : {}),
    ...(parts.annotations ? { annotations: parts.annotations } : {}),
  };
  return content(Buffer.from(JSON.stringify(manifest)), MediaType.manifest);
}

export function imageIndex(manifests: Descriptor[]): Content {
  return content(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.index, manifests })), MediaType.index);
}

/** The referrers tag schema: "<alg>-<ref>", the hex limited to 64 characters. */
export function referrersTag(digest: string): string {
  const [alg, hex = ''] = digest.split(':');
  return `${alg}-${hex.slice(0, 64)}`;
}

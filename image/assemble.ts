// Config and manifest from built layers: every field derived from the
// description, the platform and the layers' digests, never from the clock.
import { sha256 } from '../base/hash-tap.js';
import type { LayerDigests } from '../layers/layer.js';
import { StrataError } from '../base/errors.js';
import { canonicalJson } from '../base/canonical.js';
import { MediaType, type ContainerConfig, type Descriptor, type HistoryEntry, type ImageConfig, type ImageManifest, type Platform } from '../oci/types.js';
import { type Digest } from '../base/digest.js';
import type { Compression, ManifestFormat } from '../oci/layer-types.js';

// Defined in oci/layer-types.ts; re-exported for the callers that import them from here.
export type { ManifestFormat };
export { layerMediaType } from '../oci/layer-types.js';

export interface BuiltLayer extends LayerDigests {
  mediaType: string;
  annotations?: Record<string, string>;
  /** One line for the config's history: what the layer holds. */
  comment: string;
}

/** A JSON blob Strata made (a config, a manifest): its descriptor and exact bytes. */
export interface MadeJson {
  descriptor: Descriptor;
  bytes: Buffer;
}

/** RFC 3339 in UTC without fractional seconds, as other image builders write it. */
export function rfc3339(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

/** What a base image brings to the config: its layers' diffIDs and its history, kept as they are. */
export interface ConfigBase {
  diffIDs: Digest[];
  history: HistoryEntry[];
}

export function makeConfig(args: {
  platform: Platform;
  config: ContainerConfig;
  layers: BuiltLayer[];
  created: number;
  format: ManifestFormat;
  base?: ConfigBase;
}): MadeJson {
  const created = rfc3339(args.created);
  const history: HistoryEntry[] = [...(args.base?.history ?? []), ...args.layers.map((l) => ({ created, created_by: 'strata', comment: l.comment }))];
  const cfg: ImageConfig = {
    created,
    architecture: args.platform.architecture,
    os: args.platform.os,
    ...(args.platform.variant ? { variant: args.platform.variant } : {}),
    config: args.config,
    rootfs: { type: 'layers', diff_ids: [...(args.base?.diffIDs ?? []), ...args.layers.map((l) => l.diffID)] },
    history,
  };
  const bytes = Buffer.from(canonicalJson(cfg), 'utf8');
  const mediaType = args.format === 'docker' ? MediaType.dockerConfig : MediaType.ociConfig;
  return { descriptor: { mediaType, digest: sha256(bytes), size: bytes.length }, bytes };
}

/** A layer as the manifest names it: a built one, or a base image's. */
export type LayerDescriptor = Pick<BuiltLayer, 'mediaType' | 'digest' | 'size' | 'annotations'>;

export function makeManifest(args: { config: MadeJson; layers: LayerDescriptor[]; annotations: Record<string, string>; format: ManifestFormat }): MadeJson {
  const docker = args.format === 'docker';
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: docker ? MediaType.dockerManifest : MediaType.ociManifest,
    config: args.config.descriptor,
    layers: args.layers.map((l) => ({
      mediaType: l.mediaType,
      digest: l.digest,
      size: l.size,
      ...(!docker && l.annotations && Object.keys(l.annotations).length ? { annotations: l.annotations } : {}),
    })),
    ...(!docker && Object.keys(args.annotations).length ? { annotations: args.annotations } : {}),
  };
  const bytes = Buffer.from(canonicalJson(manifest), 'utf8');
  return { descriptor: { mediaType: manifest.mediaType, digest: sha256(bytes), size: bytes.length }, bytes };
}

/** Refuses what no manifest can name: Docker's media types have no zstd layer. */
export function checkLayerType(format: ManifestFormat, compression: Compression): void {
  if (format === 'docker' && compression === 'zstd')
    throw new StrataError('usage', 'Docker manifests have no zstd layer type; use --format oci or --compression gzip');
}

export type { Digest };

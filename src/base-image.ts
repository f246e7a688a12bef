// Base images (fromImage, --from): an existing image from a registry or an OCI
// layout whose layers go under Strata's, byte for byte, as dockerTools and
// nix2container users expect. Only its manifest and config are read here; layer
// bytes are left to the sink that needs them (none for strata digest), which
// checks them against their digests.
import { readContainerConfig } from '../image/source.js';
import type { Blob, ImageOrIndex } from '../image/model.js';
import { type ContainerConfig, type Descriptor, type HistoryEntry, type ImageConfig, type Platform } from '../oci/types.js';
import { type Digest } from '../base/digest.js';
import type { RegistryOptions } from './copy.js';
import { StrataError } from '../base/errors.js';
import { formatPlatform, platformMatches } from '../oci/platform.js';
import { layerCompression, layerMediaType, type ManifestFormat } from '../oci/layer-types.js';
import { formatDockerReference, parseDestination, type Reference } from '../oci/reference.js';

export interface BaseLayer {
  descriptor: Descriptor;
  diffID: Digest;
  source: Blob;
}

export interface BaseImage {
  /** The reference as given. */
  reference: string;
  /** REGISTRY/REPO[:TAG][@DIGEST] of a registry base, for the base.name annotation; none for a layout. */
  name?: string;
  /** The base's image manifest (for an index, the target platform's). */
  manifestDigest: Digest;
  layers: BaseLayer[];
  /** The base's container config as it is, fields Strata does not model (Healthcheck, Shell…) included. */
  config: ContainerConfig;
  history: HistoryEntry[];
}

/** Reads the base's manifest (the target platform's, from an index) and config. */
export async function resolveBase(reference: string, platform: Platform, reg: RegistryOptions): Promise<BaseImage> {
  const fail = (code: StrataError['code'], why: string) => new StrataError(code, `base image ${reference}: ${why}`);
  // A bare REGISTRY/REPO[:TAG|@DIGEST] is docker://, as for destinations.
  let ref: Reference;
  let img: ImageOrIndex;
  let config: ImageConfig;
  // The registry client loads only when an image has a base (a build without one never needs it).
  const { readSource } = await import('./copy.js');
  try {
    ref = parseDestination(reference);
    img = await readSource(ref, reg, platform);
    config = await readContainerConfig(img, reference);
  } catch (e) {
    // The readers' messages do not say what the image was for.
    if (e instanceof StrataError && !e.message.startsWith('base image ')) throw fail(e.code, e.message);
    if (e instanceof SyntaxError) throw fail('reference', `its config is not JSON: ${e.message}`);
    throw e;
  }
  const theirs: Platform = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
  if (!platformMatches(theirs, platform)) {
    throw fail(
      'platform',
      `it is a ${formatPlatform(theirs)} image and this one is for ${formatPlatform(platform)}; name the base's ${formatPlatform(platform)} image, or build with --platform ${formatPlatform(theirs)}`,
    );
  }
  const layerBlobs = img.kind === 'image' ? img.layers : [];
  const diffIDs = config.rootfs?.diff_ids ?? [];
  if (diffIDs.length !== layerBlobs.length) throw fail('reference', `its config lists ${diffIDs.length} diff_ids for ${layerBlobs.length} layers`);
  return {
    reference,
    ...(ref.transport === 'docker' ? { name: formatDockerReference(ref.ref) } : {}),
    manifestDigest: img.manifest.digest,
    layers: layerBlobs.map((source, i) => ({ descriptor: source.descriptor, diffID: diffIDs[i]!, source })),
    config: config.config ?? {},
    history: config.history ?? [],
  };
}

/** A base layer's media type in the output's format: the same bytes under the Docker or OCI name. */
export function baseLayerMediaType(mediaType: string, format: ManifestFormat): string {
  const kind = layerCompression(mediaType);
  if (!kind) throw new StrataError('unsupported', `the base image has a layer of type ${mediaType}; Strata carries tar, tar+gzip and tar+zstd layers`);
  if (kind === 'zstd' && format === 'docker') {
    throw new StrataError(
      'usage',
      'the base image has zstd layers, which Docker manifests and docker-archive cannot name; write an OCI image (--format oci, oci: or oci-archive:)',
    );
  }
  return layerMediaType(format, kind);
}

function mergeKeys<T>(base: Record<string, T> | null | undefined, own: Record<string, T> | undefined): Record<string, T> | undefined {
  return base || own ? { ...base, ...own } : undefined;
}

/**
 * The base's container config under the description's: a field the description
 * sets replaces the base's; Env merges by variable name (the base's order, the
 * description's values), Labels, ExposedPorts and Volumes by key. As in a
 * Dockerfile, an Entrypoint of the image's own drops the base's Cmd: those were
 * arguments for the base's Entrypoint.
 */
export function mergeConfig(base: ContainerConfig, own: ContainerConfig): ContainerConfig {
  const merged: ContainerConfig = { ...base, ...own };
  if (own.Entrypoint && !own.Cmd) delete merged.Cmd;
  if (base.Env || own.Env) {
    const env = new Map<string, string>();
    for (const e of [...(base.Env ?? []), ...(own.Env ?? [])]) env.set(e.split('=')[0]!, e);
    merged.Env = [...env.values()];
  }
  const labels = mergeKeys(base.Labels, own.Labels);
  const ports = mergeKeys(base.ExposedPorts, own.ExposedPorts);
  const volumes = mergeKeys(base.Volumes, own.Volumes);
  if (labels) merged.Labels = labels;
  if (ports) merged.ExposedPorts = ports;
  if (volumes) merged.Volumes = volumes;
  return merged;
}

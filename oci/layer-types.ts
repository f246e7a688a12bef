// The layer compressions Strata writes and reads, and the one table between
// them and the layer media types of OCI and Docker manifests. Every other
// module names a compression by this type and a layer type by this table.
import { MediaType } from './types.js';

export const COMPRESSIONS = ['gzip', 'zstd', 'none'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

export const MANIFEST_FORMATS = ['oci', 'docker'] as const;
/** Which manifest media types an image is written with: OCI's or Docker's v2 schema 2. */
export type ManifestFormat = (typeof MANIFEST_FORMATS)[number];

/** Every layer media type Strata writes or carries. Docker's media types have no zstd layer. */
const LAYER_TYPES: readonly { mediaType: string; format: ManifestFormat; compression: Compression }[] = [
  { mediaType: MediaType.ociLayerGzip, format: 'oci', compression: 'gzip' },
  { mediaType: MediaType.ociLayerZstd, format: 'oci', compression: 'zstd' },
  { mediaType: MediaType.ociLayer, format: 'oci', compression: 'none' },
  { mediaType: MediaType.dockerLayerGzip, format: 'docker', compression: 'gzip' },
  { mediaType: MediaType.dockerLayer, format: 'docker', compression: 'none' },
];

/** The media type of a layer compressed with `compression` in a manifest of `format`. */
export function layerMediaType(format: ManifestFormat, compression: Compression): string {
  const t = LAYER_TYPES.find((l) => l.format === format && l.compression === compression);
  // Callers refuse the one missing pair (docker, zstd) with a message that fits them first.
  if (!t) throw new Error(`internal: ${format} manifests have no ${compression} layer type`);
  return t.mediaType;
}

/** The compression of a layer of media type `mediaType`; undefined for a type the table does not hold. */
export function layerCompression(mediaType: string): Compression | undefined {
  return LAYER_TYPES.find((l) => l.mediaType === mediaType)?.compression;
}

// The plan of a Nix installable's image: its layers decided from the closure and
// the description (each with the key its bytes are a pure function of), and its
// config and manifest once the layers' digests are known. Nothing here reads or
// writes a layer; NixImage (nix-image.ts) does, for every destination.
import { makeConfig, makeManifest, layerMediaType, type MadeJson, type BuiltLayer, type LayerDescriptor, type ManifestFormat } from '../image/assemble.js';
import { canonicalJson } from '../base/canonical.js';
import { Annotation, StrataAnnotation, type Descriptor, type Platform } from '../oci/types.js';
import { bufferBlob, type Blob, type Image } from '../image/model.js';
import { parseOci } from '../oci/parse.js';
import { imageManifest } from '../oci/schema.js';
import { type Digest } from '../base/digest.js';
import { compressorInfo, type Compression } from '../layers/compress.js';
import { sha256 } from '../base/hash-tap.js';
import { LAYER_FORMAT_VERSION } from '../layers/format.js';
import type { LayerDigests, LayerInput } from '../layers/layer.js';
import type { LayerCache } from '../layers/cache.js';
import { planLayers } from '../layers/plan.js';
import { rootEntries } from '../layers/root.js';
import type { TreeEntry } from '../layers/tree.js';
import type { StorePathInfo } from '../nix/json.js';
import type { ImageDescription } from '../nix/description.js';
import type { Strategy } from '../layers/strategy.js';
import { baseLayerMediaType, mergeConfig, type BaseImage } from './base-image.js';
import { StrataError } from '../base/errors.js';

export interface WriteImageOptions {
  description: ImageDescription;
  closure: StorePathInfo[];
  platform: Platform;
  compression: Compression;
  format: ManifestFormat;
  maxLayers: number;
  strategy: Strategy;
  mtime: number;
  /** The layer cache, or undefined to make every layer from the store. */
  cache: LayerCache | undefined;
  /** An image whose layers go under Strata's (fromImage, --from). */
  base?: BaseImage;
}

/** A layer of the image: the base's (no store paths) or Strata's. */
export type ImageLayer = LayerDescriptor & { diffID: Digest; storePaths: string[] };

export interface WrittenImage {
  manifest: MadeJson;
  config: MadeJson;
  /** Every layer, bottom first: the base's, then Strata's. */
  layers: ImageLayer[];
}

function fileDigest(e: TreeEntry & { type: 'file' }): string {
  if (!e.contentDigest) throw new Error(`internal: in-memory entry ${e.path} has no content digest`);
  return e.contentDigest;
}

/** What a layer's bytes are a pure function of; equal keys mean equal layers. */
export function layerKey(input: LayerInput, opts: { compressorId: string; mtime: number }): string {
  const extra = (input.extra ?? []).map((e: TreeEntry) =>
    e.type === 'symlink' ? [e.path, 'l', e.target] : e.type === 'directory' ? [e.path, 'd', e.mode] : [e.path, 'f', e.mode, e.size, fileDigest(e)],
  );
  return sha256(
    canonicalJson({ v: LAYER_FORMAT_VERSION, c: opts.compressorId, m: opts.mtime, p: input.storeObjects.map((o) => [o.path, o.narHash]), x: extra }),
  );
}

/** One layer to make: what goes in it, its cache key and its history line. */
export interface PlannedLayer {
  input: LayerInput;
  key: string;
  comment: string;
  storePaths: string[];
}

export interface ImagePlan {
  /** The base image's layers as the manifest names them (media types in the output's format). */
  base: ImageLayer[];
  layers: PlannedLayer[];
  mediaType: string;
  compressorId: string;
}

/** The image's layers, decided from the closure and the description alone: nothing is read yet. */
export async function planImage(o: WriteImageOptions): Promise<ImagePlan> {
  const base: ImageLayer[] = (o.base?.layers ?? []).map(({ descriptor: d, diffID }) => ({
    mediaType: baseLayerMediaType(d.mediaType, o.format),
    digest: d.digest,
    size: d.size,
    diffID,
    storePaths: [],
    ...(d.annotations ? { annotations: d.annotations } : {}),
  }));
  // The base's layers count against --max-layers: the limit is the runtime's, on the whole image.
  if (base.length >= o.maxLayers)
    throw new StrataError('usage', `the base image's ${base.length} layers leave none for this image's own under --max-layers ${o.maxLayers}`);
  const root = await rootEntries(o.description);
  const groups = planLayers(o.closure, {
    maxLayers: o.maxLayers - base.length - (root.length > 0 ? 1 : 0),
    strategy: o.strategy,
    // The image's own roots: its contents. copyToRoot, certificates and paths the
    // config names are base, not volatile.
    roots: o.description.contents,
    explicit: o.description.layers,
  });
  const info = compressorInfo(o.compression);
  const withKey = (input: LayerInput, comment: string, storePaths: string[]): PlannedLayer => ({
    input,
    comment,
    storePaths,
    key: layerKey(input, { compressorId: info.id, mtime: o.mtime }),
  });
  const layers = groups.map((g) =>
    withKey(
      { storeObjects: g.paths.map((p) => ({ path: p.path, narHash: p.narHash })) },
      `store paths: ${g.paths.map((p) => p.path.split('/').pop()!.slice(33)).join(' ')}`,
      g.paths.map((p) => p.path),
    ),
  );
  if (root.length > 0) layers.push(withKey({ storeObjects: [], extra: root }, 'image root: links, /tmp, /etc', []));
  return { base, layers, mediaType: layerMediaType(o.format, o.compression), compressorId: info.id };
}

/** Config and manifest once every layer's digests are known. */
export function finishImage(o: WriteImageOptions, plan: ImagePlan, made: LayerDigests[]): WrittenImage {
  const own: (BuiltLayer & ImageLayer)[] = made.map((digests, i) => ({
    ...digests,
    mediaType: plan.mediaType,
    comment: plan.layers[i]!.comment,
    storePaths: plan.layers[i]!.storePaths,
    annotations: { [StrataAnnotation.layerKey]: plan.layers[i]!.key },
  }));
  const b = o.base;
  const config = makeConfig({
    platform: o.platform,
    config: b ? mergeConfig(b.config, o.description.config) : o.description.config,
    layers: own,
    created: o.mtime,
    format: o.format,
    ...(b ? { base: { diffIDs: plan.base.map((l) => l.diffID), history: b.history } } : {}),
  });
  const annotations = {
    ...(b ? { [Annotation.baseDigest]: b.manifestDigest, ...(b.name ? { [Annotation.baseName]: b.name } : {}) } : {}),
    ...o.description.annotations,
    [StrataAnnotation.compressor]: plan.compressorId,
    [StrataAnnotation.layerFormat]: LAYER_FORMAT_VERSION,
  };
  const layers = [...plan.base, ...own];
  const manifest = makeManifest({ config, layers, annotations, format: o.format });
  return { manifest, config, layers };
}

/**
 * A written image in the one model, without reading it back: its manifest and
 * config from memory, its layers opened by `layer` from where they were written.
 */
export function writtenImage(w: WrittenImage, layer: (d: Descriptor, i: number) => Blob, where: string): Image {
  const m = w.manifest;
  // Strata's own JSON, read through the same schemas as anyone's: a refusal here is a bug in the writer.
  const json = parseOci(imageManifest, m.bytes, `manifest ${m.descriptor.digest} of ${where}`, 'usage');
  return {
    kind: 'image',
    manifest: { bytes: m.bytes, mediaType: m.descriptor.mediaType, digest: m.descriptor.digest },
    json,
    config: bufferBlob(w.config.descriptor, w.config.bytes),
    layers: json.layers.map(layer),
  };
}

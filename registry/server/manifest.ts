// What a pushed manifest must be before the store takes it, checked as
// distribution 2.8 checks it: JSON of a known manifest kind, within the size
// limit, sent with a manifest Content-Type that its body's mediaType (when
// present) agrees with, an index without config or layers and a manifest
// without manifests (the two must never be mistaken for each other, which is
// CVE-2021-41190), and every descriptor well formed. The result names what the
// manifest references (for the existence check) and, when it has a subject,
// the descriptor the referrers API lists for it. gc reads stored manifests
// with referencedDigests, which is lenient: a manifest taken by an older,
// laxer version must still keep its blobs alive.
import { isIndex } from '../../image/source.js';
import { MediaType, type Descriptor } from '../../oci/types.js';
import { sha256 } from '../../base/hash-tap.js';
import { manifestInvalid } from './errors.js';
import { isBlobDigest, type BlobDigest } from './names.js';

/** The manifest kinds the server stores: OCI image manifest and index, and their Docker schema 2 forms. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList];

/**
 * Layers whose bytes may be somewhere else than the registry (image-spec's
 * non-distributable layers, Docker's foreign layers): the only ones a manifest
 * may name without pushing the blob, and only with http or https URLs.
 */
export const FOREIGN_LAYER_TYPES: readonly string[] = [
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
];

export interface ParsedManifest {
  bytes: Buffer;
  digest: BlobDigest;
  mediaType: string;
  /** config and layers that must be in the repository (all but foreign layers with http(s) URLs). */
  blobs: Descriptor[];
  /** An index's manifests, which must be in the repository. */
  children: Descriptor[];
  subject?: BlobDigest;
  /** What the referrers API lists for this manifest (set when it has a subject). */
  referrer?: Descriptor;
}

export function digestOf(bytes: Buffer): BlobDigest {
  return sha256(bytes) as BlobDigest;
}

/** "type/subtype; params" → "type/subtype". */
export function bareMediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function descriptor(v: unknown, where: string): Descriptor {
  if (!isObject(v)) throw manifestInvalid(`${where} is not a descriptor`);
  const { mediaType, digest, size } = v;
  if (typeof mediaType !== 'string' || mediaType === '') throw manifestInvalid(`${where} has no mediaType`);
  if (typeof digest !== 'string' || !isBlobDigest(digest)) throw manifestInvalid(`${where} has digest ${JSON.stringify(digest)}; this registry keeps sha256 digests only`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw manifestInvalid(`${where} has no valid size`);
  if (v.urls !== undefined && (!Array.isArray(v.urls) || !v.urls.every((u) => typeof u === 'string'))) throw manifestInvalid(`${where} has urls that are not a list of strings`);
  return v as unknown as Descriptor;
}

function descriptors(v: unknown, where: string): Descriptor[] {
  if (!Array.isArray(v)) throw manifestInvalid(`${where} is not a list`);
  return v.map((d, i) => descriptor(d, `${where}[${i}]`));
}

/**
 * The media type is Content-Type's, which must name a manifest kind; the
 * body's, when present, must agree (OCI allows leaving it out). A client that
 * sends anything else is refused rather than guessed for, as distribution does.
 */
function mediaTypeOf(body: Json, contentType: string): string {
  if (!MANIFEST_MEDIA_TYPES.includes(contentType)) {
    throw manifestInvalid(`Content-Type ${JSON.stringify(contentType.slice(0, 128))} is not a manifest media type (${MANIFEST_MEDIA_TYPES.join(', ')})`);
  }
  if (body.mediaType !== undefined && body.mediaType !== contentType) {
    throw manifestInvalid(`Content-Type ${contentType} does not match the manifest's mediaType ${JSON.stringify(body.mediaType).slice(0, 128)}`);
  }
  return contentType;
}

/** An index that also looks like a manifest, or the reverse, could be read as either by different clients. */
function refuseAmbiguity(body: Json, index: boolean): void {
  const stray = index ? (['config', 'layers'] as const).filter((k) => k in body) : 'manifests' in body ? ['manifests'] : [];
  if (stray.length > 0) throw manifestInvalid(`${index ? 'an index' : 'an image manifest'} must not have ${stray.join(' or ')}`);
}

const isHttpUrl = (u: string): boolean => /^https?:\/\/[^/?#]/i.test(u) && URL.canParse(u);

/** A layer the registry need not hold: a foreign one that says where else its bytes are. */
function elsewhere(d: Descriptor): boolean {
  return FOREIGN_LAYER_TYPES.includes(d.mediaType) && !!d.urls?.length && d.urls.every(isHttpUrl);
}

/** Checks a manifest's bytes; throws MANIFEST_INVALID saying what is wrong. */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw manifestInvalid('the manifest is not JSON');
  }
  if (!isObject(body)) throw manifestInvalid('the manifest is not a JSON object');
  if (body.schemaVersion !== 2) throw manifestInvalid('schemaVersion must be 2');
  const mediaType = mediaTypeOf(body, bareMediaType(contentType));
  const index = isIndex(mediaType);
  refuseAmbiguity(body, index);
  const config = index ? undefined : descriptor(body.config, 'config');
  const layers = index ? [] : descriptors(body.layers, 'layers');
  const children = index ? descriptors(body.manifests, 'manifests') : [];
  const subject = body.subject === undefined ? undefined : descriptor(body.subject, 'subject');
  const digest = digestOf(bytes);
  const blobs = [...(config ? [config] : []), ...layers.filter((l) => !elsewhere(l))];
  const parsed: ParsedManifest = { bytes, digest, mediaType, blobs, children };
  if (subject) {
    // The spec: artifactType, else (for an image manifest) the config's media type; the manifest's annotations.
    const artifactType = typeof body.artifactType === 'string' ? body.artifactType : config?.mediaType;
    const annotations = isObject(body.annotations) ? (body.annotations as Record<string, string>) : undefined;
    parsed.subject = subject.digest as BlobDigest;
    parsed.referrer = { mediaType, digest, size: bytes.length, ...(artifactType ? { artifactType } : {}), ...(annotations ? { annotations } : {}) };
  }
  return parsed;
}

/**
 * Every digest a stored manifest names (config, layers, child manifests),
 * checked no further: what gc must keep. Throws only when the bytes are not a
 * JSON object, since then what they reference is unknown.
 */
export function referencedDigests(bytes: Buffer): BlobDigest[] {
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new Error('not JSON');
  }
  if (!isObject(body)) throw new Error('not a JSON object');
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  return [body.config, ...list(body.layers), ...list(body.manifests)].flatMap((d) => (isObject(d) && typeof d.digest === 'string' && isBlobDigest(d.digest) ? [d.digest] : []));
}

/** Accept header → media types (parameters and q-values dropped); empty: anything. */
export function parseAccept(header: string | undefined): string[] {
  return (header ?? '')
    .split(',')
    .map(bareMediaType)
    .filter((t) => t !== '');
}

export function accepts(accept: string[], mediaType: string): boolean {
  return accept.length === 0 || accept.some((a) => a === mediaType || a === '*/*' || a === `${mediaType.split('/')[0]}/*`);
}

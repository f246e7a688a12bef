// What a pushed manifest must be before the store takes it, checked as
// distribution 2.8 checks it: JSON of a known manifest kind, within the size
// limit, sent with a manifest Content-Type that its body's mediaType (when
// present) agrees with, an index without config or layers and a manifest
// without manifests (the two must never be mistaken for each other, which is
// CVE-2021-41190), and the body what oci/schema.ts reads (the schemas every
// Strata reader uses, so what strata serve takes, strata reads; only a
// layer's URLs are left to the blob check, as distribution leaves them, so a
// foreign layer with a relative URL is a missing blob). The result names what the
// manifest references (for the existence check) and, when it has a subject,
// the descriptor the referrers API lists for it. gc reads stored manifests
// with referencedDigests, which is lenient: a manifest taken by an older,
// laxer version must still keep its blobs alive.
import { z } from 'zod';
import { isIndex } from '../../image/source.js';
import { checkOciValue, OciJsonError } from '../../oci/parse.js';
import { descriptor, imageIndex, imageManifest, manifestDescriptor } from '../../oci/schema.js';
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

/** A descriptor as pushed: its URLs are any strings here, and held to http(s) only where a layer is taken without its blob (elsewhere). */
const lenientUrls = { urls: z.array(z.string()).optional() };
const pushedManifest = imageManifest.extend({ config: descriptor.extend(lenientUrls), layers: z.array(descriptor.extend(lenientUrls)) });
const pushedIndex = imageIndex.extend({ manifests: z.array(manifestDescriptor.extend(lenientUrls)) });

/** The body against the schema of its kind; MANIFEST_INVALID naming the first bad field. */
function checked<S extends typeof pushedManifest | typeof pushedIndex>(schema: S, body: Json): z.output<S> {
  try {
    return checkOciValue(schema, body);
  } catch (e) {
    if (e instanceof OciJsonError) throw manifestInvalid(`the manifest's ${e.problem}`);
    throw e;
  }
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
  const mediaType = mediaTypeOf(body, bareMediaType(contentType));
  const index = isIndex(mediaType);
  refuseAmbiguity(body, index);
  const list = index ? checked(pushedIndex, body) : undefined;
  const image = index ? undefined : checked(pushedManifest, body);
  const m = list ?? image!;
  const config: Descriptor | undefined = image?.config;
  const layers: Descriptor[] = image?.layers ?? [];
  const children: Descriptor[] = list?.manifests ?? [];
  const digest = digestOf(bytes);
  const blobs = [...(config ? [config] : []), ...layers.filter((l) => !elsewhere(l))];
  const parsed: ParsedManifest = { bytes, digest, mediaType, blobs, children };
  if (m.subject) {
    // The spec: artifactType, else (for an image manifest) the config's media type; the manifest's annotations.
    const artifactType = m.artifactType ?? config?.mediaType;
    parsed.subject = m.subject.digest as BlobDigest;
    parsed.referrer = {
      mediaType,
      digest,
      size: bytes.length,
      ...(artifactType ? { artifactType } : {}),
      ...(m.annotations ? { annotations: m.annotations } : {}),
    };
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
  return [body.config, ...list(body.layers), ...list(body.manifests)].flatMap((d) =>
    isObject(d) && typeof d.digest === 'string' && isBlobDigest(d.digest) ? [d.digest] : [],
  );
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

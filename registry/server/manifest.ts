// What a pushed manifest must be before the store takes it: JSON of a known
// manifest kind, within the size limit, its media type agreeing between
// Content-Type and body, and every descriptor well formed. The result names
// what the manifest references (for the existence check and for gc) and, when
// it has a subject, the descriptor the referrers API lists for it.
import { isIndex } from '../../image/source.js';
import { MediaType, type Descriptor } from '../../image/types.js';
import { sha256 } from '../../layers/hash-tap.js';
import { manifestInvalid } from './errors.js';
import { isBlobDigest, type BlobDigest } from './names.js';

/** The manifest kinds the server stores: OCI image manifest and index, and their Docker schema 2 forms. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList];

export interface ParsedManifest {
  bytes: Buffer;
  digest: BlobDigest;
  mediaType: string;
  /** config and layers that must be in the repository (layers with urls are outside it). */
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
  return v as unknown as Descriptor;
}

function descriptors(v: unknown, where: string): Descriptor[] {
  if (!Array.isArray(v)) throw manifestInvalid(`${where} is not a list`);
  return v.map((d, i) => descriptor(d, `${where}[${i}]`));
}

/** The media type: the body's, else Content-Type's, else what the shape says (OCI allows omitting it). */
function mediaTypeOf(body: Json, contentType: string): string {
  const declared = typeof body.mediaType === 'string' ? body.mediaType : undefined;
  const header = MANIFEST_MEDIA_TYPES.includes(contentType) ? contentType : undefined;
  if (declared && header && declared !== header) throw manifestInvalid(`Content-Type ${header} does not match the manifest's mediaType ${declared}`);
  const type = declared ?? header ?? ('manifests' in body ? MediaType.ociIndex : MediaType.ociManifest);
  if (!MANIFEST_MEDIA_TYPES.includes(type)) throw manifestInvalid(`unsupported manifest media type ${type} (supported: ${MANIFEST_MEDIA_TYPES.join(', ')})`);
  return type;
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
  const config = index ? undefined : descriptor(body.config, 'config');
  const layers = index ? [] : descriptors(body.layers, 'layers');
  const children = index ? descriptors(body.manifests, 'manifests') : [];
  const subject = body.subject === undefined ? undefined : descriptor(body.subject, 'subject');
  const digest = digestOf(bytes);
  const blobs = [...(config ? [config] : []), ...layers.filter((l) => !l.urls?.length)];
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

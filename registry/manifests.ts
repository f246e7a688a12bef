// The manifest half of the distribution spec, client side: get (checked against
// the digest asked for or announced), head, put by digest and by tag, and the
// referrers API with the tag-schema fallback for registries without it (GHCR).
import { StrataError } from '../base/errors.js';
import { sha256 } from '../base/hash-tap.js';
import { MediaType } from '../oci/types.js';
import { type Digest } from '../base/digest.js';
import { isIndex } from '../image/source.js';
import { imageIndex, imageManifest, MAX_MANIFEST_BYTES, mediaType as mediaTypeSchema, type OciIndex, type OciManifest } from '../oci/schema.js';
import { checkOciPart, shown } from '../oci/parse.js';
import { pullScope, pushScope, type Repository } from './blobs.js';
import { shortDigest } from '../base/digest.js';
import { discard, readBounded, type RegistryResponse } from './http.js';

/** The manifest kinds Strata reads, most preferred first. */
export const MANIFEST_ACCEPT = [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifestList, MediaType.dockerManifest].join(', ');

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
  /** The bytes as an index or as a manifest, checked against the spec's grammar: exactly one is set. */
  index?: OciIndex;
  manifest?: OciManifest;
}

/** A manifest or index body, whole: at most 4 MiB, within the request's deadline. */
export function readManifestBody(res: RegistryResponse, step: string): Promise<Buffer> {
  return readBounded(res, step, MAX_MANIFEST_BYTES, 'the manifest', `registry ${new URL(res.url).host}`);
}

/** A manifest's bytes as the registry sent them, checked against the digest asked for (or the one it names), and its Content-Type. */
export interface ManifestBytes {
  bytes: Buffer;
  digest: Digest;
  /** The answer's Content-Type, without parameters ('' when none). */
  contentType: string;
  /** What was being done, for errors about it. */
  step: string;
}

/** The bytes under `reference` (a tag or digest), or undefined when there is none; nothing of them is parsed. */
export async function getManifestBytes(
  repo: Repository,
  reference: string,
  opts: { accept?: string; push?: boolean } = {},
): Promise<ManifestBytes | undefined> {
  const step = `read of manifest ${reference.startsWith('sha256:') ? shortDigest(reference) : reference} from ${repo.session.registry}/${repo.name}`;
  const res = await repo.session.request({
    method: 'GET',
    path: `/v2/${repo.name}/manifests/${reference}`,
    headers: { accept: opts.accept ?? MANIFEST_ACCEPT },
    scopes: [opts.push ? pushScope(repo.name) : pullScope(repo.name)],
    step,
    expect: [200, 404],
    deadline: true,
  });
  if (res.status === 404) {
    await discard(res, repo.session.timeoutMs);
    return undefined;
  }
  const bytes = await readManifestBody(res, step);
  const digest = sha256(bytes);
  const expected = reference.startsWith('sha256:') ? reference : res.headers['docker-content-digest'];
  if (expected && expected !== digest) throw new StrataError('registry', `${step} failed: the registry sent bytes with digest ${digest}, not ${expected}`);
  return { bytes, digest, contentType: res.headers['content-type']?.split(';')[0]?.trim() ?? '', step };
}

/** The manifest under `reference` (a tag or digest), or undefined when there is none. */
export async function getManifest(repo: Repository, reference: string, opts: { accept?: string; push?: boolean } = {}): Promise<FetchedManifest | undefined> {
  const got = await getManifestBytes(repo, reference, opts);
  if (!got) return undefined;
  const { bytes, digest, step } = got;
  let raw: { mediaType?: unknown; manifests?: unknown };
  try {
    raw = JSON.parse(bytes.toString('utf8')) as typeof raw;
  } catch {
    throw new StrataError('registry', `${step} failed: the manifest is not JSON`);
  }
  // Checked before anything of it is used: its digests become URLs and paths.
  const named = typeof raw?.mediaType === 'string' ? raw.mediaType : got.contentType;
  const index = isIndex(named) || (!KNOWN_MANIFEST_TYPES.includes(named) && Array.isArray(raw?.manifests));
  // Neither the JSON nor the answer names a type (the OCI spec lets the JSON leave it out): its shape does.
  const mediaType = named || (index ? MediaType.ociIndex : MediaType.ociManifest);
  const where = `${index ? 'index' : 'manifest'} from ${repo.session.registry}/${repo.name}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;
  if (!mediaTypeSchema.safeParse(mediaType).success) throw new StrataError('registry', `${where}: its media type ${shown(mediaType)} is not a media type`);
  if (index) return { bytes, mediaType, digest, index: checkOciPart(imageIndex, raw, where, 'registry') };
  return { bytes, mediaType, digest, manifest: checkOciPart(imageManifest, raw, where, 'registry') };
}

const KNOWN_MANIFEST_TYPES: string[] = [MediaType.ociManifest, MediaType.dockerManifest];

/** The digest the registry has under `reference`, or undefined. */
export async function headManifest(repo: Repository, reference: string, push = false): Promise<Digest | undefined> {
  const res = await repo.session.request({
    method: 'HEAD',
    path: `/v2/${repo.name}/manifests/${reference}`,
    headers: { accept: MANIFEST_ACCEPT },
    scopes: [push ? pushScope(repo.name) : pullScope(repo.name)],
    step: `check of ${repo.name}:${reference}`,
    expect: [200, 404],
    deadline: true,
  });
  await discard(res, repo.session.timeoutMs);
  if (res.status !== 200) return undefined;
  const d = res.headers['docker-content-digest'];
  return d && /^sha256:[a-f0-9]{64}$/.test(d) ? (d as Digest) : undefined;
}

/** Puts a manifest under a digest or tag; the registry must agree on its digest. */
export async function putManifest(repo: Repository, reference: string, bytes: Buffer, mediaType: string): Promise<{ digest: Digest; subject?: string }> {
  const digest = sha256(bytes);
  const step = `write of manifest ${reference.startsWith('sha256:') ? shortDigest(reference) : reference} to ${repo.session.registry}/${repo.name}`;
  const res = await repo.session.request({
    method: 'PUT',
    path: `/v2/${repo.name}/manifests/${reference}`,
    headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
    body: () => bytes,
    scopes: [pushScope(repo.name)],
    step,
    expect: [201],
    deadline: true,
  });
  await discard(res, repo.session.timeoutMs);
  const answered = res.headers['docker-content-digest'];
  if (answered && answered !== digest) throw new StrataError('registry', `${step} failed: the registry stored it as ${answered}, not ${digest}`);
  // A registry with the referrers API answers a manifest with a subject with OCI-Subject.
  const subject = res.headers['oci-subject'];
  return { digest, ...(subject ? { subject } : {}) };
}

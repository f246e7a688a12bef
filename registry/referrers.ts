// OCI 1.1 referrers, client side: artifacts (signatures, SBOMs, attestations)
// that point at an image through their manifest's `subject`. A registry with
// the referrers API indexes them itself (it answers the PUT with OCI-Subject);
// for one without (GHCR, distribution 2.8) the client keeps the index under the
// fallback tag sha256-<hex>, as the distribution spec's referrers tag schema says.
import { canonicalJson } from '../base/canonical.js';
import { sha256 } from '../base/hash-tap.js';
import { MediaType, type Descriptor } from '../oci/types.js';
import { type Digest } from '../base/digest.js';
import { pullScope, type Repository } from './blobs.js';
import { shortDigest } from '../base/digest.js';
import { getManifest, putManifest, readManifestBody } from './manifests.js';
import { discard } from './http.js';
import { parseOci } from '../oci/parse.js';
import { imageIndex, type OciIndex } from '../oci/schema.js';

/** The tag a registry without the referrers API keeps referrers under. */
export function referrersTag(subject: Digest): string {
  return subject.replace(':', '-');
}

/** The fallback tag's index; `push` asks for the scope an update needs (reading needs only pull). */
async function fallbackIndex(repo: Repository, subject: Digest, push = false, tag = referrersTag(subject)): Promise<OciIndex | undefined> {
  // Checked by getManifest against the spec's grammar; a manifest under the tag is no referrers index.
  return (await getManifest(repo, tag, { accept: MediaType.ociIndex, push }))?.index;
}

/**
 * The referrers of `subject`: from the referrers API, or from the fallback tag
 * when the registry has none (404). `api` tells which answered. `tag`: where
 * the index is kept, when not under the spec's fallback tag (serve's registry storage).
 */
export async function listReferrers(
  repo: Repository,
  subject: Digest,
  artifactType?: string,
  tag = referrersTag(subject),
): Promise<{ manifests: Descriptor[]; api: boolean }> {
  const q = artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : '';
  const res = await repo.session.request({
    method: 'GET',
    path: `/v2/${repo.name}/referrers/${subject}${q}`,
    headers: { accept: MediaType.ociIndex },
    scopes: [pullScope(repo.name)],
    step: `read of the referrers of ${shortDigest(subject)} in ${repo.name}`,
    expect: [200, 404],
    deadline: true,
  });
  const api = res.status === 200 && (res.headers['content-type'] ?? '').startsWith(MediaType.ociIndex);
  let index: OciIndex | undefined;
  if (api)
    index = parseOci(
      imageIndex,
      await readManifestBody(res, `read of the referrers of ${shortDigest(subject)} in ${repo.name}`),
      `referrers of ${subject} from ${repo.session.registry}/${repo.name}`,
      'registry',
    );
  else {
    await discard(res, repo.session.timeoutMs);
    index = await fallbackIndex(repo, subject, false, tag);
  }
  const all = index?.manifests ?? [];
  return { manifests: artifactType ? all.filter((m) => m.artifactType === artifactType) : all, api };
}

/**
 * Pushes an artifact manifest whose `subject` is an image of `repo` (its blobs
 * must be there already) and makes it findable: by the registry when it has the
 * referrers API, else by adding it to the fallback tag's index.
 */
export async function attachReferrer(
  repo: Repository,
  manifest: { bytes: Buffer; mediaType: string; artifactType?: string; annotations?: Record<string, string> },
  subject: Digest,
): Promise<{ digest: Digest; via: 'api' | 'tag' }> {
  const put = await putManifest(repo, sha256(manifest.bytes), manifest.bytes, manifest.mediaType);
  if (put.subject) return { digest: put.digest, via: 'api' };
  await addFallbackReferrer(repo, subject, {
    mediaType: manifest.mediaType,
    digest: put.digest,
    size: manifest.bytes.length,
    ...(manifest.artifactType ? { artifactType: manifest.artifactType } : {}),
    ...(manifest.annotations ? { annotations: manifest.annotations } : {}),
  });
  return { digest: put.digest, via: 'tag' };
}

/**
 * Adds a referrer to the fallback tag's index (a read, then a write: two
 * writers at once can lose one entry, which the spec's tag schema cannot avoid).
 */
export async function addFallbackReferrer(repo: Repository, subject: Digest, referrer: Descriptor, tag = referrersTag(subject)): Promise<void> {
  const index: OciIndex = (await fallbackIndex(repo, subject, true, tag)) ?? { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
  if (index.manifests.some((d) => d.digest === referrer.digest)) return;
  const grown: OciIndex = { ...index, manifests: [...index.manifests, referrer as OciIndex['manifests'][number]] };
  await putManifest(repo, tag, Buffer.from(canonicalJson(grown)), MediaType.ociIndex);
}

/** Takes a deleted referrer out of the fallback tag's index, when it is listed there. */
export async function removeFallbackReferrer(repo: Repository, subject: Digest, referrer: Digest, tag = referrersTag(subject)): Promise<void> {
  const index = await fallbackIndex(repo, subject, true, tag);
  if (!index?.manifests.some((d) => d.digest === referrer)) return;
  index.manifests = index.manifests.filter((d) => d.digest !== referrer);
  await putManifest(repo, tag, Buffer.from(canonicalJson(index)), MediaType.ociIndex);
}

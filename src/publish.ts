// Push by digest, sign, tag last: what `push --sign` and `index --sign` do, so
// that a tag the registry serves never names an unsigned image. The push was
// made with its tags held back (build's and copy's holdTags, index's too);
// here the digest is signed and only then are those tags written. A failure
// anywhere before leaves the image in the registry by digest alone.
import type { Digest } from '../base/digest.js';
import type { Repository } from '../registry/blobs.js';
import { shortDigest } from '../base/digest.js';
import { getManifest, putManifest } from '../registry/manifests.js';
import { StrataError } from '../base/errors.js';

export async function signThenTag(repo: Repository, digest: Digest, tags: string[], sign: (digest: Digest) => Promise<void>): Promise<void> {
  await sign(digest);
  if (!tags.length) return;
  // The bytes the registry holds: a tag is a PUT of the same manifest under another name.
  const m = await getManifest(repo, digest, { push: true });
  if (!m) throw new StrataError('registry', `${repo.session.registry}/${repo.name} no longer has ${shortDigest(digest)} to tag`);
  for (const tag of tags) await putManifest(repo, tag, m.bytes, m.mediaType);
}

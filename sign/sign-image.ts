// Signing an image that is in a registry: the manifest digest the registry
// serves is what gets signed, as a bundle referrer and, on request, as cosign's
// legacy .sig image too.
import { bundleToJSON } from '@sigstore/bundle';
import { StrataError } from '../src/errors.js';
import type { Digest } from '../image/types.js';
import { shortDigest, type Repository } from '../registry/blobs.js';
import { getManifest } from '../registry/manifests.js';
import { legacyAnnotations } from './legacy.js';
import { BundleAnnotation, COSIGN_SIGN_PREDICATE } from './media.js';
import { imageStatement, simpleSigningPayload } from './payload.js';
import { BundleMaker, type SigningIdentity } from './signers.js';
import { storeBundle, storeLegacy, type StoredReferrer } from './store.js';

export interface SignRequest {
  identity: SigningIdentity;
  /** Also write cosign's legacy sha256-<hex>.sig image. */
  legacyTag?: boolean;
}

export interface SignResult {
  /** The image manifest signed. */
  subject: Digest;
  /** The bundle's referrer manifest, and whether the registry indexed it (api) or Strata's tag index holds it. */
  referrer: { digest: Digest; via: 'api' | 'tag' };
  legacy?: { digest: Digest; tag: string };
}

export async function signImage(repo: Repository, digest: Digest, req: SignRequest): Promise<SignResult> {
  const image = await getManifest(repo, digest);
  if (!image) throw new StrataError('registry', `${repo.session.registry}/${repo.name} has no manifest ${shortDigest(digest)} to sign`);
  const name = `${repo.session.registry}/${repo.name}`;
  const maker = new BundleMaker(req.identity);
  const bundle = await maker.statement(imageStatement(name, digest));
  const referrer = await storeBundle(repo, { mediaType: image.mediaType, digest, size: image.bytes.length }, Buffer.from(JSON.stringify(bundleToJSON(bundle))), {
    [BundleAnnotation.content]: 'dsse-envelope',
    [BundleAnnotation.predicateType]: COSIGN_SIGN_PREDICATE,
    [BundleAnnotation.created]: new Date().toISOString(),
  });
  if (!req.legacyTag) return { subject: digest, referrer };
  const payload = simpleSigningPayload(name, digest);
  const legacy = await storeLegacy(repo, digest, { payload, annotations: legacyAnnotations(await maker.message(payload)) });
  return { subject: digest, referrer, legacy };
}

/** An in-toto statement about the image (an SBOM, provenance) and its predicate type. */
export interface Attestation {
  predicateType: string;
  /** The statement's exact bytes: what is signed. */
  statement: Buffer;
}

/**
 * Signs each statement (its subject must be `digest`) and stores it as a bundle
 * referrer of the image, with its predicate type in the annotations, as cosign
 * stores attestations: verifiers tell them from signatures by that type.
 */
export async function attestImage(repo: Repository, digest: Digest, identity: SigningIdentity, attestations: Attestation[]): Promise<StoredReferrer[]> {
  const image = await getManifest(repo, digest);
  if (!image) throw new StrataError('registry', `${repo.session.registry}/${repo.name} has no manifest ${shortDigest(digest)} to attest`);
  const maker = new BundleMaker(identity);
  const stored: StoredReferrer[] = [];
  for (const a of attestations) {
    const bundle = await maker.statement(a.statement);
    stored.push(
      await storeBundle(repo, { mediaType: image.mediaType, digest, size: image.bytes.length }, Buffer.from(JSON.stringify(bundleToJSON(bundle))), {
        [BundleAnnotation.content]: 'dsse-envelope',
        [BundleAnnotation.predicateType]: a.predicateType,
        [BundleAnnotation.created]: new Date().toISOString(),
      }),
    );
  }
  return stored;
}

// Signing an image that is in a registry: the manifest digest the registry
// serves is what gets signed, as a bundle referrer and, on request, as cosign's
// legacy .sig image too.
import { bundleToJSON } from '@sigstore/bundle';
import { StrataError } from '../base/errors.js';
import type { Digest } from '../base/digest.js';
import type { Repository } from '../registry/blobs.js';
import { shortDigest } from '../base/digest.js';
import { getManifest } from '../registry/manifests.js';
import { legacyAnnotations } from './legacy.js';
import { BundleAnnotation, COSIGN_SIGN_PREDICATE } from './media.js';
import { imageStatement, simpleSigningPayload } from './payload.js';
import { BundleMaker, type SigningIdentity } from './signers.js';
import { storeBundle, storeLegacy, type StoredReferrer } from './store.js';

/** An in-toto statement about the image (an SBOM, provenance) and its predicate type. */
export interface Attestation {
  predicateType: string;
  /** The statement's exact bytes: what is signed. */
  statement: Buffer;
}

export interface SignRequest {
  identity: SigningIdentity;
  /** Also write cosign's legacy sha256-<hex>.sig image. */
  legacyTag?: boolean;
  /** Statements to sign and attach too (their subject must be the image). */
  attestations?: Attestation[];
}

export interface SignResult {
  /** The image manifest signed. */
  subject: Digest;
  /** The bundle's referrer manifest, and whether the registry indexed it (api) or Strata's tag index holds it. */
  referrer: StoredReferrer;
  /** The attestations' referrers, in the order given. */
  attestations: StoredReferrer[];
  legacy?: { digest: Digest; tag: string };
}

/**
 * Signs the image's digest and each attestation, every one a bundle referrer
 * of the image with its predicate type in the annotations (as cosign stores
 * them: verifiers tell attestations from signatures by that type).
 */
export async function signImage(repo: Repository, digest: Digest, req: SignRequest): Promise<SignResult> {
  const image = await getManifest(repo, digest);
  if (!image) throw new StrataError('registry', `${repo.session.registry}/${repo.name} has no manifest ${shortDigest(digest)} to sign`);
  const name = `${repo.session.registry}/${repo.name}`;
  const subject = { mediaType: image.mediaType, digest, size: image.bytes.length };
  const maker = new BundleMaker(req.identity);
  const attach = async (statement: Buffer, predicateType: string) =>
    storeBundle(repo, subject, Buffer.from(JSON.stringify(bundleToJSON(await maker.statement(statement)))), {
      [BundleAnnotation.content]: 'dsse-envelope',
      [BundleAnnotation.predicateType]: predicateType,
      [BundleAnnotation.created]: new Date().toISOString(),
    });
  const referrer = await attach(imageStatement(name, digest), COSIGN_SIGN_PREDICATE);
  const attestations: StoredReferrer[] = [];
  for (const a of req.attestations ?? []) attestations.push(await attach(a.statement, a.predicateType));
  if (!req.legacyTag) return { subject: digest, referrer, attestations };
  const payload = simpleSigningPayload(name, digest);
  const legacy = await storeLegacy(repo, digest, { payload, annotations: legacyAnnotations(await maker.message(payload)) });
  return { subject: digest, referrer, attestations, legacy };
}

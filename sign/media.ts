// The media types, annotations and type URIs a signature is stored and found
// by. They are cosign's, so that cosign finds what Strata stores and the other
// way round: specs/BUNDLE_SPEC.md and specs/SIGNATURE_SPEC.md of sigstore/cosign.
import type { Digest } from '../base/digest.js';
import { referrersTag } from '../registry/referrers.js';

/** A Sigstore bundle v0.3: the referrer's artifactType and its one layer's mediaType. */
export const BUNDLE_V03 = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** Any version of the bundle (v0.1 and v0.2 were `application/vnd.dev.sigstore.bundle+json;version=0.x`). */
export const BUNDLE_ANY = /^application\/vnd\.dev\.sigstore\.bundle[.+]/;

/** The OCI empty descriptor's media type and content: the config of an artifact that has none. */
export const EMPTY_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';
export const EMPTY_CONTENT = Buffer.from('{}');

/** DSSE payload type of an in-toto statement. */
export const IN_TOTO_PAYLOAD = 'application/vnd.in-toto+json';
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
/** The predicate type cosign v2.6+/v3 gives an image signature made with the new bundle format. */
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';

/** Annotations on a bundle referrer (BUNDLE_SPEC.md "Annotations"). */
export const BundleAnnotation = {
  content: 'dev.sigstore.bundle.content',
  predicateType: 'dev.sigstore.bundle.predicateType',
  created: 'org.opencontainers.image.created',
  title: 'org.opencontainers.image.title',
} as const;

/** cosign's legacy signature image (SIGNATURE_SPEC.md), under the tag sha256-<hex>.sig. */
export const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const COSIGN_IMAGE_SIGNATURE = 'cosign container image signature';
export const LegacyAnnotation = {
  signature: 'dev.cosignproject.cosign/signature',
  certificate: 'dev.sigstore.cosign/certificate',
  chain: 'dev.sigstore.cosign/chain',
  bundle: 'dev.sigstore.cosign/bundle',
} as const;

/** The tag cosign keeps an image's legacy signatures under. */
export function legacyTag(digest: string): string {
  return `${referrersTag(digest as Digest)}.sig`;
}

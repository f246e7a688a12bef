// Storing signatures next to the image: a bundle as an OCI 1.1 referrer of the
// image manifest (BUNDLE_SPEC.md), found through the referrers API or the
// sha256-<hex> tag index (attachReferrer); and, on request, cosign's legacy
// signature image under sha256-<hex>.sig (SIGNATURE_SPEC.md).
import { canonicalJson } from '../base/canonical.js';
import { MediaType, type Descriptor, type ImageManifest } from '../oci/types.js';
import { type Digest } from '../base/digest.js';
import { bufferSource, uploadBlob, type Repository } from '../registry/blobs.js';
import { getManifest, putManifest } from '../registry/manifests.js';
import { attachReferrer } from '../registry/referrers.js';
import { BUNDLE_V03, BundleAnnotation, EMPTY_CONTENT, EMPTY_MEDIA_TYPE, legacyTag, LegacyAnnotation, SIMPLE_SIGNING } from './media.js';

/** Uploads bytes whose digest is known (a HEAD first would cost as much: they are small). */
export async function putBlob(repo: Repository, bytes: Buffer): Promise<{ digest: Digest; size: number }> {
  const source = bufferSource(bytes);
  await uploadBlob(repo, source);
  return { digest: source.digest!, size: bytes.length };
}

export interface StoredReferrer {
  digest: Digest;
  via: 'api' | 'tag';
}

/** The bundle JSON as the one layer of an artifact manifest whose subject is the image. */
export async function storeBundle(repo: Repository, subject: Descriptor, bundleJson: Buffer, annotations: Record<string, string>): Promise<StoredReferrer> {
  const config = await putBlob(repo, EMPTY_CONTENT);
  const layer = await putBlob(repo, bundleJson);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: BUNDLE_V03,
    config: { mediaType: EMPTY_MEDIA_TYPE, ...config },
    layers: [{ mediaType: BUNDLE_V03, ...layer, annotations: { [BundleAnnotation.title]: `${layer.digest.replace(':', '-')}.sigstore.json` } }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations,
  };
  return attachReferrer(
    repo,
    { bytes: Buffer.from(canonicalJson(manifest)), mediaType: MediaType.ociManifest, artifactType: BUNDLE_V03, annotations },
    subject.digest,
  );
}

/** One signature of the legacy form: the payload blob and the annotations of its layer. */
export interface LegacySignature {
  payload: Buffer;
  annotations: Record<string, string>;
}

/**
 * Adds a layer to the image under sha256-<hex>.sig, as cosign does (one image,
 * a layer per signature; the same signature again adds nothing). Its config is
 * an image config whose diff_ids are the layers' digests (the layers are not
 * compressed), as go-containerregistry writes it for cosign.
 */
export async function storeLegacy(repo: Repository, subject: Digest, sig: LegacySignature): Promise<{ digest: Digest; tag: string }> {
  const tag = legacyTag(subject);
  const found = await getManifest(repo, tag, { accept: MediaType.ociManifest, push: true });
  // getManifest checked it against the spec's grammar; an index under the tag holds no signature layers.
  const layers: Descriptor[] = [...(found?.manifest?.layers ?? [])];
  const blob = await putBlob(repo, sig.payload);
  const same = (l: Descriptor) => l.digest === blob.digest && l.annotations?.[LegacyAnnotation.signature] === sig.annotations[LegacyAnnotation.signature];
  if (!layers.some(same)) layers.push({ mediaType: SIMPLE_SIGNING, ...blob, annotations: sig.annotations });
  const config = await putBlob(
    repo,
    Buffer.from(
      canonicalJson({
        architecture: '',
        config: {},
        created: '0001-01-01T00:00:00Z',
        history: layers.map(() => ({ created: '0001-01-01T00:00:00Z' })),
        os: '',
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      }),
    ),
  );
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, ...config }, layers };
  const put = await putManifest(repo, tag, Buffer.from(canonicalJson(manifest)), MediaType.ociManifest);
  return { digest: put.digest, tag };
}

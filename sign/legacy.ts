// cosign's legacy signature layer and a message-signature bundle are the same
// facts in two dresses: the signature over the simple-signing payload, the
// Fulcio certificate when keyless, and the Rekor entry with its signed entry
// timestamp (cosign's "bundle" annotation). Strata signs the legacy form by
// making the bundle and verifies it by making the bundle back.
import { X509Certificate } from 'node:crypto';
import { toMessageSignatureBundle, type Bundle, type TransparencyLogEntry } from '@sigstore/bundle';
import { sha256 } from '../base/hash-tap.js';
import { LegacyAnnotation } from './media.js';

/** What cosign writes in dev.sigstore.cosign/bundle (Go field order). */
interface CosignRekorBundle {
  SignedEntryTimestamp: string;
  Payload: { body: string; integratedTime: number; logIndex: number; logID: string };
}

function leafCertificate(bundle: Bundle): Buffer | undefined {
  const c = bundle.verificationMaterial.content;
  if (c.$case === 'certificate') return c.certificate.rawBytes;
  if (c.$case === 'x509CertificateChain') return c.x509CertificateChain.certificates[0]?.rawBytes;
  return undefined;
}

/** The annotations of the legacy layer for a message-signature bundle over its payload. */
export function legacyAnnotations(bundle: Bundle): Record<string, string> {
  if (bundle.content.$case !== 'messageSignature') throw new Error('internal: the legacy form holds message signatures');
  const out: Record<string, string> = { [LegacyAnnotation.signature]: bundle.content.messageSignature.signature.toString('base64') };
  const cert = leafCertificate(bundle);
  if (cert) out[LegacyAnnotation.certificate] = new X509Certificate(cert).toString();
  const entry = bundle.verificationMaterial.tlogEntries[0];
  if (entry?.inclusionPromise && entry.logId) {
    const rekor: CosignRekorBundle = {
      SignedEntryTimestamp: entry.inclusionPromise.signedEntryTimestamp.toString('base64'),
      Payload: {
        body: entry.canonicalizedBody.toString('base64'),
        integratedTime: Number(entry.integratedTime),
        logIndex: Number(entry.logIndex),
        logID: entry.logId.keyId.toString('hex'),
      },
    };
    out[LegacyAnnotation.bundle] = JSON.stringify(rekor);
  }
  return out;
}

function tlogEntry(json: string): TransparencyLogEntry {
  const r = JSON.parse(json) as CosignRekorBundle;
  const body = Buffer.from(r.Payload.body, 'base64');
  const { kind, apiVersion } = JSON.parse(body.toString('utf8')) as { kind: string; apiVersion: string };
  return {
    logIndex: String(r.Payload.logIndex),
    logId: { keyId: Buffer.from(r.Payload.logID, 'hex') },
    kindVersion: { kind, version: apiVersion },
    integratedTime: String(r.Payload.integratedTime),
    inclusionPromise: { signedEntryTimestamp: Buffer.from(r.SignedEntryTimestamp, 'base64') },
    inclusionProof: undefined,
    canonicalizedBody: body,
  };
}

/** The bundle a legacy layer stands for. Throws when an annotation does not parse. */
export function bundleOfLegacy(payload: Buffer, annotations: Record<string, string>): Bundle {
  const signature = annotations[LegacyAnnotation.signature];
  if (!signature) throw new Error(`the layer has no ${LegacyAnnotation.signature} annotation`);
  const pem = annotations[LegacyAnnotation.certificate];
  const bundle = toMessageSignatureBundle({
    digest: Buffer.from(sha256(payload).slice('sha256:'.length), 'hex'),
    signature: Buffer.from(signature, 'base64'),
    ...(pem ? { certificate: new X509Certificate(pem).raw } : { keyHint: '' }),
  });
  const rekor = annotations[LegacyAnnotation.bundle];
  bundle.verificationMaterial.tlogEntries = rekor ? [tlogEntry(rekor)] : [];
  return bundle;
}

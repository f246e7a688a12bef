// Verifying an image in a registry: resolve the reference to the digest of the
// bytes the registry serves now, find its signatures, and accept one only when
// its signature verifies (key, or certificate + identity + transparency log)
// and what it signed names that same digest. A signature copied next to other
// bytes, or made for another image, verifies cryptographically and still fails.
import type { Bundle } from '@sigstore/bundle';
import { toSignedEntity, type Verifier } from '@sigstore/verify';
import { StrataError } from '../base/errors.js';
import type { Digest } from '../base/digest.js';
import type { Repository } from '../registry/blobs.js';
import { getManifest } from '../registry/manifests.js';
import { findSignatures, type FoundSignature } from './find.js';
import { COSIGN_SIGN_PREDICATE, IN_TOTO_PAYLOAD } from './media.js';
import { parseStatement, simpleSigningDigest, subjectDigests } from './payload.js';
import { verifierFor, type VerifyPolicy } from './trust.js';

export interface VerifiedSignature {
  where: string;
  /** "key", or the certificate's identity and issuer. */
  signer: string;
  /** The Rekor log index, keyless. */
  logIndex?: string;
}

export interface Verification {
  digest: Digest;
  verified: VerifiedSignature[];
}

function keyKind(bundle: Bundle): 'key' | 'keyless' {
  return bundle.verificationMaterial.content.$case === 'publicKey' ? 'key' : 'keyless';
}

/** The digest the signed content names, or why it names none. */
function signedDigests(found: FoundSignature, bundle: Bundle): string[] {
  if (bundle.content.$case === 'dsseEnvelope') {
    const env = bundle.content.dsseEnvelope;
    if (env.payloadType !== IN_TOTO_PAYLOAD) throw new Error(`its DSSE payload is ${env.payloadType}, not an in-toto statement`);
    const statement = parseStatement(env.payload);
    if (statement.predicateType !== COSIGN_SIGN_PREDICATE) throw new Error(`it is an attestation (${statement.predicateType}), not an image signature`);
    return subjectDigests(statement);
  }
  if (!found.artifact) throw new Error('it is a message signature whose signed payload is not stored with it');
  return [simpleSigningDigest(found.artifact)];
}

function verifyOne(found: FoundSignature, digest: Digest, policy: VerifyPolicy, verifier: Verifier): VerifiedSignature {
  const bundle = found.bundle!;
  const kind = keyKind(bundle);
  if (kind !== policy.kind)
    throw new Error(
      kind === 'key' ? 'it was signed with a key, and keyless verification was asked for' : 'it was signed keyless (a Fulcio certificate), and --key was given',
    );
  // Without a trusted root a key signature's log entries cannot be checked; cosign ignores them too.
  const checked: Bundle =
    policy.kind === 'key' && !policy.trustedRoot ? { ...bundle, verificationMaterial: { ...bundle.verificationMaterial, tlogEntries: [] } } : bundle;
  const signer = verifier.verify(
    toSignedEntity(checked, found.artifact),
    policy.kind === 'keyless' ? { subjectAlternativeName: policy.identity, extensions: { issuer: policy.issuer } } : undefined,
  );
  const named = signedDigests(found, bundle);
  if (!named.includes(digest)) throw new Error(`it signs ${named.join(', ') || 'no digest'}, and the registry serves ${digest}`);
  if (policy.kind === 'key') return { where: found.where, signer: 'key' };
  const logIndex = checked.verificationMaterial.tlogEntries[0]?.logIndex;
  return {
    where: found.where,
    signer: `identity ${signer.identity?.subjectAlternativeName}, issuer ${signer.identity?.extensions?.issuer}`,
    ...(logIndex ? { logIndex } : {}),
  };
}

export async function verifyImage(repo: Repository, reference: string, policy: VerifyPolicy): Promise<Verification> {
  const name = `${repo.session.registry}/${repo.name}`;
  const served = await getManifest(repo, reference);
  if (!served) throw new StrataError('unverified', `not verified: ${name} has no manifest ${reference}`);
  const found = await findSignatures(repo, served.digest);
  if (found.length === 0) throw new StrataError('unverified', `not verified: ${name}@${served.digest} has no signatures`);
  const verifier = verifierFor(policy);
  const verified: VerifiedSignature[] = [];
  const reasons: string[] = [];
  for (const f of found) {
    if (!f.bundle) {
      reasons.push(`${f.where}: ${f.error}`);
      continue;
    }
    try {
      verified.push(verifyOne(f, served.digest, policy, verifier));
    } catch (e) {
      reasons.push(`${f.where}: ${(e as Error).message}`);
    }
  }
  if (verified.length === 0) throw new StrataError('unverified', `not verified: ${name}@${served.digest}: no signature verifies (${reasons.join('; ')})`);
  return { digest: served.digest, verified };
}

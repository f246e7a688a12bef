// What a signature is verified against: the user's public key, or a Sigstore
// trusted root (Fulcio's CA certificates, Rekor's and the CT logs' keys), read
// from a file given with --trusted-root or got through TUF (sign/tuf.ts).
import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial, Verifier } from '@sigstore/verify';
import { StrataError } from '../base/errors.js';

export type VerifyPolicy =
  { kind: 'key'; key: KeyObject; trustedRoot?: TrustedRoot } | { kind: 'keyless'; identity: string; issuer: string; trustedRoot: TrustedRoot };

export function loadTrustedRoot(path: string): TrustedRoot {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new StrataError('usage', `cannot read trusted root ${path}: ${(e as Error).message}`, { cause: e });
  }
  const mediaType = (json as { mediaType?: unknown } | null)?.mediaType;
  if (typeof mediaType !== 'string' || !mediaType.startsWith('application/vnd.dev.sigstore.trustedroot')) {
    throw new StrataError('usage', `${path} is not a Sigstore trusted root (its mediaType is not application/vnd.dev.sigstore.trustedroot…)`);
  }
  try {
    return TrustedRoot.fromJSON(json);
  } catch (e) {
    throw new StrataError('usage', `${path} is not a valid trusted root: ${(e as Error).message}`, { cause: e });
  }
}

const NO_ROOT: TrustedRoot = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot.v0.2+json',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
};

/**
 * With a key, the key is the only trust: whatever key hint the bundle names, it
 * is checked against this key, and no timestamp is needed (as cosign since
 * 2.6). Keyless, the certificate must chain to the root's CA at a time a
 * transparency log entry proves, with an SCT, and the entry must be in the log.
 */
export function verifierFor(policy: VerifyPolicy): Verifier {
  if (policy.kind === 'key') {
    const trust = toTrustMaterial(policy.trustedRoot ?? NO_ROOT, () => ({ publicKey: policy.key, validFor: () => true }));
    return new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
  }
  return new Verifier(toTrustMaterial(policy.trustedRoot), { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 });
}

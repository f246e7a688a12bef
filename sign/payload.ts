// What is signed: for a bundle, an in-toto statement whose subject is the image
// manifest's digest (what cosign v2.6+ signs with --new-bundle-format, and v3 by
// default); for the legacy tag, cosign's simple-signing payload. And the other
// way: the digest a signed payload names, which verify compares with the
// digest the registry serves.
import type { Digest } from '../base/digest.js';
import { COSIGN_IMAGE_SIGNATURE, COSIGN_SIGN_PREDICATE, IN_TOTO_STATEMENT_V1 } from './media.js';

export interface InTotoStatement {
  _type: string;
  subject: { name?: string; digest: Record<string, string> }[];
  predicateType: string;
  predicate?: unknown;
}

/** The statement of an image signature. `name` is informative: cosign checks the digest only. */
export function imageStatement(name: string, digest: Digest): Buffer {
  const statement: InTotoStatement = {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name, digest: { sha256: digest.slice('sha256:'.length) } }],
    predicateType: COSIGN_SIGN_PREDICATE,
    predicate: {},
  };
  return Buffer.from(JSON.stringify(statement));
}

/**
 * cosign's simple-signing payload, byte for byte as sigstore's payload.Cosign
 * marshals it (Go's encoding/json: struct order, no spaces, "optional":null).
 */
export function simpleSigningPayload(dockerReference: string, digest: Digest): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: { identity: { 'docker-reference': dockerReference }, image: { 'docker-manifest-digest': digest }, type: COSIGN_IMAGE_SIGNATURE },
      optional: null,
    }),
  );
}

/** The payload did not parse or does not have the expected shape. */
export class PayloadError extends Error {}

function parse(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new PayloadError(`the ${what} is not JSON`);
  }
}

/** The statement in a DSSE payload; any in-toto statement version (v0.1 and v1 look alike here). */
export function parseStatement(bytes: Buffer): InTotoStatement {
  const s = parse(bytes, 'in-toto statement') as Partial<InTotoStatement> | null;
  if (
    !s ||
    typeof s._type !== 'string' ||
    !s._type.startsWith('https://in-toto.io/Statement/') ||
    !Array.isArray(s.subject) ||
    typeof s.predicateType !== 'string'
  ) {
    throw new PayloadError('the DSSE payload is not an in-toto statement');
  }
  return s as InTotoStatement;
}

/** The sha256 digests a statement's subjects name. */
export function subjectDigests(s: InTotoStatement): Digest[] {
  return s.subject.flatMap((sub) => (typeof sub?.digest?.sha256 === 'string' ? [`sha256:${sub.digest.sha256}` as Digest] : []));
}

/** The manifest digest a simple-signing payload names. */
export function simpleSigningDigest(bytes: Buffer): string {
  const p = parse(bytes, 'simple-signing payload') as { critical?: { type?: unknown; image?: Record<string, unknown> } } | null;
  const critical = p?.critical;
  if (critical?.type !== COSIGN_IMAGE_SIGNATURE) throw new PayloadError(`the simple-signing payload's critical.type is not '${COSIGN_IMAGE_SIGNATURE}'`);
  // The containers-signature format spells it Docker-manifest-digest; cosign writes it in lower case.
  const d = critical.image?.['docker-manifest-digest'] ?? critical.image?.['Docker-manifest-digest'];
  if (typeof d !== 'string') throw new PayloadError('the simple-signing payload names no docker-manifest-digest');
  return d;
}

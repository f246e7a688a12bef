// Content digests as Strata writes and accepts them: sha256 only, lowercase
// hex, the form the OCI descriptor spec requires of every registered algorithm.

export type Digest = `sha256:${string}`;

export function isDigest(s: string): s is Digest {
  return /^sha256:[a-f0-9]{64}$/.test(s);
}

/** The first 12 hex digits, as progress and messages show a digest. */
export function shortDigest(d: string): string {
  return d.slice(d.indexOf(':') + 1, d.indexOf(':') + 13);
}

// sha256 digests, as OCI writes them, computed here rather than by Strata's
// own code: the suite checks Strata's digests, so it does not share them.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export function sha256Of(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function sha256File(path: string): string {
  return sha256Of(readFileSync(path));
}

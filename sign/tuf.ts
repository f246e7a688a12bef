// The Sigstore trusted root for keyless verification, fetched as cosign
// fetches it: through TUF (@sigstore/tuf), from Sigstore's public-good mirror
// with the root.json shipped in that library, or from a private deployment's
// mirror with the root.json its operators hand out (--tuf-mirror, --tuf-root).
// The metadata is cached under $XDG_CACHE_HOME/strata/tuf; when the mirror
// cannot be reached, the cached metadata is used as long as its timestamp has
// not expired (TUF's freshness rule), so verification works offline for that
// long and never past it.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import { StrataError } from '../base/errors.js';

export interface TufSource {
  /** Default: Sigstore's public-good mirror. */
  mirrorURL?: string;
  /** The initial root.json for mirrorURL; required for any mirror but the public-good one. */
  rootPath?: string;
  /** Default: $XDG_CACHE_HOME/strata/tuf (else ~/.cache/strata/tuf). */
  cacheDir?: string;
}

export function defaultTufCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'strata', 'tuf');
}

/** When the cached timestamp of `mirrorURL` expires, if there is one (as @sigstore/tuf names its cache folder). */
function cachedExpiry(cacheDir: string, mirrorURL: string): string | undefined {
  const url = new URL(mirrorURL);
  const folder = encodeURIComponent(url.host + url.pathname.replace(/\/$/, ''));
  try {
    const ts = JSON.parse(readFileSync(join(cacheDir, folder, 'timestamp.json'), 'utf8')) as { signed?: { expires?: unknown } };
    return typeof ts.signed?.expires === 'string' ? ts.signed.expires : undefined;
  } catch {
    return undefined;
  }
}

const causeOf = (e: unknown): string => {
  const parts: string[] = [];
  for (let c: unknown = e; c instanceof Error && parts.length < 4; c = (c as Error & { cause?: unknown }).cause) parts.push(c.message);
  return parts.join(': ');
};

export async function trustedRootViaTuf(source: TufSource = {}): Promise<TrustedRoot> {
  const { getTrustedRoot, DEFAULT_MIRROR_URL } = await import('@sigstore/tuf');
  const mirrorURL = (source.mirrorURL ?? DEFAULT_MIRROR_URL).replace(/\/+$/, '');
  if (mirrorURL !== DEFAULT_MIRROR_URL && !source.rootPath) {
    throw new StrataError(
      'usage',
      `--tuf-mirror ${mirrorURL} needs --tuf-root FILE: the initial root.json its operators publish (only Sigstore's public-good root ships with Strata)`,
    );
  }
  const cachePath = source.cacheDir ?? defaultTufCacheDir();
  const options = { mirrorURL, cachePath, ...(source.rootPath ? { rootPath: source.rootPath } : {}), retry: { retries: 1 }, timeout: 10_000 };
  try {
    return await getTrustedRoot(options);
  } catch (online) {
    // The mirror may be unreachable: TUF allows cached metadata until its timestamp expires.
    try {
      return await getTrustedRoot({ ...options, forceCache: true });
    } catch {
      const expires = cachedExpiry(cachePath, mirrorURL);
      if (expires && Date.parse(expires) <= Date.now()) {
        throw new StrataError(
          'sigstore',
          `the cached TUF metadata of ${mirrorURL} expired at ${expires}, and the mirror gave no fresh metadata: ${causeOf(online)}`,
          { cause: online },
        );
      }
      throw new StrataError('sigstore', `cannot get the Sigstore trusted root through TUF from ${mirrorURL}: ${causeOf(online)}`, { cause: online });
    }
  }
}

// A Nix binary cache that replicas share store paths through: each substitutes
// from it, trusting the paths its key signed, and copies what it built there,
// signed, so the next replica substitutes instead of building.
import type { CacheKey } from './cache-key.js';
import { closure } from './installable.js';
import { runNix, type NixSettings } from './run.js';

export interface NixCache {
  /** The cache's store URL (file:///srv/cache, https://…, s3://…). */
  url: string;
  /** The secret key file: read by nix itself when it signs, never by Strata after start-up. */
  keyFile: string;
  key: CacheKey;
}

/** The cache's URL for logs and errors: without a user or password it may carry (https://user:pass@…). */
export function shownCacheUrl(cache: NixCache): string {
  try {
    const u = new URL(cache.url);
    if (!u.username && !u.password) return cache.url;
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/** Substitute from the cache, accepting only what its key signed (require-sigs stays as configured). */
export function substituterSettings(cache: NixCache): NixSettings {
  return { extraSubstituters: [cache.url], extraTrustedPublicKeys: [cache.key.publicKey] };
}

/**
 * The binary-cache store's URL with its secret-key parameter: nix signs each
 * narinfo it writes there (Nix 2.8 does), leaving the local store's paths as
 * they were. The path is percent-encoded, which nix decodes.
 */
export function signingStoreUrl(cache: NixCache): string {
  return `${cache.url}${cache.url.includes('?') ? '&' : '?'}secret-key=${encodeURIComponent(cache.keyFile)}`;
}

export interface CacheCopy {
  /** How many paths the closure holds (nix skips those the cache has already). */
  paths: number;
  /** Why the copy failed, if it did: nix's error line, its output's tail as the cause. */
  error?: Error;
}

/** Copies the closure of `roots` to the cache, signed. Never throws: a cache that cannot be written is the caller's to report. */
export async function copyToCache(cache: NixCache, roots: string[]): Promise<CacheCopy> {
  let paths: string[] = [];
  try {
    paths = [...new Set((await closure(roots)).map((p) => p.path))];
    if (paths.length) await runNix(['copy', '--to', signingStoreUrl(cache), ...paths], { captureStderr: true, label: `nix copy --to ${shownCacheUrl(cache)}` });
    return { paths: paths.length };
  } catch (e) {
    return { paths: paths.length, error: e instanceof Error ? e : new Error(String(e)) };
  }
}

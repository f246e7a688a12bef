// The spec's grammar for what a URL may name: repositories, tags, digests and
// upload sessions. Each becomes a branded type only through these parsers, and
// the store takes only branded types, so nothing from a URL reaches a file path
// unchecked. No component can be "." or "..", start with "_" (the store's own
// directories) or hold a "%": the path is matched without percent-decoding.
import { RegistryError } from './errors.js';

export type RepoName = string & { readonly __brand: 'RepoName' };
export type Tag = string & { readonly __brand: 'Tag' };
/** sha256 only: the one algorithm the store keeps blobs under. */
export type BlobDigest = `sha256:${string}` & { readonly __brand: 'BlobDigest' };
export type UploadId = string & { readonly __brand: 'UploadId' };

const NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const UPLOAD_ID = /^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$/;
/** distribution's limit; it also keeps every path under the filesystem's. */
const NAME_MAX = 255;

export function isRepoName(s: string): s is RepoName {
  return s.length <= NAME_MAX && NAME.test(s);
}
export function isTag(s: string): s is Tag {
  return TAG.test(s);
}
export function isBlobDigest(s: string): s is BlobDigest {
  return DIGEST.test(s);
}
export function isUploadId(s: string): s is UploadId {
  return UPLOAD_ID.test(s);
}

export function hexOf(d: BlobDigest): string {
  return d.slice('sha256:'.length);
}

/** A manifest reference: a digest or a tag. */
export type ManifestReference = { digest: BlobDigest } | { tag: Tag };

export function parseReference(s: string): ManifestReference | undefined {
  if (isBlobDigest(s)) return { digest: s };
  if (isTag(s)) return { tag: s };
  return undefined;
}

export function referenceText(r: ManifestReference): string {
  return 'digest' in r ? r.digest : r.tag;
}

/** The endpoints of the spec, each under /v2/<name>/. */
export type Route =
  | { endpoint: 'blob'; name: RepoName; digest: string }
  | { endpoint: 'upload-start'; name: RepoName }
  | { endpoint: 'upload'; name: RepoName; id: string }
  | { endpoint: 'manifest'; name: RepoName; reference: string }
  | { endpoint: 'tags'; name: RepoName }
  | { endpoint: 'referrers'; name: RepoName; digest: string };

export type RouteOf<E extends Route['endpoint']> = Extract<Route, { endpoint: E }>;

// The name is everything before the endpoint's own segments; a greedy match
// takes the last occurrence, so a repository may itself be called ".../blobs".
const SHAPES: [RegExp, (name: string, last: string) => Route][] = [
  [/^(.+)\/blobs\/uploads\/?$/, (name) => ({ endpoint: 'upload-start', name: name as RepoName })],
  [/^(.+)\/blobs\/uploads\/([^/]+)$/, (name, id) => ({ endpoint: 'upload', name: name as RepoName, id })],
  [/^(.+)\/blobs\/([^/]+)$/, (name, digest) => ({ endpoint: 'blob', name: name as RepoName, digest })],
  [/^(.+)\/manifests\/([^/]+)$/, (name, reference) => ({ endpoint: 'manifest', name: name as RepoName, reference })],
  [/^(.+)\/tags\/list$/, (name) => ({ endpoint: 'tags', name: name as RepoName })],
  [/^(.+)\/referrers\/([^/]+)$/, (name, digest) => ({ endpoint: 'referrers', name: name as RepoName, digest })],
];

/**
 * The route for a path below /v2/ (as sent, not decoded). A path of no
 * endpoint's shape is 404; a shape with an invalid name is 400 NAME_INVALID.
 * The reference, digest or upload id is checked by its endpoint, which knows
 * the right error code for it.
 */
export function parseRoute(path: string): Route {
  for (const [shape, make] of SHAPES) {
    const m = shape.exec(path);
    if (!m) continue;
    const name = m[1]!;
    if (!isRepoName(name)) throw new RegistryError(400, 'NAME_INVALID', 'invalid repository name', { name: name.slice(0, NAME_MAX) });
    return make(name, m[2] ?? '');
  }
  throw new RegistryError(404, 'NAME_INVALID', 'no such endpoint: the path is not /v2/<name>/(blobs|manifests|tags|referrers)/…', {
    path: path.slice(0, NAME_MAX),
  });
}

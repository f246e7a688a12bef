// Where everything lives under the store's root:
//
//   blobs/sha256/<hex>                          content, manifests included
//   uploads/<uuid>/data, uploads/<uuid>/state.json
//   tmp/                                        files on their way to a rename
//   repositories/<name>/_blobs/<hex>            empty: the repository links the blob
//   repositories/<name>/_manifests/<hex>        the manifest's media type
//   repositories/<name>/_tags/<tag>             the digest the tag points at
//   repositories/<name>/_referrers/<subject hex>/<hex>   the referrer's descriptor (JSON)
//
// A repository's own directories start with "_", which no name component can,
// so repository "org" never clashes with a repository "org/blobs".
import { homedir } from 'node:os';
import { join } from 'node:path';
import { hexOf, type BlobDigest, type RepoName, type Tag, type UploadId } from './names.js';

/** $XDG_DATA_HOME/strata/registry, else ~/.local/share/strata/registry. */
export function defaultRoot(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_DATA_HOME;
  // The XDG spec says a relative value is to be ignored.
  const base = xdg && xdg.startsWith('/') ? xdg : join(env.HOME || homedir(), '.local', 'share');
  return join(base, 'strata', 'registry');
}

/** What was written or touched this recently is kept by gc (a push in progress uploads blobs before its manifest). */
export const DEFAULT_GRACE_MS = 3600_000;

export const REPO_DIRS = { blobs: '_blobs', manifests: '_manifests', tags: '_tags', referrers: '_referrers' } as const;

export class Layout {
  constructor(readonly root: string) {}

  get blobDir(): string {
    return join(this.root, 'blobs', 'sha256');
  }
  blob(d: BlobDigest): string {
    return join(this.blobDir, hexOf(d));
  }
  get uploadsDir(): string {
    return join(this.root, 'uploads');
  }
  upload(id: UploadId): string {
    return join(this.uploadsDir, id);
  }
  get tmpDir(): string {
    return join(this.root, 'tmp');
  }
  get reposDir(): string {
    return join(this.root, 'repositories');
  }
  repo(name: RepoName): string {
    return join(this.reposDir, ...name.split('/'));
  }
  repoDir(name: RepoName, part: keyof typeof REPO_DIRS): string {
    return join(this.repo(name), REPO_DIRS[part]);
  }
  blobLink(name: RepoName, d: BlobDigest): string {
    return join(this.repoDir(name, 'blobs'), hexOf(d));
  }
  manifestLink(name: RepoName, d: BlobDigest): string {
    return join(this.repoDir(name, 'manifests'), hexOf(d));
  }
  tagsDir(name: RepoName): string {
    return this.repoDir(name, 'tags');
  }
  tag(name: RepoName, t: Tag): string {
    return join(this.tagsDir(name), t);
  }
  referrersOf(name: RepoName, subject: BlobDigest): string {
    return join(this.repoDir(name, 'referrers'), hexOf(subject));
  }
  referrer(name: RepoName, subject: BlobDigest, d: BlobDigest): string {
    return join(this.referrersOf(name, subject), hexOf(d));
  }
}

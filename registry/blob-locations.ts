// Where each blob was last seen in a registry: the repositories a push put it
// in (uploaded, mounted or already there). A later push of the same blob to
// another repository of that registry asks for a cross-repository mount from
// them instead of uploading it again, whether the bytes came from the layer
// cache or were made anew. A record is only a hint: a registry that no longer
// has the blob there refuses the mount and the upload goes on in the session
// it opened (distribution-spec: 202 instead of 201), so a stale or damaged
// record costs one request, never a wrong image.
//
// On disk, beside the layer cache: locations/<registry hash>/<digest hex>, one
// repository name a line, most recent first, at most MAX_REPOSITORIES.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { mkdirs, writeFileAtomic } from '../base/fs.js';
import { digest as digestSchema, repositoryName } from '../oci/schema.js';
import type { Digest } from '../base/digest.js';

const MAX_REPOSITORIES = 8;

export class BlobLocations {
  constructor(private readonly dir: string) {}

  private file(registry: string, digest: Digest): string | undefined {
    // Both become path parts: a digest is checked against the grammar, a registry is hashed.
    if (!digestSchema.safeParse(digest).success) return undefined;
    const host = createHash('sha256').update(registry).digest('hex').slice(0, 32);
    return join(this.dir, host, digest.slice('sha256:'.length));
  }

  /** Repositories of `registry` that held `digest` when last pushed, most recent first; only valid names. */
  async repositories(registry: string, digest: Digest): Promise<string[]> {
    const file = this.file(registry, digest);
    if (!file) return [];
    const text = await readFile(file, 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter((name) => repositoryName.safeParse(name).success)
      .slice(0, MAX_REPOSITORIES);
  }

  /** Records that `repository` of `registry` has `digest`. A failure to write costs only a later mount. */
  async remember(registry: string, digest: Digest, repository: string): Promise<void> {
    const file = this.file(registry, digest);
    if (!file || !repositoryName.safeParse(repository).success) return;
    const known = (await this.repositories(registry, digest)).filter((r) => r !== repository);
    const next = [repository, ...known].slice(0, MAX_REPOSITORIES);
    await mkdirs(dirname(file))
      .then(() => writeFileAtomic(file, `${next.join('\n')}\n`, { tmpDir: join(this.dir, '.tmp') }))
      .catch(() => undefined);
  }
}

// The layer cache. A layer's digest, diffID and size are a pure function of its
// key (store paths with NAR hashes, tar and compression settings, layer-format
// version: see layerKey), so entries never expire. Blobs are kept beside them,
// content-addressed, so an unchanged layer is copied rather than re-tarred.
// The cache only ever costs time: an entry is checked against its own checksum
// and a blob against its digest as it is read; anything in doubt is dropped and
// the layer made again.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, link, open, readdir, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson } from '../base/canonical.js';
import { mkdirs, writeFileAtomic } from '../base/fs.js';
import { isDigest, type Digest } from '../base/digest.js';
import { z } from 'zod';
import { checkOci } from '../oci/parse.js';
import { digest, size } from '../oci/schema.js';
import { sha256 } from '../base/hash-tap.js';
import type { LayerDigests } from './layer.js';

const ENTRY_VERSION = 1;
const cacheEntry = z.object({
  v: z.literal(ENTRY_VERSION),
  key: z.string(),
  layer: z.object({ digest, diffID: digest, size, uncompressedSize: size }),
  check: z.string(),
});
export const DEFAULT_CACHE_MAX_BYTES = 10 * 2 ** 30;

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.STRATA_CACHE_DIR) return env.STRATA_CACHE_DIR;
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith('/') ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'strata');
}

function keyHex(key: string): string {
  if (!isDigest(key)) throw new Error(`internal: layer key ${key} is not a sha256 digest`);
  return key.slice('sha256:'.length);
}

export class LayerCache {
  private constructor(
    readonly dir: string,
    private readonly maxBytes: number,
  ) {}

  static async open(dir: string = defaultCacheDir(), maxBytes = DEFAULT_CACHE_MAX_BYTES): Promise<LayerCache | undefined> {
    try {
      await mkdirs(join(dir, 'entries'));
      await mkdirs(join(dir, 'blobs', 'sha256'));
      return new LayerCache(dir, maxBytes);
    } catch {
      return undefined; // an unwritable cache is no cache, never an error
    }
  }

  private entryPath(key: string): string {
    return join(this.dir, 'entries', `${keyHex(key)}.json`);
  }

  blobPath(digest: Digest): string {
    return join(this.dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  }

  /** The layer recorded under `key`, if the entry is whole; a damaged entry is removed. */
  async get(key: string): Promise<LayerDigests | undefined> {
    const path = this.entryPath(key);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      return undefined;
    }
    try {
      // The entry's digests name cached blob files and go into manifests: the spec's grammar first, then the checksum.
      const e = checkOci(cacheEntry, text);
      const l = e.layer;
      if (e.key === key && e.check === sha256(canonicalJson({ key: e.key, layer: l })))
        return { digest: l.digest, diffID: l.diffID, size: l.size, uncompressedSize: l.uncompressedSize };
    } catch {
      // fall through: unreadable or ill-formed JSON is a damaged entry
    }
    await unlink(path).catch(() => undefined);
    return undefined;
  }

  async put(key: string, layer: LayerDigests): Promise<void> {
    const l = { digest: layer.digest, diffID: layer.diffID, size: layer.size, uncompressedSize: layer.uncompressedSize };
    const entry = { v: ENTRY_VERSION, key, layer: l, check: sha256(canonicalJson({ key, layer: l })) };
    await writeFileAtomic(this.entryPath(key), JSON.stringify(entry)).catch(() => undefined);
  }

  /** Keeps a copy of a blob just written elsewhere: a hard link when possible. */
  async addBlob(from: string, digest: Digest): Promise<void> {
    const dest = this.blobPath(digest);
    if (
      await stat(dest).then(
        () => true,
        () => false,
      )
    )
      return;
    const tmp = `${dest}.tmp-${randomBytes(6).toString('hex')}`;
    try {
      await link(from, tmp).catch(() => copyFile(from, tmp, constants.COPYFILE_EXCL));
      await rename(tmp, dest);
    } catch {
      await unlink(tmp).catch(() => undefined);
      return;
    }
    await this.evict();
  }

  /**
   * A file to stream a blob into while it is made elsewhere (a push uploads it,
   * serve answers with it): `keep` lands it under its digest once the maker
   * reports the digest and size, `drop` throws it away (a making cut short).
   */
  async blobFile(): Promise<{ path: string; keep(digest: Digest, size: number): Promise<void>; drop(): Promise<void> }> {
    const path = join(this.dir, 'blobs', 'sha256', `.tmp-${randomBytes(6).toString('hex')}`);
    const drop = () => unlink(path).catch(() => undefined);
    return {
      path,
      drop,
      keep: async (digest, size) => {
        const st = await stat(path).catch(() => undefined);
        if (st?.size === size) await this.addBlob(path, digest);
        await drop();
      },
    };
  }

  /**
   * Copies the cached blob `digest` to `dest` and lets `accept` check the copy
   * (its digest, sizes and diffID: see verifyLayerFile), so the bytes are read
   * once for the copy and once for the check, no more. False, with the copy and
   * the cached blob dropped, when it is missing or not accepted.
   */
  async copyBlobTo(digest: Digest, dest: string, accept: (copy: string) => Promise<boolean>): Promise<boolean> {
    const src = this.blobPath(digest);
    try {
      await copyFile(src, dest, constants.COPYFILE_EXCL);
    } catch {
      await unlink(dest).catch(() => undefined);
      return false;
    }
    if (!(await accept(dest))) {
      await unlink(dest).catch(() => undefined);
      await unlink(src).catch(() => undefined);
      return false;
    }
    const now = new Date();
    await utimes(src, now, now).catch(() => undefined); // recently used: kept longest
    const fh = await open(dest, 'r+');
    await fh.sync();
    await fh.close();
    return true;
  }

  /** Forgets a blob that failed its check. */
  async dropBlob(digest: Digest): Promise<void> {
    await unlink(this.blobPath(digest)).catch(() => undefined);
  }

  /** Drops the least recently used blobs while the cache holds more than its limit. */
  async evict(): Promise<void> {
    const dir = join(this.dir, 'blobs', 'sha256');
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => !n.includes('.tmp-'));
    const blobs = await Promise.all(names.map(async (n) => ({ path: join(dir, n), st: await stat(join(dir, n)).catch(() => undefined) })));
    const live = blobs.filter((b) => b.st).map((b) => ({ path: b.path, size: b.st!.size, used: b.st!.mtimeMs }));
    let total = live.reduce((s, b) => s + b.size, 0);
    live.sort((a, b) => a.used - b.used || (a.path < b.path ? -1 : 1));
    for (const b of live) {
      if (total <= this.maxBytes) break;
      await unlink(b.path).catch(() => undefined);
      total -= b.size;
    }
  }
}

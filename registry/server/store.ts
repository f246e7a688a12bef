// Content-addressed storage on the filesystem: the server's RegistryStore
// (storage.ts; see layout.ts for where things are). Blobs are shared by the
// whole registry; a repository sees only the ones it links, as in
// distribution: a blob another repository pushed is 404 here until it is
// pushed or mounted. Every file is published whole (files.ts), so a crash
// leaves only debris under uploads/ and tmp/, which gc sweeps.
import { createReadStream } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import type { Descriptor } from '../../oci/types.js';
import { parseOci } from '../../oci/parse.js';
import { descriptor } from '../../oci/schema.js';
import { mkdirs } from '../../base/fs.js';
import { ifExists, removeFile, touch, writeAtomic } from './files.js';
import { Layout } from './layout.js';
import type { ParsedManifest } from './manifest.js';
import { isBlobDigest, isTag, type BlobDigest, type ManifestReference, type RepoName, type Tag } from './names.js';
import type { BlobReader, RegistryStore, StoredManifest } from './storage.js';
import { Uploads } from './uploads.js';

export { defaultRoot } from './layout.js';

/** Bytes per read of a blob being served (256 KiB): fewer, larger chunks cost less per byte than the default 64 KiB. */
const READ_CHUNK = 1 << 18;

const exists = async (path: string): Promise<boolean> => (await ifExists(stat(path))) !== undefined;
const readText = (path: string): Promise<string | undefined> => ifExists(readFile(path, 'utf8'));
const list = async (dir: string): Promise<string[]> => (await ifExists(readdir(dir))) ?? [];

/**
 * touch for a read: true when the file exists. A store that cannot be written
 * (a read-only mount) loses only the gc protection, never the read.
 */
async function refresh(path: string): Promise<boolean> {
  try {
    return await touch(path);
  } catch {
    return exists(path);
  }
}

export class Store implements RegistryStore {
  readonly layout: Layout;
  readonly uploads: Uploads;

  constructor(root: string) {
    this.layout = new Layout(root);
    this.uploads = new Uploads(this.layout, (name, digest) => this.linkBlob(name, digest));
  }

  get root(): string {
    return this.layout.root;
  }

  // ---- blobs ----

  /** The blob's size when `name` links it and it is stored. */
  async blobSize(name: RepoName, digest: BlobDigest): Promise<number | undefined> {
    if (!(await exists(this.layout.blobLink(name, digest)))) return undefined;
    return (await ifExists(stat(this.layout.blob(digest))))?.size;
  }

  /**
   * Opens a blob of `name` for reading, or undefined when the repository does
   * not link it. The link and the blob are touched: a client that finds a blob
   * here (a HEAD, most often) will not upload it, so gc must keep both for a
   * grace period, until the manifest that needs them lands.
   */
  async openBlob(name: RepoName, digest: BlobDigest): Promise<BlobReader | undefined> {
    if (!(await refresh(this.layout.blobLink(name, digest)))) return undefined;
    const fh = await ifExists(open(this.layout.blob(digest), 'r'));
    if (!fh) return undefined;
    const now = new Date();
    await fh.utimes(now, now).catch(() => undefined);
    const { size } = await fh.stat();
    let opened = false;
    return {
      size,
      open: (start, end) => {
        opened = true;
        // The stream owns the handle from here and closes it when done or destroyed.
        return createReadStream('', { fd: fh, start, end, autoClose: true, highWaterMark: READ_CHUNK });
      },
      close: async () => {
        if (!opened) await fh.close();
      },
      sendTo: async (out, start, end) => {
        opened = true;
        // Two buffers, allocated once per response: one is read into while the socket takes the other.
        // A buffer is read into again only once the socket has its previous bytes (the write callback).
        const chunk = Math.min(READ_CHUNK, end - start + 1);
        const bufs: Buffer[] = [];
        const flushed: (Promise<void> | undefined)[] = [undefined, undefined];
        try {
          for (let pos = start, k = 0; pos <= end; k++) {
            const slot = k & 1;
            await flushed[slot];
            const buf = (bufs[slot] ??= Buffer.allocUnsafeSlow(chunk));
            const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - pos + 1), pos);
            if (bytesRead === 0) throw new Error('the blob is shorter than its size');
            pos += bytesRead;
            flushed[slot] = new Promise<void>((resolve, reject) => out.write(buf.subarray(0, bytesRead), (e) => (e ? reject(e) : resolve())));
            flushed[slot].catch(() => undefined);
          }
          await Promise.all(flushed);
          out.end();
        } finally {
          await fh.close();
        }
      },
    };
  }

  /**
   * Makes `name` link a stored blob. The link's time is set to now even when
   * it existed: gc spares links younger than its grace period, which is what
   * keeps a blob alive between its upload and the manifest that uses it.
   */
  async linkBlob(name: RepoName, digest: BlobDigest): Promise<void> {
    const link = this.layout.blobLink(name, digest);
    if (await touch(link)) return;
    await mkdirs(this.layout.repoDir(name, 'blobs'));
    await (await open(link, 'w')).close();
  }

  /** Removes `name`'s link to a blob (the bytes stay until gc); false when there was none. */
  async unlinkBlob(name: RepoName, digest: BlobDigest): Promise<boolean> {
    return removeFile(this.layout.blobLink(name, digest));
  }

  /**
   * Cross-repository mount: true when `from` links the blob (and now `name`
   * does too). Link and blob are touched, as a HEAD touches them (openBlob).
   */
  async mount(name: RepoName, from: RepoName, digest: BlobDigest): Promise<boolean> {
    if ((await this.blobSize(from, digest)) === undefined) return false;
    await this.linkBlob(name, digest);
    return touch(this.layout.blob(digest));
  }

  // ---- manifests and tags ----

  /** The digest a reference stands for in `name`, when it has that manifest. */
  async resolve(name: RepoName, ref: ManifestReference): Promise<BlobDigest | undefined> {
    if ('digest' in ref) return (await exists(this.layout.manifestLink(name, ref.digest))) ? ref.digest : undefined;
    const target = (await readText(this.layout.tag(name, ref.tag)))?.trim();
    return target && isBlobDigest(target) && (await exists(this.layout.manifestLink(name, target))) ? target : undefined;
  }

  async getManifest(name: RepoName, ref: ManifestReference): Promise<StoredManifest | undefined> {
    const digest = await this.resolve(name, ref);
    if (!digest) return undefined;
    const mediaType = await readText(this.layout.manifestLink(name, digest));
    const bytes = await ifExists(readFile(this.layout.blob(digest)));
    return mediaType && bytes ? { bytes, mediaType, digest } : undefined;
  }

  /**
   * The references of `m` that `name` lacks. Each one present is touched, so
   * a gc running meanwhile sees it as in use (it re-reads the times right
   * before removing anything).
   */
  async missingReferences(name: RepoName, m: ParsedManifest): Promise<Descriptor[]> {
    const missing: Descriptor[] = [];
    for (const d of m.blobs) {
      const digest = d.digest as BlobDigest;
      const present = (await touch(this.layout.blobLink(name, digest))) && (await touch(this.layout.blob(digest)));
      if (!present) missing.push(d);
    }
    for (const d of m.children) {
      if (!(await exists(this.layout.manifestLink(name, d.digest as BlobDigest)))) missing.push(d);
    }
    return missing;
  }

  /** Stores a checked manifest: its bytes as a blob, then its link, its referrer entry, and the tag last. */
  async putManifest(name: RepoName, m: ParsedManifest, tag?: Tag): Promise<void> {
    const { layout } = this;
    const existing = await ifExists(stat(layout.blob(m.digest)));
    if (existing?.size === m.bytes.length) await touch(layout.blob(m.digest));
    else await writeAtomic(layout.tmpDir, layout.blob(m.digest), m.bytes);
    await writeAtomic(layout.tmpDir, layout.manifestLink(name, m.digest), m.mediaType);
    if (m.subject && m.referrer) await writeAtomic(layout.tmpDir, layout.referrer(name, m.subject, m.digest), JSON.stringify(m.referrer));
    if (tag) await writeAtomic(layout.tmpDir, layout.tag(name, tag), m.digest);
  }

  /** Forgets a manifest in `name` and every tag on it; false when `name` did not have it. */
  async deleteManifest(name: RepoName, digest: BlobDigest): Promise<boolean> {
    if (!(await removeFile(this.layout.manifestLink(name, digest)))) return false;
    for (const t of await this.tagNames(name)) {
      if ((await readText(this.layout.tag(name, t)))?.trim() === digest) await removeFile(this.layout.tag(name, t));
    }
    return true;
  }

  async deleteTag(name: RepoName, tag: Tag): Promise<boolean> {
    return removeFile(this.layout.tag(name, tag));
  }

  /** Whether anything was ever pushed to `name` (a parent directory of another repository is not one). */
  async hasRepository(name: RepoName): Promise<boolean> {
    for (const part of ['blobs', 'manifests', 'tags'] as const) if (await exists(this.layout.repoDir(name, part))) return true;
    return false;
  }

  /** Tags of `name` in lexical (byte) order. */
  async tagNames(name: RepoName): Promise<Tag[]> {
    return (await list(this.layout.tagsDir(name))).filter(isTag).sort();
  }

  /**
   * Descriptors of the manifests of `name` whose subject is `subject`, by
   * digest. An entry stays on disk after its manifest is deleted (gc removes
   * it); it is listed only while the manifest is there, so a deletion needs no
   * extra bookkeeping and a re-push brings it back.
   */
  async referrers(name: RepoName, subject: BlobDigest): Promise<Descriptor[]> {
    const dir = this.layout.referrersOf(name, subject);
    const out: Descriptor[] = [];
    for (const hex of (await list(dir)).sort()) {
      const digest = `sha256:${hex}`;
      if (!isBlobDigest(digest) || !(await exists(this.layout.manifestLink(name, digest)))) continue;
      const text = await readText(this.layout.referrer(name, subject, digest));
      // Written by putManifest from a checked manifest and read back through the same schema: a damaged entry
      // is a 500 whose log line names it and the field, not a descriptor served as it is (the code is the CLI's only).
      if (text) out.push(parseOci(descriptor, text, `referrer entry ${digest} of ${name}`, 'usage'));
    }
    return out;
  }
}

// Garbage collection of a store, safe to run while the server takes pushes.
//
// Per repository R:
//   manifests(R) = the manifests R links;
//   used(R)      = manifests(R) ∪ every config, layer and child manifest they name
//                  (read leniently: what an older version accepted still counts);
//   a blob link of R is kept when its blob is in used(R), or when the link is
//   younger than the grace period (a push in progress uploads its blobs before
//   the manifest that names them, and skips those a HEAD, GET or mount found
//   there: each of these touches the link and the blob); other links are removed.
// Marked = ∪ over R of manifests(R) and the blobs of R's kept links.
// A blob file is removed when it is not marked and has not been written or
// touched within the grace period; a manifest push touches every blob it names
// before it checks them, and gc reads a blob's time again right before
// removing it, so a push that races the sweep keeps its blobs.
// Upload sessions idle for longer than the grace period, temporary files older
// than it, and referrer entries of manifests no longer there are removed too.
import { readdir, readFile, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ifExists, removeFile } from './files.js';
import { DEFAULT_GRACE_MS, Layout, REPO_DIRS } from './layout.js';
import { referencedDigests } from './manifest.js';
import { isBlobDigest, isRepoName, type BlobDigest, type RepoName } from './names.js';
import { sweepUploads } from './uploads.js';

export interface GcOptions {
  /** Nothing written or touched within this many ms is removed (default one hour). */
  graceMs?: number;
  now?: number;
}

export interface GcReport {
  /** Blob files removed, with their sizes. */
  blobs: { digest: BlobDigest; size: number }[];
  /** Repository links to blobs that no manifest of the repository uses. */
  links: { repository: RepoName; digest: BlobDigest }[];
  uploads: string[];
  referrers: { repository: RepoName; digest: BlobDigest }[];
  tmp: string[];
}

const list = async (dir: string): Promise<string[]> => (await ifExists(readdir(dir))) ?? [];
const mtime = async (path: string): Promise<number | undefined> => (await ifExists(stat(path)))?.mtimeMs;

const digestsIn = (names: string[]): BlobDigest[] => names.map((h) => `sha256:${h}`).filter(isBlobDigest);

/** Every repository under repositories/: a directory with any of the store's own parts. */
async function repositories(layout: Layout): Promise<RepoName[]> {
  const found: RepoName[] = [];
  const walk = async (parts: string[]): Promise<void> => {
    const entries = await list(join(layout.reposDir, ...parts));
    const name = parts.join('/');
    if (parts.length > 0 && isRepoName(name) && entries.some((e) => Object.values(REPO_DIRS).includes(e as never))) found.push(name);
    for (const e of entries) if (!e.startsWith('_')) await walk([...parts, e]);
  };
  await walk([]);
  return found;
}

/**
 * What repository `name` uses. A stored manifest that cannot be parsed stops
 * gc: its references are unknown, and guessing could delete a live image.
 */
async function usedBy(layout: Layout, name: RepoName, manifests: BlobDigest[]): Promise<Set<BlobDigest>> {
  const used = new Set<BlobDigest>(manifests);
  for (const digest of manifests) {
    const bytes = await ifExists(readFile(layout.blob(digest)));
    if (!bytes) continue;
    let refs: BlobDigest[];
    try {
      refs = referencedDigests(bytes);
    } catch (e) {
      throw new Error(`gc stopped: manifest ${digest} of ${name} cannot be read (${(e as Error).message}); nothing was removed from that point on`);
    }
    for (const d of refs) used.add(d);
  }
  return used;
}

export async function gc(root: string, opts: GcOptions = {}): Promise<GcReport> {
  const layout = new Layout(root);
  const grace = opts.graceMs ?? DEFAULT_GRACE_MS;
  const now = opts.now ?? Date.now();
  const young = (t: number | undefined) => t !== undefined && now - t < grace;
  const report: GcReport = { blobs: [], links: [], uploads: [], referrers: [], tmp: [] };
  const marked = new Set<BlobDigest>();

  for (const name of await repositories(layout)) {
    const manifests = digestsIn(await list(layout.repoDir(name, 'manifests')));
    const used = await usedBy(layout, name, manifests);
    for (const d of manifests) marked.add(d);
    for (const d of digestsIn(await list(layout.repoDir(name, 'blobs')))) {
      const link = layout.blobLink(name, d);
      const linked = await mtime(link);
      if (linked === undefined) continue;
      if (used.has(d) || young(linked)) {
        marked.add(d);
        continue;
      }
      await removeFile(link);
      report.links.push({ repository: name, digest: d });
    }
    const live = new Set(manifests);
    for (const subjectHex of await list(layout.repoDir(name, 'referrers'))) {
      const dir = join(layout.repoDir(name, 'referrers'), subjectHex);
      for (const d of digestsIn(await list(dir))) {
        const entry = join(dir, d.slice('sha256:'.length));
        // A referrer pushed since the manifests were listed has a young entry (and its manifest now).
        if (live.has(d) || young(await mtime(entry)) || (await mtime(layout.manifestLink(name, d))) !== undefined) continue;
        if (await removeFile(entry)) report.referrers.push({ repository: name, digest: d });
      }
      // rmdir, not rm -r: a referrer pushed meanwhile makes it fail, and stays.
      await rmdir(dir).catch(() => undefined);
    }
  }

  for (const d of digestsIn(await list(layout.blobDir))) {
    if (marked.has(d)) continue;
    const path = layout.blob(d);
    const s = await ifExists(stat(path));
    if (!s || young(s.mtimeMs) || !(await removeFile(path))) continue;
    report.blobs.push({ digest: d, size: s.size });
  }

  report.uploads = await sweepUploads(layout, grace, now);
  for (const entry of await list(layout.tmpDir)) {
    const path = join(layout.tmpDir, entry);
    if (young(await mtime(path))) continue;
    await rm(path, { recursive: true, force: true });
    report.tmp.push(entry);
  }
  return report;
}

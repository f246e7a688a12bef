// Single-file images: an oci-archive (a tar of an OCI layout) and a
// docker-archive (docker save's format, loadable by docker and podman load).
// Both are deterministic tars written beside the target and renamed into place.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { tarStream } from '../layers/tar.js';
import { compareTreePaths, type TreeEntry } from '../layers/tree.js';
import { StrataError } from '../base/errors.js';
import { canonicalJson } from '../base/canonical.js';
import { bytesReader, mkdirs, openFileReader } from '../base/fs.js';
import type { Digest } from '../base/digest.js';

const FILE_MODE = 0o644;
const DIR_MODE = 0o755;

async function writeTarAtomic(file: string, entries: TreeEntry[], mtime: number): Promise<void> {
  await mkdirs(dirname(file));
  const tmp = `${file}.strata-tmp-${randomBytes(6).toString('hex')}`;
  try {
    const sorted = [...entries].sort((a, b) => compareTreePaths(a.path, b.path));
    await pipeline(tarStream(sorted, { mtime }), createWriteStream(tmp, { flags: 'wx' }));
    const fh = await open(tmp, 'r+');
    await fh.sync(); // on disk before it takes the final name
    await fh.close();
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    if (e instanceof StrataError) throw e;
    throw new StrataError('output', `cannot write ${file}: ${(e as Error).message}`, { cause: e });
  }
}

function fileEntry(path: string, fsPath: string, size: number): TreeEntry {
  return {
    type: 'file',
    path,
    mode: FILE_MODE,
    size,
    open: () => openFileReader(fsPath),
  };
}

function bytesEntry(path: string, bytes: Buffer): TreeEntry {
  return { type: 'file', path, mode: FILE_MODE, size: bytes.length, open: () => bytesReader(bytes) };
}

/** Tars a whole OCI layout directory into `file`. */
export async function writeOciArchive(layoutDir: string, file: string, mtime: number): Promise<void> {
  const entries: TreeEntry[] = [
    { type: 'directory', path: 'blobs', mode: DIR_MODE },
    { type: 'directory', path: 'blobs/sha256', mode: DIR_MODE },
  ];
  for (const name of ['index.json', 'oci-layout']) {
    entries.push(fileEntry(name, join(layoutDir, name), (await stat(join(layoutDir, name))).size));
  }
  for (const hex of await readdir(join(layoutDir, 'blobs', 'sha256'))) {
    if (hex.startsWith('.')) continue;
    const p = join(layoutDir, 'blobs', 'sha256', hex);
    entries.push(fileEntry(`blobs/sha256/${hex}`, p, (await stat(p)).size));
  }
  await writeTarAtomic(file, entries, mtime);
}

/** What writeDockerArchive writes (image/docker-archive.ts's DockerArchiveImage is what a reader finds). */
export interface DockerArchiveContents {
  config: { digest: Digest; bytes: Buffer };
  /** Uncompressed layer tars, bottom first: their blob files and diffIDs. */
  layers: { diffID: Digest; path: string; size: number }[];
  /** NAME:TAG entries for RepoTags. */
  repoTags: string[];
}

/** docker save's layout: manifest.json, <config>.json and <diffID>/layer.tar. */
export async function writeDockerArchive(img: DockerArchiveContents, file: string, mtime: number): Promise<void> {
  const hex = (d: Digest) => d.slice('sha256:'.length);
  const configName = `${hex(img.config.digest)}.json`;
  const entries: TreeEntry[] = [bytesEntry(configName, img.config.bytes)];
  const layerNames: string[] = [];
  for (const l of img.layers) {
    const name = `${hex(l.diffID)}/layer.tar`;
    if (!layerNames.includes(name)) {
      entries.push({ type: 'directory', path: hex(l.diffID), mode: DIR_MODE });
      entries.push(fileEntry(name, l.path, l.size));
    }
    layerNames.push(name);
  }
  const manifest = [{ Config: configName, RepoTags: img.repoTags, Layers: layerNames }];
  entries.push(bytesEntry('manifest.json', Buffer.from(canonicalJson(manifest), 'utf8')));
  await writeTarAtomic(file, entries, mtime);
}

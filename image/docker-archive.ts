// A docker-archive (docker save's format), read in place: manifest.json names
// each image's config file and its layer tars, bottom first. There is no
// image manifest, so an image here is known by its config digest (the image
// ID). Layers are the files the archive holds: plain tars as docker save and
// Strata write them (docker 25 and later may store them under blobs/sha256/).
import type { Readable } from 'node:stream';
import { sha256 } from '../base/hash-tap.js';
import { StrataError } from '../base/errors.js';
import { formatDockerReference, type DockerReference } from '../oci/reference.js';
import { parseOci } from '../oci/parse.js';
import { dockerArchiveManifest, type DockerArchiveEntry as ArchiveManifestEntry } from '../oci/schema.js';
import { indexTar, openTarMember, readTarMember, type TarMember } from './source.js';
import type { Digest } from '../base/digest.js';

export interface DockerArchiveImage {
  config: { digest: Digest; bytes: Buffer };
  repoTags: string[];
  /** Each layer's bytes (a tar, possibly compressed), bottom first. */
  layers: { path: string; open(): Readable }[];
}

/** A RepoTags entry: Docker writes names without the docker.io/library/ prefix (readers match either way). */
export function shortName(ref: DockerReference): string {
  return formatDockerReference(ref).replace(/^docker\.io\/(library\/)?/, '');
}

/** The archive's image named `name` (its RepoTags), or its only image. */
export async function readDockerArchive(file: string, name?: DockerReference): Promise<DockerArchiveImage> {
  const where = `docker-archive:${file}`;
  let members: Map<string, TarMember>;
  let text: Buffer;
  try {
    members = await indexTar(file);
    text = await readTarMember(file, members, 'manifest.json', where);
  } catch (e) {
    if (e instanceof StrataError) throw e;
    throw new StrataError('reference', `${where} cannot be read: ${(e as Error).message}`, { cause: e });
  }
  const entries = parseOci(dockerArchiveManifest, text, `manifest.json of ${where}`, 'usage');
  const tags = (e: ArchiveManifestEntry) => e.RepoTags ?? [];
  let entry: ArchiveManifestEntry | undefined;
  if (name) {
    const wanted = [formatDockerReference(name), shortName(name)];
    entry = entries.find((e) => tags(e).some((t) => wanted.includes(t)));
    if (!entry)
      throw new StrataError(
        'reference',
        `${where} has no image named ${shortName(name)} (it has ${entries.flatMap(tags).join(', ') || 'untagged images only'})`,
      );
  } else {
    if (entries.length !== 1) throw new StrataError('reference', `${where} holds ${entries.length} images; name one with docker-archive:FILE:NAME:TAG`);
    entry = entries[0]!;
  }
  const bytes = await readTarMember(file, members, entry.Config, where);
  return {
    config: { digest: sha256(bytes), bytes },
    repoTags: tags(entry),
    layers: entry.Layers.map((path) => {
      if (!members.has(path)) throw new StrataError('reference', `${where} names layer ${path}, which it does not hold`);
      return { path, open: () => openTarMember(file, members, path, where) };
    }),
  };
}

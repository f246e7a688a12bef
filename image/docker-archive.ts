// A docker-archive (docker save's format), read in place: manifest.json names
// each image's config file and its layer tars, bottom first. There is no
// image manifest, so an image here is known by its config digest (the image
// ID). Layers are the files the archive holds: plain tars as docker save and
// Strata write them (docker 25 and later may store them under blobs/sha256/).
import type { Readable } from 'node:stream';
import { sha256, streamDigest } from '../base/hash-tap.js';
import { StrataError } from '../base/errors.js';
import { formatDockerReference, type DockerReference } from '../oci/reference.js';
import { parseOci } from '../oci/parse.js';
import { dockerArchiveManifest, imageConfig, imageManifest, type DockerArchiveEntry as ArchiveManifestEntry } from '../oci/schema.js';
import { MediaType } from '../oci/types.js';
import { bufferBlob, rangeOf, type Blob, type Image } from './model.js';
import { indexTar, openTarMember, readTarMember, type TarMember } from './source.js';
import type { Digest } from '../base/digest.js';

export interface DockerArchiveImage {
  config: { digest: Digest; bytes: Buffer };
  repoTags: string[];
  /** Each layer's bytes (a tar, possibly compressed), bottom first. */
  layers: { path: string; size: number; open(offset?: number, length?: number): Readable }[];
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
      return { path, size: members.get(path)!.size, open: (offset = 0, length = Infinity) => openTarMember(file, members, path, where, offset, length) };
    }),
  };
}

/**
 * The archive's image in the one model, as go-containerregistry's tarball
 * reader gives it: the archive holds no manifest, so one is made (an OCI
 * manifest, which every layout reader takes; a Docker config is a valid OCI
 * config), naming each layer as the archive holds it. A plain tar's digest is its diffID from the config; a gzip one is
 * hashed. Nothing is trusted: whoever lands a layer checks it against that digest.
 */
export async function readDockerArchiveImage(file: string, name?: DockerReference): Promise<Image> {
  const where = `docker-archive:${file}`;
  const a = await readDockerArchive(file, name);
  const config = parseOci(imageConfig, a.config.bytes, `config ${a.config.digest} of ${where}`, 'usage');
  const diffIDs = config.rootfs.diff_ids;
  if (diffIDs.length !== a.layers.length)
    throw new StrataError('reference', `${where}: its config names ${diffIDs.length} layer diffIDs for ${a.layers.length} layers`);
  const layers = await Promise.all(
    a.layers.map(async (l, i): Promise<Blob> => {
      const head = await firstBytes(l.open(0, 4));
      const gzip = head[0] === 0x1f && head[1] === 0x8b;
      if (!gzip && head.readUInt32LE(0) === 0xfd2fb528)
        throw new StrataError('unsupported', `${where}: layer ${l.path} is zstd-compressed, which docker-archive cannot hold`);
      const digest = gzip ? (await streamDigest(l.open())).digest : diffIDs[i]!;
      const descriptor = { mediaType: gzip ? MediaType.ociLayerGzip : MediaType.ociLayer, digest, size: l.size };
      return {
        descriptor,
        open: (range) => {
          const { start, length } = rangeOf(range, l.size);
          return l.open(start, length);
        },
      };
    }),
  );
  const configDescriptor = { mediaType: MediaType.ociConfig, digest: a.config.digest, size: a.config.bytes.length };
  const bytes = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDescriptor, layers: layers.map((l) => l.descriptor) }),
  );
  return {
    kind: 'image',
    manifest: { bytes, mediaType: MediaType.ociManifest, digest: sha256(bytes), madeUp: true },
    json: parseOci(imageManifest, bytes, `the manifest made for ${where}`, 'usage'),
    config: bufferBlob(configDescriptor, a.config.bytes),
    layers,
    source: { where, code: 'usage' },
  };
}

async function firstBytes(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat([...parts, Buffer.alloc(4)]);
}

// Images that already exist: an OCI layout, an oci-archive (read in place:
// the tar is indexed and blobs are byte ranges of it), and what every reader
// shares (a registry's is registry/source.ts). Each gives the one model of
// image/model.ts: an Image or an Index whose blobs open any byte range.
// Bytes are never trusted: sinks check every digest.
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { StrataError } from '../base/errors.js';
import { choosePlatform } from '../oci/platform.js';
import { sha256 } from '../base/hash-tap.js';
import { imageConfig, imageIndex, imageManifest, type OciIndex } from '../oci/schema.js';
import { parseOci } from '../oci/parse.js';
import { rangeOf, type Blob, type ImageOrIndex, type JsonSource, type RawManifest } from './model.js';
import { Annotation, MediaType, type Descriptor, type ImageConfig, type Platform } from '../oci/types.js';
import { type Digest } from '../base/digest.js';

/** Blobs are read 1 MiB at a time: at Node's 64 KiB default, reads and GC cost 17% of a push's CPU (docs/benchmarks/push.md). */
const READ_CHUNK = 2 ** 20;

export function isIndex(mediaType: string): boolean {
  return mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifestList;
}

/**
 * Reads a manifest or index blob and builds the Image or Index tree below it.
 * Every descriptor is checked against the spec's grammar before it names a
 * path or a URL (a digest "sha256:../../x" would climb out of a layout).
 */
export async function imageFrom(
  manifest: RawManifest,
  readBlob: (d: Descriptor) => Promise<Buffer>,
  blob: (d: Descriptor) => Blob,
  source: JsonSource,
  platform?: Platform,
): Promise<ImageOrIndex> {
  const at = (kind: string) => `${kind} ${manifest.digest} in ${source.where}`;
  if (isIndex(manifest.mediaType)) {
    const index = parseOci(imageIndex, manifest.bytes, at('index'), source.code);
    if (platform) {
      const d = choosePlatform(index.manifests, platform);
      if (!d)
        throw new StrataError(
          'platform',
          `the image index has no ${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''} image (it has ${index.manifests.map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}` : '?')).join(', ')})`,
        );
      return imageFrom({ bytes: await readBlob(d), mediaType: d.mediaType, digest: d.digest }, readBlob, blob, source);
    }
    const children = await Promise.all(
      index.manifests.map(async (d) => imageFrom({ bytes: await readBlob(d), mediaType: d.mediaType, digest: d.digest }, readBlob, blob, source)),
    );
    return { kind: 'index', manifest, json: index, children, source };
  }
  const m = parseOci(imageManifest, manifest.bytes, at('manifest'), source.code);
  return { kind: 'image', manifest, json: m, config: blob(m.config), layers: m.layers.map(blob), source };
}

/** The most a blob read whole (a config, a manifest, a signature) may declare: it is held in memory. */
export const MAX_WHOLE_BLOB = 64 * 2 ** 20;

/** Reads a small blob whole and checks it; `code` is the error a damaged one is (registry: exit 7). */
export async function readChecked(stream: Readable, d: Descriptor, where: string, code: 'reference' | 'registry' = 'reference'): Promise<Buffer> {
  if (d.size > MAX_WHOLE_BLOB) {
    stream.destroy();
    throw new StrataError(code, `${where}: blob ${d.digest} declares ${d.size} bytes, more than the ${MAX_WHOLE_BLOB} Strata reads into memory`);
  }
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += (c as Buffer).length;
    if (n > Math.max(d.size, 0) + 1) break;
    parts.push(c as Buffer);
  }
  const bytes = Buffer.concat(parts);
  if (bytes.length !== d.size || sha256(bytes) !== d.digest)
    throw new StrataError(code, `${where}: blob ${d.digest} is damaged (its bytes do not match its digest)`);
  return bytes;
}

const CONTAINER_CONFIG_TYPES: readonly string[] = [MediaType.ociConfig, MediaType.dockerConfig];

/**
 * The config of an image manifest; refused unless it is a container image's (an
 * artifact's config has a type of its own). Its diff_ids (and architecture and os, if given)
 * are checked; the rest is read as its maker wrote it.
 */
export async function readContainerConfig(img: ImageOrIndex, where: string): Promise<ImageConfig> {
  const code = img.source?.code ?? 'usage';
  const c = img.kind === 'image' ? img.config : undefined;
  if (!c || !CONTAINER_CONFIG_TYPES.includes(c.descriptor.mediaType))
    throw new StrataError('reference', `not a container image (its config is ${c?.descriptor.mediaType ?? 'missing'})`);
  const bytes = await readChecked(c.open(), c.descriptor, where, code === 'registry' ? 'registry' : 'reference');
  return parseOci(imageConfig, bytes, `config ${c.descriptor.digest} of ${where}`, code) as unknown as ImageConfig;
}

/**
 * `stream` cut after `max` bytes: one byte more fails it with `tooLong()` and
 * stops the read, so a body longer than its descriptor declares is never read to its end.
 */
export function cutAt(stream: Readable, max: number, tooLong: () => Error): Readable {
  let seen = 0;
  const out = new Transform({
    transform(chunk: Buffer, _e, cb) {
      seen += chunk.length;
      if (seen > max) cb(tooLong());
      else cb(null, chunk);
    },
  });
  stream.on('error', (e) => out.destroy(e));
  out.on('close', () => stream.destroy());
  return stream.pipe(out);
}

/** The error of a blob longer than its descriptor. */
export function tooLongError(d: Descriptor, where: string, code: 'reference' | 'registry'): StrataError {
  return new StrataError(code, `blob ${d.digest} of ${where} is longer than the ${d.size} bytes its descriptor declares; the read stopped there`);
}

/** Picks the manifest of an index.json by tag, or the only one when no tag is given. */
function pickFromIndex(index: OciIndex, tag: string | undefined, where: string): Descriptor {
  if (tag) {
    const d = index.manifests.find((m) => m.annotations?.[Annotation.refName] === tag);
    if (!d)
      throw new StrataError(
        'reference',
        `${where} has no image tagged '${tag}' (it has ${index.manifests.map((m) => m.annotations?.[Annotation.refName] ?? m.digest).join(', ') || 'none'})`,
      );
    return d;
  }
  if (index.manifests.length !== 1) throw new StrataError('reference', `${where} holds ${index.manifests.length} images; name one with :TAG`);
  return index.manifests[0]!;
}

function layoutBlobPath(dir: string, d: Digest): string {
  return join(dir, 'blobs', 'sha256', d.slice('sha256:'.length));
}

/** A blob of an OCI layout directory; its descriptor's digest must have been checked (it names a file). */
export function layoutBlob(dir: string, d: Descriptor): Blob {
  return {
    descriptor: d,
    open: (range) => {
      const { start, length, toEnd } = rangeOf(range, d.size);
      if (length === 0 && !toEnd) return Readable.from([]);
      // To the blob's end, one byte more is asked for, so a file longer than its descriptor is noticed.
      const file = createReadStream(layoutBlobPath(dir, d.digest), { start, end: start + length - (toEnd ? 0 : 1), highWaterMark: READ_CHUNK });
      return cutAt(file, length, () => tooLongError(d, `oci:${dir}`, 'reference'));
    },
  };
}

/** An image of an OCI layout directory. */
export async function readOciLayout(dir: string, tag: string | undefined, platform?: Platform): Promise<ImageOrIndex> {
  const where = `oci:${dir}`;
  let text: string;
  try {
    text = await readFile(join(dir, 'index.json'), 'utf8');
  } catch (e) {
    throw new StrataError('reference', `${where} is not a readable OCI layout: ${(e as Error).message}`, { cause: e });
  }
  const index = parseOci(imageIndex, text, `index.json of ${where}`, 'usage');
  // Digests are checked (sha256 and 64 hex) before they name a file here.
  const path = (d: Digest) => layoutBlobPath(dir, d);
  const top = pickFromIndex(index, tag, where);
  const blob = (d: Descriptor): Blob => layoutBlob(dir, d);
  const readBlob = async (d: Descriptor) =>
    readChecked(createReadStream(path(d.digest), { end: d.size }), d, where).catch((e: unknown) => {
      throw e instanceof StrataError ? e : new StrataError('reference', `${where} lacks blob ${d.digest}: ${(e as Error).message}`);
    });
  return imageFrom({ bytes: await readBlob(top), mediaType: top.mediaType, digest: top.digest }, readBlob, blob, { where, code: 'usage' }, platform);
}

export interface TarMember {
  offset: number;
  size: number;
}

/** Header fields of a ustar header block; pax headers ('x') may override path and size. */
function parseOctal(buf: Buffer, start: number, len: number): number {
  const s = buf
    .subarray(start, start + len)
    .toString('latin1')
    .replace(/\0.*$/, '')
    .trim();
  return s ? parseInt(s, 8) : 0;
}

/** The regular files of a tar and where their bytes start: only headers are read. */
export async function indexTar(file: string): Promise<Map<string, TarMember>> {
  const fh = await open(file, 'r');
  const members = new Map<string, TarMember>();
  try {
    const header = Buffer.alloc(512);
    let pos = 0;
    let pax: Record<string, string> = {};
    for (;;) {
      const { bytesRead } = await fh.read(header, 0, 512, pos);
      if (bytesRead < 512 || header.every((b) => b === 0)) break;
      const type = String.fromCharCode(header[156] || 48);
      let size = parseOctal(header, 124, 12);
      const prefix = header.subarray(345, 500).toString('utf8').replace(/\0.*$/s, '');
      let name = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
      if (prefix) name = `${prefix}/${name}`;
      const dataStart = pos + 512;
      if (type === 'x') {
        const body = Buffer.alloc(size);
        await fh.read(body, 0, size, dataStart);
        pax = {};
        for (let i = 0; i < body.length;) {
          const sp = body.indexOf(0x20, i);
          const len = Number(body.subarray(i, sp).toString());
          const kv = body.subarray(sp + 1, i + len - 1).toString('utf8');
          const eq = kv.indexOf('=');
          pax[kv.slice(0, eq)] = kv.slice(eq + 1);
          i += len;
        }
      } else {
        if (pax.path) name = pax.path;
        if (pax.size) size = Number(pax.size);
        if (type === '0' || type === '\0' || type === '7') members.set(name.replace(/^\.\//, ''), { offset: dataStart, size });
        pax = {};
      }
      pos = dataStart + Math.ceil(size / 512) * 512;
    }
  } finally {
    await fh.close();
  }
  return members;
}

/** The bytes of a tar's member (from `offset` on, at most `length` of them), read in place. */
export function openTarMember(file: string, members: Map<string, TarMember>, name: string, where: string, offset = 0, length = Infinity): Readable {
  const m = members.get(name);
  if (!m) throw new StrataError('reference', `${where} has no ${name}`);
  const end = Math.min(m.size, offset + length);
  return end - offset <= 0 ? Readable.from([]) : createReadStream(file, { start: m.offset + offset, end: m.offset + end - 1, highWaterMark: READ_CHUNK });
}

/** A tar member's bytes, whole (index.json, a config: small files). */
export async function readTarMember(file: string, members: Map<string, TarMember>, name: string, where: string): Promise<Buffer> {
  const size = members.get(name)?.size ?? 0;
  if (size > MAX_WHOLE_BLOB)
    throw new StrataError('reference', `${where}: ${name} has ${size} bytes, more than the ${MAX_WHOLE_BLOB} Strata reads into memory`);
  const parts: Buffer[] = [];
  for await (const c of openTarMember(file, members, name, where)) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** An image of an oci-archive, read in place. */
export async function readOciArchive(file: string, tag: string | undefined, platform?: Platform): Promise<ImageOrIndex> {
  const where = `oci-archive:${file}`;
  let members: Map<string, TarMember>;
  try {
    members = await indexTar(file);
  } catch (e) {
    throw new StrataError('reference', `${where} cannot be read: ${(e as Error).message}`, { cause: e });
  }
  const range = (name: string, offset = 0, length?: number): Readable => openTarMember(file, members, name, where, offset, length);
  const blobName = (d: Digest) => `blobs/${d.replace(':', '/')}`;
  let text: Buffer;
  try {
    text = await readTarMember(file, members, 'index.json', where);
  } catch (e) {
    throw e instanceof StrataError ? e : new StrataError('reference', `${where} has an unreadable index.json: ${(e as Error).message}`);
  }
  const index = parseOci(imageIndex, text, `index.json of ${where}`, 'usage');
  const top = pickFromIndex(index, tag, where);
  const blob = (d: Descriptor): Blob => ({
    descriptor: d,
    open: (r) => {
      const { start, length, toEnd } = rangeOf(r, d.size);
      return cutAt(range(blobName(d.digest), start, toEnd ? Infinity : length), length, () => tooLongError(d, where, 'reference'));
    },
  });
  const readBlob = (d: Descriptor) => readChecked(range(blobName(d.digest)), d, where);
  return imageFrom({ bytes: await readBlob(top), mediaType: top.mediaType, digest: top.digest }, readBlob, blob, { where, code: 'usage' }, platform);
}

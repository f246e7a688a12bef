// The one image model every source of an existing image gives, in the spirit
// of go-containerregistry's v1: an Image (a manifest, its config and layers)
// or an Index (an index and its children), each with the exact bytes of its
// manifest, the JSON those bytes were checked to be, and blobs that open a
// byte range on demand. Readers (OCI layout, oci-archive, registry) build it,
// and writers (layout, archives, registry push) and comparers take it. Bytes
// are never trusted: a blob's stream is cut at its declared size, and whoever
// lands the bytes checks their digest.
import { Readable } from 'node:stream';
import { shortDigest, type Digest } from '../base/digest.js';
import type { JsonOrigin } from '../oci/parse.js';
import type { OciIndex, OciManifest } from '../oci/schema.js';
import type { Descriptor } from '../oci/types.js';

/** Bytes `start` (inclusive) to `end` (exclusive; the blob's end when absent). */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface Blob {
  descriptor: Descriptor;
  /** The blob's bytes, all of them or a range: a copy resumes from an offset, serve answers a Range request. */
  open(range?: ByteRange): Readable;
  /** A repository of the same registry that has it (for cross-repository mounts). */
  mountFrom?: { registry: string; repository: string };
  /** A layer's tar without decompressing its blob (ggcr's Uncompressed), where it is made rather than read: one of Strata's, from the store. */
  openTar?(): Readable;
}

/** Where an image's JSON came from (`oci:DIR`, `REGISTRY/REPO`), and the error its lies are. */
export interface JsonSource {
  where: string;
  code: JsonOrigin;
}

/** A manifest or index exactly as stored: its digest is the image's. */
export interface RawManifest {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
  /** Made by the reader, for a source that holds none (a docker-archive): its digest names nothing the source has. */
  madeUp?: true;
}

export interface Image {
  kind: 'image';
  manifest: RawManifest;
  /** `manifest`'s JSON, checked against the spec's grammar. */
  json: OciManifest;
  config: Blob;
  /** Bottom first, as the manifest lists them. */
  layers: Blob[];
  source?: JsonSource;
}

export interface Index {
  kind: 'index';
  manifest: RawManifest;
  json: OciIndex;
  /** The manifests the index names, in its order. */
  children: (Image | Index)[];
  source?: JsonSource;
}

export type ImageOrIndex = Image | Index;

/** An image's blobs, config first; none for an index. */
export function blobsOf(i: ImageOrIndex): Blob[] {
  return i.kind === 'image' ? [i.config, ...i.layers] : [];
}

/** Every blob of an image tree once, the children's first. */
export function uniqueBlobs(top: ImageOrIndex): Blob[] {
  const seen = new Map<string, Blob>();
  const visit = (i: ImageOrIndex) => {
    if (i.kind === 'index') for (const c of i.children) visit(c);
    for (const b of blobsOf(i)) if (!seen.has(b.descriptor.digest)) seen.set(b.descriptor.digest, b);
  };
  visit(top);
  return [...seen.values()];
}

/** A blob held in memory (a config, a manifest Strata made). */
export function bufferBlob(descriptor: Descriptor, bytes: Buffer): Blob {
  return {
    descriptor,
    open: (range) => {
      const { start, length } = rangeOf(range, bytes.length);
      return Readable.from([bytes.subarray(start, start + length)]);
    },
  };
}

/** A range of a blob of `size` bytes: its start, its length, and whether it runs to the blob's end. */
export function rangeOf(range: ByteRange | undefined, size: number): { start: number; length: number; toEnd: boolean } {
  const start = range?.start ?? 0;
  const end = Math.min(range?.end ?? size, size);
  return { start, length: Math.max(0, end - start), toEnd: end === size };
}

/** A blob as progress shows it: short digest and the tail of its media type ("tar+gzip"). */
export function blobLabel(d: { digest: string; mediaType: string }): string {
  return `${shortDigest(d.digest)} ${d.mediaType.split('.').pop()}`;
}

// An image some of whose layers do not exist yet: they are made as they are
// written (go-containerregistry's stream.Layer, written by remote.Write and
// layout.Write alike). The image of a Nix installable is one: each layer's
// bytes come from the layer cache or are made from the store on the way to
// the destination, and its manifest is known once every layer's digests are.
// Writers take it beside an existing Image: the layout writer (write-image.ts)
// and the registry's (registry/push.ts), so every destination has one writer.
import type { Readable } from 'node:stream';
import type { Digest } from '../base/digest.js';
import type { Blob, Image } from './model.js';
import type { BlobSink } from './sink.js';

/** A layer's digest and size, once known. */
export interface Landed {
  digest: Digest;
  size: number;
}

export interface MadeLayer {
  kind: 'made';
  /** For progress while the digest is unknown (a layer key). */
  id: string;
  label: string;
  /**
   * What the layer is expected to be (a cache entry, a registry's manifest), when
   * something recorded it: a destination that has this digest needs no byte, and
   * `mountFrom` (a repository of the destination's registry) may have it.
   */
  expected?: Landed & { mountFrom?: string };
  /** Its bytes from `offset` on, for a stream destination (an upload, resumed); `done` gives what they turned out to be. */
  open(offset: number): { stream: Readable; done: Promise<Landed> };
  /** Lands it in a sink that keeps files (an OCI layout) or none (a digest): made straight into the file, or copied when known. */
  writeInto(sink: BlobSink): Promise<Landed>;
}

export interface PendingImage {
  kind: 'pending';
  /** Bottom first: blobs that exist (a base image's) and layers made while written. */
  layers: (Blob | MadeLayer)[];
  /**
   * The image from its layers' digests: what each made layer turned out to be
   * once written, else what it was expected to be. Throws while a layer is
   * neither written nor expected.
   */
  finish(): Image;
}

/** True when every layer's digest is known before any is written: the image's manifest is too. */
export function fullyExpected(img: PendingImage): boolean {
  return img.layers.every((l) => !('kind' in l) || l.expected !== undefined);
}

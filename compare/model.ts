// What `strata diff` compares: images and indexes as every source gives them
// (a Nix installable, an OCI layout, an archive, a registry), reduced to the
// documents and the layers' uncompressed tars. Layer bytes are opened only
// for layers that differ, and each opener checks what it reads against the
// digests the image names.
import type { Readable } from 'node:stream';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest } from '../oci/types.js';
import type { Digest } from '../base/digest.js';

export interface CompareLayer {
  /** The manifest's descriptor; none in a docker-archive, which holds bare tars. */
  descriptor?: Descriptor;
  diffID: Digest;
  /** The layer as an uncompressed tar; the stream fails if its bytes do not match the digest or diffID. */
  openTar(): Readable;
}

export interface CompareImage {
  kind: 'image';
  /** The image manifest; none for a docker-archive (its identity is the config digest). */
  manifest?: { digest: Digest; mediaType: string; json: ImageManifest };
  config: { digest: Digest; json: ImageConfig };
  layers: CompareLayer[];
}

export interface CompareIndex {
  kind: 'index';
  manifest: { digest: Digest; mediaType: string; json: ImageIndex };
  /** The index's images, each opened when it is compared. */
  children: { descriptor: Descriptor; open(): Promise<CompareImage> }[];
}

export type CompareTarget = CompareImage | CompareIndex;

/** One side of a comparison: what the user named and what it turned out to be. */
export interface OpenedTarget {
  reference: string;
  target: CompareTarget;
  /** Releases what opening held (GC roots of a built installable). */
  close(): Promise<void>;
}

/** The digest a target is known by: its manifest's, else (docker-archive) its config's. */
export function identity(t: CompareTarget): Digest {
  return t.kind === 'index' ? t.manifest.digest : (t.manifest?.digest ?? t.config.digest);
}

// Where an image's blobs go. The OCI layout writer is one sink; computing a
// digest without writing an image (strata digest) is another: it keeps no bytes.
import { createWriteStream } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StrataError } from '../base/errors.js';
import { HashTap } from '../base/hash-tap.js';
import type { Blob } from './model.js';
import type { Digest } from '../base/digest.js';

export interface BlobSink {
  /** Lands a blob that `fill` writes to a temporary file, when it reports success. */
  importBlob(digest: Digest, fill: (tmpPath: string) => Promise<boolean>): Promise<boolean>;
  /** Streams a blob whose digest is known only once written. */
  writeBlobStream<T extends { digest: Digest }>(produce: (sink: Writable) => Promise<T>): Promise<T>;
  /** The same, for a producer that writes a file itself (a worker); undefined: discard the bytes. */
  writeBlobFile<T extends { digest: Digest }>(produce: (tmpPath: string | undefined) => Promise<T>): Promise<T>;
  writeBlob(data: Buffer, digest: Digest): Promise<void>;
  /** The file that holds or would hold a blob; undefined for a sink that keeps no bytes. */
  blobFile(digest: Digest): string | undefined;
  /** True when the sink holds blob `digest` whole (its bytes hash to it and it has `size` bytes). */
  verifyBlob(digest: Digest, size: number): Promise<boolean>;
}

/** Keeps nothing: every blob is only hashed. */
export class DigestOnlySink implements BlobSink {
  async importBlob(): Promise<boolean> {
    return true;
  }
  writeBlobStream<T extends { digest: Digest }>(produce: (sink: Writable) => Promise<T>): Promise<T> {
    return produce(
      new Writable({
        write(_chunk, _enc, cb) {
          cb();
        },
      }),
    );
  }
  writeBlobFile<T extends { digest: Digest }>(produce: (tmpPath: string | undefined) => Promise<T>): Promise<T> {
    return produce(undefined);
  }
  async writeBlob(): Promise<void> {}
  blobFile(): undefined {
    return undefined;
  }
  /** A digest needs no blob's bytes: whatever is named counts as there. */
  async verifyBlob(): Promise<boolean> {
    return true;
  }
}

/**
 * Copies a blob of an existing image into a sink unless the sink has it whole
 * already, checking its digest and size on the way: the source is not trusted
 * (and cuts a body longer than its descriptor, see cutAt in source.ts).
 */
export async function copyBlobInto(
  sink: BlobSink,
  b: Blob,
  onBytes?: (n: number) => void,
): Promise<{ action: 'exists' | 'downloaded' | 'copied'; bytes: number }> {
  const d = b.descriptor;
  if (await sink.verifyBlob(d.digest, d.size)) return { action: 'exists', bytes: 0 };
  let n = 0;
  const ok = await sink.importBlob(d.digest, async (tmp) => {
    const tap = new HashTap(onBytes);
    await pipeline(b.open(), tap, createWriteStream(tmp, { flags: 'wx' }));
    n = tap.value.size;
    return tap.value.size === d.size && tap.value.digest === d.digest;
  });
  if (!ok) throw new StrataError('registry', `blob ${d.digest} arrived damaged (its bytes do not match its digest); nothing was written`);
  // A registry's blob names its repository (for mounts); a layout's or an archive's was copied from disk.
  return { action: b.mountFrom ? 'downloaded' : 'copied', bytes: n };
}

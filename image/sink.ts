// Where an image's blobs go. The OCI layout writer is one sink; computing a
// digest without writing an image (strata digest) is another: it keeps no bytes.
import { Writable } from 'node:stream';
import type { Digest } from './types.js';

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
}

// Hashes and counts bytes as they pass: digests are computed on the way,
// never by reading a blob twice.
import { createHash } from 'node:crypto';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digest } from './digest.js';

export class HashTap extends Transform {
  private readonly hash = createHash('sha256');
  private bytes = 0;
  private result: { digest: Digest; size: number } | undefined;

  /** `onBytes` hears the running total (for progress). */
  constructor(private readonly onBytes?: (total: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (e?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(this.bytes);
    done(null, chunk);
  }

  override _flush(done: (e?: Error | null) => void): void {
    this.result = { digest: `sha256:${this.hash.digest('hex')}`, size: this.bytes };
    done();
  }

  /** Digest and size of everything that passed; an error before the stream ended. */
  get value(): { digest: Digest; size: number } {
    if (!this.result) throw new Error('internal: digest asked for before the stream ended');
    return this.result;
  }
}

export function sha256(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Digest and size of all of a stream's bytes, which are read and dropped; the stream's error rejects. */
export async function streamDigest(stream: Readable): Promise<{ digest: Digest; size: number }> {
  const tap = new HashTap();
  await pipeline(stream, tap, new Writable({ write: (_c, _e, cb) => cb() }));
  return tap.value;
}

// Worker thread entry: makes one store layer into a file. Runs in a piscina pool
// (pool.ts), so layers are tarred and compressed on every core.
import { createWriteStream } from 'node:fs';
import { Writable } from 'node:stream';
import type { MessagePort } from 'node:worker_threads';
import { StrataError, type StrataErrorCode } from '../base/errors.js';
import type { Compression } from '../oci/layer-types.js';
import { collectDeadBuffers } from './dead-buffers.js';
import { writeLayer, type LayerDigests } from './layer.js';
import { portWritable } from './port-stream.js';
import type { StoreObject } from './store-walk.js';

export interface LayerTask {
  storeObjects: StoreObject[];
  compression: Compression;
  mtime: number;
  /** File to write the compressed layer into (must not exist); undefined: only hash it. */
  dest: string | undefined;
  /** Instead of a file: stream the bytes to the main thread (port-stream.ts). */
  port?: MessagePort;
}

function discard(): Writable {
  return new Writable({
    write(_chunk, _enc, cb) {
      cb();
    },
  });
}

/** Errors come back as data: a thrown StrataError would lose its code crossing threads. */
export type LayerResult = { ok: true; digests: LayerDigests } | { ok: false; code?: StrataErrorCode; message: string };

export default async function makeLayer(task: LayerTask): Promise<LayerResult> {
  try {
    const digests = await writeLayer(
      { storeObjects: task.storeObjects },
      { compression: task.compression, mtime: task.mtime },
      task.port ? portWritable(task.port) : task.dest ? createWriteStream(task.dest, { flags: 'wx' }) : discard(),
      // Each of the three is done with a chunk at its write callback: a file
      // write has finished, the port has sent a copy, the discard kept nothing.
      { sinkReleases: true, afterChunk: collectDeadBuffers },
    );
    return { ok: true, digests };
  } catch (e) {
    return e instanceof StrataError ? { ok: false, code: e.code, message: e.message } : { ok: false, message: (e as Error).message ?? String(e) };
  }
}

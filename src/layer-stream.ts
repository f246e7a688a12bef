// A planned layer made (again) from the store as a stream, from any byte on:
// what a push uploads and a resumed upload re-sends, and what serve's bridge
// answers a blob GET with. Store layers are made in a worker thread; the root
// layer (small, in memory) here. The worker pool is loaded on first use, so a
// command that makes no layer never pays for it.
import { PassThrough, Transform, type Readable } from 'node:stream';
import type { Compression } from '../layers/compress.js';
import type { LayerDigests } from '../layers/layer.js';
import type { PlannedLayer } from './write-image.js';

let poolModule: Promise<typeof import('../layers/pool.js')> | undefined;

/** Drops the first `n` bytes. */
function skipBytes(n: number): Transform {
  let left = n;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (left >= chunk.length) {
        left -= chunk.length;
        return cb();
      }
      const out = chunk.subarray(left);
      left = 0;
      cb(null, out);
    },
  });
}

/** The layer's bytes from `skip` on; `done` gives its digests once all are made. Destroying the stream stops the making. */
export function streamLayer(p: PlannedLayer, opts: { compression: Compression; mtime: number }, skip = 0): { stream: Readable; done: Promise<LayerDigests> } {
  const out = new PassThrough();
  let done: Promise<LayerDigests>;
  if (p.input.extra?.length) {
    done = import('../layers/layer.js').then(({ writeLayer }) => writeLayer(p.input, opts, out));
    done.catch((e: unknown) => out.destroy(e as Error));
    return { stream: skip ? out.pipe(skipBytes(skip)) : out, done };
  }
  done = (poolModule ??= import('../layers/pool.js')).then(({ streamLayerFromWorker }) => {
    const made = streamLayerFromWorker({ storeObjects: p.input.storeObjects, ...opts }, skip);
    made.stream.on('error', (e) => out.destroy(e));
    out.on('close', () => made.stream.destroy());
    made.stream.pipe(out);
    return made.done;
  });
  done.catch((e: unknown) => out.destroy(e as Error));
  return { stream: out, done };
}

/** Closes the worker pool if a layer was streamed (a command's end; a server keeps it). */
export async function closeLayerPool(): Promise<void> {
  if (poolModule) await (await poolModule).closePool();
}

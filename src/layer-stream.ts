// A planned layer made (again) from the store as a stream, from any byte on:
// what a push uploads and a resumed upload re-sends, and what serve's bridge
// answers a blob GET with. Store layers are made in a worker thread; the root
// layer (small, in memory) here. The worker pool is loaded on first use, so a
// command that makes no layer never pays for it.
import { PassThrough, type Readable } from 'node:stream';
import { sliceStream } from '../base/byte-range.js';
import type { Compression } from '../oci/layer-types.js';
import type { LayerDigests } from '../layers/layer.js';
import type { PlannedLayer } from './image-plan.js';

let poolModule: Promise<typeof import('../layers/pool.js')> | undefined;

/** The worker pool's module, loaded once on first use; closeLayerPool closes what it started. */
export function layerPool(): Promise<typeof import('../layers/pool.js')> {
  return (poolModule ??= import('../layers/pool.js'));
}

/** The layer's bytes from `skip` on; `done` gives its digests once all are made. Destroying the stream stops the making. */
export function streamLayer(p: PlannedLayer, opts: { compression: Compression; mtime: number }, skip = 0): { stream: Readable; done: Promise<LayerDigests> } {
  const out = new PassThrough();
  let done: Promise<LayerDigests>;
  if (p.input.extra?.length) {
    done = import('../layers/layer.js').then(({ writeLayer }) => writeLayer(p.input, opts, out));
    done.catch((e: unknown) => out.destroy(e as Error));
    return { stream: skip ? sliceStream(out, skip) : out, done };
  }
  done = layerPool().then(({ streamLayerFromWorker }) => {
    const made = streamLayerFromWorker({ storeObjects: p.input.storeObjects, ...opts }, skip);
    made.stream.on('error', (e) => out.destroy(e));
    out.on('close', () => made.stream.destroy());
    made.stream.pipe(out);
    return made.done;
  });
  done.catch((e: unknown) => out.destroy(e as Error));
  return { stream: out, done };
}

/** True once this process has started the worker pool: a store layer was made. */
export function poolStarted(): boolean {
  return poolModule !== undefined;
}

/** Closes the worker pool if a layer was streamed (a command's end; a server keeps it). */
export async function closeLayerPool(): Promise<void> {
  if (poolModule) await (await poolModule).closePool();
}

// A pool of worker threads making layers (piscina: maintained by Node.js core
// contributors, handles queueing, back-pressure and worker failure). One thread
// per core; the pool starts on first use and is closed by close().
import { availableParallelism } from 'node:os';
import { MessageChannel } from 'node:worker_threads';
import type { Readable } from 'node:stream';
import { Piscina } from 'piscina';
import type { LayerDigests } from './layer.js';
import type { LayerResult, LayerTask } from './worker.js';
import { portReadable } from './port-stream.js';
import { StrataError } from '../base/errors.js';
import { workerEntry } from '../base/worker-entry.js';

let pool: Piscina | undefined;
const YOUNG_GENERATION_MB = Number(process.env.STRATA_YOUNG_MB ?? 8);

export function layerThreads(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.STRATA_THREADS);
  return Number.isInteger(n) && n > 0 ? n : availableParallelism();
}

function thePool(): Piscina {
  const threads = layerThreads();
  const entry = workerEntry('./worker.js', import.meta.url);
  return (pool ??= new Piscina({
    filename: entry.url.href,
    ...(entry.execArgv ? { execArgv: entry.execArgv } : {}),
    minThreads: 1,
    maxThreads: threads,
    idleTimeout: 1000,
    // V8 sizes the young generation by the machine's memory (tens of MB per
    // thread here); layers stream through small buffers and need little of it.
    resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
  }));
}

function unwrap(r: LayerResult): LayerDigests {
  if (r.ok) return r.digests;
  throw r.code ? new StrataError(r.code, r.message) : new Error(r.message);
}

export async function makeLayerInWorker(task: LayerTask): Promise<LayerDigests> {
  return unwrap((await thePool().run(task)) as LayerResult);
}

/**
 * A layer made in a worker and streamed back, from byte `skip` on (an upload
 * resumed at an offset); `done` gives its digests once all bytes are made.
 * Destroying the stream early stops the worker's task.
 */
export function streamLayerFromWorker(task: Omit<LayerTask, 'dest' | 'port'>, skip = 0): { stream: Readable; done: Promise<LayerDigests> } {
  const { port1, port2 } = new MessageChannel();
  const abort = new AbortController();
  const stream = portReadable(port1, skip, () => abort.abort());
  const done = thePool()
    .run({ ...task, dest: undefined, port: port2 } satisfies LayerTask, { transferList: [port2], signal: abort.signal })
    .then((r) => unwrap(r as LayerResult));
  done.catch((e: unknown) => stream.destroy(e instanceof Error ? e : new Error(String(e))));
  return { stream, done };
}

export async function closePool(): Promise<void> {
  const p = pool;
  pool = undefined;
  await p?.destroy();
}

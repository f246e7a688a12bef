// A pool of worker threads making layers (piscina: maintained by Node.js core
// contributors, handles queueing, back-pressure and worker failure). One thread
// per core; the pool starts on first use and is closed by close().
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { LayerDigests } from './layer.js';
import type { LayerResult, LayerTask } from './worker.js';
import { StrataError } from '../src/errors.js';

let pool: Piscina | undefined;
const YOUNG_GENERATION_MB = Number(process.env.STRATA_YOUNG_MB ?? 8);

export function layerThreads(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.STRATA_THREADS);
  return Number.isInteger(n) && n > 0 ? n : availableParallelism();
}

export async function makeLayerInWorker(task: LayerTask): Promise<LayerDigests> {
  const threads = layerThreads();
  pool ??= new Piscina({
    filename: new URL('./worker.js', import.meta.url).href,
    minThreads: 1,
    maxThreads: threads,
    idleTimeout: 1000,
    // V8 sizes the young generation by the machine's memory (tens of MB per
    // thread here); layers stream through small buffers and need little of it.
    resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
  });
  const r = (await pool.run(task)) as LayerResult;
  if (r.ok) return r.digests;
  throw r.code ? new StrataError(r.code, r.message) : new Error(r.message);
}

export async function closePool(): Promise<void> {
  const p = pool;
  pool = undefined;
  await p?.destroy();
}

// A worker thread makes a layer with few JavaScript objects and many large
// buffers (the compressors' output, a file's reads, a layer's blocks). V8 frees
// a dead buffer's memory only in a garbage collection, and with so few objects
// the only trigger left is external memory grown by about 64 MB since the last
// full collection: each worker would sit on up to that much dead memory, which
// was most of the 200 MB budget on two cores (docs/benchmarks/throughput.md).
// So a worker collects once its external memory passes a lower bound (16 MB): a
// few collections of a ~20 MB heap per closure.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** External memory (buffers) at which a worker collects. */
const BOUND = 16 << 20;

type Gc = (options: { type: 'major' | 'minor' }) => void;
let gc: Gc | undefined;

/** Collects garbage when this thread's buffers pass the bound; cheap when they do not. */
export function collectDeadBuffers(): void {
  if (getHeapStatistics().external_memory < BOUND) return;
  if (!gc) {
    // The flag is read when a context is made: a fresh one carries gc().
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as Gc;
  }
  gc({ type: 'major' });
}

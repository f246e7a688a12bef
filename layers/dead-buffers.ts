// A worker thread makes a layer with few JavaScript objects and many large
// buffers (the compressors' output, a file's reads, a layer's blocks). V8 frees
// a dead buffer's memory only in a garbage collection, and with so few objects
// the only trigger left is external memory grown by about 64 MB since the last
// full collection: each worker would sit on up to that much dead memory, which
// was most of the 200 MB budget on two cores (docs/benchmarks/throughput.md).
// So a worker collects once its external memory has grown by 16 MB since the
// last collection: a few collections of a ~20 MB heap per closure. (Growth,
// not a level: what stays alive, like the WebAssembly zstd's memory, would
// otherwise set off a collection after every chunk.)
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Growth of external memory (buffers) since the last collection at which a worker collects. */
const GROWTH = 16 << 20;

type Gc = (options: { type: 'major' | 'minor' }) => void;
let gc: Gc | undefined;
/** External memory that outlived the last collection (0 before the first). */
let base = 0;
/** The last collection's dead buffers are freed by a background sweep: read what outlived it one call later. */
let sweeping = false;

/** Collects garbage when this thread's buffers have grown by GROWTH; cheap when they have not. */
export function collectDeadBuffers(): void {
  const now = getHeapStatistics().external_memory;
  if (sweeping) {
    sweeping = false;
    base = now;
  }
  if (now - base < GROWTH) return;
  if (!gc) {
    // The flag is read when a context is made: a fresh one carries gc().
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as Gc;
  }
  gc({ type: 'major' });
  sweeping = true;
}

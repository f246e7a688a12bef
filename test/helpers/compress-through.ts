// Runs bytes through a compressor the way a layer's tar reaches it: written in
// chunks whose sizes a test picks, honouring back-pressure, the output gathered.
import { once } from 'node:events';
import { Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Writes `input` into `comp` in chunks of `size` bytes (or sizes `size()` picks); resolves with all it wrote. */
export async function compressThrough(comp: Transform, input: Buffer, size: number | (() => number) = input.length): Promise<Buffer> {
  const out: Buffer[] = [];
  const done = pipeline(
    comp,
    new Writable({
      write(chunk: Buffer, _e, cb) {
        out.push(chunk);
        cb();
      },
    }),
  );
  for (let off = 0; off < input.length;) {
    const n = Math.max(1, typeof size === 'number' ? size : size());
    if (!comp.write(input.subarray(off, off + n))) await once(comp, 'drain');
    off += n;
  }
  comp.end();
  await done;
  return Buffer.concat(out);
}

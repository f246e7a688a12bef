// Bytes [start, end) of a stream that starts at byte 0: a range read of a blob
// that can only be made or read from its beginning (a layer made from the
// store, a layer made in a worker). What comes before `start` is dropped; at
// `end` the output ends and the source is destroyed, so its producer does
// not run on for bytes nobody reads. The source's error fails the output, and
// a reader that goes away stops the source too. `end` is exclusive, as the
// image model's ranges are; an HTTP Range's last byte is end - 1.
import { Transform, type Readable } from 'node:stream';

/** Bytes `start` (inclusive) to `end` (exclusive; default: to the end) of `source`. */
export function sliceStream(source: Readable, start: number, end = Infinity): Readable {
  let pos = 0;
  let ended = false;
  const out = new Transform({
    transform(chunk: Buffer, _e, cb) {
      if (ended) return cb();
      const from = Math.max(start - pos, 0);
      const to = Math.min(end - pos, chunk.length);
      pos += chunk.length;
      if (to > from) this.push(from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to));
      if (pos >= end) {
        ended = true;
        this.push(null);
        source.unpipe(this);
        source.destroy();
      }
      cb();
    },
  });
  source.on('error', (e) => out.destroy(e));
  out.on('close', () => source.destroy());
  return source.pipe(out);
}

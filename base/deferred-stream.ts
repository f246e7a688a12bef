// A stream that exists before its source does: the caller gets it at once and
// the bytes come from a source opened asynchronously (after a request, a check).
// An error opening or reading the source fails the stream; a reader that goes
// away stops the source.
import { PassThrough, type Readable } from 'node:stream';

export function deferredStream(open: () => Promise<Readable>): Readable {
  const out = new PassThrough();
  open().then(
    (s) => {
      s.on('error', (e) => out.destroy(e));
      out.on('close', () => s.destroy());
      s.pipe(out);
    },
    (e: unknown) => out.destroy(e as Error),
  );
  return out;
}

// Streams bytes from a worker thread to the main thread over a MessagePort with
// credit-based back-pressure: the worker sends while fewer than WINDOW bytes are
// unacknowledged, and the main thread acknowledges what its reader consumed. So
// a layer made in a worker can go straight into an HTTP upload, never to disk,
// with bounded memory however slow the registry is.
import { Readable, Writable } from 'node:stream';
import type { MessagePort } from 'node:worker_threads';

const WINDOW = 4 * 2 ** 20;

type ToMain = { chunk: Uint8Array } | { end: true };
type ToWorker = { ack: number };

/** Worker side: a Writable whose bytes reach the main thread's portReadable(). */
export function portWritable(port: MessagePort): Writable {
  let unacked = 0;
  let waiting: (() => void) | undefined;
  port.on('message', (m: ToWorker) => {
    unacked -= m.ack;
    if (waiting && unacked < WINDOW) {
      const w = waiting;
      waiting = undefined;
      w();
    }
  });
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      // A copy in a fresh ArrayBuffer can be transferred, not cloned again.
      const copy = new Uint8Array(chunk);
      unacked += copy.length;
      port.postMessage({ chunk: copy } satisfies ToMain, [copy.buffer]);
      if (unacked < WINDOW) cb();
      else waiting = () => cb();
    },
    final(cb) {
      port.postMessage({ end: true } satisfies ToMain);
      cb();
    },
    destroy(err, cb) {
      port.close();
      cb(err);
    },
  });
}

/**
 * Main side: the bytes a worker writes into portWritable(), from `skip` bytes on
 * (a resumed upload needs only the rest; the worker still makes them all, in order).
 */
export function portReadable(port: MessagePort, skip = 0, onClose?: () => void): Readable {
  let toSkip = skip;
  let owed = 0;
  let ended = false;
  const readable = new Readable({
    read() {
      if (owed > 0) {
        port.postMessage({ ack: owed } satisfies ToWorker);
        owed = 0;
      }
    },
    destroy(err, cb) {
      port.close();
      if (!ended) onClose?.();
      cb(err);
    },
  });
  port.on('message', (m: ToMain) => {
    if ('end' in m) {
      ended = true;
      readable.push(null);
      port.close();
      return;
    }
    let buf = Buffer.from(m.chunk.buffer, m.chunk.byteOffset, m.chunk.byteLength);
    if (toSkip > 0) {
      const drop = Math.min(toSkip, buf.length);
      toSkip -= drop;
      buf = buf.subarray(drop);
    }
    const more = buf.length === 0 || readable.push(buf);
    if (more) port.postMessage({ ack: m.chunk.byteLength } satisfies ToWorker);
    else owed += m.chunk.byteLength;
  });
  return readable;
}

// GET, HEAD and DELETE /v2/<name>/blobs/<digest>. Bytes are streamed from an
// open file (or the bridge), whole or one Range, never held in memory.
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { bridged, type Deps, type Endpoint, type Handler } from './context.js';
import { blobUnknown, digestInvalid } from './errors.js';
import { isBlobDigest, type BlobDigest, type RepoName, type RouteOf } from './names.js';
import type { BlobReader } from './storage.js';

/** A byte range of a blob as HTTP writes it: both ends inclusive (image/model.ts's ByteRange ends before `end`). */
export interface HttpRange {
  start: number;
  end: number;
}

/**
 * One range of a Range header (RFC 9110 §14.1.2): "bytes=a-b", "bytes=a-" or
 * "bytes=-n". undefined means "send it all": no header, several ranges, or a
 * header that cannot be read, which the RFC says to ignore.
 */
export function parseRange(header: string | undefined, size: number): HttpRange | 'unsatisfiable' | undefined {
  const m = header?.trim().match(/^bytes=(\d*)-(\d*)$/);
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

async function reader(deps: Deps, name: RepoName, digest: BlobDigest): Promise<BlobReader | undefined> {
  const bridge = bridged(deps, name);
  if (!bridge) return deps.store.openBlob(name, digest);
  const blob = await bridge.blob(name, digest);
  if (!blob) return undefined;
  // The server's ranges are inclusive (as HTTP's), the model's end exclusive.
  return { size: blob.descriptor.size, open: (start, end) => blob.open({ start, end: end + 1 }), close: async () => undefined };
}

/**
 * A Node stream as a web ReadableStream, chunks passed on as they are.
 * (Readable.toWeb copies every chunk, "to detach it from the pool": a 64 KiB
 * allocation and memcpy per chunk, and the garbage makes V8 run mark-compacts.)
 * File streams allocate a fresh buffer per read, so nothing needs detaching.
 */
function webStream(node: Readable): ReadableStream {
  const chunks = node[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { value, done } = await chunks.next();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel() {
        node.destroy();
      },
    },
    { highWaterMark: 0 },
  );
}

export function digestParam(digest: string): BlobDigest {
  if (!isBlobDigest(digest)) throw digestInvalid(`${digest.slice(0, 80)} is not a sha256 digest`, digest.slice(0, 80));
  return digest;
}

const read =
  (head: boolean): Handler<RouteOf<'blob'>> =>
  async (c, route, deps) => {
    const digest = digestParam(route.digest);
    const blob = await reader(deps, route.name, digest);
    if (!blob) throw blobUnknown(digest);
    const headers: Record<string, string> = {
      'Docker-Content-Digest': digest,
      'Accept-Ranges': 'bytes',
      ETag: `"${digest}"`,
      'Content-Type': 'application/octet-stream',
    };
    if (blob.redirect && !head) {
      await blob.close();
      // The client sends its Range again to the upstream, which answers it.
      return c.body(null, 307, { Location: blob.redirect, 'Docker-Content-Digest': digest, 'Content-Length': '0' });
    }
    const range = parseRange(c.req.header('range'), blob.size);
    if (range === 'unsatisfiable') {
      await blob.close();
      return c.body(null, 416, { 'Content-Range': `bytes */${blob.size}` });
    }
    const { start, end } = range ?? { start: 0, end: blob.size - 1 };
    const status = range ? 206 : 200;
    headers['Content-Length'] = String(end - start + 1);
    if (range) headers['Content-Range'] = `bytes ${start}-${end}/${blob.size}`;
    if (head || blob.size === 0) {
      await blob.close();
      return c.body(null, status, headers);
    }
    // On @hono/node-server, straight into the Node response: no web stream, no promise per chunk.
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (outgoing && blob.sendTo) {
      outgoing.writeHead(status, { ...headers, 'Docker-Distribution-API-Version': 'registry/2.0' });
      blob.sendTo(outgoing, start, end).catch((e: Error) => outgoing.destroy(e));
      return RESPONSE_ALREADY_SENT;
    }
    return c.body(webStream(blob.open(start, end)), status, headers);
  };

export const blobEndpoint: Endpoint<RouteOf<'blob'>> = {
  GET: read(false),
  HEAD: read(true),
  DELETE: async (c, route, deps) => {
    const digest = digestParam(route.digest);
    if (!(await deps.store.unlinkBlob(route.name, digest))) throw blobUnknown(digest);
    return c.body(null, 202, { 'Content-Length': '0' });
  },
};

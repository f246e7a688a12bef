// The upload endpoints: POST /v2/<name>/blobs/uploads/ (start, monolithic
// with ?digest=, or cross-repository ?mount=&from=), and PATCH, PUT, GET and
// DELETE on the session URL it hands out.
import type { Context } from 'hono';
import { requestBody, type Endpoint, type Env } from './context.js';
import { RegistryError } from './errors.js';
import { isBlobDigest, isRepoName, type BlobDigest, type RepoName, type RouteOf } from './names.js';
import { progressHeader, type ChunkRange } from './storage.js';

function sessionUrl(name: RepoName, id: string): string {
  return `/v2/${name}/blobs/uploads/${id}`;
}

function created(c: Context<Env>, name: RepoName, digest: BlobDigest): Response {
  return c.body(null, 201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest, 'Content-Length': '0' });
}

function accepted(c: Context<Env>, name: RepoName, id: string, size: number, status: 202 | 204 = 202): Response {
  return c.body(null, status, { Location: sessionUrl(name, id), ...progressHeader(size), 'Content-Length': '0', 'Docker-Upload-UUID': id });
}

/** Content-Range of a chunk: "a-b" as the spec writes it (also "bytes a-b/total", as HTTP does). */
function chunkRange(c: Context<Env>): ChunkRange | undefined {
  const header = c.req.header('content-range');
  if (header === undefined) return undefined;
  const m = header.trim().match(/^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/);
  if (!m || Number(m[2]) < Number(m[1])) {
    throw new RegistryError(416, 'BLOB_UPLOAD_INVALID', `Content-Range ${JSON.stringify(header.slice(0, 80))} is not <start>-<end>`);
  }
  return { start: Number(m[1]), end: Number(m[2]) };
}

/** Runs a step of session `id`; a 416 (a chunk out of order) also says where the session is. */
async function atSession<T>(name: RepoName, id: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    if (e instanceof RegistryError && e.status === 416) e.headers.Location = sessionUrl(name, id);
    throw e;
  }
}

export const uploadStartEndpoint: Endpoint<RouteOf<'upload-start'>> = {
  POST: async (c, { name }, { store }) => {
    const mount = c.req.query('mount');
    const from = c.req.query('from');
    // A mount that cannot be done (bad arguments, a blob `from` lacks) is an ordinary upload, as the spec says.
    if (mount && from && isBlobDigest(mount) && isRepoName(from) && (await store.mount(name, from, mount))) return created(c, name, mount);
    const id = await store.uploads.start(name);
    const digests = c.req.queries('digest');
    if (digests?.length) {
      const digest = await store.uploads.complete(name, id, digests, requestBody(c));
      return created(c, name, digest);
    }
    return accepted(c, name, id, 0);
  },
};

export const uploadEndpoint: Endpoint<RouteOf<'upload'>> = {
  PATCH: async (c, { name, id }, { store }) => {
    const body = requestBody(c);
    const now = await atSession(name, id, async () =>
      body ? store.uploads.append(name, id, body, chunkRange(c)) : { size: await store.uploads.size(name, id), id },
    );
    return accepted(c, name, now.id, now.size);
  },
  PUT: async (c, { name, id }, { store }) => {
    const digest = await atSession(name, id, () => store.uploads.complete(name, id, c.req.queries('digest') ?? [], requestBody(c), chunkRange(c)));
    return created(c, name, digest);
  },
  GET: async (c, { name, id }, { store }) => accepted(c, name, id, await store.uploads.size(name, id), 204),
  DELETE: async (c, { name, id }, { store }) => {
    await store.uploads.cancel(name, id);
    return c.body(null, 204);
  },
};

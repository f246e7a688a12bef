// The blob half of the distribution spec, client side: existence checks,
// cross-repository mounts, downloads, and uploads — monolithic for small blobs
// whose digest is known, streamed otherwise (a layer made from the store is
// hashed as it is sent; its digest is known only at the end), chunked when the
// registry asks for a minimum chunk length. A broken upload resumes from the
// offset the registry reports; the bytes from there are read again (from a
// file, or made again from the store: layers are deterministic).
import { Readable, Transform } from 'node:stream';
import { StrataError } from '../base/errors.js';
import { sha256 } from '../base/hash-tap.js';
import { shortDigest, type Digest } from '../base/digest.js';
import { backoffDelay, DEFAULT_RETRY, errorReason, isRetryableError, sleep } from './retry.js';
import { RegistryHttpError, type RegistrySession } from './session.js';
import { discard, type RegistryResponse } from './http.js';

export interface Repository {
  session: RegistrySession;
  /** e.g. org/app */
  name: string;
}

export function pullScope(repo: string): string {
  return `repository:${repo}:pull`;
}
export function pushScope(repo: string): string {
  return `repository:${repo}:pull,push`;
}

/** The size of blob `digest` when the repository has it. */
export async function blobSize(repo: Repository, digest: Digest, scopes = [pushScope(repo.name)]): Promise<number | undefined> {
  const res = await repo.session.request({
    method: 'HEAD',
    path: `/v2/${repo.name}/blobs/${digest}`,
    scopes,
    step: `check of blob ${shortDigest(digest)} in ${repo.name}`,
    expect: [200, 404],
    deadline: true,
  });
  await discard(res, repo.session.timeoutMs);
  if (res.status !== 200) return undefined;
  const len = Number(res.headers['content-length']);
  return Number.isSafeInteger(len) ? len : -1;
}

/** Streams blob `digest`; the caller checks the bytes against the digest. */
export async function getBlob(repo: Repository, digest: Digest): Promise<Readable> {
  const res = await repo.session.request({
    method: 'GET',
    path: `/v2/${repo.name}/blobs/${digest}`,
    scopes: [pullScope(repo.name)],
    step: `download of blob ${shortDigest(digest)} from ${repo.name}`,
    expect: [200],
  });
  return res.body;
}

/** The bytes of a blob from `offset` on, and once they have all been read, the blob's digest and size. */
export interface BlobBytes {
  stream: Readable;
  done: Promise<{ digest: Digest; size: number }>;
}

export interface UploadSource {
  /** Known ahead (a file, a cached layer) or only once the bytes are made (undefined). */
  digest?: Digest;
  size?: number;
  open(offset: number): BlobBytes;
}

/** Bytes in memory (a config, a signature) as an upload source. */
export function bufferSource(bytes: Buffer, digest: Digest = sha256(bytes)): UploadSource {
  return {
    digest,
    size: bytes.length,
    open: (offset) => ({ stream: Readable.from([bytes.subarray(offset)]), done: Promise.resolve({ digest, size: bytes.length }) }),
  };
}

export interface UploadOptions {
  /** Repositories of the same registry that may hold the blob (tried as mounts). */
  mountFrom?: string[];
  /** Bytes sent so far, for progress bars. */
  onProgress?: (bytes: number) => void;
  /**
   * Bytes per PATCH (default DEFAULT_CHUNK; when given, small blobs are chunked too).
   * 0: the whole blob in one streamed PATCH, unless the registry asks for chunks.
   */
  chunkSize?: number;
  /** Blobs up to this size with a known digest go in one PUT. */
  monolithicMax?: number;
}

export interface Uploaded {
  digest: Digest;
  size: number;
  action: 'uploaded' | 'mounted';
  /** Bytes sent, resumed attempts included (the fault tests compare it to the size). */
  sent: number;
}

const MONOLITHIC_MAX = 16 * 2 ** 20;

/**
 * Larger blobs go in PATCHes of this size, each with Content-Length. A cut
 * inside one costs that chunk only: distribution drops a chunk that arrived
 * short and still knows where the upload stands, while a cut inside one
 * streamed PATCH leaves bytes it cannot account for, and the upload is lost
 * (measured with distribution 2.8; see test/integration/push.test.ts). A chunk
 * made from the store is held in memory until sent: 8 MiB per upload.
 */
export const DEFAULT_CHUNK = 8 * 2 ** 20;

function locationOf(res: RegistryResponse, step: string, registry: string): string {
  const loc = res.headers.location;
  if (!loc) throw new StrataError('registry', `${step} failed: registry ${registry} answered ${res.status} without a Location`);
  return new URL(loc, res.url).toString();
}

function withDigest(location: string, digest: Digest): string {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.toString();
}

/** Counts the bytes that pass, for progress and for the bytes-sent total. */
function counter(onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
}

/**
 * Registries write the received range as "0-N" (inclusive) or "bytes=0-N".
 * distribution writes "0-0" for an empty upload too, so "0-0" reads as nothing
 * received: re-sending one byte is harmless, skipping one that never came is not.
 */
export function parseRangeEnd(range: string | undefined): number | undefined {
  const m = range?.match(/^(?:bytes=)?0-(\d+)$/);
  if (!m) return undefined;
  return m[1] === '0' ? 0 : Number(m[1]) + 1;
}

/**
 * Uploads a blob to `repo` unless it is there already or can be mounted.
 * Returns what was done; an upload the registry reports under another digest is an error.
 */
export async function uploadBlob(repo: Repository, src: UploadSource, opts: UploadOptions = {}): Promise<Uploaded> {
  const { session, name } = repo;
  const scopes = [pushScope(name), ...(opts.mountFrom ?? []).map(pullScope)];
  const label = src.digest ? shortDigest(src.digest) : 'layer';
  const step = `upload of blob ${label} to ${name}`;
  let sent = 0;
  const tally = (n: number) => {
    sent += n;
    opts.onProgress?.(sent);
  };

  // A mount answers 201 when it worked, else 202 with an ordinary upload
  // session: kept for the last candidate, cancelled before trying the next.
  const start = async (): Promise<{ location: string; minChunk: number } | 'mounted'> => {
    const candidates = src.digest ? [...new Set(opts.mountFrom ?? [])].filter((f) => f !== name) : [];
    for (const [i, from] of candidates.entries()) {
      const res = await session.request({
        method: 'POST',
        path: `/v2/${name}/blobs/uploads/?mount=${encodeURIComponent(src.digest!)}&from=${encodeURIComponent(from)}`,
        scopes,
        step: `mount of blob ${label} from ${from} into ${name}`,
        expect: [201, 202],
        deadline: true,
      });
      await discard(res, session.timeoutMs);
      if (res.status === 201) return 'mounted';
      const location = locationOf(res, step, session.registry);
      if (i === candidates.length - 1) return { location, minChunk: Number(res.headers['oci-chunk-min-length'] ?? 0) || 0 };
      const cancel = await session.request({
        method: 'DELETE',
        path: location,
        scopes,
        step: `${step} (cancel)`,
        expect: [200, 202, 204, 404],
        deadline: true,
      });
      await discard(cancel, session.timeoutMs);
    }
    const res = await session.request({ method: 'POST', path: `/v2/${name}/blobs/uploads/`, scopes, step, expect: [202], deadline: true });
    await discard(res, session.timeoutMs);
    return { location: locationOf(res, step, session.registry), minChunk: Number(res.headers['oci-chunk-min-length'] ?? 0) || 0 };
  };

  const finish = async (location: string, digest: Digest, body?: () => Readable, size?: number): Promise<void> => {
    let res: RegistryResponse;
    try {
      res = await session.request({
        method: 'PUT',
        path: withDigest(location, digest),
        headers: body ? { 'content-type': 'application/octet-stream', 'content-length': String(size) } : { 'content-length': '0' },
        body,
        scopes,
        step,
        expect: [201],
        retry: body === undefined,
        // No total deadline: committing a large upload can take the registry minutes (a copy within S3).
      });
    } catch (e) {
      // The answer to a PUT that worked can be lost; the retry then finds no
      // upload (404). Whether the blob landed is for a HEAD to say.
      if (e instanceof RegistryHttpError && e.status === 404 && (await blobSize(repo, digest, scopes)) !== undefined) return;
      throw e;
    }
    await discard(res, session.timeoutMs);
    const answered = res.headers['docker-content-digest'];
    if (answered && answered !== digest)
      throw new StrataError('registry', `${step} failed: registry ${session.registry} stored it as ${answered}, not ${digest}`);
  };

  const policy = session.opts.retry ?? DEFAULT_RETRY;
  for (let attempt = 1; ; attempt++) {
    const started = await start();
    if (started === 'mounted') return { digest: src.digest!, size: src.size ?? -1, action: 'mounted', sent: 0 };
    let { location } = started;
    try {
      if (src.digest && src.size !== undefined && src.size <= (opts.monolithicMax ?? MONOLITHIC_MAX) && !opts.chunkSize && !started.minChunk) {
        const { digest, size } = src;
        await finish(location, digest, () => src.open(0).stream.pipe(counter(tally)), size);
        return { digest, size, action: 'uploaded', sent };
      }
      const chunk = opts.chunkSize === 0 && !started.minChunk ? 0 : Math.max(opts.chunkSize || DEFAULT_CHUNK, started.minChunk);
      const result = chunk > 0 ? await sendChunked(repo, src, location, chunk, step, tally) : await sendStreamed(repo, src, location, step, tally);
      location = result.location;
      await finish(location, result.digest);
      return { digest: result.digest, size: result.size, action: 'uploaded', sent };
    } catch (e) {
      // The upload session itself is lost (or the monolithic PUT broke): start over.
      if (!(transient(e) || e instanceof UploadLost) || attempt >= policy.attempts)
        throw e instanceof StrataError ? e : new StrataError('registry', `${step} failed: ${errorReason(e)}`, { cause: e });
      const delayMs = backoffDelay(policy, attempt);
      session.opts.progress?.emit({ type: 'retry', step, attempt, reason: errorReason(e), delayMs });
      await sleep(delayMs);
    }
  }
}

class UploadLost extends Error {}

/** A dropped connection or an answer worth another try (408, 429, 5xx). */
function transient(e: unknown): boolean {
  return isRetryableError(e) || (e instanceof RegistryHttpError && e.retryable);
}

/** Where the registry's copy of an upload ends, and the Location to continue at. */
async function uploadStatus(repo: Repository, location: string, step: string): Promise<{ offset: number; location: string }> {
  const res = await repo.session.request({
    method: 'GET',
    path: location,
    scopes: [pushScope(repo.name)],
    step: `${step} (status)`,
    expect: [204, 404],
    deadline: true,
  });
  await discard(res, repo.session.timeoutMs);
  if (res.status === 404) throw new UploadLost(`the registry forgot the upload`);
  return { offset: parseRangeEnd(res.headers.range) ?? 0, location: res.headers.location ? new URL(res.headers.location, res.url).toString() : location };
}

interface Sent {
  location: string;
  digest: Digest;
  size: number;
}

/** One PATCH with the whole blob; after a break, a PATCH with the rest from the registry's offset. */
async function sendStreamed(repo: Repository, src: UploadSource, location: string, step: string, tally: (n: number) => void): Promise<Sent> {
  const policy = repo.session.opts.retry ?? DEFAULT_RETRY;
  let offset = 0;
  for (let attempt = 1; ; attempt++) {
    const bytes = src.open(offset);
    try {
      const res = await repo.session.request({
        method: 'PATCH',
        path: location,
        headers: { 'content-type': 'application/octet-stream' },
        body: () => bytes.stream.pipe(counter(tally)),
        scopes: [pushScope(repo.name)],
        step,
        expect: [202],
        retry: false,
      });
      await discard(res, repo.session.timeoutMs);
      const { digest, size } = await bytes.done;
      return { location: locationOf(res, step, repo.session.registry), digest, size };
    } catch (e) {
      bytes.stream.destroy();
      bytes.done.catch(() => undefined);
      if (!transient(e) || attempt >= policy.attempts) throw e;
      const delayMs = backoffDelay(policy, attempt);
      repo.session.opts.progress?.emit({ type: 'retry', step, attempt, reason: errorReason(e), delayMs });
      await sleep(delayMs);
      ({ offset, location } = await uploadStatus(repo, location, step));
    }
  }
}

/** Reads up to `n` bytes from an async iterator of buffers, keeping the rest for next time. */
class ChunkReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private ended = false;
  private readonly it: AsyncIterator<Buffer>;
  constructor(stream: Readable) {
    this.it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }
  async read(n: number): Promise<Buffer | undefined> {
    while (this.pendingBytes < n && !this.ended) {
      const r = await this.it.next();
      if (r.done) this.ended = true;
      else {
        this.pending.push(r.value);
        this.pendingBytes += r.value.length;
      }
    }
    if (this.pendingBytes === 0) return undefined;
    const all = Buffer.concat(this.pending);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.pending = rest.length ? [rest] : [];
    this.pendingBytes = rest.length;
    return out;
  }
}

/** PATCHes of `chunk` bytes with Content-Range; a chunk that fails is sent again from the registry's offset. */
async function sendChunked(repo: Repository, src: UploadSource, location: string, chunk: number, step: string, tally: (n: number) => void): Promise<Sent> {
  const policy = repo.session.opts.retry ?? DEFAULT_RETRY;
  let offset = 0;
  let failures = 0;
  for (;;) {
    const bytes = src.open(offset);
    const reader = new ChunkReader(bytes.stream);
    try {
      for (;;) {
        const buf = await reader.read(chunk);
        if (!buf) break;
        const res = await repo.session.request({
          method: 'PATCH',
          path: location,
          headers: {
            'content-type': 'application/octet-stream',
            'content-range': `${offset}-${offset + buf.length - 1}`,
            'content-length': String(buf.length),
          },
          body: () => Readable.from([buf]).pipe(counter(tally)),
          scopes: [pushScope(repo.name)],
          step,
          expect: [202],
          retry: false,
        });
        await discard(res, repo.session.timeoutMs);
        location = locationOf(res, step, repo.session.registry);
        offset += buf.length;
      }
      const { digest, size } = await bytes.done;
      return { location, digest, size };
    } catch (e) {
      bytes.stream.destroy();
      bytes.done.catch(() => undefined);
      if (!transient(e) || ++failures >= policy.attempts) throw e;
      const delayMs = backoffDelay(policy, failures);
      repo.session.opts.progress?.emit({ type: 'retry', step, attempt: failures, reason: errorReason(e), delayMs });
      await sleep(delayMs);
      ({ offset, location } = await uploadStatus(repo, location, step));
    }
  }
}

// Registry storage: `strata serve --storage docker://REGISTRY/PREFIX` keeps
// nothing of its own. Blobs, manifests, tags and upload sessions live in an
// upstream OCI registry under PREFIX, reached through Strata's registry client
// (its credentials, retries and origin rules), so replicas are disposable and
// any number of them can serve one registry. Repository `app` of serve is
// `PREFIX/app` upstream. What the upstream cannot do, serve does on top: the
// spec's referrers API over the fallback tag schema, tag lists in lexical order
// paged with n and last (listing-routes.ts), and chunks checked against where
// the session stands (the offset travels in the signed session id).
import { createHash } from 'node:crypto';
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { StrataError } from '../../base/errors.js';
import type { Digest } from '../../base/digest.js';
import type { Descriptor } from '../../oci/types.js';
import { blobSize, pullScope, pushScope, type Repository } from '../blobs.js';
import { discard, readBounded, type RegistryResponse } from '../http.js';
import { getManifestBytes, headManifest, MANIFEST_ACCEPT, putManifest } from '../manifests.js';
import { mediaType as mediaTypeSchema } from '../../oci/schema.js';
import { limiter } from '../push.js';
import { addFallbackReferrer, listReferrers, removeFallbackReferrer } from '../referrers.js';
import { errorDetail, RegistryHttpError, RegistrySession, type SessionOptions } from '../session.js';
import { digestInvalid, ERROR_CODES, RegistryError, uploadUnknown, type ErrorCode, type ErrorStatus } from './errors.js';
import type { ParsedManifest } from './manifest.js';
import { isBlobDigest, isRepoName, isTag, referenceText, type BlobDigest, type ManifestReference, type RepoName, type Tag, type UploadId } from './names.js';
import {
  checkChunkStart,
  requireDigests,
  type BlobReader,
  type Body,
  type ChunkRange,
  type RegistryStore,
  type StoredManifest,
  type UploadProgress,
  type UploadSessions,
} from './storage.js';
import type { UploadTokens } from './upload-token.js';

/** docker://HOST[:PORT][/PREFIX], as --storage takes it. */
export interface StorageTarget {
  registry: string;
  /** Repository path every repository of serve goes under ('' for none). */
  prefix: string;
}

export function parseStorageUrl(url: string): StorageTarget {
  const m = url.match(/^docker:\/\/([a-z0-9.-]+(?::\d{1,5})?|\[[0-9a-f:.]+\](?::\d{1,5})?)(?:\/(.*))?$/i);
  const prefix = (m?.[2] ?? '').replace(/\/$/, '');
  if (!m || (prefix !== '' && !isRepoName(prefix)))
    throw new StrataError('usage', `--storage '${url}' is not docker://REGISTRY[/PREFIX] (e.g. docker://registry.example:5000/strata)`);
  return { registry: m[1]!.toLowerCase(), prefix };
}

/** The upstream's name of serve's repository `name`. */
export function upstreamName(target: StorageTarget, name: string): string {
  return target.prefix ? `${target.prefix}/${name}` : name;
}

/**
 * The options of every session with an upstream: one object, so the store and
 * the bridge (which pushes its images there) share one session per upstream,
 * with its tokens and its scheme. Credentials come from where `push` finds them.
 */
const UPSTREAM_SESSION: SessionOptions = {};

/** Serve's repository `name` in the upstream, for the registry client. */
export function upstreamRepository(target: StorageTarget, name: string): Repository {
  return { session: RegistrySession.for(target.registry, UPSTREAM_SESSION), name: upstreamName(target, name) };
}

export interface UpstreamStoreOptions extends StorageTarget {
  /** Signs the upload session ids handed to clients (upload-token.ts). */
  tokens: UploadTokens;
  /** Answer blob GETs with a 307 to the upstream (clients must be able to read it anonymously). */
  redirectBlobs?: boolean;
}

/**
 * The spec's error codes an upstream refusal is passed on with: the client's
 * own mistakes. Its refusals of serve's credentials (UNAUTHORIZED, DENIED) and
 * its limits (TOOMANYREQUESTS) are serve's problem, not the client's.
 */
const CODES = new Set<string>(ERROR_CODES.filter((c) => c !== 'UNAUTHORIZED' && c !== 'DENIED' && c !== 'TOOMANYREQUESTS'));
const STATUSES = new Set<number>([400, 404, 405, 413, 416] satisfies ErrorStatus[]);

/**
 * A client's mistake the upstream found (a wrong digest, an unknown blob) is
 * answered as the upstream answered it; anything else (the upstream refusing
 * serve's own credentials, or failing) stays a server error, logged, never shown.
 */
function asClientError(status: number, code: string | undefined, message: string): RegistryError | undefined {
  if (!STATUSES.has(status) || code === undefined || !CODES.has(code)) return undefined;
  return new RegistryError(status as ErrorStatus, code as ErrorCode, `${message} (the upstream registry answered ${status} ${code})`);
}

function translate(e: unknown): unknown {
  if (e instanceof RegistryHttpError) return asClientError(e.status, e.specCode, 'refused by the upstream registry') ?? e;
  // A refusal of the client's body (a chunk longer than announced) comes back wrapped in the request's failure.
  for (let c: unknown = e, i = 0; c instanceof Error && i < 4; c = c.cause, i++) if (c instanceof RegistryError) return c;
  return e;
}

async function rethrowing<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    throw translate(e);
  }
}

/**
 * Where serve keeps a subject's referrers in an upstream without the referrers
 * API: not under the spec's fallback tag (sha256-<hex>), which any client who
 * may push can overwrite, hiding referrers it may not delete, but under a tag
 * of serve's own that clients can neither write, delete nor list.
 */
const RESERVED_TAG = /^strata-referrers-/;
const referrersIndexTag = (subject: string) => `strata-referrers-${subject.replace(':', '-')}`;

function refuseReserved(tag: string): void {
  if (RESERVED_TAG.test(tag))
    throw new RegistryError(403, 'DENIED', `tags strata-referrers-… hold serve's referrers index; clients cannot write or delete them`);
}

/** The subject a stored manifest names, if any (its bytes were checked on the way in). */
function subjectOf(bytes: Buffer): Digest | undefined {
  try {
    const d = (JSON.parse(bytes.toString('utf8')) as { subject?: { digest?: unknown } }).subject?.digest;
    return typeof d === 'string' && isBlobDigest(d) ? d : undefined;
  } catch {
    return undefined;
  }
}

const tagList = z.object({ tags: z.array(z.string()).nullish() });

/** Counts the bytes of a request body on their way upstream, and stops one longer than announced before it is passed on. */
function counted(body: Body, limit: number | undefined): { stream: Readable; bytes: () => number } {
  let n = 0;
  const stream = (body instanceof Readable ? body : Readable.from(body)).pipe(
    new Transform({
      transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
        n += chunk.length;
        if (limit !== undefined && n > limit) return cb(new RegistryError(400, 'SIZE_INVALID', `the chunk is longer than its Content-Range`));
        cb(null, chunk);
      },
    }),
  );
  if (body instanceof Readable) body.once('error', (e) => stream.destroy(e));
  return { stream, bytes: () => n };
}

/**
 * The upstream's Location of an upload session as a path on its own origin,
 * below the repository's uploads: a session anywhere else is never followed.
 */
async function uploadPath(session: RegistrySession, res: RegistryResponse, upstreamRepo: string, step: string): Promise<string> {
  const location = res.headers.location;
  if (!location) throw new StrataError('registry', `${step}: the upstream registry answered ${res.status} without a Location`);
  const u = new URL(location, res.url);
  const base = new URL(await session.url('/'));
  if (u.origin !== base.origin) throw new StrataError('registry', `${step}: the upstream registry sent an upload session on another origin (${u.origin})`);
  if (!isSessionPath(u.pathname, upstreamRepo))
    throw new StrataError('registry', `${step}: the upstream registry sent an upload session outside ${upstreamRepo}`);
  return `${u.pathname}${u.search}`;
}

/** Whether a path is one of the upload sessions of upstream repository `repo`. */
function isSessionPath(path: string, repo: string): boolean {
  const prefix = `/v2/${repo}/blobs/uploads/`;
  return path.startsWith(prefix) && path.length > prefix.length && !path.slice(prefix.length).includes('/') && !path.includes('..');
}

/** A chunk that came shorter than its Content-Range (its request to the upstream then failed): the client's error. */
function shortChunk(range: ChunkRange | undefined, received: number): RegistryError | undefined {
  if (!range || received >= range.end - range.start + 1) return undefined;
  return new RegistryError(400, 'SIZE_INVALID', `Content-Range ${range.start}-${range.end} announced ${range.end - range.start + 1} bytes; ${received} came`);
}

class UpstreamUploads implements UploadSessions {
  constructor(
    private readonly up: UpstreamStore,
    private readonly tokens: UploadTokens,
  ) {}

  /** The session an id carries; an id not signed by this fleet, or for another repository, names none. */
  private token(name: RepoName, id: string) {
    const t = this.tokens.verify(id);
    if (!t || t.repository !== name || !isSessionPath(new URL(t.location, 'http://x').pathname, this.up.upstreamName(name)))
      throw uploadUnknown(id.slice(0, 128));
    return t;
  }

  /** An upload answer that is no success: the client's error when it is one (404: the session is gone), else a server error. */
  private async refuse(res: RegistryResponse, id: string, step: string): Promise<never> {
    const { text, code } = await errorDetail(res, this.up.session.timeoutMs);
    if (res.status === 404) throw uploadUnknown(id.slice(0, 128));
    throw asClientError(res.status, code, text || step) ?? new StrataError('registry', `${step}: the upstream registry answered ${res.status} (${text})`);
  }

  async start(name: RepoName): Promise<UploadId> {
    const up = this.up.upstreamName(name);
    const step = `start of an upload to ${up}`;
    const res = await this.up.session.request({ method: 'POST', path: `/v2/${up}/blobs/uploads/`, scopes: [pushScope(up)], step, expect: [202] });
    await discard(res, this.up.session.timeoutMs);
    return this.tokens.sign({ repository: name, location: await uploadPath(this.up.session, res, up, step), size: 0 }) as UploadId;
  }

  async size(name: RepoName, id: string): Promise<number> {
    const t = this.token(name, id);
    const up = this.up.upstreamName(name);
    const step = `status of an upload to ${up}`;
    const res = await this.up.session.request({ method: 'GET', path: t.location, scopes: [pushScope(up)], step, expect: [204, 404], deadline: true });
    if (res.status !== 204) return this.refuse(res, id, step);
    await discard(res, this.up.session.timeoutMs);
    return t.size;
  }

  /** Streams the body to the upstream session (a chunk with its length, so a cut one is dropped there whole). */
  async append(name: RepoName, id: string, body: Body, range?: ChunkRange): Promise<UploadProgress> {
    const t = this.token(name, id);
    checkChunkStart(range, t.size);
    const up = this.up.upstreamName(name);
    const step = `chunk of an upload to ${up}`;
    const length = range ? range.end - range.start + 1 : undefined;
    const bytes = counted(body, length);
    let res: RegistryResponse;
    try {
      res = await this.up.session.request({
        method: 'PATCH',
        path: t.location,
        headers: {
          'content-type': 'application/octet-stream',
          ...(range ? { 'content-length': String(length), 'content-range': `${range.start}-${range.end}` } : {}),
        },
        body: () => bytes.stream,
        retry: false,
        scopes: [pushScope(up)],
        step,
        expect: [202, 400, 404, 416],
      });
    } catch (e) {
      throw shortChunk(range, bytes.bytes()) ?? translate(e);
    }
    if (res.status !== 202) return this.refuse(res, id, step);
    await discard(res, this.up.session.timeoutMs);
    const size = t.size + bytes.bytes();
    return { size, id: this.tokens.sign({ repository: name, location: await uploadPath(this.up.session, res, up, step), size }) };
  }

  async complete(name: RepoName, id: string, digests: string[], body?: Body, range?: ChunkRange): Promise<BlobDigest> {
    const t = this.token(name, id);
    requireDigests(digests);
    const digest = digests[0]!;
    if (!isBlobDigest(digest)) throw digestInvalid(`${digest.slice(0, 80)} is not a sha256 digest`, digest.slice(0, 80));
    const other = digests.find((d) => d !== digest);
    if (other !== undefined) {
      await this.cancel(name, id).catch(() => undefined);
      throw digestInvalid(`the upload was given two digests, ${digest} and ${other.slice(0, 80)}`, other.slice(0, 80));
    }
    checkChunkStart(range, t.size);
    const up = this.up.upstreamName(name);
    const step = `end of an upload to ${up}`;
    const target = new URL(await this.up.session.url(t.location));
    target.searchParams.set('digest', digest);
    const length = range ? range.end - range.start + 1 : undefined;
    const bytes = body ? counted(body, length) : undefined;
    const res = await this.up.session
      .request({
        method: 'PUT',
        path: target.toString(),
        headers: {
          'content-type': 'application/octet-stream',
          ...(bytes ? (range ? { 'content-length': String(length), 'content-range': `${range.start}-${range.end}` } : {}) : { 'content-length': '0' }),
        },
        ...(bytes ? { body: () => bytes.stream } : {}),
        retry: false,
        scopes: [pushScope(up)],
        step,
        expect: [201, 400, 404, 416],
      })
      .catch((e: unknown) => {
        throw (bytes && shortChunk(range, bytes.bytes())) ?? translate(e);
      });
    if (res.status !== 201) {
      // A wrong digest ends the session, as on the other stores: nothing of it is published.
      if (res.status === 400) await this.cancel(name, id).catch(() => undefined);
      return this.refuse(res, id, step);
    }
    await discard(res, this.up.session.timeoutMs);
    const stored = res.headers['docker-content-digest'];
    if (stored && stored !== digest) throw new StrataError('registry', `${step}: the upstream registry stored ${stored}, not ${digest}`);
    return digest;
  }

  async cancel(name: RepoName, id: string): Promise<void> {
    const t = this.token(name, id);
    const up = this.up.upstreamName(name);
    const step = `cancel of an upload to ${up}`;
    const res = await this.up.session.request({
      method: 'DELETE',
      path: t.location,
      scopes: [pushScope(up)],
      step,
      expect: [200, 202, 204, 404],
      deadline: true,
    });
    if (res.status === 404) return this.refuse(res, id, step);
    await discard(res, this.up.session.timeoutMs);
  }
}

export class UpstreamStore implements RegistryStore {
  readonly session: RegistrySession;
  readonly uploads: UploadSessions;
  /** At most this many existence checks at once for one manifest's references. */
  private readonly checks = limiter(8);

  constructor(private readonly opts: UpstreamStoreOptions) {
    this.session = RegistrySession.for(opts.registry, UPSTREAM_SESSION);
    this.uploads = new UpstreamUploads(this, opts.tokens);
  }

  /** Where the upstream is, for logs and the readiness check: docker://REGISTRY/PREFIX. */
  get description(): string {
    return `docker://${this.opts.registry}${this.opts.prefix ? `/${this.opts.prefix}` : ''}`;
  }

  upstreamName(name: RepoName): string {
    return upstreamName(this.opts, name);
  }

  private repo(name: RepoName): Repository {
    return upstreamRepository(this.opts, name);
  }

  /** For /readyz: the upstream answers, with serve's credentials (a token for its prefix when it asks for one). */
  async ready(): Promise<string[]> {
    try {
      await this.session
        .request({ method: 'GET', path: '/v2/', scopes: [], step: 'readiness check', expect: [200], deadline: true, retry: false })
        .then((r) => discard(r, this.session.timeoutMs));
      return [];
    } catch (e) {
      return [`the upstream registry ${this.description} does not answer (${(e as Error).message})`];
    }
  }

  /**
   * Whether a client with no credentials can read the upstream (GET /v2/ is
   * 200 without them), as one redirected there must; undefined when it does
   * not answer.
   */
  async anonymousReads(): Promise<boolean | undefined> {
    try {
      const res = await this.session.raw(await this.session.url('/v2/'), { method: 'GET', signal: AbortSignal.timeout(this.session.timeoutMs) });
      await discard(res, this.session.timeoutMs);
      return res.status === 200;
    } catch {
      return undefined;
    }
  }

  // ---- blobs ----

  async blobSize(name: RepoName, digest: BlobDigest): Promise<number | undefined> {
    const repo = this.repo(name);
    const size = await blobSize(repo, digest, [pullScope(repo.name)]);
    if (size === -1) throw new StrataError('registry', `the upstream registry gave no size for ${digest} in ${repo.name}`);
    return size;
  }

  async openBlob(name: RepoName, digest: BlobDigest): Promise<BlobReader | undefined> {
    const size = await this.blobSize(name, digest);
    if (size === undefined) return undefined;
    const path = `/v2/${this.upstreamName(name)}/blobs/${digest}`;
    const redirect = this.opts.redirectBlobs ? await this.session.url(path) : undefined;
    return {
      size,
      ...(redirect ? { redirect } : {}),
      open: (start, end) => this.readRange(name, digest, size, start, end),
      close: async () => undefined,
    };
  }

  /**
   * Bytes start..end of a blob, streamed from the upstream. A whole blob is
   * hashed on the way and its last chunk held back until the hash is right:
   * bytes that are not the digest's end the response short of its
   * Content-Length, so no client takes them for the blob.
   */
  private readRange(name: RepoName, digest: BlobDigest, size: number, start: number, end: number): Readable {
    const out = new PassThrough({ highWaterMark: 1 << 18 });
    const up = this.upstreamName(name);
    const whole = start === 0 && end === size - 1;
    const expected = end - start + 1;
    void (async () => {
      const res = await this.session.request({
        method: 'GET',
        path: `/v2/${up}/blobs/${digest}`,
        headers: whole ? {} : { range: `bytes=${start}-${end}` },
        scopes: [pullScope(up)],
        step: `read of blob ${digest} from ${up}`,
        expect: whole ? [200] : [206],
      });
      const announced = res.headers['content-range'];
      if (!whole && announced !== `bytes ${start}-${end}/${size}`) {
        res.body.destroy();
        throw new StrataError('registry', `the upstream registry answered bytes ${start}-${end} of ${digest} with ${announced ?? 'no Content-Range'}`);
      }
      const hash = createHash('sha256');
      let n = 0;
      let held: Buffer | undefined;
      const check = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          n += chunk.length;
          if (n > expected) return cb(new StrataError('registry', `the upstream registry sent more than the ${expected} bytes asked of ${digest}`));
          if (!whole) return cb(null, chunk);
          hash.update(chunk);
          const previous = held;
          held = chunk;
          cb(null, previous);
        },
        flush(cb) {
          if (n !== expected) return cb(new StrataError('registry', `the upstream registry sent ${n} bytes of ${digest}, not ${expected}`));
          if (whole && `sha256:${hash.digest('hex')}` !== digest)
            return cb(new StrataError('registry', `the upstream registry sent bytes that are not ${digest}`));
          cb(null, held);
        },
      });
      await pipeline(res.body, check, out);
    })().catch((e: unknown) => out.destroy(e as Error));
    return out;
  }

  async unlinkBlob(name: RepoName, digest: BlobDigest): Promise<boolean> {
    const up = this.upstreamName(name);
    const res = await rethrowing(() =>
      this.session.request({
        method: 'DELETE',
        path: `/v2/${up}/blobs/${digest}`,
        scopes: [`repository:${up}:delete`, pushScope(up)],
        step: `delete of blob ${digest} in ${up}`,
        expect: [202, 404],
        deadline: true,
      }),
    );
    await discard(res, this.session.timeoutMs);
    return res.status === 202;
  }

  async mount(name: RepoName, from: RepoName, digest: BlobDigest): Promise<boolean> {
    const up = this.upstreamName(name);
    const source = this.upstreamName(from);
    const step = `mount of ${digest} from ${source} into ${up}`;
    let res: RegistryResponse;
    try {
      res = await this.session.request({
        method: 'POST',
        path: `/v2/${up}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(source)}`,
        scopes: [pushScope(up), pullScope(source)],
        step,
        expect: [201, 202],
        deadline: true,
      });
    } catch (e) {
      // A mount the upstream refuses (an unknown source, one serve may not read) is an ordinary upload, as the spec says.
      if (e instanceof RegistryHttpError && e.status >= 400 && e.status < 500) return false;
      throw e;
    }
    await discard(res, this.session.timeoutMs);
    if (res.status === 201) return true;
    // The upstream opened an ordinary session instead: not wanted, the route starts its own.
    const path = await uploadPath(this.session, res, up, step).catch(() => undefined);
    if (path) {
      const cancel = await this.session
        .request({ method: 'DELETE', path, scopes: [pushScope(up)], step, expect: [200, 202, 204, 404], deadline: true })
        .catch(() => undefined);
      if (cancel) await discard(cancel, this.session.timeoutMs);
    }
    return false;
  }

  // ---- manifests and tags ----

  /**
   * A manifest as stored: its bytes checked against the digest, its media type
   * a media type, and nothing more. serve checked it on the way in (manifest.ts),
   * which is more lenient than a reader of images (a foreign layer's urls), so
   * a manifest it took is served back as it was.
   */
  async getManifest(name: RepoName, ref: ManifestReference): Promise<StoredManifest | undefined> {
    const got = await getManifestBytes(this.repo(name), referenceText(ref), { accept: `${MANIFEST_ACCEPT}, */*` });
    if (!got) return undefined;
    if (!mediaTypeSchema.safeParse(got.contentType).success) throw new StrataError('registry', `${got.step}: the upstream registry named no media type for it`);
    return { bytes: got.bytes, mediaType: got.contentType, digest: got.digest as BlobDigest };
  }

  async missingReferences(name: RepoName, m: ParsedManifest): Promise<Descriptor[]> {
    const repo = this.repo(name);
    const present = await Promise.all([
      ...m.blobs.map((d) => this.checks(async () => (await blobSize(repo, d.digest as Digest)) !== undefined)),
      ...m.children.map((d) => this.checks(async () => (await headManifest(repo, d.digest, true)) !== undefined)),
    ]);
    return [...m.blobs, ...m.children].filter((_, i) => !present[i]);
  }

  /** By digest first, then its referrer entry (where the upstream keeps none itself), the tag last. */
  async putManifest(name: RepoName, m: ParsedManifest, tag?: Tag): Promise<void> {
    const repo = this.repo(name);
    if (tag) refuseReserved(tag);
    await rethrowing(async () => {
      const put = await putManifest(repo, m.digest, m.bytes, m.mediaType);
      if (m.subject && m.referrer && !put.subject) await addFallbackReferrer(repo, m.subject as Digest, m.referrer, referrersIndexTag(m.subject));
      if (tag) await putManifest(repo, tag, m.bytes, m.mediaType);
    });
  }

  async deleteManifest(name: RepoName, digest: BlobDigest): Promise<boolean> {
    const repo = this.repo(name);
    const m = await this.getManifest(name, { digest });
    if (!m) return false;
    const res = await this.session.request({
      method: 'DELETE',
      path: `/v2/${repo.name}/manifests/${digest}`,
      scopes: [`repository:${repo.name}:delete`, pushScope(repo.name)],
      step: `delete of manifest ${digest} in ${repo.name}`,
      expect: [202, 404, 405],
      deadline: true,
    });
    if (res.status === 405) throw new RegistryError(405, 'UNSUPPORTED', 'the upstream registry does not allow deletes');
    await discard(res, this.session.timeoutMs);
    const subject = subjectOf(m.bytes);
    if (res.status === 202 && subject) await removeFallbackReferrer(repo, subject, digest, referrersIndexTag(subject));
    return res.status === 202;
  }

  async deleteTag(name: RepoName, tag: Tag): Promise<boolean> {
    refuseReserved(tag);
    const repo = this.repo(name);
    const res = await this.session.request({
      method: 'DELETE',
      path: `/v2/${repo.name}/manifests/${tag}`,
      scopes: [`repository:${repo.name}:delete`, pushScope(repo.name)],
      step: `delete of tag ${tag} in ${repo.name}`,
      expect: [202, 400, 404, 405],
      deadline: true,
    });
    await discard(res, this.session.timeoutMs);
    if (res.status === 202) return true;
    if (res.status === 404) return false;
    // distribution 2.8 deletes manifests by digest only (400 DIGEST_INVALID for a tag): the spec allows that.
    throw new RegistryError(405, 'UNSUPPORTED', 'the upstream registry deletes manifests by digest only, not tags');
  }

  async hasRepository(name: RepoName): Promise<boolean> {
    return (await this.tags(name)) !== undefined;
  }

  async tagNames(name: RepoName): Promise<Tag[]> {
    return ((await this.tags(name)) ?? []).filter((t): t is Tag => isTag(t) && !RESERVED_TAG.test(t)).sort();
  }

  /** Every tag of the upstream repository (its own pages followed), or undefined when it does not know the name. */
  private async tags(name: RepoName): Promise<string[] | undefined> {
    const up = this.upstreamName(name);
    const all: string[] = [];
    let path = `/v2/${up}/tags/list`;
    for (let page = 0; page < 1000; page++) {
      const step = `tag list of ${up}`;
      const res = await this.session.request({ method: 'GET', path, scopes: [pullScope(up)], step, expect: [200, 404], deadline: true });
      if (res.status === 404) {
        await discard(res, this.session.timeoutMs);
        return page === 0 ? undefined : all;
      }
      const body = await readBounded(res, step, 16 * 2 ** 20, 'the tag list', `the upstream registry`);
      const parsed = tagList.safeParse(JSON.parse(body.toString('utf8')));
      if (!parsed.success) throw new StrataError('registry', `${step}: the upstream registry sent a tag list that is not {tags: [...]}`);
      all.push(...(parsed.data.tags ?? []));
      // Only a next page of the same list, on the upstream itself.
      const next = res.headers.link?.match(/^<([^>]+)>;\s*rel="?next"?/)?.[1];
      const nextUrl = next && new URL(next, res.url);
      if (!nextUrl || nextUrl.origin !== new URL(res.url).origin || nextUrl.pathname !== `/v2/${up}/tags/list`) return all;
      path = `${nextUrl.pathname}${nextUrl.search}`;
    }
    return all;
  }

  async referrers(name: RepoName, subject: BlobDigest): Promise<Descriptor[]> {
    return (await listReferrers(this.repo(name), subject, undefined, referrersIndexTag(subject))).manifests;
  }
}

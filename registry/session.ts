// One registry host: its scheme, its auth challenge and tokens, and requests
// with retries. Every registry call in Strata goes through request(), so auth,
// retry and error wording are written once.
//
// The origin rule lives here too: credentials go only to the registry's own
// origin (scheme, host and port, as resolveBase found them) and to the token
// service its challenge names. A URL the registry hands out on another origin
// (an upload Location, a redirect to storage) is requested without them, a
// challenge from such an origin is not listened to, and one that would take
// the client from HTTPS to plain HTTP is refused (--insecure allows it to the
// registry's own host and port only).
//
// Small answers (manifests, tokens, error bodies) are bounded in bytes where
// they are read, and in total time here: a registry that trickles a byte at a
// time would otherwise never trip an idle timeout.
//
// HTTP is undici's (maintained by Node.js core, streams request and response
// bodies, keeps connections alive, and honours HTTP(S)_PROXY/NO_PROXY through
// EnvHttpProxyAgent).
import { EnvHttpProxyAgent, request as undiciRequest, type Dispatcher } from 'undici';
import { StrataError } from '../base/errors.js';
import type { Progress } from '../base/events.js';
import { Authenticator } from './auth.js';
import { Deadline, discard, type RequestBody, type RegistryResponse } from './http.js';
import type { CredentialOptions } from './credentials.js';
import {
  backoffDelay,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_RETRY,
  errorReason,
  isRetryableError,
  parseRetryAfter,
  RETRY_STATUSES,
  sleep,
  type RetryPolicy,
} from './retry.js';
/** An error body is read this far at most: its first error's code and message are all that is used. */
const MAX_ERROR_BYTES = 64 * 1024;

export interface SessionOptions {
  /** Allow plain HTTP (and an untrusted certificate) for a host that is not loopback. */
  insecure?: boolean;
  credentials?: CredentialOptions;
  retry?: RetryPolicy;
  progress?: Progress;
  /** Total time for each request whose answer is small (manifest, token, error body); default 60 s. */
  requestTimeoutMs?: number;
}

export interface RegistryRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** A path below the registry root ("/v2/…"), or an absolute URL a registry handed out (Location). */
  path: string;
  headers?: Record<string, string>;
  /** Made anew for each attempt, so a retry re-sends the same bytes. */
  body?: () => RequestBody;
  /** Token scopes the request needs, e.g. repository:org/app:pull,push. */
  scopes: string[];
  /** What Strata was doing, for errors and retry lines: "upload of sha256:ab12… to org/app". */
  step: string;
  /** Statuses that are an answer rather than a failure (others throw). */
  expect: number[];
  /** false: one attempt only (the caller resumes on its own). */
  retry?: boolean;
  /**
   * The answer is small (a manifest): the whole request, retries and the reading
   * of the body included, must end within the session's request timeout.
   */
  deadline?: boolean;
}

/** host:port with the scheme's default port spelled out, so https://h and http://h differ. */
function hostPort(u: URL): string {
  return `${u.hostname}:${u.port || (u.protocol === 'https:' ? '443' : '80')}`;
}

const dispatcher = new EnvHttpProxyAgent({ keepAliveTimeout: 10_000, connections: 32, headersTimeout: 300_000, bodyTimeout: 300_000 });
const insecureDispatcher = new EnvHttpProxyAgent({
  keepAliveTimeout: 10_000,
  connections: 32,
  headersTimeout: 300_000,
  bodyTimeout: 300_000,
  connect: { rejectUnauthorized: false },
});

export function isLoopback(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Docker Hub's API lives on another host than its name. */
function apiHost(registry: string): string {
  return registry === 'docker.io' ? 'registry-1.docker.io' : registry;
}

function flatHeaders(h: Record<string, string | string[] | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/**
 * The registry's error message from an error body ({errors:[{code,message}]}),
 * if any: at most MAX_ERROR_BYTES of it, read for at most `ms` (what has come
 * by then is used), so an endless or trickled error body cannot hold the error up.
 */
export async function errorDetail(res: RegistryResponse, ms: number): Promise<{ text: string; code?: string }> {
  const parts: Buffer[] = [];
  let n = 0;
  const timer = setTimeout(() => res.body.destroy(), Math.min(ms, res.deadline?.remaining() ?? ms));
  try {
    for await (const c of res.body as AsyncIterable<Buffer>) {
      parts.push(c);
      if ((n += c.length) >= MAX_ERROR_BYTES) break;
    }
  } catch {
    // cut by the timer or the deadline, or the connection broke: what came is enough
  } finally {
    clearTimeout(timer);
    res.body.destroy();
  }
  const text = Buffer.concat(parts).subarray(0, MAX_ERROR_BYTES).toString('utf8');
  try {
    const j = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const e = j.errors?.[0];
    if (e) return { text: [e.code, e.message].filter(Boolean).join(': '), ...(typeof e.code === 'string' ? { code: e.code } : {}) };
  } catch {
    // not JSON: fall through
  }
  return { text: text.trim().split('\n')[0]?.slice(0, 200) ?? '' };
}

/** A registry answered with a status the request did not expect. */
/**
 * A registry's refusal: its HTTP status, the distribution spec's error code
 * when the body names one (MANIFEST_INVALID, DENIED …), whether trying again
 * could help, and the URL asked without its query (an upload Location's query
 * may carry the registry's state or a signature). Callers add context by
 * wrapping (`cause`), never by rewriting the message.
 */
export class RegistryHttpError extends StrataError {
  readonly retryable: boolean;
  readonly url: string;
  readonly specCode?: string;
  constructor(
    readonly status: number,
    message: string,
    at: { url: string; specCode?: string | undefined },
  ) {
    super(status === 401 || status === 403 ? 'auth' : 'registry', message);
    this.retryable = RETRY_STATUSES.has(status);
    this.url = redactUrl(at.url);
    if (at.specCode !== undefined) this.specCode = at.specCode;
  }
}

/** A URL for messages and logs: scheme, host, port and path; no user info, query or fragment. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(unparseable URL)';
  }
}

/** Sessions by the options object they were made with, then by registry. */
const sessions = new WeakMap<SessionOptions, Map<string, RegistrySession>>();

export class RegistrySession {
  private base: string | undefined;
  private basePending: Promise<string> | undefined;
  readonly auth: Authenticator;

  private constructor(
    readonly registry: string,
    readonly opts: SessionOptions,
  ) {
    // The token service gets the registry's credentials: once its URL passes the origin rule.
    this.auth = new Authenticator(
      registry,
      opts.credentials ?? {},
      (url, init) => this.raw(this.checkTarget(url, 'a token realm', `request for a token of registry ${registry}`), init),
      this.timeoutMs,
    );
  }

  get timeoutMs(): number {
    return this.opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  /** One session per registry and options: tokens and the scheme are shared by every request of a command. */
  static for(registry: string, opts: SessionOptions = {}): RegistrySession {
    let byRegistry = sessions.get(opts);
    if (!byRegistry) sessions.set(opts, (byRegistry = new Map()));
    let s = byRegistry.get(registry);
    if (!s) byRegistry.set(registry, (s = new RegistrySession(registry, opts)));
    return s;
  }

  private get dispatcher(): Dispatcher {
    return this.opts.insecure ? insecureDispatcher : dispatcher;
  }

  /** A bare HTTP exchange: no auth, no retry. */
  async raw(url: string, init: { method: string; headers?: Record<string, string>; body?: RequestBody; signal?: AbortSignal }): Promise<RegistryResponse> {
    // undici closes the connection after a HEAD unless told not to (a server might send a body anyway); registries do not, and a
    // no-op push is a hundred HEADs.
    const r = await undiciRequest(url, {
      method: init.method as Dispatcher.HttpMethod,
      headers: { 'user-agent': 'strata', ...init.headers },
      body: init.body,
      dispatcher: this.dispatcher,
      ...(init.signal ? { signal: init.signal } : {}),
      ...(init.method === 'HEAD' ? { reset: false } : {}),
    });
    return { status: r.statusCode, headers: flatHeaders(r.headers), body: r.body, url };
  }

  /**
   * https://HOST, or http://HOST for loopback and --insecure registries that do
   * not speak TLS. The answer to the probe (GET /v2/) also carries the auth challenge.
   */
  private async resolveBase(): Promise<string> {
    if (this.base) return this.base;
    this.basePending ??= (async () => {
      const host = apiHost(this.registry);
      const plainAllowed = this.opts.insecure || isLoopback(this.registry);
      let lastError: unknown;
      for (const scheme of plainAllowed ? ['https', 'http'] : ['https']) {
        const base = `${scheme}://${host}`;
        for (let attempt = 1; ; attempt++) {
          const deadline = new Deadline(this.timeoutMs, `registry ${this.registry}`);
          try {
            const res = await this.raw(`${base}/v2/`, { method: 'GET', signal: deadline.signal });
            await discard(res, this.timeoutMs, deadline);
            this.auth.observe(res);
            this.base = base;
            return base;
          } catch (e) {
            if (e instanceof StrataError) throw e;
            if (deadline.expired) throw deadline.error(`the first request (GET ${base}/v2/)`);
            lastError = e;
            const policy = this.opts.retry ?? DEFAULT_RETRY;
            // A plain-HTTP server answering a TLS hello: try the next scheme at once.
            const tlsMismatch = scheme === 'https' && plainAllowed;
            if (tlsMismatch || !isRetryableError(e) || attempt >= policy.attempts) break;
            await sleep(backoffDelay(policy, attempt));
          }
        }
      }
      throw new StrataError(
        'registry',
        `cannot reach registry ${this.registry}: ${errorReason(lastError)}${plainAllowed ? '' : ' (plain HTTP is used only for loopback registries or with --insecure)'}`,
        { cause: lastError },
      );
    })();
    try {
      return await this.basePending;
    } finally {
      this.basePending = undefined;
    }
  }

  async url(path: string): Promise<string> {
    if (/^https?:\/\//.test(path)) return path;
    return `${await this.resolveBase()}${path}`;
  }

  /** Resolves a Location header against the URL that returned it. */
  resolve(location: string, against: string): string {
    return new URL(location, against).toString();
  }

  /** The registry's own URL: as resolveBase found it, or the HTTPS it starts from. */
  private baseUrl(): URL {
    return new URL(this.base ?? `https://${apiHost(this.registry)}`);
  }

  /**
   * Whether `url` is the registry itself, and so gets its credentials: its
   * origin, or with --insecure plain HTTP on its own host and port.
   */
  private isRegistry(url: URL): boolean {
    const base = this.baseUrl();
    if (url.origin === base.origin) return true;
    return !!this.opts.insecure && url.protocol === 'http:' && hostPort(url) === hostPort(base);
  }

  /**
   * The one check on every URL the registry hands out (Location, redirect,
   * token realm): HTTP(S) only, and no step down from HTTPS to plain HTTP but
   * to the registry's own host and port with --insecure. Returns `url`.
   */
  checkTarget(url: string, what: string, step: string): string {
    const u = new URL(url);
    if (u.protocol !== 'https:' && u.protocol !== 'http:')
      throw new StrataError('registry', `${step} failed: registry ${this.registry} sent ${what} that is not HTTP(S) (${u.protocol})`);
    if (this.baseUrl().protocol === 'https:' && u.protocol === 'http:' && !this.isRegistry(u)) {
      const why = this.opts.insecure ? "--insecure allows plain HTTP only on the registry's own host and port" : 'the registry is reached over HTTPS';
      throw new StrataError('registry', `${step} failed: registry ${this.registry} sent ${what} on plain HTTP (${u.origin}), refused: ${why}`);
    }
    return url;
  }

  async request(r: RegistryRequest): Promise<RegistryResponse> {
    const policy = this.opts.retry ?? DEFAULT_RETRY;
    const attempts = r.retry === false ? 1 : policy.attempts;
    const deadline = r.deadline ? new Deadline(this.timeoutMs, `registry ${this.registry}`) : undefined;
    /** A wait the deadline would cut short ends the request now. */
    const wait = async (ms: number): Promise<void> => {
      if (deadline && deadline.remaining() <= ms) throw deadline.error(r.step);
      await sleep(ms);
    };
    let reauthed = false;
    for (let attempt = 1; ; attempt++) {
      let res: RegistryResponse;
      const url = await this.url(r.path);
      try {
        res = await this.follow(url, r, deadline);
      } catch (e) {
        if (deadline?.expired) throw deadline.error(r.step);
        if (e instanceof StrataError) throw e;
        if (!isRetryableError(e) || attempt >= attempts) {
          throw new StrataError(
            'registry',
            `${r.step} failed: registry ${this.registry} ${isRetryableError(e) ? 'kept dropping the connection' : 'is unreachable'} (${errorReason(e)})`,
            { cause: e },
          );
        }
        const delayMs = backoffDelay(policy, attempt);
        this.opts.progress?.emit({ type: 'retry', step: r.step, attempt, reason: errorReason(e), delayMs });
        await wait(delayMs);
        continue;
      }
      // Only the registry's own challenge is listened to: one from storage it redirected to could name any realm.
      const own = this.isRegistry(new URL(res.url));
      if (res.status === 401 && own && !reauthed && !r.expect.includes(401)) {
        // A token expired or lacks a scope: take a new one once, then give up.
        await discard(res, this.timeoutMs, deadline);
        reauthed = true;
        await this.auth.refresh(res, r.scopes);
        attempt--;
        continue;
      }
      if (r.expect.includes(res.status)) return deadline ? { ...res, deadline } : res;
      if (RETRY_STATUSES.has(res.status) && attempt < attempts) {
        const delayMs = backoffDelay(policy, attempt, parseRetryAfter(res.headers['retry-after']));
        await discard(res, this.timeoutMs, deadline);
        this.opts.progress?.emit({ type: 'retry', step: r.step, attempt, reason: `HTTP ${res.status}`, delayMs });
        await wait(delayMs);
        continue;
      }
      const { text: detail, code: specCode } = await errorDetail(deadline ? { ...res, deadline } : res, this.timeoutMs);
      const who = own ? `registry ${this.registry}` : `${new URL(res.url).origin} (where registry ${this.registry} sent the request, without credentials)`;
      const at = { url: res.url, specCode };
      if (res.status === 401 || res.status === 403) {
        throw new RegistryHttpError(
          res.status,
          `${r.step} failed: ${who} ${res.status === 401 ? 'refused' : 'denied'} access${own ? this.auth.describeCredential() : ''}${detail ? ` (${detail})` : ''}`,
          at,
        );
      }
      throw new RegistryHttpError(res.status, `${r.step} failed: ${who} answered ${res.status}${detail ? ` (${detail})` : ''}`, at);
    }
  }

  /**
   * One attempt, following redirects (blob GETs often go to a CDN). Every URL,
   * the first included (an upload Location is absolute), passes the origin
   * rule, and credentials go only to the registry's own origin.
   */
  private async follow(url: string, r: RegistryRequest, deadline: Deadline | undefined): Promise<RegistryResponse> {
    let current = url;
    for (let hop = 0; hop < 6; hop++) {
      const target = new URL(this.checkTarget(current, hop === 0 ? 'a Location' : 'a redirect', r.step));
      const authorization = this.isRegistry(target) ? await this.auth.authorization(r.scopes) : undefined;
      const headers = { ...r.headers, ...(authorization ? { authorization } : {}) };
      const res = await this.raw(current, {
        method: r.method,
        headers,
        body: hop === 0 ? r.body?.() : undefined,
        ...(deadline ? { signal: deadline.signal } : {}),
      });
      const location = res.headers.location;
      if ((r.method === 'GET' || r.method === 'HEAD') && [301, 302, 303, 307, 308].includes(res.status) && location) {
        await discard(res, this.timeoutMs, deadline);
        current = this.resolve(location, current);
        continue;
      }
      return res;
    }
    throw new StrataError('registry', `${r.step} failed: registry ${this.registry} redirected too many times`);
  }
}

// One registry host: its scheme, its auth challenge and tokens, and requests
// with retries. Every registry call in Strata goes through request(), so auth,
// retry and error wording are written once.
//
// HTTP is undici's (maintained by Node.js core, streams request and response
// bodies, keeps connections alive, and honours HTTP(S)_PROXY/NO_PROXY through
// EnvHttpProxyAgent).
import { Readable } from 'node:stream';
import { EnvHttpProxyAgent, request as undiciRequest, type Dispatcher } from 'undici';
import { StrataError } from '../src/errors.js';
import type { Progress } from '../src/progress.js';
import { Authenticator } from './auth.js';
import type { CredentialOptions } from './credentials.js';
import { backoffDelay, DEFAULT_RETRY, errorReason, isRetryableError, parseRetryAfter, RETRY_STATUSES, sleep, type RetryPolicy } from './retry.js';

export interface SessionOptions {
  /** Allow plain HTTP (and an untrusted certificate) for a host that is not loopback. */
  insecure?: boolean;
  credentials?: CredentialOptions;
  retry?: RetryPolicy;
  progress?: Progress;
}

export type Body = Buffer | Readable | undefined;

export interface RegistryRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** A path below the registry root ("/v2/…"), or an absolute URL a registry handed out (Location). */
  path: string;
  headers?: Record<string, string>;
  /** Made anew for each attempt, so a retry re-sends the same bytes. */
  body?: () => Body;
  /** Token scopes the request needs, e.g. repository:org/app:pull,push. */
  scopes: string[];
  /** What Strata was doing, for errors and retry lines: "upload of sha256:ab12… to org/app". */
  step: string;
  /** Statuses that are an answer rather than a failure (others throw). */
  expect: number[];
  /** false: one attempt only (the caller resumes on its own). */
  retry?: boolean;
}

export interface RegistryResponse {
  status: number;
  headers: Record<string, string | undefined>;
  body: Dispatcher.ResponseData['body'];
  /** The URL answered, for resolving a relative Location. */
  url: string;
}

const dispatcher = new EnvHttpProxyAgent({ keepAliveTimeout: 10_000, connections: 32, headersTimeout: 300_000, bodyTimeout: 300_000 });
const insecureDispatcher = new EnvHttpProxyAgent({ keepAliveTimeout: 10_000, connections: 32, headersTimeout: 300_000, bodyTimeout: 300_000, connect: { rejectUnauthorized: false } });

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

/** The registry's error message from an error body ({errors:[{code,message}]}), if any. */
export async function errorDetail(res: RegistryResponse): Promise<string> {
  const text = await res.body.text().catch(() => '');
  try {
    const j = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const e = j.errors?.[0];
    if (e) return [e.code, e.message].filter(Boolean).join(': ');
  } catch {
    // not JSON: fall through
  }
  return text.trim().split('\n')[0]?.slice(0, 200) ?? '';
}

/** A registry answered with a status the request did not expect. */
export class RegistryHttpError extends StrataError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(status === 401 || status === 403 ? 'auth' : 'registry', message);
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
    this.auth = new Authenticator(registry, opts.credentials ?? {}, (url, init) => this.raw(url, init));
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
  async raw(url: string, init: { method: string; headers?: Record<string, string>; body?: Body }): Promise<RegistryResponse> {
    // undici closes the connection after a HEAD unless told not to (a server might send a body anyway); registries do not, and a
    // no-op push is a hundred HEADs.
    const r = await undiciRequest(url, { method: init.method as Dispatcher.HttpMethod, headers: { 'user-agent': 'strata', ...init.headers }, body: init.body, dispatcher: this.dispatcher, ...(init.method === 'HEAD' ? { reset: false } : {}) });
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
          try {
            const res = await this.raw(`${base}/v2/`, { method: 'GET' });
            await res.body.dump();
            this.auth.observe(res);
            this.base = base;
            return base;
          } catch (e) {
            lastError = e;
            const policy = this.opts.retry ?? DEFAULT_RETRY;
            // A plain-HTTP server answering a TLS hello: try the next scheme at once.
            const tlsMismatch = scheme === 'https' && plainAllowed;
            if (tlsMismatch || !isRetryableError(e) || attempt >= policy.attempts) break;
            await sleep(backoffDelay(policy, attempt));
          }
        }
      }
      throw new StrataError('registry', `cannot reach registry ${this.registry}: ${errorReason(lastError)}${plainAllowed ? '' : ' (plain HTTP is used only for loopback registries or with --insecure)'}`, { cause: lastError });
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

  async request(r: RegistryRequest): Promise<RegistryResponse> {
    const policy = this.opts.retry ?? DEFAULT_RETRY;
    const attempts = r.retry === false ? 1 : policy.attempts;
    let reauthed = false;
    for (let attempt = 1; ; attempt++) {
      let res: RegistryResponse;
      const url = await this.url(r.path);
      try {
        res = await this.follow(url, r);
      } catch (e) {
        if (e instanceof StrataError) throw e;
        if (!isRetryableError(e) || attempt >= attempts) {
          throw new StrataError('registry', `${r.step} failed: registry ${this.registry} ${isRetryableError(e) ? 'kept dropping the connection' : 'is unreachable'} (${errorReason(e)})`, { cause: e });
        }
        const delayMs = backoffDelay(policy, attempt);
        this.opts.progress?.emit({ type: 'retry', step: r.step, attempt, reason: errorReason(e), delayMs });
        await sleep(delayMs);
        continue;
      }
      if (res.status === 401 && !reauthed && !r.expect.includes(401)) {
        // A token expired or lacks a scope: take a new one once, then give up.
        await res.body.dump();
        reauthed = true;
        await this.auth.refresh(res, r.scopes);
        attempt--;
        continue;
      }
      if (r.expect.includes(res.status)) return res;
      if (RETRY_STATUSES.has(res.status) && attempt < attempts) {
        const delayMs = backoffDelay(policy, attempt, parseRetryAfter(res.headers['retry-after']));
        await res.body.dump();
        this.opts.progress?.emit({ type: 'retry', step: r.step, attempt, reason: `HTTP ${res.status}`, delayMs });
        await sleep(delayMs);
        continue;
      }
      const detail = await errorDetail(res);
      if (res.status === 401 || res.status === 403) {
        throw new RegistryHttpError(res.status, `${r.step} failed: registry ${this.registry} ${res.status === 401 ? 'refused' : 'denied'} access${this.auth.describeCredential()}${detail ? ` (${detail})` : ''}`);
      }
      throw new RegistryHttpError(res.status, `${r.step} failed: registry ${this.registry} answered ${res.status}${detail ? ` (${detail})` : ''}`);
    }
  }

  /** One attempt, following redirects (blob GETs often go to a CDN); auth goes only to the registry. */
  private async follow(url: string, r: RegistryRequest): Promise<RegistryResponse> {
    let current = url;
    const origin = new URL(url).origin;
    for (let hop = 0; hop < 6; hop++) {
      const sameOrigin = new URL(current).origin === origin;
      const authorization = sameOrigin ? await this.auth.authorization(r.scopes) : undefined;
      const headers = { ...r.headers, ...(authorization ? { authorization } : {}) };
      const res = await this.raw(current, { method: r.method, headers, body: hop === 0 ? r.body?.() : undefined });
      const location = res.headers.location;
      if ((r.method === 'GET' || r.method === 'HEAD') && [301, 302, 303, 307, 308].includes(res.status) && location) {
        await res.body.dump();
        current = this.resolve(location, current);
        continue;
      }
      return res;
    }
    throw new StrataError('registry', `${r.step} failed: registry ${this.registry} redirected too many times`);
  }
}

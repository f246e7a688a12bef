// The suite's HTTP client: one request at a time, bodies read in full, headers
// lower-cased, 401s answered once through the Authenticator, and redirects
// followed only where a check asks (blob GETs may be sent to storage).
import { request } from 'undici';
import { type Credentials, Authenticator } from './auth.js';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpResponse {
  method: Method;
  status: number;
  /** The URL that answered (after redirects): Location and Link resolve against it. */
  url: URL;
  /** A header's value; repeated headers joined with ", ". */
  header(name: string): string | undefined;
  body: Buffer;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: Buffer;
  /** Follow 301/302/303/307/308 (GET and HEAD only). */
  follow?: boolean;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

export class RegistryClient {
  private readonly auth: Authenticator;

  constructor(
    readonly root: URL,
    credentials: Credentials | undefined,
    private readonly timeoutMs: number,
  ) {
    this.auth = new Authenticator(root, credentials, timeoutMs);
  }

  /** An API path ("/v2/...") under the root URL, keeping any path prefix the root has. */
  url(path: string): URL {
    return new URL(this.root.pathname.replace(/\/$/, '') + path, this.root);
  }

  /** `target` is an API path or an absolute URL (a Location the registry sent). */
  async send(method: Method, target: string | URL, opts: RequestOptions = {}): Promise<HttpResponse> {
    let url = typeof target === 'string' ? this.url(target) : target;
    for (let hops = 0; ; hops++) {
      let res = await this.once(method, url, opts);
      if (res.status === 401 && url.origin === this.root.origin && (await this.auth.answer(url, res.header('www-authenticate')))) {
        res = await this.once(method, url, opts);
      }
      const location = res.header('location');
      if (!opts.follow || !REDIRECTS.has(res.status) || !location || hops >= MAX_REDIRECTS) return res;
      url = new URL(location, url);
    }
  }

  private async once(method: Method, url: URL, opts: RequestOptions): Promise<HttpResponse> {
    const headers: Record<string, string> = { ...opts.headers };
    const authorization = this.auth.headerFor(url);
    if (authorization) headers.authorization = authorization;
    // PUT/POST/PATCH without a body still say "Content-Length: 0", as the spec's requests do.
    const body = opts.body ?? (method === 'PUT' || method === 'POST' || method === 'PATCH' ? Buffer.alloc(0) : undefined);
    const res = await request(url, { method, headers, body, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
    const bytes = Buffer.from(await res.body.arrayBuffer());
    const raw = res.headers;
    return {
      method,
      status: res.statusCode,
      url,
      header(name) {
        const v = raw[name.toLowerCase()];
        return Array.isArray(v) ? v.join(', ') : v;
      },
      body: bytes,
    };
  }
}

/** A Location header resolved against the URL that sent it (the spec allows relative and absolute ones). */
export function locationOf(res: HttpResponse): URL | undefined {
  const v = res.header('location');
  return v ? new URL(v, res.url) : undefined;
}

/** `url` with a query parameter set, keeping the registry's own (e.g. distribution's _state). */
export function withQuery(url: URL, params: Record<string, string>): URL {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u;
}

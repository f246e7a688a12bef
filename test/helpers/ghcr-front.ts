// A stand-in for ghcr.io in front of an unauthenticated docker-registry: every
// /v2/ request needs a Bearer token from its /token endpoint, anonymous
// clients get pull-only tokens (and only for public repositories), a
// user:token pair gets pull and push, and there is no referrers API. This is
// what GHCR does that distribution's own token auth does not: opaque tokens,
// a token even for public pulls, and 404 for referrers.
import { randomBytes } from 'node:crypto';
import { Agent, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { relay } from './fault-proxy.js';
import { parseScope } from './token-server.js';

export interface GhcrFrontOptions {
  /** user → personal access token. */
  users: Record<string, string>;
  /** Repositories that anonymous clients may pull. */
  publicRepos?: string[];
  /** Tokens stop working after this, to the second (distribution allows 60 s more). Default 300. */
  tokenTtlSeconds?: number;
}

export interface GhcrCounters {
  tokenRequests: number;
  anonymousTokens: number;
  userTokens: number;
  /** /v2/ requests answered 401 (no or unknown token, or an anonymous token without the scope). */
  unauthorized: number;
  /** /v2/ requests answered 403 (a user's token without the scope). */
  denied: number;
  referrers: number;
  proxied: number;
}

export interface GhcrFront {
  url: string;
  host: string;
  service: string;
  counters: GhcrCounters;
  /** Forgets every issued token, as a registry does when tokens are revoked or it restarts: clients must fetch new ones. */
  revokeTokens(): void;
  stop(): Promise<void>;
}

interface Grant {
  user: string | null;
  /** repository → actions */
  access: Map<string, Set<string>>;
  expires: number;
}

const SERVICE = 'ghcr-front';

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

/** null: no credentials; undefined: wrong ones. */
function basicUser(req: IncomingMessage, users: Record<string, string>): string | null | undefined {
  const m = /^Basic\s+(\S+)/i.exec(req.headers.authorization ?? '');
  if (!m) return null;
  const plain = Buffer.from(m[1]!, 'base64').toString();
  const i = plain.indexOf(':');
  const [user, token] = [plain.slice(0, i), plain.slice(i + 1)];
  return i > 0 && Object.hasOwn(users, user) && users[user] === token ? user : undefined;
}

export async function startGhcrFront(backendUrl: string, opts: GhcrFrontOptions): Promise<GhcrFront> {
  const backend = new URL(backendUrl);
  const agent = new Agent({ keepAlive: true });
  const publicRepos = new Set(opts.publicRepos ?? []);
  const ttl = opts.tokenTtlSeconds ?? 300;
  const tokens = new Map<string, Grant>();
  const counters: GhcrCounters = { tokenRequests: 0, anonymousTokens: 0, userTokens: 0, unauthorized: 0, denied: 0, referrers: 0, proxied: 0 };
  let url = '';

  function issue(req: IncomingMessage, res: ServerResponse, q: URLSearchParams): void {
    counters.tokenRequests++;
    const user = basicUser(req, opts.users);
    if (user === undefined) return json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] });
    const access = new Map<string, Set<string>>();
    for (const scope of q.getAll('scope').flatMap((s) => s.split(' '))) {
      const a = parseScope(scope);
      if (!a || a.type !== 'repository') continue;
      const allowed = user !== null ? ['pull', 'push'] : publicRepos.has(a.name) ? ['pull'] : [];
      const set = access.get(a.name) ?? new Set<string>();
      for (const x of a.actions) if (allowed.includes(x)) set.add(x);
      access.set(a.name, set);
    }
    if (user === null) counters.anonymousTokens++;
    else counters.userTokens++;
    const token = randomBytes(24).toString('base64url');
    tokens.set(token, { user, access, expires: Date.now() + ttl * 1000 });
    json(res, 200, { token, access_token: token, expires_in: ttl, issued_at: new Date().toISOString() });
  }

  function challenge(res: ServerResponse, scope?: string): void {
    counters.unauthorized++;
    const s = scope ? `,scope="${scope}"` : '';
    json(
      res,
      401,
      { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] },
      { 'www-authenticate': `Bearer realm="${url}/token",service="${SERVICE}"${s}` },
    );
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname === '/token' && req.method === 'GET') return issue(req, res, u.searchParams);
    if (!u.pathname.startsWith('/v2/')) return json(res, 404, { errors: [{ code: 'NOT_FOUND' }] });
    const m = /^\/v2\/(.+?)\/(blobs|manifests|tags|referrers)\//.exec(u.pathname);
    const name = m?.[1];
    const write = !['GET', 'HEAD'].includes(req.method ?? 'GET');
    const action = write ? 'push' : 'pull';
    const scope = name ? `repository:${name}:${write ? 'pull,push' : 'pull'}` : undefined;
    const bearer = /^Bearer\s+(\S+)/i.exec(req.headers.authorization ?? '')?.[1];
    const grant = bearer ? tokens.get(bearer) : undefined;
    if (!grant || grant.expires < Date.now()) return challenge(res, scope);
    if (name && !grant.access.get(name)?.has(action)) {
      if (grant.user === null) return challenge(res, scope);
      counters.denied++;
      return json(res, 403, { errors: [{ code: 'DENIED', message: `token has no ${action} access to ${name}` }] });
    }
    if (m?.[2] === 'referrers') {
      counters.referrers++;
      return json(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'not found' }] });
    }
    // A cross-repository mount from a repository the token cannot pull falls back to a plain upload, as registries do.
    let path = req.url ?? '/';
    const from = u.searchParams.get('from');
    if (req.method === 'POST' && from !== null && !grant.access.get(from)?.has('pull')) {
      u.searchParams.delete('mount');
      u.searchParams.delete('from');
      path = u.pathname + (u.search || '');
    }
    counters.proxied++;
    relay(req, res, backend, agent, { path }).catch(() => res.destroy());
  }

  const server = createServer({ requestTimeout: 0 }, handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  url = `http://127.0.0.1:${port}`;
  return {
    url,
    host: `127.0.0.1:${port}`,
    service: SERVICE,
    counters,
    revokeTokens: () => tokens.clear(),
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

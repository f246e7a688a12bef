// A Docker registry token server (the distribution token spec and its JWT
// profile), so registry tests run the real Bearer flow against a real
// docker-registry: GET /token with Basic or no credentials, POST /token with
// the OAuth2 form, ES256 JWTs whose x5c carries a self-signed P-256
// certificate made by the openssl CLI; the same PEM is the registry's
// rootcertbundle.
import { randomBytes, randomUUID, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { removeDir, tempDir } from './strata.js';
import { selfSignedCert } from './tls-cert.js';

export interface TokenServerOptions {
  /** user → password; these users get pull and push on every repository. */
  users?: Record<string, string>;
  /** Anonymous clients get pull (only pull) on every repository. */
  anonymousPull?: boolean;
  ttlSeconds?: number;
  service?: string;
  issuer?: string;
}

export interface Access {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenCounters {
  /** Every request to /token, answered or refused. */
  requests: number;
  anonymous: number;
  authenticated: number;
  /** Wrong credentials (401). */
  refused: number;
  /** POST /token (the OAuth2 form). */
  oauth: number;
}

export interface TokenServer {
  url: string;
  /** The realm to put in the registry's auth.token config. */
  realm: string;
  service: string;
  issuer: string;
  /** PEM of the signing certificate: the registry's rootcertbundle. */
  certPath: string;
  counters: TokenCounters;
  /** What each issued token granted, in order. */
  issued: { account: string | null; access: Access[] }[];
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** `repository:NAME:pull,push` → the access the request asks for (the name may hold no ':', the type may). */
export function parseScope(scope: string): Access | null {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last <= first) return null;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

export async function startTokenServer(opts: TokenServerOptions = {}): Promise<TokenServer> {
  const users = opts.users ?? {};
  const ttl = opts.ttlSeconds ?? 300;
  const service = opts.service ?? 'strata-test-registry';
  const issuer = opts.issuer ?? 'strata-test-token-server';
  const dir = tempDir('strata-token-');
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  await selfSignedCert({ cert: certPath, key: keyPath }, 'strata-test-token-server').catch((e: unknown) => {
    removeDir(dir);
    throw e;
  });
  const key = readFileSync(keyPath);
  const certDer = Buffer.from(readFileSync(certPath, 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const counters: TokenCounters = { requests: 0, anonymous: 0, authenticated: 0, refused: 0, oauth: 0 };
  const issued: TokenServer['issued'] = [];
  const refreshTokens = new Map<string, string>();

  function grant(account: string | null, wanted: Access[]): Access[] {
    const allowed = account !== null ? ['pull', 'push'] : opts.anonymousPull ? ['pull'] : [];
    const merged = new Map<string, Access>();
    for (const a of wanted) {
      if (a.type !== 'repository') continue;
      const m = merged.get(a.name) ?? { type: a.type, name: a.name, actions: [] };
      for (const x of a.actions) if (allowed.includes(x) && !m.actions.includes(x)) m.actions.push(x);
      merged.set(a.name, m);
    }
    return [...merged.values()].filter((a) => a.actions.length > 0);
  }

  function jwt(account: string | null, access: Access[]): { token: string; issuedAt: Date } {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] };
    const claims = { iss: issuer, sub: account ?? '', aud: service, exp: now + ttl, nbf: now - 10, iat: now, jti: randomUUID(), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    issued.push({ account, access });
    return { token: `${input}.${b64url(sig)}`, issuedAt: new Date(now * 1000) };
  }

  /** null: anonymous; undefined: wrong credentials. */
  function basicAccount(req: IncomingMessage): string | null | undefined {
    const m = /^Basic\s+(\S+)/i.exec(req.headers.authorization ?? '');
    if (!m) return null;
    const plain = Buffer.from(m[1]!, 'base64').toString();
    const i = plain.indexOf(':');
    const [user, pass] = [plain.slice(0, i), plain.slice(i + 1)];
    return i > 0 && Object.hasOwn(users, user) && users[user] === pass ? user : undefined;
  }

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  }

  function refuse(res: ServerResponse): void {
    counters.refused++;
    send(
      res,
      401,
      { errors: [{ code: 'UNAUTHORIZED', message: 'wrong username or password' }] },
      { 'www-authenticate': 'Basic realm="strata-test-token-server"' },
    );
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/token') return send(res, 404, { errors: [{ code: 'NOT_FOUND' }] });
    counters.requests++;
    if (req.method === 'GET') {
      const account = basicAccount(req);
      if (account === undefined) return refuse(res);
      if (account === null) counters.anonymous++;
      else counters.authenticated++;
      const access = grant(
        account,
        url.searchParams
          .getAll('scope')
          .flatMap((s) => s.split(' '))
          .map(parseScope)
          .filter((a): a is Access => a !== null),
      );
      const { token, issuedAt } = jwt(account, access);
      const body: Record<string, unknown> = { token, access_token: token, expires_in: ttl, issued_at: issuedAt.toISOString() };
      if (account !== null && url.searchParams.get('offline_token') === 'true') {
        body.refresh_token = randomBytes(24).toString('base64url');
        refreshTokens.set(body.refresh_token as string, account);
      }
      return send(res, 200, body);
    }
    if (req.method === 'POST') {
      counters.oauth++;
      let raw = '';
      for await (const chunk of req) if ((raw += chunk).length > 65536) return send(res, 413, {});
      const form = new URLSearchParams(raw);
      let account: string | undefined;
      let refresh: string | undefined;
      if (form.get('grant_type') === 'password') {
        const user = form.get('username') ?? '';
        if (!Object.hasOwn(users, user) || users[user] !== form.get('password')) return refuse(res);
        account = user;
        if (form.get('access_type') === 'offline') {
          refresh = randomBytes(24).toString('base64url');
          refreshTokens.set(refresh, user);
        }
      } else if (form.get('grant_type') === 'refresh_token') {
        account = refreshTokens.get(form.get('refresh_token') ?? '');
        if (account === undefined) return refuse(res);
        refresh = form.get('refresh_token')!;
      } else {
        return send(res, 400, { error: 'unsupported_grant_type' });
      }
      counters.authenticated++;
      const access = grant(
        account,
        (form.get('scope') ?? '')
          .split(' ')
          .filter(Boolean)
          .map(parseScope)
          .filter((a): a is Access => a !== null),
      );
      const { token, issuedAt } = jwt(account, access);
      return send(res, 200, { access_token: token, ...(refresh ? { refresh_token: refresh } : {}), expires_in: ttl, issued_at: issuedAt.toISOString() });
    }
    send(res, 405, {});
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, { error: String(e) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    realm: `${url}/token`,
    service,
    issuer,
    certPath,
    counters,
    issued,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      removeDir(dir);
    },
  };
}

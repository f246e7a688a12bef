// Answers a registry's 401 the two ways registries ask: Basic (send the
// credentials) and Bearer (fetch a token from the realm for the scopes the
// challenge names, per the distribution token spec). Minimal on purpose: the
// suite checks the distribution API, not the token service, so a failed
// token fetch simply leaves the 401 for the check to report.
import { request } from 'undici';
import { z } from 'zod';
import { parseWwwAuthenticate } from '../../registry/challenge.js';

export interface Credentials {
  username: string;
  password: string;
}

const TokenResponse = z.object({ token: z.string().optional(), access_token: z.string().optional() });

/** The repository a /v2/<name>/... path is about ("" for /v2/ itself), which a Bearer token is scoped to. */
function repositoryOf(url: URL): string {
  const m = /^\/v2\/(.+?)\/(?:blobs|manifests|tags|referrers)\//.exec(url.pathname);
  return m?.[1] ?? '';
}

export class Authenticator {
  private basic = false;
  /** Repository → the last token granted for it: the scopes a 401 asked for. */
  private readonly tokens = new Map<string, string>();

  constructor(
    private readonly registry: URL,
    private readonly credentials: Credentials | undefined,
    private readonly timeoutMs: number,
  ) {}

  /** The Authorization header for a request, if one is known; never for another origin (a blob redirect to storage). */
  headerFor(url: URL): string | undefined {
    if (url.origin !== this.registry.origin) return undefined;
    const token = this.tokens.get(repositoryOf(url));
    if (token) return `Bearer ${token}`;
    if (this.basic && this.credentials) return `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}`;
    return undefined;
  }

  /** Learns from a 401's WWW-Authenticate; true when a retry can now carry credentials it did not before. */
  async answer(url: URL, wwwAuthenticate: string | undefined): Promise<boolean> {
    const challenges = parseWwwAuthenticate(wwwAuthenticate ?? '');
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer?.params.realm) {
      const token = await this.fetchToken(bearer.params.realm, bearer.params.service, bearer.params.scope);
      if (!token) return false;
      this.tokens.set(repositoryOf(url), token);
      return true;
    }
    if (challenges.some((c) => c.scheme === 'basic') && this.credentials && !this.basic) {
      this.basic = true;
      return true;
    }
    return false;
  }

  private async fetchToken(realm: string, service: string | undefined, scope: string | undefined): Promise<string | undefined> {
    const url = new URL(realm);
    if (service) url.searchParams.set('service', service);
    // A challenge may name several scopes separated by spaces (a mount asks for the source's pull too).
    for (const s of (scope ?? '').split(' ').filter(Boolean)) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (this.credentials) headers.authorization = `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}`;
    const res = await request(url, { headers, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
    const text = await res.body.text();
    if (res.statusCode !== 200) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return undefined;
    }
    const parsed = TokenResponse.safeParse(json);
    return parsed.success ? (parsed.data.token ?? parsed.data.access_token) : undefined;
  }
}

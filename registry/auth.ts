// The auth side of a registry session: what the registry's challenge asks for
// (Basic, or Bearer tokens from a token service) and the credentials to answer
// it with. Tokens are kept per scope set until they expire or the registry
// refuses them; anonymous tokens are fetched too (GHCR wants one even for a
// public pull). No secret is ever part of a message.
//
// Where credentials may go is the session's rule: `raw` refuses a realm that
// breaks it, and the session shows this only its own origin's challenges. What
// a token service sends is bounded here: 1 MiB, within the request timeout.
import { StrataError } from '../base/errors.js';
import { MAX_CHALLENGE_BYTES, parseWwwAuthenticate } from './challenge.js';
import { resolveCredential, type Credential, type CredentialOptions, type FoundCredential } from './credentials.js';
import { Deadline, discard, readBounded, type RequestBody, type RegistryResponse } from './http.js';

type Raw = (url: string, init: { method: string; headers?: Record<string, string>; body?: RequestBody; signal?: AbortSignal }) => Promise<RegistryResponse>;

/** A token response is a JWT or an opaque string in a little JSON: far below this. */
const MAX_TOKEN_RESPONSE_BYTES = 2 ** 20;

interface Challenge {
  scheme: 'basic' | 'bearer';
  realm?: string;
  service?: string;
}

interface Token {
  value: string;
  expiresAt: number;
}

/** Tokens are renewed this long before they expire, so a request never carries a dying one. */
const EXPIRY_MARGIN_MS = 10_000;

export class Authenticator {
  private challenge: Challenge | undefined;
  private credential: Promise<FoundCredential | undefined> | undefined;
  private found: FoundCredential | undefined;
  private tokens = new Map<string, Promise<Token>>();

  constructor(
    private readonly registry: string,
    private readonly options: CredentialOptions,
    private readonly raw: Raw,
    private readonly timeoutMs: number,
  ) {}

  /** Reads the challenge of a 401 (the /v2/ probe's, or any request's). */
  observe(res: RegistryResponse): void {
    if (res.status !== 401) return;
    const header = res.headers['www-authenticate'];
    if (!header) return;
    if (Buffer.byteLength(header) > MAX_CHALLENGE_BYTES) {
      throw new StrataError(
        'registry',
        `registry ${this.registry} sent a WWW-Authenticate header of ${Buffer.byteLength(header)} bytes, over the ${MAX_CHALLENGE_BYTES / 1024} KiB limit`,
      );
    }
    const challenges = parseWwwAuthenticate(header);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (bearer) this.challenge = { scheme: 'bearer', realm: bearer.params.realm, service: bearer.params.service };
    else if (basic) this.challenge = { scheme: 'basic' };
  }

  private async credentialFor(): Promise<FoundCredential | undefined> {
    this.credential ??= resolveCredential(this.registry, this.options);
    this.found = await this.credential;
    return this.found;
  }

  /** " with the credentials from SOURCE" or " to anonymous requests", for error lines. */
  describeCredential(): string {
    return this.found ? ` with the credentials from ${this.found.source}` : this.challenge ? ' to an anonymous request (no credentials found for it)' : '';
  }

  /** The Authorization header for a request needing `scopes`, or undefined. */
  async authorization(scopes: string[]): Promise<string | undefined> {
    const ch = this.challenge;
    if (!ch) return undefined;
    const found = await this.credentialFor();
    if (ch.scheme === 'basic') {
      const c = found?.credential;
      return c?.kind === 'basic' ? `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` : undefined;
    }
    if (found?.credential.kind === 'registry-token') return `Bearer ${found.credential.token}`;
    const key = [...scopes].sort().join(' ');
    let pending = this.tokens.get(key);
    if (pending) {
      const t = await pending.catch(() => undefined);
      if (!t || Date.now() > t.expiresAt - EXPIRY_MARGIN_MS) pending = undefined;
    }
    if (!pending) {
      pending = this.fetchToken(ch, scopes, found);
      this.tokens.set(key, pending);
      pending.catch(() => this.tokens.delete(key));
    }
    return `Bearer ${(await pending).value}`;
  }

  /** After a 401: take the registry's (maybe new) challenge and forget the token that failed. */
  async refresh(res: RegistryResponse, scopes: string[]): Promise<void> {
    this.observe(res);
    this.tokens.delete([...scopes].sort().join(' '));
  }

  private async fetchToken(ch: Challenge, scopes: string[], found: FoundCredential | undefined): Promise<Token> {
    if (!ch.realm) throw new StrataError('auth', `registry ${this.registry} asked for a bearer token but named no token service (realm)`);
    const c: Credential | undefined = found?.credential;
    const url = new URL(ch.realm);
    const step = `request for a token of registry ${this.registry} (${url.origin})`;
    const deadline = new Deadline(this.timeoutMs, 'the token service');
    const signal = deadline.signal;
    let res: RegistryResponse;
    try {
      if (c?.kind === 'identity-token') {
        // OAuth2 refresh-token grant, as docker does with an identity token.
        const form = new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: c.token,
          client_id: 'strata',
          ...(ch.service ? { service: ch.service } : {}),
          scope: scopes.join(' '),
        });
        res = await this.raw(url.toString(), {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: Buffer.from(form.toString()),
          signal,
        });
      } else {
        if (ch.service) url.searchParams.set('service', ch.service);
        for (const s of scopes) url.searchParams.append('scope', s);
        const headers: Record<string, string> = {};
        if (c?.kind === 'basic') {
          url.searchParams.set('account', c.username);
          headers.authorization = `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
        }
        res = await this.raw(url.toString(), { method: 'GET', headers, signal });
      }
    } catch (e) {
      if (e instanceof StrataError) throw e;
      if (deadline.expired) throw deadline.error(step);
      throw new StrataError('auth', `cannot reach the token service of registry ${this.registry} (${url.origin}): ${(e as Error).message}`, { cause: e });
    }
    if (res.status !== 200) {
      await discard(res, this.timeoutMs, deadline);
      const who = found
        ? `refused the credentials from ${found.source}`
        : 'refused an anonymous token (no credentials found for it; use docker login, --username with --password-stdin, or GITHUB_TOKEN for ghcr.io)';
      throw new StrataError('auth', `the token service of registry ${this.registry} ${who} (HTTP ${res.status})`);
    }
    const body = await readToken(res, deadline, step);
    const value = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined;
    if (!value) throw new StrataError('auth', `the token service of registry ${this.registry} answered without a token`);
    // The token spec's default lifetime is 60 s when expires_in is absent (or not a number).
    const issued = typeof body.issued_at === 'string' ? Date.parse(body.issued_at) : NaN;
    const start = Number.isNaN(issued) ? Date.now() : Math.min(issued, Date.now());
    const lifetime = typeof body.expires_in === 'number' && Number.isFinite(body.expires_in) ? body.expires_in : 60;
    return { value, expiresAt: start + lifetime * 1000 };
  }
}

/** The token response's JSON ({} when it is not JSON), refused past MAX_TOKEN_RESPONSE_BYTES or the deadline. */
async function readToken(res: RegistryResponse, deadline: Deadline, step: string): Promise<Record<string, unknown>> {
  const bytes = await readBounded({ ...res, deadline }, step, MAX_TOKEN_RESPONSE_BYTES, 'the token response', 'the token service');
  try {
    const j = JSON.parse(bytes.toString('utf8')) as unknown;
    return j && typeof j === 'object' ? (j as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

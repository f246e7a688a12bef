// The OIDC identity token for keyless signing: SIGSTORE_ID_TOKEN (what cosign
// reads too), else the job's token in GitHub Actions, asked for with audience
// "sigstore" as Fulcio expects. The token is a credential: no message names it.
import { EnvHttpProxyAgent, request } from 'undici';
import { StrataError } from '../base/errors.js';

const dispatcher = new EnvHttpProxyAgent();

/** The claims Fulcio puts in the certificate come from the token; without one of these it refuses it. */
function checkShape(token: string, from: string): string {
  const payload = token.split('.')[1];
  let claims: { sub?: unknown; email?: unknown; exp?: unknown } | undefined;
  try {
    claims = payload ? (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof claims) : undefined;
  } catch {
    claims = undefined;
  }
  if (typeof claims?.sub !== 'string' && typeof claims?.email !== 'string')
    throw new StrataError('usage', `the OIDC token from ${from} is not a JWT with a subject`);
  // Fulcio refuses an expired token; saying so here names the cause (CI tokens live minutes).
  if (typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now()) {
    throw new StrataError('usage', `the OIDC token from ${from} expired at ${new Date(claims.exp * 1000).toISOString()}; get a fresh one`);
  }
  return token;
}

async function githubActionsToken(url: string, bearer: string): Promise<string> {
  const u = new URL(url);
  u.searchParams.set('audience', 'sigstore');
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(u, { headers: { authorization: `Bearer ${bearer}`, accept: 'application/json' }, dispatcher });
  } catch (e) {
    throw new StrataError('sigstore', `cannot reach GitHub Actions' token service: ${(e as Error).message}`, { cause: e });
  }
  const body = await res.body.text();
  if (res.statusCode !== 200)
    throw new StrataError('sigstore', `GitHub Actions gave no OIDC token (HTTP ${res.statusCode}); the job needs 'permissions: id-token: write'`);
  const value = (JSON.parse(body) as { value?: unknown }).value;
  if (typeof value !== 'string') throw new StrataError('sigstore', "GitHub Actions' token service answered without a token");
  return value;
}

export async function identityToken(env: NodeJS.ProcessEnv): Promise<string> {
  if (env.SIGSTORE_ID_TOKEN) return checkShape(env.SIGSTORE_ID_TOKEN, 'SIGSTORE_ID_TOKEN');
  if (env.ACTIONS_ID_TOKEN_REQUEST_URL && env.ACTIONS_ID_TOKEN_REQUEST_TOKEN) {
    return checkShape(await githubActionsToken(env.ACTIONS_ID_TOKEN_REQUEST_URL, env.ACTIONS_ID_TOKEN_REQUEST_TOKEN), 'GitHub Actions');
  }
  throw new StrataError(
    'usage',
    "keyless signing needs an OIDC token: set SIGSTORE_ID_TOKEN, or run in GitHub Actions with 'permissions: id-token: write'; or sign with --key",
  );
}

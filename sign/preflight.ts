// Before a push that signs keyless: Fulcio and Rekor answer. One cheap GET
// each, of what the real services serve to anyone (Fulcio's configuration,
// Rekor's log info), so a service that is down or mistyped fails the command
// before its first upload rather than after the image is in the registry.
import { EnvHttpProxyAgent, request } from 'undici';
import { StrataError } from '../base/errors.js';

const dispatcher = new EnvHttpProxyAgent();
const TIMEOUT_MS = 15_000;

async function answers(name: string, base: string, path: string): Promise<void> {
  let status: number;
  try {
    const res = await request(`${base}${path}`, { headers: { accept: 'application/json' }, dispatcher, signal: AbortSignal.timeout(TIMEOUT_MS) });
    status = res.statusCode;
    await res.body.dump();
  } catch (e) {
    throw new StrataError('sigstore', `cannot reach ${name} at ${base}: ${(e as Error).message}`, { cause: e });
  }
  if (status < 200 || status > 299) throw new StrataError('sigstore', `${name} at ${base} answered HTTP ${status} to GET ${path}; is it ${name}?`);
}

/** Both services of keyless signing answer, checked at once. */
export async function checkKeylessServices(fulcioURL: string, rekorURL: string): Promise<void> {
  await Promise.all([answers('Fulcio', fulcioURL, '/api/v2/configuration'), answers('Rekor', rekorURL, '/api/v1/log')]);
}

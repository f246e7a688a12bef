// The registry docker:// pushes go to (a `strata serve` of the suite's own,
// or one named by STRATA_REPRO_REGISTRY), and what a registry serves for a
// manifest: the digest of the bytes it sends, and the one it claims.
import { sha256Of } from './hash.js';
import { startServe } from './serve.js';

export interface PushTarget {
  /** Where manifests are read back: http:// for loopback, else https://. */
  url: string;
  /** What follows docker:// in a destination. */
  host: string;
  stop(): Promise<void>;
}

/** `strata serve --allow-anonymous-push` on loopback, storing under `root`. */
export async function ownRegistry(root: string, env: NodeJS.ProcessEnv, node: string): Promise<PushTarget> {
  const served = await startServe({ root, args: ['--allow-anonymous-push'], env, node });
  return { url: served.url, host: served.host, stop: () => served.stop() };
}

/** A registry given as a URL; it must take anonymous pushes and pulls, over plain HTTP only on loopback. */
export function givenRegistry(url: string): PushTarget {
  const u = new URL(url);
  return { url: u.origin, host: u.host, stop: async () => {} };
}

const ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

export interface ServedManifest {
  /** sha256 of the body. */
  digest: string;
  /** Its Docker-Content-Digest header, if any. */
  claimed: string | null;
}

/** GET of a manifest, by tag or digest; `accept` picks the forms the client takes (OCI and Docker by default). */
export async function fetchManifest(url: string, repo: string, ref: string, accept = ACCEPT): Promise<ServedManifest> {
  const res = await fetch(`${url}/v2/${repo}/manifests/${ref}`, { headers: { accept: accept.join(', ') }, signal: AbortSignal.timeout(600_000) });
  const body = new Uint8Array(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`GET ${url}/v2/${repo}/manifests/${ref}: ${res.status} ${new TextDecoder().decode(body).slice(0, 200)}`);
  return { digest: sha256Of(body), claimed: res.headers.get('docker-content-digest') };
}

export const OCI_MANIFEST_ONLY = [ACCEPT[0]!, ACCEPT[1]!];

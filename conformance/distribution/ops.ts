// Registry steps that checks share to set the scene: the plain POST-then-PUT
// upload and the manifest PUT. When one fails, the check cannot reach the
// behaviour it is about, and ends as a failure whose reason starts "setup:".
import { type Content, descriptor, imageConfig, imageManifest, randomLayer } from './content.js';
import { summary } from './expect.js';
import { type HttpResponse, type RegistryClient, locationOf, withQuery } from './http.js';
import { fail } from './outcome.js';

export const paths = {
  blob: (repo: string, digest: string) => `/v2/${repo}/blobs/${digest}`,
  uploads: (repo: string) => `/v2/${repo}/blobs/uploads/`,
  manifest: (repo: string, ref: string) => `/v2/${repo}/manifests/${ref}`,
  tags: (repo: string) => `/v2/${repo}/tags/list`,
  referrers: (repo: string, digest: string) => `/v2/${repo}/referrers/${digest}`,
};

/** What the suite accepts for manifests; distribution hides OCI manifests from clients that do not say so. */
const ACCEPT_MANIFESTS = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';

function setupFailed(step: string, res: HttpResponse): never {
  fail(`setup: ${step}: got ${summary(res)}`);
}

/** POST /blobs/uploads/ → 202 with the session's Location. */
export async function startUpload(client: RegistryClient, repo: string): Promise<URL> {
  const res = await client.send('POST', paths.uploads(repo));
  const location = locationOf(res);
  if (res.status !== 202 || !location) setupFailed(`POST ${paths.uploads(repo)} (expected 202 with a Location)`, res);
  return location;
}

/** The POST-then-PUT upload every registry must take. */
export async function pushBlob(client: RegistryClient, repo: string, blob: Content): Promise<void> {
  const session = await startUpload(client, repo);
  const res = await client.send('PUT', withQuery(session, { digest: blob.digest }), {
    headers: { 'content-type': 'application/octet-stream' },
    body: blob.bytes,
  });
  if (res.status !== 201) setupFailed(`PUT of blob ${blob.digest} (expected 201)`, res);
}

export async function putManifest(client: RegistryClient, repo: string, ref: string, manifest: Content): Promise<HttpResponse> {
  return client.send('PUT', paths.manifest(repo, ref), { headers: { 'content-type': manifest.mediaType }, body: manifest.bytes });
}

export async function pushManifest(client: RegistryClient, repo: string, ref: string, manifest: Content): Promise<HttpResponse> {
  const res = await putManifest(client, repo, ref, manifest);
  if (res.status !== 201) setupFailed(`PUT ${paths.manifest(repo, ref)} (expected 201)`, res);
  return res;
}

export function getManifest(client: RegistryClient, repo: string, ref: string, method: 'GET' | 'HEAD' = 'GET'): Promise<HttpResponse> {
  return client.send(method, paths.manifest(repo, ref), { headers: { accept: ACCEPT_MANIFESTS } });
}

export interface Image {
  repo: string;
  tag: string;
  config: Content;
  layer: Content;
  manifest: Content;
}

/** An image of one random layer, its blobs uploaded and its manifest tagged. */
export async function pushImage(client: RegistryClient, repo: string, tag: string): Promise<Image> {
  const layer = randomLayer();
  const config = imageConfig([layer]);
  const manifest = imageManifest({ config: descriptor(config), layers: [descriptor(layer)] });
  await pushBlob(client, repo, config);
  await pushBlob(client, repo, layer);
  await pushManifest(client, repo, tag, manifest);
  return { repo, tag, config, layer, manifest };
}

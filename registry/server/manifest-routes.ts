// GET, HEAD, PUT and DELETE /v2/<name>/manifests/<reference>.
import type { Context } from 'hono';
import { bridged, requestBody, type Deps, type Endpoint, type Env, type Handler } from './context.js';
import { digestInvalid, manifestInvalid, manifestUnknown, RegistryError } from './errors.js';
import { accepts, parseAccept, parseManifest } from './manifest.js';
import { parseReference, referenceText, type ManifestReference, type RepoName, type RouteOf } from './names.js';
import type { BridgedManifest } from './bridge.js';
import type { StoredManifest } from './storage.js';

/** A reference to read or delete: one that cannot be valid names nothing stored, hence 404. */
function existingReference(text: string): ManifestReference {
  const ref = parseReference(text);
  if (!ref) throw manifestUnknown(text.slice(0, 128));
  return ref;
}

async function find(deps: Deps, name: RepoName, text: string, accept: string[]): Promise<BridgedManifest | StoredManifest | undefined> {
  const ref = existingReference(text);
  const bridge = bridged(deps, name);
  if (bridge) return bridge.manifest(name, referenceText(ref), accept);
  const m = await deps.store.getManifest(name, ref);
  // No conversion between kinds: a client that cannot take the stored one is told it is not there, as distribution does.
  return m && accepts(accept, m.mediaType) ? m : undefined;
}

const read =
  (head: boolean): Handler<RouteOf<'manifest'>> =>
  async (c, route, deps) => {
    const m = await find(deps, route.name, route.reference, parseAccept(c.req.header('accept')));
    if (!m) throw manifestUnknown(route.reference);
    const headers = { 'Content-Type': m.mediaType, 'Docker-Content-Digest': m.digest, 'Content-Length': String(m.bytes.length), ETag: `"${m.digest}"` };
    return head ? c.body(null, 200, headers) : c.body(new Uint8Array(m.bytes), 200, headers);
  };

/** The request body, refused past `max` bytes before more is read. */
async function readManifestBody(c: Context<Env>, max: number): Promise<Buffer> {
  const tooLarge = () => manifestInvalid(`the manifest is larger than ${max} bytes`, 413);
  if (Number(c.req.header('content-length') ?? 0) > max) throw tooLarge();
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of requestBody(c) ?? []) {
    n += (chunk as Buffer).length;
    if (n > max) throw tooLarge();
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}

export const manifestEndpoint: Endpoint<RouteOf<'manifest'>> = {
  GET: read(false),
  HEAD: read(true),
  PUT: async (c, { name, reference }, { store, maxManifestBytes }) => {
    const ref = parseReference(reference);
    if (!ref) throw manifestInvalid(`${JSON.stringify(reference.slice(0, 128))} is neither a tag ([a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}) nor a sha256 digest`);
    const m = parseManifest(await readManifestBody(c, maxManifestBytes), c.req.header('content-type'));
    if ('digest' in ref && ref.digest !== m.digest) throw digestInvalid(`the manifest's digest is ${m.digest}, not ${ref.digest}`, ref.digest);
    const missing = await store.missingReferences(name, m);
    if (missing.length > 0) {
      const [first, ...rest] = missing.map((d) => ({
        code: 'MANIFEST_BLOB_UNKNOWN' as const,
        message: 'blob unknown to registry',
        detail: { digest: d.digest },
      }));
      throw new RegistryError(400, first!.code, first!.message, first!.detail, {}, rest);
    }
    await store.putManifest(name, m, 'tag' in ref ? ref.tag : undefined);
    return c.body(null, 201, {
      Location: `/v2/${name}/manifests/${m.digest}`,
      'Docker-Content-Digest': m.digest,
      'Content-Length': '0',
      ...(m.subject ? { 'OCI-Subject': m.subject } : {}),
    });
  },
  DELETE: async (c, { name, reference }, { store }) => {
    const ref = existingReference(reference);
    const gone = 'digest' in ref ? await store.deleteManifest(name, ref.digest) : await store.deleteTag(name, ref.tag);
    if (!gone) throw manifestUnknown(reference);
    return c.body(null, 202, { 'Content-Length': '0' });
  },
};

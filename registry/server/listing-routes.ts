// GET /v2/<name>/tags/list (with n and last) and GET /v2/<name>/referrers/<digest>.
import { MediaType, type Descriptor } from '../../oci/types.js';
import { digestParam } from './blob-routes.js';
import { bridged, type Endpoint } from './context.js';
import { nameUnknown, RegistryError } from './errors.js';
import type { RouteOf } from './names.js';

/** The page of `tags` (sorted) after `last`, at most `n`, and the `last` of the next page when there is one. */
export function tagPage(tags: string[], n: number | undefined, last: string | undefined): { page: string[]; next?: string } {
  const after = last === undefined ? tags : tags.filter((t) => t > last);
  if (n === undefined) return { page: after };
  const page = after.slice(0, n);
  return n > 0 && after.length > n ? { page, next: page[page.length - 1]! } : { page };
}

export const tagsEndpoint: Endpoint<RouteOf<'tags'>> = {
  GET: async (c, { name }, deps) => {
    const nText = c.req.query('n');
    if (nText !== undefined && !/^\d{1,9}$/.test(nText)) throw new RegistryError(400, 'UNSUPPORTED', `n=${nText.slice(0, 20)} is not a whole number`);
    const n = nText === undefined ? undefined : Number(nText);
    const bridge = bridged(deps, name);
    let tags: string[];
    if (bridge) tags = [...(await bridge.tags(name))].sort();
    else if (await deps.store.hasRepository(name)) tags = await deps.store.tagNames(name);
    else throw nameUnknown(name);
    const { page, next } = tagPage(tags, n, c.req.query('last'));
    if (next !== undefined) c.header('Link', `</v2/${name}/tags/list?n=${n}&last=${encodeURIComponent(next)}>; rel="next"`);
    return c.json({ name, tags: page });
  },
};

export const referrersEndpoint: Endpoint<RouteOf<'referrers'>> = {
  GET: async (c, { name, digest }, deps) => {
    const subject = digestParam(digest);
    const artifactType = c.req.query('artifactType');
    // A bridged repository is read-only, so nothing was pushed that refers to its images.
    const all: Descriptor[] = bridged(deps, name) ? [] : await deps.store.referrers(name, subject);
    const manifests = artifactType ? all.filter((d) => d.artifactType === artifactType) : all;
    if (artifactType) c.header('OCI-Filters-Applied', 'artifactType');
    return c.body(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }), 200, { 'Content-Type': MediaType.ociIndex });
  },
};

// Pushing an image made from the Nix store, a thin composition: the layers a
// registry already knows by key — the manifest under the destination tag or
// --reuse-from's, when they are Strata's (a layer key annotation) — join the
// cache's, so a re-push from a fresh runner with an empty cache compresses
// nothing; then the one registry writer (registry/push.ts) takes the pending
// image: each layer skipped, mounted, or uploaded from the cache or the store.
import { parseOci } from '../oci/parse.js';
import { readChecked } from '../image/source.js';
import { StrataAnnotation, type Platform } from '../oci/types.js';
import { choosePlatform } from '../oci/platform.js';
import { imageConfig } from '../oci/schema.js';
import { getBlob, type Repository } from '../registry/blobs.js';
import { getManifest } from '../registry/manifests.js';
import { pushImage, type PushOptions, type PushSummary } from '../registry/push.js';
import { closeLayerPool } from './layer-stream.js';
import type { WrittenImage } from './image-plan.js';
import type { KnownLayer, NixImage } from './nix-image.js';

/**
 * Layers of the manifest under `reference` in `repo`, by layer key. Nothing
 * when there is no such manifest, it is not Strata's, or it is Docker-format
 * (Docker manifests carry no annotations).
 */
export async function layersByKey(repo: Repository, reference: string, platform: Platform): Promise<Map<string, KnownLayer>> {
  const found = new Map<string, KnownLayer>();
  // getManifest checks what it returns against the spec's grammar: its digests are safe to ask for.
  let m = await getManifest(repo, reference, { push: true });
  if (m?.index) {
    const child = choosePlatform(m.index.manifests, platform);
    m = child ? await getManifest(repo, child.digest, { push: true }) : undefined;
  }
  const manifest = m?.manifest;
  if (!manifest?.layers.some((l) => l.annotations?.[StrataAnnotation.layerKey])) return found;
  const where = `${repo.session.registry}/${repo.name}:${reference}`;
  const bytes = await readChecked(await getBlob(repo, manifest.config.digest), manifest.config, where, 'registry');
  const config = parseOci(imageConfig, bytes, `config ${manifest.config.digest} of ${where}`, 'registry');
  manifest.layers.forEach((l, i) => {
    const key = l.annotations?.[StrataAnnotation.layerKey];
    const diffID = config.rootfs.diff_ids[i];
    if (key && diffID) found.set(key, { digest: l.digest, size: l.size, diffID, uncompressedSize: -1, repository: repo.name });
  });
  return found;
}

export interface NixPushRequest {
  image: NixImage;
  repo: Repository;
  tags: string[];
  /** Other images (same registry) whose matching layers may be reused: --reuse-from. */
  reuseFrom: { repo: Repository; reference: string }[];
  push: PushOptions;
}

/** A Nix installable's image through the one registry writer, its layers known from the cache or from the destination's (or --reuse-from's) manifests. */
export async function pushNixImage(req: NixPushRequest): Promise<{ image: WrittenImage; summary: PushSummary }> {
  // --reuse-from's repositories of this registry are mount sources for every blob, made now or cached.
  const reusable = req.reuseFrom.filter((r) => r.repo.session.registry === req.repo.session.registry).map((r) => r.repo.name);
  const known = new Map<string, KnownLayer>();
  for (const r of [...req.reuseFrom, { repo: req.repo, reference: req.tags[0] ?? 'latest' }]) {
    for (const [k, v] of await layersByKey(r.repo, r.reference, req.image.options.platform)) known.set(k, v);
  }
  const pending = await req.image.pending(known);
  try {
    const summary = await pushImage(pending, req.repo, req.tags, { ...req.push, mountFrom: [...(req.push.mountFrom ?? []), ...reusable] });
    return { image: pending.written!, summary };
  } finally {
    await closeLayerPool();
  }
}

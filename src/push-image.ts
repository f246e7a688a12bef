// Pushing an image made from the Nix store: each layer goes from the store
// through tar and the compressor straight into the upload, hashed on the way.
// Before making anything, every layer whose digests are already known — from
// the layer cache, or from the manifest already under the destination tag (or
// --reuse-from) whose layer key annotation matches — is checked with a HEAD, so
// a re-push from a fresh runner with an empty cache compresses nothing. A base
// image's layers go as they are: mounted when the base is in another repository
// of the destination's registry, else streamed from wherever the base is.
import { deferredStream } from '../base/deferred-stream.js';
import { settleAll } from '../base/settle.js';
import { createReadStream } from 'node:fs';
import { parseOci } from '../oci/parse.js';
import { readChecked } from '../image/source.js';
import { StrataAnnotation, type Platform } from '../oci/types.js';
import { choosePlatform } from '../oci/platform.js';
import { type Digest } from '../base/digest.js';
import { imageConfig } from '../oci/schema.js';
import type { LayerDigests } from '../layers/layer.js';
import { blobSize, bufferSource, getBlob, shortDigest, type BlobBytes, type Repository } from '../registry/blobs.js';
import { getManifest, headManifest } from '../registry/manifests.js';
import { limiter, pushBlob, putManifestAndTags, blobToPush, type PushedBlob, type PushOptions, type PushSummary } from '../registry/push.js';
import { closeLayerPool } from './layer-stream.js';
import type { WrittenImage } from './image-plan.js';
import type { NixImage } from './nix-image.js';

/** A layer known by its key elsewhere: its digests, and the repository that has it. */
interface KnownLayer {
  digest: Digest;
  size: number;
  diffID: Digest;
  uncompressedSize: number;
  repository?: string;
}

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

export async function pushNixImage(request: NixPushRequest): Promise<{ image: WrittenImage; summary: PushSummary }> {
  // --reuse-from's repositories of this registry are mount sources for every blob, made now or cached.
  const reusable = request.reuseFrom.filter((r) => r.repo.session.registry === request.repo.session.registry).map((r) => r.repo.name);
  const req = { ...request, push: { ...request.push, mountFrom: [...(request.push.mountFrom ?? []), ...reusable] } };
  const nix = req.image;
  const o = nix.options;
  const known = new Map<string, KnownLayer>();
  for (const r of [...req.reuseFrom, { repo: req.repo, reference: req.tags[0] ?? 'latest' }]) {
    for (const [k, v] of await layersByKey(r.repo, r.reference, o.platform)) known.set(k, v);
  }
  // Every layer known: the manifest is known too, and a registry that has it
  // has all it names (it checks on PUT). One HEAD then replaces one per blob.
  const hits = await Promise.all(nix.layers.map(async (p) => (await nix.known(p)) ?? known.get(p.key)));
  if (hits.every((h): h is LayerDigests => h !== undefined)) {
    const image = nix.finish(hits);
    const m = image.manifest;
    if ((await headManifest(req.repo, m.descriptor.digest, true)) === m.descriptor.digest) {
      const blobs = [...image.layers, image.config.descriptor].map((l): PushedBlob => ({ digest: l.digest, size: l.size, action: 'exists', sent: 0 }));
      for (const b of blobs) req.push.progress.emit({ type: 'blob-done', id: b.digest, digest: b.digest, size: b.size, action: 'exists' });
      await putManifestAndTags(req.repo, m.bytes, m.descriptor.mediaType, m.descriptor.digest, req.tags, req.push.progress);
      return { image, summary: { digest: m.descriptor.digest, blobs, sent: 0 } };
    }
  }

  const run = limiter(req.push.concurrency);
  const results: { digests: LayerDigests; pushed: PushedBlob }[] = [];
  const basePushed: PushedBlob[] = [];
  const baseLayers = o.base?.layers ?? [];
  try {
    await settleAll([
      // The base's layers as they are: already there, mounted from the base's repository, or streamed from the base.
      ...baseLayers.map((l, i) =>
        run(async () => {
          basePushed[i] = await pushBlob(
            req.repo,
            blobToPush(l.source, req.repo, `base layer ${i + 1}/${baseLayers.length} ${shortDigest(l.descriptor.digest)}`),
            req.push,
          );
        }),
      ),
      ...nix.layers.map((p, i) =>
        run(async () => {
          const label = `layer ${i + 1}/${nix.layers.length}: ${p.comment.replace(/^store paths: /, '')}`;
          const hit: KnownLayer | undefined = hits[i];
          if (hit) {
            let checked: Promise<string | undefined> | undefined;
            const cachedFile = () => (checked ??= nix.cachedBlob(hit));
            // Known bytes, sent by digest: the cache's blob, checked before it is read
            // (a damaged one is dropped and the layer made again, to the same digest).
            const cachedOr = (offset: number): BlobBytes => ({
              stream: deferredStream(async () => {
                const file = await cachedFile();
                return file ? createReadStream(file, { start: offset }) : nix.make(p, offset).stream;
              }),
              done: Promise.resolve({ digest: hit.digest, size: hit.size }),
            });
            const byDigest = (mountFrom: string[]) =>
              pushBlob(
                req.repo,
                { id: p.key, label, source: { digest: hit.digest, size: hit.size, open: cachedOr }, ...(mountFrom.length ? { mountFrom } : {}) },
                req.push,
              );
            const elsewhere = hit.repository && hit.repository !== req.repo.name ? [hit.repository] : [];
            const mountable =
              elsewhere.length > 0 || req.push.mountFrom.length > 0 || (await req.push.locations?.repositories(req.repo.session.registry, hit.digest))?.length;
            // Another repository of the registry may have it: pushBlob checks, then mounts or uploads.
            if (mountable) {
              results[i] = { digests: hit, pushed: await byDigest(elsewhere) };
              return;
            }
            if ((await blobSize(req.repo, hit.digest)) !== undefined) {
              req.push.progress.emit({ type: 'blob-done', id: p.key, digest: hit.digest, size: hit.size, action: 'exists' });
              results[i] = { digests: hit, pushed: { digest: hit.digest, size: hit.size, action: 'exists', sent: 0 } };
              return;
            }
            if (await cachedFile()) {
              results[i] = { digests: hit, pushed: await byDigest([]) };
              return;
            }
          }
          // Made now: the digest is known once the last byte is sent; made whole, the bytes land in the cache too.
          let last: Promise<LayerDigests> | undefined;
          const pushed = await pushBlob(
            req.repo,
            {
              id: p.key,
              label,
              source: {
                open: (offset) => {
                  const m = nix.make(p, offset);
                  last = m.done;
                  return m;
                },
              },
            },
            req.push,
          );
          const digests = await last!;
          // A layer known from a registry only (no cache entry): say so if it came out other than that registry has.
          if (hit?.repository && hit.digest !== digests.digest) await nix.remember(p, digests, hit, `in ${hit.repository}`);
          results[i] = { digests, pushed };
        }),
      ),
    ]);
  } finally {
    await closeLayerPool();
  }
  const image = nix.finish(results.map((r) => r.digests));
  const config = image.config;
  const pushedConfig = await pushBlob(
    req.repo,
    {
      id: config.descriptor.digest,
      label: `config ${shortDigest(config.descriptor.digest)}`,
      source: bufferSource(config.bytes, config.descriptor.digest),
    },
    req.push,
  );
  const m = image.manifest;
  await putManifestAndTags(req.repo, m.bytes, m.descriptor.mediaType, m.descriptor.digest, req.tags, req.push.progress);
  const blobs = [...basePushed, ...results.map((r) => r.pushed), pushedConfig];
  return { image, summary: { digest: m.descriptor.digest, blobs, sent: blobs.reduce((n, b) => n + b.sent, 0) } };
}

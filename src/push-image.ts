// Pushing an image made from the Nix store: each layer goes from the store
// through tar and the compressor straight into the upload, hashed on the way.
// Before making anything, every layer whose digests are already known — from
// the layer cache, or from the manifest already under the destination tag (or
// --reuse-from) whose layer key annotation matches — is checked with a HEAD, so
// a re-push from a fresh runner with an empty cache compresses nothing. A base
// image's layers go as they are: mounted when the base is in another repository
// of the destination's registry, else streamed from wherever the base is.
import { settleAll } from '../base/settle.js';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { parseOci } from '../image/oci-json.js';
import { readChecked } from '../image/source.js';
import { StrataAnnotation, type Platform } from '../oci/types.js';
import { type Digest } from '../base/digest.js';
import { imageConfig } from '../oci/schema.js';
import type { LayerDigests } from '../layers/layer.js';
import { blobSize, bufferSource, getBlob, shortDigest, type BlobBytes, type Repository } from '../registry/blobs.js';
import { getManifest, headManifest } from '../registry/manifests.js';
import { limiter, pushBlob, putManifestAndTags, sourceBlobToPush, type PushedBlob, type PushOptions, type PushSummary } from '../registry/push.js';
import { closeLayerPool, streamLayer } from './layer-stream.js';
import { finishImage, planImage, type PlannedLayer, type WriteImageOptions, type WrittenImage } from './write-image.js';

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
    const child = m.index.manifests.find((d) => d.platform?.os === platform.os && d.platform.architecture === platform.architecture);
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
  image: WriteImageOptions;
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
  const o = req.image;
  const plan = await planImage(o);
  const known = new Map<string, KnownLayer>();
  for (const r of [...req.reuseFrom, { repo: req.repo, reference: req.tags[0] ?? 'latest' }]) {
    for (const [k, v] of await layersByKey(r.repo, r.reference, o.platform)) known.set(k, v);
  }
  // Every layer known: the manifest is known too, and a registry that has it
  // has all it names (it checks on PUT). One HEAD then replaces one per blob.
  const hits = await Promise.all(plan.layers.map(async (p) => (await o.cache?.get(p.key)) ?? known.get(p.key)));
  if (hits.every((h): h is LayerDigests => h !== undefined)) {
    const image = finishImage(o, plan, hits);
    const m = image.manifest;
    if ((await headManifest(req.repo, m.descriptor.digest, true)) === m.descriptor.digest) {
      const blobs = [...image.layers, image.config.descriptor].map((l): PushedBlob => ({ digest: l.digest, size: l.size, action: 'exists', sent: 0 }));
      for (const b of blobs) req.push.progress.emit({ type: 'blob-done', id: b.digest, digest: b.digest, size: b.size, action: 'exists' });
      await putManifestAndTags(req.repo, m.bytes, m.descriptor.mediaType, m.descriptor.digest, req.tags, req.push.progress);
      return { image, summary: { digest: m.descriptor.digest, blobs, sent: 0 } };
    }
  }
  const layerOpts = { compression: o.compression, mtime: o.mtime };
  const make = (p: PlannedLayer, offset: number) => streamLayer(p, layerOpts, offset);

  const run = limiter(req.push.concurrency);
  const results: { digests: LayerDigests; pushed: PushedBlob }[] = [];
  const basePushed: PushedBlob[] = [];
  const baseLayers = o.base?.layers ?? [];
  try {
    await settleAll([
      // The base's layers as they are: already there, mounted from the base's repository, or streamed from the base.
      ...baseLayers.map((l, i) =>
        run(async () => {
          basePushed[i] = await pushBlob(req.repo, sourceBlobToPush(l.source, req.repo, `base layer ${i + 1}/${baseLayers.length} ${shortDigest(l.descriptor.digest)}`), req.push);
        }),
      ),
      ...plan.layers.map((p, i) =>
        run(async () => {
          const label = `layer ${i + 1}/${plan.layers.length}: ${p.comment.replace(/^store paths: /, '')}`;
          const hit: KnownLayer | undefined = hits[i];
          if (hit) {
            // Another repository of the registry has it, or the cache has its bytes:
            // pushBlob checks the registry first, then mounts or uploads.
            const cached = o.cache?.blobPath(hit.digest);
            const cachedSize = cached ? await stat(cached).then((s) => s.size, () => -1) : -1;
            const mountable = (hit.repository && hit.repository !== req.repo.name) || req.push.mountFrom.length > 0 || (await req.push.locations?.repositories(req.repo.session.registry, hit.digest))?.length;
            if (mountable || cachedSize === hit.size) {
              const pushed = await pushBlob(
                req.repo,
                {
                  id: p.key,
                  label,
                  source: {
                    digest: hit.digest,
                    size: hit.size,
                    open: (offset): BlobBytes => ({
                      stream: cachedSize === hit.size ? createReadStream(cached!, { start: offset }) : make(p, offset).stream,
                      done: Promise.resolve({ digest: hit.digest, size: hit.size }),
                    }),
                  },
                  ...(hit.repository && hit.repository !== req.repo.name ? { mountFrom: [hit.repository] } : {}),
                },
                req.push,
              );
              results[i] = { digests: hit, pushed };
              return;
            }
            if ((await blobSize(req.repo, hit.digest)) !== undefined) {
              req.push.progress.emit({ type: 'blob-done', id: p.key, digest: hit.digest, size: hit.size, action: 'exists' });
              results[i] = { digests: hit, pushed: { digest: hit.digest, size: hit.size, action: 'exists', sent: 0 } };
              return;
            }
          }
          // Made now: the digest is known once the last byte is sent.
          let last: Promise<LayerDigests> | undefined;
          const pushed = await pushBlob(
            req.repo,
            {
              id: p.key,
              label,
              source: {
                open: (offset) => {
                  const m = make(p, offset);
                  last = m.done;
                  return m;
                },
              },
            },
            req.push,
          );
          const digests = await last!;
          if (hit && hit.digest !== digests.digest) {
            process.stderr.write(`strata: warning: layer ${p.key} was known as ${hit.digest} and is ${digests.digest} now; using the new bytes\n`);
          }
          await o.cache?.put(p.key, digests);
          results[i] = { digests, pushed };
        }),
      ),
    ]);
  } finally {
    await closeLayerPool();
  }
  const image = finishImage(o, plan, results.map((r) => r.digests));
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

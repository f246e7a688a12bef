// The image of a Nix installable: its plan (layers decided from the closure
// and the description, nothing read yet) and the one place that decides where
// each layer's bytes come from. That decision is the layer-cache policy, the
// same for every destination (a layout, a registry, serve's bridge, a digest):
//   - a layer's digests come from the cache entry; no blob is read when only
//     the digest is needed (a warm `strata digest` reads no layer);
//   - a cached blob is checked against everything its entry says (digest,
//     size, diffID) before its bytes are copied or uploaded, and dropped when
//     it fails, so a damaged cache costs a rebuild, never a wrong image;
//   - a layer made from the store lands in the cache, entry and blob;
//   - a layer that comes out other than its entry said is reported and the
//     entry replaced: it means a layer was not reproducible.
import { createWriteStream } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import pLimit from 'p-limit';
import { settleAll } from '../base/settle.js';
import type { Digest } from '../base/digest.js';
import { DigestOnlySink, copyBlobInto, type BlobSink } from '../image/sink.js';
import type { LayerDigests } from '../layers/layer.js';
import { verifyLayerFile } from '../layers/verify.js';
import { closeLayerPool, layerPool, streamLayer } from './layer-stream.js';
import { finishImage, planImage, type ImagePlan, type PlannedLayer, type WriteImageOptions, type WrittenImage } from './image-plan.js';

export class NixImage {
  private constructor(
    readonly options: WriteImageOptions,
    readonly plan: ImagePlan,
    private readonly warn: (text: string) => void,
  ) {}

  /** `warn` reports a layer that was not reproducible (a progress 'warning' where the command has a progress stream). */
  static async plan(options: WriteImageOptions, warn: (text: string) => void = (t) => process.stderr.write(`strata: warning: ${t}\n`)): Promise<NixImage> {
    return new NixImage(options, await planImage(options), warn);
  }

  get layers(): PlannedLayer[] {
    return this.plan.layers;
  }

  /** What the cache says of a layer: its digests, without reading its blob. */
  async known(p: PlannedLayer): Promise<LayerDigests | undefined> {
    return this.options.cache?.get(p.key);
  }

  /** The cache's blob of a layer the cache knows, when it checks out whole; a damaged one is dropped. */
  async cachedBlob(hit: LayerDigests): Promise<string | undefined> {
    const cache = this.options.cache;
    if (!cache || hit.uncompressedSize < 0) return undefined;
    const path = cache.blobPath(hit.digest);
    if (await verifyLayerFile(path, hit, this.options.compression)) return path;
    await cache.dropBlob(hit.digest);
    return undefined;
  }

  /**
   * A layer made from the store, from byte `skip` on; `done` gives its digests.
   * Made whole, its bytes go into the cache as they stream, and its entry once
   * they are all made.
   */
  make(p: PlannedLayer, skip = 0): { stream: Readable; done: Promise<LayerDigests> } {
    const o = this.options;
    const made = streamLayer(p, { compression: o.compression, mtime: o.mtime }, skip);
    const cache = o.cache;
    if (!cache) return made;
    if (skip > 0) return { stream: made.stream, done: made.done.then(async (d) => (await this.remember(p, d), d)) };
    const out = new PassThrough();
    const kept = cache.blobFile().then((f) => {
      const file = createWriteStream(f.path);
      made.stream.pipe(file);
      return { f, written: new Promise<void>((resolve, reject) => file.on('finish', resolve).on('error', reject)) };
    });
    made.stream.on('error', (e) => out.destroy(e));
    out.on('close', () => made.stream.destroy());
    made.stream.pipe(out);
    const done = made.done.then(async (d) => {
      const { f, written } = await kept;
      await written.then(
        () => f.keep(d.digest, d.size),
        () => f.drop(),
      );
      await this.remember(p, d);
      return d;
    });
    // A making cut short leaves nothing behind in the cache.
    done.catch(() => kept.then(({ f }) => f.drop()));
    return { stream: out, done };
  }

  /**
   * Records a layer's digests in the cache, reporting one that came out other
   * than `was` (the cache's entry, unless given: what a registry had) said.
   */
  async remember(p: PlannedLayer, made: LayerDigests, was?: LayerDigests, where = 'in the cache'): Promise<void> {
    was ??= await this.known(p);
    if (
      was &&
      (was.digest !== made.digest ||
        was.diffID !== made.diffID ||
        was.size !== made.size ||
        (was.uncompressedSize >= 0 && was.uncompressedSize !== made.uncompressedSize))
    ) {
      this.warn(
        `layer ${p.key} was ${was.digest} (diffID ${was.diffID}) ${where} and is ${made.digest} (diffID ${made.diffID}) now; the new bytes are used and the cache entry is replaced`,
      );
    }
    await this.options.cache?.put(p.key, made);
  }

  /**
   * Puts one layer into a sink: the sink's own copy or the cache's when they
   * check out, else made from the store into the sink (and then cached).
   */
  private async storeLayer(sink: BlobSink, p: PlannedLayer): Promise<LayerDigests> {
    const o = this.options;
    const cache = o.cache;
    const hit = await this.known(p);
    if (hit && cache) {
      const have = sink.blobFile(hit.digest);
      // A sink that keeps no bytes (strata digest) takes a whole entry as it is.
      if (have === undefined) return hit;
      if (await verifyLayerFile(have, hit, o.compression)) return hit;
      const copied = await sink.importBlob(hit.digest, (tmp) => cache.copyBlobTo(hit.digest, tmp, (copy) => verifyLayerFile(copy, hit, o.compression)));
      if (copied) return hit;
    }
    const opts = { compression: o.compression, mtime: o.mtime };
    // Loaded on first use: a warm build or digest makes no layer and skips their start-up cost.
    const made = p.input.extra?.length
      ? await sink.writeBlobStream(async (s) => (await import('../layers/layer.js')).writeLayer(p.input, opts, s))
      : await sink.writeBlobFile(async (dest) => (await layerPool()).makeLayerInWorker({ storeObjects: p.input.storeObjects, ...opts, dest }));
    if (cache) {
      await this.remember(p, made, hit);
      const file = sink.blobFile(made.digest);
      if (file) await cache.addBlob(file, made.digest);
    }
    return made;
  }

  /** Writes the image's blobs into `sink` (an OCI layout, or nothing for a digest): its layers, the base's, then config and manifest. */
  async writeInto(sink: BlobSink): Promise<WrittenImage> {
    const o = this.options;
    // The base's blobs are copied (downloaded) while Strata's layers are made; a few at a time.
    const limit = pLimit(4);
    const imported = settleAll((o.base?.layers ?? []).map((l) => limit(() => copyBlobInto(sink, l.source))));
    // Store layers are made on every core; the root layer (small, in memory) here.
    const making = settleAll(this.layers.map((p) => this.storeLayer(sink, p))).finally(() => closeLayerPool());
    // Both finish before either's failure is reported: an abort must not race a write.
    await Promise.allSettled([making, imported]);
    const [made] = await Promise.all([making, imported]);
    const image = this.finish(made);
    await sink.writeBlob(image.config.bytes, image.config.descriptor.digest);
    await sink.writeBlob(image.manifest.bytes, image.manifest.descriptor.digest);
    return image;
  }

  /** Config and manifest once every layer's digests are known. */
  finish(made: LayerDigests[]): WrittenImage {
    return finishImage(this.options, this.plan, made);
  }

  /** The manifest's digest with nothing written: the cache's digests, else each layer made and hashed. */
  async digest(): Promise<Digest> {
    return (await this.writeInto(new DigestOnlySink())).manifest.descriptor.digest;
  }
}

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
import { createReadStream, createWriteStream } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { deferredStream } from '../base/deferred-stream.js';
import { sliceStream } from '../base/byte-range.js';
import type { BlobSink } from '../image/sink.js';
import { rangeOf, type Blob, type Image } from '../image/model.js';
import type { MadeLayer, PendingImage } from '../image/pending.js';
import type { Descriptor } from '../oci/types.js';
import type { LayerDigests } from '../layers/layer.js';
import { verifyLayerFile } from '../layers/verify.js';
import { layerPool, streamLayer } from './layer-stream.js';
import { finishImage, planImage, writtenImage, type ImagePlan, type PlannedLayer, type WriteImageOptions, type WrittenImage } from './image-plan.js';

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
   * The image with its layers pending, for a writer: each layer is expected to
   * be what the cache (else `elsewhere`, a registry's manifest) recorded under
   * its key, and turns out to be what its bytes were, from the cache or made.
   */
  pending(elsewhere: ReadonlyMap<string, KnownLayer> = new Map()): Promise<NixPending> {
    return NixPending.create(this, elsewhere);
  }

  /** Config and manifest once every layer's digests are known. */
  finish(made: LayerDigests[]): WrittenImage {
    return finishImage(this.options, this.plan, made);
  }
}

/** A layer's digests as a registry's manifest has them (no uncompressed size), and the repository that has it. */
export interface KnownLayer extends LayerDigests {
  repository?: string;
}

/** A Nix installable's image on its way to a destination (the layout writer, the registry's). */
export class NixPending implements PendingImage {
  readonly kind = 'pending';
  /** Config, manifest and layers as written, once `finish` has run. */
  written: WrittenImage | undefined;

  private constructor(
    private readonly nix: NixImage,
    readonly layers: (Blob | MadeLayer)[],
    private readonly own: NixLayer[],
  ) {}

  static async create(nix: NixImage, elsewhere: ReadonlyMap<string, KnownLayer>): Promise<NixPending> {
    const n = nix.layers.length;
    const own = await Promise.all(
      nix.layers.map(
        async (p, i) => new NixLayer(nix, p, `layer ${i + 1}/${n}: ${p.comment.replace(/^store paths: /, '')}`, await nix.known(p), elsewhere.get(p.key)),
      ),
    );
    return new NixPending(nix, [...(nix.options.base?.layers ?? []).map((l) => l.source), ...own], own);
  }

  /** Strata's own layers the cache has no entry for: made when the image is written. */
  get uncached(): number {
    return this.own.filter((l) => !l.fromCache).length;
  }

  /** Whether each of Strata's own layers is expected to be what `elsewhere` has under its key (the cache's entry, where there is one, agreeing). */
  knownAs(elsewhere: ReadonlyMap<string, KnownLayer>): boolean {
    return this.own.every((l) => {
      const e = elsewhere.get(l.id);
      return e !== undefined && l.digests?.digest === e.digest;
    });
  }

  finish(): Image {
    const made = this.own.map((l) => {
      if (!l.digests) throw new Error(`internal: layer ${l.id} was neither written nor known`);
      return l.digests;
    });
    const w = (this.written = this.nix.finish(made));
    const base = this.nix.plan.base.length;
    return writtenImage(w, (d, i) => (i < base ? (this.layers[i] as Blob) : this.own[i - base]!.blob(d)), this.nix.options.description.name);
  }
}

/** One of Strata's layers: its bytes from the cache when they check out, else made from the store. */
class NixLayer implements MadeLayer {
  readonly kind = 'made';
  readonly id: string;
  readonly expected: MadeLayer['expected'];
  /** What its bytes turned out to be, once written. */
  private landed: LayerDigests | undefined;
  /** What it is expected to be: the cache's entry, else a registry's manifest. */
  private readonly hit: KnownLayer | undefined;
  private checked: Promise<string | undefined> | undefined;

  constructor(
    private readonly nix: NixImage,
    private readonly p: PlannedLayer,
    readonly label: string,
    /** The cache's entry, read once when the image was made pending. */
    private readonly cached: LayerDigests | undefined,
    elsewhere: KnownLayer | undefined,
  ) {
    const hit: KnownLayer | undefined = (this.hit = cached ?? elsewhere);
    this.id = p.key;
    this.expected = hit ? { digest: hit.digest, size: hit.size, ...(hit.repository ? { mountFrom: hit.repository } : {}) } : undefined;
  }

  get digests(): LayerDigests | undefined {
    return this.landed ?? this.hit;
  }

  get fromCache(): boolean {
    return this.cached !== undefined;
  }

  /** The cache's blob, checked once, before its first byte is read. */
  private cachedFile(): Promise<string | undefined> {
    return (this.checked ??= this.hit ? this.nix.cachedBlob(this.hit) : Promise.resolve(undefined));
  }

  open(offset: number): { stream: Readable; done: Promise<LayerDigests> } {
    const hit = this.hit;
    if (!hit) return this.makeFrom(offset);
    // Known bytes: the cache's blob when it checks out (a damaged one is dropped), else made again, to the same digest.
    const chosen = this.cachedFile().then((file) => {
      if (!file) return this.makeFrom(offset);
      this.landed = hit;
      return { stream: createReadStream(file, { start: offset }) as Readable, done: Promise.resolve(hit) };
    });
    return { stream: deferredStream(() => chosen.then((c) => c.stream)), done: chosen.then((c) => c.done) };
  }

  private makeFrom(offset: number): { stream: Readable; done: Promise<LayerDigests> } {
    const m = this.nix.make(this.p, offset);
    const hit = this.hit;
    const done = m.done.then(async (d) => {
      this.landed = d;
      // Known from a registry only (no cache entry): say so if it came out other than that registry has.
      if (hit?.repository && hit.digest !== d.digest) await this.nix.remember(this.p, d, hit, `in ${hit.repository}`);
      return d;
    });
    return { stream: m.stream, done };
  }

  /** Its bytes as a blob of the finished image (serve, a re-push), any range. */
  blob(d: Descriptor): Blob {
    return {
      descriptor: d,
      open: (range) => {
        const { start, length } = rangeOf(range, d.size);
        const m = this.open(start);
        m.done.catch(() => undefined);
        return sliceStream(m.stream, 0, length);
      },
      // Loaded on first use, as the layer makers are.
      openTar: () => deferredStream(async () => (await import('../layers/layer.js')).layerTar(this.p.input, this.nix.options.mtime)),
    };
  }

  /** Into a sink: the sink's own copy or the cache's when they check out, else made from the store into the sink (and then cached). */
  async writeInto(sink: BlobSink): Promise<LayerDigests> {
    return (this.landed = await this.store(sink));
  }

  private async store(sink: BlobSink): Promise<LayerDigests> {
    const o = this.nix.options;
    const cache = o.cache;
    const p = this.p;
    const hit = this.cached;
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
      await this.nix.remember(p, made, hit);
      const file = sink.blobFile(made.digest);
      if (file) await cache.addBlob(file, made.digest);
    }
    return made;
  }
}

// The serve bridge: repositories that are flake outputs. A manifest GET builds
// the image (nix build, then layers through the cache, digests only), exactly
// as `strata build` would, so the digests are the same; a blob GET makes that
// layer from the store and streams the requested range. No image is ever
// written; a made layer is kept a while (src/made-layers.ts), since a Range
// cannot restart a compressed stream. Each image's store paths hold GC roots
// while it is served; a path collected anyway is realised again before its
// layer is served. A failed build is remembered for a backoff that doubles,
// so pulls cannot make the server build again and again: clients are told it
// failed and when to retry, the server's log gets the Nix error, once.
import { access } from 'node:fs/promises';
import { MediaType } from '../oci/types.js';
import type { GcRoots } from '../nix/installable.js';
import { BridgeError, type Bridge, type BridgedManifest } from '../registry/server/bridge.js';
import { blobsOf, rangeOf, type Blob, type Image } from '../image/model.js';
import type { Repository } from '../registry/blobs.js';
import { headManifest } from '../registry/manifests.js';
import { pushImage } from '../registry/push.js';
import { registryBlob } from '../registry/source.js';
import type { Platform } from '../oci/types.js';
import type { KnownLayer } from './nix-image.js';
import { layersByKey } from './push-image.js';
import { createProgress } from './progress.js';
import { writtenImage } from './image-plan.js';
import type { BuildRequest } from './build.js';
import type { RegistryOptions } from './copy.js';
import { StrataError } from '../base/errors.js';
import { defaults } from './defaults.js';
import { MadeLayers } from './made-layers.js';
import { jsonLogger, type Logger } from '../registry/server/log.js';
import { planNixImage } from './build.js';
import type { ManifestFormat } from '../image/assemble.js';
import { copyToCache, shownCacheUrl, substituterSettings, type NixCache } from '../nix/binary-cache.js';

export type BridgeBuildOptions = Pick<
  BuildRequest,
  'overrides' | 'maxLayers' | 'strategy' | 'cache' | 'cacheDir' | 'sourceDateEpoch' | 'compression' | 'system'
> & {
  /** How long a manifest request waits for a build before it is told to come back (the build goes on). */
  buildWaitMs?: number;
  /** How long a failed build is remembered (answered at once, not built again); doubles on each failure in a row, up to MAX_BACKOFF_MS. */
  buildBackoffMs?: number;
  /** Most bytes of made layers kept on disk for range requests (0: none). */
  layerCacheBytes?: number;
  /** Most layers one image makes at once. */
  layerJobs?: number;
  log?: Logger;
  /** A binary cache shared with other replicas: substituted from, and each built closure copied there signed. */
  nixCache?: NixCache;
  /** serve's upstream registry (registry storage): images found there are served from it, images built here are pushed there. */
  upstream?: UpstreamImages;
};

/** Where replicas share their bridge images: the upstream repository of each bridged name. */
export interface UpstreamImages {
  repository(name: string): Repository;
}

const MAX_BACKOFF_MS = 15 * 60_000;

interface Failure {
  /** When a pull may build again. */
  until: number;
  backoffMs: number;
}

interface ServedImage {
  manifest: BridgedManifest;
  tag: string;
  /** The image in the one model: its blobs open any byte range (Strata's own layers through the kept makings). */
  image: Image;
  /** The store paths each of Strata's own layers is made from, by digest: checked before a layer is made again. */
  storePaths: Map<string, string[]>;
  roots: GcRoots;
}

/** Which manifest form a client gets: OCI unless it accepts only Docker's. */
export function formatFor(accept: string[]): ManifestFormat | undefined {
  if (accept.length === 0 || accept.some((a) => a === '*/*' || a === MediaType.ociManifest || a === MediaType.ociIndex)) return 'oci';
  if (accept.includes(MediaType.dockerManifest)) return 'docker';
  return undefined;
}

export class NixBridge implements Bridge {
  private readonly images = new Map<string, Promise<ServedImage>>();
  /** Images whose last build failed, by name. */
  private readonly failures = new Map<string, Failure>();
  private readonly log: Logger;
  private readonly made: MadeLayers;
  /** Set by close(): no new build starts. */
  private closing = false;
  /** Copies to the binary cache and pushes to the upstream still running: close() waits for them. */
  private readonly inBackground = new Set<Promise<void>>();

  constructor(
    /** Repository name → installable. */
    private readonly installables: Map<string, string>,
    private readonly options: BridgeBuildOptions,
    private readonly registry: () => RegistryOptions,
  ) {
    this.log = options.log ?? jsonLogger();
    this.made = new MadeLayers({
      maxBytes: options.layerCacheBytes ?? defaults.serve.layerCacheBytes,
      jobs: options.layerJobs ?? defaults.serve.layerJobs,
      log: this.log,
    });
  }

  handles(name: string): boolean {
    return this.installables.has(name);
  }

  /** One build per image and form however many clients ask at once; after a failed one, none until its backoff is over. */
  private image(name: string, format: ManifestFormat): Promise<ServedImage> {
    const key = `${name}\0${format}`;
    let p = this.images.get(key);
    const failed = this.failures.get(name);
    if (!p && failed && Date.now() < failed.until) return Promise.reject(unavailable(name, failed.until));
    if (!p && this.closing) return Promise.reject(new BridgeError(503, 'UNKNOWN', 'the server is stopping; try another replica', { 'retry-after': '1' }));
    if (!p) {
      p = this.build(name, format);
      this.images.set(key, p);
      p.catch(() => this.images.delete(key));
    }
    return p;
  }

  private async build(name: string, format: ManifestFormat): Promise<ServedImage> {
    const installable = this.installables.get(name)!;
    process.stderr.write(`strata: building ${name} (${format} manifest) from ${installable}\n`);
    const start = new Date();
    const logBuild = (outcome: string, more: Record<string, unknown>) => {
      const end = new Date();
      this.log({
        event: 'build',
        name,
        format,
        installable,
        outcome,
        start: start.toISOString(),
        end: end.toISOString(),
        durationMs: end.getTime() - start.getTime(),
        ...more,
      });
    };
    let roots: GcRoots | undefined;
    try {
      const compression = this.options.compression ?? defaults.compression;
      if (format === 'docker' && compression === 'zstd')
        throw new BridgeError(404, 'MANIFEST_UNKNOWN', 'this image has zstd layers, which Docker manifests cannot name; accept OCI manifests');
      const nixCache = this.options.nixCache;
      const upstream = this.options.upstream?.repository(name);
      const planned = await planNixImage(
        { ...this.options, installable, compression, format, ...(nixCache ? { nixSettings: substituterSettings(nixCache) } : {}) },
        this.registry,
        upstream && ((nix) => this.knownUpstream(upstream, nix.options.platform)),
      );
      roots = planned.roots;
      const { prepared, nix, image } = planned;
      const o = prepared.writeOptions;
      const baseLayers = o.base?.layers ?? [];
      const storePaths = new Map<string, string[]>();
      const shared = upstream && planned.knownElsewhere ? upstream : undefined;
      // The base's layers come from where the base is; Strata's own from the upstream when another replica
      // put them there, else made (again) from the store, kept for range requests.
      const served = writtenImage(
        image,
        (d, i): Blob => {
          if (i < baseLayers.length) return { descriptor: d, open: (range) => baseLayers[i]!.source.open(range) };
          if (shared) return registryBlob(shared, d);
          const p = nix.layers[i - baseLayers.length]!;
          storePaths.set(d.digest, p.storePaths);
          const layer = { digest: d.digest, size: d.size, image: name, make: (skip: number) => nix.make(p, skip).stream };
          return {
            descriptor: d,
            open: (range) => {
              const { start, length } = rangeOf(range, d.size);
              return this.made.open(layer, start, start + length - 1);
            },
          };
        },
        name,
      );
      this.failures.delete(name);
      logBuild(shared ? 'found-upstream' : 'built', { digest: image.manifest.descriptor.digest, layersMade: planned.layersMade });
      if (nixCache) this.share(nixCache, name, [...prepared.outputs, ...o.closure.map((p) => p.path)]);
      // Built here, or its manifest not yet there: pushed, so the next replica finds it (blobs the upstream has are skipped).
      if (upstream) this.publish(upstream, name, served, format === 'oci' ? [...new Set(['latest', prepared.tag])] : [], shared !== undefined);
      return { manifest: served.manifest, tag: prepared.tag, image: served, storePaths, roots: planned.roots };
    } catch (e) {
      await roots?.release();
      if (e instanceof BridgeError) throw e;
      // The whole error for the operator; for the client, that it failed and when to come back,
      // nothing of the installable, the store or this machine's paths.
      logBuild('failed', { error: errorWithCauses(e) });
      const backoffMs = Math.min(
        this.failures.has(name) ? this.failures.get(name)!.backoffMs * 2 : (this.options.buildBackoffMs ?? defaults.serve.buildBackoffMs),
        MAX_BACKOFF_MS,
      );
      const failure = { until: Date.now() + backoffMs, backoffMs };
      this.failures.set(name, failure);
      throw unavailable(name, failure.until);
    }
  }

  async manifest(name: string, reference: string, accept: string[]): Promise<BridgedManifest | undefined> {
    const format = formatFor(accept);
    if (!format) return undefined;
    if (reference.startsWith('sha256:')) {
      // A digest names a form already served (a client's second request), or none.
      for (const f of ['oci', 'docker'] as const) {
        const p = this.images.get(`${name}\0${f}`);
        const img = p && (await p.catch(() => undefined));
        if (img?.manifest.digest === reference) return img.manifest;
      }
      const img = await this.waitFor(name, format);
      return img.manifest.digest === reference ? img.manifest : undefined;
    }
    const img = await this.waitFor(name, format);
    return reference === 'latest' || reference === img.tag ? img.manifest : undefined;
  }

  /**
   * The image, or after buildWaitMs a 503 with Retry-After while the build goes
   * on: a client waiting on a long build gets an answer, not a hung connection.
   */
  private async waitFor(name: string, format: ManifestFormat): Promise<ServedImage> {
    const wait = this.options.buildWaitMs ?? defaults.serve.buildWaitMs;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new BridgeError(503, 'TOOMANYREQUESTS', `${name} is still being built; try again shortly`, { 'retry-after': '10' })),
        wait,
      );
    });
    try {
      return await Promise.race([this.image(name, format), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async blob(name: string, digest: string): Promise<Blob | undefined> {
    const forms = (['oci', 'docker'] as const).filter((f) => this.images.has(`${name}\0${f}`));
    for (const f of forms.length ? forms : (['oci'] as const)) {
      let img = await this.image(name, f);
      const find = () => blobsOf(img.image).find((b) => b.descriptor.digest === digest);
      let b = find();
      if (!b) continue;
      if (!(await allPresent(img.storePaths.get(digest) ?? []))) {
        // Collected despite the roots (nix-store --delete --ignore-liveness): realise the image again.
        this.images.delete(`${name}\0${f}`);
        await img.roots.release();
        img = await this.image(name, f);
        b = find();
        if (!b)
          throw new BridgeError(
            404,
            'BLOB_UNKNOWN',
            `${digest} is no longer part of ${name}: its store paths came back with other contents; fetch the manifest again`,
          );
      }
      return b;
    }
    return undefined;
  }

  async tags(name: string): Promise<string[]> {
    const img = await this.image(name, 'oci');
    return [...new Set(['latest', img.tag])].sort();
  }

  /**
   * The layers of the upstream's image of this name, by layer key: what a
   * replica built and pushed there. An upstream that cannot be read costs a
   * build here, never the pull.
   */
  private async knownUpstream(repo: Repository, platform: Platform): Promise<ReadonlyMap<string, KnownLayer>> {
    try {
      return await layersByKey(repo, 'latest', platform);
    } catch (e) {
      this.log({ event: 'upstream', repository: repo.name, outcome: 'unreadable', error: errorWithCauses(e) });
      return new Map();
    }
  }

  /**
   * Pushes a served image to the upstream (blobs, the manifest by digest, the
   * tags last) after the pull has its answer. A failed push is logged; the
   * next replica then builds the image itself. An image found there is left
   * as it is when its manifest is there too (its tags are another replica's).
   */
  private publish(repo: Repository, name: string, img: Image, tags: string[], found: boolean): void {
    const start = Date.now();
    const p = (async () => {
      if ((tags.length === 0 || found) && (await headManifest(repo, img.manifest.digest, true)) === img.manifest.digest) return undefined;
      return pushImage(img, repo, tags, { concurrency: defaults.concurrency, progress: createProgress('quiet') });
    })().then(
      (summary) =>
        this.log({
          event: 'upstream-push',
          name,
          repository: repo.name,
          digest: img.manifest.digest,
          outcome: summary ? 'pushed' : 'present',
          bytes: summary?.sent ?? 0,
          durationMs: Date.now() - start,
        }),
      (e: unknown) =>
        this.log({ event: 'upstream-push', name, repository: repo.name, digest: img.manifest.digest, outcome: 'failed', error: errorWithCauses(e) }),
    );
    this.background(p);
  }

  /**
   * Copies a built image's closure (and the installable's outputs, which a
   * replica's nix build substitutes) to the binary cache, signed, after the pull
   * has its answer: a cache that cannot be written costs the next replica a
   * build, never this pull. The GC roots are the image's, held while it is served.
   */
  private share(cache: NixCache, name: string, roots: string[]): void {
    const start = Date.now();
    const p = copyToCache(cache, roots).then(({ paths, error }) => {
      this.log({
        event: 'nix-cache',
        name,
        cache: shownCacheUrl(cache),
        outcome: error ? 'failed' : 'copied',
        paths,
        durationMs: Date.now() - start,
        ...(error ? { error: errorWithCauses(error) } : {}),
      });
    });
    this.background(p);
  }

  /** Work after a pull's answer (a copy, a push) that close() waits for; `p` reports its own failure. */
  private background(p: Promise<void>): void {
    this.inBackground.add(p);
    void p.finally(() => this.inBackground.delete(p));
  }

  /** Releases every GC root (on shutdown), once the copies to the binary cache are done. */
  async close(): Promise<void> {
    // Builds in flight finish (and start their copies and pushes); then those run out, reading layers
    // through `made` and store paths under the roots; only then do both go.
    this.closing = true;
    const all = await Promise.allSettled([...this.images.values()]);
    while (this.inBackground.size > 0) await Promise.allSettled([...this.inBackground]);
    this.made.close();
    this.images.clear();
    for (const r of all) if (r.status === 'fulfilled') await r.value.roots.release();
  }
}

/** An error's message and its causes' (nix's own output), for the server's log. */
function errorWithCauses(e: unknown): string {
  const parts: string[] = [];
  for (let cur = e, i = 0; cur !== undefined && i < 4; cur = (cur as { cause?: unknown }).cause, i++)
    parts.push(cur instanceof Error ? cur.message : String(cur));
  return parts.join('\n');
}

/** The answer while a failed build is remembered: 503 and when to retry. */
function unavailable(name: string, until: number): BridgeError {
  const s = Math.max(1, Math.ceil((until - Date.now()) / 1000));
  return new BridgeError(503, 'UNKNOWN', `the image for ${name} failed to build; retry after ${s} s`, { 'retry-after': String(s) });
}

async function allPresent(paths: string[]): Promise<boolean> {
  const r = await Promise.all(
    paths.map((p) =>
      access(p).then(
        () => true,
        () => false,
      ),
    ),
  );
  return r.every(Boolean);
}

/** `NAME=INSTALLABLE` pairs (from --image or a config file) as a map, names checked. */
export function parseImageMappings(pairs: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    const name = pair.slice(0, i);
    if (i <= 0 || !/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(name) || i === pair.length - 1) {
      throw new StrataError('usage', `--image '${pair}' is not NAME=INSTALLABLE with a repository name (lowercase, / separated)`);
    }
    if (m.has(name)) throw new StrataError('usage', `--image names ${name} twice`);
    m.set(name, pair.slice(i + 1));
  }
  return m;
}

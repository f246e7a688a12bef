// The serve bridge: repositories that are flake outputs. A manifest GET builds
// the image (nix build, then layers through the cache, digests only), exactly
// as `strata build` would, so the digests are the same; a blob GET makes that
// layer again from the store and streams the requested range. No tarball is
// ever written. Each image's store paths hold GC roots while it is served; a
// path collected anyway is realised again before its layer is served.
import { access } from 'node:fs/promises';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { MediaType } from '../image/types.js';
import type { GcRoots } from '../nix/installable.js';
import { BridgeError, type Bridge, type BridgedBlob, type BridgedManifest } from '../registry/server/bridge.js';
import type { BuildRequest } from './build.js';
import type { RegistryOptions } from './copy.js';
import { StrataError } from './errors.js';
import { streamLayer } from './layer-stream.js';
import { planNixImage } from './nix-image.js';
import type { ManifestFormat } from '../image/assemble.js';

export type BridgeBuildOptions = Pick<BuildRequest, 'overrides' | 'maxLayers' | 'strategy' | 'cache' | 'cacheDir' | 'sourceDateEpoch' | 'compression' | 'system'> & {
  /** How long a manifest request waits for a build before it is told to come back (the build goes on). */
  buildWaitMs?: number;
};

const DEFAULT_BUILD_WAIT_MS = 5 * 60_000;

interface ServedImage {
  manifest: BridgedManifest;
  tag: string;
  blobs: Map<string, { size: number; open(start: number, end: number): Readable; storePaths: string[] }>;
  roots: GcRoots;
}

/** Bytes [start, end] of a stream that starts at 0: the rest is dropped and the producer stopped. */
function slice(source: Readable, start: number, end: number): Readable {
  let pos = 0;
  const out = new Transform({
    transform(chunk: Buffer, _e, cb) {
      const from = Math.max(start - pos, 0);
      const to = Math.min(end + 1 - pos, chunk.length);
      pos += chunk.length;
      if (to > from) this.push(chunk.subarray(from, to));
      if (pos > end) {
        this.push(null);
        source.unpipe(this);
        source.destroy();
      }
      cb();
    },
  });
  source.on('error', (e) => out.destroy(e));
  return source.pipe(out);
}

/** Which manifest form a client gets: OCI unless it accepts only Docker's. */
export function formatFor(accept: string[]): ManifestFormat | undefined {
  if (accept.length === 0 || accept.some((a) => a === '*/*' || a === MediaType.ociManifest || a === MediaType.ociIndex)) return 'oci';
  if (accept.includes(MediaType.dockerManifest)) return 'docker';
  return undefined;
}

export class NixBridge implements Bridge {
  private readonly images = new Map<string, Promise<ServedImage>>();

  constructor(
    /** Repository name → installable. */
    private readonly installables: Map<string, string>,
    private readonly options: BridgeBuildOptions,
    private readonly registry: () => RegistryOptions,
  ) {}

  handles(name: string): boolean {
    return this.installables.has(name);
  }

  /** One build per image and form however many clients ask at once; a failed build is forgotten, so a retry builds again. */
  private image(name: string, format: ManifestFormat): Promise<ServedImage> {
    const key = `${name}\0${format}`;
    let p = this.images.get(key);
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
    let roots: GcRoots | undefined;
    try {
      const compression = this.options.compression ?? 'gzip';
      if (format === 'docker' && compression === 'zstd') throw new BridgeError(404, 'MANIFEST_UNKNOWN', 'this image has zstd layers, which Docker manifests cannot name; accept OCI manifests');
      const planned = await planNixImage({ ...this.options, installable, compression, format }, this.registry);
      roots = planned.roots;
      const { prepared, plan, image } = planned;
      const o = prepared.writeOptions;
      const baseLayers = o.base?.layers ?? [];
      const blobs: ServedImage['blobs'] = new Map();
      image.layers.forEach((l, i) => {
        if (i < baseLayers.length) {
          const src = baseLayers[i]!.source;
          blobs.set(l.digest, { size: l.size, storePaths: [], open: (start, end) => slice(src.open(start), 0, end - start) });
        } else {
          const p = plan.layers[i - baseLayers.length]!;
          blobs.set(l.digest, { size: l.size, storePaths: p.storePaths, open: (start, end) => slice(streamLayer(p, o, start).stream, 0, end - start) });
        }
      });
      const config = image.config;
      blobs.set(config.descriptor.digest, { size: config.bytes.length, storePaths: [], open: (start, end) => sliceOf(config.bytes, start, end) });
      return { manifest: { bytes: image.manifest.bytes, mediaType: image.manifest.descriptor.mediaType, digest: image.manifest.descriptor.digest }, tag: prepared.tag, blobs, roots: planned.roots };
    } catch (e) {
      await roots?.release();
      if (e instanceof BridgeError) throw e;
      const message = e instanceof StrataError || e instanceof Error ? e.message : String(e);
      // A build that fails is the image being unavailable, said in one line.
      throw new BridgeError(500, 'UNSUPPORTED', `cannot build ${installable} for ${name}: ${message.split('\n')[0]}`);
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
    const wait = this.options.buildWaitMs ?? DEFAULT_BUILD_WAIT_MS;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BridgeError(503, 'TOOMANYREQUESTS', `${name} is still being built; try again shortly`, { 'retry-after': '10' })), wait);
    });
    try {
      return await Promise.race([this.image(name, format), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async blob(name: string, digest: string): Promise<BridgedBlob | undefined> {
    const forms = (['oci', 'docker'] as const).filter((f) => this.images.has(`${name}\0${f}`));
    for (const f of forms.length ? forms : (['oci'] as const)) {
      let img = await this.image(name, f);
      let b = img.blobs.get(digest);
      if (!b) continue;
      if (!(await allPresent(b.storePaths))) {
        // Collected despite the roots (nix-store --delete --ignore-liveness): realise the image again.
        this.images.delete(`${name}\0${f}`);
        await img.roots.release();
        img = await this.image(name, f);
        b = img.blobs.get(digest);
        if (!b) throw new BridgeError(404, 'BLOB_UNKNOWN', `${digest} is no longer part of ${name}: its store paths came back with other contents; fetch the manifest again`);
      }
      const blob = b;
      return { size: blob.size, open: (start, end) => blob.open(start, end) };
    }
    return undefined;
  }

  async tags(name: string): Promise<string[]> {
    const img = await this.image(name, 'oci');
    return [...new Set(['latest', img.tag])].sort();
  }

  /** Releases every GC root (on shutdown). */
  async close(): Promise<void> {
    const all = await Promise.allSettled([...this.images.values()]);
    this.images.clear();
    for (const r of all) if (r.status === 'fulfilled') await r.value.roots.release();
  }
}

function sliceOf(bytes: Buffer, start: number, end: number): Readable {
  const s = new PassThrough();
  s.end(bytes.subarray(start, end + 1));
  return s;
}

async function allPresent(paths: string[]): Promise<boolean> {
  const r = await Promise.all(paths.map((p) => access(p).then(() => true, () => false)));
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

// Orchestration of `strata build`: installable → nix (build, closure) → image
// description → layer groups → tar streams → a sink (OCI layout or archive).
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { WriteImageOptions, WrittenImage } from './image-plan.js';
import { NixImage, type KnownLayer, type NixPending } from './nix-image.js';
import { resolveBase, type BaseImage } from './base-image.js';
import { DigestOnlySink, type BlobSink } from '../image/sink.js';
import type { Image } from '../image/model.js';
import { writeImageInto } from '../image/write-image.js';
import { closeLayerPool, poolStarted } from './layer-stream.js';
import { applyOverrides, checkUser, closureRoots, describe, type ConfigOverrides, type ImageDescription } from '../nix/description.js';
import { StrataError } from '../base/errors.js';
import { guarded } from './interrupt.js';
import { hostSystem, parseSystem } from '../oci/platform.js';
import { formatReference, parseDockerReference, parseSource, resolveTag, referenceTag, type Reference } from '../oci/reference.js';
import type { RegistryOptions } from './copy.js';
import { defaults } from './defaults.js';
import { closure, GcRoots, realise } from '../nix/installable.js';
import type { NixSettings } from '../nix/run.js';
import { compressorInfo, type Compression } from '../layers/compress.js';
import { hasDecided, implementationFor } from '../layers/native-compress.js';
import type { Strategy } from '../layers/strategy.js';
import { LayerCache } from '../layers/cache.js';
import { checkLayerType, type ManifestFormat } from '../image/assemble.js';
import type { Platform } from '../oci/types.js';
import type { Digest } from '../base/digest.js';
import { OciLayoutWriter } from '../image/layout.js';
import { shortName } from '../image/docker-archive.js';
import { stageBeside } from '../base/fs.js';

export interface BuildRequest {
  installable: string;
  /** Where to write the image; undefined computes its digest only (strata digest). */
  output?: Reference;
  /** Nix system or OCI platform; this machine's when absent. */
  system?: string;
  tag?: string;
  overrides: ConfigOverrides;
  maxLayers: number;
  strategy: Strategy;
  /** false: make every layer from the store, neither reading nor filling the cache. */
  cache?: boolean;
  cacheDir?: string;
  compression?: Compression;
  format: ManifestFormat;
  /** Seconds since the epoch for `created` and every mtime. */
  sourceDateEpoch: number;
  /** For a docker:// output: more tags (pushed after --tag), session and push options, images to reuse layers from. */
  extraTags?: string[];
  /** For a docker:// output: the manifest by digest only, no tag (push --by-digest). */
  byDigest?: boolean;
  /** For a docker:// output: the manifest by digest only, its tags returned unwritten, for the caller to write once it has signed (push --sign). */
  holdTags?: boolean;
  registry?: RegistryOptions;
  reuseFrom?: string[];
  /** Called with the image's manifest, config and layers once it is written (strata index takes its children so, without reading them back). */
  onWritten?: (image: WrittenImage) => void;
  /** Nix settings for the calls that may build or substitute (serve --nix-cache's substituter and key). */
  nixSettings?: NixSettings;
}

export interface BuildResult {
  /** The manifest digest (for docker-archive, the config digest: the image ID). */
  digest: Digest;
  manifestDigest: Digest;
  configDigest: Digest;
  name: string;
  tag: string;
  platform: Platform;
  output: string;
  /** Every layer, bottom first: the base image's (no store paths), then Strata's. */
  layers: { digest: Digest; diffID: Digest; size: number; storePaths: string[] }[];
  /** The base image (fromImage, --from): as named, its manifest digest, how many layers it gave. */
  base?: { reference: string; digest: Digest; layers: number };
  /**
   * The layers' byte format (the id in the manifest's annotations) and what
   * writes it in this process: the runtime's zlib or libzstd where proven, else
   * the pinned implementation, with the reason.
   */
  compressor: { id: string; writtenBy: string; fallback?: string };
  /** For a push: every tag written, and what each blob took. */
  tags?: string[];
  pushed?: { bytes: number; blobs: { digest: Digest; size: number; action: string }[] };
}

async function defaultRegistryOptions(): Promise<RegistryOptions> {
  const { createProgress } = await import('./progress.js');
  const progress = createProgress('auto');
  return { session: { progress }, push: { concurrency: defaults.concurrency, progress } };
}

export interface PreparedImage {
  description: ImageDescription;
  tag: string;
  writeOptions: WriteImageOptions;
  base: BaseImage | undefined;
  /** The store paths nix built for the installable: with lib.image, the description's output, which is not in the image's closure. */
  outputs: string[];
}

/**
 * Everything before the first layer byte: the installable realised (and its
 * contents rooted in `roots`), its description with the overrides, the closure,
 * the base image's manifest and config. Shared by build and the serve bridge.
 */
export async function prepareImage(
  req: Pick<BuildRequest, 'installable' | 'overrides' | 'tag' | 'maxLayers' | 'strategy' | 'cache' | 'cacheDir' | 'sourceDateEpoch' | 'nixSettings'>,
  roots: GcRoots,
  o: {
    system: string;
    host: string;
    platform: Platform;
    compression: Compression;
    format: ManifestFormat;
    reg: () => RegistryOptions | Promise<RegistryOptions>;
    referenceTag?: string | undefined;
  },
): Promise<PreparedImage> {
  const realised = await realise(req.installable, roots, { system: o.system, host: o.host }, req.nixSettings);
  const description: ImageDescription = applyOverrides(await describe(realised), req.overrides);
  checkUser(description);
  const tag = resolveTag(req.tag, o.referenceTag, description.tag);
  const rootPaths = closureRoots(description);
  // Rooting and reading the closure are independent nix calls: side by side.
  const [, paths, base] = await Promise.all([
    roots.hold(rootPaths, req.nixSettings),
    closure(rootPaths),
    description.fromImage ? resolveBase(description.fromImage, o.platform, await o.reg()) : undefined,
  ]);
  const writeOptions: WriteImageOptions = {
    description,
    closure: paths,
    platform: o.platform,
    compression: o.compression,
    format: o.format,
    maxLayers: req.maxLayers,
    strategy: req.strategy,
    cache: req.cache === false ? undefined : await LayerCache.open(req.cacheDir),
    mtime: req.sourceDateEpoch,
    ...(base ? { base } : {}),
  };
  return { description, tag, writeOptions, base, outputs: realised.outputs };
}

/**
 * The layers' format and what wrote them in this process. The decision (and its
 * start-up check) is asked only when a layer was made: a warm build or digest
 * made none, and does not pay for the check.
 */
async function compressorReport(c: Compression): Promise<BuildResult['compressor']> {
  const id = compressorInfo(c).id;
  if (c === 'none') return { id, writtenBy: 'none' };
  // A store layer starts the pool; the root layer, made here, decides its compressor here.
  if (!poolStarted() && !hasDecided(c)) return { id, writtenBy: 'no layer made here: every one came from the cache' };
  const impl = await implementationFor(c);
  return { id, writtenBy: impl.name, ...(impl.reason ? { fallback: impl.reason } : {}) };
}

/** Refuses an image reference where a Nix installable is needed. */
function checkInstallable(text: string): void {
  if (parseSource(text).transport !== 'nix') {
    throw new StrataError(
      'unsupported',
      `'${text}' is an image, not a Nix installable; build and digest take a flake reference, a store path or a result link (to copy an image, use 'strata copy')`,
    );
  }
}

export async function build(req: BuildRequest): Promise<BuildResult> {
  checkInstallable(req.installable);
  const out = req.output ?? { transport: 'oci' as const, path: '' };
  const digestOnly = req.output === undefined;
  if (out.transport === 'nix')
    throw new StrataError('reference', `'${out.installable}' is not an output: use oci:DIR, oci-archive:FILE or docker-archive:FILE`);
  if (out.transport === 'docker' && out.ref.digest)
    throw new StrataError('reference', `cannot push to a digest (${out.ref.digest}) not yet made; name a tag, none for latest, or push with --by-digest`);
  if (req.byDigest && (out.transport !== 'docker' || out.ref.tag || req.tag || req.extraTags?.length))
    throw new StrataError('usage', '--by-digest pushes to a registry repository with no tag: drop the tag');
  const dockerArchive = out.transport === 'docker-archive';
  if (dockerArchive && req.compression && req.compression !== 'none') {
    throw new StrataError('usage', 'docker-archive holds uncompressed layers; drop --compression');
  }
  if ((out.transport === 'oci' || out.transport === 'oci-archive') && !digestOnly && req.format === 'docker') {
    throw new StrataError('usage', `--format docker is for registries and docker-archive; an OCI layout (${out.transport}:) holds OCI manifests`);
  }
  const format: ManifestFormat = dockerArchive ? 'docker' : req.format;
  const compression: Compression = dockerArchive ? defaults.dockerArchiveCompression : (req.compression ?? defaults.compression);
  checkLayerType(format, compression);
  let registry = req.registry;
  // Made only when a registry is talked to: a base to read, or the push.
  const reg = async () => (registry ??= await defaultRegistryOptions());
  const host = hostSystem();
  const { system, platform } = parseSystem(req.system ?? host);

  const roots = await GcRoots.create();
  // What an interrupt must undo: the layout being written, its staging, the roots.
  let layoutInFlight: OciLayoutWriter | undefined;
  let stageInFlight: string | undefined;
  const undo = async () => {
    await layoutInFlight?.abort();
    if (stageInFlight) await rm(stageInFlight, { recursive: true, force: true });
    await roots.release();
  };
  return guarded(undo, async () => {
    try {
      const prepared = await prepareImage(req, roots, { system, host, platform, compression, format, reg, referenceTag: referenceTag(out) });
      const { description, tag, writeOptions, base } = prepared;
      const summary = async (image: WrittenImage, digest: Digest, output: string): Promise<BuildResult> => ({
        digest,
        manifestDigest: image.manifest.descriptor.digest,
        configDigest: image.config.descriptor.digest,
        name: description.name,
        tag,
        platform,
        output,
        layers: image.layers.map((l) => ({ digest: l.digest, diffID: l.diffID, size: l.size, storePaths: l.storePaths })),
        ...(base ? { base: { reference: base.reference, digest: base.manifestDigest, layers: base.layers.length } } : {}),
        compressor: await compressorReport(compression),
      });
      if (out.transport === 'docker') {
        const { session, push } = await reg();
        const [{ repositoryOf }, { pushNixImage }] = await Promise.all([import('./copy.js'), import('./push-image.js')]);
        const repo = repositoryOf(out.ref, session);
        const tags = req.byDigest ? [] : [...new Set([tag, ...(req.extraTags ?? [])])];
        const reuseFrom = (req.reuseFrom ?? []).map((r) => {
          const ref = parseDockerReference(r.replace(/^docker:\/\//, ''));
          return { repo: repositoryOf(ref, session), reference: ref.digest ?? ref.tag ?? 'latest' };
        });
        // Held tags are still the image to reuse layers from, as a written tag is.
        if (req.holdTags && tags[0]) reuseFrom.push({ repo, reference: tags[0] });
        const { image, summary: pushed } = await pushNixImage({
          image: await NixImage.plan(writeOptions, (text) => push.progress.emit({ type: 'warning', text })),
          repo,
          tags: req.holdTags ? [] : tags,
          reuseFrom,
          push,
        });
        req.onWritten?.(image);
        return { ...(await summary(image, image.manifest.descriptor.digest, formatReference(out))), tags, pushed: { bytes: pushed.sent, blobs: pushed.blobs } };
      }
      if (digestOnly) {
        const image = await writeNixImage(await (await NixImage.plan(writeOptions)).pending(), new DigestOnlySink());
        return await summary(image, image.manifest.descriptor.digest, 'none');
      }

      // Archives are assembled from a layout staged beside them; oci: writes in place.
      const stageDir = out.transport === 'oci' ? undefined : await stageBeside(out.path);
      stageInFlight = stageDir;
      const layout = await OciLayoutWriter.open(stageDir ? join(stageDir, 'layout') : out.path);
      layoutInFlight = layout;
      try {
        const image = await writeNixImage(await (await NixImage.plan(writeOptions)).pending(), layout);
        const refName = out.transport === 'docker-archive' ? undefined : tag;
        await layout.commit(image.manifest.descriptor, refName);
        req.onWritten?.(image);
        let digest = image.manifest.descriptor.digest;
        if (out.transport === 'oci-archive') {
          const { writeOciArchive } = await import('../image/archive.js');
          await writeOciArchive(layout.root, out.path, req.sourceDateEpoch);
        } else if (out.transport === 'docker-archive') {
          const repoTag = out.name ? shortName({ registry: out.name.registry, repository: out.name.repository, tag }) : `${description.name}:${tag}`;
          // Strata's layers are uncompressed here; a base's may not be.
          const config = { digest: image.config.descriptor.digest, bytes: image.config.bytes };
          const { writeDockerArchiveFrom } = await import('../image/docker-archive-writer.js');
          await writeDockerArchiveFrom(layout, { config, layers: image.layers, repoTags: [repoTag] }, out.path, req.sourceDateEpoch);
          digest = image.config.descriptor.digest;
        }
        return await summary(image, digest, formatReference(out));
      } catch (e) {
        await layout.abort();
        if (e instanceof StrataError) throw e;
        throw new StrataError('output', `cannot write ${formatReference(out)}: ${(e as Error).message}`, { cause: e });
      } finally {
        if (stageDir) await rm(stageDir, { recursive: true, force: true });
      }
    } finally {
      await roots.release();
    }
  });
}

export interface PlannedNixImage {
  prepared: PreparedImage;
  nix: NixImage;
  image: WrittenImage;
  /** The same image in the one model: its layers open from the cache or made again from the store, their tars made directly. */
  model: Image;
  roots: GcRoots;
  /** Layers made (and hashed) to learn their digests: none when the cache or `known` had every one. */
  layersMade: number;
  /** Every layer of Strata's was in `known`: the other place has them all (no layer was made or read here). */
  knownElsewhere: boolean;
}

/** Layers another place already has, by layer key (a registry's manifest of the same image: push-image.ts's layersByKey). */
export type KnownLayers = (nix: NixImage) => Promise<ReadonlyMap<string, KnownLayer>>;

/**
 * A Nix installable's image exactly as `strata digest` computes it (layers
 * from the cache, or made and hashed, nothing written), kept open so that any
 * layer can be made again from the store: what the serve bridge serves and
 * `strata diff` reads an installable through. The caller releases the GC roots.
 * `reg` gives the registry options for reading a base image, made only when there is one.
 * `known`: layers another place has (serve's upstream registry); when it has them all, none is made.
 */
export async function planNixImage(
  req: Omit<BuildRequest, 'output'>,
  reg: () => RegistryOptions | Promise<RegistryOptions> = defaultRegistryOptions,
  known?: KnownLayers,
): Promise<PlannedNixImage> {
  checkInstallable(req.installable);
  const format: ManifestFormat = req.format;
  const compression: Compression = req.compression ?? defaults.compression;
  checkLayerType(format, compression);
  const host = hostSystem();
  const { system, platform } = parseSystem(req.system ?? host);
  const roots = await GcRoots.create();
  try {
    const prepared = await prepareImage(req, roots, { system, host, platform, compression, format, reg });
    const nix = await NixImage.plan(prepared.writeOptions);
    const elsewhere = await known?.(nix);
    if (elsewhere?.size) {
      const shared = await nix.pending(elsewhere);
      // Every layer there, and none that this machine's cache remembers otherwise (the cache's entry would win,
      // naming a blob the other place lacks): the config and manifest follow from the digests, no layer is made.
      if (shared.knownAs(elsewhere)) {
        const model = shared.finish();
        return { prepared, nix, image: shared.written!, model, roots, layersMade: 0, knownElsewhere: true };
      }
    }
    const pending = await nix.pending();
    const layersMade = pending.uncached;
    const { model, ...image } = await writeNixImage(pending, new DigestOnlySink());
    return { prepared, nix, image, model, roots, layersMade, knownElsewhere: false };
  } catch (e) {
    await roots.release();
    throw e;
  }
}

/** A Nix installable's image through the one layout writer: into an OCI layout, or nothing for its digest. */
async function writeNixImage(pending: NixPending, sink: BlobSink): Promise<WrittenImage & { model: Image }> {
  try {
    const { image } = await writeImageInto(sink, pending, { concurrency: defaults.concurrency });
    return { ...pending.written!, model: image as Image };
  } finally {
    await closeLayerPool();
  }
}

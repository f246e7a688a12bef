// `strata index`: an image index over per-platform images — existing ones (a
// registry's, a layout's, an archive's; an index gives its children) and Nix
// installables built once per --platform — written to a registry or a layout.
// Every source is read and every platform checked before anything is built or
// written. The children then go where the index goes (by digest; blobs the
// destination has are skipped, others in its registry mounted), the index
// after them, its tags last: a tag never names a partial index. With --sign the
// tags are held back for the caller to write once it has signed (publish.ts).
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { formatPlatform, hostSystem, parsePlatform, parseSystem } from '../oci/platform.js';
import { build, type BuildRequest } from './build.js';
import { readSource, repositoryOf, writeImage, type CopyResult, type RegistryOptions } from './copy.js';
import { StrataError } from '../base/errors.js';
import { guarded } from './interrupt.js';
import { formatReference, parseSource, referenceTag, resolveTag, type Reference } from '../oci/reference.js';
import { stageBeside } from '../base/fs.js';
import { comparePlatforms, makeImageIndex, onePerPlatform, platformOfConfig, type IndexChild } from '../image/image-index.js';
import { platformMatches } from '../oci/platform.js';
import { layoutBlob, readContainerConfig } from '../image/source.js';
import { writtenImage, type WrittenImage } from './image-plan.js';
import type { ImageOrIndex } from '../image/model.js';
import { parseOci } from '../oci/parse.js';
import { imageIndex } from '../oci/schema.js';
import type { Platform } from '../oci/types.js';
import type { Digest } from '../base/digest.js';
import { registryBlob } from '../registry/source.js';

export interface IndexRequest {
  /** Images and installables, as given. */
  sources: string[];
  destination: Reference;
  /** Tags besides the destination's own; with neither, latest. A layout takes one. */
  tags: string[];
  /** To a registry: the index by digest only, no tag (--by-digest). */
  byDigest?: boolean;
  /** To a registry: the index by digest only, its tags returned unwritten, for the caller to write once it has signed (--sign). */
  holdTags?: boolean;
  /** --platform values: Nix systems or OCI platforms. */
  platforms: string[];
  annotations: Record<string, string>;
  /** How installables are built; their system and output are the index's. */
  build: Omit<BuildRequest, 'installable' | 'output' | 'system' | 'tag' | 'extraTags' | 'byDigest' | 'registry' | 'reuseFrom'>;
  registry: RegistryOptions;
}

export interface IndexResult {
  digest: Digest;
  mediaType: string;
  output: string;
  tags: string[];
  manifests: { digest: Digest; mediaType: string; size: number; platform: Platform; source: string }[];
  /** What writing the children and the index took. */
  bytes: number;
  blobs: CopyResult['blobs'];
}

interface Asked {
  text: string;
  platform: Platform;
}

interface Child extends IndexChild {
  image: ImageOrIndex;
  digest: Digest;
}

/** buildx marks the provenance and SBOM manifests of an index so; they describe a child, they are not images to run. */
const ATTESTATION = { key: 'vnd.docker.reference.type', value: 'attestation-manifest' };

function askedPlatforms(values: string[]): Asked[] {
  const asked: Asked[] = [];
  for (const text of values) {
    const platform = parsePlatform(text);
    if (!asked.some((a) => comparePlatforms(a.platform, platform) === 0)) asked.push({ text, platform });
  }
  return asked;
}

/** The destination's tag and every --tag (push's README example, `app:1.2 --tag latest`, means both); latest with neither; none by digest. */
function indexTags(dst: Reference, extra: string[], byDigest: boolean): string[] {
  if (byDigest) {
    if (dst.transport !== 'docker' || dst.ref.tag || dst.ref.digest || extra.length)
      throw new StrataError('usage', '--by-digest pushes to a registry repository with no tag: drop the tag');
    return [];
  }
  if (dst.transport === 'docker' && dst.ref.digest)
    throw new StrataError('reference', `${formatReference(dst)}: an index's digest is known only once it is made; name a tag, or none for latest`);
  const own = referenceTag(dst);
  const tags = [...new Set([...(own ? [own] : []), ...extra])].map((t) => resolveTag(t, undefined, undefined));
  if (dst.transport !== 'docker' && tags.length > 1)
    throw new StrataError('usage', `${formatReference(dst)} names the index with one tag; give it in the destination or as --tag, not ${tags.join(' and ')}`);
  return tags.length ? tags : ['latest'];
}

/** Where an image's config says it runs; the message names the source. */
async function childOf(image: ImageOrIndex, source: string): Promise<Child> {
  try {
    const platform = platformOfConfig(await readContainerConfig(image, source));
    const { mediaType, digest, bytes } = image.manifest;
    return { image, platform, source, digest, descriptor: { mediaType, digest, size: bytes.length } };
  } catch (e) {
    if (e instanceof StrataError) throw new StrataError(e.code, `${source}: ${e.message}`, { cause: e });
    throw e;
  }
}

/** The images of a source: itself, or an index's children (nested indexes flattened, attestations left out). */
async function imagesOf(img: ImageOrIndex, source: string): Promise<Child[]> {
  if (img.kind === 'image') return [await childOf(img, source)];
  const { manifests } = img.json;
  const kept = img.children.filter((_, i) => manifests[i]?.annotations?.[ATTESTATION.key] !== ATTESTATION.value);
  return (await Promise.all(kept.map((c) => imagesOf(c, `${source}@${c.manifest.digest}`)))).flat();
}

/** --platform picks from an index, and a single image must be of a platform asked for. */
function selected(images: Child[], source: string, index: boolean, asked: Asked[]): Child[] {
  if (!asked.length) return images;
  const chosen = images.filter((i) => asked.some((a) => platformMatches(i.platform, a.platform)));
  const names = asked.map((a) => formatPlatform(a.platform)).join(', ');
  if (!index && !chosen.length)
    throw new StrataError('platform', `${source} is a ${formatPlatform(images[0]!.platform)} image, not ${names} as --platform asks`);
  if (!chosen.length)
    throw new StrataError('platform', `${source} has no image for ${names} (it has ${images.map((i) => formatPlatform(i.platform)).join(', ') || 'none'})`);
  return chosen;
}

/**
 * Builds an installable for one system, into the destination's repository by
 * digest or into a staging layout, and takes the image as written (nothing is
 * read back): its layers open from where they now are.
 */
async function buildChild(req: IndexRequest, installable: string, system: string, stage: string | undefined, n: number): Promise<ImageOrIndex> {
  const dst = req.destination;
  let written: WrittenImage | undefined;
  const onWritten = (w: WrittenImage) => void (written = w);
  if (dst.transport === 'docker') {
    const ref = { registry: dst.ref.registry, repository: dst.ref.repository };
    await build({ ...req.build, installable, system, output: { transport: 'docker', ref }, byDigest: true, registry: req.registry, onWritten });
    const repo = repositoryOf(ref, req.registry.session);
    return writtenImage(written!, (d) => registryBlob(repo, d), installable);
  }
  const tag = `build-${n}`;
  await build({ ...req.build, installable, system, output: { transport: 'oci', path: stage!, tag }, registry: req.registry, onWritten });
  return writtenImage(written!, (d) => layoutBlob(stage!, d), installable);
}

export async function makeIndex(req: IndexRequest): Promise<IndexResult> {
  const dst = req.destination;
  if (dst.transport !== 'docker' && dst.transport !== 'oci' && dst.transport !== 'oci-archive') {
    throw new StrataError(
      'usage',
      `an index is written to a registry (docker://REF or REGISTRY/REPO[:TAG]), oci:DIR[:TAG] or oci-archive:FILE[:TAG], not ${formatReference(dst)}`,
    );
  }
  if (!req.sources.length) throw new StrataError('usage', 'name at least one image or installable');
  const tags = indexTags(dst, req.tags, req.byDigest ?? false);
  const asked = askedPlatforms(req.platforms);
  const sources = req.sources.map((text) => ({ text, ref: parseSource(text) }));

  // Existing images: read, each platform from its config, picked and checked against --platform.
  const found = await Promise.all(
    sources
      .filter((s) => s.ref.transport !== 'nix')
      .map(async (s) => {
        const img = await readSource(s.ref, req.registry);
        const images = await imagesOf(img, s.text);
        if (!images.length) throw new StrataError('reference', `${s.text} is an index of no container image`);
        return selected(images, s.text, img.kind === 'index', asked);
      }),
  );
  // Installables: one build per --platform (this machine's without one), planned before any is made.
  const installables = sources.filter((s) => s.ref.transport === 'nix');
  const systems = !installables.length ? [] : asked.length ? asked.map((a) => parseSystem(a.text)) : [parseSystem(hostSystem())];
  const planned = installables.flatMap((s) =>
    systems.map(({ system, platform }) => ({ installable: s.text, system, platform, source: `${s.text} (${system})` })),
  );
  if (planned.length && dst.transport !== 'docker' && req.build.format === 'docker')
    throw new StrataError('usage', `--format docker is for registries; ${formatReference(dst)} holds OCI manifests`);
  onePerPlatform([...found.flat(), ...planned]);
  const all = [...found.flat().map((c) => c.platform), ...planned.map((p) => p.platform)];
  for (const a of asked) {
    if (!all.some((p) => platformMatches(p, a.platform)))
      throw new StrataError('platform', `no ${formatPlatform(a.platform)} image among the sources (they have ${all.map(formatPlatform).join(', ')})`);
  }

  const stage = planned.length && dst.transport !== 'docker' ? await stageBeside(dst.path) : undefined;
  const removeStage = async () => {
    if (stage) await rm(stage, { recursive: true, force: true });
  };
  return guarded(removeStage, async () => {
    try {
      const built: Child[] = [];
      for (const [n, p] of planned.entries()) {
        const child = await childOf(await buildChild(req, p.installable, p.system, stage && join(stage, 'builds'), n), p.source);
        if (comparePlatforms(child.platform, p.platform) !== 0) throw new Error(`internal: ${p.source} was built as a ${formatPlatform(child.platform)} image`);
        built.push(child);
      }
      const children = onePerPlatform([...found.flat(), ...built]);
      const made = makeImageIndex(children, req.annotations);
      const image: ImageOrIndex = {
        kind: 'index',
        manifest: { bytes: made.bytes, mediaType: made.mediaType, digest: made.digest },
        json: parseOci(imageIndex, made.bytes, `index ${made.digest}`, 'usage'),
        children: children.map((c) => c.image),
      };
      const held = req.holdTags && dst.transport === 'docker';
      const written = await writeImage(image, dst, held ? [] : tags, req.registry);
      const sourceOf = new Map(children.map((c) => [c.descriptor.digest, c.source]));
      return {
        digest: made.digest,
        mediaType: made.mediaType,
        output: written.output,
        tags: held ? tags : written.tags,
        manifests: made.index.manifests.map((d) => ({
          digest: d.digest,
          mediaType: d.mediaType,
          size: d.size,
          platform: d.platform!,
          source: sourceOf.get(d.digest)!,
        })),
        bytes: written.bytes,
        blobs: written.blobs,
      };
    } finally {
      await removeStage();
    }
  });
}

// `strata diff`'s answer: whether two images are the same and, when they are
// not, why, level by level — index, manifest and config fields, which layers
// differ, which files inside them, and which store path each file belongs to.
// Only layers that differ are read, two at a time.
import pLimit from 'p-limit';
import { normalizePlatform, platformMatches } from '../oci/platform.js';
import type { Descriptor, ImageConfig, Platform } from '../oci/types.js';
import { StrataError } from '../base/errors.js';
import { formatPlatform } from '../oci/platform.js';
import { alignLayers } from './align.js';
import { diffFields } from './fields.js';
import { hintsFor } from './hints.js';
import type { DiffReport, ImageDiff, IndexDiff, LayerPair, LayerSide } from './report.js';
import { readLayerFiles, type FileFacts } from './layer-files.js';
import { identity, type CompareImage, type CompareIndex, type CompareTarget } from './model.js';
import { diffStorePaths, sideFiles } from './store-paths.js';

function platformOf(c: ImageConfig): Platform {
  return { os: c.os, architecture: c.architecture, ...(c.variant ? { variant: c.variant } : {}) };
}

/** `have` is what `want` names (a variant not asked for matches any); no platform matches nothing. */
function samePlatform(want: Platform, have: Platform | undefined): boolean {
  return have !== undefined && platformMatches(have, want);
}

/** How an index's image is matched with the other index's: by platform. */
function platformKey(d: Descriptor): string {
  if (!d.platform) return `${d.digest} (no platform)`;
  const { os, architecture, variant } = normalizePlatform(d.platform);
  return formatPlatform({ os, architecture, ...(variant ? { variant } : {}) });
}

function childFor(index: CompareIndex, platform: Platform, side: string): CompareIndex['children'][number] {
  const hit = index.children.find((c) => samePlatform(platform, c.descriptor.platform));
  if (hit) return hit;
  const has = index.children.map((c) => (c.descriptor.platform ? formatPlatform(c.descriptor.platform) : 'no platform')).join(', ');
  throw new StrataError('platform', `${side} is an index with no ${formatPlatform(platform)} image (it has ${has || 'none'})`);
}

function checkPlatform(img: CompareImage, platform: Platform, side: string): void {
  const p = platformOf(img.config.json);
  if (!samePlatform(platform, p)) throw new StrataError('platform', `${side} is a ${formatPlatform(p)} image, not ${formatPlatform(platform)}`);
}

function layerSide(img: CompareImage, index: number): LayerSide {
  const l = img.layers[index]!;
  const d: Descriptor | undefined = l.descriptor;
  return { layer: index + 1, diffID: l.diffID, ...(d ? { digest: d.digest, mediaType: d.mediaType, size: d.size } : {}) };
}

/** The files of the layers numbered `layers` (1 = bottom). */
async function filesOf(img: CompareImage, layers: number[], limit: ReturnType<typeof pLimit>): Promise<{ layer: number; files: Map<string, FileFacts> }[]> {
  return Promise.all(layers.map((layer) => limit(async () => ({ layer, files: await readLayerFiles(img.layers[layer - 1]!.openTar()) }))));
}

export async function diffImages(a: CompareImage, b: CompareImage): Promise<ImageDiff> {
  const platform = formatPlatform(platformOf(a.config.json));
  const base = {
    platform,
    a: { digest: identity(a), config: a.config.digest },
    b: { digest: identity(b), config: b.config.digest },
  };
  const bothManifests = a.manifest && b.manifest;
  // Without a manifest on one side (a docker-archive), the image is its config: the image ID.
  const identical = bothManifests ? a.manifest!.digest === b.manifest!.digest : a.config.digest === b.config.digest;
  const empty = { manifest: [], config: [], layers: [], storePaths: [], files: [], hints: [] };
  const archives = [a, b].flatMap((x, i) => (x.manifest ? [] : [i === 0 ? 'A' : 'B']));
  const note = !archives.length
    ? undefined
    : `${archives.length === 2 ? 'A and B are docker-archives, which hold' : `${archives[0]} is a docker-archive, which holds`} no manifest: compared by config (the image ID) and layers`;
  if (identical) return { ...base, identical, ...(note ? { note } : {}), ...empty };

  const manifest = bothManifests ? diffFields(a.manifest!.json, b.manifest!.json, (p) => p === 'config' || p === 'layers') : [];
  const config = diffFields(a.config.json, b.config.json, (p) => p === 'rootfs.diff_ids');
  const aligned = alignLayers(
    a.layers.map((l) => l.diffID),
    b.layers.map((l) => l.diffID),
  );
  const layers: LayerPair[] = aligned.map((p) => {
    if (p.b === undefined) return { status: 'only-in-a', a: layerSide(a, p.a), descriptor: [] };
    if (p.a === undefined) return { status: 'only-in-b', b: layerSide(b, p.b), descriptor: [] };
    const la = layerSide(a, p.a);
    const lb = layerSide(b, p.b);
    const da = a.layers[p.a]!.descriptor;
    const db = b.layers[p.b]!.descriptor;
    const status = !p.same ? 'differs' : la.digest === lb.digest ? 'identical' : 'recompressed';
    // Digest and size are on the layer's own line, and so is the media type of a recompressed layer.
    const descriptor = da && db ? diffFields(da, db, (f) => f === 'digest' || f === 'size' || (status === 'recompressed' && f === 'mediaType')) : [];
    return { status, a: la, b: lb, descriptor };
  });
  // Layers with the same tar on both sides hold the same files: only the others are read.
  const limit = pLimit(2);
  const [filesA, filesB] = await Promise.all([
    filesOf(
      a,
      layers.filter((l) => l.a && (l.status === 'differs' || l.status === 'only-in-a')).map((l) => l.a!.layer),
      limit,
    ),
    filesOf(
      b,
      layers.filter((l) => l.b && (l.status === 'differs' || l.status === 'only-in-b')).map((l) => l.b!.layer),
      limit,
    ),
  ]);
  const { storePaths, files } = diffStorePaths(sideFiles(filesA), sideFiles(filesB));
  const d: ImageDiff = { ...base, identical, ...(note ? { note } : {}), manifest, config, layers, storePaths, files, hints: [] };
  d.hints = hintsFor(d);
  return d;
}

/**
 * Compares two targets. An index and an image: the index's image of the
 * other's platform (identical when that image is). Two indexes: their fields, the platforms only one has, and
 * each shared platform's images (or only `platform`'s). Two images of
 * different platforms are not comparable: a platform error (exit 2).
 */
export async function diffTargets(a: CompareTarget, b: CompareTarget, platform?: Platform): Promise<DiffReport> {
  const head = { a: { digest: identity(a), kind: a.kind }, b: { digest: identity(b), kind: b.kind } };
  if (a.kind === 'image' && b.kind === 'image') {
    if (platform) {
      checkPlatform(a, platform, 'A');
      checkPlatform(b, platform, 'B');
    } else {
      const [pa, pb] = [platformOf(a.config.json), platformOf(b.config.json)];
      if (!samePlatform(pa, pb))
        throw new StrataError('platform', `A is a ${formatPlatform(pa)} image and B a ${formatPlatform(pb)} one: diff compares images of one platform`);
    }
    const d = await diffImages(a, b);
    return { ...head, identical: d.identical, images: [d] };
  }
  if (a.kind === 'index' && b.kind === 'index') {
    const index: IndexDiff = { fields: diffFields(a.manifest.json, b.manifest.json, (p) => p === 'manifests'), onlyInA: [], onlyInB: [] };
    const pairs: [CompareIndex['children'][number], CompareIndex['children'][number]][] = [];
    if (platform) {
      pairs.push([childFor(a, platform, 'A'), childFor(b, platform, 'B')]);
    } else {
      const inB = new Map(b.children.map((c) => [platformKey(c.descriptor), c]));
      const inA = new Set(a.children.map((c) => platformKey(c.descriptor)));
      for (const c of a.children) {
        const other = inB.get(platformKey(c.descriptor));
        if (other) pairs.push([c, other]);
        else index.onlyInA.push(platformKey(c.descriptor));
      }
      index.onlyInB = b.children.map((c) => platformKey(c.descriptor)).filter((k) => !inA.has(k));
    }
    const images: ImageDiff[] = [];
    for (const [ca, cb] of pairs) images.push(await diffImages(await ca.open(), await cb.open()));
    const identical = head.a.digest === head.b.digest;
    if (!identical && !platform && !index.fields.length && !index.onlyInA.length && !index.onlyInB.length && images.every((i) => i.identical)) {
      // The same images under the same fields: what is left is their order.
      index.fields.push({ path: 'manifests', a: a.children.map((c) => platformKey(c.descriptor)), b: b.children.map((c) => platformKey(c.descriptor)) });
    }
    return { ...head, identical, index, images };
  }
  // One index, one image: the index's image for the image's platform.
  const [idx, img, idxSide, imgSide] = a.kind === 'index' ? [a, b as CompareImage, 'A', 'B'] : [b as CompareIndex, a as CompareImage, 'B', 'A'];
  const want = platform ?? platformOf(img.config.json);
  if (platform) checkPlatform(img, platform, imgSide);
  const child = await childFor(idx, want, idxSide).open();
  const d = a.kind === 'index' ? await diffImages(child, img) : await diffImages(img, child);
  // "Is it the same image?" of an index and an image asks about the index's image for that platform.
  const note = `${idxSide} is an index: its ${d.platform} image is compared`;
  return { ...head, identical: d.identical, images: [{ ...d, note: d.note ? `${note}; ${d.note}` : note }] };
}

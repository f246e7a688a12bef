// Opens whatever `strata diff` is given as the comparison model
// (compare/model.ts): a Nix installable (computed as `strata digest` does; its
// layers made again from the store only when read), an OCI layout, an
// oci-archive, a docker-archive or a registry image. Layer bytes are checked as
// they are read: the blob against its digest, the tar against its diffID.
import { PassThrough, pipeline, type Readable } from 'node:stream';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { parseOci } from '../oci/parse.js';
import { readContainerConfig } from '../image/source.js';
import type { ImageOrIndex } from '../image/model.js';
import { imageManifest } from '../oci/schema.js';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest } from '../oci/types.js';
import type { Digest } from '../base/digest.js';
import { HashTap } from '../base/hash-tap.js';
import type { Compression } from '../oci/layer-types.js';
import type { CompareImage, CompareLayer, CompareTarget, OpenedTarget } from '../compare/model.js';
import type { BuildRequest } from './build.js';
import { readSource, type RegistryOptions } from './copy.js';
import { StrataError } from '../base/errors.js';
import { planNixImage } from './build.js';
import { formatReference, parseSource } from '../oci/reference.js';

/** A HashTap that, at the end, fails the stream unless what passed is `expect`. */
class CheckingTap extends HashTap {
  constructor(
    private readonly what: string,
    private readonly expect: { digest: Digest; size?: number },
  ) {
    super();
  }

  override _flush(done: (e?: Error | null) => void): void {
    super._flush(() => {
      const { digest, size } = this.value;
      if (digest === this.expect.digest && (this.expect.size === undefined || size === this.expect.size)) return done();
      done(new StrataError('reference', `${this.what} is damaged: its bytes are ${digest} (${size} bytes), not ${this.expect.digest}`));
    });
  }
}

/** A layer's compression, from its media type's suffix (OCI's +gzip/+zstd, Docker's .tar.gzip): foreign and non-distributable layer types read too. */
function compressionOf(mediaType: string, what: string): Compression {
  if (/[+.]gzip$/.test(mediaType)) return 'gzip';
  if (/[+.]zstd$/.test(mediaType)) return 'zstd';
  if (/[.]tar$/.test(mediaType)) return 'none';
  throw new StrataError('unsupported', `${what} has media type ${mediaType}, which is no layer type Strata can read`);
}

/**
 * The uncompressed tar of a layer blob, checked on the way. Node's zlib is fine
 * here: these bytes are only read, never part of a digest Strata makes.
 */
export function checkedTar(bytes: Readable, what: string, diffID: Digest, blob?: { descriptor: Descriptor; compression: Compression }): Readable {
  const stages: NodeJS.ReadWriteStream[] = [];
  if (blob) {
    stages.push(new CheckingTap(`${what} (blob ${blob.descriptor.digest})`, blob.descriptor));
    if (blob.compression === 'gzip') stages.push(createGunzip());
    if (blob.compression === 'zstd') stages.push(createZstdDecompress());
  }
  stages.push(new CheckingTap(`${what} (tar, diffID ${diffID})`, { digest: diffID }));
  // The reader gets one error that names the layer, whichever stage failed (a decompressor's own says only "Z_DATA_ERROR").
  const out = new PassThrough();
  const last = pipeline(bytes, ...(stages as [NodeJS.ReadWriteStream]), (e) => {
    if (!e) return;
    const why =
      e instanceof StrataError
        ? e
        : new StrataError(
            'reference',
            `${what} is damaged: ${blob && blob.compression !== 'none' ? `its ${blob.compression} data does not decompress` : 'it cannot be read'} (${(e as Error).message})`,
            { cause: e },
          );
    out.destroy(why);
  }) as unknown as Readable;
  last.pipe(out);
  out.on('close', () => last.destroy());
  return out;
}

/**
 * The layers of an image, each with its diffID from the config. `open(i)` gives
 * layer i's blob, or with `tar: true` its tar itself (Strata's own layers, made
 * again from the store), which is then checked against the diffID alone.
 */
function layersOf(
  where: string,
  manifest: ImageManifest | undefined,
  config: ImageConfig,
  count: number,
  open: (i: number) => { bytes: Readable; tar?: boolean },
): CompareLayer[] {
  const diffIDs = config.rootfs?.diff_ids ?? [];
  if (diffIDs.length !== count) throw new StrataError('reference', `${where}: its config names ${diffIDs.length} layer diffIDs for ${count} layers`);
  return diffIDs.map((diffID, i) => {
    const descriptor = manifest?.layers[i];
    const what = `${where}: layer ${i + 1}`;
    return {
      ...(descriptor ? { descriptor } : {}),
      diffID,
      // The media type is asked only of a layer that is read: one no reader knows may sit in a layer both sides share.
      openTar: () => {
        const compression = descriptor ? compressionOf(descriptor.mediaType, what) : undefined;
        const { bytes, tar } = open(i);
        return checkedTar(bytes, what, diffID, descriptor && compression && !tar ? { descriptor, compression } : undefined);
      },
    };
  });
}

async function imageOfSource(img: ImageOrIndex, where: string): Promise<CompareImage> {
  // An index without children is read as a manifest, and refused as one.
  const parsed =
    img.kind === 'image' ? img.json : parseOci(imageManifest, img.manifest.bytes, `manifest ${img.manifest.digest} of ${where}`, img.source?.code ?? 'usage');
  // The descriptor that named it gives the media type the JSON may leave out.
  const json: ImageManifest = { ...parsed, mediaType: parsed.mediaType ?? img.manifest.mediaType };
  let config: ImageConfig;
  try {
    config = await readContainerConfig(img, where);
  } catch (e) {
    throw e instanceof StrataError ? new StrataError(e.code, `${where}: ${e.message.replace(`${where}: `, '')}`) : e;
  }
  const blobs = img.kind === 'image' ? img.layers : [];
  // A manifest the reader made up (a docker-archive holds none) is no part of the comparison: the image is its config and layers.
  const manifest = img.manifest.madeUp ? undefined : json;
  return {
    kind: 'image',
    ...(manifest ? { manifest: { digest: img.manifest.digest, mediaType: img.manifest.mediaType, json: manifest } } : {}),
    config: { digest: img.kind === 'image' ? img.config.descriptor.digest : json.config.digest, json: config },
    layers: layersOf(where, manifest, config, blobs.length, (i) => {
      // Strata's own layers give their tars directly (made again from the store); any other is read and decompressed.
      const tar = blobs[i]!.openTar?.();
      return tar ? { bytes: tar, tar: true } : { bytes: blobs[i]!.open() };
    }),
  };
}

function targetOfSource(img: ImageOrIndex, where: string): Promise<CompareTarget> | CompareTarget {
  if (img.kind === 'image' || !img.children.length) return imageOfSource(img, where);
  const parsed = img.json;
  const json: ImageIndex = { ...parsed, mediaType: parsed.mediaType ?? img.manifest.mediaType };
  return {
    kind: 'index',
    manifest: { digest: img.manifest.digest, mediaType: img.manifest.mediaType, json },
    children: img.children.map((c, i) => ({ descriptor: json.manifests[i]!, open: () => imageOfSource(c, `${where}@${c.manifest.digest}`) })),
  };
}

/** The image an installable makes with `req`'s settings, as `strata digest` computes it. */
async function installableImage(req: Omit<BuildRequest, 'output'>, registry: RegistryOptions): Promise<OpenedTarget> {
  const { model, roots } = await planNixImage(req, () => registry);
  try {
    return { reference: req.installable, target: await imageOfSource(model, req.installable), close: () => roots.release() };
  } catch (e) {
    await roots.release();
    throw e;
  }
}

/**
 * Opens `text`: an image reference (docker://, oci:, oci-archive:,
 * docker-archive:, or a bare REGISTRY/REPO[:TAG|@DIGEST]) or a Nix installable,
 * built with `build`'s settings.
 */
export async function openTarget(text: string, build: Omit<BuildRequest, 'output' | 'installable'>, registry: RegistryOptions): Promise<OpenedTarget> {
  const ref = parseSource(text);
  const opened = (target: CompareTarget): OpenedTarget => ({ reference: text, target, close: async () => undefined });
  switch (ref.transport) {
    case 'nix':
      return installableImage({ ...build, installable: ref.installable }, registry);
    default:
      return opened(await targetOfSource(await readSource(ref, registry), formatReference(ref)));
  }
}

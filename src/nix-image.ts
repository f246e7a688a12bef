// A Nix installable's image exactly as `strata digest` computes it (layers from
// the cache, or made and hashed, nothing written), kept open with its plan so
// that any layer can be made again from the store: what the serve bridge serves
// and `strata diff` reads an installable through. The caller releases the GC roots.
import { DigestOnlySink } from '../image/sink.js';
import { checkLayerType, type ManifestFormat } from '../image/assemble.js';
import type { Compression } from '../layers/compress.js';
import { GcRoots } from '../nix/installable.js';
import { prepareImage, type BuildRequest, type PreparedImage } from './build.js';
import type { RegistryOptions } from './copy.js';
import { hostSystem, parseSystem } from '../oci/platform.js';
import { assembleAndWrite, planImage, type ImagePlan, type WrittenImage } from './write-image.js';

export interface PlannedNixImage {
  prepared: PreparedImage;
  plan: ImagePlan;
  image: WrittenImage;
  roots: GcRoots;
}

/** `reg` gives the registry options for reading a base image, made only when there is one. */
export async function planNixImage(req: Omit<BuildRequest, 'output'>, reg: () => RegistryOptions): Promise<PlannedNixImage> {
  const format: ManifestFormat = req.format;
  const compression: Compression = req.compression ?? 'gzip';
  checkLayerType(format, compression);
  const host = hostSystem();
  const { system, platform } = parseSystem(req.system ?? host);
  const roots = await GcRoots.create();
  try {
    const prepared = await prepareImage(req, roots, { system, host, platform, compression, format, reg });
    const plan = await planImage(prepared.writeOptions);
    const image = await assembleAndWrite(new DigestOnlySink(), prepared.writeOptions, plan);
    return { prepared, plan, image, roots };
  } catch (e) {
    await roots.release();
    throw e;
  }
}

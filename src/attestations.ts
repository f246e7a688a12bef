// The SBOMs and provenance of the image an installable makes, as in-toto
// statements: `strata sbom` writes them, the signing code signs and attaches
// them. The closure comes from the very plan that computes the image's digest
// (as strata digest does), so the documents list exactly the store paths in
// its layers.
import { packageVersion } from './version.js';
import { planNixImage, type BuildRequest } from './build.js';
import { closureRoots } from '../nix/description.js';
import { hostSystem, parseSystem } from '../oci/platform.js';
import {
  builderFromEnv,
  CYCLONEDX_PREDICATE_TYPE,
  cycloneDx,
  imageSubject,
  inTotoStatement,
  SLSA_PREDICATE_TYPE,
  slsaProvenance,
  SPDX_PREDICATE_TYPE,
  spdxDocument,
  type CycloneDxBom,
  type SbomFacts,
  type SlsaProvenance,
  type SpdxDocument,
  type Statement,
} from './sbom.js';
import { defaults } from './defaults.js';
import { flakeMetadata, flakeRefOf, nixVersion } from '../nix/flake-metadata.js';
import { asStorePath } from '../nix/installable.js';
import type { Digest } from '../base/digest.js';

export interface AttestationOptions {
  /** How the image is made, as for strata digest (whose defaults apply): the subject digest follows from these. */
  build?: Partial<
    Pick<BuildRequest, 'system' | 'tag' | 'overrides' | 'maxLayers' | 'strategy' | 'cache' | 'cacheDir' | 'compression' | 'format' | 'sourceDateEpoch'>
  >;
  /** The subject's digest when it is known already (an image pushed with other flags); the closure still comes from the build. */
  imageDigest?: Digest;
  /** The subject's name; default: the image's name. */
  subjectName?: string;
  /** Where the builder is read from (GitHub Actions variables); default: process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface Attestations {
  spdx: Statement<SpdxDocument>;
  cyclonedx: Statement<CycloneDxBom>;
  provenance: Statement<SlsaProvenance>;
}

export async function attestationsFor(installable: string, opts: AttestationOptions = {}): Promise<Attestations> {
  const facts = await gatherFacts(installable, opts);
  const subject = [imageSubject(opts.subjectName ?? facts.image.name, facts.image.digest)];
  return {
    spdx: inTotoStatement(subject, SPDX_PREDICATE_TYPE, spdxDocument(facts)),
    cyclonedx: inTotoStatement(subject, CYCLONEDX_PREDICATE_TYPE, cycloneDx(facts)),
    provenance: inTotoStatement(subject, SLSA_PREDICATE_TYPE, slsaProvenance(facts)),
  };
}

async function gatherFacts(installable: string, opts: AttestationOptions): Promise<SbomFacts> {
  // The lock file is read before the build, which would write a missing one the same way.
  const storePath = await asStorePath(installable);
  const [flake, nix] = await Promise.all([storePath ? undefined : flakeMetadata(flakeRefOf(installable)), nixVersion()]);
  const req: BuildRequest = {
    overrides: {},
    maxLayers: defaults.maxLayers,
    strategy: defaults.layering,
    format: defaults.format,
    sourceDateEpoch: 0,
    ...opts.build,
    installable,
  };
  // The image as strata digest computes it: its layers from the cache, or made and hashed, nothing written.
  const { prepared, image, roots } = await planNixImage(req);
  await roots.release();
  return {
    image: { name: prepared.description.name, tag: prepared.tag, digest: opts.imageDigest ?? image.manifest.descriptor.digest },
    installable,
    system: parseSystem(req.system ?? hostSystem()).system,
    roots: closureRoots(prepared.description),
    closure: prepared.writeOptions.closure,
    ...(flake ? { flake } : {}),
    nixVersion: nix,
    strataVersion: packageVersion(),
    sourceDateEpoch: req.sourceDateEpoch,
    builder: builderFromEnv(opts.env ?? process.env),
  };
}

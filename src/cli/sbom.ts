// `strata sbom INSTALLABLE`: the image's SBOMs (SPDX 2.3, CycloneDX 1.6), their
// in-toto statements and the SLSA provenance statement, written to a directory.
// Listed in main.ts's COMMANDS.
import { join } from 'node:path';
import { Command } from 'commander';
import { sourceDateEpoch } from './image-flags.js';
import { StrataError } from '../../base/errors.js';
import { mkdirs, writeFileAtomic } from '../../base/fs.js';
import type { Digest } from '../../base/digest.js';

interface SbomFlags {
  output: string;
  system?: string;
  imageDigest?: string;
  sourceDateEpoch?: string;
}

export function sbomCommand(print: (s: string) => void): Command {
  return new Command('sbom')
    .description("write the SBOMs (SPDX 2.3, CycloneDX 1.6) and SLSA provenance of the image 'strata digest' gives, from its exact closure")
    .argument('<installable>', 'flake reference, store path, or result link')
    .option('-o, --output <dir>', 'directory for sbom.spdx.json, sbom.cdx.json, provenance.json and the SBOM statements (*.intoto.json)', '.')
    .option('--system <system>', 'Nix system or OCI platform to build for (default: this machine)')
    .option('--image-digest <digest>', "the statements' subject, sha256:… (default: the digest 'strata digest' prints for the same installable)")
    .option('--source-date-epoch <seconds>', 'time for the documents and the image (default $SOURCE_DATE_EPOCH, else 0)')
    .action(async (installable: string, f: SbomFlags) => {
      if (f.imageDigest !== undefined && !/^sha256:[0-9a-f]{64}$/.test(f.imageDigest))
        throw new StrataError('usage', `--image-digest '${f.imageDigest}' is not sha256:<64 hex digits>`);
      const { attestationsFor } = await import('../attestations.js');
      const a = await attestationsFor(installable, {
        build: { ...(f.system ? { system: f.system } : {}), sourceDateEpoch: sourceDateEpoch(f.sourceDateEpoch, process.env) },
        ...(f.imageDigest ? { imageDigest: f.imageDigest as Digest } : {}),
      });
      const files: [string, unknown][] = [
        ['sbom.spdx.json', a.spdx.predicate],
        ['sbom.cdx.json', a.cyclonedx.predicate],
        ['provenance.json', a.provenance],
        ['sbom.spdx.intoto.json', a.spdx],
        ['sbom.cdx.intoto.json', a.cyclonedx],
      ];
      try {
        await mkdirs(f.output);
        for (const [name, doc] of files) await writeFileAtomic(join(f.output, name), `${JSON.stringify(doc, null, 2)}\n`);
      } catch (e) {
        throw new StrataError('output', `cannot write ${f.output}: ${(e as Error).message}`, { cause: e });
      }
      const { name, digest } = a.spdx.subject[0]!;
      process.stderr.write(`strata: wrote the SBOMs and provenance of ${name} sha256:${digest.sha256} to ${f.output}\n`);
      for (const [file] of files) print(join(f.output, file));
    });
}

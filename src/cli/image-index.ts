// `strata index SOURCE... -o DESTINATION`: an image index of per-platform images
// and of Nix installables built for each --platform (src/index-image.ts).
// With --sign, as push --sign: checked first, the index pushed by digest and
// signed, then tagged (publish.ts). Listed in main.ts's COMMANDS.
import { Command, Option } from 'commander';
import { registryFlags, registryOptions, type RegistryFlags } from './access-flags.js';
import { collect, sourceDateEpoch } from './image-flags.js';
import type { IndexResult } from '../index-image.js';
import { checkSignFlags, prepareSigning, signingFlags, type SigningFlags } from './sign.js';
import { StrataError } from '../../base/errors.js';
import { writeFileAtomic } from '../../base/fs.js';
import { formatPlatform } from '../../oci/platform.js';
import { parseDestination } from '../../oci/reference.js';
import { COMPRESSIONS, MANIFEST_FORMATS, type Compression, type ManifestFormat } from '../../oci/layer-types.js';
import { defaults } from '../defaults.js';

interface IndexFlags extends RegistryFlags, SigningFlags {
  output: string;
  byDigest?: boolean;
  sign?: boolean;
  tag?: string[];
  platform?: string[];
  annotation?: string[];
  format: ManifestFormat;
  compression?: Compression;
  sourceDateEpoch?: string;
  cache: boolean;
}

export function indexCommand(print: (s: string) => void): Command {
  return signingFlags(
    registryFlags(
      new Command('index')
        .description('make an image index (a multi-platform image) of per-platform images, and of Nix installables built for each --platform')
        .argument(
          '<source...>',
          "an image: docker://REF or REGISTRY/REPO[:TAG|@DIGEST], oci:DIR[:TAG], oci-archive:FILE[:TAG] (an index gives its children); or a Nix installable: a flake reference with '#', a path, a store path",
        )
        .requiredOption('-o, --output <dest>', 'docker://REF or REGISTRY/REPO[:TAG], oci:DIR[:TAG] or oci-archive:FILE[:TAG]')
        .option(
          '--platform <platform>',
          'a Nix system or OCI platform to build installables for, to pick from indexes and to require of images (repeatable)',
          collect,
        )
        .option('-t, --tag <tag>', "tag of the index besides the destination's (repeatable for a registry; with neither: latest)", collect)
        .option('--annotation <KEY=VALUE>', 'index annotation (repeatable)', collect)
        .addOption(new Option('--format <format>', 'manifest format of built installables').choices(MANIFEST_FORMATS).default(defaults.format))
        .addOption(new Option('--compression <kind>', `layer compression of built installables (default ${defaults.compression})`).choices(COMPRESSIONS))
        .option('--source-date-epoch <seconds>', 'time for created and every mtime of built installables (default $SOURCE_DATE_EPOCH, else 0)')
        .option('--no-cache', 'make every layer of built installables from the store')
        .option('--json', 'print a JSON summary instead of the digest')
        .option('--by-digest', 'push the index by digest only and write no tag')
        .option(
          '--sign',
          'sign the index, then tag it (strata sign: with --key FILE, else keyless); checked before the first upload, and a failure writes no tag',
        ),
    ),
  ).action(async (sources: string[], f: IndexFlags) => {
    const destination = parseDestination(f.output);
    checkSignFlags(f);
    if (f.sign && destination.transport !== 'docker') throw new StrataError('usage', `--sign signs an index in a registry; ${f.output} is not one`);
    const signPushed = f.sign ? await prepareSigning(f) : undefined;
    const { keyValue } = await import('../../nix/description.js');
    const annotations = Object.fromEntries((f.annotation ?? []).map((a) => keyValue(a, '--annotation')));
    const build = {
      overrides: {},
      maxLayers: defaults.maxLayers,
      strategy: defaults.layering,
      cache: f.cache,
      format: f.format,
      ...(f.compression ? { compression: f.compression } : {}),
      sourceDateEpoch: sourceDateEpoch(f.sourceDateEpoch, process.env),
    };
    const { reg, progress } = await registryOptions(f);
    const { makeIndex } = await import('../index-image.js');
    let r: IndexResult;
    try {
      r = await makeIndex({
        sources,
        destination,
        tags: f.tag ?? [],
        ...(f.byDigest ? { byDigest: true } : {}),
        ...(signPushed ? { holdTags: true } : {}),
        platforms: f.platform ?? [],
        annotations,
        build,
        registry: reg,
      });
    } finally {
      progress.close();
    }
    if (!f.quiet)
      process.stderr.write(
        `strata: wrote the index ${r.output} ${r.digest} (${r.manifests.map((m) => formatPlatform(m.platform)).join(', ')}; ${r.tags.length ? `${signPushed ? 'to tag once signed: ' : ''}${r.tags.join(', ')}` : 'by digest, no tag'})\n`,
      );
    if (f.digestFile) await writeFileAtomic(f.digestFile, r.digest);
    if (signPushed && destination.transport === 'docker') {
      const [{ signThenTag }, { repositoryOf }] = await Promise.all([import('../publish.js'), import('../copy.js')]);
      await signThenTag(repositoryOf(destination.ref, reg.session), r.digest, r.tags, (d) => signPushed(destination.ref, d, reg.session));
    }
    print(f.json ? JSON.stringify(r, null, 2) : r.digest);
  });
}

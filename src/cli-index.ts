// `strata index SOURCE... -o DESTINATION`: an image index of per-platform images
// and of Nix installables built for each --platform (src/index-image.ts).
// Registered in cli.ts's program().
import { Command, Option } from 'commander';
import { registryFlags, registryOptions, type RegistryFlags } from './cli-access.js';
import { collect, sourceDateEpoch } from './cli-image.js';
import { keyValue } from './description.js';
import { makeIndex, type IndexResult } from './index-image.js';
import { formatPlatform } from './platform.js';
import { parseDestination } from './reference.js';
import { writeFileAtomic } from '../image/fs.js';
import { DEFAULT_MAX_LAYERS } from '../layers/plan.js';

interface IndexFlags extends RegistryFlags {
  output: string;
  tag?: string[];
  platform?: string[];
  annotation?: string[];
  format: 'oci' | 'docker';
  compression?: 'gzip' | 'zstd' | 'none';
  sourceDateEpoch?: string;
  cache: boolean;
}

export function indexCommand(print: (s: string) => void): Command {
  return registryFlags(
    new Command('index')
      .description('make an image index (a multi-platform image) of per-platform images, and of Nix installables built for each --platform')
      .argument('<source...>', "an image: docker://REF or REGISTRY/REPO[:TAG|@DIGEST], oci:DIR[:TAG], oci-archive:FILE[:TAG] (an index gives its children); or a Nix installable: a flake reference with '#', a path, a store path")
      .requiredOption('-o, --output <dest>', 'docker://REF or REGISTRY/REPO[:TAG], oci:DIR[:TAG] or oci-archive:FILE[:TAG]')
      .option('--platform <platform>', 'a Nix system or OCI platform to build installables for, to pick from indexes and to require of images (repeatable)', collect)
      .option('-t, --tag <tag>', "tag of the index besides the destination's (repeatable for a registry; with neither: latest)", collect)
      .option('--annotation <KEY=VALUE>', 'index annotation (repeatable)', collect)
      .addOption(new Option('--format <format>', 'manifest format of built installables').choices(['oci', 'docker']).default('oci'))
      .addOption(new Option('--compression <kind>', 'layer compression of built installables (default gzip)').choices(['gzip', 'zstd', 'none']))
      .option('--source-date-epoch <seconds>', 'time for created and every mtime of built installables (default $SOURCE_DATE_EPOCH, else 0)')
      .option('--no-cache', 'make every layer of built installables from the store')
      .option('--json', 'print a JSON summary instead of the digest'),
  ).action(async (sources: string[], f: IndexFlags) => {
    const destination = parseDestination(f.output);
    const annotations = Object.fromEntries((f.annotation ?? []).map((a) => keyValue(a, '--annotation')));
    const build = {
      overrides: {},
      maxLayers: DEFAULT_MAX_LAYERS,
      strategy: 'stable' as const,
      cache: f.cache,
      format: f.format,
      ...(f.compression ? { compression: f.compression } : {}),
      sourceDateEpoch: sourceDateEpoch(f.sourceDateEpoch, process.env),
    };
    const { reg, progress } = await registryOptions(f);
    let r: IndexResult;
    try {
      r = await makeIndex({ sources, destination, tags: f.tag ?? [], platforms: f.platform ?? [], annotations, build, registry: reg });
    } finally {
      progress.close();
    }
    if (!f.quiet) process.stderr.write(`strata: wrote the index ${r.output} ${r.digest} (${r.manifests.map((m) => formatPlatform(m.platform)).join(', ')}; ${r.tags.join(', ')})\n`);
    if (f.digestFile) await writeFileAtomic(f.digestFile, r.digest);
    print(f.json ? JSON.stringify(r, null, 2) : r.digest);
  });
}

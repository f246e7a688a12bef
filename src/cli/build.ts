// `strata build INSTALLABLE -o DEST`: a flake output written as an image.
import { Command } from 'commander';
import { imageOptions, request, type BuildFlags } from './image-flags.js';

export function buildCommand(print: (s: string) => void): Command {
  return imageOptions(
    new Command('build')
      .description('build a flake output into the Nix store and write it as an OCI image')
      .argument('<installable>', 'flake reference (./examples/hello#default), store path, or result link')
      .requiredOption('-o, --output <dest>', 'oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG] or docker://REF (pushed as it is made)'),
  ).action(async (installable: string, f: BuildFlags) => {
    const { build } = await import('../build.js');
    const r = await build(request(installable, f));
    const size = r.layers.reduce((n, l) => n + l.size, 0);
    process.stderr.write(`strata: wrote ${r.output} (${r.name}:${r.tag}, ${r.layers.length} layers, ${size} bytes)\n`);
    print(f.json ? JSON.stringify(r, null, 2) : r.digest);
  });
}

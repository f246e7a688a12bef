// `strata digest INSTALLABLE`: the manifest digest build would write, nothing written.
import { Command } from 'commander';
import { imageOptions, request, type BuildFlags } from './image-flags.js';

export function digestCommand(print: (s: string) => void): Command {
  return imageOptions(
    new Command('digest')
      .description("print the manifest digest 'build -o oci:' would write, without writing an image (uses and fills the layer cache)")
      .argument('<installable>', 'flake reference, store path, or result link'),
  ).action(async (installable: string, f: BuildFlags) => {
    const { build } = await import('../build.js');
    const r = await build(request(installable, { ...f, output: undefined }));
    print(f.json ? JSON.stringify(r, null, 2) : r.digest);
  });
}

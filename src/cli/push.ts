// `strata push SOURCE REGISTRY/REPO[:TAG]`: an installable or an image to a registry.
import { Command } from 'commander';
import { StrataError } from '../../base/errors.js';
import { parseDestination, parseSource } from '../../oci/reference.js';
import { registryFlags } from './access-flags.js';
import { collect, imageOptions } from './image-flags.js';
import { checkSignFlags, signingFlags } from './sign.js';
import type { TransferFlags } from './transfer.js';

export function pushCommand(print: (s: string) => void): Command {
  return signingFlags(
    registryFlags(
      imageOptions(
        new Command('push')
          .description('push a Nix installable (built and layered on the way) or an image (oci:DIR[:TAG], oci-archive:FILE[:TAG], docker://REF) to a registry')
          .argument('<source>', 'flake reference, store path, result link, or an image reference')
          .argument('<destination>', 'REGISTRY/REPO[:TAG] (docker:// optional)'),
        true,
      ),
    ),
  )
    .option(
      '--sign',
      'sign the pushed image, then tag it (strata sign: with --key FILE, else keyless); checked before the first upload, and a failure writes no tag',
    )
    .option('--reuse-from <ref>', 'reuse matching layers of this image in the same registry (repeatable; the destination tag is always tried)', collect)
    .option('--by-digest', 'push the manifest by digest only and write no tag (for strata index to gather later)')
    .action(async (source: string, destination: string, f: TransferFlags) => {
      const dst = parseDestination(destination);
      if (dst.transport !== 'docker') throw new StrataError('usage', `push writes to a registry; for ${dst.transport}: use 'strata copy' or 'strata build -o'`);
      checkSignFlags(f);
      const { transfer } = await import('./transfer.js');
      await transfer(parseSource(source), source, destination, f, print);
    });
}

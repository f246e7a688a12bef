// `strata copy SOURCE DESTINATION`: an image between any two places, byte for byte.
import { Command } from 'commander';
import { parseSource } from '../../oci/reference.js';
import { registryFlags } from './access-flags.js';
import { imageOptions } from './image-flags.js';
import type { TransferFlags } from './transfer.js';

export function copyCommand(print: (s: string) => void): Command {
  return registryFlags(
    imageOptions(
      new Command('copy')
        .description(
          'copy an image from docker://REF (or a bare REGISTRY/REPO[:TAG|@DIGEST]), oci:DIR[:TAG] or oci-archive:FILE[:TAG] to any of those or docker-archive:FILE[:NAME:TAG] (a Nix installable as source is built)',
        )
        .argument('<source>', 'image reference or Nix installable')
        .argument('<destination>', 'image reference'),
      true,
    ),
  ).action(async (source: string, destination: string, f: TransferFlags) => {
    const { transfer } = await import('./transfer.js');
    await transfer(parseSource(source), source, destination, f, print);
  });
}

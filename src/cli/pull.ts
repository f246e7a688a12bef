// `strata pull REGISTRY/REPO[:TAG] -o DEST`: an image from a registry to a layout or archive.
import { Command } from 'commander';
import { StrataError } from '../../base/errors.js';
import { parseDestination } from '../../oci/reference.js';
import { registryFlags } from './access-flags.js';
import { collect } from './image-flags.js';
import type { TransferFlags } from './transfer.js';

export function pullCommand(print: (s: string) => void): Command {
  return registryFlags(
    new Command('pull')
      .description('pull an image from a registry into an OCI layout, an oci-archive or a docker-archive')
      .argument('<reference>', 'REGISTRY/REPO[:TAG|@DIGEST] (docker:// optional)')
      .requiredOption('-o, --output <dest>', 'oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:NAME:TAG]')
      .option('-t, --tag <tag>', "tag in the layout (default: the reference's, else latest)", collect)
      .option('--platform <platform>', 'only this platform of a multi-platform image (linux/amd64, x86_64-linux)')
      .option('--json', 'print a JSON summary (and JSON progress events on stderr)'),
    { uploads: false },
  ).action(async (reference: string, f: TransferFlags & { output: string }) => {
    const src = parseDestination(reference);
    if (src.transport !== 'docker') throw new StrataError('usage', `pull reads from a registry; for ${src.transport}: use 'strata copy'`);
    const { transfer } = await import('./transfer.js');
    await transfer(src, reference, f.output, f, print);
  });
}

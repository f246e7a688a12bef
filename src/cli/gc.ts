// `strata gc`: what no manifest of serve's storage uses, removed.
import { Command } from 'commander';
import { StrataError } from '../../base/errors.js';
import { defaultRoot } from '../../registry/server/layout.js';
import { defaults } from '../defaults.js';
import { positiveInt } from './access-flags.js';

export function gcCommand(print: (s: string) => void): Command {
  return new Command('gc')
    .description("remove what no manifest of 'strata serve's storage uses: blobs, repository links, stale uploads")
    .option('--root <dir>', 'storage directory (default: the one strata serve uses)')
    .option('--storage <docker://registry/prefix>', 'registry storage of serve: refused, the upstream registry collects its own')
    .option('--grace <seconds>', 'keep whatever was written in the last SECONDS (pushes in progress)', String(defaults.gcGraceMs / 1000))
    .action(async (f: { root?: string; storage?: string; grace: string }) => {
      if (f.storage !== undefined)
        throw new StrataError(
          'usage',
          `gc collects a storage directory only; ${f.storage} is an upstream registry, which collects its own (distribution: registry garbage-collect)`,
        );
      const { collectGarbage } = await import('../serve.js');
      for (const line of await collectGarbage(f.root ?? defaultRoot(), positiveInt('--grace', f.grace, 0)! * 1000)) print(line);
    });
}

// `strata gc`: what no manifest of serve's storage uses, removed.
import { Command } from 'commander';
import { defaultRoot } from '../../registry/server/layout.js';
import { defaults } from '../defaults.js';
import { positiveInt } from './access-flags.js';

export function gcCommand(print: (s: string) => void): Command {
  return new Command('gc')
    .description("remove what no manifest of 'strata serve's storage uses: blobs, repository links, stale uploads")
    .option('--root <dir>', 'storage directory (default: the one strata serve uses)')
    .option('--grace <seconds>', 'keep whatever was written in the last SECONDS (pushes in progress)', String(defaults.gcGraceMs / 1000))
    .action(async (f: { root?: string; grace: string }) => {
      const { collectGarbage } = await import('../serve.js');
      for (const line of await collectGarbage(f.root ?? defaultRoot(), positiveInt('--grace', f.grace, 0)! * 1000)) print(line);
    });
}

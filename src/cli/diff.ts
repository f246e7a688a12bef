// `strata diff A B`: exit 0 when A and B are the same image, 1 when they are
// not (with the explanation), 2 when either cannot be read or they cannot be
// compared — cmp's and diff's convention, so a script can tell "different"
// from "broken" whatever the cause of the error.
import { Command } from 'commander';
import type { OpenedTarget } from '../../compare/model.js';
import { accessFlags, positiveInt, sessionOptions, type AccessFlags } from './access-flags.js';
import { imageOptions, request, type BuildFlags } from './image-flags.js';
import { describeError, StrataError } from '../../base/errors.js';
import { guarded } from '../interrupt.js';
import { parsePlatform } from '../../oci/platform.js';
import { defaults } from '../defaults.js';

type DiffFlags = BuildFlags & AccessFlags & { limit: string };

export function diffCommand(print: (s: string) => void, exit: (code: number) => void): Command {
  return accessFlags(
    imageOptions(
      new Command('diff')
        .description('compare two images: exit 0 when identical, 1 when not (saying which field, layer, store path and file differ), 2 on error')
        .argument(
          '<a>',
          'an image (docker://REF or REGISTRY/REPO[:TAG|@DIGEST], oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG]) or a Nix installable',
        )
        .argument('<b>', 'the same'),
      false,
      'print the comparison as JSON instead of the report',
    ),
  )
    .option('--limit <n>', 'files listed per store path before "… and N more" (0: all)', '10')
    .action(async (a: string, b: string, f: DiffFlags) => {
      const opened: OpenedTarget[] = [];
      const close = async () => {
        await Promise.allSettled(opened.map((o) => o.close()));
      };
      try {
        await guarded(close, async () => {
          const limit = positiveInt('--limit', f.limit, 0)!;
          // The system an installable is built for is also the platform taken from an index.
          const { installable: _, ...build } = request('', f);
          const wanted = build.system ? parsePlatform(build.system) : undefined;
          const [{ diffTargets }, { renderDiff }, { openTarget }, { createProgress }] = await Promise.all([
            import('../../compare/diff.js'),
            import('../../compare/render.js'),
            import('../compare-sources.js'),
            import('../progress.js'),
          ]);
          const progress = createProgress('quiet');
          const registry = { session: await sessionOptions(f, { progress }), push: { concurrency: defaults.concurrency, progress } };
          // One after the other: both may build with nix, and a failure should name one side.
          for (const [side, ref] of [
            ['A', a],
            ['B', b],
          ] as const) {
            try {
              opened.push(await openTarget(ref, build, registry));
            } catch (e) {
              throw e instanceof StrataError ? new StrataError(e.code, `${side} (${ref}): ${e.message}`, { cause: e }) : e;
            }
          }
          const report = await diffTargets(opened[0]!.target, opened[1]!.target, wanted);
          print(f.json ? JSON.stringify({ ...report, references: { a, b } }, null, 2) : renderDiff(report, { a, b }, { limit }));
          exit(report.identical ? 0 : 1);
        });
      } catch (e) {
        process.stderr.write(`${describeError(e)}\n`);
        exit(2);
      } finally {
        await close();
      }
    });
}

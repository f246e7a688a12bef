// The suites' command lines handle usage alike: a bad flag prints the error
// and the usage (exit 2), --help prints the usage (exit 0).
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';

const HELP = { help: { type: 'boolean', short: 'h' } } as const;

export type Flags<T extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<{ options: T & typeof HELP }>>['values'];

/** The flags, or the exit code when there is nothing to run. */
export function parseCommandLine<T extends ParseArgsOptionsConfig>(options: T, usage: string): Flags<T> | number {
  let values: Flags<T>;
  try {
    values = parseArgs({ options: { ...options, ...HELP } as T & typeof HELP }).values;
  } catch (e) {
    console.error(`${(e as Error).message}\n${usage}`);
    return 2;
  }
  if ((values as { help?: boolean }).help) {
    console.log(usage);
    return 0;
  }
  return values;
}

// The command line: each command parses its flags, calls the library and leaves
// errors to the one handler in main(), which prints one line and picks the exit code.
import { Command, CommanderError } from 'commander';
import { describeError, exitCodeFor } from '../../base/errors.js';
import { packageVersion } from '../version.js';

type Print = (s: string) => void;
type Exit = (code: number) => void;

/**
 * Each command's definition, loaded when it is needed: a run loads the one it
 * names (help, an unknown name and no name load all, --version none), so a
 * command never pays for parsing the modules of the others.
 */
const COMMANDS: [name: string, make: (print: Print, exit: Exit) => Promise<Command>][] = [
  ['build', async (print) => (await import('./build.js')).buildCommand(print)],
  ['digest', async (print) => (await import('./digest.js')).digestCommand(print)],
  ['diff', async (print, exit) => (await import('./diff.js')).diffCommand(print, exit)],
  ['push', async (print) => (await import('./push.js')).pushCommand(print)],
  ['pull', async (print) => (await import('./pull.js')).pullCommand(print)],
  ['copy', async (print) => (await import('./copy.js')).copyCommand(print)],
  ['index', async (print) => (await import('./image-index.js')).indexCommand(print)],
  ['serve', async () => (await import('./serve.js')).serveCommand()],
  ['gc', async (print) => (await import('./gc.js')).gcCommand(print)],
  ['sbom', async (print) => (await import('./sbom.js')).sbomCommand(print)],
  ['keygen', async (print) => (await import('./sign.js')).keygenCommand(print)],
  ['sign', async (print) => (await import('./sign.js')).signCommand(print)],
  ['verify', async (print) => (await import('./sign.js')).verifyCommand(print)],
];

/** `exit` sets the code a command ends with when it succeeds in saying something other than yes (diff: 1, the images differ). */
export async function program(args: string[], print: Print = (s) => process.stdout.write(`${s}\n`), exit: Exit = () => undefined): Promise<Command> {
  const p = new Command('strata')
    .description('Nix flake outputs to byte-identical OCI images, with no container runtime')
    .version(packageVersion())
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const named = COMMANDS.filter(([name]) => name === args[0]);
  const wanted = named.length ? named : args.length === 1 && (args[0] === '--version' || args[0] === '-V') ? [] : COMMANDS;
  for (const c of await Promise.all(wanted.map(([, make]) => make(print, exit)))) p.addCommand(c.exitOverride());
  return p;
}

export async function main(args: string[]): Promise<number> {
  let code = 0;
  try {
    await (await program(args, undefined, (c) => (code = c))).parseAsync(args, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander already printed its message (help, version or a usage error).
      return e.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`${describeError(e)}\n`);
    return exitCodeFor(e);
  }
}

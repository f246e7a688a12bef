// The command line: each command parses its flags, calls the library and leaves
// errors to the one handler in main(), which prints one line and picks the exit code.
import { Command, CommanderError } from 'commander';
import { describeError, exitCodeFor } from '../../base/errors.js';
import { packageVersion } from '../version.js';
import { buildCommand } from './build.js';
import { copyCommand } from './copy.js';
import { diffCommand } from './diff.js';
import { digestCommand } from './digest.js';
import { gcCommand } from './gc.js';
import { indexCommand } from './image-index.js';
import { pullCommand } from './pull.js';
import { pushCommand } from './push.js';
import { sbomCommand } from './sbom.js';
import { serveCommand } from './serve.js';
import { keygenCommand, signCommand, verifyCommand } from './sign.js';

/** `exit` sets the code a command ends with when it succeeds in saying something other than yes (diff: 1, the images differ). */
export function program(print: (s: string) => void = (s) => process.stdout.write(`${s}\n`), exit: (code: number) => void = () => undefined): Command {
  const p = new Command('strata')
    .description('Nix flake outputs to byte-identical OCI images, with no container runtime')
    .version(packageVersion())
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  p.addCommand(buildCommand(print).exitOverride());
  p.addCommand(digestCommand(print).exitOverride());
  p.addCommand(diffCommand(print, exit).exitOverride());
  p.addCommand(pushCommand(print).exitOverride());
  p.addCommand(pullCommand(print).exitOverride());
  p.addCommand(copyCommand(print).exitOverride());
  p.addCommand(indexCommand(print).exitOverride());
  p.addCommand(serveCommand().exitOverride());
  p.addCommand(gcCommand(print).exitOverride());
  p.addCommand(sbomCommand(print).exitOverride());
  p.addCommand(keygenCommand(print).exitOverride());
  p.addCommand(signCommand(print).exitOverride());
  p.addCommand(verifyCommand(print).exitOverride());
  return p;
}

export async function main(args: string[]): Promise<number> {
  let code = 0;
  try {
    await program(undefined, (c) => (code = c)).parseAsync(args, { from: 'user' });
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

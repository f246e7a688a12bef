// "A second machine" for replica tests: a command in a private mount namespace
// whose /nix is an empty tmpfs, so its nix sees an empty store (Nix 2.8 makes
// its database on first use) and has only what it substitutes or builds; with
// `max-jobs = 0` it cannot build, so whatever it has it substituted. The rest of
// the file system is shared (flakes, temp dirs, file:// caches), and so is the
// network (loopback servers). Needs root (unshare -m, mount): these tests run as root.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killChild, spawnTracked } from '../../conformance/reproducibility/children.js';
import { servedBy, type Served } from '../../conformance/reproducibility/serve.js';
import { nixEnv, strataBin } from './strata.js';

export interface SecondMachineOptions {
  command: string;
  args: string[];
  /** Default: nixEnv() (no binary cache, flakes on, the tests' layer cache). */
  env?: NodeJS.ProcessEnv;
  /** nix.conf lines appended to the environment's NIX_CONFIG, e.g. 'max-jobs = 0'. */
  nixConfig?: string[];
  cwd?: string;
  /** Default: stdin ignored, stdout and stderr piped. */
  stdio?: 'pipe' | 'ignore' | ['ignore' | 'pipe', 'ignore' | 'pipe', 'ignore' | 'pipe'];
}

export interface SecondMachine {
  child: ChildProcess;
  /** SIGTERM (then SIGKILL), and the machine's own cache directory removed; its /nix goes with its last process. */
  stop(): Promise<void>;
}

let propagationFlags: string[] | undefined;

/**
 * unshare's flags for the new mount namespace. It makes every mount private
 * by default, which fails in a chroot whose root is no mount point (as in
 * fresh-machine's): there, as .ci/setup's nix wrapper does, the propagation
 * is left as it is, private where that chroot lives (checked: the tmpfs on
 * /nix does not reach the chroot's other processes).
 */
function propagation(): string[] {
  return (propagationFlags ??= spawnSync('unshare', ['-m', 'true']).status === 0 ? [] : ['--propagation', 'unchanged']);
}

/**
 * Starts `command args…` on a second machine. It also gets a cache directory
 * of its own (XDG_CACHE_HOME, unless env sets one): nix keeps its narinfo
 * lookups there, and a miss this machine's nix remembered from another
 * process would hide a path that was put in the cache since.
 */
export function startOnSecondMachine(opts: SecondMachineOptions): SecondMachine {
  if (process.getuid?.() !== 0) throw new Error('a second machine needs root (unshare -m and a tmpfs on /nix)');
  const base = opts.env ?? nixEnv();
  const cache = base.XDG_CACHE_HOME === undefined ? mkdtempSync(join(tmpdir(), 'strata-second-machine-')) : undefined;
  const nixConfig = [base.NIX_CONFIG, ...(opts.nixConfig ?? [])].filter((l) => l !== undefined && l !== '').join('\n');
  const env = { ...base, NIX_CONFIG: nixConfig, ...(cache ? { XDG_CACHE_HOME: cache } : {}) };
  // unshare -m makes the mounts private; the shell mounts the empty /nix and becomes the command.
  const child = spawnTracked('unshare', ['-m', ...propagation(), 'sh', '-c', 'mount -t tmpfs tmpfs /nix && exec "$@"', 'sh', opts.command, ...opts.args], {
    env,
    stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  const removeCache = () => cache && rmSync(cache, { recursive: true, force: true });
  child.once('exit', removeCache);
  return {
    child,
    stop: async () => {
      await killChild(child);
      removeCache();
    },
  };
}

/** `strata serve --listen 127.0.0.1:0 --root ROOT ARGS…` (no --root for '') on a second machine; resolves once it printed where it listens. */
export function startServeOnSecondMachine(root: string, args: string[], opts: Omit<SecondMachineOptions, 'command' | 'args' | 'stdio'> = {}): Promise<Served> {
  const machine = startOnSecondMachine({
    ...opts,
    command: process.execPath,
    args: [strataBin, 'serve', '--listen', '127.0.0.1:0', ...(root ? ['--root', root] : []), ...args],
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return servedBy(machine.child, root).then((s) => ({ ...s, stop: machine.stop }));
}
